//! The built `pushdeploy-lambda` binary served by the real Lambda runtime API of
//! `cargo lambda watch --only-lambda-apis`, invoked with the sample events by `cargo lambda invoke`.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::emulator::{emulator, root, tool, REGION};
use crate::fixture::{container, image, App, REGISTRY};

/// Kills the process when dropped, so a failing test leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for(port: u16) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn cargo_lambda(args: &[&str]) -> Command {
    let mut cmd = Command::new(tool("cargo-lambda"));
    cmd.arg("lambda").args(args).current_dir(root());
    cmd
}

fn invoke(port: u16, event_file: &str) -> Output {
    cargo_lambda(&[
        "invoke",
        "--invoke-address",
        "127.0.0.1",
        "--invoke-port",
        &port.to_string(),
        "--output-format",
        "json",
        "--data-file",
    ])
    .arg(root().join("events").join(event_file))
    .output()
    .expect("run cargo lambda invoke")
}

fn outcomes(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "invoke failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "invoke printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// The function's environment in Lambda: the standard `AWS_LAMBDA_*` variables, credentials and
/// region, and `PUSHDEPLOY_APP`; nothing else (the endpoint stands in for AWS).
fn start_function(runtime_port: u16, app: &str) -> Running {
    let child = Command::new(env!("CARGO_BIN_EXE_pushdeploy-lambda"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{runtime_port}/.rt"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", &emulator().endpoint)
        .env("PUSHDEPLOY_APP", app)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pushdeploy-lambda");
    Running(child)
}

#[tokio::test]
async fn the_function_binary_redeploys_under_the_lambda_runtime_api_of_cargo_lambda() {
    let app = App::new("runtime").await;
    app.service("web", vec![container("web", &image("demo/web", "v1"))])
        .await;
    app.config(json!([app.route("web", "demo/web")])).await;

    let port = free_port();
    let _watch = Running(
        cargo_lambda(&[
            "watch",
            "--only-lambda-apis",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cargo lambda watch"),
    );
    wait_for(port);
    let mut function = start_function(port, &app.name);

    let pushed = outcomes(&invoke(port, "ecr-push.json"));
    assert_eq!(pushed[0]["action"], "deployed", "{pushed}");
    assert_eq!(pushed[0]["service"], "web");
    let tagged_digest = "sha256:4b1f2c9a7e6d5c3b2a19087f6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d4c3b";
    assert_eq!(pushed[0]["image"], format!("{REGISTRY}/demo/web@{tagged_digest}"));
    assert_eq!(
        app.running_images("web").await[0].1,
        format!("{REGISTRY}/demo/web@{tagged_digest}")
    );

    // A push by digest alone (no tag) and the untagged manifests `docker buildx` pushes beside
    // its tagged index deploy nothing: only the tagged push decides what runs.
    for file in ["ecr-push-by-digest.json", "ecr-push-untagged-manifest.json"] {
        let o = outcomes(&invoke(port, file));
        assert_eq!(
            (o[0]["action"].as_str(), o[0]["reason"].as_str()),
            (Some("skipped"), Some("untagged")),
            "{file}: {o}"
        );
    }
    let again = outcomes(&invoke(port, "ecr-push.json"));
    assert_eq!(
        again[0]["reason"], "already-running",
        "a replayed event changes nothing: {again}"
    );
    let index = outcomes(&invoke(port, "ecr-push-image-index.json"));
    assert_eq!(
        index[0]["action"], "deployed",
        "the tagged image index is what buildx pushes: {index}"
    );
    for (file, reason) in [
        ("ecr-push.json", "older-than-running"),
        ("ecr-push-helm-chart.json", "not-an-image"),
        ("ecr-push-failed.json", "push-failed"),
        ("ecr-delete.json", "not-a-push"),
        ("ecr-push-unknown-repository.json", "no-matching-service"),
    ] {
        let o = outcomes(&invoke(port, file));
        assert_eq!(o[0]["action"], "skipped", "{file}: {o}");
        assert_eq!(o[0]["reason"], reason, "{file}: {o}");
    }
    for (file, field) in [
        ("malformed.json", "repository-name"),
        ("ecr-push-bad-tag.json", "image-tag"),
    ] {
        let failed = invoke(port, file);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&failed.stdout),
            String::from_utf8_lossy(&failed.stderr)
        );
        assert!(
            text.contains("Fatal.InvalidEvent") && text.contains(field),
            "{file}: {text}"
        );
    }

    let index_image =
        format!("{REGISTRY}/demo/web@sha256:a3c9e1f7b5d2048c6e8a0f1b3d5c7e9a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e");
    assert_eq!(app.running_images("web").await[0].1, index_image);

    // Deployment events of another cluster's service (the samples name demo/web): not routed.
    for file in ["ecs-deployment-completed.json", "ecs-deployment-failed.json"] {
        let o = outcomes(&invoke(port, file));
        assert_eq!(
            (
                o[0]["action"].as_str(),
                o[0]["reason"].as_str(),
                o[0]["service"].as_str()
            ),
            (Some("skipped"), Some("not-routed"), Some("web")),
            "{file}: {o}"
        );
        assert!(o[0]["deployment"].as_str().unwrap().starts_with("ecs-svc/"), "{o}");
    }
    // A push whose event never came: the schedule deploys it.
    let missed = crate::cli::put_image(&app, "demo/web", "v3", "5ced").await;
    let synced = outcomes(&invoke(port, "scheduled.json"));
    assert_eq!(
        (synced[0]["action"].as_str(), synced[0]["image"].as_str()),
        (Some("deployed"), Some(format!("{REGISTRY}/demo/web@{missed}").as_str())),
        "{synced}"
    );
    let again = outcomes(&invoke(port, "scheduled.json"));
    assert_eq!(again[0]["reason"], "already-running", "{again}");

    // Odd input: answered, nothing deployed, and the process lives on to answer the next one.
    let odd_dir = std::env::temp_dir().join(crate::fixture::unique("odd-events"));
    std::fs::create_dir_all(&odd_dir).unwrap();
    let revisions = app.revisions("web").await.len();
    for (n, payload) in [
        "null",
        "[]",
        "\"just a string\"",
        r#"{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-11-26T10:20:00Z","region":"us-east-1","resources":[],"detail":{"run":"all"}}"#,
        r#"{"version":"0","id":"x","detail-type":"ECS Deployment State Change","source":"aws.ecs","account":"123456789012","time":"2026-11-26T10:20:00Z","region":"us-east-1","resources":["not-an-arn"],"detail":{"eventType":"INFO","eventName":"SERVICE_DEPLOYMENT_COMPLETED","deploymentId":"ecs-svc/1"}}"#,
    ]
    .iter()
    .enumerate()
    {
        let file = odd_dir.join(format!("odd-{n}.json"));
        std::fs::write(&file, payload).unwrap();
        let answer = invoke(port, file.to_str().unwrap());
        let text = format!("{}{}", String::from_utf8_lossy(&answer.stdout), String::from_utf8_lossy(&answer.stderr));
        assert!(text.contains("Fatal.InvalidEvent"), "{payload}: {text}");
    }
    assert_eq!(
        app.revisions("web").await.len(),
        revisions,
        "odd input registers nothing"
    );
    let alive = outcomes(&invoke(port, "scheduled.json"));
    assert_eq!(
        alive[0]["reason"], "already-running",
        "the function still answers: {alive}"
    );

    // The function logged one JSON outcome line per service on stdout.
    let _ = function.0.kill();
    let out = function.0.wait_with_output_ref();
    let lines: Vec<Value> = out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(
        lines
            .iter()
            .any(|l| l["action"] == "deployed" && l["image"] == index_image.as_str())
            && lines.iter().any(|l| l["reason"] == "not-routed"),
        "no outcome line in the function's output:\n{out}"
    );
}

#[test]
fn the_function_refuses_to_start_without_naming_its_config() {
    let out = Command::new(env!("CARGO_BIN_EXE_pushdeploy-lambda"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PUSHDEPLOY_APP"), "{stderr}");
}

trait WaitOutput {
    fn wait_with_output_ref(&mut self) -> String;
}

impl WaitOutput for Child {
    /// Reads what the (already stopped) child printed on stdout.
    fn wait_with_output_ref(&mut self) -> String {
        use std::io::Read;
        let _ = self.wait();
        let mut text = String::new();
        if let Some(mut stdout) = self.stdout.take() {
            let _ = stdout.read_to_string(&mut text);
        }
        text
    }
}
