//! The EventBridge `ECR Image Action` event: its typed detail, and the classification that
//! decides whether an event is a push that redeploys or something to skip with a reason.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::image::{ecr_registry, is_artifact_tag, is_digest, is_tag};
use crate::outcome::Reason;

/// EventBridge `source` of ECR events.
pub const SOURCE: &str = "aws.ecr";
/// EventBridge `detail-type` of image pushes and deletes.
pub const DETAIL_TYPE: &str = "ECR Image Action";
/// EventBridge `source` of ECS events.
pub const ECS_SOURCE: &str = "aws.ecs";
/// EventBridge `detail-type` of ECS service deployment state changes.
pub const DEPLOYMENT_DETAIL_TYPE: &str = "ECS Deployment State Change";
/// EventBridge `detail-type` of ECS lifecycle hook state changes: `HOOK_AWAITING_ACTION` when a
/// deployment reaches a pause hook (ECS developer guide, "Pause hooks for Amazon ECS service
/// deployments").
pub const HOOK_DETAIL_TYPE: &str = "ECS Hook State Change";
/// The `eventName` of a deployment paused at a pause hook.
pub const HOOK_AWAITING_ACTION: &str = "HOOK_AWAITING_ACTION";
/// EventBridge `source` of scheduled events.
pub const SCHEDULE_SOURCE: &str = "aws.events";
/// EventBridge `detail-type` of scheduled events.
pub const SCHEDULE_DETAIL_TYPE: &str = "Scheduled Event";

/// The `detail` of an `ECS Deployment State Change` event (ECS developer guide, "Amazon ECS
/// service deployment state change events").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsDeploymentStateChange {
    /// `INFO` or `ERROR`.
    pub event_type: String,
    /// `SERVICE_DEPLOYMENT_IN_PROGRESS`, `SERVICE_DEPLOYMENT_COMPLETED` or
    /// `SERVICE_DEPLOYMENT_FAILED`.
    pub event_name: DeploymentEventName,
    /// The deployment's id, `ecs-svc/<digits>`, as in DescribeServices' `deployments[].id`.
    pub deployment_id: String,
    /// When the deployment changed state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// ECS's words: `ECS deployment circuit breaker: ...`, `ECS deployment ecs-svc/.. completed.`
    #[serde(default)]
    pub reason: String,
}

/// The `eventName` of an ECS deployment state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentEventName {
    /// The deployment started.
    ServiceDeploymentInProgress,
    /// The service reached a steady state.
    ServiceDeploymentCompleted,
    /// The circuit breaker or an alarm failed it.
    ServiceDeploymentFailed,
    /// A name this build does not know (ECS may add some).
    #[serde(other)]
    Other,
}

/// How an ECS deployment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentEnd {
    /// `SERVICE_DEPLOYMENT_COMPLETED`: the service reached a steady state.
    Completed,
    /// `SERVICE_DEPLOYMENT_FAILED`: the circuit breaker or an alarm failed it.
    Failed,
}

/// A deployment of one ECS service that completed or failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentChange {
    /// Cluster name, from the service ARN in `resources`.
    pub cluster: String,
    /// Service name, from the service ARN in `resources`.
    pub service: String,
    /// `ecs-svc/...`.
    pub deployment_id: String,
    /// Completed or failed.
    pub end: DeploymentEnd,
    /// ECS's words.
    pub reason: String,
    /// When the deployment changed state (`detail.updatedAt`, else the event's time).
    pub at: Option<DateTime<Utc>>,
}

/// What an `ECR Image Action` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ActionType {
    /// An image was pushed.
    Push,
    /// An image was deleted.
    Delete,
    /// An action this build does not know.
    #[serde(other)]
    Other,
}

/// Whether an `ECR Image Action` succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ActionResult {
    /// It did.
    Success,
    /// It did not.
    Failure,
    /// A result this build does not know.
    #[serde(other)]
    Other,
}

/// Which of the events pushdeploy handles an envelope carries, from its `source` and
/// `detail-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventKind {
    /// `aws.ecr` / `ECR Image Action`.
    ImageAction,
    /// `aws.ecs` / `ECS Deployment State Change`.
    Deployment,
    /// `aws.ecs` / `ECS Hook State Change`.
    Hook,
    /// `aws.events` / `Scheduled Event`.
    Schedule,
    /// Anything else.
    Other,
}

