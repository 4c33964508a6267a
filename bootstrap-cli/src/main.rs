//! `pushdeploy`: bootstrap and operate an app on ECS from a laptop.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = pushdeploy_cli::Cli::parse();
    pushdeploy_cli::init_tracing(cli.global.verbose);
    match pushdeploy_cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", pushdeploy_cli::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}
