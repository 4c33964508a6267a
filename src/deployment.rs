//! `ECS Deployment State Change` events: whether the image a push deployed ever ran. A completed
//! or failed deployment of a routed service becomes one outcome naming the revision and image it
//! deployed; a failed one is also remembered on the service (tag `pushdeploy:failed:<repo>`), so
//! no replayed event, retry or sync deploys that digest again.

use aws_sdk_ecs::types::{Service, ServiceDeploymentStatus, Tag, TaskDefinition};

use crate::config::ServiceRoute;
use crate::engine::Engine;
use crate::error::{aws_error, Error};
use crate::event::{DeploymentChange, DeploymentEnd};
use crate::image::{ecr_registry, ImageRef};
use crate::outcome::{Action, Outcome, Reason};
use crate::task_definition::{failed_key, remember_failed};

/// An image of a routed repository in a revision: the repository, its digest, the pinned image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedImage {
    /// Repository name.
    pub repository: String,
    /// `sha256:...`.
    pub digest: String,
    /// The image as the revision names it.
    pub image: String,
}

/// The images of `routes`' repositories that `definition` runs, pinned by digest, in route order.
/// The registry is the service's own account and region (`service_arn`).
pub fn routed_images(routes: &[&ServiceRoute], definition: &TaskDefinition, service_arn: &str) -> Vec<RoutedImage> {
    let Some(registry) = registry_of(service_arn) else {
        return Vec::new();
    };
    let containers = definition.container_definitions.as_deref().unwrap_or_default();
    let mut found = Vec::new();
    for route in routes {
        for container in containers.iter().filter(|c| route.covers_container(c.name.as_deref())) {
            let Some(text) = container.image.as_deref() else {
                continue;
            };
            let Ok(image) = ImageRef::parse(text) else { continue };
            let Some(digest) = image
                .digest
                .clone()
                .filter(|_| image.is_from(&registry, &route.repository))
            else {
                continue;
            };
            let entry = RoutedImage {
                repository: route.repository.clone(),
                digest,
                image: text.to_string(),
            };
            if !found.contains(&entry) {
                found.push(entry);
            }
        }
    }
    found
}

/// `arn:aws:ecs:<region>:<account>:...` → the account's ECR registry host in that region.
fn registry_of(arn: &str) -> Option<String> {
    let mut parts = arn.split(':');
    let (_, _, _, region, account) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (!region.is_empty() && !account.is_empty()).then(|| ecr_registry(account, region))
}

impl Engine {
    /// Reports a deployment that completed or failed: one outcome for the service, `not-routed`
    /// when the routing config does not route it (no AWS call beyond the config).
    ///
    /// Calls: `DescribeServices` (the deployment's revision is in its `deployments` while it
    /// runs, fails or is rolled back), `DescribeTaskDefinition`, and on a first failure
    /// `TagResource` on the service.
    pub async fn deployment_outcome(&self, change: &DeploymentChange) -> Result<Vec<Outcome>, Error> {
        let config = self.config.get().await?;
        let routes: Vec<&ServiceRoute> = config
            .services
            .iter()
            .filter(|r| r.cluster == change.cluster && r.service == change.service)
            .collect();
        let mut outcome = Outcome {
            service: Some(change.service.clone()),
            cluster: Some(change.cluster.clone()),
            action: Action::Skipped,
            reason: Reason::NotRouted,
            task_definition: None,
            image: None,
            deployment: Some(change.deployment_id.clone()),
        };
        if routes.is_empty() {
            return Ok(vec![outcome]);
        }
        (outcome.action, outcome.reason) = match change.end {
            DeploymentEnd::Completed if change.reason.is_empty() => (
                Action::Completed,
                Reason::Ecs(format!("ECS deployment {} completed.", change.deployment_id)),
            ),
            DeploymentEnd::Completed => (Action::Completed, Reason::Ecs(change.reason.clone())),
            DeploymentEnd::Failed => (Action::Failed, Reason::of_failure(&change.reason)),
        };
        let service = self.describe_service(&change.cluster, &change.service).await?;
        let shown = service
            .deployments()
            .iter()
            .find(|d| d.id() == Some(change.deployment_id.as_str()))
            .and_then(|d| d.task_definition.clone());
        let revision = match shown {
            Some(revision) => Some(revision),
            // Handled after ECS finished rolling it back (a retry, a replay from the queue): the
            // failure is the newest rolled-back service deployment.
            None if change.end == DeploymentEnd::Failed => {
                self.last_rolled_back(&change.cluster, &change.service).await?
            }
            None => None,
        };
        let Some(revision) = revision else {
            tracing::warn!(
                cluster = %change.cluster, service = %change.service, deployment = %change.deployment_id,
                "the deployment is no longer among the service's deployments: its revision is unknown"
            );
            return Ok(vec![outcome]);
        };
        let (definition, _) = self.describe_task_definition(&revision).await?;
        let images = routed_images(&routes, &definition, service.service_arn().unwrap_or_default());
        outcome.task_definition = Some(revision);
        outcome.image = images.first().map(|i| i.image.clone());
        if change.end == DeploymentEnd::Failed {
            self.remember_failure(&service, &images).await?;
        }
        tracing::info!(cluster = %change.cluster, service = %change.service, deployment = %change.deployment_id,
            action = ?outcome.action, reason = %outcome.reason, "deployment ended");
        Ok(vec![outcome])
    }

