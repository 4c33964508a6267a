//! `pushdeploy-lambda`: redeploys ECS services on ECR push events (see the library).

use lambda_runtime::{run, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);
    let engine = pushdeploy::Engine::from_env().await?;
    run(service_fn(|event| pushdeploy::lambda::handle(&engine, event))).await
}
