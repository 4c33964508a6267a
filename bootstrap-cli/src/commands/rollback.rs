//! `pushdeploy rollback` puts the previous (or a named) revision back on a service and pauses
//! automatic redeploys for it (the service tag the engine honours), recording who did it and
//! when; during a blue-green, canary or linear deployment (baking, between steps) it has ECS
//! stop and roll that deployment back instead. `pushdeploy resume` lifts the pause. The pause comes first, so a failure between the
//! two steps can never let the next push undo the rollback. Both steps hold the deploy lock.

use std::fmt;
use std::process::ExitCode;

use chrono::{SecondsFormat, Utc};
use pushdeploy::lock::{with_lock, Holder, Lock, LockSettings};
use std::time::Duration;

use aws_sdk_ecs::types::TaskDefinition;
use pushdeploy::config::ServiceRoute;
use pushdeploy::deployment::{routed_images, RoutedImage};
use pushdeploy::image::ImageRef;
use pushdeploy::outcome::Reason;
use pushdeploy::task_definition::{is_paused, PauseNote, TAG_PAUSED};
use pushdeploy::{Engine, Outcome, SyncScope};
use serde::Serialize;

use crate::app_file::App;
use crate::cli::{GlobalArgs, OutputFormat, RollbackArgs, ServiceArgs};
use crate::context::Context;
use crate::ecs::{active_revisions, describe_revision, describe_service, revision_number};
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
    /// False when the revision asked for already ran: nothing was done.
    pub changed: bool,
}

impl fmt::Display for RolledBack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.changed {
            return writeln!(
                f,
                "{}/{} already runs {}: nothing to do (nothing paused)",
                self.cluster,
                self.service,
                short(&self.to)
            );
        }
        writeln!(
            f,
            "rolled back {}/{}: {} -> {}",
            self.cluster, self.service, self.from, self.to
        )?;
        writeln!(
            f,
            "automatic redeploys are paused: `pushdeploy resume --service {}` lifts the pause",
            self.service
        )?;
        writeln!(
            f,
            "the image rolled away from is remembered as failed: no sync or replayed push puts it back (`pushdeploy deploy --force` does)"
        )
    }
}

impl RolledBack {
    /// The revision asked for already runs: nothing done.
    fn nothing(cluster: String, service: &str, running: String, paused: bool) -> RolledBack {
        RolledBack {
            cluster,
            service: service.to_string(),
            from: running.clone(),
            to: running,
            paused,
            note: String::new(),
            changed: false,
        }
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
    /// Whether it was paused before.
    was_paused: bool,
    /// What the next scheduled sync would do to it, in words.
    next_sync: String,
}

impl fmt::Display for Resumed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.was_paused {
            writeln!(f, "{}/{} was not paused: nothing to resume", self.cluster, self.service)?;
        } else {
            writeln!(f, "resumed {}/{}", self.cluster, self.service)?;
        }
        writeln!(f, "the next push of a new image redeploys it")?;
        writeln!(f, "the next sync {}", self.next_sync)
    }
}

