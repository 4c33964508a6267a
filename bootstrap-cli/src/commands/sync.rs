//! `pushdeploy sync`: the function's scheduled catch-up, from a laptop. For every route (or one
//! service's), the newest image in ECR whose tags the route accepts goes through the engine's
//! push path when it is newer than what runs; a converged app makes no write.

use std::process::ExitCode;
use std::time::Duration;

use pushdeploy::{Engine, SyncScope};

use crate::app_file::App;
use crate::cli::{GlobalArgs, SyncArgs};
use crate::context::Context;
use crate::error::CliError;
use crate::output::{print, Outcomes};

/// Runs the command: one outcome per route, printed even when some routes failed.
///
/// IAM: `ssm:GetParameter` on the config, `ecr:DescribeImages` on the routed repositories,
/// `ecs:DescribeServices`, `ecs:DescribeTaskDefinition`, and what a deploy needs.
pub async fn run(args: SyncArgs, global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let app = App::load(args.app.file.as_deref(), args.app.app.as_deref())?;
    let ctx = Context::connect(global, app.file.region.as_deref()).await?;
    ctx.announce(&app).await?;
    let parameter = app.names.config_parameter();
    let engine = Engine::from_clients(ctx.engine_clients(), parameter.clone(), Duration::ZERO);
    if let Some(service) = &args.service {
        let config = engine.config().get().await?;
        if !config.services.iter().any(|r| r.service == *service) {
            return Err(CliError::NoRoute {
                app: app.name.clone(),
                service: service.clone(),
                repository: "(any)".into(),
                parameter,
                routes: super::deploy::route_list(&config),
            });
        }
    }
    let scope = SyncScope {
        service: args.service.clone(),
        dry_run: args.dry_run,
    };
    let owner = format!("pushdeploy sync pid {}", std::process::id());
    match engine.sync(&scope, &owner).await {
        Ok(outcomes) => {
            print(ctx.output, &Outcomes(outcomes))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(pushdeploy::Error::Partial { failures, outcomes }) => {
            print(ctx.output, &Outcomes(outcomes.clone()))?;
            Err(CliError::Engine(pushdeploy::Error::Partial { failures, outcomes }))
        }
        Err(e) => Err(e.into()),
    }
}