impl EventKind {
    fn of(envelope: &EventBridgeEvent<Value>) -> EventKind {
        match (envelope.source.as_str(), envelope.detail_type.as_str()) {
            (SOURCE, DETAIL_TYPE) => EventKind::ImageAction,
            (ECS_SOURCE, DEPLOYMENT_DETAIL_TYPE) => EventKind::Deployment,
            (ECS_SOURCE, HOOK_DETAIL_TYPE) => EventKind::Hook,
            (SCHEDULE_SOURCE, SCHEDULE_DETAIL_TYPE) => EventKind::Schedule,
            _ => EventKind::Other,
        }
    }
}

/// The `detail` of an `ECR Image Action` event. `aws_lambda_events` has the envelope only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EcrImageAction {
    /// `PUSH` or `DELETE`.
    pub action_type: ActionType,
    /// `SUCCESS` or `FAILURE`.
    pub result: ActionResult,
    /// Repository name inside the registry.
    pub repository_name: String,
    /// Manifest digest; absent on some failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    /// Tag pushed; absent when the image was pushed by digest only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    /// Media type of the manifest (present on newer events; informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_media_type: Option<String>,
    /// Media type of the artifact's config: a container image's, or a Helm chart's, a
    /// signature's ... Absent on image indexes (`docker buildx`'s tagged push) and older events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_media_type: Option<String>,
}

/// Config media types of container images (Docker v2 and OCI). A push whose
/// `artifact-media-type` is anything else is not an image a service can run.
pub const IMAGE_CONFIG_MEDIA_TYPES: &[&str] = &[
    "application/vnd.docker.container.image.v1+json",
    "application/vnd.oci.image.config.v1+json",
];

/// A successful push: everything the redeploy needs to know about the new image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// Account that owns the registry.
    pub account: String,
    /// Region of the registry.
    pub region: String,
    /// Repository name.
    pub repository: String,
    /// `sha256:...` digest of the pushed manifest.
    pub digest: String,
    /// Readable tag, when the push had one.
    pub tag: Option<String>,
    /// When ECR accepted the push (the event's `time`).
    pub pushed_at: DateTime<Utc>,
}

impl Push {
    /// Registry host the image lives in.
    pub fn registry(&self) -> String {
        ecr_registry(&self.account, &self.region)
    }

    /// The digest-pinned image reference written into task definitions.
    pub fn pinned_image(&self) -> String {
        format!("{}/{}@{}", self.registry(), self.repository, self.digest)
    }