/// What a sync would do to the service, from its dry run.
fn next_sync_words(outcome: Option<&Outcome>) -> String {
    let Some(o) = outcome else {
        return "has no route for it: nothing".into();
    };
    let image = o.image.as_deref().unwrap_or("the newest image");
    match &o.reason {
        Reason::DryRun => format!("deploys {image}, newer than what runs"),
        Reason::FailedBefore => format!(
            "keeps what runs: the newest image, {image}, failed or was rolled away from (`pushdeploy deploy --force` puts it back)"
        ),
        Reason::AlreadyRunning => "changes nothing: it runs the newest image".into(),
        Reason::OlderThanRunning => "changes nothing: nothing in ECR is newer than what runs".into(),
        other => format!("changes nothing ({other})"),
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
    ctx.announce(&app).await?;
    let done = rollback(&ctx, &app, &args.target.service, args.to.as_deref()).await?;
    if !args.wait.wait || !done.changed {
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
    let ended = wait_for(
        &ctx,
        &app,
        &done.cluster,
        &done.service,
        &done.to,
        limit,
        args.wait.wait_until,
    )
    .await?;
    let followed = Followed {
        rollback: done,
        outcomes: Outcomes(ended.outcome),
    };
    print(ctx.output, &followed)?;
    Ok(ended.exit)
}

/// Pauses the service, then rolls it back, under its deploy lock (a deployment in progress: see
/// `stop_active`).
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
    let family = (running.rsplit('/').next())
        .and_then(|f| f.split(':').next())
        .unwrap_or_default();
    if to.is_none() {
        if let Some(stopped) = stop_active(ctx, app, &svc, &running).await? {
            return Ok(stopped);
        }
    }
    let revisions = active_revisions(ctx, family).await?;
    let target = pick_target(&running, &revisions, to).map_err(|problem| CliError::NoRollbackTarget {
        service: service_name.to_string(),
        problem,
    })?;
    if target == running {
        return Ok(RolledBack::nothing(
            cluster,
            service_name,
            running,
            is_paused(svc.tags()),
        ));
    }
    check_target_runs(ctx, service_name, &target, &revisions, &running).await?;
    let engine = Engine::from_clients(ctx.engine_clients(), app.names.config_parameter(), Duration::ZERO);
    let rolled_away = rolled_away_images(ctx, &engine, &cluster, service_name, &running, &service_arn).await?;
    let note = pause_note(ctx, &running, &target).await?;
    // A target from before a port change maps the old port: the load balancer goes back with it.
    let rewire = rewired_to(&svc, &fitting(ctx, service_name, &svc, &target).await?);

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
        // The images rolled away from are remembered like a failure: a sync or a replayed event
        // must not put back what a person took away, after `resume` either.
        engine.remember_failure(&svc, &rolled_away).await?;
        ctx.ecs()
            .update_service()
            .cluster(&cluster)
            .service(service_name)
            .task_definition(&target)
            .set_load_balancers(rewire)
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
        changed: true,
    })
}

/// A blue-green, canary or linear deployment in progress (baking, between steps) is stopped and
/// rolled back by ECS (StopServiceDeployment ROLLBACK: production traffic goes back
/// to the revision it came from at once), with the same pause and memory as a rollback; `None`
/// when no deployment is in progress, or it has nothing to go back to.
///
/// IAM: `ecs:ListServiceDeployments`, `ecs:DescribeServiceDeployments`,
/// `ecs:DescribeServiceRevisions`, `ecs:StopServiceDeployment`, and what the pause and the memory
/// need (see `rollback`).
async fn stop_active(
    ctx: &Context,
    app: &App,
    svc: &aws_sdk_ecs::types::Service,
    running: &str,
) -> Result<Option<RolledBack>, CliError> {
    // A rolling deployment is simply replaced by the rollback's update, as before.
    if crate::resources::service::shift_of(svc.deployment_configuration()) == crate::app_file::Shift::Rolling {
        return Ok(None);
    }
    let (cluster, service_name) = (app.names.cluster(), svc.service_name().unwrap_or_default().to_string());
    let (_, running_deployment) = crate::ecs::deployment_in_progress(ctx, &cluster, &service_name).await?;
    let Some(deployment) = running_deployment else {
        return Ok(None);
    };
    let arn = deployment.service_deployment_arn().unwrap_or_default().to_string();
    let source = deployment.source_service_revisions().first().and_then(|r| r.arn());
    let Some(source) = source else { return Ok(None) };
    let Some(target) = crate::ecs::revision_task_definition(ctx, source).await? else {
        return Ok(None);
    };
    let target = target.as_str();
    let service_arn = svc
        .service_arn()
        .ok_or_else(|| missing("ecs:DescribeServices", "serviceArn"))?;
    let engine = Engine::from_clients(ctx.engine_clients(), app.names.config_parameter(), Duration::ZERO);
    let rolled_away = rolled_away_images(ctx, &engine, &cluster, &service_name, running, service_arn).await?;
    let note = pause_note(ctx, running, target).await?;
    let holder = Holder::from(format!("pushdeploy rollback pid {}", std::process::id()).as_str());
    let table = app.names.lock_table();
    let lock = Lock {
        table: &table,
        cluster: &cluster,
        service: &service_name,
    };
    with_lock(&ctx.dynamodb(), lock, &holder, LockSettings::default(), async {
        set_paused(ctx, service_arn, Some(&note)).await?;
        engine.remember_failure(svc, &rolled_away).await?;
        let sent = (ctx.ecs().stop_service_deployment())
            .service_deployment_arn(&arn)
            .stop_type(aws_sdk_ecs::types::StopServiceDeploymentStopType::Rollback)
            .send()
            .await;
        match sent {
            Ok(_) => {}
            // ECS refuses to stop a deployment that has ended. When the SDK resent a call whose
            // answer was lost, the lost call may have started the rollback that ended it.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conflict_exception()) => {
                if !rolling_back(ctx, &arn).await? {
                    return Err(aws("ecs:StopServiceDeployment", e));
                }
            }
            Err(e) => return Err(aws("ecs:StopServiceDeployment", e)),
        }
        Ok::<(), CliError>(())
    })
    .await?;
    Ok(Some(RolledBack {
        cluster,
        service: service_name,
        from: running.to_string(),
        to: target.to_string(),
        paused: true,
        note,
        changed: true,
    }))
}

