//! `pushdeploy up`, `plan`, `status`, `rollback`, `resume` and `down` against the emulator,
//! checked resource by resource through the SDK.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_ec2::types::Filter;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use futures::StreamExt;
use pushdeploy::config::AppConfig;
use pushdeploy::Action;
use pushdeploy_cli::app_file::{App, AppFile};
use pushdeploy_cli::cli::OutputFormat;
use pushdeploy_cli::commands::{down, rollback, status, up};
use pushdeploy_cli::progress::Progress;
use pushdeploy_cli::resources::model::{Change, Mode};
use pushdeploy_cli::resources::Options;
use pushdeploy_cli::Context;

use crate::emulator::{sdk_config, CallLog};
use crate::fixture::{digest, push_event, unique, REGISTRY};

const WRITE_PREFIXES: &[&str] = &[
    "Create",
    "Put",
    "Register",
    "Update",
    "Delete",
    "Deregister",
    "Attach",
    "Detach",
    "Add",
    "Remove",
    "Authorize",
    "Revoke",
    "Modify",
    "Set",
    "Tag",
    "Untag",
    "Run",
    "Terminate",
    "Start",
    "Cancel",
];

pub(crate) fn is_write(op: &str) -> bool {
    let name = op.split('.').nth(1).unwrap_or(op);
    WRITE_PREFIXES.iter().any(|p| name.starts_with(p))
}

pub(crate) fn writes(calls: &CallLog) -> Vec<String> {
    calls.take().into_iter().filter(|c| is_write(c)).collect()
}

