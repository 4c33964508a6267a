//! `pushdeploy down`: deletes everything the app created, in the inventory's order reversed,
//! each resource waiting as its kind needs (services drained to INACTIVE, the capacity provider
//! detached and deleted, instances terminated, the load balancer gone). Services are found by
//! the app's tag, so one removed from the app file goes too. Re-runnable after an interruption.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use crate::app_file::App;
use crate::cli::{DownArgs, GlobalArgs, OutputFormat};
use crate::context::Context;
use crate::error::CliError;
use crate::progress::Progress;
use crate::resources::{self, service, Deleted, Options};

/// Runs `down`.
pub async fn run(args: DownArgs, global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let app = App::load(args.app.file.as_deref(), args.app.app.as_deref())?;
    if !args.yes {
        confirm(&app)?;
    }
    let ctx = Context::connect(global, app.file.region.as_deref()).await?;
    let deleted = down(&ctx, &app, args.delete_repositories, &Progress::new(&ctx)).await?;
    let mut out = std::io::stdout().lock();
    match ctx.output {
        OutputFormat::Json => crate::commands::print_json(&deleted)?,
        OutputFormat::Text => {
            let rows: Vec<[String; 3]> = deleted
                .iter()
                .map(|d| {
                    [
                        d.kind.to_string(),
                        d.name.clone(),
                        if d.deleted { "deleted" } else { "already gone" }.to_string(),
                    ]
                })
                .collect();
            crate::commands::table(&mut out, &["RESOURCE", "NAME", "RESULT"], &rows)?;
            if !args.delete_repositories {
                writeln!(
                    out,
                    "\nECR repositories with their images and log groups with their logs are kept (`--delete-data` deletes them)"
                )?;
            }
        }
    }
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
/// lists); repositories only when `delete_repositories`.
pub async fn down(
    ctx: &Context,
    app: &App,
    delete_repositories: bool,
    progress: &Progress,
) -> Result<Vec<Deleted>, CliError> {
    let tagged = service::tagged(ctx, &app.names.cluster(), &app.name).await?;
    let app = app.with_removed_services(&tagged);
    let nodes = resources::inventory(&app, Options::default());
    resources::teardown(&nodes, ctx, delete_repositories, progress).await
}
