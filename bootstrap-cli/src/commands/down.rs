//! `pushdeploy down`: deletes everything the app created, in the inventory's order reversed,
//! each resource waiting as its kind needs (services drained to INACTIVE, the capacity provider
//! detached and deleted, instances terminated, the load balancer gone). Services are found by
//! the app's tag, so one removed from the app file goes too. Re-runnable after an interruption.

use std::fmt;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use serde::Serialize;

use crate::app_file::App;
use crate::cli::{DownArgs, GlobalArgs};
use crate::context::Context;
use crate::error::CliError;
use crate::output::{print, table};
use crate::progress::Progress;
use crate::resources::model::{Deleted, Kept};
use crate::resources::{self, service, Options};

/// What `down` did: what it deleted or found gone, and the app's data it kept.
#[derive(Debug, Serialize)]
pub struct DownReport {
    /// App name.
    pub app: String,
    /// Deleted or already gone, in the order of deletion.
    pub deleted: Vec<Deleted>,
    /// The app's data that exists and was kept (`--delete-data` deletes it).
    pub kept: Vec<Kept>,
}

impl fmt::Display for DownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<[String; 3]> = (self.deleted.iter())
            .map(|d| {
                let result = if d.deleted { "deleted" } else { "already gone" };
                [d.kind.to_string(), d.name.clone(), result.to_string()]
            })
            .chain(
                self.kept
                    .iter()
                    .map(|k| [k.kind.to_string(), k.name.clone(), "kept".to_string()]),
            )
            .collect();
        table(f, &["RESOURCE", "NAME", "RESULT"], &rows)?;
        if !self.kept.is_empty() {
            writeln!(
                f,
                "\nkept: the app's data ({}); `pushdeploy down --delete-data` deletes it",
                self.kept.len()
            )?;
        }
        Ok(())
    }
}

/// Runs `down`.
pub async fn run(args: DownArgs, global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let app = App::load(args.app.file.as_deref(), args.app.app.as_deref())?;
    if !args.yes {
        confirm(&app)?;
    }
    let ctx = Context::connect(global, app.file.region.as_deref()).await?;
    ctx.announce(&app).await?;
    let report = down(&ctx, &app, args.delete_data, &Progress::new(&ctx)).await?;
    print(ctx.output, &report)?;
    Ok(ExitCode::SUCCESS)
}

/// Whether `down` may ask: only on a terminal; elsewhere it refuses instead of hanging or guessing.
pub fn may_ask(app: &App, stdin_is_terminal: bool) -> Result<(), CliError> {
    if stdin_is_terminal {
        Ok(())
    } else {
        Err(CliError::NeedsConfirmation { app: app.name.clone() })
    }
}

fn confirm(app: &App) -> Result<(), CliError> {
    may_ask(app, std::io::stdin().is_terminal())?;
    eprint!(
        "Delete app {} and every resource it created? Type the app name to confirm: ",
        app.name
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() == app.name {
        Ok(())
    } else {
        Err(CliError::Aborted)
    }
}

/// Deletes every resource of the app (and of services tagged with it that the file no longer
/// lists); its data (repositories, log groups) only when `delete_data`.
pub async fn down(ctx: &Context, app: &App, delete_data: bool, progress: &Progress) -> Result<DownReport, CliError> {
    let tagged = service::tagged(ctx, &app.names.cluster(), &app.name).await?;
    let app = app.with_removed_services(&tagged);
    let list = resources::inventory(
        &app,
        Options {
            teardown: true,
            ..Options::default()
        },
    );
    let done = resources::teardown(&list, ctx, delete_data, progress).await?;
    Ok(DownReport {
        app: app.name.clone(),
        deleted: done.deleted,
        kept: done.kept,
    })
}
