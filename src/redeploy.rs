//! The redeploy of one service: `DescribeServices` → `DescribeTaskDefinition` →
//! `RegisterTaskDefinition` → `UpdateService`, under the service's deploy lock.

use crate::config::ServiceRoute;
use crate::engine::{skipped, Engine};
use crate::error::Error;
use crate::event::Push;
use crate::lock::{acquire, Holder, Lock, LockSettings};
use crate::outcome::{Action, Outcome, Reason};
use crate::revision::{orphan_of, point, roll_out};
use crate::task_definition::{decide, is_paused, managed_by_ecs, Decision, Force};

impl Engine {
    /// Redeploys one service under its lock: six calls (lock, four ECS calls, unlock).
    pub async fn deploy_service(
        &self,
        route: &ServiceRoute,
        push: &Push,
        holder: impl Into<Holder>,
        force: Force,
    ) -> Result<Outcome, Error> {
        self.deploy_service_with(route, push, &holder.into(), force, self.lock)
            .await
    }

    /// [`Engine::deploy_service`] with its own lock settings (the sync waits little).
    pub(crate) async fn deploy_service_with(
        &self,
        route: &ServiceRoute,
        push: &Push,
        holder: &Holder,
        force: Force,
        settings: LockSettings,
    ) -> Result<Outcome, Error> {
        let table = self.lock_table().await?;
        let lock = Lock {
            table: &table,
            cluster: &route.cluster,
            service: &route.service,
        };
        let lease = acquire(&self.dynamodb, lock, holder, settings).await?;
        let taken_over = lease.taken_over.is_some();
        let result = self.deploy_locked(route, push, force, taken_over).await;
        lease.release(&self.dynamodb).await;
        result
    }

    /// The redeploy, under the lock. `taken_over`: the lock's previous holder never released it,
    /// so it may have registered this push's revision without pointing the service at it.
    async fn deploy_locked(
        &self,
        route: &ServiceRoute,
        push: &Push,
        force: Force,
        taken_over: bool,
    ) -> Result<Outcome, Error> {
        let (cluster, service_name) = (&route.cluster, &route.service);
        let service = self.describe_service(cluster, service_name).await?;
        let running_arn = (service.task_definition.clone()).ok_or_else(|| Error::ServiceNotFound {
            cluster: cluster.clone(),
            service: service_name.clone(),
        })?;
        if managed_by_ecs(&service) {
            return Ok(skipped(route, Reason::ManagedByEcs, Some(running_arn), push));
        }
        let service_tags = service.tags.as_deref().unwrap_or_default();
        if is_paused(service_tags) {
            return Ok(skipped(route, Reason::Paused, Some(running_arn), push));
        }
        let (running, running_tags) = self.describe_task_definition(&running_arn).await?;
        let revision = match decide(route, push, &running, &running_tags, service_tags, force)? {
            Decision::Skip(reason) => return Ok(skipped(route, reason, Some(running_arn), push)),
            Decision::Deploy(revision) => *revision,
        };
        let image = revision.image.clone();
        let orphan = match taken_over {
            true => orphan_of(&self.ecs, &running_arn, push).await?,
            false => None,
        };
        let new_arn = match orphan {
            Some(arn) => point(&self.ecs, cluster, service_name, &arn).await.map(|()| arn)?,
            None => roll_out(&self.ecs, cluster, service_name, revision).await?,
        };
        tracing::info!(cluster = %cluster, service = %service_name, task_definition = %new_arn, image = %image, "redeployed");
        Ok(Outcome {
            service: Some(service_name.clone()),
            cluster: Some(cluster.clone()),
            action: Action::Deployed,
            reason: Reason::NewImage,
            task_definition: Some(new_arn),
            image: Some(image),
            deployment: None,
            alarms: Vec::new(),
            pause: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::collect;
    use crate::event::push_event;
    use crate::test_mocks::*;
    use aws_smithy_mocks::{mock, Rule};
    use serde_json::json;

    fn push(d: char, repository: &str) -> Push {
        Push {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            repository: repository.into(),
            digest: digest(d),
            tag: Some("v2".into()),
            pushed_at: "2026-11-27T10:00:00Z".parse().unwrap(),
        }
    }

    fn routes() -> serde_json::Value {
        json!([{"cluster": "shop", "service": "web", "repository": "shop/web"}])
    }

    fn register() -> Rule {
        mock!(aws_sdk_ecs::Client::register_task_definition).then_http_response(|| {
            ok(json!({"taskDefinition": {"taskDefinitionArn": td(2), "family": "shop-web", "revision": 2}}))
        })
    }

    fn update(answer: fn() -> aws_smithy_runtime_api::client::orchestrator::HttpResponse) -> Rule {
        mock!(aws_sdk_ecs::Client::update_service).then_http_response(answer)
    }

    #[tokio::test]
    async fn a_routed_push_is_deployed_and_an_unrouted_one_ignored() {
        let describe = service(&td(1), json!([]), json!([]));
        let revision = definition(&td(1), &format!("{REGISTRY}/shop/web@{}", digest('a')), json!([]));
        let (register, update) = (
            register(),
            update(|| ok(json!({"service": {"serviceName": "web", "status": "ACTIVE"}}))),
        );
        let ssm = ssm_rules(routes());
        let engine = engine(&[&describe, &revision, &register, &update], &ssm, &[]);
        let out = engine
            .handle_event(&push_event(&push('b', "shop/web")), "t")
            .await
            .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].action, &out[0].reason), (Action::Deployed, &Reason::NewImage));
        assert_eq!(out[0].task_definition.as_deref(), Some(td(2).as_str()));
        assert_eq!((register.num_calls(), update.num_calls()), (1, 1));

        let other = engine
            .handle_event(&push_event(&push('c', "shop/other")), "t")
            .await
            .unwrap();
        assert_eq!((other.len(), &other[0].reason), (1, &Reason::NoMatchingService));
        assert_eq!(register.num_calls(), 1, "an unrouted push writes nothing");
    }

