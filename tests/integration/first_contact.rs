//! The CLI binary as a newcomer meets it: no region, no credentials, a bad name, the region from
//! the app file; each says what to do in one line, before any AWS call where it can. The binary
//! runs with a cleared environment; the instance metadata endpoint points at a closed local
//! port, so the SDK really tries it and nothing leaves the machine.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::emulator::{emulator, sdk_config, REGION};
use crate::fixture::unique;

/// The `pushdeploy` binary, built once (it belongs to another package of the workspace).
pub(crate) fn cli() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // target/<profile>/deps/integration-<hash> -> target/<profile>/pushdeploy
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
        let target_dir = profile_dir.parent().unwrap();
        // The same build as scripts/demo's (same features, so CI's demo step leaves it warm),
        // without the variables cargo sets for a test process: build scripts track some of them
        // (ring's, CARGO_MANIFEST_DIR), and a change rebuilds the AWS SDK (minutes) here and
        // again at the next plain build.
        let cargo_set = |k: &str| {
            [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_BIN_",
                "CARGO_CRATE_",
                "CARGO_PRIMARY_PACKAGE",
            ]
            .iter()
            .any(|p| k.starts_with(p))
                || k == "CARGO_TARGET_TMPDIR"
                || k == "CARGO_RUSTC_CURRENT_DIR"
        };
        let mut build = Command::new(env!("CARGO"));
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(cargo_set) {
                build.env_remove(key);
            }
        }
        let status = build
            .args(["build", "--workspace", "--bins", "--locked", "--quiet"])
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the pushdeploy binary failed");
        profile_dir.join("pushdeploy")
    })
}

/// The binary in an empty directory with only `env` (and PATH): no profile, no app file.
pub(crate) fn run(args: &[&str], env: &[(&str, &str)], files: &[(&str, &str)]) -> Output {
    let home = std::env::temp_dir().join(unique("home"));
    std::fs::create_dir_all(&home).unwrap();
    for (name, text) in files {
        std::fs::write(home.join(name), text).unwrap();
    }
    Command::new(cli())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("AWS_CONFIG_FILE", home.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-credentials"))
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")
        .envs(env.iter().copied())
        .current_dir(&home)
        .output()
        .expect("run pushdeploy")
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn without_a_region_it_says_where_to_set_one_in_one_line() {
    let out = run(&["status"], &[], &[]);
    assert!(!out.status.success());
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "one line, no SDK warnings: {lines:#?}");
    assert!(
        lines[0].contains("no AWS region") && lines[0].contains("--region") && lines[0].contains("AWS_REGION"),
        "{lines:?}"
    );
}

#[test]
fn without_credentials_it_says_how_to_log_in_in_one_line() {
    let endpoint = emulator().endpoint.clone();
    let out = run(
        &["plan", "--profile", "work"],
        &[("AWS_REGION", REGION), ("AWS_ENDPOINT_URL", &endpoint)],
        &[],
    );
    assert!(!out.status.success());
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "one line, no SDK warnings: {lines:#?}");
    // A profile the config files do not have is named as such, with how to add it.
    assert!(
        lines[0].contains("profile work is not in the AWS config files")
            && lines[0].contains("aws configure sso --profile work"),
        "{lines:?}"
    );
    let out = run(
        &["plan"],
        &[("AWS_REGION", REGION), ("AWS_ENDPOINT_URL", &endpoint)],
        &[],
    );
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("no AWS credentials"), "{lines:?}");
}

#[test]
fn a_bad_name_fails_before_any_aws_call_naming_its_line_and_field() {
    // Nothing listens on the endpoint: a call would fail with a connection error instead.
    let out = run(
        &["up"],
        &[
            ("AWS_REGION", REGION),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
        &[("pushdeploy.toml", "name = \"shop\"\n\n[[services]]\nname = \"web-\"\n")],
    );
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("line 4") && text.contains("not a valid service name"),
        "{text}"
    );
    assert!(!text.contains("dispatch") && !text.contains("connect"), "{text}");
}

#[test]
fn version_prints_the_version() {
    let out = run(&["--version"], &[], &[]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("pushdeploy {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn the_region_comes_from_the_flag_then_the_app_file_then_the_environment() {
    let endpoint = emulator().endpoint.clone();
    let name = crate::bootstrap::app_name("region");
    let file = format!("name = \"{name}\"\nregion = \"eu-west-1\"\n");
    let env = [
        ("AWS_REGION", "us-west-2"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    let up = run(&["up", "--output", "json"], &env, &[("pushdeploy.toml", &file)]);
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let in_region = |region: &'static str| {
        let name = name.clone();
        async move {
            let sdk = aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(region))
                .build();
            let sdk = sdk_config().await.into_builder().region(sdk.region().cloned()).build();
            let clusters = aws_sdk_ecs::Client::new(&sdk)
                .describe_clusters()
                .clusters(&name)
                .send()
                .await
                .unwrap();
            clusters.clusters().iter().any(|c| c.status() == Some("ACTIVE"))
        }
    };
    assert!(
        in_region("eu-west-1").await,
        "the file's region beats the environment's"
    );
    assert!(!in_region("us-west-2").await);
    let status = run(
        &["status", "--output", "json", "--region", "ap-southeast-2"],
        &env,
        &[("pushdeploy.toml", &file)],
    );
    // The flag beats the file: no app there, said as such.
    let err = String::from_utf8_lossy(&status.stderr);
    assert!(!status.status.success(), "{err}");
    assert!(err.contains(&format!("no app {name} in ap-southeast-2")), "{err}");
}
