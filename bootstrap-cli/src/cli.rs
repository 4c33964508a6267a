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
    /// AWS region (default: `region` in the app file, else the standard chain: AWS_REGION,
    /// the profile's region)
    #[arg(long, global = true, value_parser = region_flag)]
    pub region: Option<String>,
    /// AWS profile from ~/.aws/config or ~/.aws/credentials; it wins over credentials in the
    /// environment, as with the aws CLI (default: AWS_PROFILE, else the environment's keys, else
    /// "default")
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Output format
    #[arg(long, short, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// More logging on stderr (-v: progress, -vv: debug)
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// `--region`, checked as the app file's `region` is.
fn region_flag(text: &str) -> Result<String, String> {
    crate::app_file::check_region(text).map(|()| text.to_string())
}

/// `init --app`, checked as the app file's `name` is.
fn app_flag(text: &str) -> Result<String, String> {
    crate::app_file::check_app_name(text).map(|()| text.to_string())
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people
    Text,
    /// For scripts: one JSON document on stdout (`logs`: one JSON object per line)
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter pushdeploy.toml
    Init(InitArgs),
    /// Provision everything the app needs (idempotent: re-run it any time)
    Up(UpArgs),
    /// Show what `up` would create or change, without writing
    Plan(PlanArgs),
    /// Show every resource of the app and each service's running revision and rollout
    Status(AppArgs),
    /// Redeploy one service with an image from ECR, exactly as the Lambda does on a push
    Deploy(DeployArgs),
    /// Put a previous revision back on a service and pause automatic redeploys for it
    Rollback(RollbackArgs),
    /// Let automatic redeploys reach a service again after `rollback`
    Resume(ServiceArgs),
    /// Let a deployment waiting for approval (approve_before_production) move production traffic
    Approve(ServiceArgs),
    /// Roll back a deployment waiting for approval, before production traffic reaches it
    Reject(ServiceArgs),
    /// Deploy what missed pushes would have: per route, the newest accepted image in ECR when
    /// it is newer than what runs
    Sync(SyncArgs),
    /// Print what a service's containers logged, oldest first, across its tasks
    Logs(LogsArgs),
    /// Delete everything the app created (asks first unless --yes)
    Down(DownArgs),
    /// Print a real-shaped ECR push event (for `cargo lambda invoke --data-file`)
    Event(EventArgs),
    /// Print the least-privilege IAM policy for running every command on this app
    Policy(AppArgs),
}

/// Which app: `--app`, else the app file's `name`, else "demo".
#[derive(Debug, Clone, Args)]
pub struct AppArgs {
    /// App name
    #[arg(long, env = "PUSHDEPLOY_APP")]
    pub app: Option<String>,
    /// App file (default: ./pushdeploy.toml when present)
    #[arg(long, short = 'f')]
    pub file: Option<std::path::PathBuf>,
}

/// `pushdeploy init`
#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// App name written into the file (`name`; default: the file leaves it to --app, else "demo")
    #[arg(long, value_parser = app_flag)]
    pub app: Option<String>,
    /// Where to write the file; other than ./pushdeploy.toml, pass it to later commands with -f
    #[arg(long, default_value = "pushdeploy.toml")]
    pub path: std::path::PathBuf,
    /// Overwrite an existing file
    #[arg(long)]
    pub force: bool,
}

/// `pushdeploy up`
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub app: AppArgs,
    /// Only show what would change (same as `pushdeploy plan`)
    #[arg(long)]
    pub dry_run: bool,
    /// Also wait for instances to join the cluster and services with an image to stabilise
    #[arg(long)]
    pub wait: bool,
    /// Seconds `--wait` waits at most
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// Replace the cluster's instances when they run an older ECS-optimized AMI than the
    /// current one (an Auto Scaling instance refresh)
    #[arg(long)]
    pub refresh_instances: bool,
}

/// `pushdeploy plan`
pub type PlanArgs = AppArgs;

