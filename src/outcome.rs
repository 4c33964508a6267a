//! What happened to each service for one event: the function's return value and log line.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Whether the service was redeployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A new revision was registered and the service updated.
    Deployed,
    /// Nothing changed, for the outcome's reason.
    Skipped,
    /// An ECS deployment reached its steady state (from an `ECS Deployment State Change` event).
    Completed,
    /// An ECS deployment failed: its images are remembered and never deployed again by a push,
    /// a replay or a sync.
    Failed,
    /// ECS finished rolling a failed deployment back: the revision it returned to runs again.
    /// Never a successful deploy of that revision's image.
    #[serde(rename = "rolled-back")]
    RolledBack,
    /// A deployment paused before production traffic moves, until `pushdeploy approve` (or
    /// `reject`) answers it.
    #[serde(rename = "awaiting-approval")]
    AwaitingApproval,
}

/// Why an outcome is what it is: the stable kebab-case codes of docs/outcomes.md, or ECS's
/// own words for a deployment that completed or failed for a reason without a code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A new revision was registered and the service updated.
    NewImage,
    /// The service already runs this digest.
    AlreadyRunning,
    /// The event is older than the running image of that repository.
    OlderThanRunning,
    /// The service is tagged `pushdeploy:paused`.
    Paused,
    /// ECS manages the service itself (Express Mode): pushdeploy never updates it.
    ManagedByEcs,
    /// The service runs the repository but its tag filter rejects the tag.
    TagFiltered,
    /// The push had no tag (a manifest `docker buildx` pushes beside the tagged index) and the
    /// route does not opt into untagged pushes.
    Untagged,
    /// The pushed artifact is not a container image (a Helm chart, a signature, an SBOM).
    NotAnImage,
    /// No service runs the repository.
    NoMatchingService,
    /// Not a push (a delete, say).
    NotAPush,
    /// A push that failed.
    PushFailed,
    /// A push without a digest.
    NoDigest,
    /// Not an event pushdeploy acts on (another source or detail type).
    NotAnEcrImageAction,
    /// The image's digest failed a deployment of this service before (`pushdeploy deploy
    /// --force` deploys it anyway).
    FailedBefore,
    /// A deployment event for a service the routing config does not route.
    NotRouted,
    /// A deployment event that is not an outcome yet (`SERVICE_DEPLOYMENT_IN_PROGRESS`), or a
    /// sync that found ECS rolling a failed deployment back, or another deploy holding the lock.
    DeploymentInProgress,
    /// A sync found no image in the repository that the route accepts.
    NoImage,
    /// A dry-run sync would deploy this image.
    DryRun,
    /// ECS's deployment circuit breaker failed the deployment.
    CircuitBreaker,
    /// A CloudWatch alarm failed the deployment.
    Alarm,
    /// The deployment waits at a pause hook.
    PauseHook,
    /// A lifecycle hook failed the deployment: it failed, timed out, or a person answered a
    /// pause with a rollback (`pushdeploy reject`).
    Hook,
    /// A person stopped the deployment (StopServiceDeployment, `pushdeploy rollback` during a
    /// deployment): ECS's record carries `stoppedAt`.
    Stopped,
    /// ECS's own words: a completed deployment, or a failure of another cause.
    Ecs(String),
}

/// Every reason with a code.
pub const CODED_REASONS: &[Reason] = &[
    Reason::NewImage,
    Reason::AlreadyRunning,
    Reason::OlderThanRunning,
    Reason::Paused,
    Reason::ManagedByEcs,
    Reason::FailedBefore,
    Reason::TagFiltered,
    Reason::Untagged,
    Reason::NotAnImage,
    Reason::NoMatchingService,
    Reason::NotAPush,
    Reason::PushFailed,
    Reason::NoDigest,
    Reason::NotAnEcrImageAction,
    Reason::NotRouted,
    Reason::DeploymentInProgress,
    Reason::NoImage,
    Reason::DryRun,
    Reason::CircuitBreaker,
    Reason::Alarm,
    Reason::PauseHook,
    Reason::Hook,
    Reason::Stopped,
];

impl Reason {
    /// The code as it appears in outcomes.
    pub fn as_str(&self) -> &str {
        match self {
            Reason::NewImage => "new-image",
            Reason::AlreadyRunning => "already-running",
            Reason::OlderThanRunning => "older-than-running",
            Reason::Paused => "paused",
            Reason::ManagedByEcs => "managed-by-ecs",
            Reason::TagFiltered => "tag-filtered",
            Reason::Untagged => "untagged",
            Reason::NotAnImage => "not-an-image",
            Reason::NoMatchingService => "no-matching-service",
            Reason::NotAPush => "not-a-push",
            Reason::PushFailed => "push-failed",
            Reason::NoDigest => "no-digest",
            Reason::NotAnEcrImageAction => "not-an-ecr-image-action",
            Reason::FailedBefore => "failed-before",
            Reason::NotRouted => "not-routed",
            Reason::DeploymentInProgress => "deployment-in-progress",
            Reason::NoImage => "no-image",
            Reason::DryRun => "dry-run",
            Reason::CircuitBreaker => "circuit-breaker",
            Reason::Alarm => "alarm",
            Reason::PauseHook => "pause-hook",
            Reason::Hook => "hook",
            Reason::Stopped => "stopped",
            Reason::Ecs(words) => words,
        }
    }

