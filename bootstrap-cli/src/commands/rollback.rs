//! `pushdeploy rollback` puts the previous (or a named) revision back on a service and pauses
//! automatic redeploys for it (the service tag the engine honours); `pushdeploy resume` lifts
//! the pause. Rollback holds the service's deploy lock, like any deploy.

use std::io::Write;
use std::process::ExitCode;

use pushdeploy::config::parameter_for_app;
use pushdeploy::lock::{self, LockSettings};
use pushdeploy::task_definition::TAG_PAUSED;
use serde::Serialize;

use crate::app_file::App;
use crate::cli::{OutputFormat, RollbackArgs, ServiceArgs};
use crate::context::Context;
use crate::error::{aws, CliError};
use crate::resources::service;

/// What a rollback did.
#[derive(Debug, Serialize)]
pub struct RolledBack {
    /// Cluster name.
    pub cluster: String,
    /// Service name.
    pub service: String,
    /// Revision that was running.
    pub from: String,
    /// Revision now running.
    pub to: String,
    /// Automatic redeploys paused.
    pub paused: bool,
}

/// Picks the revision to roll back to among the family's ACTIVE revisions (newest first):
/// `--to N` or an ARN, else the newest one older than the running revision.
pub fn pick_target(running: &str, revisions: &[String], to: Option<&str>) -> Result<String, String> {
    let number = |arn: &str| service::revision_number(arn).map(|n| n as i64);
    match to {
        Some(t) if t.starts_with("arn:") => revisions
            .iter()
            .find(|r| *r == t)
            .cloned()
            .ok_or_else(|| format!("{t} is not an active revision of the service's family")),
        Some(t) => {
            let want: i64 = t
                .parse()
                .map_err(|_| format!("--to {t:?} is neither a revision number nor a task-definition ARN"))?;
            revisions
                .iter()
                .find(|r| number(r) == Some(want))
                .cloned()
                .ok_or_else(|| format!("revision {want} is not active in the service's family"))
        }
        None => {
            let current = number(running).ok_or_else(|| format!("cannot read the revision of {running}"))?;
            revisions
                .iter()
                .filter(|r| number(r).is_some_and(|n| n < current))
                .max_by_key(|r| number(r))
                .cloned()
                .ok_or_else(|| format!("{running} is the oldest active revision: nothing to roll back to"))
        }
    }
}

