//! The `pushdeploy` CLI as a library: argument definitions, one module per command, and the
//! context (AWS clients, output format) they share. `main.rs` only parses and prints errors.

pub mod app_file;
pub mod cli;
pub mod commands;
pub mod context;
pub mod error;
pub mod progress;
pub mod resources;

use std::process::ExitCode;

pub use cli::Cli;
pub use context::Context;
pub use error::CliError;

/// Runs a parsed command line with clients from the standard AWS chain.
pub async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let ctx = Context::from_global(&cli.global).await;
    commands::run(cli.command, &ctx).await
}

/// Logs go to stderr so stdout stays parseable; `-v` shows the engine's progress.
pub fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

/// An error and its causes on one line: `a: b: c`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}
