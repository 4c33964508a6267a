//! The redeploy: for every service routed to a push, `DescribeServices` → `DescribeTaskDefinition`
//! → `RegisterTaskDefinition` → `UpdateService`, under the service's deploy lock.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_ecs::types::{Service, ServiceField, Tag, TaskDefinition, TaskDefinitionField};
use futures::future::join_all;
use serde_json::Value;

use crate::config::{self, ConfigCache, ServiceRoute};
use crate::error::{aws_error, missing_field, Error};
use crate::event::{classify, Classified, Push};
use crate::lock::{self, LockSettings};
use crate::outcome::{Action, Outcome, Reason};
use crate::routing::{route, Routed};
use crate::sync::SyncScope;
use crate::task_definition::{failed_digests, is_paused, plan, register_request, Plan};

/// The engine: clients built once, the cached routing config, and the lock settings.
pub struct Engine {
    pub(crate) ecs: aws_sdk_ecs::Client,
    pub(crate) ssm: aws_sdk_ssm::Client,
    pub(crate) ecr: aws_sdk_ecr::Client,
    pub(crate) config: ConfigCache,
    pub(crate) lock: LockSettings,
}

/// Whether a deploy may put back an image that failed a deployment of the service before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Force {
    /// No: a remembered failed digest is `failed-before` (pushes, replays, syncs).
    No,
    /// Yes: `pushdeploy deploy --force`, on purpose.
    FailedBefore,
}

impl Engine {
    /// An engine over `sdk` that reads its routing config from `parameter`.
    pub fn new(sdk: &SdkConfig, parameter: String, ttl: Duration) -> Engine {
        Engine::from_clients(
            aws_sdk_ecs::Client::new(sdk),
            aws_sdk_ssm::Client::new(sdk),
            aws_sdk_ecr::Client::new(sdk),
            parameter,
            ttl,
        )
    }

    /// An engine over clients built by the caller (with interceptors, say).
    pub fn from_clients(
        ecs: aws_sdk_ecs::Client,
        ssm: aws_sdk_ssm::Client,
        ecr: aws_sdk_ecr::Client,
        parameter: String,
        ttl: Duration,
    ) -> Engine {
        Engine {
            ecs,
            ecr,
            config: ConfigCache::new(ssm.clone(), parameter, ttl),
            ssm,
            lock: LockSettings::default(),
        }
    }

    /// The engine as the Lambda runs it: the standard AWS chain (`AWS_ENDPOINT_URL` included),
    /// the config named by `PUSHDEPLOY_APP` or `PUSHDEPLOY_CONFIG_PARAMETER`.
    pub async fn from_env() -> Result<Engine, Error> {
        let parameter = config::parameter_from_env()?;
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(Engine::new(&sdk, parameter, config::ttl_from_env()))
    }

    /// Replaces the lock settings (tests use short waits).
    pub fn with_lock_settings(mut self, lock: LockSettings) -> Engine {
        self.lock = lock;
        self
    }

    /// The routing config cache.
    pub fn config(&self) -> &ConfigCache {
        &self.config
    }

    /// Handles one EventBridge event: a push is routed and redeploys every accepted service; a
    /// deployment state change is reported (and a failed image remembered); a scheduled event
    /// syncs every route.
    pub async fn handle_event(&self, event: &Value, owner: &str) -> Result<Vec<Outcome>, Error> {
        let push = match classify(event)? {
            Classified::Push(push) => push,
            Classified::Deployment(change) => return self.deployment_outcome(&change).await,
            Classified::Schedule => return self.sync(&SyncScope::default(), owner).await,
            Classified::Ignored { reason, .. } => return Ok(vec![Outcome::ignored(reason, None)]),
        };
        let config = self.config.get().await?;
        let routed = route(&config, &push);
        if routed.is_empty() {
            return Ok(vec![Outcome::ignored(
                Reason::NoMatchingService,
                Some(push.pinned_image()),
            )]);
        }
        self.redeploy(&push, &routed, owner, Force::No).await
    }

    /// Redeploys `push` to the routed services, concurrently; reports every service's outcome
    /// and fails (retryably if any failure is) when one of them failed.
    pub async fn redeploy(
        &self,
        push: &Push,
        routed: &[Routed<'_>],
        owner: &str,
        force: Force,
    ) -> Result<Vec<Outcome>, Error> {
        let results = join_all(routed.iter().map(|r| async move {
            match r {
                Routed::Accepted(route) => self.deploy_service(route, push, owner, force).await,
                Routed::Skipped(route, reason) => Ok(skipped(route, reason.clone(), None, push)),
            }
        }))
        .await;
        collect(results)
    }
}

/// Every service's outcome, or the failures (retryable if any is) with the others' outcomes.
pub(crate) fn collect(results: Vec<Result<Outcome, Error>>) -> Result<Vec<Outcome>, Error> {
    let (mut outcomes, mut failures) = (Vec::new(), Vec::new());
    for result in results {
        match result {
            Ok(o) => outcomes.push(o),
            Err(e) => failures.push(e),
        }
    }
    match failures.len() {
        0 => Ok(outcomes),
        1 if outcomes.is_empty() => Err(failures.remove(0)),
        _ => Err(Error::Partial { failures, outcomes }),
    }
}

impl Engine {
    /// Redeploys one service under its lock: six calls (lock, four ECS calls, unlock).
    pub async fn deploy_service(
        &self,
        route: &ServiceRoute,
        push: &Push,
        owner: &str,
        force: Force,
    ) -> Result<Outcome, Error> {
        self.deploy_service_with(route, push, owner, force, self.lock).await
    }