/// Runs `rollback`.
pub async fn run(args: RollbackArgs, ctx: &Context) -> Result<ExitCode, CliError> {
    let app = App::load(args.target.app.file.as_deref(), args.target.app.app.as_deref())?;
    let done = rollback(ctx, &app, &args.target.service, args.to.as_deref()).await?;
    let mut out = std::io::stdout().lock();
    match ctx.output {
        OutputFormat::Json => crate::commands::print_json(&done)?,
        OutputFormat::Text => {
            writeln!(
                out,
                "rolled back {}/{}: {} -> {}",
                done.cluster, done.service, done.from, done.to
            )?;
            writeln!(
                out,
                "automatic redeploys are paused: `pushdeploy resume --service {}` lifts the pause",
                done.service
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Rolls the service back and pauses it.
///
/// IAM: `ecs:DescribeServices`, `ecs:ListTaskDefinitions`, `ecs:UpdateService`, `ecs:TagResource`,
/// and the deploy lock's `ssm:PutParameter`, `ssm:GetParameter`, `ssm:DeleteParameter`.
pub async fn rollback(ctx: &Context, app: &App, service_name: &str, to: Option<&str>) -> Result<RolledBack, CliError> {
    let missing = || pushdeploy::Error::ServiceNotFound {
        cluster: app.cluster(),
        service: service_name.to_string(),
    };
    let svc = service::describe(ctx, app, service_name).await?.ok_or_else(missing)?;
    let running = svc.task_definition().unwrap_or_default().to_string();
    let family = running
        .rsplit('/')
        .next()
        .and_then(|f| f.split(':').next())
        .unwrap_or_default()
        .to_string();
    let revisions = service::active_revisions(ctx, &family).await?;
    let target = pick_target(&running, &revisions, to).map_err(CliError::Setup)?;

    let ssm = ctx.ssm();
    let parameter = parameter_for_app(&app.name).map_err(pushdeploy::Error::from)?;
    let name = lock::lock_name(&parameter, &app.cluster(), service_name);
    let owner = format!("pushdeploy rollback pid {}", std::process::id());
    let lease = lock::acquire(
        &ssm,
        &name,
        &owner,
        LockSettings::default(),
        (&app.cluster(), service_name),
    )
    .await?;
    let result = async {
        ctx.ecs()
            .update_service()
            .cluster(app.cluster())
            .service(service_name)
            .task_definition(&target)
            .send()
            .await
            .map_err(|e| aws("ecs:UpdateService", e))?;
        set_paused(ctx, svc.service_arn().unwrap_or_default(), true).await
    }
    .await;
    lease.release(&ssm).await;
    result?;
    Ok(RolledBack {
        cluster: app.cluster(),
        service: service_name.to_string(),
        from: running,
        to: target,
        paused: true,
    })
}

async fn set_paused(ctx: &Context, service_arn: &str, paused: bool) -> Result<(), CliError> {
    let ecs = ctx.ecs();
    if paused {
        ecs.tag_resource()
            .resource_arn(service_arn)
            .tags(aws_sdk_ecs::types::Tag::builder().key(TAG_PAUSED).value("true").build())
            .send()
            .await
            .map_err(|e| aws("ecs:TagResource", e))?;
    } else {
        ecs.untag_resource()
            .resource_arn(service_arn)
            .tag_keys(TAG_PAUSED)
            .send()
            .await
            .map_err(|e| aws("ecs:UntagResource", e))?;
    }
    Ok(())
}

/// Runs `resume`.
///
/// IAM: `ecs:DescribeServices`, `ecs:UntagResource`.
pub async fn resume(args: ServiceArgs, ctx: &Context) -> Result<ExitCode, CliError> {
    let app = App::load(args.app.file.as_deref(), args.app.app.as_deref())?;
    resume_service(ctx, &app, &args.service).await?;
    let mut out = std::io::stdout().lock();
    match ctx.output {
        OutputFormat::Json => writeln!(
            out,
            "{}",
            serde_json::json!({"cluster": app.cluster(), "service": args.service, "paused": false})
        )?,
        OutputFormat::Text => writeln!(
            out,
            "resumed {}/{}: the next push redeploys it",
            app.cluster(),
            args.service
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Lifts the pause.
pub async fn resume_service(ctx: &Context, app: &App, service_name: &str) -> Result<(), CliError> {
    let missing = || pushdeploy::Error::ServiceNotFound {
        cluster: app.cluster(),
        service: service_name.to_string(),
    };
    let svc = service::describe(ctx, app, service_name).await?.ok_or_else(missing)?;
    set_paused(ctx, svc.service_arn().unwrap_or_default(), false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revs() -> Vec<String> {
        [9, 7, 6, 3]
            .iter()
            .map(|n| format!("arn:aws:ecs:us-east-1:1:task-definition/demo-web:{n}"))
            .collect()
    }

    #[test]
    fn the_default_target_is_the_newest_older_revision() {
        assert!(pick_target(&revs()[1], &revs(), None).unwrap().ends_with(":6"));
        assert!(pick_target(&revs()[0], &revs(), None).unwrap().ends_with(":7"));
        assert!(pick_target(&revs()[3], &revs(), None).unwrap_err().contains("oldest"));
    }

    #[test]
    fn a_named_revision_must_be_active() {
        assert!(pick_target(&revs()[0], &revs(), Some("3")).unwrap().ends_with(":3"));
        assert!(pick_target(&revs()[0], &revs(), Some("4")).is_err());
        assert!(pick_target(&revs()[0], &revs(), Some(&revs()[2]))
            .unwrap()
            .ends_with(":6"));
        assert!(pick_target(&revs()[0], &revs(), Some("x"))
            .unwrap_err()
            .contains("neither"));
    }
}