    /// The reason a code or ECS's words stand for.
    pub fn parse(text: &str) -> Reason {
        CODED_REASONS
            .iter()
            .find(|r| r.as_str() == text)
            .cloned()
            .unwrap_or_else(|| Reason::Ecs(text.to_string()))
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Reason, D::Error> {
        Ok(Reason::parse(&String::deserialize(deserializer)?))
    }
}

impl Reason {
    /// Whether the reason is one of the stable codes (not ECS's words).
    pub fn is_code(&self) -> bool {
        !matches!(self, Reason::Ecs(_))
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One outcome per routed service (or one with no service when the event concerns none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// ECS service name, `null` when the event matched no service.
    pub service: Option<String>,
    /// ECS cluster name, `null` when the event matched no service.
    pub cluster: Option<String>,
    /// `deployed`, `skipped`, `completed` or `failed`.
    pub action: Action,
    /// Why: see [`Reason`].
    pub reason: Reason,
    /// The task definition the service now runs (the new revision when deployed).
    pub task_definition: Option<String>,
    /// The image deployed, or the one the event carried; for `completed` and `failed`, the image
    /// of the deployment's revision.
    pub image: Option<String>,
    /// ECS's deployment id (`ecs-svc/...`), on `completed`, `failed` and `rolled-back` outcomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// The CloudWatch alarms that failed the deployment (reason `alarm`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
    /// Where a deployment waits for approval (`awaiting-approval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<Pause>,
}

/// A deployment waiting at a pause hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// The service deployment's ARN.
    pub service_deployment: String,
    /// Its lifecycle stage.
    pub stage: Option<String>,
    /// When ECS stops waiting and takes the hook's timeout action (RFC 3339).
    pub expires_at: Option<String>,
    /// What ECS does then: `ROLLBACK` or `CONTINUE`.
    pub timeout_action: Option<String>,
}

impl Outcome {
    /// An outcome for an event that concerns no service.
    pub fn ignored(reason: Reason, image: Option<String>) -> Outcome {
        Outcome {
            service: None,
            cluster: None,
            action: Action::Skipped,
            reason,
            task_definition: None,
            image,
            deployment: None,
            alarms: Vec::new(),
            pause: None,
        }
    }

    /// A service's `skipped` outcome: `task_definition` is what it runs, `image` the one the
    /// event or the sync carried.
    pub fn skipped(
        cluster: &str,
        service: &str,
        reason: Reason,
        task_definition: Option<String>,
        image: Option<String>,
    ) -> Outcome {
        Outcome {
            service: Some(service.to_string()),
            cluster: Some(cluster.to_string()),
            action: Action::Skipped,
            reason,
            task_definition,
            image,
            deployment: None,
            alarms: Vec::new(),
            pause: None,
        }
    }

    /// The outcome as one JSON line.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("outcome serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_serialize_as_their_stable_codes() {
        for reason in CODED_REASONS {
            let json = serde_json::to_string(reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
            assert_eq!(&serde_json::from_str::<Reason>(&json).unwrap(), reason);
            assert!(reason.is_code());
        }
        assert_eq!(CODED_REASONS.len(), 23);
        let words = Reason::parse("ECS deployment ecs-svc/1 completed.");
        assert_eq!(words, Reason::Ecs("ECS deployment ecs-svc/1 completed.".into()));
        assert!(!words.is_code());
        assert_eq!(
            serde_json::to_string(&words).unwrap(),
            r#""ECS deployment ecs-svc/1 completed.""#
        );
    }

    #[test]
    fn a_reason_equals_its_code_and_no_other() {
        assert!(Reason::NewImage == Reason::NewImage.as_str());
        assert!(Reason::NewImage != Reason::Paused.as_str());
    }

    #[test]
    fn an_outcome_line_is_exactly_the_documented_shape() {
        let line = Outcome::ignored(Reason::NoMatchingService, Some("i".into())).to_json_line();
        assert_eq!(
            line,
            r#"{"service":null,"cluster":null,"action":"skipped","reason":"no-matching-service","task_definition":null,"image":"i"}"#
        );
    }
}