    /// The task definition of the service's newest deployment that ECS rolled back, from its
    /// service-deployment history.
    async fn last_rolled_back(&self, cluster: &str, service: &str) -> Result<Option<String>, Error> {
        // IAM: ecs:ListServiceDeployments on arn:aws:ecs:<region>:<account>:service/<cluster>/*
        let listed = self
            .ecs
            .list_service_deployments()
            .cluster(cluster)
            .service(service)
            .set_status(Some(vec![
                ServiceDeploymentStatus::RollbackInProgress,
                ServiceDeploymentStatus::RollbackSuccessful,
                ServiceDeploymentStatus::RollbackFailed,
            ]))
            .send()
            .await
            .map_err(|e| aws_error("ecs:ListServiceDeployments", e))?;
        let Some(target) = listed
            .service_deployments()
            .first()
            .and_then(|d| d.target_service_revision_arn())
        else {
            return Ok(None);
        };
        // IAM: ecs:DescribeServiceRevisions on arn:aws:ecs:<region>:<account>:service-revision/<cluster>/*
        let revisions = self
            .ecs
            .describe_service_revisions()
            .service_revision_arns(target)
            .send()
            .await
            .map_err(|e| aws_error("ecs:DescribeServiceRevisions", e))?;
        Ok(revisions
            .service_revisions()
            .first()
            .and_then(|r| r.task_definition())
            .map(str::to_string))
    }