/// A service of an app.
#[derive(Debug, Clone, Args)]
pub struct ServiceArgs {
    #[command(flatten)]
    pub app: AppArgs,
    /// ECS service name
    #[arg(long)]
    pub service: String,
}

/// `pushdeploy rollback`
#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub target: ServiceArgs,
    /// Revision to put back: a number of the service's family or a task-definition ARN
    /// (default: the revision before the running one)
    #[arg(long)]
    pub to: Option<String>,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Following the deployment a command started.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Follow the deployment until ECS completes it (exit 0) or fails or rolls it back (exit 3)
    #[arg(long)]
    pub wait: bool,
    /// Seconds `--wait` waits at most (then exit 1)
    #[arg(long, default_value_t = 900, requires = "wait")]
    pub timeout: u64,
    /// With --wait on a blue-green, canary or linear service: `completed` (after the bake time),
    /// or `shifted` (once all production traffic is on the new revision: exit 0 then, while ECS
    /// still bakes it)
    #[arg(long, value_enum, default_value_t = WaitUntil::Completed, requires = "wait")]
    pub wait_until: WaitUntil,
}

/// When `--wait` stops waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WaitUntil {
    /// ECS completed the deployment.
    Completed,
    /// All production traffic is on the new revision (blue-green, canary, linear).
    Shifted,
}

/// `pushdeploy sync`
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub app: AppArgs,
    /// Only this service (default: every routed service)
    #[arg(long)]
    pub service: Option<String>,
    /// Say what would deploy; write nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// `pushdeploy logs`
#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub app: AppArgs,
    /// ECS service name
    #[arg(long)]
    pub service: String,
    /// From how long ago (30s, 10m, 2h, 1d) or from when (2026-11-27T10:00:00Z)
    #[arg(long, default_value = "10m")]
    pub since: String,
    /// Keep printing new lines as they arrive (until Ctrl-C)
    #[arg(long)]
    pub follow: bool,
    /// Seconds between two looks for new lines with --follow
    #[arg(long, default_value_t = 2, requires = "follow", value_parser = clap::value_parser!(u64).range(1..=60))]
    pub every: u64,
}

/// `pushdeploy down`
#[derive(Debug, Clone, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub app: AppArgs,
    /// Do not ask for confirmation
    #[arg(long, short)]
    pub yes: bool,
    /// Also delete the app's data: the ECR repositories with their images, and the log groups
    /// with their logs
    #[arg(long, alias = "delete-repositories")]
    pub delete_data: bool,
}

/// `pushdeploy event`
#[derive(Debug, Clone, Args)]
pub struct EventArgs {
    /// ECR repository name
    #[arg(long)]
    pub repository: String,
    /// Image tag (default: latest, when no digest is given)
    #[arg(long)]
    pub tag: Option<String>,
    /// Image digest (default: looked up in ECR by tag)
    #[arg(long)]
    pub digest: Option<String>,
}

/// `pushdeploy deploy`
#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub app: AppArgs,
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
    /// Deploy the image even if a deployment of it failed on this service before
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_takes_the_app_and_its_file_like_every_other_command() {
        let cli = Cli::try_parse_from([
            "pushdeploy",
            "deploy",
            "-f",
            "shop.toml",
            "--app",
            "shop",
            "--service",
            "web",
            "--image",
            "shop/web:v1",
        ])
        .unwrap();
        let Command::Deploy(args) = cli.command else {
            panic!("not deploy: {:?}", cli.command);
        };
        assert_eq!(args.app.app.as_deref(), Some("shop"));
        assert_eq!(args.app.file.as_deref(), Some(std::path::Path::new("shop.toml")));
        assert_eq!((args.service.as_str(), args.image.as_str()), ("web", "shop/web:v1"));
    }

    #[test]
    fn the_region_flag_reads_no_environment_so_the_app_file_can_beat_aws_region() {
        std::env::set_var("AWS_REGION", "eu-west-1");
        let cli = Cli::try_parse_from(["pushdeploy", "status"]).unwrap();
        assert_eq!(cli.global.region, None);
    }
}