    /// The push time as recorded on revisions: RFC 3339, whole seconds, UTC.
    pub fn pushed_at_tag(&self) -> String {
        self.pushed_at.to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

/// What an incoming event means for pushdeploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// A successful push with a digest: route it and redeploy.
    Push(Push),
    /// A deployment that completed or failed: report it, remember a failed image.
    Deployment(DeploymentChange),
    /// A deployment paused at a pause hook, waiting for approval: report it.
    Paused(HookPause),
    /// The periodic sync: deploy what a missed push would have.
    Schedule,
    /// Anything else: nothing to do, for the reason given.
    Ignored {
        /// Why the event redeploys nothing.
        reason: Reason,
        /// The repository named by the event, when it names one.
        repository: Option<String>,
    },
}

/// A malformed event, naming the field that is wrong. Not retryable: the same bytes fail again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what}: field `{field}`: {problem}")]
pub struct EventError {
    /// Which part of the event was being read.
    pub what: &'static str,
    /// JSON path of the offending field (`detail.image-digest`).
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

/// Reads an event as EventBridge delivers it and decides what it means.
pub fn classify(event: &Value) -> Result<Classified, EventError> {
    let envelope: EventBridgeEvent<Value> = serde_path_to_error::deserialize(event).map_err(|e| EventError {
        what: "EventBridge event",
        field: join_path(None, e.path()),
        problem: e.inner().to_string(),
    })?;
    match EventKind::of(&envelope) {
        EventKind::ImageAction => classify_push(envelope),
        EventKind::Deployment => classify_deployment(&envelope),
        EventKind::Hook => classify_hook(&envelope),
        EventKind::Schedule => classify_schedule(&envelope),
        EventKind::Other => Ok(Classified::Ignored {
            reason: Reason::NotAnEcrImageAction,
            repository: None,
        }),
    }
}

/// An `ECR Image Action`: a push that redeploys, or the reason it does not.
fn classify_push(envelope: EventBridgeEvent<Value>) -> Result<Classified, EventError> {
    let detail: EcrImageAction = serde_path_to_error::deserialize(&envelope.detail).map_err(|e| EventError {
        what: "ECR Image Action event",
        field: join_path(Some("detail"), e.path()),
        problem: e.inner().to_string(),
    })?;
    let ignored = |reason| {
        Ok(Classified::Ignored {
            reason,
            repository: Some(detail.repository_name.clone()),
        })
    };
    let digest = match (detail.action_type, detail.result, &detail.image_digest) {
        (ActionType::Push, ActionResult::Success, Some(digest)) => digest.clone(),
        (ActionType::Push, ActionResult::Success, None) => return ignored(Reason::NoDigest),
        (ActionType::Push, _, _) => return ignored(Reason::PushFailed),
        _ => return ignored(Reason::NotAPush),
    };
    let tag = checked_tag(&detail, &digest)?;
    // Not an image a service runs: another artifact type, or a signature or attestation pushed
    // under cosign's `sha256-<digest>.sig` tag (its config says it is an image).
    if detail
        .artifact_media_type
        .as_deref()
        .is_some_and(|t| !IMAGE_CONFIG_MEDIA_TYPES.contains(&t))
        || tag.as_deref().is_some_and(is_artifact_tag)
    {
        return ignored(Reason::NotAnImage);
    }
    let account = envelope
        .account
        .filter(|a| !a.is_empty())
        .ok_or_else(|| push_error("account", "missing"))?;
    let region = envelope
        .region
        .filter(|r| !r.is_empty())
        .ok_or_else(|| push_error("region", "missing"))?;
    let pushed_at = envelope.time.ok_or_else(|| push_error("time", "missing"))?;
    Ok(Classified::Push(Push {
        account,
        region,
        repository: detail.repository_name,
        digest,
        tag,
        pushed_at,
    }))
}

fn push_error(field: &str, problem: &str) -> EventError {
    EventError {
        what: "ECR Image Action event",
        field: field.to_string(),
        problem: problem.to_string(),
    }
}

/// The push's digest and repository checked, and its tag (`None` when empty or absent).
fn checked_tag(detail: &EcrImageAction, digest: &str) -> Result<Option<String>, EventError> {
    if !is_digest(digest) {
        return Err(push_error(
            "detail.image-digest",
            "expected `sha256:` followed by 64 hex digits",
        ));
    }
    if detail.repository_name.is_empty() {
        return Err(push_error("detail.repository-name", "is empty"));
    }
    let tag = detail.image_tag.clone().filter(|t| !t.is_empty());
    if tag.as_deref().is_some_and(|t| !is_tag(t)) {
        return Err(push_error(
            "detail.image-tag",
            "not a registry tag: 1 to 128 of letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
        ));
    }
    Ok(tag)
}

/// An `ECS Deployment State Change`: the service from the ARN in `resources` (the long ARN
/// format, `service/<cluster>/<service>`), the deployment and how it ended.
fn classify_deployment(envelope: &EventBridgeEvent<Value>) -> Result<Classified, EventError> {
    let error = |field: &str, problem: String| EventError {
        what: "ECS Deployment State Change event",
        field: field.to_string(),
        problem,
    };
    let detail: EcsDeploymentStateChange =
        serde_path_to_error::deserialize(&envelope.detail).map_err(|e| EventError {
            what: "ECS Deployment State Change event",
            field: join_path(Some("detail"), e.path()),
            problem: e.inner().to_string(),
        })?;
    let end = match detail.event_name {
        DeploymentEventName::ServiceDeploymentCompleted => DeploymentEnd::Completed,
        DeploymentEventName::ServiceDeploymentFailed => DeploymentEnd::Failed,
        DeploymentEventName::ServiceDeploymentInProgress => {
            return Ok(Classified::Ignored {
                reason: Reason::DeploymentInProgress,
                repository: None,
            })
        }
        DeploymentEventName::Other => {
            return Ok(Classified::Ignored {
                reason: Reason::NotAnEcrImageAction,
                repository: None,
            })
        }
    };
    if !detail.deployment_id.starts_with("ecs-svc/") || detail.deployment_id.len() > 64 {
        return Err(error(
            "detail.deploymentId",
            "expected `ecs-svc/` followed by the deployment's id".into(),
        ));
    }
    let service_arn = match envelope.resources.as_deref().unwrap_or_default() {
        [arn] => arn.clone(),
        other => {
            return Err(error(
                "resources",
                format!("expected the one service ARN, found {} entries", other.len()),
            ))
        }
    };
    let (cluster, service) = service_of_arn(&service_arn).ok_or_else(|| {
        error(
            "resources[0]",
            "expected a service ARN `arn:aws:ecs:<region>:<account>:service/<cluster>/<service>`".into(),
        )
    })?;
    let at = (detail.updated_at.as_deref())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .or(envelope.time);
    Ok(Classified::Deployment(DeploymentChange {
        cluster,
        service,
        deployment_id: detail.deployment_id,
        end,
        reason: detail.reason,
        at,
    }))
}

/// A service deployment paused at a pause hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookPause {
    /// Cluster name.
    pub cluster: String,
    /// Service name.
    pub service: String,
}

/// The `detail` fields of an `ECS Hook State Change` pushdeploy reads: its name only (the
/// deployment, the hook and its stage come from DescribeServiceDeployments).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HookStateChange {
    event_name: String,
}

