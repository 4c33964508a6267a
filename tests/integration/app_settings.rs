//! What a team runs on top of the first revision (issue 9): logs by default, environment,
//! command and health check from the app file, through `up`, a deploy and `pushdeploy logs`.

use pushdeploy_cli::app_file::{App, AppFile, HealthCheckSpec};
use pushdeploy_cli::commands::{status, up};
use pushdeploy_cli::progress::Progress;
use pushdeploy_cli::resources::{Change, Mode};

use crate::bootstrap::{app_name, context, up_ok, writes};
use crate::emulator::{emulator, sdk_config};
use crate::fixture::{digest, push_event};

fn with_settings(name: &str, environment: &[(&str, &str)]) -> App {
    let mut file = AppFile::default();
    file.log_retention_days = 14;
    let web = &mut file.services[0];
    web.environment = environment
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    web.command = vec!["serve".into(), "--port=80".into()];
    web.health_check = Some(HealthCheckSpec {
        command: vec!["CMD-SHELL".into(), "curl -f http://localhost/ || exit 1".into()],
        interval: 15,
        timeout: 3,
        retries: 4,
        start_period: 20,
    });
    App::resolve(file, Some(name), "defaults", None).unwrap()
}

async fn running(name: &str) -> aws_sdk_ecs::types::ContainerDefinition {
    let ecs = aws_sdk_ecs::Client::new(&sdk_config().await);
    let service = ecs
        .describe_services()
        .cluster(name)
        .services("web")
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone();
    ecs.describe_task_definition()
        .task_definition(service.task_definition().unwrap())
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .container_definitions()[0]
        .clone()
}

#[tokio::test]
async fn up_gives_the_container_logs_environment_command_and_health_check_and_a_second_up_writes_nothing() {
    let name = app_name("settings");
    let app = with_settings(&name, &[("LOG_LEVEL", "info"), ("REGION_NAME", "here")]);
    let (ctx, calls) = context().await;
    up_ok(&ctx, &app).await;

    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk_config().await);
    let group = format!("/pushdeploy/{name}/web");
    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(groups.log_groups().len(), 1);
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(14));

    let web = running(&name).await;
    let log = web.log_configuration().expect("awslogs");
    assert_eq!(log.log_driver().as_str(), "awslogs");
    let options = log.options().unwrap();
    assert_eq!(options.get("awslogs-group"), Some(&group));
    assert_eq!(options.get("awslogs-region").map(String::as_str), Some("us-east-1"));
    assert_eq!(options.get("awslogs-stream-prefix").map(String::as_str), Some("web"));
    let env: Vec<(&str, &str)> = web
        .environment()
        .iter()
        .map(|kv| (kv.name().unwrap(), kv.value().unwrap()))
        .collect();
    assert_eq!(env, [("LOG_LEVEL", "info"), ("REGION_NAME", "here")]);
    assert_eq!(web.command(), ["serve", "--port=80"]);
    let check = web.health_check().unwrap();
    assert_eq!(check.command(), ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]);
    assert_eq!(
        (check.interval(), check.timeout(), check.retries(), check.start_period()),
        (Some(15), Some(3), Some(4), Some(20))
    );

    calls.take();
    let again = up_ok(&ctx, &app).await;
    assert_eq!(writes(&calls), Vec::<String>::new());
    assert!(
        again.resources.iter().all(|r| r.change == Change::NoChange),
        "{:#?}",
        again.resources
    );
    let st = status::status(&app, &ctx).await.unwrap();
    assert_eq!(
        (st.services[0].log_group.as_str(), st.services[0].log_retention_days),
        (group.as_str(), Some(14))
    );
}

