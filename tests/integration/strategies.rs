//! Canary and linear services (issue 19): `up` gives a service with `strategy = "canary"` or
//! `"linear"` two `ip` target groups, `awsvpc` tasks in their own security group, the rule ECS
//! moves traffic on and the role it does it with; a push still only registers a revision and
//! updates the service, and ECS walks the traffic over in the strategy's steps. An alarm in ALARM
//! during the bake time rolls it back and the function reports `failed`, `alarm`. A second `up`
//! after ECS moved the weights writes nothing; `down` leaves nothing. Through the real binary
//! and the engine, on the strict emulator (one emulated minute lasts a second there).

use std::process::Output;
use std::time::Duration;

use aws_sdk_cloudwatch::types::StateValue;
use pushdeploy::outcome::Reason;
use pushdeploy::Action;

use crate::fixture::{eventually, unique, App};
use crate::outcomes::{deployment_event, deployment_in, one, push_now, put_later};

fn pd(args: &[&str], file: &str) -> Output {
    crate::first_hour::pd(args, &[("pushdeploy.toml", file)])
}

fn ok(out: &Output) -> String {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    stdout
}

/// `family:N` of a task-definition ARN.
fn short(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_string()
}

/// The production weights of the app's first service, from the listener's default rule, as
/// `(first group's, second group's)`.
async fn weights(app: &App, name: &str) -> (i32, i32) {
    weights_of(app, name, &format!("pd-{name}-web-a"), &format!("pd-{name}-web-b")).await
}

/// The production weights of groups `first` and `second` in the default rule of app `name`.
async fn weights_of(app: &App, name: &str, first: &str, second: &str) -> (i32, i32) {
    let action = default_action(app, name).await;
    let groups = action.forward_config().unwrap().target_groups();
    let of = |group: &str| {
        (groups.iter())
            .find(|g| g.target_group_arn().unwrap().contains(&format!("/{group}/")))
            .and_then(|g| g.weight())
            .unwrap_or(-1)
    };
    (of(first), of(second))
}

/// The default rule's action of app `name`'s listener.
async fn default_action(app: &App, name: &str) -> aws_sdk_elasticloadbalancingv2::types::Action {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&app.sdk);
    let lbs = elb
        .describe_load_balancers()
        .names(format!("pd-{name}"))
        .send()
        .await
        .unwrap();
    let lb = lbs.load_balancers()[0].load_balancer_arn().unwrap().to_string();
    let listeners = elb.describe_listeners().load_balancer_arn(lb).send().await.unwrap();
    let listener = listeners.listeners()[0].listener_arn().unwrap().to_string();
    let rules = elb.describe_rules().listener_arn(listener).send().await.unwrap();
    let default = rules.rules().iter().find(|r| r.is_default() == Some(true)).unwrap();
    default.actions()[0].clone()
}

/// The lifecycle stage of the `web` service's newest service deployment.
async fn stage(app: &App) -> Option<String> {
    let list = (app.ecs.list_service_deployments())
        .cluster(&app.cluster)
        .service("web")
        .send()
        .await
        .unwrap();
    let newest = (list.service_deployments().iter()).max_by_key(|b| b.created_at().map(|t| t.as_nanos()))?;
    let described = (app.ecs.describe_service_deployments())
        .service_deployment_arns(newest.service_deployment_arn()?)
        .send()
        .await
        .unwrap();
    let stage = described.service_deployments().first()?.lifecycle_stage()?;
    Some(stage.as_str().to_string())
}

/// Waits until `web` has one deployment and it completed (`what` names it in a timeout).
async fn settled(app: &App, what: &str) {
    eventually(what, Duration::from_secs(60), Duration::from_millis(200), || async {
        let svc = app.described("web").await;
        svc.deployments().len() == 1 && svc.deployments()[0].rollout_state().map(|s| s.as_str()) == Some("COMPLETED")
    })
    .await;
}

/// Every pair of weights the rule shows until `done` says the walk is over.
async fn walk(app: &App, name: &str, until: &str, task_definition: &str) -> Vec<(i32, i32)> {
    let groups = (format!("pd-{name}-web-a"), format!("pd-{name}-web-b"));
    walk_groups(app, name, &groups, until, task_definition).await
}

