//! pushdeploy's engine: turns an ECR push event into a new task-definition revision and a
//! service update for every ECS service that runs the pushed repository.
//!
//! The Lambda (`src/main.rs`) and the CLI's `deploy` run this same code.

pub mod config;
pub mod config_cache;
pub mod deployment;
pub mod ecs_status;
pub mod engine;
pub mod error;
pub mod event;
pub mod image;
pub mod lambda;
pub mod lock;
pub mod outcome;
pub mod pause;
pub mod redeploy;
pub mod region;
pub mod revision;
pub mod routing;
pub mod sync;
pub mod tag_pattern;
pub mod task_definition;
#[cfg(test)]
mod test_mocks;

pub use engine::SyncScope;
pub use engine::{Clients, Engine};
pub use error::Error;
pub use outcome::{Action, Outcome, Reason};
pub use task_definition::Force;

#[cfg(test)]
mod template_tests {
    //! template.yaml's function role must grant what the function calls, nothing as a wildcard action.

    #[test]
    fn the_function_role_grants_every_action_the_engine_calls() {
        let template = include_str!("../template.yaml");
        let sources = [
            include_str!("config.rs"),
            include_str!("deployment.rs"),
            include_str!("pause.rs"),
            include_str!("lock.rs"),
            include_str!("sync.rs"),
            include_str!("redeploy.rs"),
            include_str!("engine.rs"),
            include_str!("config_cache.rs"),
            include_str!("revision.rs"),
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

    /// The function's `Properties:` block, up to its `Events:`.
    fn function_properties(template: &str) -> &str {
        let function = template.split("\n  Function:\n").nth(1).expect("a Function resource");
        let properties = function.split("\n    Properties:\n").nth(1).expect("its Properties");
        properties.split("\n      Events:\n").next().unwrap()
    }

    #[test]
    fn the_function_reserves_no_concurrency_unless_asked() {
        let template = include_str!("../template.yaml");
        let parameter = template.split("\n  ReservedConcurrency:\n").nth(1).unwrap();
        assert!(parameter.contains("Default: 0\n"), "unreserved by default");
        assert!(function_properties(template).contains(
            "ReservedConcurrentExecutions: !If [HasReservedConcurrency, !Ref ReservedConcurrency, !Ref AWS::NoValue]"
        ));
        assert!(template.contains("HasReservedConcurrency: !Not [!Equals [!Ref ReservedConcurrency, 0]]"));
    }

    #[test]
    fn failed_invocations_have_one_destination_not_a_dlq_as_well() {
        let template = include_str!("../template.yaml");
        let properties = function_properties(template);
        assert!(
            !properties.contains("DeadLetterQueue:"),
            "no Lambda DLQ beside the OnFailure destination"
        );
        assert!(
            properties.contains("OnFailure:\n            Type: SQS\n            Destination: !GetAtt FailureQueue.Arn")
        );
        // SAM's DeadLetterConfig takes `Arn`; with `Type: SQS` it makes a queue of its own.
        assert!(!template.contains("DeadLetterConfig:\n              Type: SQS"));
        assert_eq!(
            template
                .matches("DeadLetterConfig:\n              Arn: !GetAtt FailureQueue.Arn")
                .count(),
            3
        );
    }

    #[test]
    fn the_push_rule_matches_the_apps_repositories_by_prefix() {
        let template = include_str!("../template.yaml");
        assert!(template.contains("repository-name:\n                  - prefix: !Sub ${AppName}/\n"));
        assert!(!template.contains("!Ref Repositories"), "no fixed list of names");
        assert!(template.contains("repository-name: !Ref ExtraRepositories"));
    }

    /// Renders a plain-string `InputTemplate` as EventBridge does: each `<name>` replaced by the
    /// value its path extracts, escaped for the JSON string the template is (EventBridge user
    /// guide, "Amazon EventBridge input transformation": only the `aws.events.event` variables go
    /// in unescaped); the target receives that string.
    fn render(template: &str, values: &[(&str, &str)]) -> String {
        let mut text = template.to_string();
        for (name, value) in values {
            let escaped = serde_json::to_string(value).unwrap();
            text = text.replace(&format!("<{name}>"), &escaped[1..escaped.len() - 1]);
        }
        serde_json::from_str::<String>(&text).expect("the rendered template is a JSON string")
    }

    #[test]
    fn the_deployment_notification_reads_as_a_person_should_read_it_quotes_included() {
        let template = include_str!("../template.yaml");
        let line = template
            .lines()
            .find(|l| l.trim_start().starts_with("InputTemplate:"))
            .unwrap();
        let quoted = line.split_once("!Sub '").unwrap().1.trim_end().trim_end_matches('\'');
        let template = quoted.replace("${AppName}", "shop");
        let message = render(
            &template,
            &[
                ("event", "SERVICE_DEPLOYMENT_FAILED"),
                ("service", "arn:aws:ecs:eu-west-1:123456789012:service/shop/web"),
                ("deployment", "ecs-svc/5"),
                (
                    "reason",
                    "ECS deployment circuit breaker: task failed to start: \"exec /app: no such file\".",
                ),
            ],
        );
        assert_eq!(
            message,
            "pushdeploy shop: ECS reports SERVICE_DEPLOYMENT_FAILED for arn:aws:ecs:eu-west-1:123456789012:service/shop/web, deployment ecs-svc/5. ECS says: ECS deployment circuit breaker: task failed to start: \"exec /app: no such file\". Run `pushdeploy status --app shop` for the image that runs now and whether ECS rolled back; the function never deploys an image that failed again."
        );
        assert!(!message.contains(".."), "ECS's reason ends its own sentence");
        assert!(
            !message.to_lowercase().contains("success"),
            "a completion may be a rollback"
        );
    }
}