    /// Remembers on the service that `images` failed a deployment of it. Writes only what is new
    /// (one `TagResource`, or nothing for a digest remembered already).
    pub async fn remember_failure(&self, service: &Service, images: &[RoutedImage]) -> Result<(), Error> {
        let mut tags: Vec<Tag> = service.tags().to_vec();
        let mut updates = Vec::new();
        for image in images {
            if let Some(value) = remember_failed(&tags, &image.repository, &image.digest) {
                let tag = Tag::builder().key(failed_key(&image.repository)).value(value).build();
                tags.retain(|t| t.key != tag.key);
                tags.push(tag.clone());
                updates.retain(|t: &Tag| t.key != tag.key);
                updates.push(tag);
            }
        }
        if updates.is_empty() {
            return Ok(());
        }
        let arn = service
            .service_arn()
            .ok_or_else(|| crate::error::missing_field("ecs:DescribeServices", "services[].serviceArn"))?;
        // IAM: ecs:TagResource on arn:aws:ecs:<region>:<account>:service/<cluster>/*
        self.ecs
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(updates))
            .send()
            .await
            .map_err(|e| aws_error("ecs:TagResource", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::classify;
    use crate::test_mocks::*;
    use aws_sdk_ecs::types::ContainerDefinition;
    use aws_smithy_mocks::mock;
    use serde_json::json;

    fn event(cluster: &str, name: &str, id: &str, reason: &str) -> DeploymentChange {
        let e = json!({"version": "0", "id": "e", "detail-type": "ECS Deployment State Change", "source": "aws.ecs",
            "account": "123456789012", "time": "2026-11-27T10:00:00Z", "region": "us-east-1",
            "resources": [format!("arn:aws:ecs:us-east-1:123456789012:service/{cluster}/web")],
            "detail": {"eventType": "INFO", "eventName": name, "deploymentId": id, "reason": reason}});
        match classify(&e).unwrap() {
            crate::event::Classified::Deployment(change) => change,
            other => panic!("{other:?}"),
        }
    }

    fn rolling_back() -> serde_json::Value {
        json!([
            {"id": "ecs-svc/2", "status": "PRIMARY", "taskDefinition": td(1), "rolloutState": "IN_PROGRESS"},
            {"id": "ecs-svc/1", "status": "ACTIVE", "taskDefinition": td(2), "rolloutState": "FAILED"}
        ])
    }

    fn routes() -> serde_json::Value {
        json!([{"cluster": "shop", "service": "web", "repository": "shop/web"},
               {"cluster": "other", "service": "api", "repository": "shop/web"}])
    }

    fn remembers(value: String) -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_ecs::Client::tag_resource)
            .match_requests(move |r| {
                r.resource_arn() == Some(SERVICE_ARN)
                    && r.tags().len() == 1
                    && r.tags()[0].key() == Some("pushdeploy:failed:shop/web")
                    && r.tags()[0].value() == Some(value.as_str())
            })
            .then_http_response(|| ok(json!({})))
    }

    #[tokio::test]
    async fn a_failed_deployment_is_reported_with_its_image_and_remembered_once() {
        let bad = format!("{REGISTRY}/shop/web@{}", digest('b'));
        let older = digest('a');
        let describe = service(
            &td(1),
            json!([{"key": "pushdeploy:failed:shop/web", "value": older}]),
            rolling_back(),
        );
        let revision = definition(&td(2), &bad, json!([]));
        let tag = remembers(format!("{} {older}", digest('b')));
        let engine = engine(&[&describe, &revision, &tag], &ssm_rules(routes()), &[]);
        let change = event(
            "shop",
            "SERVICE_DEPLOYMENT_FAILED",
            "ecs-svc/1",
            "ECS deployment circuit breaker: tasks failed to start.",
        );
        let out = engine.deployment_outcome(&change).await.unwrap();
        assert_eq!(
            out,
            vec![Outcome {
                service: Some("web".into()),
                cluster: Some("shop".into()),
                action: Action::Failed,
                reason: Reason::CircuitBreaker,
                task_definition: Some(td(2)),
                image: Some(bad.clone()),
                deployment: Some("ecs-svc/1".into()),
            }]
        );
        assert_eq!(tag.num_calls(), 1);

        // Replayed: the service already remembers the digest; nothing is written.
        let describe = service(
            &td(1),
            json!([{"key": "pushdeploy:failed:shop/web", "value": digest('b')}]),
            rolling_back(),
        );
        let revision = definition(&td(2), &bad, json!([]));
        let tag = mock!(aws_sdk_ecs::Client::tag_resource).then_http_response(|| ok(json!({})));
        let engine = crate::test_mocks::engine(&[&describe, &revision, &tag], &ssm_rules(routes()), &[]);
        let out = engine.deployment_outcome(&change).await.unwrap();
        assert_eq!(
            (out[0].action, out[0].image.as_deref()),
            (Action::Failed, Some(bad.as_str()))
        );
        assert_eq!(tag.num_calls(), 0, "a replay writes nothing");
    }

