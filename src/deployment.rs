//! `ECS Deployment State Change` events: whether the image a push deployed ever ran. A completed,
//! failed or rolled-back deployment of a routed service becomes one outcome naming the revision
//! and image it is about; a failed image is also remembered on the service (tag
//! `pushdeploy:failed:<repo>`), so no replayed event, retry or sync deploys that digest again. What
//! happened is read from ECS's typed record of the service deployment (chosen by the event's time,
//! from the whole history), never from ECS's wording; a failed rollback never marks the image it
//! was rolling back to.

use aws_sdk_ecs::types::{
    DeploymentLifecycleHookStatus, Service, ServiceDeployment, ServiceDeploymentRollbackMonitorsStatus,
    ServiceDeploymentStatus, Tag, TaskDefinition,
};

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

/// Service-deployment statuses that end in a `SERVICE_DEPLOYMENT_FAILED` event.
const FAILURES: &[ServiceDeploymentStatus] = &[
    ServiceDeploymentStatus::Stopped,
    ServiceDeploymentStatus::StopRequested,
    ServiceDeploymentStatus::RollbackRequested,
    ServiceDeploymentStatus::RollbackInProgress,
    ServiceDeploymentStatus::RollbackSuccessful,
    ServiceDeploymentStatus::RollbackFailed,
];
/// Service-deployment statuses that end in a `SERVICE_DEPLOYMENT_COMPLETED` event: a deployment
/// that completed, or ECS's rollback of a failed one that did.
const COMPLETIONS: &[ServiceDeploymentStatus] = &[
    ServiceDeploymentStatus::Successful,
    ServiceDeploymentStatus::RollbackSuccessful,
];
/// Service deployments described at most (DescribeServiceDeployments' limit).
const DESCRIBED: usize = 20;

/// A revision an outcome is about: a service revision (from ECS's service-deployment record) or
/// a task definition (from DescribeServices, when there is no record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevisionRef {
    /// `arn:...:service-revision/...`.
    ServiceRevision(String),
    /// `arn:...:task-definition/...`.
    TaskDefinition(String),
}

/// What an `ECS Deployment State Change` says happened, decided from ECS's typed record of the
/// service deployment when there is one, never from ECS's wording.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// `completed`, `failed` or `rolled-back`.
    pub action: Action,
    /// Why.
    pub reason: Reason,
    /// The alarms that failed it (`alarm`).
    pub alarms: Vec<String>,
    /// The revision reported: what completed, what failed, or what ECS rolled back to.
    pub reported: Option<RevisionRef>,
    /// The revision whose images failed, to remember: never the one ECS rolled back to.
    pub failed: Option<RevisionRef>,
}

/// Why ECS failed or rolled back `record`: its circuit breaker, its alarms (named), or ECS's
/// own words.
fn failure_reason(record: &ServiceDeployment, event_reason: &str) -> (Reason, Vec<String>) {
    let triggered = |s: Option<&ServiceDeploymentRollbackMonitorsStatus>| {
        s == Some(&ServiceDeploymentRollbackMonitorsStatus::Triggered)
    };
    if triggered(record.deployment_circuit_breaker().and_then(|b| b.status())) {
        return (Reason::CircuitBreaker, Vec::new());
    }
    if let Some(alarms) = record.alarms().filter(|a| triggered(a.status())) {
        return (Reason::Alarm, alarms.triggered_alarm_names().to_vec());
    }
    // A lifecycle hook that failed, timed out, or was answered ROLLBACK (`pushdeploy reject`).
    let hook_failed = record.lifecycle_hook_details().iter().any(|h| {
        matches!(
            h.status(),
            Some(DeploymentLifecycleHookStatus::Failed | DeploymentLifecycleHookStatus::TimedOut)
        )
    });
    if hook_failed {
        return (Reason::Hook, Vec::new());
    }
    // `stoppedAt`: "the service deployment stops when ... a user manually stops the deployment",
    // or a failure detection without rollback stopped it (the circuit breaker and the alarms
    // are told above). A deployment a newer one superseded has no `stoppedAt`.
    // StopServiceDeployment offers ROLLBACK only: a stopped deployment is rolled back.
    let rolled_back = matches!(
        record.status(),
        Some(
            ServiceDeploymentStatus::RollbackRequested
                | ServiceDeploymentStatus::RollbackInProgress
                | ServiceDeploymentStatus::RollbackSuccessful
                | ServiceDeploymentStatus::RollbackFailed
        )
    );
    if record.stopped_at().is_some() && rolled_back {
        return (Reason::Stopped, Vec::new());
    }
    let words = (record.rollback().and_then(|r| r.reason()))
        .or(record.status_reason())
        .unwrap_or(event_reason);
    (Reason::Ecs(words.to_string()), Vec::new())
}

