//! `pushdeploy rollback` puts the previous (or a named) revision back on a service and pauses
//! automatic redeploys for it (the service tag the engine honours), recording who did it and
//! when; `pushdeploy resume` lifts the pause. The pause comes first, so a failure between the
//! two steps can never let the next push undo the rollback. Both steps hold the deploy lock.

use std::fmt;
use std::process::ExitCode;

use chrono::{SecondsFormat, Utc};
use pushdeploy::lock::{with_lock, Holder, Lock, LockSettings};
use pushdeploy::task_definition::{PauseNote, TAG_PAUSED};
use serde::Serialize;

use crate::app_file::App;
use crate::cli::{GlobalArgs, OutputFormat, RollbackArgs, ServiceArgs};
use crate::context::Context;
use crate::ecs::{active_revisions, describe_service, revision_number};
use crate::error::{aws, missing, CliError};
use crate::output::{print, Outcomes};
use crate::rollout::{short, wait_for};

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
    /// The pause tag's value: who, when, what.
    pub note: String,
}

impl fmt::Display for RolledBack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "rolled back {}/{}: {} -> {}",
            self.cluster, self.service, self.from, self.to
        )?;
        writeln!(
            f,
            "automatic redeploys are paused: `pushdeploy resume --service {}` lifts the pause",
            self.service
        )
    }
}

/// A rollback followed to its end (`rollback --wait`).
#[derive(Debug, Serialize)]
struct Followed {
    rollback: RolledBack,
    outcomes: Outcomes,
}

impl fmt::Display for Followed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.outcomes)
    }
}

/// What `resume` did.
#[derive(Debug, Serialize)]
struct Resumed {
    cluster: String,
    service: String,
    paused: bool,
}

impl fmt::Display for Resumed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "resumed {}/{}: the next push redeploys it",
            self.cluster, self.service
        )
    }
}

/// Picks the revision to roll back to among the family's ACTIVE revisions (newest first):
/// `--to N` or an ARN, else the newest one older than the running revision.
pub fn pick_target(running: &str, revisions: &[String], to: Option<&str>) -> Result<String, String> {
    let number = |arn: &str| revision_number(arn).map(|n| n as i64);
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
pub async fn run(args: RollbackArgs, global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let app = App::load(args.target.app.file.as_deref(), args.target.app.app.as_deref())?;
    let ctx = Context::connect(global, app.file.region.as_deref()).await?;
    let done = rollback(&ctx, &app, &args.target.service, args.to.as_deref()).await?;
    if !args.wait.wait {
        print(ctx.output, &done)?;
        return Ok(ExitCode::SUCCESS);
    }
    if ctx.output == OutputFormat::Text {
        println!(
            "rolled back {}/{}: {} -> {}",
            done.cluster, done.service, done.from, done.to
        );
    }
    let limit = std::time::Duration::from_secs(args.wait.timeout);
    let ended = wait_for(&ctx, &app, &done.cluster, &done.service, &done.to, limit).await?;
    let followed = Followed {
        rollback: done,
        outcomes: Outcomes(ended.outcome),
    };
    print(ctx.output, &followed)?;
    Ok(ended.exit)
}

/// Pauses the service, then rolls it back, under its deploy lock.
///
/// IAM: `ecs:DescribeServices`, `ecs:ListTaskDefinitions`, `ecs:TagResource`, `ecs:UpdateService`,
/// `sts:GetCallerIdentity`, and the deploy lock's `dynamodb:PutItem`, `dynamodb:DeleteItem`.
pub async fn rollback(ctx: &Context, app: &App, service_name: &str, to: Option<&str>) -> Result<RolledBack, CliError> {
    let cluster = app.names.cluster();
    let missing_service = || pushdeploy::Error::ServiceNotFound {
        cluster: cluster.clone(),
        service: service_name.to_string(),
    };
    let svc = describe_service(ctx, &cluster, service_name)
        .await?
        .ok_or_else(missing_service)?;
    let running = svc
        .task_definition()
        .ok_or_else(|| missing("ecs:DescribeServices", "taskDefinition"))?
        .to_string();
    let service_arn = svc
        .service_arn()
        .ok_or_else(|| missing("ecs:DescribeServices", "serviceArn"))?
        .to_string();
    let family = running
        .rsplit('/')
        .next()
        .and_then(|f| f.split(':').next())
        .unwrap_or_default()
        .to_string();
    let revisions = active_revisions(ctx, &family).await?;
    let target = pick_target(&running, &revisions, to).map_err(|problem| CliError::NoRollbackTarget {
        service: service_name.to_string(),
        problem,
    })?;
    let who = ctx
        .sts()
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| aws("sts:GetCallerIdentity", e))?
        .arn
        .ok_or_else(|| missing("sts:GetCallerIdentity", "Arn"))?;
    let note = PauseNote {
        by: who,
        at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        from: short(&running).to_string(),
        to: short(&target).to_string(),
    }
    .to_tag_value();

    let holder = Holder::from(format!("pushdeploy rollback pid {}", std::process::id()).as_str());
    let table = app.names.lock_table();
    let lock = Lock {
        table: &table,
        cluster: &cluster,
        service: service_name,
    };
    with_lock(&ctx.dynamodb(), lock, &holder, LockSettings::default(), async {
        // Paused first: should the update fail, no push can deploy over the person's intent.
        set_paused(ctx, &service_arn, Some(&note)).await?;
        ctx.ecs()
            .update_service()
            .cluster(&cluster)
            .service(service_name)
            .task_definition(&target)
            .send()
            .await
            .map_err(|e| aws("ecs:UpdateService", e))?;
        Ok::<(), CliError>(())
    })
    .await?;
    Ok(RolledBack {
        cluster,
        service: service_name.to_string(),
        from: running,
        to: target,
        paused: true,
        note,
    })
}

