//! The resources `up` provisions, one module per kind. Each `ensure` looks its resource up by
//! name first (moto, and AWS for some kinds, replaces duplicates instead of refusing them), then
//! decides create / update / no change, and in [`Mode::Apply`] performs it.

pub mod cluster;
pub mod config;
pub mod iam;
pub mod launch_capacity;
pub mod load_balancer;
pub mod network;
pub mod repository;
pub mod service;

use serde::Serialize;

/// Tag key every resource carries.
pub const APP_TAG: &str = "pushdeploy:app";

/// Whether `ensure` writes or only reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Create and update.
    Apply,
    /// Only say what would change (`plan`, `up --dry-run`).
    Plan,
}

/// What `ensure` did (or would do) to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", content = "details", rename_all = "kebab-case")]
pub enum Change {
    /// It did not exist.
    Create,
    /// It existed and differed; what changed.
    Update(Vec<String>),
    /// It existed as wanted.
    NoChange,
}

/// One line of the `up` / `plan` summary.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Resource kind (`security group`, `load balancer` ...).
    pub kind: &'static str,
    /// Name or ARN.
    pub name: String,
    /// Create, update or no change.
    #[serde(flatten)]
    pub change: Change,
    /// State where the kind has one (`active`, `waiting for first push` ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

impl Report {
    /// A report without state.
    pub fn new(kind: &'static str, name: impl Into<String>, change: Change) -> Report {
        Report {
            kind,
            name: name.into(),
            change,
            state: None,
        }
    }

    /// With a state.
    pub fn with_state(mut self, state: impl Into<String>) -> Report {
        self.state = Some(state.into());
        self
    }
}

/// The change for a resource that exists iff `found`, with `diffs` when it does.
pub fn change_for(found: bool, diffs: Vec<String>) -> Change {
    match (found, diffs.is_empty()) {
        (false, _) => Change::Create,
        (true, true) => Change::NoChange,
        (true, false) => Change::Update(diffs),
    }
}

/// Placeholder for an identifier that exists only after apply (in plan mode).
pub fn planned(what: &str) -> String {
    format!("(new {what})")
}
