//! The `pushdeploy` CLI as a library: argument definitions, one module per command, and the
//! context (AWS clients, output format) they share. `main.rs` only parses and prints errors.

pub mod app_file;
pub mod cli;
pub mod commands;
pub mod context;
pub mod ecr;
pub mod ecs;
pub mod error;
pub mod iam_policy;
pub mod names;
pub mod output;
pub mod poll;
pub mod progress;
pub mod resources;
pub mod rollout;
pub mod traffic;

use std::process::ExitCode;

pub use cli::Cli;
pub use context::Context;
pub use error::{error_chain, CliError};

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    (commands::run(cli.command, &cli.global).await).map_err(CliError::for_people)
}

/// Logs go to stderr so stdout stays parseable; `-v` shows the engine's progress. The SDK's own
/// warnings (instance metadata probes on a laptop without a region, say) only show with `-vv`:
/// a missing region or credentials is reported once, in one line, by the command.
pub fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn,aws_config=error,aws_runtime=error,aws_smithy_runtime=error",
        1 => "info,aws_config=error,aws_runtime=error,aws_smithy_runtime=error",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into());
    // Colour codes only for a person at a terminal who did not ask for none (no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

#[cfg(test)]
mod architecture_tests;

#[cfg(test)]
mod readme_tests;

#[cfg(test)]
mod policy_tests {
    //! `iam/bootstrap-policy.json` is what a laptop user needs for every command: keep it complete.

    use std::collections::BTreeSet;

    fn policy_actions() -> (serde_json::Value, BTreeSet<String>) {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../iam/bootstrap-policy.json");
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("valid JSON");
        let mut actions = BTreeSet::new();
        for s in doc["Statement"].as_array().unwrap() {
            match &s["Action"] {
                serde_json::Value::String(a) => {
                    actions.insert(a.clone());
                }
                serde_json::Value::Array(list) => actions.extend(list.iter().map(|a| a.as_str().unwrap().to_string())),
                other => panic!("unexpected Action {other}"),
            }
        }
        (doc, actions)
    }

    /// Every `"service:Action"` the code names as the operation of a call.
    fn actions_in_code() -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let roots = [
            concat!(env!("CARGO_MANIFEST_DIR"), "/src"),
            concat!(env!("CARGO_MANIFEST_DIR"), "/../src"),
        ];
        let mut files = Vec::new();
        for root in roots {
            let mut stack = vec![std::path::PathBuf::from(root)];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(dir).unwrap() {
                    let p = entry.unwrap().path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.extension().is_some_and(|e| e == "rs") {
                        files.push(p);
                    }
                }
            }
        }
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for marker in ["aws(\"", "aws_error(\"", "operation: \""] {
                for part in text.split(marker).skip(1) {
                    let action = part.split('"').next().unwrap();
                    if action.contains(':') && !action.contains(' ') {
                        found.insert(action.to_string());
                    }
                }
            }
        }
        found
    }

    #[test]
    fn the_bootstrap_policy_is_valid_json_without_wildcard_actions() {
        let (doc, actions) = policy_actions();
        assert_eq!(doc["Version"], "2012-10-17");
        for a in &actions {
            assert!(!a.contains('*'), "wildcard action {a}");
        }
    }

    #[test]
    fn the_bootstrap_policy_grants_every_action_the_code_calls() {
        let (_, granted) = policy_actions();
        let needed = actions_in_code();
        assert!(needed.len() > 60, "the scan found too few actions: {needed:?}");
        let missing: Vec<_> = needed.difference(&granted).collect();
        assert!(missing.is_empty(), "iam/bootstrap-policy.json lacks {missing:?}");
    }
}