/// An `ECS Hook State Change`: `HOOK_AWAITING_ACTION` names the service paused (by its service
/// or service-deployment ARN in `resources`); other hook events are not outcomes.
fn classify_hook(envelope: &EventBridgeEvent<Value>) -> Result<Classified, EventError> {
    let what = "ECS Hook State Change event";
    let detail: HookStateChange = serde_path_to_error::deserialize(&envelope.detail).map_err(|e| EventError {
        what,
        field: join_path(Some("detail"), e.path()),
        problem: e.inner().to_string(),
    })?;
    if detail.event_name != HOOK_AWAITING_ACTION {
        return Ok(Classified::Ignored {
            reason: Reason::DeploymentInProgress,
            repository: None,
        });
    }
    let (cluster, service) = (envelope.resources.as_deref().unwrap_or_default().iter())
        .find_map(|arn| service_of_arn(arn).or_else(|| service_of_deployment_arn(arn)))
        .ok_or_else(|| EventError {
            what,
            field: "resources".into(),
            problem: "expected the service's ARN `arn:aws:ecs:<region>:<account>:service/<cluster>/<service>` or its service deployment's".into(),
        })?;
    Ok(Classified::Paused(HookPause { cluster, service }))
}

/// `arn:aws:ecs:<region>:<account>:service-deployment/<cluster>/<service>/<id>` → (cluster,
/// service).
pub fn service_of_deployment_arn(arn: &str) -> Option<(String, String)> {
    let (head, id) = arn.rsplit_once('/')?;
    if id.is_empty() {
        return None;
    }
    service_of_arn(&head.replacen(":service-deployment/", ":service/", 1))
        .filter(|_| head.contains(":service-deployment/"))
}