/// Decides what `change` reports, from `record` (its service deployment, when ECS has one) or
/// else `shown` (the task definition DescribeServices shows for the deployment id).
pub fn judge(change: &DeploymentChange, record: Option<&ServiceDeployment>, shown: Option<String>) -> Verdict {
    let ecs_words = || match change.reason.as_str() {
        "" => Reason::Ecs(format!("ECS deployment {} completed.", change.deployment_id)),
        words => Reason::Ecs(words.to_string()),
    };
    let target = record
        .and_then(|r| r.target_service_revision()?.arn())
        .map(|a| RevisionRef::ServiceRevision(a.to_string()));
    let shown = shown.map(RevisionRef::TaskDefinition);
    let verdict = |action, (reason, alarms), reported, failed| Verdict {
        action,
        reason,
        alarms,
        reported,
        failed,
    };
    match (change.end, record) {
        (DeploymentEnd::Completed, Some(r)) if r.status() == Some(&ServiceDeploymentStatus::RollbackSuccessful) => {
            let back_to = (r.rollback().and_then(|b| b.service_revision_arn()))
                .map(|a| RevisionRef::ServiceRevision(a.to_string()));
            verdict(Action::RolledBack, failure_reason(r, &change.reason), back_to, target)
        }
        (DeploymentEnd::Completed, _) => verdict(Action::Completed, (ecs_words(), Vec::new()), shown.or(target), None),
        (DeploymentEnd::Failed, Some(r)) => verdict(
            Action::Failed,
            failure_reason(r, &change.reason),
            target.clone(),
            target,
        ),
        (DeploymentEnd::Failed, None) => verdict(
            Action::Failed,
            (Reason::Ecs(change.reason.clone()), Vec::new()),
            shown.clone(),
            shown,
        ),
    }
}

/// Of `records`, the one `change` is about: the nearest in time to the event, by the times ECS
/// records (finished, stopped, rolled back, updated), the newest created on a tie.
pub fn nearest<'a>(change: &DeploymentChange, records: &'a [ServiceDeployment]) -> Option<&'a ServiceDeployment> {
    let at = change.at.map(|t| t.timestamp_millis());
    let millis = |t: Option<&aws_smithy_types::DateTime>| t.and_then(|t| t.to_millis().ok());
    let distance = |r: &ServiceDeployment| -> i64 {
        let times = [
            millis(r.finished_at()),
            millis(r.stopped_at()),
            millis(r.rollback().and_then(|b| b.started_at())),
            millis(r.updated_at()),
        ];
        match at {
            Some(at) => times.iter().flatten().map(|t| (t - at).abs()).min().unwrap_or(i64::MAX),
            None => 0,
        }
    };
    let created = |r: &ServiceDeployment| millis(r.created_at()).unwrap_or(0);
    records
        .iter()
        .min_by(|a, b| distance(a).cmp(&distance(b)).then(created(b).cmp(&created(a))))
}