    #[tokio::test]
    async fn a_failure_handled_after_the_rollback_finished_is_found_in_the_deployment_history() {
        let bad = format!("{REGISTRY}/shop/web@{}", digest('b'));
        let back =
            json!([{"id": "ecs-svc/2", "status": "PRIMARY", "taskDefinition": td(1), "rolloutState": "COMPLETED"}]);
        let describe = service(&td(1), json!([]), back);
        let target = "arn:aws:ecs:us-east-1:123456789012:service-revision/shop/web/42";
        let history = mock!(aws_sdk_ecs::Client::list_service_deployments)
            .match_requests(|r| {
                r.cluster() == Some("shop")
                    && r.service() == Some("web")
                    && r.status().contains(&ServiceDeploymentStatus::RollbackSuccessful)
                    && !r.status().contains(&ServiceDeploymentStatus::Stopped)
            })
            .then_http_response(move || {
                ok(json!({"serviceDeployments": [{"serviceDeploymentArn": "arn:aws:ecs:us-east-1:123456789012:service-deployment/shop/web/1",
                    "status": "ROLLBACK_SUCCESSFUL", "targetServiceRevisionArn": target}]}))
            });
        let revisions = mock!(aws_sdk_ecs::Client::describe_service_revisions)
            .match_requests(move |r| r.service_revision_arns() == [target.to_string()])
            .then_http_response(|| {
                ok(json!({"serviceRevisions": [{"serviceRevisionArn": "x", "taskDefinition": td(2)}], "failures": []}))
            });
        let revision = definition(&td(2), &bad, json!([]));
        let tag = remembers(digest('b'));
        let engine = engine(
            &[&describe, &history, &revisions, &revision, &tag],
            &ssm_rules(routes()),
            &[],
        );
        let change = event(
            "shop",
            "SERVICE_DEPLOYMENT_FAILED",
            "ecs-svc/1",
            "ECS deployment circuit breaker: tasks failed to start.",
        );
        let out = engine.deployment_outcome(&change).await.unwrap();
        assert_eq!(
            (out[0].task_definition.as_deref(), out[0].image.as_deref()),
            (Some(td(2).as_str()), Some(bad.as_str()))
        );
        assert_eq!(tag.num_calls(), 1, "remembered even so");
    }

