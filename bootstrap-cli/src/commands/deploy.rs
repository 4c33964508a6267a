//! `pushdeploy deploy`: the Lambda's redeploy for one service, driven from a laptop. It resolves
//! the image in ECR (digest and push time) and runs the engine's very code path, so the same
//! rules hold: digest pinning, never a downgrade, paused services skipped, the deploy lock.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use pushdeploy::event::{DeploymentChange, DeploymentEnd, Push};
use pushdeploy::image::ImageRef;
use pushdeploy::outcome::Reason;
use pushdeploy::routing::Routed;
use pushdeploy::{Action, Engine, Force, Outcome};

use crate::app_file::App;
use crate::cli::{DeployArgs, GlobalArgs, OutputFormat};
use crate::context::Context;
use crate::error::CliError;
use crate::progress::Progress;
use crate::rollout::{self, RolloutEnd, EXIT_FAILED};

/// Runs the command and prints the outcome; with `--wait`, follows the deployment it started.
pub async fn run(args: DeployArgs, global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let app = App::load(args.app.file.as_deref(), args.app.app.as_deref())?;
    let ctx = Context::connect(global, app.file.region.as_deref()).await?;
    let outcomes = deploy_app(&app, &args, &ctx).await?;
    let Some(outcome) = outcomes.first().filter(|_| args.wait.wait) else {
        print_outcomes(ctx.output, &outcomes)?;
        return Ok(ExitCode::SUCCESS);
    };
    let (Some(cluster), Some(service), Some(task_definition)) =
        (&outcome.cluster, &outcome.service, &outcome.task_definition)
    else {
        print_outcomes(ctx.output, &outcomes)?;
        return Ok(ExitCode::SUCCESS);
    };
    if outcome.action == Action::Skipped && outcome.reason != Reason::AlreadyRunning {
        // Nothing started (paused, failed before, older): nothing to follow.
        print_outcomes(ctx.output, &outcomes)?;
        return Ok(ExitCode::SUCCESS);
    }
    if ctx.output == OutputFormat::Text {
        print_outcomes(ctx.output, &outcomes)?;
    }
    let wait = Duration::from_secs(args.wait.timeout);
    let ended = wait_for(&ctx, &app, cluster, service, task_definition, wait).await?;
    match ctx.output {
        OutputFormat::Json => print_outcomes(ctx.output, &[outcomes, ended.outcome.clone()].concat())?,
        OutputFormat::Text => print_outcomes(ctx.output, &ended.outcome)?,
    }
    Ok(ended.exit)
}

/// How a followed deployment ended: its outcomes (`completed` or `failed`) and the exit status.
pub struct Ended {
    /// The outcome lines, as the function prints them for the deployment's event.
    pub outcome: Vec<Outcome>,
    /// 0, or [`EXIT_FAILED`].
    pub exit: ExitCode,
}

/// Follows the deployment of `task_definition` to its end. A failure is remembered on the
/// service exactly as the function remembers it from ECS's event, so no push, replay or sync
/// deploys that image again (`--force` does); the reason is ECS's.
pub async fn wait_for(
    ctx: &Context,
    app: &App,
    cluster: &str,
    service: &str,
    task_definition: &str,
    limit: Duration,
) -> Result<Ended, CliError> {
    let progress = Progress::new(ctx);
    let step = progress.step(&format!(
        "rollout of {} on {cluster}/{service}",
        rollout::short(task_definition)
    ));
    let end = match rollout::follow(ctx, cluster, service, task_definition, limit, &step).await {
        Ok(end) => end,
        Err(e) => {
            step.failed();
            return Err(e);
        }
    };
    let engine = Engine::from_clients(
        ctx.ecs(),
        ctx.ssm(),
        ctx.ecr(),
        app.names.config_parameter(),
        Duration::ZERO,
    );
    let (deployment, ended, reason) = match &end {
        RolloutEnd::Completed { deployment } => {
            step.done("COMPLETED");
            (deployment, DeploymentEnd::Completed, String::new())
        }
        RolloutEnd::Failed { deployment, reason } => {
            step.done(&format!("FAILED: {reason}"));
            (deployment, DeploymentEnd::Failed, reason.clone())
        }
        RolloutEnd::Replaced { deployment, running } => {
            step.done(&format!("gone: the service runs {} now", rollout::short(running)));
            let outcome = Outcome {
                service: Some(service.to_string()),
                cluster: Some(cluster.to_string()),
                action: Action::Failed,
                reason: Reason::Ecs(format!(
                    "the deployment was rolled back or replaced: the service runs {running}"
                )),
                task_definition: Some(task_definition.to_string()),
                image: None,
                deployment: Some(deployment.clone()),
            };
            return Ok(Ended {
                outcome: vec![outcome],
                exit: ExitCode::from(EXIT_FAILED),
            });
        }
    };
    let change = DeploymentChange {
        cluster: cluster.to_string(),
        service: service.to_string(),
        deployment_id: deployment.clone(),
        end: ended,
        reason,
    };
    let mut outcome = engine.deployment_outcome(&change).await?;
    if let Some(o) = outcome.first_mut() {
        // A service outside the routing config (rolled back by hand, say) still has an end.
        if o.action == Action::Skipped {
            o.action = if ended == DeploymentEnd::Completed {
                Action::Completed
            } else {
                Action::Failed
            };
            o.task_definition = Some(task_definition.to_string());
        }
    }
    let exit = match ended {
        DeploymentEnd::Completed => ExitCode::SUCCESS,
        DeploymentEnd::Failed => ExitCode::from(EXIT_FAILED),
    };
    Ok(Ended { outcome, exit })
}