/// A fresh app name that fits the load balancer's 32 characters.
pub(crate) fn app_name(prefix: &str) -> String {
    let long = unique(prefix);
    let (rest, salt) = long.rsplit_once('-').unwrap();
    format!("{rest}-{}", &salt[salt.len().saturating_sub(3)..])
        .chars()
        .take(16)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

pub(crate) fn app(name: &str) -> App {
    App::resolve(AppFile::default(), Some(name), "defaults", None).unwrap()
}

pub(crate) async fn context() -> (Context, CallLog) {
    let calls = CallLog::default();
    (
        Context::new(sdk_config().await, OutputFormat::Json).with_interceptor(calls.clone()),
        calls,
    )
}

/// `up`, boxed: its future is large in a debug build, and a test thread's stack is 2 MiB.
pub(crate) async fn up_ok(ctx: &Context, app: &App) -> up::UpReport {
    Box::pin(up::up(app, ctx, Mode::Apply, &Progress::silent()))
        .await
        .expect("up")
}

/// Runs `up` again on a converged app: no write, and every resource reports no change.
pub(crate) async fn up_converged(ctx: &Context, app: &App, calls: &CallLog) -> up::UpReport {
    calls.take();
    let again = up_ok(ctx, app).await;
    assert_eq!(writes(calls), Vec::<String>::new());
    assert!(
        again.resources.iter().all(|r| r.change == Change::NoChange),
        "{:#?}",
        again.resources
    );
    again
}

/// Deploys a push of `<name>/web` through the engine, as the function does.
pub(crate) async fn push_web(name: &str, tag: &str, d: &str, pushed_at: &str) {
    let sdk = sdk_config().await;
    let engine = pushdeploy::Engine::new(&sdk, format!("/pushdeploy/{name}/config"), std::time::Duration::ZERO);
    engine
        .handle_event(&push_event(&format!("{name}/web"), Some(tag), d, pushed_at), "t")
        .await
        .expect("the push deploys");
}

/// The revision service `web` of app `name` runs.
pub(crate) async fn running_revision(name: &str) -> aws_sdk_ecs::types::TaskDefinition {
    let ecs = aws_sdk_ecs::Client::new(&sdk_config().await);
    let services = ecs
        .describe_services()
        .cluster(name)
        .services("web")
        .send()
        .await
        .unwrap();
    ecs.describe_task_definition()
        .task_definition(services.services()[0].task_definition().unwrap())
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
}

#[tokio::test]
async fn a_fresh_up_creates_everything_wired_together() {
    let name = app_name("fresh");
    let app = app(&name);
    let (ctx, calls) = context().await;
    let result = up_ok(&ctx, &app).await;
    assert!(
        result.resources.iter().all(|r| r.change != Change::NoChange
            || ACCOUNT_KINDS.contains(&r.kind)
            || (r.kind == "service scaling" && r.state.as_deref() == Some("off"))),
        "{:#?}",
        result.resources
    );
    assert!(!writes(&calls).is_empty());
    let sdk = sdk_config().await;
    let prefix = format!("pushdeploy-{name}");

    // Security groups: the ALB open on 80 over IPv4 and IPv6; instances only from the ALB's group.
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let sg = |n: String| {
        let ec2 = ec2.clone();
        async move {
            let out = ec2
                .describe_security_groups()
                .filters(Filter::builder().name("group-name").values(n).build())
                .send()
                .await
                .unwrap();
            out.security_groups()[0].clone()
        }
    };
    let alb_sg = sg(format!("{prefix}-alb")).await;
    let inst_sg = sg(format!("{prefix}-instances")).await;
    let alb_perms = alb_sg.ip_permissions();
    assert!(alb_perms
        .iter()
        .any(|p| p.from_port() == Some(80) && p.ip_ranges().iter().any(|r| r.cidr_ip() == Some("0.0.0.0/0"))));
    assert!(alb_perms
        .iter()
        .any(|p| p.from_port() == Some(80) && p.ipv6_ranges().iter().any(|r| r.cidr_ipv6() == Some("::/0"))));
    assert!(
        !alb_perms.iter().any(|p| p.from_port() == Some(443)),
        "no 443 without a certificate"
    );
    let inst_perms = inst_sg.ip_permissions();
    assert_eq!(inst_perms.len(), 1);
    assert_eq!(
        (inst_perms[0].from_port(), inst_perms[0].to_port()),
        (Some(32768), Some(65535))
    );
    assert!(inst_perms[0].ip_ranges().is_empty() && inst_perms[0].ipv6_ranges().is_empty());
    assert_eq!(inst_perms[0].user_id_group_pairs()[0].group_id(), alb_sg.group_id());
    assert!(alb_sg
        .tags()
        .iter()
        .any(|t| t.key() == Some("pushdeploy:app") && t.value() == Some(name.as_str())));

    // IAM: roles with their managed policies, the profile holding the instance role.
    let iam = aws_sdk_iam::Client::new(&sdk);
    for (role, policy) in [
        ("instance", "AmazonEC2ContainerServiceforEC2Role"),
        ("execution", "AmazonECSTaskExecutionRolePolicy"),
    ] {
        let out = iam
            .list_attached_role_policies()
            .role_name(format!("{prefix}-{role}"))
            .send()
            .await
            .unwrap();
        assert!(
            out.attached_policies().iter().any(|p| p.policy_name() == Some(policy)),
            "{role}"
        );
        let r = iam
            .get_role()
            .role_name(format!("{prefix}-{role}"))
            .send()
            .await
            .unwrap()
            .role
            .unwrap();
        assert!(r
            .tags()
            .iter()
            .any(|t| t.key() == "pushdeploy:app" && t.value() == name));
    }
    let profile = iam
        .get_instance_profile()
        .instance_profile_name(format!("{prefix}-instance"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        profile.instance_profile.unwrap().roles()[0].role_name(),
        format!("{prefix}-instance")
    );

    // Launch template: ECS AMI from SSM, profile, instance SG, user data, IMDSv2 hop 1, encrypted root.
    let lt = ec2
        .describe_launch_template_versions()
        .launch_template_name(&prefix)
        .versions("$Latest")
        .send()
        .await
        .unwrap();
    let data = lt.launch_template_versions()[0].launch_template_data().unwrap().clone();
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    // EC2 resolves the public parameter at each launch: a new AMI release needs no new version.
    assert_eq!(
        data.image_id(),
        Some("resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id")
    );
    assert_eq!(
        data.iam_instance_profile().unwrap().name(),
        Some(format!("{prefix}-instance").as_str())
    );
    assert_eq!(data.security_group_ids(), [inst_sg.group_id().unwrap().to_string()]);
    let meta = data.metadata_options().unwrap();
    assert_eq!(meta.http_tokens().map(|t| t.as_str()), Some("required"));
    assert_eq!(meta.http_put_response_hop_limit(), Some(1));
    assert_eq!(data.block_device_mappings()[0].ebs().unwrap().encrypted(), Some(true));
    let user_data = String::from_utf8(base64_decode(data.user_data().unwrap())).unwrap();
    assert!(user_data.contains(&format!("ECS_CLUSTER={name}")), "{user_data}");

    // ALB, target group on the health path, listener forwarding to it.
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let (lb, listeners) = load_balancer_and_listeners(&elb, &name).await;
    assert_eq!(lb.security_groups(), [alb_sg.group_id().unwrap().to_string()]);
    let tg = elb
        .describe_target_groups()
        .names(format!("pd-{name}-web"))
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .clone();
    assert_eq!(tg.health_check_path(), Some("/"));
    // Health-checked every 10 s, healthy after 2 passes, drained in 30 s: not AWS's 5 minutes.
    assert_eq!(
        (tg.health_check_interval_seconds(), tg.healthy_threshold_count()),
        (Some(10), Some(2))
    );
    assert_eq!(deregistration_delay(&elb, tg.target_group_arn().unwrap()).await, "30");
    assert_eq!(listeners.listeners().len(), 1);
    let l = &listeners.listeners()[0];
    assert_eq!(l.port(), Some(80));
    assert_eq!(l.default_actions()[0].target_group_arn(), tg.target_group_arn());
    assert_eq!(result.url, Some(format!("http://{}", lb.dns_name().unwrap())));

    // Auto Scaling group, capacity provider with managed scaling as the cluster's default.
    let asg = aws_sdk_autoscaling::Client::new(&sdk);
    let group = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&prefix)
        .send()
        .await
        .unwrap()
        .auto_scaling_groups()[0]
        .clone();
    assert_eq!(
        (group.min_size(), group.max_size(), group.desired_capacity()),
        (Some(1), Some(2), Some(1))
    );
    assert_eq!(group.new_instances_protected_from_scale_in(), Some(true));
    assert_eq!(
        group.launch_template().unwrap().launch_template_name(),
        Some(prefix.as_str())
    );
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let cp = ecs
        .describe_capacity_providers()
        .capacity_providers(&prefix)
        .send()
        .await
        .unwrap()
        .capacity_providers()[0]
        .clone();
    let provider = cp.auto_scaling_group_provider().unwrap();
    assert_eq!(
        provider.auto_scaling_group_arn(),
        group.auto_scaling_group_arn().unwrap()
    );
    assert_eq!(
        provider.managed_scaling().unwrap().status().map(|s| s.as_str()),
        Some("ENABLED")
    );
    let cluster = ecs.describe_clusters().clusters(&name).send().await.unwrap().clusters()[0].clone();
    assert_eq!(cluster.capacity_providers(), std::slice::from_ref(&prefix));
    assert_eq!(
        cluster.default_capacity_provider_strategy()[0].capacity_provider(),
        prefix
    );

    // The service behind its target group, circuit breaker with rollback, on the capacity provider.
    let svc = ecs
        .describe_services()
        .cluster(&name)
        .services("web")
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone();
    assert_eq!(svc.load_balancers()[0].target_group_arn(), tg.target_group_arn());
    assert_eq!(svc.load_balancers()[0].container_name(), Some("web"));
    assert_eq!(svc.load_balancers()[0].container_port(), Some(80));
    let breaker = svc
        .deployment_configuration()
        .unwrap()
        .deployment_circuit_breaker()
        .unwrap();
    assert!(breaker.enable() && breaker.rollback());
    assert_eq!(svc.capacity_provider_strategy()[0].capacity_provider(), prefix);
    assert_eq!(svc.desired_count(), 1);
    let td = ecs
        .describe_task_definition()
        .task_definition(svc.task_definition().unwrap())
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    assert_eq!(
        td.container_definitions()[0].image(),
        Some(format!("{REGISTRY}/{name}/web:latest").as_str())
    );
    assert_eq!(td.container_definitions()[0].port_mappings()[0].host_port(), Some(0));
    assert_eq!(
        td.execution_role_arn(),
        result.sam_parameters.execution_role_arn.as_deref()
    );

    // ECR repository, and the routing config exactly as the engine reads it.
    let ecr = aws_sdk_ecr::Client::new(&sdk);
    let repo = ecr
        .describe_repositories()
        .repository_names(format!("{name}/web"))
        .send()
        .await
        .unwrap()
        .repositories()[0]
        .clone();
    assert_eq!(
        repo.image_scanning_configuration().map(|c| c.scan_on_push()),
        Some(true)
    );
    assert_eq!(repo.image_tag_mutability().map(|m| m.as_str()), Some("MUTABLE"));
    let doc = ssm
        .get_parameter()
        .name(format!("/pushdeploy/{name}/config"))
        .send()
        .await
        .unwrap();
    let config = AppConfig::parse(doc.parameter().unwrap().value().unwrap(), "p").unwrap();
    assert_eq!(config.app, name);
    assert_eq!(
        (config.services[0].cluster.as_str(), config.services[0].service.as_str()),
        (name.as_str(), "web")
    );
    assert_eq!(config.services[0].repository, format!("{name}/web"));
    assert_eq!(config.services[0].containers, ["web"]);
}

/// Kinds `up` observes but never creates (the account's).
const ACCOUNT_KINDS: &[&str] = &["vpc", "instance type", "service-linked role"];

/// A target group's deregistration delay, read through the SDK.
pub(crate) async fn deregistration_delay(elb: &aws_sdk_elasticloadbalancingv2::Client, arn: &str) -> String {
    let out = elb
        .describe_target_group_attributes()
        .target_group_arn(arn)
        .send()
        .await
        .unwrap();
    out.attributes()
        .iter()
        .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
        .and_then(|a| a.value())
        .unwrap()
        .to_string()
}

/// The app's load balancer and its listeners, read through the SDK.
pub(crate) async fn load_balancer_and_listeners(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    app: &str,
) -> (
    aws_sdk_elasticloadbalancingv2::types::LoadBalancer,
    aws_sdk_elasticloadbalancingv2::operation::describe_listeners::DescribeListenersOutput,
) {
    let out = elb
        .describe_load_balancers()
        .names(format!("pd-{app}"))
        .send()
        .await
        .unwrap();
    let lb = out.load_balancers()[0].clone();
    let listeners = elb
        .describe_listeners()
        .load_balancer_arn(lb.load_balancer_arn().unwrap())
        .send()
        .await
        .unwrap();
    (lb, listeners)
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[tokio::test]
async fn a_second_up_on_a_converged_app_makes_no_write_and_plan_says_no_change() {
    let app = app(&app_name("again"));
    let (ctx, calls) = context().await;
    up_ok(&ctx, &app).await;
    up_converged(&ctx, &app, &calls).await;
    let plan = up::up(&app, &ctx, Mode::Preview, &Progress::silent()).await.unwrap();
    assert!(plan.resources.iter().all(|r| r.change == Change::NoChange));
    assert_eq!(writes(&calls), Vec::<String>::new());
}

#[tokio::test]
async fn plan_on_a_fresh_app_lists_creations_and_writes_nothing() {
    let app = app(&app_name("plan"));
    let (ctx, calls) = context().await;
    let plan = up::up(&app, &ctx, Mode::Preview, &Progress::silent()).await.unwrap();
    assert_eq!(writes(&calls), Vec::<String>::new());
    let created: Vec<_> = plan
        .resources
        .iter()
        .filter(|r| r.change == Change::Create)
        .map(|r| r.kind)
        .collect();
    for kind in [
        "security group",
        "iam role",
        "ecs cluster",
        "load balancer",
        "target group",
        "listener",
        "launch template",
        "auto scaling group",
        "capacity provider",
        "ecs service",
        "routing config",
    ] {
        assert!(created.contains(&kind), "plan should create a {kind}: {created:?}");
    }
}

#[tokio::test]
async fn up_never_reverts_a_revision_the_lambda_deployed() {
    let name = app_name("keep");
    let app = app(&name);
    let (ctx, calls) = context().await;
    up_ok(&ctx, &app).await;
    let sdk = sdk_config().await;
    let engine = pushdeploy::Engine::new(
        &sdk,
        format!("/pushdeploy/{name}/config"),
        std::time::Duration::from_secs(60),
    );
    let d = digest(77);
    let outcomes = engine
        .handle_event(
            &push_event(&format!("{name}/web"), Some("v2"), &d, "2026-11-26T10:00:00Z"),
            "t",
        )
        .await
        .unwrap();
    assert_eq!(
        outcomes[0].action,
        Action::Deployed,
        "the Lambda reads the config up wrote: {outcomes:?}"
    );
    calls.take();
    up_ok(&ctx, &app).await;
    assert_eq!(writes(&calls), Vec::<String>::new());
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let svc = ecs
        .describe_services()
        .cluster(&name)
        .services("web")
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone();
    assert_eq!(svc.task_definition(), outcomes[0].task_definition.as_deref());

    // status shows what the Lambda deployed: revision, image, digest, readable tag.
    let st = status::status(&app, &ctx).await.unwrap();
    let web = &st.services[0];
    assert_eq!(web.task_definition, outcomes[0].task_definition);
    assert_eq!(web.digest.as_deref(), Some(d.as_str()));
    assert_eq!(web.tag.as_deref(), Some("v2"));
    assert_eq!(
        web.image.as_deref(),
        Some(format!("{REGISTRY}/{name}/web@{d}").as_str())
    );
    assert_eq!(web.rolled_back, None);
    assert!(
        st.resources.iter().all(|r| r.condition != status::Condition::Missing),
        "{:#?}",
        st.resources
    );
}

#[tokio::test]
async fn rollback_puts_the_previous_revision_back_and_pauses_until_resume() {
    let name = app_name("rollback");
    let app = app(&name);
    let (ctx, _) = context().await;
    up_ok(&ctx, &app).await;
    let sdk = sdk_config().await;
    let engine = pushdeploy::Engine::new(&sdk, format!("/pushdeploy/{name}/config"), std::time::Duration::ZERO);
    let repo = format!("{name}/web");
    // Images that are in ECR: a rollback refuses a revision whose image is not.
    let v1 = crate::cli::put_image_with(&sdk, &repo, "v1", "e1").await;
    let v2 = crate::cli::put_image_with(&sdk, &repo, "v2", "e2").await;
    let first = engine
        .handle_event(&push_event(&repo, Some("v1"), &v1, "2026-11-26T10:00:00Z"), "t")
        .await
        .unwrap();
    let second = engine
        .handle_event(&push_event(&repo, Some("v2"), &v2, "2026-11-26T10:01:00Z"), "t")
        .await
        .unwrap();

    let done = rollback::rollback(&ctx, &app, "web", None).await.unwrap();
    assert_eq!(Some(done.from.clone()), second[0].task_definition);
    assert_eq!(Some(done.to.clone()), first[0].task_definition);
    let st = status::status(&app, &ctx).await.unwrap();
    assert!(st.services[0].paused);
    assert_eq!(st.services[0].task_definition.as_deref(), Some(done.to.as_str()));

    let third = engine
        .handle_event(&push_event(&repo, Some("v3"), &digest(3), "2026-11-26T10:02:00Z"), "t")
        .await
        .unwrap();
    assert_eq!(third[0].reason, "paused");
    rollback::resume_service(&ctx, &app, "web").await.unwrap();
    let fourth = engine
        .handle_event(&push_event(&repo, Some("v3"), &digest(3), "2026-11-26T10:02:00Z"), "t")
        .await
        .unwrap();
    assert_eq!(fourth[0].action, Action::Deployed);
    assert!(!status::status(&app, &ctx).await.unwrap().services[0].paused);

    let err = rollback::rollback(&ctx, &app, "web", Some("999")).await.unwrap_err();
    assert!(err.to_string().contains("999"), "{err}");
}

#[tokio::test]
async fn status_does_not_guess_a_rollback_from_a_newer_revision_that_is_not_running() {
    let name = app_name("rolled");
    let app = app(&name);
    let (ctx, _) = context().await;
    up_ok(&ctx, &app).await;
    let sdk = sdk_config().await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    // A newer revision registered but never deployed (by hand, or a deploy that failed before
    // UpdateService) is no rollback: status says who rolled back only from ECS's facts
    // (readiness::status_says_when_ecs_circuit_breaker_rolled_a_bad_image_back).
    let running = ecs
        .describe_services()
        .cluster(&name)
        .services("web")
        .send()
        .await
        .unwrap()
        .services()[0]
        .task_definition()
        .unwrap()
        .to_string();
    let td = ecs
        .describe_task_definition()
        .task_definition(&running)
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap();
    ecs.register_task_definition()
        .family(td.family().unwrap())
        .set_container_definitions(Some(td.container_definitions().to_vec()))
        .send()
        .await
        .unwrap();
    let st = status::status(&app, &ctx).await.unwrap();
    assert_eq!(st.services[0].rolled_back, None);
    assert_eq!(st.services[0].rolled_back_by, None);
    assert_eq!(st.services[0].task_definition.as_deref(), Some(running.as_str()));
}

#[tokio::test]
async fn down_deletes_everything_and_can_run_again() {
    let name = app_name("down");
    let app = app(&name);
    let (ctx, _) = context().await;
    up_ok(&ctx, &app).await;
    let deleted = down::down(&ctx, &app, true, &Progress::silent()).await.unwrap();
    assert!(deleted.deleted.iter().any(|d| d.kind == "load balancer" && d.deleted));
    assert_eq!(
        inventory(&app).await,
        Vec::<String>::new(),
        "nothing of the app is left"
    );
    let again = down::down(&ctx, &app, true, &Progress::silent()).await.unwrap();
    assert!(again.deleted.iter().all(|d| !d.deleted), "{again:#?}");
}

/// Every resource of the app that still exists, by kind and name.
pub(crate) async fn inventory(app: &App) -> Vec<String> {
    let sdk = sdk_config().await;
    let name = &app.name;
    let prefix = format!("pushdeploy-{name}");
    let mut left = Vec::new();
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let sgs = ec2
        .describe_security_groups()
        .filters(Filter::builder().name("tag:pushdeploy:app").values(name).build())
        .send()
        .await
        .unwrap();
    left.extend(
        sgs.security_groups()
            .iter()
            .map(|g| format!("sg {}", g.group_name().unwrap())),
    );
    let lts = ec2
        .describe_launch_templates()
        .filters(Filter::builder().name("tag:pushdeploy:app").values(name).build())
        .send()
        .await
        .unwrap();
    left.extend(
        lts.launch_templates()
            .iter()
            .map(|t| format!("launch template {}", t.launch_template_name().unwrap())),
    );
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let mut pages = elb.describe_load_balancers().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        left.extend(
            page.load_balancers()
                .iter()
                .filter(|l| l.load_balancer_name() == Some(&format!("pd-{name}")))
                .map(|_| "load balancer".to_string()),
        );
    }
    let mut pages = elb.describe_target_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        left.extend(
            page.target_groups()
                .iter()
                .filter(|t| t.target_group_name().unwrap().starts_with(&format!("pd-{name}-")))
                .map(|t| format!("tg {}", t.target_group_name().unwrap())),
        );
    }
    let asg = aws_sdk_autoscaling::Client::new(&sdk);
    let groups = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&prefix)
        .send()
        .await
        .unwrap();
    left.extend(
        groups
            .auto_scaling_groups()
            .iter()
            .map(|_| "auto scaling group".to_string()),
    );
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let clusters = ecs.describe_clusters().clusters(name).send().await.unwrap();
    left.extend(
        clusters
            .clusters()
            .iter()
            .filter(|c| c.status() == Some("ACTIVE"))
            .map(|_| "cluster".to_string()),
    );
    if let Ok(listed) = ecs.list_services().cluster(name).send().await {
        for arn in listed.service_arns() {
            left.push(format!("service {arn}"));
        }
    }
    let cps = ecs
        .describe_capacity_providers()
        .capacity_providers(&prefix)
        .send()
        .await
        .unwrap();
    left.extend(
        cps.capacity_providers()
            .iter()
            .filter(|c| c.status().map(|s| s.as_str()) == Some("ACTIVE"))
            .map(|_| "capacity provider".to_string()),
    );
    // Every family of the app (`<app>-<service>`), also of services the file no longer lists.
    let tds = ecs
        .list_task_definitions()
        .family_prefix(format!("{name}-"))
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    left.extend(
        tds.task_definition_arns()
            .iter()
            .map(|a| format!("task definition {a}")),
    );
    let iam = aws_sdk_iam::Client::new(&sdk);
    for role in ["instance", "execution"] {
        if iam
            .get_role()
            .role_name(format!("{prefix}-{role}"))
            .send()
            .await
            .is_ok()
        {
            left.push(format!("role {role}"));
        }
    }
    if iam
        .get_instance_profile()
        .instance_profile_name(format!("{prefix}-instance"))
        .send()
        .await
        .is_ok()
    {
        left.push("instance profile".into());
    }
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let params = ssm
        .get_parameters_by_path()
        .path(format!("/pushdeploy/{name}"))
        .recursive(true)
        .send()
        .await
        .unwrap();
    left.extend(
        params
            .parameters()
            .iter()
            .map(|p| format!("parameter {}", p.name().unwrap())),
    );
    let ecr = aws_sdk_ecr::Client::new(&sdk);
    if ecr
        .describe_repositories()
        .repository_names(format!("{name}/web"))
        .send()
        .await
        .is_ok()
    {
        left.push("repository".into());
    }
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/pushdeploy/{name}/"))
        .send()
        .await
        .unwrap();
    left.extend(
        groups
            .log_groups()
            .iter()
            .map(|g| format!("log group {}", g.log_group_name().unwrap())),
    );
    left
}

