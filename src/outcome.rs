//! What happened to each service for one event: the function's return value and log line.

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

/// One outcome per routed service (or one with no service when the event concerns none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// ECS service name, `null` when the event matched no service.
    pub service: Option<String>,
    /// ECS cluster name, `null` when the event matched no service.
    pub cluster: Option<String>,
    /// `deployed` or `skipped`.
    pub action: Action,
    /// Stable kebab-case code: see README, "Outcomes".
    pub reason: String,
    /// The task definition the service now runs (the new revision when deployed).
    pub task_definition: Option<String>,
    /// The image deployed, or the one the event carried.
    pub image: Option<String>,
}

impl Outcome {
    /// An outcome for an event that concerns no service.
    pub fn ignored(reason: &str, image: Option<String>) -> Outcome {
        Outcome {
            service: None,
            cluster: None,
            action: Action::Skipped,
            reason: reason.into(),
            task_definition: None,
            image,
        }
    }

    /// The outcome as one JSON line.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("outcome serializes")
    }
}