    #[tokio::test]
    async fn a_completed_deployment_is_reported_in_ecs_words_and_writes_nothing() {
        let good = format!("{REGISTRY}/shop/web@{}", digest('c'));
        let done =
            json!([{"id": "ecs-svc/3", "status": "PRIMARY", "taskDefinition": td(3), "rolloutState": "COMPLETED"}]);
        let describe = service(&td(3), json!([]), done);
        let revision = definition(&td(3), &good, json!([]));
        let tag = mock!(aws_sdk_ecs::Client::tag_resource).then_http_response(|| ok(json!({})));
        let engine = engine(&[&describe, &revision, &tag], &ssm_rules(routes()), &[]);
        let said = engine
            .deployment_outcome(&event(
                "shop",
                "SERVICE_DEPLOYMENT_COMPLETED",
                "ecs-svc/3",
                "ECS deployment ecs-svc/3 reached steady state.",
            ))
            .await
            .unwrap();
        assert_eq!(
            (said[0].action, said[0].image.as_deref()),
            (Action::Completed, Some(good.as_str()))
        );
        assert_eq!(
            said[0].reason,
            Reason::Ecs("ECS deployment ecs-svc/3 reached steady state.".into()),
            "ECS's own words, not made-up ones"
        );
        let silent = engine
            .deployment_outcome(&event("shop", "SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/3", ""))
            .await
            .unwrap();
        assert_eq!(
            silent[0].reason,
            Reason::Ecs("ECS deployment ecs-svc/3 completed.".into())
        );
        assert_eq!(tag.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_deployment_no_longer_shown_or_not_routed_is_reported_without_a_revision() {
        let describe = service(&td(1), json!([]), rolling_back());
        let revision = definition(&td(2), "x", json!([]));
        let tag = mock!(aws_sdk_ecs::Client::tag_resource).then_http_response(|| ok(json!({})));
        let history = mock!(aws_sdk_ecs::Client::list_service_deployments)
            .then_http_response(|| ok(json!({"serviceDeployments": []})));
        let engine = engine(&[&describe, &revision, &tag, &history], &ssm_rules(routes()), &[]);
        let gone = engine
            .deployment_outcome(&event(
                "shop",
                "SERVICE_DEPLOYMENT_FAILED",
                "ecs-svc/9",
                "ECS deployment failed: alarm x in ALARM",
            ))
            .await
            .unwrap();
        assert_eq!((gone[0].action, &gone[0].reason), (Action::Failed, &Reason::Alarm));
        assert_eq!(
            (gone[0].task_definition.as_deref(), gone[0].image.as_deref()),
            (None, None)
        );
        assert_eq!((revision.num_calls(), tag.num_calls(), history.num_calls()), (0, 0, 1));
        // A completed deployment no longer shown was superseded, not rolled back: the rollback
        // history is not its story.
        let superseded = engine
            .deployment_outcome(&event("shop", "SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/9", "done"))
            .await
            .unwrap();
        assert_eq!(
            (superseded[0].action, superseded[0].task_definition.as_deref()),
            (Action::Completed, None)
        );
        assert_eq!(history.num_calls(), 1, "no history read for a completed deployment");

        // `web` is routed in cluster shop only, `api` in cluster other only.
        for (cluster, name) in [("other", "web"), ("nowhere", "web")] {
            let out = engine
                .deployment_outcome(&event(cluster, "SERVICE_DEPLOYMENT_FAILED", "ecs-svc/1", "x"))
                .await
                .unwrap();
            assert_eq!(
                (out[0].action, &out[0].reason),
                (Action::Skipped, &Reason::NotRouted),
                "{cluster}/{name}"
            );
            assert_eq!(out[0].deployment.as_deref(), Some("ecs-svc/1"));
        }
        assert_eq!(
            describe.num_calls(),
            2,
            "no call for a service the config does not route"
        );
    }

    #[tokio::test]
    async fn two_containers_of_one_repository_are_remembered_in_one_tag() {
        let image = |d: char| RoutedImage {
            repository: "shop/web".into(),
            digest: digest(d),
            image: format!("{REGISTRY}/shop/web@{}", digest(d)),
        };
        let tags = json!([{"key": "pushdeploy:failed:shop/web", "value": digest('a')},
                          {"key": "team", "value": "shop"}]);
        let describe = service(&td(1), tags, json!([]));
        let tag = remembers(format!("{} {} {}", digest('c'), digest('b'), digest('a')));
        let engine = engine(&[&describe, &tag], &ssm_rules(routes()), &[]);
        let web = engine.describe_service("shop", "web").await.unwrap();
        engine
            .remember_failure(&web, &[image('b'), image('c'), image('b')])
            .await
            .unwrap();
        assert_eq!(tag.num_calls(), 1, "one TagResource with one tag, newest digest first");
    }

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:service/shop/web";

    fn containers_of(images: &[(&str, &str)]) -> TaskDefinition {
        TaskDefinition::builder()
            .set_container_definitions(Some(
                images
                    .iter()
                    .map(|(name, image)| ContainerDefinition::builder().name(*name).image(*image).build())
                    .collect(),
            ))
            .build()
    }

    #[test]
    fn only_pinned_images_of_routed_repositories_in_the_services_registry_count() {
        let web = ServiceRoute::new("shop", "web", "shop/web");
        let td = containers_of(&[
            (
                "web",
                &format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/web@{A}"),
            ),
            (
                "proxy",
                &format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/proxy@{A}"),
            ),
            (
                "copy",
                &format!("999999999999.dkr.ecr.eu-west-1.amazonaws.com/shop/web@{A}"),
            ),
            ("tagged", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/web:v1"),
        ]);
        let images = routed_images(&[&web], &td, ARN);
        assert_eq!(
            images,
            vec![RoutedImage {
                repository: "shop/web".into(),
                digest: A.into(),
                image: format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/web@{A}"),
            }]
        );
        assert!(routed_images(&[&web], &td, "not-an-arn").is_empty());
        assert!(
            routed_images(&[&web], &td, "arn:aws:ecs::123456789012:service/shop/web").is_empty(),
            "no region"
        );
        assert!(
            routed_images(&[&web], &td, "arn:aws:ecs:eu-west-1::service/shop/web").is_empty(),
            "no account"
        );
        let mut only_proxy = ServiceRoute::new("shop", "web", "shop/web");
        only_proxy.containers = vec!["proxy".into()];
        assert!(routed_images(&[&only_proxy], &td, ARN).is_empty());
    }
}
