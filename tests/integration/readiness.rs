//! Real-AWS readiness (issue 7) on the strict emulator: each test pins one behaviour a first
//! real account needs and moto alone would let slip.

use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use pushdeploy::Action;
use pushdeploy_cli::app_file::App;
use pushdeploy_cli::cli::OutputFormat;
use pushdeploy_cli::commands::status::RolledBackBy;
use pushdeploy_cli::commands::{down, rollback, status, up};
use pushdeploy_cli::progress::Progress;
use pushdeploy_cli::resources::model::{AnyResource, Change, Mode};
use pushdeploy_cli::resources::{self, cluster, cluster_capacity, Options};
use pushdeploy_cli::{CliError, Context};
use serde_json::json;

use crate::bootstrap::{app, app_name, context, inventory, load_balancer_and_listeners, up_ok, writes};
use crate::emulator::{control, fresh_account, sdk_config, CallLog, ACCOUNT, REGION};
use crate::fixture::{digest, push_event, unique, REGISTRY};

/// An app from app-file text.
fn from_toml(text: &str) -> App {
    let file = std::env::temp_dir().join(format!("{}.toml", unique("app")));
    std::fs::write(&file, text).unwrap();
    App::load(Some(&file), None).unwrap()
}

fn engine(sdk: &aws_config::SdkConfig, app: &App) -> pushdeploy::Engine {
    pushdeploy::Engine::new(sdk, app.names.config_parameter(), Duration::ZERO)
}

/// Looks every 250 ms until `done`, for at most 30 s.
async fn eventually<F, Fut>(what: &str, done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    crate::fixture::eventually(what, Duration::from_secs(30), Duration::from_millis(250), done).await
}

async fn running_task_definition(app: &App, service: &str) -> String {
    let ecs = aws_sdk_ecs::Client::new(&sdk_config().await);
    let out = ecs
        .describe_services()
        .cluster(app.names.cluster())
        .services(service)
        .send()
        .await
        .unwrap();
    out.services()[0].task_definition().unwrap().to_string()
}

#[tokio::test]
async fn down_drains_finds_a_service_removed_from_the_file_and_up_works_right_after() {
    let name = app_name("redown");
    let two =
        format!("name = \"{name}\"\n[[services]]\nname = \"web\"\n[[services]]\nname = \"api\"\npath = \"/api/*\"\n");
    let (ctx, _) = context().await;
    up_ok(&ctx, &from_toml(&two)).await;
    // The file loses `api`: down must still delete its service, target group and revisions.
    let one = from_toml(&format!("name = \"{name}\"\n"));
    let deleted = down::down(&ctx, &one, true, &Progress::silent()).await.unwrap();
    assert!(
        deleted
            .deleted
            .iter()
            .any(|d| d.kind == "ecs service" && d.name.ends_with("/api") && d.deleted),
        "{deleted:#?}"
    );
    assert_eq!(
        inventory(&one).await,
        Vec::<String>::new(),
        "nothing of the app is left"
    );
    // The services went INACTIVE, not merely DRAINING: the cluster, capacity provider and all
    // could be deleted, and the same names are free for the next `up`.
    let again = up_ok(&ctx, &from_toml(&two)).await;
    assert!(again
        .resources
        .iter()
        .any(|r| r.kind == "ecs service" && r.name.ends_with("/api")));
}

