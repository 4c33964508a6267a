//! One module per command, each exposing `run(args, ctx)`.

pub mod deploy;

use std::process::ExitCode;

use crate::cli::Command;
use crate::context::Context;
use crate::error::CliError;

/// Dispatches a parsed command.
pub async fn run(command: Command, ctx: &Context) -> Result<ExitCode, CliError> {
    match command {
        Command::Deploy(args) => deploy::run(args, ctx).await,
    }
}
