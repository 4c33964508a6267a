//! `pushdeploy-lambda`: redeploys ECS services on ECR push events (see the library).

use std::process::ExitCode;

use lambda_runtime::{run, service_fn};

#[tokio::main]
async fn main() -> ExitCode {
    lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);
    let engine = match pushdeploy::Engine::from_env().await {
        Ok(engine) => engine,
        Err(e) => {
            tracing::error!(error_type = %e.error_type(), "cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(service_fn(|event| pushdeploy::lambda::handle(&engine, event))).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("runtime stopped: {e}");
            ExitCode::FAILURE
        }
    }
}
