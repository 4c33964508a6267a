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
}

/// Why an outcome is what it is: the stable kebab-case codes of README, "Outcomes".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// A new revision was registered and the service updated.
    NewImage,
    /// The service already runs this digest.
    AlreadyRunning,
    /// The event is older than the running image of that repository.
    OlderThanRunning,
    /// The service is tagged `pushdeploy:paused`.
    Paused,
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
    /// Not an `ECR Image Action` event.
    NotAnEcrImageAction,
}

impl Reason {
    /// The code as it appears in outcomes.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NewImage => "new-image",
            Reason::AlreadyRunning => "already-running",
            Reason::OlderThanRunning => "older-than-running",
            Reason::Paused => "paused",
            Reason::TagFiltered => "tag-filtered",
            Reason::Untagged => "untagged",
            Reason::NotAnImage => "not-an-image",
            Reason::NoMatchingService => "no-matching-service",
            Reason::NotAPush => "not-a-push",
            Reason::PushFailed => "push-failed",
            Reason::NoDigest => "no-digest",
            Reason::NotAnEcrImageAction => "not-an-ecr-image-action",
        }
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
    /// `deployed` or `skipped`.
    pub action: Action,
    /// Why: see [`Reason`].
    pub reason: Reason,
    /// The task definition the service now runs (the new revision when deployed).
    pub task_definition: Option<String>,
    /// The image deployed, or the one the event carried.
    pub image: Option<String>,
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
        let all = [
            Reason::NewImage,
            Reason::AlreadyRunning,
            Reason::OlderThanRunning,
            Reason::Paused,
            Reason::TagFiltered,
            Reason::Untagged,
            Reason::NotAnImage,
            Reason::NoMatchingService,
            Reason::NotAPush,
            Reason::PushFailed,
            Reason::NoDigest,
            Reason::NotAnEcrImageAction,
        ];
        for reason in all {
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
            assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), reason);
        }
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