/// Whether the service deployment `arn` is rolling back or rolled back (ROLLBACK_*).
///
/// IAM: `ecs:DescribeServiceDeployments`.
async fn rolling_back(ctx: &Context, arn: &str) -> Result<bool, CliError> {
    let deployment = crate::ecs::describe_deployment(ctx, arn).await?;
    Ok((deployment.as_ref().and_then(|d| d.status())).is_some_and(|s| s.as_str().starts_with("ROLLBACK_")))
}

/// The pause tag's value: who (the caller's ARN), when, from which revision to which.
///
/// IAM: `sts:GetCallerIdentity`.
async fn pause_note(ctx: &Context, running: &str, target: &str) -> Result<String, CliError> {
    let who = (ctx.sts().get_caller_identity().send().await)
        .map_err(|e| aws("sts:GetCallerIdentity", e))?
        .arn
        .ok_or_else(|| missing("sts:GetCallerIdentity", "Arn"))?;
    let note = PauseNote {
        by: who,
        at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        from: short(running).to_string(),
        to: short(target).to_string(),
    };
    Ok(note.to_tag_value())
}

/// The routed images `running` runs: what a rollback takes away.
///
/// IAM: `ssm:GetParameter` on the config, `ecs:DescribeTaskDefinition`.
async fn rolled_away_images(
    ctx: &Context,
    engine: &Engine,
    cluster: &str,
    service: &str,
    running: &str,
    service_arn: &str,
) -> Result<Vec<RoutedImage>, CliError> {
    let config = engine.config().get().await?;
    let routes: Vec<&ServiceRoute> = (config.services.iter())
        .filter(|r| r.cluster == cluster && r.service == service)
        .collect();
    let definition = describe_task_definition(ctx, running).await?;
    Ok(routed_images(&routes, &definition, service_arn))
}

/// The service's load balancers moved to the ports `target` maps, when one names a container
/// port the target does not map (a rollback across a port change): ECS refuses the revision
/// alone, so both change in one `UpdateService`.
fn rewired_to(
    service: &aws_sdk_ecs::types::Service,
    target: &TaskDefinition,
) -> Option<Vec<aws_sdk_ecs::types::LoadBalancer>> {
    let mut changed = false;
    let load_balancers = (service.load_balancers().iter())
        .map(|lb| {
            let mut lb = lb.clone();
            let container = (target.container_definitions().iter()).find(|c| c.name() == lb.container_name());
            let ports: Vec<i32> = (container.map(|c| c.port_mappings()).unwrap_or_default().iter())
                .filter_map(|m| m.container_port())
                .collect();
            if !ports.is_empty() && !lb.container_port().is_some_and(|p| ports.contains(&p)) {
                lb.container_port = Some(ports[0]);
                changed = true;
            }
            lb
        })
        .collect();
    changed.then_some(load_balancers)
}

/// Refuses a target whose image is not in ECR, naming the revisions (up to five others) that can
/// run.
///
/// IAM: `ecs:DescribeTaskDefinition`, `ecr:DescribeImages`.
async fn check_target_runs(
    ctx: &Context,
    service: &str,
    target: &str,
    revisions: &[String],
    running: &str,
) -> Result<(), CliError> {
    let Some(image) = image_not_in_ecr(ctx, target).await? else {
        return Ok(());
    };
    let others = (revisions.iter()).filter(|r| *r != target && *r != running).take(5);
    let mut runnable = Vec::new();
    for r in others {
        if image_not_in_ecr(ctx, r).await?.is_none() {
            runnable.push(short(r).to_string());
        }
    }
    let hint = if runnable.is_empty() {
        "no other active revision runs an image that is in ECR".to_string()
    } else {
        format!("revisions that can run: {} (--to N)", runnable.join(", "))
    };
    Err(CliError::NoRollbackTarget {
        service: service.to_string(),
        problem: format!(
            "{} runs {image}, which is not in ECR (the image `up` sets before the first push); {hint}",
            short(target)
        ),
    })
}