    /// [`Engine::deploy_service`] with its own lock settings (the sync waits little).
    pub(crate) async fn deploy_service_with(
        &self,
        route: &ServiceRoute,
        push: &Push,
        owner: &str,
        force: Force,
        settings: LockSettings,
    ) -> Result<Outcome, Error> {
        let name = lock::lock_name(self.config.parameter(), &route.cluster, &route.service);
        let what = (route.cluster.as_str(), route.service.as_str());
        lock::with_lock(
            &self.ssm,
            &name,
            owner,
            settings,
            what,
            self.deploy_locked(route, push, force),
        )
        .await
    }

    /// The ACTIVE service `service_name` of `cluster`, with its tags.
    pub(crate) async fn describe_service(&self, cluster: &str, service_name: &str) -> Result<Service, Error> {
        let mut found = self.describe_services(cluster, &[service_name]).await?;
        found.pop().ok_or_else(|| Error::ServiceNotFound {
            cluster: cluster.to_string(),
            service: service_name.to_string(),
        })
    }

    /// The ACTIVE ones of `names` (at most 10, DescribeServices' limit), with their tags.
    pub(crate) async fn describe_services(&self, cluster: &str, names: &[&str]) -> Result<Vec<Service>, Error> {
        // IAM: ecs:DescribeServices on arn:aws:ecs:<region>:<account>:service/<cluster>/*
        let described = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(names.iter().map(|n| n.to_string()).collect()))
            .include(ServiceField::Tags)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_cluster_not_found_exception() => Error::ClusterNotFound {
                    cluster: cluster.to_string(),
                },
                _ => aws_error("ecs:DescribeServices", e),
            })?;
        Ok(described
            .services
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.status.as_deref() == Some("ACTIVE") && s.task_definition.is_some())
            .collect())
    }

    /// The task definition `arn` with its tags.
    pub(crate) async fn describe_task_definition(&self, arn: &str) -> Result<(TaskDefinition, Vec<Tag>), Error> {
        // IAM: ecs:DescribeTaskDefinition (resource "*": the action takes no resource ARN)
        let td = self
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| aws_error("ecs:DescribeTaskDefinition", e))?;
        let running = td
            .task_definition
            .ok_or_else(|| missing_field("ecs:DescribeTaskDefinition", "taskDefinition"))?;
        Ok((running, td.tags.unwrap_or_default()))
    }

    async fn deploy_locked(&self, route: &ServiceRoute, push: &Push, force: Force) -> Result<Outcome, Error> {
        let (cluster, service_name) = (&route.cluster, &route.service);
        let not_found = || Error::ServiceNotFound {
            cluster: cluster.clone(),
            service: service_name.clone(),
        };
        let service = self.describe_service(cluster, service_name).await?;
        let running_arn = service.task_definition.clone().ok_or_else(not_found)?;
        let service_tags = service.tags.as_deref().unwrap_or_default();
        if is_paused(service_tags) {
            return Ok(skipped(route, Reason::Paused, Some(running_arn), push));
        }
        let (running, running_tags) = self.describe_task_definition(&running_arn).await?;
        let revision = match decide(route, push, &running, &running_tags, service_tags, force)? {
            Plan::Skip(reason) => return Ok(skipped(route, reason, Some(running_arn), push)),
            Plan::Deploy(revision) => *revision,
        };
        let image = revision.image.clone();

        // IAM: ecs:RegisterTaskDefinition, ecs:TagResource, iam:PassRole (task and execution roles)
        let registered = register_request(self.ecs.register_task_definition(), revision)
            .send()
            .await
            .map_err(|e| aws_error("ecs:RegisterTaskDefinition", e))?;
        let new_arn = registered
            .task_definition
            .and_then(|t| t.task_definition_arn)
            .ok_or_else(|| missing_field("ecs:RegisterTaskDefinition", "taskDefinition.taskDefinitionArn"))?;

        // IAM: ecs:UpdateService on arn:aws:ecs:<region>:<account>:service/<cluster>/*
        self.ecs
            .update_service()
            .cluster(cluster)
            .service(service_name)
            .task_definition(&new_arn)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_service_not_found_exception() || s.is_service_not_active_exception() => not_found(),
                _ => aws_error("ecs:UpdateService", e),
            })?;
        tracing::info!(cluster = %cluster, service = %service_name, task_definition = %new_arn, image = %image, "redeployed");
        Ok(Outcome {
            service: Some(service_name.clone()),
            cluster: Some(cluster.clone()),
            action: Action::Deployed,
            reason: Reason::NewImage,
            task_definition: Some(new_arn),
            image: Some(image),
            deployment: None,
        })
    }
}

/// The plan for one service from what runs, then the failure memory: a digest that failed a
/// deployment of the service before is `failed-before` unless forced.
pub(crate) fn decide(
    route: &ServiceRoute,
    push: &Push,
    running: &TaskDefinition,
    running_tags: &[Tag],
    service_tags: &[Tag],
    force: Force,
) -> Result<Plan, Error> {
    let planned = plan(route, push, running, running_tags)?;
    if matches!(planned, Plan::Deploy(_))
        && force == Force::No
        && failed_digests(service_tags, &push.repository).contains(&push.digest.as_str())
    {
        return Ok(Plan::Skip(Reason::FailedBefore));
    }
    Ok(planned)
}

fn skipped(route: &ServiceRoute, reason: Reason, task_definition: Option<String>, push: &Push) -> Outcome {
    Outcome {
        service: Some(route.service.clone()),
        cluster: Some(route.cluster.clone()),
        action: Action::Skipped,
        reason,
        task_definition,
        image: Some(push.pinned_image()),
        deployment: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            let ssm = ssm_rules(routes());
            let engine = engine(&[&describe, &revision, &register, &update], &ssm, &[]);
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
