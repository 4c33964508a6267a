//! `pushdeploy deploy`: the Lambda's redeploy for one service, driven from a laptop. It resolves
//! the image in ECR (digest and push time) and runs the engine's very code path, so the same
//! rules hold: digest pinning, never a downgrade, paused services skipped, the deploy lock.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use pushdeploy::event::Push;
use pushdeploy::image::ImageRef;
use pushdeploy::routing::Routed;
use pushdeploy::{Action, Engine, Outcome};

use crate::app_file::App;
use crate::cli::{DeployArgs, GlobalArgs, OutputFormat};
use crate::context::Context;
use crate::error::CliError;

/// Runs the command and prints the outcome.
pub async fn run(args: DeployArgs, global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let app = App::load(args.app.file.as_deref(), args.app.app.as_deref())?;
    let ctx = Context::connect(global, app.file.region.as_deref()).await?;
    let outcomes = deploy_app(&app, &args, &ctx).await?;
    print_outcomes(ctx.output, &outcomes)?;
    Ok(ExitCode::SUCCESS)
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
    let engine = Engine::from_clients(ctx.ecs(), ctx.ssm(), parameter.clone(), Duration::ZERO);
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
            routes: config
                .services
                .iter()
                .map(|r| format!("{}/{}<-{}", r.cluster, r.service, r.repository))
                .collect::<Vec<_>>()
                .join(", "),
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
    Ok(engine.redeploy(&push, &[Routed::Accepted(route)], &owner).await?)
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
            }
        }
    }
    Ok(())
}