/// The target's task definition, refused when it is from before the service moved between the
/// instances and Fargate: one from the instances on a Fargate service ECS would refuse ("Task
/// definition does not support launch_type FARGATE") after the service was paused; one sized for
/// Fargate would run on the instances, but as `up` never registers it there, so it is refused
/// too (the same revision's image in a revision registered since is the way back).
///
/// IAM: `ecs:DescribeTaskDefinition`.
async fn fitting(
    ctx: &Context,
    service: &str,
    svc: &aws_sdk_ecs::types::Service,
    target: &str,
) -> Result<TaskDefinition, CliError> {
    let definition = describe_revision(ctx, target).await?.definition;
    let on_fargate = crate::resources::service::on_fargate(svc);
    let requires_fargate =
        (definition.requires_compatibilities()).contains(&aws_sdk_ecs::types::Compatibility::Fargate);
    if on_fargate == requires_fargate {
        return Ok(definition);
    }
    let place = |fargate: bool| if fargate { "Fargate" } else { "the instances" };
    Err(CliError::NoRollbackTarget {
        service: service.to_string(),
        problem: format!(
            "{} runs on {}, and the service has run on {} since it moved (`capacity` in the app file): roll back to a \
             revision registered since (--to N), or move the service back with `pushdeploy up` first",
            short(target),
            place(requires_fargate),
            place(on_fargate)
        ),
    })
}

/// The revision's task definition.
///
/// IAM: `ecs:DescribeTaskDefinition`.
async fn describe_task_definition(ctx: &Context, arn: &str) -> Result<TaskDefinition, CliError> {
    (ctx.ecs().describe_task_definition().task_definition(arn).send().await)
        .map_err(|e| aws("ecs:DescribeTaskDefinition", e))?
        .task_definition
        .ok_or_else(|| missing("ecs:DescribeTaskDefinition", "taskDefinition"))
}

/// The first image of the revision that lives in this account's ECR and is not there (a
/// placeholder `up` set before the first push, or an image since deleted), else `None`.
///
/// IAM: `ecs:DescribeTaskDefinition`, `ecr:DescribeImages`.
async fn image_not_in_ecr(ctx: &Context, revision: &str) -> Result<Option<String>, CliError> {
    let definition = describe_task_definition(ctx, revision).await?;
    for text in (definition.container_definitions().iter()).filter_map(|c| c.image()) {
        let Ok(image) = ImageRef::parse(text) else { continue };
        if !image.registry.as_deref().is_some_and(|r| r.contains(".dkr.ecr.")) {
            continue; // public or other registries: not ours to check
        }
        match crate::ecr::resolve(ctx, &image).await {
            Ok(_) => {}
            Err(CliError::ImageNotFound { .. } | CliError::RepositoryNotFound { .. }) => {
                return Ok(Some(text.to_string()))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
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
    ctx.announce(&app).await?;
    let was_paused = resume_service(&ctx, &app, &args.service).await?;
    let engine = Engine::from_clients(ctx.engine_clients(), app.names.config_parameter(), Duration::ZERO);
    let scope = SyncScope {
        service: Some(args.service.clone()),
        dry_run: true,
    };
    let next_sync = match engine.sync(&scope, "pushdeploy resume (dry run)").await {
        Ok(outcomes) => next_sync_words(outcomes.first()),
        Err(e) => format!("cannot be foreseen ({})", crate::error::error_chain(&e)),
    };
    let resumed = Resumed {
        cluster: app.names.cluster(),
        service: args.service,
        paused: false,
        was_paused,
        next_sync,
    };
    print(ctx.output, &resumed)?;
    Ok(ExitCode::SUCCESS)
}

/// Lifts the pause; whether there was one.
///
/// IAM: `ecs:DescribeServices`, `ecs:UntagResource`.
pub async fn resume_service(ctx: &Context, app: &App, service_name: &str) -> Result<bool, CliError> {
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
    let was_paused = is_paused(svc.tags());
    if was_paused {
        set_paused(ctx, arn, None).await?;
    }
    Ok(was_paused)
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
