//! One module per command, each exposing `run(args, global)`: it reads the app file, connects
//! to AWS, and prints one report (see `output`).

pub mod approve;
pub mod deploy;
pub mod down;
pub mod event;
pub mod init;
pub mod logs;
pub mod policy;
pub mod rollback;
pub mod status;
pub mod sync;
pub mod up;

use std::process::ExitCode;

use crate::cli::{Command, GlobalArgs};
use crate::error::CliError;

/// Dispatches a parsed command. Each reads its app file first, then connects to AWS (the file
/// may name the region).
pub async fn run(command: Command, global: &GlobalArgs) -> Result<ExitCode, CliError> {
    match command {
        Command::Init(args) => init::run(args, global),
        Command::Up(args) => up::run(args, global).await,
        Command::Plan(args) => up::plan(args, global).await,
        Command::Status(args) => status::run(args, global).await,
        Command::Deploy(args) => deploy::run(args, global).await,
        Command::Rollback(args) => rollback::run(args, global).await,
        Command::Resume(args) => rollback::resume(args, global).await,
        Command::Approve(args) => approve::run(args, global, true).await,
        Command::Reject(args) => approve::run(args, global, false).await,
        Command::Sync(args) => sync::run(args, global).await,
        Command::Logs(args) => logs::run(args, global).await,
        Command::Down(args) => down::run(args, global).await,
        Command::Event(args) => event::run(args, global).await,
        Command::Policy(args) => policy::run(args, global).await,
    }
}
