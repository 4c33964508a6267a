//! What a team runs on top of the first revision (issue 9): logs by default, environment,
//! command and health check from the app file, through `up`, a deploy and `pushdeploy logs`.

use pushdeploy_cli::app_file::{App, AppFile, HealthCheckSpec};
use pushdeploy_cli::commands::{status, up};
use pushdeploy_cli::progress::Progress;
use pushdeploy_cli::resources::model::{Change, Mode};

use crate::bootstrap::{app_name, context, push_web, running_revision, up_converged, up_ok, writes};
use crate::emulator::{emulator, sdk_config};
use crate::fixture::digest;

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
    running_revision(name).await.container_definitions()[0].clone()
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

    up_converged(&ctx, &app, &calls).await;
    let st = status::status(&app, &ctx).await.unwrap();
    assert_eq!(
        (
            &st.services[0].details["log_group"],
            &st.services[0].details["log_retention_days"]
        ),
        (&serde_json::json!(group), &serde_json::json!(14))
    );
}

#[tokio::test]
async fn a_changed_environment_reaches_a_new_revision_with_the_deployed_image_kept() {
    let name = app_name("envchange");
    let app = with_settings(&name, &[("LOG_LEVEL", "info"), ("OLD", "1")]);
    let (ctx, calls) = context().await;
    up_ok(&ctx, &app).await;
    let d = digest(77);
    push_web(&name, "v7", &d, "2026-11-27T10:00:00Z").await;
    let deployed = running(&name).await.image().unwrap().to_string();
    assert!(deployed.ends_with(&d), "{deployed}");

    let changed = with_settings(&name, &[("LOG_LEVEL", "debug"), ("NEW", "2")]);
    let plan = up::up(&changed, &ctx, Mode::Preview, &Progress::silent())
        .await
        .unwrap();
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
            "DynamoDB.PutItem",
            "ECS.RegisterTaskDefinition",
            "ECS.UpdateService",
            "DynamoDB.DeleteItem"
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

/// The app file of a team's service: a secret, a task role and auto scaling on CPU and requests.
fn team_app(name: &str, secret: &str, scaling: bool) -> App {
    let mut text = format!(
        "[[services]]\nname = \"web\"\nsecrets = {{ DATABASE_URL = \"{secret}\" }}\ntask_role_policies = [\"arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess\"]\n"
    );
    if scaling {
        text.push_str(
            "[services.autoscaling]\nmin_count = 1\nmax_count = 4\ncpu_target = 60\nrequests_per_target = 500\n",
        );
    }
    let file: AppFile = toml::from_str(&text).unwrap();
    App::resolve(file, Some(name), "test", Some(&text)).unwrap()
}

async fn scalable(name: &str) -> (Vec<aws_sdk_applicationautoscaling::types::ScalableTarget>, Vec<String>) {
    let aas = aws_sdk_applicationautoscaling::Client::new(&sdk_config().await);
    let ns = aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs;
    let id = format!("service/{name}/web");
    let targets = aas
        .describe_scalable_targets()
        .service_namespace(ns.clone())
        .resource_ids(&id)
        .send()
        .await
        .unwrap()
        .scalable_targets()
        .to_vec();
    let policies = aas
        .describe_scaling_policies()
        .service_namespace(ns)
        .resource_id(&id)
        .send()
        .await
        .unwrap()
        .scaling_policies()
        .iter()
        .map(|p| {
            let config = p.target_tracking_scaling_policy_configuration().unwrap();
            let metric = config.predefined_metric_specification().unwrap();
            format!(
                "{} {} {} {}",
                p.policy_name(),
                metric.predefined_metric_type().as_str(),
                config.target_value(),
                metric.resource_label().unwrap_or("-")
            )
        })
        .collect();
    (targets, policies)
}

#[tokio::test]
async fn up_gives_secrets_by_reference_a_task_role_and_scaling_that_keeps_its_desired_count() {
    let name = app_name("team");
    let sdk = sdk_config().await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let parameter = format!("/{name}/database-url");
    ssm.put_parameter()
        .name(&parameter)
        .value("postgres://db")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let secret = format!("arn:aws:ssm:us-east-1:123456789012:parameter{parameter}");
    let app = team_app(&name, &secret, true);
    let (ctx, calls) = context().await;
    up_ok(&ctx, &app).await;

    // The revision: the secret by reference, the service's own task role.
    let revision = running_revision(&name).await;
    let task_role = format!("pushdeploy-{name}-web-task");
    assert!(
        revision
            .task_role_arn()
            .is_some_and(|a| a.ends_with(&format!(":role/pushdeploy/{name}/{task_role}"))),
        "{:?}",
        revision.task_role_arn()
    );
    let web = &revision.container_definitions()[0];
    let secrets: Vec<(&str, &str)> = web.secrets().iter().map(|s| (s.name(), s.value_from())).collect();
    assert_eq!(secrets, [("DATABASE_URL", secret.as_str())]);
    assert!(
        web.environment().is_empty(),
        "a secret's value is never in the revision"
    );

    // The roles: exactly the file's policy on the task role; the execution role reads exactly the
    // named parameter, and decrypts nothing (no key named).
    let iam = aws_sdk_iam::Client::new(&sdk);
    let attached: Vec<String> = iam
        .list_attached_role_policies()
        .role_name(&task_role)
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn.clone())
        .collect();
    assert_eq!(attached, ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]);
    let grant = iam
        .get_role_policy()
        .role_name(format!("pushdeploy-{name}-execution"))
        .policy_name("pushdeploy-secrets")
        .send()
        .await
        .unwrap();
    let grant = pushdeploy_cli::resources::role::policy_document(grant.policy_document());
    assert_eq!(
        grant["Statement"],
        serde_json::json!([{"Sid": "Parameters", "Effect": "Allow", "Action": "ssm:GetParameters", "Resource": [secret]}])
    );

    // Scaling: 1-4 tasks, tracking CPU and the load balancer's requests to this target group.
    let (targets, policies) = scalable(&name).await;
    assert_eq!(
        targets
            .iter()
            .map(|t| (t.min_capacity(), t.max_capacity()))
            .collect::<Vec<_>>(),
        [(1, 4)]
    );
    assert_eq!(policies.len(), 2, "{policies:?}");
    assert!(
        policies[0].starts_with("pushdeploy-cpu ECSServiceAverageCPUUtilization 60 -"),
        "{policies:?}"
    );
    assert!(
        policies[1].starts_with(&format!(
            "pushdeploy-requests ALBRequestCountPerTarget 500 app/pd-{name}/"
        )) && policies[1].contains(&format!("/targetgroup/pd-{name}-web/")),
        "{policies:?}"
    );

    // Converged: a second `up` writes nothing.
    up_converged(&ctx, &app, &calls).await;

    // A push deploys and completes on the strict emulator, which fails a task whose execution
    // role cannot read its secrets.
    let d = digest(91);
    push_web(&name, "v1", &d, "2026-11-27T11:00:00Z").await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    crate::fixture::eventually(
        "the deployment with the secret completes",
        std::time::Duration::from_secs(20),
        std::time::Duration::from_millis(200),
        || async {
            let s = ecs
                .describe_services()
                .cluster(&name)
                .services("web")
                .send()
                .await
                .unwrap();
            let s = &s.services()[0];
            s.deployments().len() == 1
                && s.deployments()[0].rollout_state().map(|r| r.as_str()) == Some("COMPLETED")
                && running_revision(&name).await.container_definitions()[0]
                    .image()
                    .is_some_and(|i| i.ends_with(&d))
        },
    )
    .await;

    // The scaler chose 3 tasks: `up` keeps them, and `status` shows the range and the count.
    ecs.update_service()
        .cluster(&name)
        .service("web")
        .desired_count(3)
        .send()
        .await
        .unwrap();
    calls.take();
    up_ok(&ctx, &app).await;
    assert_eq!(
        writes(&calls),
        Vec::<String>::new(),
        "the scaler's desired count is kept"
    );
    let st = Box::pin(status::status(&app, &ctx)).await.unwrap();
    let scaling = &st.services[0].details["scaling"];
    assert_eq!(
        (&scaling["min_count"], &scaling["max_count"], st.services[0].desired),
        (&serde_json::json!(1), &serde_json::json!(4), 3),
        "scaling shows"
    );

    // Scaling off again: the target (and its policies) go, and the file's count is back.
    let fixed = team_app(&name, &secret, false);
    let plan = Box::pin(up::up(&fixed, &ctx, Mode::Preview, &Progress::silent()))
        .await
        .unwrap();
    let changes: Vec<String> = plan
        .resources
        .iter()
        .filter(|r| r.change != Change::NoChange)
        .map(|r| format!("{} {:?}", r.kind, r.change))
        .collect();
    assert_eq!(
        changes,
        [
            "ecs service Update([\"desired count 3 -> 1\"])",
            "service scaling Update([\"scaling off: deregister\"])"
        ]
    );
    up_ok(&ctx, &fixed).await;
    assert!(scalable(&name).await.0.is_empty());
    up_converged(&ctx, &fixed, &calls).await;
}