    #[tokio::test]
    async fn a_service_ecs_manages_itself_is_skipped_without_a_write() {
        let body = json!({"services": [{"serviceName": "web", "status": "ACTIVE", "taskDefinition": td(1),
            "resourceManagementType": "ECS", "deployments": []}], "failures": []});
        let describe = mock!(aws_sdk_ecs::Client::describe_services).then_http_response(move || ok(body.clone()));
        let (register, update) = (register(), update(|| ok(json!({}))));
        let ssm = ssm_rules(routes());
        let engine = engine(&[&describe, &register, &update], &ssm, &[]);
        let out = engine
            .handle_event(&push_event(&push('b', "shop/web")), "t")
            .await
            .unwrap();
        assert_eq!(
            (out[0].action, out[0].reason.as_str()),
            (Action::Skipped, "managed-by-ecs")
        );
        assert_eq!((register.num_calls(), update.num_calls()), (0, 0));
    }

    #[tokio::test]
    async fn a_service_gone_at_update_time_is_service_not_found_and_other_refusals_are_aws_errors() {
        let cases: [(fn() -> aws_smithy_runtime_api::client::orchestrator::HttpResponse, bool); 3] = [
            (|| failure(400, "ServiceNotActiveException"), true),
            (|| failure(400, "ServiceNotFoundException"), true),
            (|| failure(400, "AccessDeniedException"), false),
        ];
        for (answer, gone) in cases {
            let describe = service(&td(1), json!([]), json!([]));
            let revision = definition(&td(1), &format!("{REGISTRY}/shop/web@{}", digest('a')), json!([]));
            let (register, update) = (register(), update(answer));
            let deregistered = mock!(aws_sdk_ecs::Client::deregister_task_definition)
                .match_requests(|r| r.task_definition() == Some(td(2).as_str()))
                .then_http_response(|| ok(json!({})));
            let ssm = ssm_rules(routes());
            let engine = engine(&[&describe, &revision, &register, &update, &deregistered], &ssm, &[]);
            let err = engine
                .handle_event(&push_event(&push('b', "shop/web")), "t")
                .await
                .unwrap_err();
            assert_eq!(matches!(err, Error::ServiceNotFound { .. }), gone, "{err:?}");
            assert_eq!(
                matches!(
                    err,
                    Error::Aws {
                        operation: "ecs:UpdateService",
                        ..
                    }
                ),
                !gone,
                "{err:?}"
            );
            assert_eq!(
                deregistered.num_calls(),
                1,
                "the revision the service never ran is not left behind"
            );
        }
    }

    #[tokio::test]
    async fn only_active_services_with_a_revision_are_found_and_a_missing_cluster_is_named() {
        let listed = json!({"services": [
            {"serviceName": "old", "status": "DRAINING", "taskDefinition": td(1)},
            {"serviceName": "new", "status": "ACTIVE"},
            {"serviceName": "web", "status": "ACTIVE", "taskDefinition": td(1)}], "failures": []});
        let shop = mock!(aws_sdk_ecs::Client::describe_services)
            .match_requests(|r| r.cluster() == Some("shop"))
            .then_http_response(move || ok(listed.clone()));
        let gone = mock!(aws_sdk_ecs::Client::describe_services)
            .match_requests(|r| r.cluster() == Some("gone"))
            .then_http_response(|| failure(400, "ClusterNotFoundException"));
        let locked = mock!(aws_sdk_ecs::Client::describe_services)
            .match_requests(|r| r.cluster() == Some("locked"))
            .then_http_response(|| failure(400, "AccessDeniedException"));
        let ssm = ssm_rules(json!([]));
        let engine = engine(&[&shop, &gone, &locked], &ssm, &[]);
        let found = engine.describe_services("shop", &["old", "new", "web"]).await.unwrap();
        let names: Vec<_> = found.iter().map(|s| s.service_name()).collect();
        assert_eq!(names, [Some("web")]);
        let err = engine.describe_services("gone", &["web"]).await.unwrap_err();
        assert!(
            matches!(&err, Error::ClusterNotFound { cluster } if cluster == "gone"),
            "{err:?}"
        );
        let err = engine.describe_services("locked", &["web"]).await.unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Aws {
                    operation: "ecs:DescribeServices",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn one_failure_alone_is_that_error_and_beside_outcomes_a_partial_one() {
        let outcome = || Outcome::ignored(Reason::NoMatchingService, None);
        let gone = || Error::ServiceNotFound {
            cluster: "shop".into(),
            service: "web".into(),
        };
        assert_eq!(collect(vec![Ok(outcome())]).unwrap().len(), 1);
        assert!(matches!(collect(vec![Err(gone())]), Err(Error::ServiceNotFound { .. })));
        assert!(matches!(
            collect(vec![Ok(outcome()), Err(gone())]),
            Err(Error::Partial { ref failures, ref outcomes }) if failures.len() == 1 && outcomes.len() == 1
        ));
        assert!(matches!(
            collect(vec![Err(gone()), Err(gone())]),
            Err(Error::Partial { ref failures, .. }) if failures.len() == 2
        ));
    }
}
