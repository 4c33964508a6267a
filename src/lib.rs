//! pushdeploy's engine: turns an ECR push event into a new task-definition revision and a
//! service update for every ECS service that runs the pushed repository.
//!
//! The Lambda (`src/main.rs`) and the CLI's `deploy` run this same code.

pub mod config;
pub mod error;
pub mod event;
pub mod image;
pub mod lambda;
pub mod lock;
pub mod outcome;
pub mod redeploy;
pub mod routing;
pub mod task_definition;

pub use error::Error;
pub use outcome::{Action, Outcome};
pub use redeploy::Engine;
