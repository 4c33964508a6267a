//! `pushdeploy deploy`: the Lambda's redeploy for one service, driven from a laptop. It resolves
//! the image in ECR (digest and push time) and runs the engine's very code path, so the same
//! rules hold: digest pinning, never a downgrade, paused services skipped, the deploy lock.

use std::process::ExitCode;
use std::time::Duration;

use pushdeploy::event::Push;
use pushdeploy::image::ImageRef;
use pushdeploy::outcome::Reason;
use pushdeploy::routing::Routed;
use pushdeploy::{Action, Engine, Force, Outcome};

use crate::app_file::App;
use crate::cli::{DeployArgs, GlobalArgs, OutputFormat};
use crate::context::Context;
use crate::error::CliError;
use crate::output::{print, Outcomes};
use crate::rollout::wait_for;

/// Runs the command and prints the outcome; with `--wait`, follows the deployment it started.
pub async fn run(args: DeployArgs, global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let app = App::load(args.app.file.as_deref(), args.app.app.as_deref())?;
    let ctx = Context::connect(global, app.file.region.as_deref()).await?;
    ctx.announce(&app).await?;
    let outcomes = deploy_app(&app, &args, &ctx).await?;
    if let Some(why) = outcomes.first().and_then(|o| not_deployed(o, &args)) {
        print(ctx.output, &Outcomes(outcomes.clone()))?;
        let o = &outcomes[0];
        return Err(CliError::NotDeployed {
            service: format!(
                "{}/{}",
                o.cluster.as_deref().unwrap_or("?"),
                o.service.as_deref().unwrap_or(&args.service)
            ),
            why,
        });
    }
    let followed = outcomes.first().filter(|_| args.wait.wait).and_then(|o| {
        // Nothing started (paused, failed before, older): nothing to follow.
        let started = o.action != Action::Skipped || o.reason == Reason::AlreadyRunning;
        match (&o.cluster, &o.service, &o.task_definition) {
            (Some(c), Some(s), Some(td)) if started => Some((c.clone(), s.clone(), td.clone())),
            _ => None,
        }
    });
    let Some((cluster, service, task_definition)) = followed else {
        print(ctx.output, &Outcomes(outcomes))?;
        return Ok(ExitCode::SUCCESS);
    };
    if ctx.output == OutputFormat::Text {
        print(ctx.output, &Outcomes(outcomes.clone()))?;
    }
    let wait = Duration::from_secs(args.wait.timeout);
    let ended = wait_for(
        &ctx,
        &app,
        &cluster,
        &service,
        &task_definition,
        wait,
        args.wait.wait_until,
    )
    .await?;
    match ctx.output {
        OutputFormat::Json => print(ctx.output, &Outcomes([outcomes, ended.outcome].concat()))?,
        OutputFormat::Text => print(ctx.output, &Outcomes(ended.outcome))?,
    }
    Ok(ended.exit)
}

/// Why an explicit deploy that deployed nothing did not, and what to do; `None` when it deployed
/// or the image already runs.
fn not_deployed(outcome: &Outcome, args: &DeployArgs) -> Option<String> {
    if outcome.action != Action::Skipped {
        return None;
    }
    let service = &args.service;
    Some(match &outcome.reason {
        Reason::AlreadyRunning => return None,
        Reason::Paused => format!(
            "automatic and explicit redeploys are paused (after `pushdeploy rollback`): `pushdeploy resume --service {service}` first"
        ),
        Reason::FailedBefore => format!(
            "{} failed a deployment of it before (or was rolled back from): pass --force to deploy it on purpose",
            args.image
        ),
        Reason::OlderThanRunning => format!(
            "{} is older than the image it runs, and deploy never goes back: `pushdeploy rollback --service {service}` does",
            args.image
        ),
        Reason::DeploymentInProgress => {
            "another deploy of it holds its deploy lock: try again when it ends (`pushdeploy status`)".to_string()
        }
        other => format!("skipped ({})", other.as_str()),
    })
}

/// Redeploys the service and returns its outcome (the app from `--app` / `-f`).
pub async fn deploy(args: &DeployArgs, ctx: &Context) -> Result<Vec<Outcome>, CliError> {
    let app = App::load(args.app.file.as_deref(), args.app.app.as_deref())?;
    deploy_app(&app, args, ctx).await
}

/// Redeploys `args.service` of `app` with `args.image`.
///
/// IAM: `ssm:GetParameter` on the config, `ecr:DescribeImages` on the repository, and what the
/// engine needs (docs/permissions.md).
pub async fn deploy_app(app: &App, args: &DeployArgs, ctx: &Context) -> Result<Vec<Outcome>, CliError> {
    let parameter = app.names.config_parameter();
    let image = ImageRef::parse(&args.image)?;
    let engine = Engine::from_clients(ctx.engine_clients(), parameter.clone(), Duration::ZERO);
    let config = engine.config().get().await?;
    if !config.services.iter().any(|r| r.service == args.service) {
        let mut services: Vec<&str> = config.services.iter().map(|r| r.service.as_str()).collect();
        services.dedup();
        return Err(CliError::UnknownService {
            app: app.name.clone(),
            service: args.service.clone(),
            services: services.join(", "),
        });
    }
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