/// `arn:aws:ecs:<region>:<account>:service/<cluster>/<service>` → (cluster, service).
pub fn service_of_arn(arn: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [arn_word, _partition, ecs, _region, _account, resource] = parts.as_slice() else {
        return None;
    };
    if *arn_word != "arn" || *ecs != "ecs" {
        return None;
    }
    let mut names = resource.strip_prefix("service/")?.split('/');
    let (cluster, service) = (names.next()?, names.next()?);
    let valid = |n: &str| {
        !n.is_empty() && n.len() <= 255 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    (names.next().is_none() && valid(cluster) && valid(service)).then(|| (cluster.to_string(), service.to_string()))
}

/// A `Scheduled Event` from an EventBridge schedule: its envelope is complete and its `detail`
/// is always `{}`; anything else is not what a schedule sends, and syncs nothing.
fn classify_schedule(envelope: &EventBridgeEvent<Value>) -> Result<Classified, EventError> {
    let missing = [
        ("id", envelope.id.is_none()),
        ("account", envelope.account.is_none()),
        ("region", envelope.region.is_none()),
        ("time", envelope.time.is_none()),
    ];
    if let Some((field, _)) = missing.iter().find(|(_, gone)| *gone) {
        return Err(EventError {
            what: "Scheduled Event",
            field: field.to_string(),
            problem: "missing: a schedule's event always has it".into(),
        });
    }
    match &envelope.detail {
        Value::Object(map) if map.is_empty() => Ok(Classified::Schedule),
        _ => Err(EventError {
            what: "Scheduled Event",
            field: "detail".into(),
            problem: "a schedule sends an empty object `{}`".into(),
        }),
    }
}

/// Builds a real-shaped `ECR Image Action` event for a push (used by `pushdeploy event` and tests).
pub fn push_event(push: &Push) -> Value {
    let detail = EcrImageAction {
        action_type: ActionType::Push,
        result: ActionResult::Success,
        repository_name: push.repository.clone(),
        image_digest: Some(push.digest.clone()),
        image_tag: push.tag.clone(),
        manifest_media_type: Some("application/vnd.docker.distribution.manifest.v2+json".into()),
        artifact_media_type: Some(IMAGE_CONFIG_MEDIA_TYPES[0].into()),
    };
    serde_json::json!({
        "version": "0",
        "id": format!("pushdeploy-{}", push.digest.get(7..19).unwrap_or("push")),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": push.account,
        "time": push.pushed_at_tag(),
        "region": push.region,
        "resources": [format!("arn:aws:ecr:{}:{}:repository/{}", push.region, push.account, push.repository)],
        "detail": detail,
    })
}

/// `detail` + `image-tag` → `detail.image-tag`; a missing field is reported at its parent (the
/// event itself, `(event)`, when there is none).
fn join_path(parent: Option<&str>, path: &serde_path_to_error::Path) -> String {
    match (parent, path.to_string().as_str()) {
        (Some(parent), ".") => parent.to_string(),
        (None, ".") => "(event)".to_string(),
        (Some(parent), p) => format!("{parent}.{p}"),
        (None, p) => p.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DIGEST: &str = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234abcd";

    fn event(detail: Value) -> Value {
        json!({
            "version": "0", "id": "13cde686-328b-6117-af20-0e5566167482",
            "detail-type": "ECR Image Action", "source": "aws.ecr",
            "account": "123456789012", "time": "2026-11-26T10:00:00Z", "region": "eu-west-1",
            "resources": [], "detail": detail
        })
    }

    #[test]
    fn only_ecr_image_actions_from_aws_ecr_are_read_as_pushes() {
        // The classifier's guard needs both: another ECR detail type (scans, pull-through
        // cache) and another source claiming the ECR detail type are ignored alike.
        let push =
            json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "web", "image-digest": DIGEST});
        for (source, detail_type) in [
            ("aws.ecr", "ECR Image Scan"),
            ("aws.ecr", "ECR Pull Through Cache Action"),
            ("my.app", "ECR Image Action"),
        ] {
            let mut e = event(push.clone());
            e["source"] = json!(source);
            e["detail-type"] = json!(detail_type);
            assert_eq!(
                classify(&e).unwrap(),
                Classified::Ignored {
                    reason: Reason::NotAnEcrImageAction,
                    repository: None
                },
                "{source} {detail_type}"
            );
        }
    }

    #[test]
    fn a_successful_tagged_push_redeploys() {
        let e = event(
            json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "team/web",
                             "image-digest": DIGEST, "image-tag": "v2"}),
        );
        let Classified::Push(push) = classify(&e).unwrap() else {
            panic!("not a push")
        };
        assert_eq!(push.repository, "team/web");
        assert_eq!(push.tag.as_deref(), Some("v2"));
        assert_eq!(
            push.pinned_image(),
            format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web@{DIGEST}")
        );
        assert_eq!(push.pushed_at_tag(), "2026-11-26T10:00:00Z");
    }

    #[test]
    fn a_push_by_digest_only_redeploys_without_a_tag() {
        let e = event(
            json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "web", "image-digest": DIGEST}),
        );
        let Classified::Push(push) = classify(&e).unwrap() else {
            panic!("not a push")
        };
        assert_eq!(push.tag, None);
    }

    #[test]
    fn deletes_failures_and_digestless_pushes_are_skipped_with_a_reason() {
        let cases = [
            (
                json!({"action-type": "DELETE", "result": "SUCCESS", "repository-name": "web", "image-digest": DIGEST}),
                Reason::NotAPush,
            ),
            (
                json!({"action-type": "PUSH", "result": "FAILURE", "repository-name": "web", "image-tag": "v1"}),
                Reason::PushFailed,
            ),
            (
                json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "web"}),
                Reason::NoDigest,
            ),
        ];
        for (detail, want) in cases {
            match classify(&event(detail)).unwrap() {
                Classified::Ignored { reason, repository } => {
                    assert_eq!(reason, want);
                    assert_eq!(repository.as_deref(), Some("web"));
                }
                other => panic!("expected {want}, got {other:?}"),
            }
        }
    }

    #[test]
    fn an_empty_tag_is_an_untagged_push() {
        // ECR's events for the manifests `docker buildx` pushes beside the tagged index.
        let e = event(
            json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "web",
            "image-digest": DIGEST, "image-tag": "",
            "artifact-media-type": "application/vnd.oci.image.config.v1+json",
            "manifest-media-type": "application/vnd.oci.image.manifest.v1+json"}),
        );
        let Classified::Push(push) = classify(&e).unwrap() else {
            panic!("not a push")
        };
        assert_eq!(push.tag, None);
    }

    #[test]
    fn an_image_index_or_an_image_config_is_an_image_and_other_artifacts_are_not() {
        let index = event(
            json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "web",
            "image-digest": DIGEST, "image-tag": "v4",
            "manifest-media-type": "application/vnd.oci.image.index.v1+json"}),
        );
        assert!(matches!(classify(&index).unwrap(), Classified::Push(_)));
        for image in IMAGE_CONFIG_MEDIA_TYPES {
            let e = event(
                json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "web",
                "image-digest": DIGEST, "image-tag": "v4", "artifact-media-type": image}),
            );
            assert!(matches!(classify(&e).unwrap(), Classified::Push(_)), "{image}");
        }
        for artifact in [
            "application/vnd.cncf.helm.config.v1+json",
            "application/vnd.dev.cosign.artifact.sig.v1+json",
            "text/sbom+json",
        ] {
            let e = event(
                json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "charts",
                "image-digest": DIGEST, "image-tag": "1.0.0", "artifact-media-type": artifact}),
            );
            assert_eq!(
                classify(&e).unwrap(),
                Classified::Ignored {
                    reason: Reason::NotAnImage,
                    repository: Some("charts".into())
                },
                "{artifact}"
            );
        }
        // cosign's signature tag, with an image config: still not an image to run.
        let e = event(
            json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "web", "image-digest": DIGEST,
                   "image-tag": format!("sha256-{}.sig", "a".repeat(64)),
                   "artifact-media-type": IMAGE_CONFIG_MEDIA_TYPES[1]}),
        );
        assert!(matches!(
            classify(&e).unwrap(),
            Classified::Ignored {
                reason: Reason::NotAnImage,
                ..
            }
        ));
    }

    #[test]
    fn a_tag_the_registry_grammar_forbids_is_an_invalid_event() {
        for tag in ["v 1", "-v1", ".v1", "v1/x"] {
            let e = event(
                json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "web",
                "image-digest": DIGEST, "image-tag": tag}),
            );
            let err = classify(&e).unwrap_err();
            assert_eq!(err.field, "detail.image-tag", "{tag:?}");
        }
    }

    #[test]
    fn a_pause_names_its_service_by_the_service_or_service_deployment_arn_and_other_hook_events_are_skipped() {
        let hook = |resources: Value, name: &str| {
            json!({"version": "0", "id": "h", "detail-type": HOOK_DETAIL_TYPE, "source": "aws.ecs",
                "account": "123456789012", "time": "2026-12-01T10:00:00Z", "region": "us-east-1",
                "resources": resources, "detail": {"eventName": name}})
        };
        let paused = Classified::Paused(HookPause {
            cluster: "shop".into(),
            service: "web".into(),
        });
        let service = "arn:aws:ecs:us-east-1:123456789012:service/shop/web";
        let deployment = "arn:aws:ecs:us-east-1:123456789012:service-deployment/shop/web/Jn9pBGvyK3F0r";
        assert_eq!(classify(&hook(json!([service]), HOOK_AWAITING_ACTION)).unwrap(), paused);
        assert_eq!(
            classify(&hook(json!([deployment]), HOOK_AWAITING_ACTION)).unwrap(),
            paused
        );
        assert_eq!(
            classify(&hook(json!([service]), "HOOK_SUCCEEDED")).unwrap(),
            Classified::Ignored {
                reason: Reason::DeploymentInProgress,
                repository: None
            }
        );
        let err = classify(&hook(
            json!(["arn:aws:ecs:us-east-1:1:cluster/shop"]),
            HOOK_AWAITING_ACTION,
        ))
        .unwrap_err();
        assert_eq!(err.field, "resources");
        let err = classify(
            &hook(json!([service]), "x")
                .as_object()
                .map(|o| {
                    let mut o = o.clone();
                    o["detail"] = json!({});
                    Value::Object(o)
                })
                .unwrap(),
        )
        .unwrap_err();
        assert!(err.problem.contains("eventName"), "{err}");
    }

    #[test]
    fn events_from_other_sources_are_skipped() {
        let mut e = event(json!({"anything": 1}));
        e["source"] = json!("aws.ec2");
        e["detail-type"] = json!("EC2 Instance State-change Notification");
        assert_eq!(
            classify(&e).unwrap(),
            Classified::Ignored {
                reason: Reason::NotAnEcrImageAction,
                repository: None
            }
        );
    }

    #[test]
    fn a_missing_detail_field_is_an_error_naming_it() {
        let e = event(json!({"action-type": "PUSH", "result": "SUCCESS"}));
        let err = classify(&e).unwrap_err();
        assert_eq!(err.field, "detail");
        assert!(err.problem.contains("repository-name"), "{err}");
    }

    #[test]
    fn a_wrongly_typed_field_is_named_by_its_path() {
        let e = event(json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": 42}));
        let err = classify(&e).unwrap_err();
        assert_eq!(err.field, "detail.repository-name");
        assert!(err.to_string().contains("detail.repository-name"), "{err}");
    }

    #[test]
    fn a_bad_digest_or_missing_envelope_field_is_an_error() {
        let e = event(
            json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "web", "image-digest": "sha256:xyz"}),
        );
        assert_eq!(classify(&e).unwrap_err().field, "detail.image-digest");
        let mut e = event(
            json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "web", "image-digest": DIGEST}),
        );
        e.as_object_mut().unwrap().remove("time");
        assert_eq!(classify(&e).unwrap_err().field, "time");
        let mut e = event(json!({}));
        e.as_object_mut().unwrap().remove("detail-type");
        let err = classify(&e).unwrap_err();
        assert!(err.problem.contains("detail-type"), "{err}");
        assert!(classify(&json!("just a string")).is_err());
        assert!(classify(
            &json!({"time": "yesterday", "source": "aws.ecr", "detail-type": "ECR Image Action", "detail": {}})
        )
        .is_err());
    }

    #[test]
    fn a_wrongly_typed_envelope_field_is_named_without_a_parent() {
        let mut e = event(json!({}));
        e["region"] = json!(5);
        assert_eq!(classify(&e).unwrap_err().field, "region");
    }

    fn deployment(name: &str, id: &str, resources: Value) -> Value {
        json!({"version": "0", "id": "e", "detail-type": "ECS Deployment State Change", "source": "aws.ecs",
            "account": "123456789012", "time": "2026-11-27T10:00:00Z", "region": "us-east-1",
            "resources": resources,
            "detail": {"eventType": "INFO", "eventName": name, "deploymentId": id, "reason": "r"}})
    }

    const WEB: &str = "arn:aws:ecs:us-east-1:123456789012:service/shop-prod/web_api";

    #[test]
    fn deployment_events_end_completed_or_failed_and_the_rest_is_ignored_with_a_reason() {
        let ended = |name: &str| classify(&deployment(name, "ecs-svc/1", json!([WEB]))).unwrap();
        let change = |end| {
            Classified::Deployment(DeploymentChange {
                cluster: "shop-prod".into(),
                service: "web_api".into(),
                deployment_id: "ecs-svc/1".into(),
                end,
                reason: "r".into(),
                at: Some("2026-11-27T10:00:00Z".parse().unwrap()),
            })
        };
        assert_eq!(ended("SERVICE_DEPLOYMENT_COMPLETED"), change(DeploymentEnd::Completed));
        let mut later = deployment("SERVICE_DEPLOYMENT_FAILED", "ecs-svc/1", json!([WEB]));
        later["detail"]["updatedAt"] = json!("2026-11-27T10:00:07Z");
        let Classified::Deployment(updated) = classify(&later).unwrap() else {
            panic!("a deployment")
        };
        assert_eq!(
            updated.at,
            Some("2026-11-27T10:00:07Z".parse().unwrap()),
            "ECS's updatedAt first"
        );
        assert_eq!(ended("SERVICE_DEPLOYMENT_FAILED"), change(DeploymentEnd::Failed));
        assert_eq!(
            ended("SERVICE_DEPLOYMENT_IN_PROGRESS"),
            Classified::Ignored {
                reason: Reason::DeploymentInProgress,
                repository: None
            }
        );
        assert_eq!(
            ended("SERVICE_TASK_START_IMPAIRED"),
            Classified::Ignored {
                reason: Reason::NotAnEcrImageAction,
                repository: None
            }
        );
    }

    #[test]
    fn a_deployment_event_needs_an_ecs_deployment_id_and_exactly_one_service_arn() {
        let field = |id: &str, resources: Value| {
            classify(&deployment("SERVICE_DEPLOYMENT_FAILED", id, resources))
                .map(|_| String::new())
                .unwrap_or_else(|e| e.field)
        };
        let longest = format!("ecs-svc/{}", "1".repeat(56));
        assert_eq!(field(&longest, json!([WEB])), "", "64 characters are an id");
        assert_eq!(field(&format!("{longest}1"), json!([WEB])), "detail.deploymentId");
        assert_eq!(field("svc/1", json!([WEB])), "detail.deploymentId");
        assert_eq!(field("ecs-svc/1", json!([])), "resources");
        assert_eq!(field("ecs-svc/1", json!([WEB, WEB])), "resources");
        assert_eq!(
            field("ecs-svc/1", json!(["arn:aws:ecs:us-east-1:1:cluster/shop"])),
            "resources[0]"
        );
    }

    #[test]
    fn only_an_ecs_service_arn_names_a_service() {
        let named = |arn: &str| service_of_arn(arn);
        assert_eq!(named(WEB), Some(("shop-prod".into(), "web_api".into())));
        let long = "s".repeat(255);
        assert_eq!(
            named(&format!("arn:aws:ecs:r:1:service/c/{long}")),
            Some(("c".into(), long.clone())),
            "255 characters are a name"
        );
        for arn in [
            format!("arn:aws:ecs:r:1:service/c/{long}s"),
            format!("arn:aws:ecs:r:1:service/{long}s/web"),
            "arn:aws:ecs:r:1:service/c/web/extra".into(),
            "arn:aws:ecs:r:1:service/c".into(),
            "arn:aws:ecs:r:1:service//web".into(),
            "arn:aws:ecs:r:1:service/c/".into(),
            "arn:aws:ecs:r:1:service/c.d/web".into(),
            "arn:aws:ecs:r:1:service/c/we b".into(),
            "arn:aws:ecs:r:1:task/c/web".into(),
            "arn:aws:ec2:r:1:service/c/web".into(),
            "urn:aws:ecs:r:1:service/c/web".into(),
            "arn:aws:ecs:r:1".into(),
        ] {
            assert_eq!(named(&arn), None, "{arn}");
        }
    }

    fn scheduled() -> Value {
        json!({"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "time": "2026-11-27T10:00:00Z",
            "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:123456789012:rule/sync"], "detail": {}})
    }

    #[test]
    fn a_schedule_syncs_only_with_its_whole_envelope_and_an_empty_detail() {
        assert_eq!(classify(&scheduled()).unwrap(), Classified::Schedule);
        for detail in [json!({"cluster": "shop"}), json!([]), json!(null), json!("")] {
            let mut e = scheduled();
            e["detail"] = detail.clone();
            assert_eq!(classify(&e).unwrap_err().field, "detail", "{detail}");
        }
        for field in ["id", "account", "region"] {
            let mut e = scheduled();
            e.as_object_mut().unwrap().remove(field);
            assert_eq!(classify(&e).unwrap_err().field, field);
        }
    }

    #[test]
    fn no_mutation_of_a_push_event_panics() {
        let base = event(
            json!({"action-type": "PUSH", "result": "SUCCESS", "repository-name": "web",
                                "image-digest": DIGEST, "image-tag": "v1"}),
        );
        let replacements = [
            json!(null),
            json!(7),
            json!(-1.5),
            json!(""),
            json!("x"),
            json!([]),
            json!({}),
            json!(true),
        ];
        let mut tried = 0;
        for key in base.as_object().unwrap().keys().cloned().collect::<Vec<_>>() {
            for r in &replacements {
                let mut e = base.clone();
                e[&key] = r.clone();
                let _ = classify(&e);
                e.as_object_mut().unwrap().remove(&key);
                let _ = classify(&e);
                tried += 2;
            }
        }
        for key in base["detail"].as_object().unwrap().keys().cloned().collect::<Vec<_>>() {
            for r in &replacements {
                let mut e = base.clone();
                e["detail"][&key] = r.clone();
                let _ = classify(&e);
                e["detail"].as_object_mut().unwrap().remove(&key);
                let _ = classify(&e);
                tried += 2;
            }
        }
        assert!(tried > 200);
    }

    #[test]
    fn push_event_round_trips_through_classify() {
        let push = Push {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            repository: "web".into(),
            digest: DIGEST.into(),
            tag: Some("v3".into()),
            pushed_at: "2026-11-26T09:00:00Z".parse().unwrap(),
        };
        assert_eq!(classify(&push_event(&push)).unwrap(), Classified::Push(push));
    }
}
