//! `scripts/aws-smoke`, the maintainer's run on a real account, run here against a strict
//! emulator of its own so it cannot rot: up, a push and its redeploy, a bad image rolled back,
//! sync, logs, down. The emulator logs every request, and the IAM checker (tests/iam) proves the
//! policy `pushdeploy policy` printed for the app allows every request the CLI made.

use std::process::Command;

use crate::emulator::{own_emulator, root, REGION};

#[test]
fn the_aws_smoke_script_passes_and_pushdeploy_policy_allows_everything_it_did() {
    let work = std::env::temp_dir().join(format!("pushdeploy-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let requests = work.join("requests.jsonl");
    let policy = work.join("policy.json");
    let emulator = own_emulator(&[("PUSHDEPLOY_EMULATOR_REQUEST_LOG", requests.to_str().unwrap())]);
    let cli = crate::first_contact::cli();
    let path = format!(
        "{}:{}",
        root().join(".venv/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg(root().join("scripts/aws-smoke"))
        .arg("--yes")
        .env("PUSHDEPLOY", cli)
        .env("AWS_SMOKE_POLICY", &policy)
        .env("PATH", path)
        .env("AWS_ENDPOINT_URL", &emulator.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run scripts/aws-smoke");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "aws-smoke failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("aws-smoke: passed"), "{stdout}");
    assert!(
        stdout.contains("ROLLED BACK"),
        "status says ECS rolled the bad image back: {stdout}"
    );

    let checker = root().join(".venv-iam/bin/python");
    assert!(
        checker.exists(),
        "the IAM checker's virtualenv is missing: run `scripts/setup iam`"
    );
    let check = Command::new(checker)
        .arg(root().join("tests/iam/authorize.py"))
        .arg("--log")
        .arg(&requests)
        .arg("--laptop-policy")
        .arg(&policy)
        .output()
        .expect("run tests/iam/authorize.py");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "the printed policy denies what the run did:\n{report}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let checked: usize = report
        .lines()
        .find_map(|l| l.strip_prefix("iam: ")?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    assert!(checked > 100, "the run's requests were checked: {report}");
}