#[tokio::test]
async fn a_capacity_provider_that_fails_to_delete_is_reported_with_ecs_reason() {
    let app = app(&app_name("cpfail"));
    let (ctx, _) = context().await;
    up_ok(&ctx, &app).await;
    let reason = "The capacity provider cannot be deleted because the Auto Scaling group has instances with scale-in protection.";
    control(
        "capacity-provider-deletion-failure",
        json!({"name": app.names.capacity(), "reason": reason}),
    );
    let err = down::down(&ctx, &app, false, &Progress::silent()).await.unwrap_err();
    assert!(matches!(err, CliError::CapacityProviderDeleteFailed { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("DELETE_FAILED") && text.contains(reason), "{text}");
}

#[tokio::test]
async fn detaching_the_capacity_provider_and_deleting_the_cluster_wait_while_a_service_drains() {
    let app = app(&app_name("drain"));
    let (ctx, _) = context().await;
    up_ok(&ctx, &app).await;
    let ecs = ctx.ecs();
    ecs.delete_service()
        .cluster(app.names.cluster())
        .service("web")
        .force(true)
        .send()
        .await
        .unwrap();
    // ECS refuses both while the service drains; they must wait, not fail.
    let list: Vec<Box<dyn AnyResource>> = vec![
        Box::new(cluster::Cluster::new(&app)),
        Box::new(cluster_capacity::ClusterCapacity::new(&app, true)),
    ];
    let started = Instant::now();
    let deleted = resources::teardown(&list, &ctx, false, &Progress::silent())
        .await
        .unwrap()
        .deleted;
    assert!(deleted.iter().all(|d| d.deleted), "{deleted:#?}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the emulator drains for 2 s: nothing waited"
    );
    let clusters = ecs
        .describe_clusters()
        .clusters(app.names.cluster())
        .send()
        .await
        .unwrap();
    assert_eq!(clusters.clusters()[0].status(), Some("INACTIVE"));
}

#[tokio::test]
async fn a_service_started_from_a_placeholder_image_takes_its_first_push() {
    let name = app_name("holder");
    let app = from_toml(&format!(
        "name = \"{name}\"\n[[services]]\nname = \"web\"\nimage = \"public.ecr.aws/nginx/nginx:stable\"\n"
    ));
    let (ctx, _) = context().await;
    up_ok(&ctx, &app).await;
    let st = status::status(&app, &ctx).await.unwrap();
    assert_eq!(
        st.services[0].image.as_deref(),
        Some("public.ecr.aws/nginx/nginx:stable")
    );
    let sdk = sdk_config().await;
    let d = digest(31);
    let outcomes = engine(&sdk, &app)
        .handle_event(
            &push_event(&format!("{name}/web"), Some("v1"), &d, "2026-11-26T10:00:00Z"),
            "t",
        )
        .await
        .expect("the first push finds the placeholder container");
    assert_eq!(outcomes[0].action, Action::Deployed);
    let st = status::status(&app, &ctx).await.unwrap();
    assert_eq!(st.services[0].image, Some(format!("{REGISTRY}/{name}/web@{d}")));
    let td = ctx
        .ecs()
        .describe_task_definition()
        .task_definition(running_task_definition(&app, "web").await)
        .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
        .send()
        .await
        .unwrap();
    assert!(
        !td.tags()
            .iter()
            .any(|t| t.key().is_some_and(|k| k.starts_with("pushdeploy:placeholder:"))),
        "the mark goes with the placeholder"
    );
}

#[tokio::test]
async fn up_in_a_fresh_account_creates_the_ecs_service_linked_role_and_waits_until_ecs_can_use_it() {
    let calls = CallLog::default();
    let ctx = Context::new(fresh_account("302010405060").await, OutputFormat::Json).with_interceptor(calls.clone());
    let app = app(&app_name("fresh-acct"));
    let result = up::up(&app, &ctx, Mode::Apply, &Progress::silent())
        .await
        .expect("up in a fresh account");
    let role = result
        .resources
        .iter()
        .find(|r| r.kind == "service-linked role")
        .unwrap();
    assert_eq!(role.change, Change::Create);
    let made = calls.take();
    assert!(made.contains(&"IAM.CreateServiceLinkedRole".to_string()));
    let cluster_attempts = made.iter().filter(|c| *c == "ECS.CreateCluster").count();
    assert!(
        cluster_attempts >= 2,
        "ECS could not use the new role at once: {made:?}"
    );
    // A second `up` finds the role and writes nothing.
    up::up(&app, &ctx, Mode::Apply, &Progress::silent()).await.unwrap();
    assert_eq!(writes(&calls), Vec::<String>::new());
}

#[tokio::test]
async fn adding_a_certificate_moves_the_rules_to_https_and_http_then_redirects() {
    let sdk = sdk_config().await;
    let cert = aws_sdk_acm::Client::new(&sdk)
        .request_certificate()
        .domain_name("shop.example.com")
        .send()
        .await
        .unwrap()
        .certificate_arn
        .unwrap();
    let name = app_name("certmove");
    let services =
        "[[services]]\nname = \"web\"\n[[services]]\nname = \"api\"\nhost = \"api.example.com\"\npath = \"/v1/*\"\n";
    let (ctx, calls) = context().await;
    let plain = from_toml(&format!("name = \"{name}\"\n{services}"));
    up_ok(&ctx, &plain).await;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let rules_on = |port: i32| {
        let elb = elb.clone();
        let name = name.clone();
        async move {
            let (_, listeners) = load_balancer_and_listeners(&elb, &name).await;
            let Some(l) = listeners.listeners().iter().find(|l| l.port() == Some(port)) else {
                return (None, Vec::new());
            };
            let rules = elb
                .describe_rules()
                .listener_arn(l.listener_arn().unwrap())
                .send()
                .await
                .unwrap();
            let ours: Vec<_> = rules
                .rules()
                .iter()
                .filter(|r| !r.is_default().unwrap_or(false))
                .cloned()
                .collect();
            (Some(l.clone()), ours)
        }
    };
    let (_, on_http) = rules_on(80).await;
    assert_eq!(on_http.len(), 1);
    let conditions = pushdeploy_cli::resources::listener_rule::Conditions::of(on_http[0].conditions());
    assert_eq!(
        conditions.to_string(),
        "host api.example.com & path /v1/*",
        "both honoured"
    );
    let tags = elb
        .describe_tags()
        .resource_arns(on_http[0].rule_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert!(tags.tag_descriptions()[0]
        .tags()
        .iter()
        .any(|t| t.key() == Some("pushdeploy:app") && t.value() == Some(name.as_str())));

    let secure = from_toml(&format!("name = \"{name}\"\ncertificate_arn = \"{cert}\"\n{services}"));
    up_ok(&ctx, &secure).await;
    let (http, on_http) = rules_on(80).await;
    assert!(on_http.is_empty(), "the rule left :80: {on_http:?}");
    let redirect = http.unwrap().default_actions()[0]
        .redirect_config()
        .cloned()
        .expect(":80 redirects");
    assert_eq!((redirect.protocol(), redirect.port()), (Some("HTTPS"), Some("443")));
    let (https, on_https) = rules_on(443).await;
    assert_eq!(https.unwrap().certificates()[0].certificate_arn(), Some(cert.as_str()));
    assert_eq!(on_https.len(), 1);
    assert_eq!(on_https[0].priority(), Some("10"));
    calls.take();
    up_ok(&ctx, &secure).await;
    assert_eq!(writes(&calls), Vec::<String>::new());
}

#[tokio::test]
async fn a_graviton_instance_type_gets_the_arm64_ami_as_ec2_reports_it() {
    // `a1` is Graviton, though its name has no `g`.
    let name = app_name("arm");
    let app = from_toml(&format!("name = \"{name}\"\ninstance_type = \"a1.medium\"\n"));
    let (ctx, _) = context().await;
    let result = up_ok(&ctx, &app).await;
    let arch = result.resources.iter().find(|r| r.kind == "instance type").unwrap();
    assert_eq!(arch.state.as_deref(), Some("arm64 (Graviton)"));
    let lt = ctx
        .ec2()
        .describe_launch_template_versions()
        .launch_template_name(app.names.capacity())
        .versions("$Latest")
        .send()
        .await
        .unwrap();
    assert_eq!(
        lt.launch_template_versions()[0]
            .launch_template_data()
            .unwrap()
            .image_id(),
        Some("resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id")
    );
}

#[tokio::test]
async fn a_routing_config_over_4_kb_goes_to_the_advanced_parameter_tier() {
    let name = app_name("bigcfg");
    let tags: Vec<String> = (0..100)
        .map(|i| format!("\"release-candidate-{i:03}-of-the-long-lived-branch-*\""))
        .collect();
    let app = from_toml(&format!(
        "name = \"{name}\"\n[[services]]\nname = \"web\"\ntags = [{}]\n",
        tags.join(", ")
    ));
    let size = app.routing_config().to_json().len();
    assert!(size > 4096 && size < 8192, "{size}");
    let (ctx, calls) = context().await;
    up_ok(&ctx, &app).await;
    // Read as the test, not as the CLI: the IAM proof holds the CLI to the laptop policy.
    let described = aws_sdk_ssm::Client::new(&sdk_config().await)
        .describe_parameters()
        .parameter_filters(
            aws_sdk_ssm::types::ParameterStringFilter::builder()
                .key("Name")
                .values(app.names.config_parameter())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(described.parameters()[0].tier().map(|t| t.as_str()), Some("Advanced"));
    calls.take();
    up_ok(&ctx, &app).await;
    assert_eq!(writes(&calls), Vec::<String>::new());
}

/// Fails every call of one operation before it is sent.
#[derive(Debug, Clone)]
struct FailOperation(&'static str);

impl Intercept for FailOperation {
    fn name(&self) -> &'static str {
        "FailOperation"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        match cfg.load::<Metadata>() {
            Some(m) if m.name() == self.0 => Err(format!("{} cut short", self.0).into()),
            _ => Ok(()),
        }
    }
}

#[tokio::test]
async fn rollback_pauses_before_it_updates_and_status_says_who_rolled_back() {
    let name = app_name("whorb");
    let app = app(&name);
    let (ctx, _) = context().await;
    up_ok(&ctx, &app).await;
    let sdk = sdk_config().await;
    let repo = format!("{name}/web");
    let engine = engine(&sdk, &app);
    for (i, tag) in ["v1", "v2"].iter().enumerate() {
        // In ECR: a rollback refuses a revision whose image is not.
        let pushed = crate::cli::put_image_with(&sdk, &repo, tag, &format!("f{i}")).await;
        engine
            .handle_event(
                &push_event(&repo, Some(tag), &pushed, &format!("2026-11-26T10:0{i}:00Z")),
                "t",
            )
            .await
            .unwrap();
    }
    let running = running_task_definition(&app, "web").await;
    // The update fails after the pause: the next push must not undo the person's rollback.
    let broken = Context::new(sdk.clone(), OutputFormat::Json).with_interceptor(FailOperation("UpdateService"));
    assert!(rollback::rollback(&broken, &app, "web", None).await.is_err());
    let st = status::status(&app, &ctx).await.unwrap();
    assert!(st.services[0].paused, "paused before the update");
    assert_eq!(st.services[0].task_definition.as_deref(), Some(running.as_str()));
    let pushed = engine
        .handle_event(&push_event(&repo, Some("v3"), &digest(62), "2026-11-26T10:03:00Z"), "t")
        .await
        .unwrap();
    assert_eq!(pushed[0].reason, "paused");

    let done = rollback::rollback(&ctx, &app, "web", None).await.unwrap();
    let st = status::status(&app, &ctx).await.unwrap();
    let web = &st.services[0];
    assert_eq!(web.rolled_back_by, Some(RolledBackBy::Person));
    let text = web.rolled_back.clone().unwrap();
    assert!(
        text.contains("rolled back by arn:aws:") && text.contains("pushdeploy resume"),
        "{text}"
    );
    assert!(
        done.note.contains(&done.to.rsplit('/').next().unwrap().to_string()),
        "{}",
        done.note
    );
}

#[tokio::test]
async fn status_says_when_ecs_circuit_breaker_rolled_a_bad_image_back() {
    let name = app_name("breaker");
    let app = app(&name);
    let (ctx, _) = context().await;
    up_ok(&ctx, &app).await;
    let sdk = sdk_config().await;
    let repo = format!("{name}/web");
    let engine = engine(&sdk, &app);
    let good = engine
        .handle_event(&push_event(&repo, Some("v1"), &digest(70), "2026-11-26T10:00:00Z"), "t")
        .await
        .unwrap();
    let good_td = good[0].task_definition.clone().unwrap();
    eventually("the good image's deployment completes", || async {
        let st = status::status(&app, &ctx).await.unwrap();
        st.services[0].deployments.len() == 1
            && st.services[0].deployments[0].rollout_state
                == Some(aws_sdk_ecs::types::DeploymentRolloutState::Completed)
    })
    .await;
    let bad = digest(71);
    control("bad-images", json!({"images": [bad]}));
    let deployed = engine
        .handle_event(&push_event(&repo, Some("v2"), &bad, "2026-11-26T10:01:00Z"), "t")
        .await
        .unwrap();
    let bad_td = deployed[0].task_definition.clone().unwrap();
    eventually("ECS rolls back to the good revision", || async {
        running_task_definition(&app, "web").await == good_td
    })
    .await;
    let st = status::status(&app, &ctx).await.unwrap();
    let web = &st.services[0];
    assert_eq!(web.rolled_back_by, Some(RolledBackBy::CircuitBreaker));
    let text = web.rolled_back.clone().unwrap();
    let short = |arn: &str| arn.rsplit('/').next().unwrap().to_string();
    assert!(
        text.contains("circuit breaker") && text.contains(&short(&bad_td)) && text.contains(&short(&good_td)),
        "{text}"
    );
    assert!(!web.paused, "ECS's rollback pauses nothing");
}

#[tokio::test]
async fn up_wait_waits_only_for_services_that_have_an_image() {
    let name = app_name("waitimg");
    let app = from_toml(&format!(
        "name = \"{name}\"\n[[services]]\nname = \"web\"\nimage = \"public.ecr.aws/nginx/nginx:stable\"\n[[services]]\nname = \"api\"\npath = \"/api/*\"\n"
    ));
    let (ctx, _) = context().await;
    let (_, known) = up::converge(&app, &ctx, Mode::Apply, Options::default(), &Progress::silent())
        .await
        .unwrap();
    assert!(up::has_image(&app, &known, "web"), "the placeholder runs");
    assert!(!up::has_image(&app, &known, "api"), "api waits for its first push");
    engine(&sdk_config().await, &app)
        .handle_event(
            &push_event(&format!("{name}/api"), Some("v1"), &digest(80), "2026-11-26T10:00:00Z"),
            "t",
        )
        .await
        .unwrap();
    let (_, known) = up::converge(&app, &ctx, Mode::Preview, Options::default(), &Progress::silent())
        .await
        .unwrap();
    assert!(up::has_image(&app, &known, "api"), "a deploy's pinned image");
}

#[tokio::test]
async fn a_new_ami_release_changes_nothing_until_asked_and_status_says_instances_are_older() {
    let app = app(&app_name("newami"));
    let (ctx, calls) = context().await;
    up_ok(&ctx, &app).await;
    let asg_state = |r: &up::UpReport| {
        r.resources
            .iter()
            .find(|r| r.kind == "auto scaling group")
            .and_then(|r| r.state.clone())
            .unwrap()
    };
    control(
        "ecs-ami",
        json!({"account": ACCOUNT, "region": REGION, "architecture": "x86_64", "image_id": format!("ami-{:017x}", 0xfeed_u64)}),
    );
    calls.take();
    let plain = up_ok(&ctx, &app).await;
    assert_eq!(writes(&calls), Vec::<String>::new(), "a new AMI is no drift");
    assert!(asg_state(&plain).contains("1 on an older AMI"), "{}", asg_state(&plain));
    let st = status::status(&app, &ctx).await.unwrap();
    let group = st.resources.iter().find(|r| r.kind == "auto scaling group").unwrap();
    assert!(group.words().contains("--refresh-instances"), "{}", group.words());

    let (refreshed, _) = up::converge(
        &app,
        &ctx,
        Mode::Apply,
        Options {
            refresh_instances: true,
            teardown: false,
        },
        &Progress::silent(),
    )
    .await
    .unwrap();
    assert!(writes(&calls).contains(&"Auto Scaling.StartInstanceRefresh".to_string()));
    assert!(
        asg_state(&refreshed).contains("refreshing"),
        "{}",
        asg_state(&refreshed)
    );
    let after = up_ok(&ctx, &app).await;
    assert_eq!(asg_state(&after), "1 instance", "the instance now runs the current AMI");
}

#[tokio::test]
async fn a_changed_deregistration_delay_reaches_the_target_group() {
    let name = app_name("dereg");
    let (ctx, _) = context().await;
    up_ok(&ctx, &from_toml(&format!("name = \"{name}\"\n"))).await;
    let faster = from_toml(&format!(
        "name = \"{name}\"\n[[services]]\nname = \"web\"\nderegistration_delay = 5\n"
    ));
    let result = up_ok(&ctx, &faster).await;
    let tg = result.resources.iter().find(|r| r.kind == "target group").unwrap();
    assert_eq!(tg.change, Change::Update(vec!["deregistration delay 30s -> 5s".into()]));
    let elb = ctx.elbv2();
    let arn = elb
        .describe_target_groups()
        .names(faster.names.target_group("web"))
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    assert_eq!(crate::bootstrap::deregistration_delay(&elb, &arn).await, "5");
}

#[tokio::test]
async fn untagged_and_artifact_pushes_change_nothing() {
    let name = app_name("artifacts");
    let app = app(&name);
    let (ctx, calls) = context().await;
    up_ok(&ctx, &app).await;
    let before = running_task_definition(&app, "web").await;
    let engine = engine(&sdk_config().await, &app);
    let mut helm = push_event(
        &format!("{name}/web"),
        Some("1.4.0"),
        &digest(90),
        "2026-11-26T10:00:00Z",
    );
    helm["detail"]["artifact-media-type"] = json!("application/vnd.cncf.helm.config.v1+json");
    let untagged = push_event(&format!("{name}/web"), None, &digest(91), "2026-11-26T10:00:01Z");
    calls.take();
    for (event, reason) in [(helm, "not-an-image"), (untagged, "untagged")] {
        let o = engine.handle_event(&event, "t").await.unwrap();
        assert_eq!((o[0].action, o[0].reason.as_str()), (Action::Skipped, reason));
    }
    assert_eq!(running_task_definition(&app, "web").await, before);
    let listed = ctx
        .ecs()
        .list_task_definitions()
        .family_prefix(app.names.family("web"))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.task_definition_arns().len(), 1, "nothing registered");
}