/// Counts of each kind of resource, for "nothing duplicated" after an interrupted run.
async fn counts(app: &App) -> Vec<String> {
    let sdk = sdk_config().await;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let (_, listeners) = load_balancer_and_listeners(&elb, &app.name).await;
    let mut all = inventory(app).await;
    all.extend(
        listeners
            .listeners()
            .iter()
            .map(|l| format!("listener {}", l.port().unwrap())),
    );
    all.sort();
    all
}

/// Fails the n-th write call: before it is sent (the process died first), or after its response
/// arrived (the process died before recording it).
#[derive(Debug, Clone)]
pub(crate) struct Interrupt {
    nth: usize,
    after: bool,
    seen: Arc<AtomicUsize>,
}

impl Interrupt {
    /// Cuts the `nth` write short, `after` its answer arrived or before it is sent.
    pub(crate) fn new(nth: usize, after: bool) -> Interrupt {
        Interrupt {
            nth,
            after,
            seen: Arc::default(),
        }
    }

    fn check(&self, cfg: &ConfigBag) -> Result<(), BoxError> {
        let op = cfg.load::<Metadata>().map(|m| m.name().to_string()).unwrap_or_default();
        if is_write(&format!("x.{op}")) && self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.nth {
            return Err(format!("interrupted at write {} ({op})", self.nth).into());
        }
        Ok(())
    }
}

