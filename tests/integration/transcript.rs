//! The text a first hour reads, pinned (issue 18): `init`, `plan`, `up`, `status`, `deploy`,
//! `rollback`, `resume`, `sync`, `logs` and `down` of a one-service app, through the real binary
//! without a terminal, on the strict emulator, in an account of its own (so account-wide things,
//! the ECS service-linked role, read the same whatever ran before).
//!
//! Each command's stdout, stderr and exit code are one snapshot in `snapshots/`. Redacted: what
//! AWS makes up (security group, VPC and deployment ids, the load balancer's DNS name), times and
//! durations; progress lines on stderr (`<step>: ... (1.2s)`, `waiting for`, `still`) are left
//! out, as how many show depends on timing (`first_hour` tests them). A wording change shows as a
//! snapshot diff in review; `INSTA_UPDATE=always` (or `cargo insta review`) accepts it.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cli::put_image_with;
use crate::emulator::{emulator, fresh_account, REGION};
use crate::first_contact::cli;
use crate::fixture::unique;

/// The transcript's own account (no other test uses it).
const ACCOUNT: &str = "181818181818";
const APP: &str = "transcript";

/// A folder to work in, with the environment a newcomer's shell would have.
struct Session {
    dir: PathBuf,
}

impl Session {
    fn new() -> Session {
        let dir = std::env::temp_dir().join(unique("transcript"));
        std::fs::create_dir_all(&dir).unwrap();
        Session { dir }
    }

    /// Runs `pushdeploy <args>` and returns what a reader sees, redacted.
    fn run(&self, args: &str) -> String {
        let endpoint = emulator().endpoint.clone();
        let out = Command::new(cli())
            .args(args.split(' '))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("AWS_CONFIG_FILE", self.dir.join("no-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.join("no-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_REGION", REGION)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", format!("PDACCT{ACCOUNT}XX"))
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .current_dir(&self.dir)
            .output()
            .expect("run pushdeploy");
        let stderr: Vec<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| !is_progress(l))
            .map(str::to_string)
            .collect();
        format!(
            "$ pushdeploy {args}\n{}[stderr]\n{}[exit {}]\n",
            String::from_utf8_lossy(&out.stdout),
            stderr.iter().map(|l| format!("{l}\n")).collect::<String>(),
            out.status.code().unwrap_or(-1)
        )
    }
}

/// A progress line: how many there are depends on how long each wait took.
fn is_progress(line: &str) -> bool {
    line.contains(": waiting for ") || line.contains(": still ") || line.ends_with("s)") && line.contains(": ")
}

/// Pins `text` under `name`, with what AWS makes up and times redacted.
fn pin(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path("snapshots");
    for (pattern, with) in [
        (
            r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d| UTC)?",
            "[time]",
        ),
        (r"\(\d+\.\d+s\)", "([s])"),
        (r"after \d+\.\d+s", "after [s]"),
        (r"\bsg-[0-9a-f]+", "sg-[id]"),
        (r"\bvpc-[0-9a-f]+", "vpc-[id]"),
        (r"ecs-svc/\d+", "ecs-svc/[id]"),
        (
            r"[a-z0-9-]+\.us-east-1\.elb\.amazonaws\.com",
            "[lb].us-east-1.elb.amazonaws.com",
        ),
        (r"pid \d+", "pid [n]"),
    ] {
        settings.add_filter(pattern, with);
    }
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// Waits until the service runs one deployment, completed, with all its tasks: `status` then
/// reads the same every time.
async fn steady(ecs: &aws_sdk_ecs::Client) {
    let started = Instant::now();
    loop {
        let service = crate::fixture::described(ecs, APP, "web").await;
        let done = service.deployments().len() == 1
            && service.deployments()[0].rollout_state() == Some(&aws_sdk_ecs::types::DeploymentRolloutState::Completed)
            && service.running_count() == service.desired_count();
        if done {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{service:#?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn the_text_of_every_command_for_a_small_app() {
    let sdk = fresh_account(ACCOUNT).await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let me = Session::new();

    pin("01-init", &me.run(&format!("init --app {APP}")));
    pin("02-plan", &me.run("plan"));
    pin("03-up", &me.run("up"));
    steady(&ecs).await;
    pin("04-status-before-a-push", &me.run("status"));

    put_image_with(&sdk, &format!("{APP}/web"), "v1", "71").await;
    put_image_with(&sdk, &format!("{APP}/web"), "v2", "72").await;
    let mut mistakes = me.run(&format!("deploy --service nope --image {APP}/web:v1"));
    mistakes += &me.run(&format!("deploy --service web --image {APP}/web:v9"));
    mistakes += &me.run(&format!("deploy --service web --image {APP}/web"));
    mistakes += &me.run("resume --service web");
    pin("05-deploy-mistakes", &mistakes);
    pin(
        "06-deploy",
        &me.run(&format!("deploy --service web --image {APP}/web:v1")),
    );
    pin("07-sync-dry-run", &me.run("sync --dry-run"));
    let again = me.run(&format!("deploy --service web --image {APP}/web:v2"));
    steady(&ecs).await;
    pin("08-rollback", &(again + &me.run("rollback --service web")));
    steady(&ecs).await;
    pin("09-status-rolled-back", &me.run("status"));
    pin("10-resume", &me.run("resume --service web"));
    pin("11-sync", &me.run("sync"));
    pin("12-logs", &me.run("logs --service web"));
    pin("13-down", &me.run("down --yes"));
}