/// [`walk`] over the weights of `groups`.
async fn walk_groups(
    app: &App,
    name: &str,
    groups: &(String, String),
    until: &str,
    task_definition: &str,
) -> Vec<(i32, i32)> {
    let mut seen: Vec<(i32, i32)> = Vec::new();
    let start = std::time::Instant::now();
    loop {
        let now = weights_of(app, name, &groups.0, &groups.1).await;
        if seen.last() != Some(&now) {
            seen.push(now);
        }
        let svc = app.described("web").await;
        let over = svc.deployments().iter().any(|d| {
            d.rollout_state().map(|s| s.as_str()) == Some(until) && d.task_definition() == Some(task_definition)
        });
        if over {
            return seen;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no {until} deployment: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_canary_shifts_ten_percent_then_the_rest_and_an_alarm_in_its_bake_rolls_it_back() {
    let name = unique("canary");
    let file = format!(
        "name = \"{name}\"\n[[services]]\nname = \"web\"\n[services.deployment]\nstrategy = \"canary\"\n\
         canary_percent = 10\ncanary_bake_minutes = 3\nbake_minutes = 8\n"
    );
    let up = ok(&pd(&["up"], &file));
    assert!(up.contains(&format!("pd-{name}-web-b")), "{up}");
    let app = App::attach(&name).await;
    let svc = app.described("web").await;
    let config = svc.deployment_configuration().unwrap();
    assert_eq!(config.strategy().map(|s| s.as_str()), Some("CANARY"));
    assert_eq!(
        config
            .canary_configuration()
            .map(|c| (c.canary_percent(), c.canary_bake_time_in_minutes())),
        Some((Some(10.0), Some(3)))
    );
    let advanced = svc.load_balancers()[0].advanced_configuration().unwrap();
    assert!(advanced
        .alternate_target_group_arn()
        .unwrap()
        .contains(&format!("/pd-{name}-web-b/")));
    assert!(advanced
        .role_arn()
        .unwrap()
        .ends_with(&format!("/pushdeploy-{name}-ecs-infrastructure")));
    let awsvpc = svc
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .unwrap();
    assert_eq!(awsvpc.security_groups().len(), 1);
    assert!(ok(&pd(&["plan"], &file)).contains("plan: 0 of "), "converged");

    // A push: the canary's group takes 10%, then everything, and the deployment completes.
    let repo = format!("{name}/web");
    let v1 = put_later(&app, &repo, "v1", "canary-1").await;
    let deployed = app.handle(&push_now(&repo, "v1", &v1)).await.unwrap();
    let good = one(&deployed).task_definition.clone().unwrap();
    let seen = walk(&app, &name, "COMPLETED", &good).await;
    let start = seen[0];
    let end = *seen.last().unwrap();
    assert_eq!((start.0 + start.1, end.0 + end.1), (100, 100), "{seen:?}");
    assert!(
        seen.iter().any(|w| w.0 == 90 && w.1 == 10 || w.0 == 10 && w.1 == 90),
        "a 10% step: {seen:?}"
    );
    assert_ne!(start, end, "traffic moved to the other group: {seen:?}");
    // ECS moved the weights: that is no drift.
    assert!(ok(&pd(&["plan"], &file)).contains("plan: 0 of "), "after a shift");

    // A longer bake is an update of the service, nothing else.
    let file = file.replace("bake_minutes = 8", "bake_minutes = 120");
    let plan = ok(&pd(&["plan"], &file));
    assert!(
        plan.contains("bake 8 min -> canary 10% for 3 min, bake 120 min"),
        "{plan}"
    );
    ok(&pd(&["up"], &file));
    assert!(ok(&pd(&["plan"], &file)).contains("plan: 0 of "), "converged");

    // The next push bakes; an alarm goes off during the bake: ECS rolls back.
    let v2 = put_later(&app, &repo, "v2", "canary-2").await;
    let push = push_now(&repo, "v2", &v2);
    let bad = one(&app.handle(&push).await.unwrap()).task_definition.clone().unwrap();
    eventually(
        "the bake time",
        Duration::from_secs(90),
        Duration::from_millis(100),
        || async { stage(&app).await.as_deref() == Some("BAKE_TIME") },
    )
    .await;
    let status = ok(&pd(&["status"], &file));
    assert!(
        status.contains("deploying: BAKE_TIME") && status.contains("of bake time left"),
        "{status}"
    );
    let alarm = format!("pushdeploy-{name}-web-5xx");
    aws_sdk_cloudwatch::Client::new(&app.sdk)
        .set_alarm_state()
        .alarm_name(&alarm)
        .state_value(StateValue::Alarm)
        .state_reason("test: 5xx from the new revision")
        .send()
        .await
        .unwrap();
    let (failed_id, reason) = deployment_in(&app, "web", "FAILED", &bad).await;
    assert!(reason.contains(&alarm), "{reason}");
    let failed = app
        .handle(&deployment_event(
            &app,
            "web",
            &failed_id,
            "SERVICE_DEPLOYMENT_FAILED",
            &reason,
        ))
        .await
        .unwrap();
    let failed = one(&failed);
    assert_eq!(
        (failed.action, &failed.reason),
        (Action::Failed, &Reason::Alarm),
        "{failed:?}"
    );
    assert_eq!(failed.alarms, [alarm]);
    assert_eq!(weights(&app, &name).await, end, "traffic back on the good revision");
    eventually(
        "the rollback",
        crate::outcomes::ROLLOUT,
        crate::outcomes::EVERY,
        || async { app.running_arn("web").await == good },
    )
    .await;
    let replay = app.handle(&push).await.unwrap();
    assert_eq!(
        (one(&replay).action, one(&replay).reason.as_str()),
        (Action::Skipped, "failed-before")
    );

    // A pipeline that must not block through a long bake waits until the traffic shifted.
    let v3 = put_later(&app, &repo, "v3", "canary-3").await;
    assert!(!v3.is_empty());
    let image = format!("{repo}:v3");
    let args = [
        "deploy",
        "--service",
        "web",
        "--image",
        image.as_str(),
        "--wait",
        "--wait-until",
        "shifted",
    ];
    let out = pd(&args, &file);
    let shifted = ok(&out);
    assert!(shifted.contains("all production traffic is on"), "{shifted}");
    // The progress says the stage with the weights ECS set.
    let progress = format!("{shifted}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        progress.contains(&format!("production pd-{name}-web-")) && progress.contains("10%"),
        "{progress}"
    );
    let now = stage(&app).await;
    assert!(
        matches!(now.as_deref(), Some("POST_PRODUCTION_TRAFFIC_SHIFT" | "BAKE_TIME")),
        "{now:?}"
    );

    let down = ok(&pd(&["down", "--yes"], &file));
    assert!(
        down.contains(&format!("pushdeploy-{name}-ecs-infrastructure")),
        "{down}"
    );
    nothing_left(&app, &name, &file).await;
}

/// After `down`: what a staged service adds is gone (and `status` finds no app).
async fn nothing_left(app: &App, name: &str, file: &str) {
    let status = pd(&["status"], file);
    assert!(String::from_utf8_lossy(&status.stderr).contains(&format!("no app {name}")));
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&app.sdk);
    for group in ["a", "b"] {
        let found = elb
            .describe_target_groups()
            .names(format!("pd-{name}-web-{group}"))
            .send()
            .await;
        assert!(found.is_err(), "target group {group} left: {found:?}");
    }
    let iam = aws_sdk_iam::Client::new(&app.sdk);
    let role = iam
        .get_role()
        .role_name(format!("pushdeploy-{name}-ecs-infrastructure"))
        .send()
        .await;
    assert!(role.is_err(), "role left: {role:?}");
    let ec2 = aws_sdk_ec2::Client::new(&app.sdk);
    let groups = ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values(format!("pushdeploy-{name}-tasks"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(groups.security_groups().is_empty(), "{groups:?}");
    let cw = aws_sdk_cloudwatch::Client::new(&app.sdk);
    let alarms = cw
        .describe_alarms()
        .alarm_name_prefix(format!("pushdeploy-{name}-"))
        .send()
        .await
        .unwrap();
    assert!(alarms.metric_alarms().is_empty(), "{alarms:?}");
}

#[tokio::test]
async fn a_linear_service_steps_through_its_weights_and_status_shows_them() {
    let name = unique("linear");
    let file = format!(
        "name = \"{name}\"\n[[services]]\nname = \"web\"\n[services.deployment]\nstrategy = \"linear\"\n\
         step_percent = 34\nstep_bake_minutes = 5\nbake_minutes = 0\n"
    );
    ok(&pd(&["up"], &file));
    let app = App::attach(&name).await;
    let repo = format!("{name}/web");
    let v1 = put_later(&app, &repo, "v1", "linear-1").await;
    let deployed = app.handle(&push_now(&repo, "v1", &v1)).await.unwrap();
    let revision = one(&deployed).task_definition.clone().unwrap();
    eventually(
        "the first step",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            let status = String::from_utf8_lossy(&pd(&["status"], &file).stdout).into_owned();
            status.contains("34%") && status.contains("66%") && status.contains("linear 34% every 5 min")
        },
    )
    .await;
    let seen = walk(&app, &name, "COMPLETED", &revision).await;
    let moved: Vec<i32> = seen.iter().map(|w| w.0.min(w.1)).collect();
    assert!(moved.contains(&34), "34% first: {seen:?}");
    assert!(moved.contains(&32) && moved.contains(&0), "then 68% and 100%: {seen:?}");
    // Back to rolling is not done in place: refused before anything is written.
    let rolling = file.replace(
        "strategy = \"linear\"\nstep_percent = 34\nstep_bake_minutes = 5\nbake_minutes = 0\n",
        "",
    );
    for command in ["plan", "up"] {
        let refused = pd(&[command], &rolling);
        let stderr = String::from_utf8_lossy(&refused.stderr).into_owned();
        assert!(!refused.status.success(), "{command}");
        assert!(
            stderr.contains(
                "now has linear 34% every 5 min, bake 0 min deployments; the file asks for rolling deployments"
            ) && stderr.contains("nothing was changed"),
            "{command}: {stderr}"
        );
    }
    assert!(ok(&pd(&["plan"], &file)).contains("plan: 0 of "), "nothing changed");

    // A test listener added: its own listener and rule, opened in the load balancer's group,
    // and the load balancers sent again (a new deployment).
    let tested = format!("{file}test_port = 8081\n");
    let plan = ok(&pd(&["plan"], &tested));
    assert!(
        plan.contains("HTTP :8081 (test, web)") && plan.contains("test listener rule -> on (a new deployment)"),
        "{plan}"
    );
    assert!(plan.contains("allow tcp 8081 from 0.0.0.0/0"), "{plan}");
    // Each awsvpc task takes an interface; a deployment runs both sets (t3.small: 3 interfaces).
    assert!(
        plan.contains("3 network interfaces: 2 awsvpc tasks an instance; 2 at most in a deployment need 1 instance"),
        "{plan}"
    );
    ok(&pd(&["up"], &tested));
    let svc = app.described("web").await;
    let test_rule = (svc.load_balancers()[0].advanced_configuration())
        .and_then(|a| a.test_listener_rule())
        .expect("a test listener rule")
        .to_string();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&app.sdk);
    let rules = elb.describe_rules().rule_arns(&test_rule).send().await.unwrap();
    let rule = &rules.rules()[0];
    assert_eq!(rule.is_default(), Some(true));
    assert_eq!(rule.actions()[0].forward_config().unwrap().target_groups().len(), 2);
    settled(&app, "the deployment the test listener started").await;
    assert!(ok(&pd(&["plan"], &tested)).contains("plan: 0 of "), "converged");
    assert!(ok(&pd(&["status"], &tested)).contains("HTTP :8081 (test, web)"));
    // Moved to another port: a new listener, the service's rule follows, the old listener goes,
    // and so does the old port's opening (a rule the user added to the group stays).
    let ec2 = aws_sdk_ec2::Client::new(&app.sdk);
    let alb_group = || async {
        let filter = aws_sdk_ec2::types::Filter::builder()
            .name("group-name")
            .values(format!("pushdeploy-{name}-alb"))
            .build();
        let groups = ec2.describe_security_groups().filters(filter).send().await.unwrap();
        groups.security_groups()[0].clone()
    };
    let user_rule = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(9000)
        .to_port(9000)
        .ip_ranges(
            aws_sdk_ec2::types::IpRange::builder()
                .cidr_ip("10.0.0.0/8")
                .description("mine")
                .build(),
        )
        .build();
    let group_id = alb_group().await.group_id().unwrap().to_string();
    (ec2.authorize_security_group_ingress().group_id(&group_id))
        .ip_permissions(user_rule)
        .send()
        .await
        .unwrap();
    let moved = tested.replace("test_port = 8081", "test_port = 8082");
    let plan = ok(&pd(&["plan"], &moved));
    assert!(
        plan.contains("HTTP :8082 (test, web)") && plan.contains("test listener rule -> on"),
        "{plan}"
    );
    assert!(
        plan.contains("allow tcp 8082 from 0.0.0.0/0")
            && plan.contains("listener :8081 no service tests on -> deleted, its port closed")
            && !plan.contains("9000"),
        "{plan}"
    );
    ok(&pd(&["up"], &moved));
    let mut open: Vec<i32> = (alb_group().await.ip_permissions().iter())
        .filter_map(|p| p.from_port())
        .collect();
    open.sort_unstable();
    open.dedup();
    assert_eq!(open, [80, 8082, 9000], "8081 revoked, the user's 9000 kept");
    let ports = || async {
        let lbs = (elb.describe_load_balancers().names(format!("pd-{name}")).send().await).unwrap();
        let lb = lbs.load_balancers()[0].load_balancer_arn().unwrap().to_string();
        let listeners = elb.describe_listeners().load_balancer_arn(lb).send().await.unwrap();
        let mut ports: Vec<i32> = listeners.listeners().iter().filter_map(|l| l.port()).collect();
        ports.sort_unstable();
        ports
    };
    assert_eq!(ports().await, [80, 8082]);
    settled(&app, "the deployment the moved test listener started").await;
    assert!(ok(&pd(&["plan"], &moved)).contains("plan: 0 of "), "converged");
    let plain = file;
    let file = moved;

    // A rollback during the next deployment has ECS stop it: traffic goes back at once.
    let settled = weights(&app, &name).await;
    let v2 = put_later(&app, &repo, "v2", "linear-2").await;
    let next = one(&app.handle(&push_now(&repo, "v2", &v2)).await.unwrap())
        .task_definition
        .clone()
        .unwrap();
    eventually(
        "the first step of the next deployment",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            let now = weights(&app, &name).await;
            now.0.min(now.1) == 34
        },
    )
    .await;
    let rolled = ok(&pd(&["rollback", "--service", "web"], &file));
    assert!(
        rolled.contains(&short(&next)) && rolled.contains(&short(&revision)),
        "{rolled}"
    );
    // ECS's record of the stopped deployment carries stoppedAt: the function says `stopped`.
    let (stopped, words) = deployment_in(&app, "web", "FAILED", &next).await;
    let change = deployment_event(&app, "web", &stopped, "SERVICE_DEPLOYMENT_FAILED", &words);
    let out = app.handle(&change).await.unwrap();
    assert_eq!(
        (one(&out).action, &one(&out).reason),
        (Action::Failed, &Reason::Stopped),
        "{out:?}"
    );
    eventually(
        "traffic back",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || async { weights(&app, &name).await == settled },
    )
    .await;
    eventually(
        "ECS's rollback",
        crate::outcomes::ROLLOUT,
        crate::outcomes::EVERY,
        || async { app.running_arn("web").await == revision },
    )
    .await;
    assert!(ok(&pd(&["status"], &file)).contains("PAUSED"));
    // A file without the test port: `down` still finds the test listener, which would keep the
    // target groups in use.
    ok(&pd(&["down", "--yes"], &plain));
    nothing_left(&app, &name, &plain).await;
}

/// An `ECS Hook State Change` as ECS sends it when a deployment of `app`'s `web` reaches a pause.
fn hook_event(app: &App) -> serde_json::Value {
    use crate::emulator::{ACCOUNT, REGION};
    serde_json::json!({
        "version": "0", "id": unique("hook"), "detail-type": "ECS Hook State Change", "source": "aws.ecs",
        "account": ACCOUNT, "time": "2026-12-01T10:00:00Z", "region": REGION,
        "resources": [format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/{}/web", app.cluster)],
        "detail": {"eventName": "HOOK_AWAITING_ACTION"}
    })
}

/// Waits until the newest deployment of `web` waits at its pause.
async fn paused(app: &App) {
    eventually(
        "the pause for approval",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async { stage(app).await.as_deref() == Some("POST_TEST_TRAFFIC_SHIFT") },
    )
    .await;
}

#[tokio::test]
async fn a_blue_green_deployment_waits_for_approval_approve_completes_it_and_reject_rolls_it_back() {
    let name = unique("approve");
    let file = format!(
        "name = \"{name}\"\n[[services]]\nname = \"web\"\n[services.deployment]\nstrategy = \"blue-green\"\n\
         bake_minutes = 1\napprove_before_production = true\n"
    );
    ok(&pd(&["up"], &file));
    let app = App::attach(&name).await;
    // The service's first deployment waits too.
    paused(&app).await;
    assert!(ok(&pd(&["approve", "--service", "web"], &file)).contains("approved"));

    let repo = format!("{name}/web");
    let v1 = put_later(&app, &repo, "v1", "approve-1").await;
    let good = one(&app.handle(&push_now(&repo, "v1", &v1)).await.unwrap())
        .task_definition
        .clone()
        .unwrap();
    paused(&app).await;
    let before = weights(&app, &name).await;
    let waiting = app.handle(&hook_event(&app)).await.unwrap();
    let waiting = one(&waiting);
    assert_eq!(
        (waiting.action, waiting.reason.as_str()),
        (Action::AwaitingApproval, "pause-hook"),
        "{waiting:?}"
    );
    let pause = waiting.pause.as_ref().unwrap();
    assert_eq!(pause.stage.as_deref(), Some("POST_TEST_TRAFFIC_SHIFT"));
    assert_eq!(pause.timeout_action.as_deref(), Some("ROLLBACK"));
    assert!(pause.expires_at.is_some(), "{pause:?}");
    assert!(ok(&pd(&["status"], &file)).contains("deploying: POST_TEST_TRAFFIC_SHIFT"));
    assert_eq!(
        weights(&app, &name).await,
        before,
        "no production traffic moves before approval"
    );
    let approved = ok(&pd(&["approve", "--service", "web"], &file));
    assert!(
        approved.contains("approved") && approved.contains(&format!("{name}-web:")),
        "{approved}"
    );
    let seen = walk(&app, &name, "COMPLETED", &good).await;
    assert_ne!(*seen.last().unwrap(), before, "traffic moved after approval: {seen:?}");

    // The next one is rejected: ECS rolls it back before production traffic reaches it.
    let v2 = put_later(&app, &repo, "v2", "approve-2").await;
    let push = push_now(&repo, "v2", &v2);
    let bad = one(&app.handle(&push).await.unwrap()).task_definition.clone().unwrap();
    paused(&app).await;
    let kept = weights(&app, &name).await;
    assert!(ok(&pd(&["reject", "--service", "web"], &file)).contains("rejected"));
    let (failed_id, reason) = deployment_in(&app, "web", "FAILED", &bad).await;
    let failed = app
        .handle(&deployment_event(
            &app,
            "web",
            &failed_id,
            "SERVICE_DEPLOYMENT_FAILED",
            &reason,
        ))
        .await
        .unwrap();
    assert_eq!(
        (one(&failed).action, one(&failed).reason.as_str()),
        (Action::Failed, "hook"),
        "{failed:?}"
    );
    assert_eq!(weights(&app, &name).await, kept, "production traffic never moved");
    let replay = app.handle(&push).await.unwrap();
    assert_eq!(
        (one(&replay).action, one(&replay).reason.as_str()),
        (Action::Skipped, "failed-before")
    );
    // Nothing waits now: approve says so and fails.
    let idle = pd(&["approve", "--service", "web"], &file);
    assert!(!idle.status.success());
    assert!(String::from_utf8_lossy(&idle.stderr).contains("no deployment waiting for approval"));
    ok(&pd(&["down", "--yes"], &file));
    nothing_left(&app, &name, &file).await;
}

#[tokio::test]
async fn a_fargate_only_app_has_no_instances_and_its_pushes_deploy() {
    let name = unique("fargate");
    let file =
        format!("name = \"{name}\"\n[[services]]\nname = \"web\"\ncapacity = \"fargate\"\ncpu = 256\nmemory = 1024\n");
    let up = ok(&pd(&["up"], &file));
    assert!(
        !up.contains("auto scaling group") && !up.contains("launch template"),
        "{up}"
    );
    let app = App::attach(&name).await;
    let groups = aws_sdk_autoscaling::Client::new(&app.sdk)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(format!("pushdeploy-{name}"))
        .send()
        .await
        .unwrap();
    assert!(groups.auto_scaling_groups().is_empty(), "{groups:?}");
    let clusters = app.ecs.describe_clusters().clusters(&app.cluster).send().await.unwrap();
    assert_eq!(clusters.clusters()[0].capacity_providers(), ["FARGATE"]);
    let svc = app.described("web").await;
    let providers: Vec<&str> = (svc.capacity_provider_strategy().iter())
        .map(|s| s.capacity_provider())
        .collect();
    assert_eq!(providers, ["FARGATE"]);
    let awsvpc = svc
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .unwrap();
    assert_eq!(awsvpc.assign_public_ip().map(|a| a.as_str()), Some("ENABLED"));
    let (definition, _) = app.task_definition(svc.task_definition().unwrap()).await;
    assert_eq!(
        (
            definition.cpu(),
            definition.memory(),
            definition.network_mode().map(|m| m.as_str())
        ),
        (Some("256"), Some("1024"), Some("awsvpc"))
    );
    assert_eq!(definition.requires_compatibilities()[0].as_str(), "FARGATE");
    assert!(ok(&pd(&["plan"], &file)).contains("plan: 0 of "), "converged");

    let repo = format!("{name}/web");
    let v1 = put_later(&app, &repo, "v1", "fargate-1").await;
    let revision = one(&app.handle(&push_now(&repo, "v1", &v1)).await.unwrap())
        .task_definition
        .clone()
        .unwrap();
    deployment_in(&app, "web", "COMPLETED", &revision).await;
    assert_eq!(app.running_arn("web").await, revision);
    // A rolling service back on instances is not done in place (its tasks would change network):
    // refused before anything is written.
    let ec2 = file.replace("capacity = \"fargate\"\n", "");
    let refused = pd(&["up"], &ec2);
    assert!(!refused.status.success());
    let refused = String::from_utf8_lossy(&refused.stderr);
    assert!(
        refused.contains("now has rolling deployments with its tasks on Fargate")
            && refused.contains("without dropping requests"),
        "{refused}"
    );

    // Rolling on Fargate to canary is AWS's path in place: the same service keeps its group as
    // the first of two, a rolling deployment gives ECS the second, then the strategy changes.
    let canary = format!(
        "{file}[services.deployment]\nstrategy = \"canary\"\ncanary_percent = 10\ncanary_bake_minutes = 2\n\
         bake_minutes = 0\n"
    );
    let plan = ok(&pd(&["plan"], &canary));
    assert!(plan.contains("rolling -> canary 10% for 2 min"), "{plan}");
    let created = svc.created_at().cloned();
    ok(&pd(&["up"], &canary));
    let svc = app.described("web").await;
    assert_eq!(svc.created_at(), created.as_ref(), "not recreated");
    assert_eq!(
        svc.deployment_configuration()
            .and_then(|c| c.strategy())
            .map(|s| s.as_str()),
        Some("CANARY")
    );
    let lb = &svc.load_balancers()[0];
    assert!(
        lb.target_group_arn().unwrap().contains(&format!("/pd-{name}-web/")),
        "{lb:?}"
    );
    let alternate = lb.advanced_configuration().and_then(|a| a.alternate_target_group_arn());
    assert!(alternate.unwrap().contains(&format!("/pd-{name}-web-b/")), "{lb:?}");
    assert_eq!(app.running_arn("web").await, revision, "the same revision still runs");
    let groups = (format!("pd-{name}-web"), format!("pd-{name}-web-b"));
    assert_eq!(weights_of(&app, &name, &groups.0, &groups.1).await, (100, 0));
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&app.sdk);
    let a = elb
        .describe_target_groups()
        .names(format!("pd-{name}-web-a"))
        .send()
        .await;
    assert!(a.is_err(), "no third group: {a:?}");
    assert!(
        ok(&pd(&["plan"], &canary)).contains("plan: 0 of "),
        "converged after the switch"
    );
    // A push walks the canary: 10%, then everything.
    let v2 = put_later(&app, &repo, "v2", "fargate-2").await;
    let second = one(&app.handle(&push_now(&repo, "v2", &v2)).await.unwrap())
        .task_definition
        .clone()
        .unwrap();
    let seen = walk_groups(&app, &name, &groups, "COMPLETED", &second).await;
    assert!(seen.contains(&(90, 10)) && seen.last() == Some(&(0, 100)), "{seen:?}");
    assert!(
        ok(&pd(&["plan"], &canary)).contains("plan: 0 of "),
        "converged after a shift"
    );

    // Back to rolling, in place too, with a bigger task in the same `up`: the service keeps the
    // group production traffic is on (the second now), the rule forwards to it alone, the
    // strategy changes and one rolling deployment brings the new revision into that group.
    let bigger = file.replace("memory = 1024", "memory = 2048");
    let plan = ok(&pd(&["plan"], &bigger));
    assert!(
        plan.contains("canary 10% for 2 min, bake 0 min -> rolling") && plan.contains("second target group -> none"),
        "{plan}"
    );
    ok(&pd(&["up"], &bigger));
    let svc = app.described("web").await;
    assert_eq!(svc.created_at(), created.as_ref(), "not recreated");
    assert_eq!(
        svc.deployment_configuration()
            .and_then(|c| c.strategy())
            .map(|s| s.as_str()),
        Some("ROLLING")
    );
    let lbs = svc.load_balancers();
    assert_eq!(lbs.len(), 1);
    assert!(
        lbs[0].target_group_arn().unwrap().contains(&format!("/{}/", groups.1)),
        "{lbs:?}"
    );
    assert!(lbs[0].advanced_configuration().is_none(), "{lbs:?}");
    let forward = default_action(&app, &name).await;
    let one_group = match forward.forward_config() {
        Some(f) => f.target_groups().iter().filter_map(|g| g.target_group_arn()).collect(),
        None => vec![forward.target_group_arn().unwrap()],
    };
    assert!(
        one_group.len() == 1 && one_group[0].contains(&format!("/{}/", groups.1)),
        "{forward:?}"
    );
    let resized = svc.task_definition().unwrap().to_string();
    assert_ne!(resized, second, "the new size is a new revision");
    assert_eq!(app.task_definition(&resized).await.0.memory(), Some("2048"));
    deployment_in(&app, "web", "COMPLETED", &resized).await;
    assert!(
        ok(&pd(&["plan"], &bigger)).contains("plan: 0 of "),
        "converged after going back"
    );

    // And staged again from there: the second group stays first, the first is the second now.
    let canary_again = canary.replace("memory = 1024", "memory = 2048");
    ok(&pd(&["up"], &canary_again));
    let svc = app.described("web").await;
    let lb = &svc.load_balancers()[0];
    assert!(
        lb.target_group_arn().unwrap().contains(&format!("/{}/", groups.1)),
        "{lb:?}"
    );
    let alternate = lb.advanced_configuration().and_then(|a| a.alternate_target_group_arn());
    assert!(alternate.unwrap().contains(&format!("/pd-{name}-web-a/")), "{lb:?}");
    let flipped = (groups.1.clone(), format!("pd-{name}-web-a"));
    assert_eq!(weights_of(&app, &name, &flipped.0, &flipped.1).await, (100, 0));
    assert!(ok(&pd(&["plan"], &canary_again)).contains("plan: 0 of "), "converged");
    let v3 = put_later(&app, &repo, "v3", "fargate-3").await;
    let third = one(&app.handle(&push_now(&repo, "v3", &v3)).await.unwrap())
        .task_definition
        .clone()
        .unwrap();
    let seen = walk_groups(&app, &name, &flipped, "COMPLETED", &third).await;
    assert!(seen.contains(&(90, 10)) && seen.last() == Some(&(0, 100)), "{seen:?}");

    // Having switched on Fargate, it moves to the instances (the second step `up` names for
    // rolling on Fargate to canary there): it keeps the groups it had, and stays converged.
    let on_instances = canary_again.replace("capacity = \"fargate\"", "capacity = \"ec2\"");
    ok(&pd(&["up"], &on_instances));
    let moved = app.running_arn("web").await;
    let seen = walk_groups(&app, &name, &flipped, "COMPLETED", &moved).await;
    assert!(seen.contains(&(10, 90)) && seen.last() == Some(&(100, 0)), "{seen:?}");
    let svc = app.described("web").await;
    let lb = &svc.load_balancers()[0];
    assert!(
        lb.target_group_arn().unwrap().contains(&format!("/{}/", groups.1)),
        "{lb:?}"
    );
    let plan = ok(&pd(&["plan"], &on_instances));
    assert!(plan.contains("plan: 0 of "), "converged on the instances: {plan}");
    ok(&pd(&["down", "--yes"], &canary_again));
    let status = pd(&["status"], &file);
    assert!(String::from_utf8_lossy(&status.stderr).contains(&format!("no app {name}")));
    for group in [&groups.0, &groups.1, &flipped.1] {
        let found = elb.describe_target_groups().names(group).send().await;
        assert!(found.is_err(), "{group} left: {found:?}");
    }
}

/// Where `web` runs as ECS has it: its providers, what its revision requires with the task's
/// size, whether its tasks get a public address, and its image.
async fn placed(app: &App) -> String {
    let svc = app.described("web").await;
    let providers: Vec<&str> = (svc.capacity_provider_strategy().iter())
        .map(|s| s.capacity_provider())
        .collect();
    let public = (svc.network_configuration().and_then(|n| n.awsvpc_configuration()))
        .and_then(|a| a.assign_public_ip())
        .map(|p| p.as_str().to_string());
    let (definition, _) = app.task_definition(svc.task_definition().unwrap()).await;
    let requires: Vec<&str> = definition
        .requires_compatibilities()
        .iter()
        .map(|c| c.as_str())
        .collect();
    let image = definition.container_definitions()[0].image().unwrap_or_default();
    format!(
        "{providers:?} requires {requires:?} size {:?}/{:?} public {public:?} image {}",
        definition.cpu(),
        definition.memory(),
        image.rsplit('/').next().unwrap_or(image)
    )
    .replace(&app.cluster, "APP")
}

#[tokio::test]
async fn a_canary_service_moves_between_the_instances_and_fargate_in_place_as_a_canary() {
    let name = unique("move");
    let service = |capacity: &str| {
        format!("name = \"{name}\"\n[[services]]\nname = \"web\"\ncapacity = \"{capacity}\"\ncpu = 256\nmemory = 512\n")
    };
    // Three (emulated) minutes of canary: the old tasks outlast the `up` that moves them.
    let canary = "[services.deployment]\nstrategy = \"canary\"\ncanary_percent = 10\ncanary_bake_minutes = 3\n\
                  bake_minutes = 0\n";
    let file = format!("{}{canary}", service("ec2"));
    ok(&pd(&["up"], &file));
    let app = App::attach(&name).await;
    let autoscaling = aws_sdk_autoscaling::Client::new(&app.sdk);
    let instances = || async {
        let out = (autoscaling.describe_auto_scaling_groups())
            .auto_scaling_group_names(format!("pushdeploy-{name}"))
            .send()
            .await
            .unwrap();
        out.auto_scaling_groups().len()
    };
    let repo = format!("{name}/web");
    let v1 = put_later(&app, &repo, "v1", "move-1").await;
    let first = one(&app.handle(&push_now(&repo, "v1", &v1)).await.unwrap())
        .task_definition
        .clone()
        .unwrap();
    deployment_in(&app, "web", "COMPLETED", &first).await;
    let created = app.described("web").await.created_at().cloned();
    let on_instances = placed(&app).await.replace(&v1, "v1");
    assert_eq!(
        on_instances, "[\"pushdeploy-APP\"] requires [\"EC2\"] size None/None public Some(\"DISABLED\") image web@v1",
        "{on_instances}"
    );
    // Two changes at once go in two steps, each named; nothing is written.
    let refused = pd(&["up"], &service("fargate"));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("first change the `capacity` alone (to Fargate)"),
        "{refused:?}"
    );

    // To Fargate: the running revision again (its image kept) requiring FARGATE with the task
    // sized, the capacity and the tasks' network in one deployment, which ECS runs as a canary.
    let fargate = format!("{}{canary}", service("fargate"));
    let plan = ok(&pd(&["plan"], &fargate));
    assert!(
        plan.contains("compatibility EC2 -> FARGATE") && plan.contains("-> FARGATE (a new deployment)"),
        "{plan}"
    );
    let up = ok(&pd(&["up"], &fargate));
    assert!(up.contains("kept while web may run tasks there"), "{up}");
    assert_eq!(instances().await, 1, "kept while the old tasks run there");
    let moved = app.running_arn("web").await;
    assert_ne!(moved, first, "a new revision");
    let groups = (format!("pd-{name}-web-a"), format!("pd-{name}-web-b"));
    let flipped = (groups.1.clone(), groups.0.clone());
    let seen = walk_groups(&app, &name, &flipped, "COMPLETED", &moved).await;
    assert!(
        seen.contains(&(90, 10)) && seen.last() == Some(&(0, 100)),
        "a canary: {seen:?}"
    );
    let svc = app.described("web").await;
    assert_eq!(svc.created_at(), created.as_ref(), "not recreated");
    assert_eq!(
        placed(&app).await.replace(&v1, "v1"),
        "[\"FARGATE\"] requires [\"FARGATE\"] size Some(\"256\")/Some(\"512\") public Some(\"ENABLED\") image web@v1"
    );
    // A rollback to the revision from before the move would not run here: refused, nothing
    // paused.
    let refused = pd(&["rollback", "--service", "web"], &fargate);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("since it moved"),
        "{stderr}"
    );
    assert!(!pushdeploy::task_definition::is_paused(
        app.described("web").await.tags()
    ));
    // The old tasks gone, the instances no service uses go with the next `up`.
    let plan = ok(&pd(&["plan"], &fargate));
    assert!(
        plan.contains("no service runs on them") && plan.contains("plan: 1 of "),
        "{plan}"
    );
    ok(&pd(&["up"], &fargate));
    assert_eq!(instances().await, 0);
    let clusters = app.ecs.describe_clusters().clusters(&app.cluster).send().await.unwrap();
    assert_eq!(clusters.clusters()[0].capacity_providers(), ["FARGATE"]);
    assert!(
        ok(&pd(&["plan"], &fargate)).contains("plan: 0 of "),
        "converged on Fargate"
    );
    // Pushes deploy there as canaries too.
    let v2 = put_later(&app, &repo, "v2", "move-2").await;
    let second = one(&app.handle(&push_now(&repo, "v2", &v2)).await.unwrap())
        .task_definition
        .clone()
        .unwrap();
    let seen = walk_groups(&app, &name, &groups, "COMPLETED", &second).await;
    assert!(seen.contains(&(90, 10)) && seen.last() == Some(&(0, 100)), "{seen:?}");

    // And back to the instances: EC2 again, no task size, no public address, image v2.
    ok(&pd(&["up"], &file));
    let back = app.running_arn("web").await;
    assert_ne!(back, second);
    let seen = walk_groups(&app, &name, &flipped, "COMPLETED", &back).await;
    assert!(seen.contains(&(90, 10)) && seen.last() == Some(&(0, 100)), "{seen:?}");
    assert_eq!(
        app.described("web").await.created_at(),
        created.as_ref(),
        "not recreated"
    );
    assert_eq!(
        placed(&app).await.replace(&v2, "v2"),
        on_instances.replace("web@v1", "web@v2")
    );
    assert!(
        ok(&pd(&["plan"], &file)).contains("plan: 0 of "),
        "converged on the instances"
    );
    ok(&pd(&["down", "--yes"], &file));
    nothing_left(&app, &name, &file).await;
}