impl Intercept for Interrupt {
    fn name(&self) -> &'static str {
        "Interrupt"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.after {
            Ok(())
        } else {
            self.check(cfg)
        }
    }

    fn read_after_deserialization(
        &self,
        _context: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.after {
            self.check(cfg)
        } else {
            Ok(())
        }
    }
}

#[tokio::test]
async fn an_up_interrupted_at_any_write_is_finished_by_the_next_up_with_nothing_duplicated() {
    // The writes of one clean run: each is, in turn, where a run is cut short.
    let reference = app(&app_name("ref"));
    let (ctx, calls) = context().await;
    up_ok(&ctx, &reference).await;
    let total = writes(&calls).len();
    let expected: Vec<String> = counts(&reference)
        .await
        .into_iter()
        .map(|c| c.replace(&reference.name, "APP"))
        .collect();
    assert!(total >= 15, "a fresh up makes at least 15 writes, made {total}");
    println!(
        "a fresh up of the default app makes {total} write calls; cutting each short twice: {} cases",
        2 * total
    );

    let cases: Vec<(usize, bool)> = (1..=total).flat_map(|n| [(n, false), (n, true)]).collect();
    let expected = &expected;
    let failures: Vec<String> = futures::stream::iter(cases)
        .map(|(nth, after)| async move {
            let app = app(&app_name(if after { "cuta" } else { "cutb" }));
            let interrupt = Interrupt {
                nth,
                after,
                seen: Arc::default(),
            };
            let broken = Context::new(sdk_config().await, OutputFormat::Json).with_interceptor(interrupt);
            if up::up(&app, &broken, Mode::Apply, &Progress::silent()).await.is_ok() {
                return Some(format!("write {nth} (after={after}): the interrupted run did not fail"));
            }
            // A killed process's requests already on the wire still land; a person re-runs later.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let (ctx, calls) = context().await;
            if let Err(e) = up::up(&app, &ctx, Mode::Apply, &Progress::silent()).await {
                return Some(format!("write {nth} (after={after}): the resuming run failed: {e}"));
            }
            calls.take();
            up::up(&app, &ctx, Mode::Apply, &Progress::silent()).await.ok()?;
            let extra = writes(&calls);
            if !extra.is_empty() {
                return Some(format!(
                    "write {nth} (after={after}): not converged, a third run wrote {extra:?}"
                ));
            }
            let got: Vec<String> = counts(&app)
                .await
                .into_iter()
                .map(|c| c.replace(&app.name, "APP"))
                .collect();
            (got != *expected).then(|| {
                format!("write {nth} (after={after}): resources differ from a clean run:\n{got:?}\n{expected:?}")
            })
        })
        .buffer_unordered(4)
        .filter_map(|f| async move { f })
        .collect()
        .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn several_services_are_routed_by_path_and_host_behind_https_with_an_http_redirect() {
    let sdk = sdk_config().await;
    let cert = aws_sdk_acm::Client::new(&sdk)
        .request_certificate()
        .domain_name("example.com")
        .send()
        .await
        .unwrap();
    let name = app_name("multi");
    let text = format!(
        "name = \"{name}\"\ncertificate_arn = \"{}\"\n\n[[services]]\nname = \"web\"\n\n[[services]]\nname = \"api\"\nport = 8080\npath = \"/api/*\"\nhealth_check_path = \"/health\"\ntags = [\"v*\"]\n\n[[services]]\nname = \"admin\"\nhost = \"admin.example.com\"\n",
        cert.certificate_arn().unwrap()
    );
    let file = std::env::temp_dir().join(format!("{name}.toml"));
    std::fs::write(&file, text).unwrap();
    let app = App::load(Some(&file), None).unwrap();
    let (ctx, calls) = context().await;
    let result = up_ok(&ctx, &app).await;
    assert!(result.url.as_deref().unwrap().starts_with("https://"));

    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let (_, listeners) = load_balancer_and_listeners(&elb, &name).await;
    let by_port = |p: i32| {
        listeners
            .listeners()
            .iter()
            .find(|l| l.port() == Some(p))
            .unwrap()
            .clone()
    };
    let http = by_port(80);
    let redirect = http.default_actions()[0].redirect_config().expect("HTTP redirects");
    assert_eq!((redirect.protocol(), redirect.port()), (Some("HTTPS"), Some("443")));
    let https = by_port(443);
    assert_eq!(https.certificates()[0].certificate_arn(), cert.certificate_arn());
    let tg = |s: &str| elb.describe_target_groups().names(format!("pd-{name}-{s}"));
    let web_tg = tg("web").send().await.unwrap().target_groups()[0].clone();
    assert_eq!(https.default_actions()[0].target_group_arn(), web_tg.target_group_arn());
    let api_tg = tg("api").send().await.unwrap().target_groups()[0].clone();
    assert_eq!(api_tg.health_check_path(), Some("/health"));
    let rules = elb
        .describe_rules()
        .listener_arn(https.listener_arn().unwrap())
        .send()
        .await
        .unwrap();
    let described: Vec<String> = rules
        .rules()
        .iter()
        .filter(|r| !r.is_default().unwrap_or(false))
        .map(|r| {
            format!(
                "{} {}",
                r.priority().unwrap(),
                pushdeploy_cli::resources::listener_rule::Conditions::of(r.conditions())
            )
        })
        .collect();
    assert!(described.contains(&"10 path /api/*".to_string()), "{described:?}");
    assert!(
        described.contains(&"20 host admin.example.com".to_string()),
        "{described:?}"
    );

    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let sg = ec2
        .describe_security_groups()
        .filters(
            Filter::builder()
                .name("group-name")
                .values(format!("pushdeploy-{name}-alb"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(sg.security_groups()[0]
        .ip_permissions()
        .iter()
        .any(|p| p.from_port() == Some(443)));

    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let doc = ssm
        .get_parameter()
        .name(format!("/pushdeploy/{name}/config"))
        .send()
        .await
        .unwrap();
    let config = AppConfig::parse(doc.parameter().unwrap().value().unwrap(), "p").unwrap();
    assert_eq!(config.services.len(), 3);
    assert_eq!(config.services[1].tags, ["v*"]);
    calls.take();
    up_ok(&ctx, &app).await;
    assert_eq!(writes(&calls), Vec::<String>::new());
}

#[tokio::test]
async fn a_bad_app_file_is_rejected_before_any_call_with_its_line_and_field() {
    let file = std::env::temp_dir().join(format!("{}.toml", unique("bad")));
    std::fs::write(&file, "name = \"shop\"\nmax_instances = 0\n").unwrap();
    let err = App::load(Some(&file), None).unwrap_err().to_string();
    assert!(err.contains("line 2") && err.contains("at least 1"), "{err}");
    let missing = App::load(Some(std::path::Path::new("/nonexistent/pushdeploy.toml")), None)
        .unwrap_err()
        .to_string();
    assert!(missing.contains("pushdeploy init"), "{missing}");
}

#[tokio::test]
async fn up_wait_times_out_with_a_message_that_says_what_to_check() {
    let app = app(&app_name("wait"));
    let (ctx, _) = context().await;
    up_ok(&ctx, &app).await;
    // Instances that never join: the group emptied by hand (the emulator's ECS agent registers
    // the instances of a group whose user data names the cluster, as the real agent does).
    let sdk = sdk_config().await;
    // (Its instances are protected from scale-in, so they are detached, not scaled away.)
    let group = format!("pushdeploy-{}", app.name);
    let asg = aws_sdk_autoscaling::Client::new(&sdk);
    asg.update_auto_scaling_group()
        .auto_scaling_group_name(&group)
        .min_size(0)
        .send()
        .await
        .unwrap();
    let described = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&group)
        .send()
        .await
        .unwrap();
    let instances: Vec<String> = (described.auto_scaling_groups()[0].instances().iter())
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    assert!(!instances.is_empty(), "up launched instances");
    asg.detach_instances()
        .auto_scaling_group_name(&group)
        .set_instance_ids(Some(instances))
        .should_decrement_desired_capacity(true)
        .send()
        .await
        .unwrap();
    let (_, known) = up::converge(&app, &ctx, Mode::Preview, Options::default(), &Progress::silent())
        .await
        .unwrap();
    let err = up::wait_ready(
        &ctx,
        &app,
        &known,
        std::time::Duration::from_millis(10),
        &Progress::silent(),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        (text.contains("1 instance to join") || text.contains("instances to join"))
            && text.contains("pushdeploy status"),
        "{text}"
    );
}

#[test]
fn down_refuses_without_a_terminal_to_ask_on() {
    let app = app("quiet");
    let err = down::may_ask(&app, false).unwrap_err();
    assert!(err.to_string().contains("--yes"), "{err}");
    assert!(down::may_ask(&app, true).is_ok());
}

#[tokio::test]
async fn up_applies_new_cpu_and_memory_to_the_running_revision_and_keeps_the_deployed_image() {
    let name = app_name("resize");
    let app = app(&name);
    let (ctx, calls) = context().await;
    up_ok(&ctx, &app).await;
    let d = digest(5);
    push_web(&name, "v5", &d, "2026-11-26T10:00:00Z").await;

    let mut file = AppFile::default();
    file.services[0].memory = 1024;
    file.services[0].cpu = 512;
    let bigger = App::resolve(file, Some(&name), "defaults", None).unwrap();
    let plan = up::up(&bigger, &ctx, Mode::Preview, &Progress::silent()).await.unwrap();
    let td = plan.resources.iter().find(|r| r.kind == "task definition").unwrap();
    assert_eq!(
        td.change,
        Change::Update(vec!["cpu 256 -> 512".into(), "memory 512 -> 1024".into()])
    );
    calls.take();
    up_ok(&ctx, &bigger).await;
    let written = writes(&calls);
    assert!(
        written.contains(&"ECS.RegisterTaskDefinition".to_string()),
        "{written:?}"
    );

    let st = status::status(&bigger, &ctx).await.unwrap();
    assert_eq!(
        st.services[0].digest.as_deref(),
        Some(d.as_str()),
        "the deployed image is kept"
    );
    assert_eq!(st.services[0].tag.as_deref(), Some("v5"), "the revision tags are kept");
    let running = running_revision(&name).await;
    assert_eq!(running.task_definition_arn(), st.services[0].task_definition.as_deref());
    assert_eq!(running.container_definitions()[0].memory(), Some(1024));
    assert_eq!(running.container_definitions()[0].cpu(), 512);
    calls.take();
    up_ok(&ctx, &bigger).await;
    assert_eq!(writes(&calls), Vec::<String>::new());
}

#[tokio::test]
async fn up_reports_what_a_repository_already_holds() {
    let name = app_name("images");
    let app = app(&name);
    let (ctx, _) = context().await;
    let fixture = crate::fixture::App::new("images-fixture").await;
    crate::cli::put_image(&fixture, &format!("{name}/web"), "latest", "e1").await;
    crate::cli::put_image(&fixture, &format!("{name}/web"), "v1", "e2").await;
    let result = up_ok(&ctx, &app).await;
    let repo = result.resources.iter().find(|r| r.kind == "ecr repository").unwrap();
    // An existing repository is kept, and brought to the file's settings (scan on push by default).
    assert_eq!(repo.change, Change::Update(vec!["scan on push false -> true".into()]));
    assert_eq!(repo.state.as_deref(), Some("2 images, latest among them"));
    let sdk = sdk_config().await;
    let ecr = aws_sdk_ecr::Client::new(&sdk);
    let r = ecr
        .describe_repositories()
        .repository_names(format!("{name}/web"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.repositories()[0]
            .image_scanning_configuration()
            .map(|c| c.scan_on_push()),
        Some(true)
    );
}
