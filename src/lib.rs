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

#[cfg(test)]
mod template_tests {
    //! template.yaml's function role must grant what the function calls, nothing as a wildcard action.

    #[test]
    fn the_function_role_grants_every_action_the_engine_calls() {
        let template = include_str!("../template.yaml");
        let sources = [
            include_str!("config.rs"),
            include_str!("lock.rs"),
            include_str!("redeploy.rs"),
            include_str!("task_definition.rs"),
        ];
        let mut actions = std::collections::BTreeSet::new();
        for text in sources {
            for marker in ["aws_error(\"", "operation: \"", "IAM: `"] {
                for part in text.split(marker).skip(1) {
                    let action = part.split(['"', '`']).next().unwrap_or_default();
                    if action.contains(':') && !action.contains(' ') {
                        actions.insert(action.to_string());
                    }
                }
            }
        }
        assert!(actions.len() >= 7, "{actions:?}");
        for action in &actions {
            assert!(
                template.contains(action.as_str()),
                "template.yaml's FunctionRole lacks {action}"
            );
        }
        assert!(!template.contains("Action: \"*\"") && !template.contains("FullAccess"));
    }
}