/// Tags the service paused with `note`, or (with `None`) removes the tag.
///
/// IAM: `ecs:TagResource`, `ecs:UntagResource` on the service.
async fn set_paused(ctx: &Context, service_arn: &str, note: Option<&str>) -> Result<(), CliError> {
    let ecs = ctx.ecs();
    match note {
        Some(note) => {
            ecs.tag_resource()
                .resource_arn(service_arn)
                .tags(aws_sdk_ecs::types::Tag::builder().key(TAG_PAUSED).value(note).build())
                .send()
                .await
                .map_err(|e| aws("ecs:TagResource", e))?;
        }
        None => {
            ecs.untag_resource()
                .resource_arn(service_arn)
                .tag_keys(TAG_PAUSED)
                .send()
                .await
                .map_err(|e| aws("ecs:UntagResource", e))?;
        }
    }
    Ok(())
}

/// Runs `resume`.
pub async fn resume(args: ServiceArgs, global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let app = App::load(args.app.file.as_deref(), args.app.app.as_deref())?;
    let ctx = Context::connect(global, app.file.region.as_deref()).await?;
    resume_service(&ctx, &app, &args.service).await?;
    let resumed = Resumed {
        cluster: app.names.cluster(),
        service: args.service,
        paused: false,
    };
    print(ctx.output, &resumed)?;
    Ok(ExitCode::SUCCESS)
}

/// Lifts the pause.
///
/// IAM: `ecs:DescribeServices`, `ecs:UntagResource`.
pub async fn resume_service(ctx: &Context, app: &App, service_name: &str) -> Result<(), CliError> {
    let cluster = app.names.cluster();
    let svc =
        describe_service(ctx, &cluster, service_name)
            .await?
            .ok_or_else(|| pushdeploy::Error::ServiceNotFound {
                cluster: cluster.clone(),
                service: service_name.to_string(),
            })?;
    let arn = svc
        .service_arn()
        .ok_or_else(|| missing("ecs:DescribeServices", "serviceArn"))?;
    set_paused(ctx, arn, None).await
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