/// Redeploys the service and returns its outcome (the app from `--app` / `-f`).
pub async fn deploy(args: &DeployArgs, ctx: &Context) -> Result<Vec<Outcome>, CliError> {
    let app = App::load(args.app.file.as_deref(), args.app.app.as_deref())?;
    deploy_app(&app, args, ctx).await
}

/// Redeploys `args.service` of `app` with `args.image`.
///
/// IAM: `ssm:GetParameter` on the config, `ecr:DescribeImages` on the repository, and what the
/// engine needs (README, "Permissions").
pub async fn deploy_app(app: &App, args: &DeployArgs, ctx: &Context) -> Result<Vec<Outcome>, CliError> {
    let parameter = app.names.config_parameter();
    let image = ImageRef::parse(&args.image)?;
    let engine = Engine::from_clients(ctx.ecs(), ctx.ssm(), ctx.ecr(), parameter.clone(), Duration::ZERO);
    let config = engine.config().get().await?;
    let route = config
        .services
        .iter()
        .find(|r| {
            r.service == args.service
                && r.repository == image.repository
                && args.cluster.as_ref().is_none_or(|c| *c == r.cluster)
        })
        .ok_or_else(|| CliError::NoRoute {
            app: app.name.clone(),
            service: args.service.clone(),
            repository: image.repository.clone(),
            parameter: parameter.clone(),
            routes: route_list(&config),
        })?;
    let found = crate::ecr::resolve(ctx, &image).await?;
    let push = Push {
        account: found.account,
        region: ctx.region().to_string(),
        repository: image.repository.clone(),
        digest: found.digest,
        tag: found.tags.into_iter().next(),
        pushed_at: found.pushed_at,
    };
    // An explicit deploy names its service, so the route's tag rules do not apply.
    let owner = format!("pushdeploy-cli pid {}", std::process::id());
    let force = if args.force { Force::FailedBefore } else { Force::No };
    Ok(engine
        .redeploy(&push, &[Routed::Accepted(route)], &owner, force)
        .await?)
}

/// The config's routes as `cluster/service<-repository, ...`, for errors that list them.
pub fn route_list(config: &pushdeploy::config::AppConfig) -> String {
    config
        .services
        .iter()
        .map(|r| format!("{}/{}<-{}", r.cluster, r.service, r.repository))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints outcomes as a table (text) or a JSON array.
pub fn print_outcomes(format: OutputFormat, outcomes: &[Outcome]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Json => crate::commands::print_json(outcomes)?,
        OutputFormat::Text => {
            for o in outcomes {
                let action = match o.action {
                    Action::Deployed => "deployed",
                    Action::Skipped => "skipped",
                    Action::Completed => "completed",
                    Action::Failed => "FAILED",
                };
                let service = match (&o.cluster, &o.service) {
                    (Some(c), Some(s)) => format!("{c}/{s}"),
                    _ => "-".into(),
                };
                writeln!(out, "{action:<9} {service}  ({})", o.reason)?;
                if let Some(td) = &o.task_definition {
                    writeln!(out, "          task definition  {td}")?;
                }
                if let Some(image) = &o.image {
                    writeln!(out, "          image            {image}")?;
                }
                if let Some(deployment) = &o.deployment {
                    writeln!(out, "          deployment       {deployment}")?;
                }
            }
        }
    }
    Ok(())
}