#[tokio::test]
async fn a_changed_environment_reaches_a_new_revision_with_the_deployed_image_kept() {
    let name = app_name("envchange");
    let app = with_settings(&name, &[("LOG_LEVEL", "info"), ("OLD", "1")]);
    let (ctx, calls) = context().await;
    up_ok(&ctx, &app).await;
    let sdk = sdk_config().await;
    let engine = pushdeploy::Engine::new(&sdk, format!("/pushdeploy/{name}/config"), std::time::Duration::ZERO);
    let d = digest(77);
    engine
        .handle_event(
            &push_event(&format!("{name}/web"), Some("v7"), &d, "2026-11-27T10:00:00Z"),
            "t",
        )
        .await
        .unwrap();
    let deployed = running(&name).await.image().unwrap().to_string();
    assert!(deployed.ends_with(&d), "{deployed}");

    let changed = with_settings(&name, &[("LOG_LEVEL", "debug"), ("NEW", "2")]);
    let plan = up::up(&changed, &ctx, Mode::Plan, &Progress::silent()).await.unwrap();
    let td = plan.resources.iter().find(|r| r.kind == "task definition").unwrap();
    assert_eq!(
        td.change,
        Change::Update(vec!["environment +NEW ~LOG_LEVEL -OLD".into()])
    );
    calls.take();
    up_ok(&ctx, &changed).await;
    assert_eq!(
        writes(&calls),
        [
            "SSM.PutParameter",
            "ECS.RegisterTaskDefinition",
            "ECS.UpdateService",
            "SSM.DeleteParameter"
        ],
        "one new revision under the deploy lock"
    );
    let web = running(&name).await;
    assert_eq!(web.image(), Some(deployed.as_str()), "the deployed image is kept");
    let env: Vec<(&str, &str)> = web
        .environment()
        .iter()
        .map(|kv| (kv.name().unwrap(), kv.value().unwrap()))
        .collect();
    assert_eq!(env, [("LOG_LEVEL", "debug"), ("NEW", "2")]);
    assert!(
        web.health_check().is_some() && web.log_configuration().is_some(),
        "the rest is kept"
    );
    let st = status::status(&changed, &ctx).await.unwrap();
    assert_eq!(
        st.services[0].tag.as_deref(),
        Some("v7"),
        "the revision's tags are kept"
    );
    calls.take();
    up_ok(&ctx, &changed).await;
    assert_eq!(writes(&calls), Vec::<String>::new());
}

#[tokio::test]
async fn pushdeploy_logs_prints_what_the_containers_logged_interleaved_across_tasks() {
    let name = app_name("logs");
    let app = with_settings(&name, &[]);
    let (ctx, _) = context().await;
    up_ok(&ctx, &app).await;
    // What the awslogs driver writes for two tasks: streams `<prefix>/<container>/<task id>`.
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk_config().await);
    let group = format!("/pushdeploy/{name}/web");
    let now = chrono::Utc::now().timestamp_millis();
    let lines = [
        ("0a1b2c3d4e5f60718293a4b5c6d7e8f9", now - 3000, "task one starts"),
        ("ffeeddccbbaa99887766554433221100", now - 2000, "task two starts"),
        ("0a1b2c3d4e5f60718293a4b5c6d7e8f9", now - 1000, "task one: GET / 200"),
    ];
    for task in ["0a1b2c3d4e5f60718293a4b5c6d7e8f9", "ffeeddccbbaa99887766554433221100"] {
        let stream = format!("web/web/{task}");
        logs.create_log_stream()
            .log_group_name(&group)
            .log_stream_name(&stream)
            .send()
            .await
            .unwrap();
        let events: Vec<_> = lines
            .iter()
            .filter(|(t, _, _)| *t == task)
            .map(|(_, at, message)| {
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                    .timestamp(*at)
                    .message(*message)
                    .build()
                    .unwrap()
            })
            .collect();
        logs.put_log_events()
            .log_group_name(&group)
            .log_stream_name(&stream)
            .set_log_events(Some(events))
            .send()
            .await
            .unwrap();
    }
    let endpoint = emulator().endpoint.clone();
    let env = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let out = crate::first_contact::run(
        &["logs", "--app", &name, "--service", "web", "--since", "1h"],
        &env,
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Vec<&str> = stdout.lines().map(|l| l.split_once(' ').unwrap().1).collect();
    assert_eq!(
        printed,
        [
            "web/0a1b2c3d task one starts",
            "web/ffeeddcc task two starts",
            "web/0a1b2c3d task one: GET / 200"
        ]
    );
    let json = crate::first_contact::run(
        &[
            "logs",
            "--app",
            &name,
            "--service",
            "web",
            "--since",
            "1h",
            "--output",
            "json",
        ],
        &env,
        &[],
    );
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&json.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["task"], "0a1b2c3d4e5f60718293a4b5c6d7e8f9");
    assert_eq!(
        (first["container"].as_str(), first["message"].as_str()),
        (Some("web"), Some("task one starts"))
    );

    let recent = crate::first_contact::run(
        &["logs", "--app", &name, "--service", "web", "--since", "1s"],
        &env,
        &[],
    );
    assert!(recent.status.success());
    assert_eq!(
        String::from_utf8_lossy(&recent.stdout),
        "",
        "--since leaves older lines out"
    );
    let unknown = crate::first_contact::run(&["logs", "--app", &name, "--service", "api"], &env, &[]);
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        !unknown.status.success() && said.contains("no service api") && said.contains("web"),
        "{said}"
    );
    let missing = crate::first_contact::run(&["logs", "--app", &app_name("nologs"), "--service", "web"], &env, &[]);
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success() && said.contains("pushdeploy up"), "{said}");
}