/// The app `name` from the text of its file.
fn spec(name: &str, text: &str) -> pushdeploy_cli::app_file::App {
    let file: pushdeploy_cli::app_file::AppFile = toml::from_str(text).unwrap();
    pushdeploy_cli::app_file::App::resolve(file, Some(name), "test", Some(text)).unwrap()
}

/// `up` of `app` until ECS lets the strategy change (a deployment of an earlier run may still be
/// going: `up` refuses until it is done, as ECS would).
async fn up_between_deployments(
    app: &pushdeploy_cli::app_file::App,
    ctx: &pushdeploy_cli::Context,
) -> Result<(), String> {
    use pushdeploy_cli::commands::up;
    use pushdeploy_cli::error::CliError;
    let start = std::time::Instant::now();
    loop {
        match up::up(
            app,
            ctx,
            pushdeploy_cli::resources::model::Mode::Apply,
            &pushdeploy_cli::progress::Progress::silent(),
        )
        .await
        {
            Ok(_) => return Ok(()),
            Err(CliError::SwitchDuringDeployment { .. }) if start.elapsed() < Duration::from_secs(60) => {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// What a switch leaves of app `name`, its name written `APP`: `web`'s first and second target
/// groups, strategy and test rule as ECS has them, the groups that exist, the listeners' ports,
/// and where its tasks run (its providers, what its revision requires).
async fn web_state(ecs: &aws_sdk_ecs::Client, elb: &aws_sdk_elasticloadbalancingv2::Client, name: &str) -> String {
    let out = ecs
        .describe_services()
        .cluster(name)
        .services("web")
        .send()
        .await
        .unwrap();
    let svc = &out.services()[0];
    let lb = &svc.load_balancers()[0];
    let group = |arn: &str| arn.split('/').nth(1).unwrap().to_string();
    let advanced = lb.advanced_configuration();
    let mut groups = Vec::new();
    for g in [
        format!("pd-{name}-web"),
        format!("pd-{name}-web-a"),
        format!("pd-{name}-web-b"),
    ] {
        if elb.describe_target_groups().names(&g).send().await.is_ok() {
            groups.push(g);
        }
    }
    let lbs = elb
        .describe_load_balancers()
        .names(format!("pd-{name}"))
        .send()
        .await
        .unwrap();
    let arn = lbs.load_balancers()[0].load_balancer_arn().unwrap();
    let listeners = elb.describe_listeners().load_balancer_arn(arn).send().await.unwrap();
    let mut ports: Vec<i32> = listeners.listeners().iter().filter_map(|l| l.port()).collect();
    ports.sort();
    let providers: Vec<&str> = (svc.capacity_provider_strategy().iter())
        .map(|s| s.capacity_provider())
        .collect();
    let revision = ecs
        .describe_task_definition()
        .task_definition(svc.task_definition().unwrap())
        .send()
        .await
        .unwrap();
    let requires: Vec<String> = (revision.task_definition().unwrap().requires_compatibilities().iter())
        .map(|c| c.as_str().to_string())
        .collect();
    format!(
        "first {}, second {:?}, strategy {:?}, test rule {}, groups {groups:?}, listeners {ports:?}, \
         on {providers:?} requiring {requires:?}",
        group(lb.target_group_arn().unwrap()),
        advanced.and_then(|a| a.alternate_target_group_arn()).map(group),
        svc.deployment_configuration()
            .and_then(|c| c.strategy())
            .map(|s| s.as_str().to_string()),
        advanced.and_then(|a| a.test_listener_rule()).is_some(),
    )
    .replace(name, "APP")
}

/// Waits (a minute at most) until app `name`'s `web` has one deployment and it ended.
async fn eventually_ended(ecs: &aws_sdk_ecs::Client, name: &str) -> Result<(), String> {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let out = ecs.describe_services().cluster(name).services("web").send().await;
        let out = out.map_err(|e| format!("{e:?}"))?;
        let deployments = out.services().first().map(|s| s.deployments()).unwrap_or_default();
        let state = deployments.first().and_then(|d| d.rollout_state()).map(|s| s.as_str());
        if deployments.len() == 1 && state != Some("IN_PROGRESS") {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err("web's deployment did not end in a minute".into())
}

/// Cuts each write of the `up` that takes a new app from `from` to `to` short, before it is sent
/// and after its answer arrived, in turn: the next `up` must finish the change (once a deployment
/// it meets is done, as a person would) and a third write nothing, leaving what a clean change
/// leaves. With `settle`, the third runs once `web`'s deployment ended, after an `up` that may
/// still write (removing the instances a move to Fargate left, which waits for the old tasks).
/// Returns what a clean change leaves ([`web_state`]) and what went wrong.
async fn cut_each_write(from: &[&str], to: &str, change: &str, settle: bool) -> (String, Vec<String>) {
    use futures::StreamExt;
    use pushdeploy_cli::commands::up;
    use pushdeploy_cli::progress::Progress;
    use pushdeploy_cli::resources::model::Mode;
    let sdk = crate::emulator::sdk_config().await;
    let (ecs, elb) = (
        &aws_sdk_ecs::Client::new(&sdk),
        &aws_sdk_elasticloadbalancingv2::Client::new(&sdk),
    );
    let reference = crate::bootstrap::app_name("swref");
    let (ctx, calls) = crate::bootstrap::context().await;
    for text in from {
        up_between_deployments(&spec(&reference, text), &ctx).await.unwrap();
    }
    calls.take();
    up_between_deployments(&spec(&reference, to), &ctx).await.unwrap();
    let total = crate::bootstrap::writes(&calls).len();
    let expected = &web_state(ecs, elb, &reference).await;
    println!("{change} makes {total} writes; cutting each short twice");
    let cases: Vec<(usize, bool)> = (1..=total).flat_map(|n| [(n, false), (n, true)]).collect();
    let failures = futures::stream::iter(cases)
        .map(|(nth, after)| async move {
            let name = crate::bootstrap::app_name(if after { "swa" } else { "swb" });
            let cut = format!("{change}, write {nth} (after={after})");
            let (ctx, calls) = crate::bootstrap::context().await;
            for text in from {
                if let Err(e) = up_between_deployments(&spec(&name, text), &ctx).await {
                    return Some(format!("{cut}: setting up failed: {e}"));
                }
            }
            let target = spec(&name, to);
            let broken = pushdeploy_cli::Context::new(
                crate::emulator::sdk_config().await,
                pushdeploy_cli::cli::OutputFormat::Json,
            )
            .with_interceptor(crate::bootstrap::Interrupt::new(nth, after));
            let start = std::time::Instant::now();
            loop {
                match up::up(&target, &broken, Mode::Apply, &Progress::silent()).await {
                    Err(pushdeploy_cli::error::CliError::SwitchDuringDeployment { .. })
                        if start.elapsed() < Duration::from_secs(60) =>
                    {
                        tokio::time::sleep(Duration::from_millis(300)).await
                    }
                    // A lost answer some writes absorb (the deploy lock's, which re-reads what it wrote).
                    Err(_) | Ok(_) => break,
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            if let Err(e) = up_between_deployments(&target, &ctx).await {
                return Some(format!("{cut}: the resuming run failed: {e}"));
            }
            if settle {
                let ended = eventually_ended(ecs, &name).await;
                let again = up_between_deployments(&target, &ctx).await;
                if let Some(e) = ended.err().or(again.err()) {
                    return Some(format!("{cut}: settling failed: {e}"));
                }
            }
            calls.take();
            if let Err(e) = up::up(&target, &ctx, Mode::Apply, &Progress::silent()).await {
                return Some(format!("{cut}: a third run failed: {e}"));
            }
            let extra = crate::bootstrap::writes(&calls);
            if !extra.is_empty() {
                return Some(format!("{cut}: a third run wrote {extra:?}"));
            }
            let got = web_state(ecs, elb, &name).await;
            (got != *expected).then(|| format!("{cut}: {got} differs from a clean change's {expected}"))
        })
        .buffer_unordered(3)
        .filter_map(|f| async move { f })
        .collect()
        .await;
    (expected.clone(), failures)
}

#[tokio::test]
async fn a_move_between_the_instances_and_fargate_cut_short_at_any_write_is_finished_by_the_next_up() {
    let canary = "[services.deployment]\nstrategy = \"canary\"\ncanary_percent = 10\ncanary_bake_minutes = 1\n\
                  bake_minutes = 0\n";
    let on = |capacity: &str| {
        format!("[[services]]\nname = \"web\"\ncapacity = \"{capacity}\"\ncpu = 256\nmemory = 512\n{canary}")
    };
    let (ec2, fargate) = (on("ec2"), on("fargate"));
    let mut failures = Vec::new();
    for (from, to, change, expected) in [
        (
            &ec2,
            &fargate,
            "a move to Fargate",
            "on [\"FARGATE\"] requiring [\"FARGATE\"]",
        ),
        (
            &fargate,
            &ec2,
            "a move to the instances",
            "on [\"pushdeploy-APP\"] requiring [\"EC2\"]",
        ),
    ] {
        let (clean, failed) = cut_each_write(&[from.as_str()], to, change, true).await;
        println!("{change}: {clean}");
        assert!(clean.contains(expected), "{clean}");
        failures.extend(failed);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_switch_in_place_or_a_test_listener_cut_short_at_any_write_is_finished_by_the_next_up() {
    let rolling = "[[services]]\nname = \"web\"\ncapacity = \"fargate\"\ncpu = 256\nmemory = 512\n";
    let canary = format!(
        "{rolling}[services.deployment]\nstrategy = \"canary\"\ncanary_percent = 10\ncanary_bake_minutes = 1\nbake_minutes = 0\n"
    );
    let tested = format!("{canary}test_port = 8080\n");
    // A bigger task deployed as a canary puts production traffic on the second group; going back
    // to rolling from there with a bigger task still keeps that group and drops the test listener.
    let (tested_1024, rolling_2048) = (
        tested.replace("memory = 512", "memory = 1024"),
        rolling.replace("memory = 512", "memory = 2048"),
    );
    let mut failures = Vec::new();
    for (from, to, change) in [
        (vec![rolling], canary.as_str(), "a switch to canary"),
        (vec![canary.as_str()], rolling, "a switch to rolling"),
        (vec![canary.as_str()], tested.as_str(), "a test listener added"),
        (vec![tested.as_str()], canary.as_str(), "a test listener removed"),
        (
            vec![tested.as_str(), tested_1024.as_str()],
            rolling_2048.as_str(),
            "a switch to rolling from the second group, with a bigger task",
        ),
    ] {
        let (clean, failed) = cut_each_write(&from, to, change, false).await;
        println!("{change}: {clean}");
        failures.extend(failed);
        if change.contains("from the second group") {
            assert!(
                clean.contains("first pd-APP-web-b, second None, strategy Some(\"ROLLING\"), test rule false")
                    && clean.contains("listeners [80]"),
                "{clean}"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