impl Engine {
    /// Reports a deployment that completed, failed, or completed ECS's rollback: one outcome for
    /// the service, `not-routed` when the routing config does not route it (no AWS call beyond
    /// the config). A failed image is remembered, whichever of the events says so first.
    ///
    /// Calls: `DescribeServices`, `ListServiceDeployments` (every page),
    /// `DescribeServiceDeployments`, `DescribeServiceRevisions`, `DescribeTaskDefinition` per
    /// revision, and on a first failure `TagResource` on the service.
    pub async fn deployment_outcome(&self, change: &DeploymentChange) -> Result<Vec<Outcome>, Error> {
        let config = self.config.get().await?;
        let routes: Vec<&ServiceRoute> = (config.services.iter())
            .filter(|r| r.cluster == change.cluster && r.service == change.service)
            .collect();
        let mut outcome = Outcome::skipped(&change.cluster, &change.service, Reason::NotRouted, None, None);
        outcome.deployment = Some(change.deployment_id.clone());
        if routes.is_empty() {
            return Ok(vec![outcome]);
        }
        let service = self.describe_service(&change.cluster, &change.service).await?;
        let record = self.service_deployment(change).await?;
        let shown = (service.deployments().iter())
            .find(|d| d.id() == Some(change.deployment_id.as_str()))
            .and_then(|d| d.task_definition.clone());
        let verdict = judge(change, record.as_ref(), shown);
        (outcome.action, outcome.reason, outcome.alarms) =
            (verdict.action, verdict.reason.clone(), verdict.alarms.clone());
        let [reported, failed] = self
            .task_definitions([verdict.reported.as_ref(), verdict.failed.as_ref()])
            .await?;
        let Some(reported) = reported else {
            tracing::warn!(cluster = %change.cluster, service = %change.service, deployment = %change.deployment_id,
                "neither the service nor its deployment history shows the deployment: its revision is unknown");
            return Ok(vec![outcome]);
        };
        let service_arn = service.service_arn().unwrap_or_default();
        let (definition, _) = self.describe_task_definition(&reported).await?;
        outcome.image = routed_images(&routes, &definition, service_arn)
            .first()
            .map(|i| i.image.clone());
        outcome.task_definition = Some(reported.clone());
        if let Some(failed) = failed {
            let definition = match failed == reported {
                true => definition,
                false => self.describe_task_definition(&failed).await?.0,
            };
            self.remember_failure(&service, &routed_images(&routes, &definition, service_arn))
                .await?;
        }
        tracing::info!(cluster = %change.cluster, service = %change.service, deployment = %change.deployment_id,
            action = ?outcome.action, reason = %outcome.reason, "deployment ended");
        Ok(vec![outcome])
    }

    /// The service deployment `change` is about, from the service's deployment history (every
    /// page, in no order AWS documents: sorted here), or `None` when ECS keeps none for it.
    async fn service_deployment(&self, change: &DeploymentChange) -> Result<Option<ServiceDeployment>, Error> {
        let class = match change.end {
            DeploymentEnd::Completed => COMPLETIONS,
            DeploymentEnd::Failed => FAILURES,
        };
        let mut briefs = Vec::new();
        let mut token = None;
        loop {
            // IAM: ecs:ListServiceDeployments on arn:aws:ecs:<region>:<account>:service/<cluster>/*
            let page = (self
                .ecs
                .list_service_deployments()
                .cluster(&change.cluster)
                .service(&change.service))
            .max_results(100)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_error("ecs:ListServiceDeployments", e))?;
            briefs.extend(
                page.service_deployments()
                    .iter()
                    .filter(|b| b.status().is_some_and(|s| class.contains(s)))
                    .cloned(),
            );
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        briefs.sort_by_key(|b| std::cmp::Reverse(b.created_at().and_then(|t| t.to_millis().ok())));
        let arns: Vec<String> = (briefs.into_iter().take(DESCRIBED))
            .filter_map(|b| b.service_deployment_arn)
            .collect();
        if arns.is_empty() {
            return Ok(None);
        }
        // IAM: ecs:DescribeServiceDeployments on the service and its service-deployment ARNs
        let described = (self
            .ecs
            .describe_service_deployments()
            .set_service_deployment_arns(Some(arns)))
        .send()
        .await
        .map_err(|e| aws_error("ecs:DescribeServiceDeployments", e))?;
        Ok(nearest(change, described.service_deployments()).cloned())
    }

