//! Command-line arguments. The doc comments are the help text.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run Docker containers on AWS ECS and keep them current on every `docker push`.
#[derive(Debug, Parser)]
#[command(name = "pushdeploy", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// AWS region (default: the standard chain: AWS_REGION, profile, ...)
    #[arg(long, global = true, env = "AWS_REGION")]
    pub region: Option<String>,
    /// AWS profile from ~/.aws/config (default: AWS_PROFILE or "default")
    #[arg(long, global = true, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// Output format
    #[arg(long, short, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// More logging on stderr (-v: progress, -vv: debug)
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people
    Text,
    /// For scripts: one JSON document on stdout
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Redeploy one service with an image from ECR, exactly as the Lambda does on a push
    Deploy(DeployArgs),
}

/// `pushdeploy deploy`
#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    /// App name (the routing config is /pushdeploy/<app>/config)
    #[arg(long, env = "PUSHDEPLOY_APP")]
    pub app: String,
    /// ECS service to redeploy
    #[arg(long)]
    pub service: String,
    /// Image to deploy: REPOSITORY[:TAG][@sha256:DIGEST], optionally with the registry host;
    /// without tag or digest, `latest`
    #[arg(long)]
    pub image: String,
    /// ECS cluster, when the app runs services of the same name in several clusters
    #[arg(long)]
    pub cluster: Option<String>,
}
