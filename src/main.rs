//! `pushdeploy-lambda`: redeploys ECS services on ECR push events (see the library).

use std::process::ExitCode;

use lambda_runtime::{run, service_fn};

/// Logs as `lambda_runtime`'s default subscriber does (`AWS_LAMBDA_LOG_FORMAT` JSON or text,
/// the level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, INFO by default), to stderr, without its
/// `tracing` feature: that one links `EnvFilter` and its regex engine for per-target directives
/// the function never reads (issue 20: the zip's size).
fn init_logs() {
    use tracing_subscriber::filter::LevelFilter;
    let level = (std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")))
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let logs = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level)
        .with_writer(std::io::stderr);
    if std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        logs.json().init();
    } else {
        logs.with_ansi(false).init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logs();
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