    /// The task definitions of `revisions` (service revisions resolved in one call).
    async fn task_definitions(&self, revisions: [Option<&RevisionRef>; 2]) -> Result<[Option<String>; 2], Error> {
        let wanted: Vec<String> = (revisions.iter().flatten())
            .filter_map(|r| match r {
                RevisionRef::ServiceRevision(arn) => Some(arn.clone()),
                RevisionRef::TaskDefinition(_) => None,
            })
            .collect();
        let resolved = if wanted.is_empty() {
            Vec::new()
        } else {
            // IAM: ecs:DescribeServiceRevisions on the service and its service-revision ARNs
            (self
                .ecs
                .describe_service_revisions()
                .set_service_revision_arns(Some(wanted)))
            .send()
            .await
            .map_err(|e| aws_error("ecs:DescribeServiceRevisions", e))?
            .service_revisions
            .unwrap_or_default()
        };
        Ok(revisions.map(|r| match r? {
            RevisionRef::TaskDefinition(arn) => Some(arn.clone()),
            RevisionRef::ServiceRevision(arn) => (resolved.iter())
                .find(|s| s.service_revision_arn() == Some(arn.as_str()))
                .and_then(|s| s.task_definition().map(str::to_string)),
        }))
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
    use aws_smithy_mocks::{mock, Rule};
    use serde_json::{json, Value};

    /// An ECS Deployment State Change at 10:00:`second` (its `updatedAt`).
    fn event_at(name: &str, id: &str, reason: &str, second: u32) -> DeploymentChange {
        let e = json!({"version": "0", "id": "e", "detail-type": "ECS Deployment State Change", "source": "aws.ecs",
            "account": "123456789012", "time": "2026-11-27T10:05:00Z", "region": "us-east-1",
            "resources": ["arn:aws:ecs:us-east-1:123456789012:service/shop/web"],
            "detail": {"eventType": "INFO", "eventName": name, "deploymentId": id, "reason": reason,
                       "updatedAt": format!("2026-11-27T10:00:{second:02}Z")}});
        match classify(&e).unwrap() {
            crate::event::Classified::Deployment(change) => change,
            other => panic!("{other:?}"),
        }
    }

    fn event(cluster: &str, name: &str, id: &str, reason: &str) -> DeploymentChange {
        let mut change = event_at(name, id, reason, 0);
        change.cluster = cluster.to_string();
        change
    }

    /// Epoch seconds of 2026-11-27T10:00:`second`Z.
    fn at(second: i64) -> i64 {
        1_795_773_600 + second
    }

    fn revision_arn(n: u32) -> String {
        format!("arn:aws:ecs:us-east-1:123456789012:service-revision/shop/web/{n}")
    }

    /// A service-deployment record of revision `n`, created at `created` and last changed at
    /// `changed` (10:00:ss).
    fn record(n: u32, status: &str, created: i64, changed: i64) -> Value {
        json!({"serviceDeploymentArn": format!("arn:aws:ecs:us-east-1:123456789012:service-deployment/shop/web/{n}"),
               "status": status, "createdAt": at(created), "updatedAt": at(changed), "finishedAt": at(changed),
               "targetServiceRevision": {"arn": revision_arn(n)},
               "deploymentCircuitBreaker": {"status": "MONITORING", "failureCount": 0, "threshold": 10},
               "alarms": {"status": "DISABLED"}})
    }

    /// The service's deployment history, oldest first over two pages (an order AWS does not
    /// promise), and DescribeServiceDeployments answering the records asked for.
    fn history(records: Vec<Value>) -> Vec<Rule> {
        let briefs: Vec<Value> = (records.iter())
            .map(|r| {
                json!({"serviceDeploymentArn": r["serviceDeploymentArn"], "status": r["status"],
                            "createdAt": r["createdAt"], "targetServiceRevisionArn": r["targetServiceRevision"]["arn"]})
            })
            .collect();
        let half = briefs.len() / 2;
        let (first, second) = (briefs[..half].to_vec(), briefs[half..].to_vec());
        let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let record = asked.clone();
        vec![
            mock!(aws_sdk_ecs::Client::list_service_deployments)
                .match_requests(|r| {
                    r.service() == Some("web") && r.max_results() == Some(100) && r.next_token().is_none()
                })
                .then_http_response(move || ok(json!({"serviceDeployments": first, "nextToken": "page-2"}))),
            mock!(aws_sdk_ecs::Client::list_service_deployments)
                .match_requests(|r| r.next_token() == Some("page-2"))
                .then_http_response(move || ok(json!({"serviceDeployments": second}))),
            mock!(aws_sdk_ecs::Client::describe_service_deployments)
                .match_requests(move |r| {
                    *record.lock().unwrap() = r.service_deployment_arns().to_vec();
                    r.service_deployment_arns().len() <= 20
                })
                .then_http_response(move || {
                    let wanted = asked.lock().unwrap().clone();
                    let found: Vec<&Value> = (records.iter())
                        .filter(|r| wanted.iter().any(|w| r["serviceDeploymentArn"] == *w))
                        .collect();
                    ok(json!({"serviceDeployments": found, "failures": []}))
                }),
        ]
    }

    /// DescribeServiceRevisions: revision `n` runs task definition `n`.
    fn revisions() -> Rule {
        let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let record = asked.clone();
        mock!(aws_sdk_ecs::Client::describe_service_revisions)
            .match_requests(move |r| {
                *record.lock().unwrap() = r.service_revision_arns().to_vec();
                true
            })
            .then_http_response(move || {
                let found: Vec<Value> = (asked.lock().unwrap().iter())
                    .map(|arn| {
                        let n: u32 = arn.rsplit('/').next().unwrap().parse().unwrap();
                        json!({"serviceRevisionArn": arn, "taskDefinition": td(n)})
                    })
                    .collect();
                ok(json!({"serviceRevisions": found, "failures": []}))
            })
    }

    /// DescribeTaskDefinition: task definition `n` runs `shop/web@<digest(c)>`.
    fn definitions(images: &'static [(u32, char)]) -> Rule {
        let asked = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let record = asked.clone();
        mock!(aws_sdk_ecs::Client::describe_task_definition)
            .match_requests(move |r| {
                *record.lock().unwrap() = r.task_definition().unwrap_or_default().to_string();
                true
            })
            .then_http_response(move || {
                let arn = asked.lock().unwrap().clone();
                let n: u32 = arn.rsplit(':').next().unwrap().parse().unwrap();
                let c = images.iter().find(|(m, _)| *m == n).map_or('0', |(_, c)| *c);
                ok(
                    json!({"taskDefinition": {"taskDefinitionArn": arn, "family": "shop-web",
                    "containerDefinitions": [{"name": "web", "image": format!("{REGISTRY}/shop/web@{}", digest(c))}]},
                    "tags": []}),
                )
            })
    }

    fn routes() -> Value {
        json!([{"cluster": "shop", "service": "web", "repository": "shop/web"},
               {"cluster": "other", "service": "api", "repository": "shop/web"}])
    }

    fn remembers(value: String) -> Rule {
        mock!(aws_sdk_ecs::Client::tag_resource)
            .match_requests(move |r| {
                r.resource_arn() == Some(SERVICE_ARN)
                    && r.tags().len() == 1
                    && r.tags()[0].key() == Some("pushdeploy:failed:shop/web")
                    && r.tags()[0].value() == Some(value.as_str())
            })
            .then_http_response(|| ok(json!({})))
    }

    fn pinned(c: char) -> String {
        format!("{REGISTRY}/shop/web@{}", digest(c))
    }

    /// Outcomes of `change` for service `web` running task definition 1 with `deployments`, its
    /// tags `tags`, over `records`; and the TagResource rule, which expects `remembered`.
    async fn outcome_of(
        change: &DeploymentChange,
        records: Vec<Value>,
        tags: Value,
        deployments: Value,
        remembered: Option<String>,
    ) -> (Outcome, usize) {
        let describe = service(&td(1), tags, deployments);
        let history = history(records);
        let (revisions, definitions) = (revisions(), definitions(&[(1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')]));
        let tag = match remembered {
            Some(value) => remembers(value),
            None => mock!(aws_sdk_ecs::Client::tag_resource).then_http_response(|| ok(json!({}))),
        };
        let engine = engine(
            &[
                &describe,
                &history[0],
                &history[1],
                &history[2],
                &revisions,
                &definitions,
                &tag,
            ],
            &ssm_rules(routes()),
            &[],
        );
        let out = engine.deployment_outcome(change).await.unwrap();
        (out.into_iter().next().unwrap(), tag.num_calls())
    }

    fn failed_by_breaker(n: u32, back_to: u32, status: &str, created: i64, changed: i64) -> Value {
        let mut r = record(n, status, created, changed);
        r["deploymentCircuitBreaker"]["status"] = json!("TRIGGERED");
        r["statusReason"] = json!("ECS deployment circuit breaker: tasks failed to start.");
        r["rollback"] = json!({"reason": "ECS deployment circuit breaker: tasks failed to start.",
                               "startedAt": at(changed), "serviceRevisionArn": revision_arn(back_to)});
        r["finishedAt"] = Value::Null;
        r
    }

    #[tokio::test]
    async fn a_failed_deployment_is_named_by_ecs_record_reported_with_its_image_and_remembered_once() {
        let records = vec![
            record(1, "SUCCESSFUL", 0, 5),
            failed_by_breaker(2, 1, "ROLLBACK_IN_PROGRESS", 20, 30),
        ];
        let change = event_at("SERVICE_DEPLOYMENT_FAILED", "ecs-svc/2", "tasks failed to start.", 30);
        let older = digest('9');
        let tags = json!([{"key": "pushdeploy:failed:shop/web", "value": older}]);
        let (out, tagged) = outcome_of(
            &change,
            records.clone(),
            tags,
            json!([]),
            Some(format!("{} {older}", digest('b'))),
        )
        .await;
        assert_eq!(
            out,
            Outcome {
                service: Some("web".into()),
                cluster: Some("shop".into()),
                action: Action::Failed,
                reason: Reason::CircuitBreaker,
                task_definition: Some(td(2)),
                image: Some(pinned('b')),
                deployment: Some("ecs-svc/2".into()),
                alarms: Vec::new(),
                pause: None,
            }
        );
        assert_eq!(tagged, 1);
        // Replayed: the service already remembers the digest; nothing is written.
        let tags = json!([{"key": "pushdeploy:failed:shop/web", "value": digest('b')}]);
        let (again, tagged) = outcome_of(&change, records, tags, json!([]), None).await;
        assert_eq!((again.action, again.image), (Action::Failed, Some(pinned('b'))));
        assert_eq!(tagged, 0, "a replay writes nothing");
    }

    #[tokio::test]
    async fn the_record_is_the_one_nearest_the_events_time_across_pages_in_any_order() {
        // Three failures over time, oldest first on two pages: the event at 10:00:40 is the second.
        let records = vec![
            failed_by_breaker(2, 1, "ROLLBACK_SUCCESSFUL", 10, 12),
            failed_by_breaker(3, 1, "ROLLBACK_SUCCESSFUL", 35, 40),
            failed_by_breaker(4, 1, "ROLLBACK_IN_PROGRESS", 50, 58),
        ];
        let change = event_at("SERVICE_DEPLOYMENT_FAILED", "ecs-svc/3", "", 40);
        let (out, _) = outcome_of(&change, records, json!([]), json!([]), Some(digest('c'))).await;
        assert_eq!((out.task_definition, out.image), (Some(td(3)), Some(pinned('c'))));
    }

    #[tokio::test]
    async fn an_alarm_names_the_alarms_that_failed_the_deployment() {
        let mut r = record(2, "ROLLBACK_SUCCESSFUL", 20, 30);
        r["alarms"] = json!({"status": "TRIGGERED", "alarmNames": ["p99", "5xx"], "triggeredAlarmNames": ["p99"]});
        r["rollback"] = json!({"reason": "Rolling back: alarm p99 in ALARM", "startedAt": at(30), "serviceRevisionArn": revision_arn(1)});
        let change = event_at("SERVICE_DEPLOYMENT_FAILED", "ecs-svc/2", "whatever ECS says", 30);
        let (out, _) = outcome_of(&change, vec![r], json!([]), json!([]), Some(digest('b'))).await;
        assert_eq!(
            (out.action, &out.reason, out.alarms.as_slice()),
            (Action::Failed, &Reason::Alarm, &["p99".to_string()][..])
        );
    }

    #[tokio::test]
    async fn a_deployment_a_person_stopped_says_stopped_and_one_superseded_keeps_ecs_words() {
        // StopServiceDeployment(ROLLBACK): the record carries stoppedAt, nothing triggered.
        let mut r = record(2, "ROLLBACK_SUCCESSFUL", 20, 30);
        r["stoppedAt"] = json!(at(25));
        r["rollback"] =
            json!({"reason": "rollback requested", "startedAt": at(26), "serviceRevisionArn": revision_arn(1)});
        let change = event_at("SERVICE_DEPLOYMENT_FAILED", "ecs-svc/2", "whatever ECS says", 30);
        let (out, _) = outcome_of(&change, vec![r], json!([]), json!([]), Some(digest('b'))).await;
        assert_eq!((out.action, &out.reason), (Action::Failed, &Reason::Stopped));
        assert_eq!(Reason::Stopped.as_str(), "stopped");
        // Superseded by a newer deployment: STOPPED without stoppedAt, in ECS's words.
        let mut r = record(3, "STOPPED", 40, 45);
        r["statusReason"] = json!("Superseded by a newer deployment.");
        let change = event_at("SERVICE_DEPLOYMENT_FAILED", "ecs-svc/3", "", 45);
        let (out, _) = outcome_of(&change, vec![r], json!([]), json!([]), Some(digest('c'))).await;
        assert_eq!(out.reason, Reason::Ecs("Superseded by a newer deployment.".into()));
    }

    #[tokio::test]
    async fn a_completed_rollback_is_reported_rolled_back_never_a_deploy_of_the_old_image() {
        let records = vec![
            record(1, "SUCCESSFUL", 0, 5),
            failed_by_breaker(2, 1, "ROLLBACK_SUCCESSFUL", 20, 40),
        ];
        // ECS's rollback takes the id of the deployment it returns to.
        let back =
            json!([{"id": "ecs-svc/1", "status": "PRIMARY", "taskDefinition": td(1), "rolloutState": "COMPLETED"}]);
        let change = event_at(
            "SERVICE_DEPLOYMENT_COMPLETED",
            "ecs-svc/1",
            "ECS deployment ecs-svc/1 completed.",
            41,
        );
        let (out, tagged) = outcome_of(&change, records, json!([]), back, Some(digest('b'))).await;
        assert_eq!(
            (
                out.action,
                &out.reason,
                out.task_definition.as_deref(),
                out.image.as_deref()
            ),
            (
                Action::RolledBack,
                &Reason::CircuitBreaker,
                Some(td(1).as_str()),
                Some(pinned('a').as_str())
            ),
            "what runs again, and why"
        );
        assert_eq!(
            tagged, 1,
            "the failed image is remembered, should its own event have been lost"
        );
        assert_eq!(serde_json::to_value(out.action).unwrap(), "rolled-back");
    }

    #[tokio::test]
    async fn a_failed_rollback_never_marks_the_image_it_was_rolling_back_to() {
        let records = vec![
            record(1, "SUCCESSFUL", 0, 5),
            failed_by_breaker(2, 1, "ROLLBACK_FAILED", 20, 45),
        ];
        // The failing deployment is the rollback, shown under the good deployment's id and revision.
        let shown =
            json!([{"id": "ecs-svc/1", "status": "PRIMARY", "taskDefinition": td(1), "rolloutState": "FAILED"}]);
        let change = event_at("SERVICE_DEPLOYMENT_FAILED", "ecs-svc/1", "rollback failed", 45);
        let (out, tagged) = outcome_of(&change, records, json!([]), shown, Some(digest('b'))).await;
        assert_eq!((out.action, out.task_definition), (Action::Failed, Some(td(2))));
        assert_eq!(
            tagged, 1,
            "the bad image (b), not the good one (a) being rolled back to"
        );
    }

    #[tokio::test]
    async fn a_completed_deployment_is_reported_in_ecs_words_and_writes_nothing() {
        let records = vec![record(1, "SUCCESSFUL", 0, 5), record(3, "SUCCESSFUL", 20, 30)];
        let done =
            json!([{"id": "ecs-svc/3", "status": "PRIMARY", "taskDefinition": td(3), "rolloutState": "COMPLETED"}]);
        let change = event_at(
            "SERVICE_DEPLOYMENT_COMPLETED",
            "ecs-svc/3",
            "ECS deployment ecs-svc/3 reached steady state.",
            30,
        );
        let (out, tagged) = outcome_of(&change, records.clone(), json!([]), done.clone(), None).await;
        assert_eq!((out.action, out.image), (Action::Completed, Some(pinned('c'))));
        assert_eq!(
            out.reason,
            Reason::Ecs("ECS deployment ecs-svc/3 reached steady state.".into()),
            "ECS's own words, not made-up ones"
        );
        assert_eq!(tagged, 0);
        let silent = event_at("SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/3", "", 30);
        let (out, _) = outcome_of(&silent, records, json!([]), done, None).await;
        assert_eq!(out.reason, Reason::Ecs("ECS deployment ecs-svc/3 completed.".into()));
    }

    #[tokio::test]
    async fn without_a_record_the_deployment_shown_is_reported_and_a_service_not_routed_costs_no_call() {
        let failing = json!([
            {"id": "ecs-svc/5", "status": "PRIMARY", "taskDefinition": td(1), "rolloutState": "IN_PROGRESS"},
            {"id": "ecs-svc/2", "status": "ACTIVE", "taskDefinition": td(2), "rolloutState": "FAILED"}
        ]);
        let change = event_at(
            "SERVICE_DEPLOYMENT_FAILED",
            "ecs-svc/2",
            "ECS deployment failed: alarm x in ALARM",
            30,
        );
        let (out, tagged) = outcome_of(&change, Vec::new(), json!([]), failing, Some(digest('b'))).await;
        assert_eq!(
            (out.action, &out.reason, out.task_definition.as_deref()),
            (
                Action::Failed,
                &Reason::Ecs("ECS deployment failed: alarm x in ALARM".into()),
                Some(td(2).as_str())
            ),
            "ECS's words as they are: no code is guessed from the text"
        );
        assert_eq!(tagged, 1);
        let gone = event_at("SERVICE_DEPLOYMENT_FAILED", "ecs-svc/9", "x", 30);
        let (out, tagged) = outcome_of(&gone, Vec::new(), json!([]), json!([]), None).await;
        assert_eq!((out.task_definition, out.image, tagged), (None, None, 0));

        let describe = service(&td(1), json!([]), json!([]));
        let engine = engine(&[&describe], &ssm_rules(routes()), &[]);
        for cluster in ["other", "nowhere"] {
            let out = engine
                .deployment_outcome(&event(cluster, "SERVICE_DEPLOYMENT_FAILED", "ecs-svc/1", "x"))
                .await
                .unwrap();
            assert_eq!(
                (out[0].action, &out[0].reason),
                (Action::Skipped, &Reason::NotRouted),
                "{cluster}"
            );
            assert_eq!(out[0].deployment.as_deref(), Some("ecs-svc/1"));
        }
        assert_eq!(
            describe.num_calls(),
            0,
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
