//! Deployment alarms (issue 19): `up` gives every service two CloudWatch alarms on its target
//! group and has ECS watch them with rollback; a deployment during which one goes into ALARM is
//! failed and rolled back by ECS, and the function reports `failed`, `alarm`, naming it, and
//! remembers the image. Through the real binary and the engine, on the strict emulator (which
//! speaks the CloudWatch SDK's RPC v2 CBOR and fails deployments on alarms as ECS does).

use std::process::Output;

use aws_sdk_cloudwatch::types::StateValue;
use pushdeploy::outcome::Reason;
use pushdeploy::Action;

use crate::emulator::sdk_config;
use crate::fixture::{described, eventually, unique, App};
use crate::outcomes::{deployment_event, deployment_in, one, push_now, put_later};

/// The binary in a fresh folder whose `pushdeploy.toml` is `file`.
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

async fn watched(ecs: &aws_sdk_ecs::Client, app: &str) -> (Vec<String>, bool, bool) {
    let service = described(ecs, app, "web").await;
    let alarms = service
        .deployment_configuration()
        .and_then(|d| d.alarms())
        .expect("alarms set");
    (alarms.alarm_names().to_vec(), alarms.enable(), alarms.rollback())
}

#[tokio::test]
async fn up_gives_each_service_two_alarms_it_watches_with_rollback_and_the_file_can_turn_them_off() {
    let name = unique("alarms");
    let file =
        format!("name = \"{name}\"\n[[services]]\nname = \"web\"\n[services.deployment]\nmax_5xx_per_minute = 5\n");
    ok(&pd(&["up"], &file));
    let sdk = sdk_config().await;
    let (cw, ecs) = (aws_sdk_cloudwatch::Client::new(&sdk), aws_sdk_ecs::Client::new(&sdk));
    let names = [
        format!("pushdeploy-{name}-web-5xx"),
        format!("pushdeploy-{name}-web-unhealthy"),
    ];
    let found = cw
        .describe_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(found.metric_alarms().len(), 2, "{found:?}");
    let errors = found
        .metric_alarms()
        .iter()
        .find(|a| a.alarm_name() == Some(names[0].as_str()))
        .unwrap();
    assert_eq!(
        (errors.metric_name(), errors.namespace(), errors.threshold()),
        (Some("HTTPCode_Target_5XX_Count"), Some("AWS/ApplicationELB"), Some(5.0))
    );
    let dimension = |key: &str| {
        (errors.dimensions().iter())
            .find(|d| d.name() == Some(key))
            .and_then(|d| d.value())
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        dimension("TargetGroup").starts_with(&format!("targetgroup/pd-{name}-web/")),
        "{errors:?}"
    );
    assert!(
        dimension("LoadBalancer").starts_with(&format!("app/pd-{name}/")),
        "{errors:?}"
    );
    assert_eq!(errors.state_value(), Some(&StateValue::InsufficientData));
    let tags = cw
        .list_tags_for_resource()
        .resource_arn(errors.alarm_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == Some("pushdeploy:app") && t.value() == Some(name.as_str())));
    assert_eq!(watched(&ecs, &name).await, (names.to_vec(), true, true));
    let plan = ok(&pd(&["plan"], &file));
    assert!(plan.contains("plan: 0 of "), "converged: {plan}");

    // Off, and an alarm of your own instead: the two go, the service watches the one.
    let own = format!("{file}default_alarms = false\nalarms = [\"{name}-p99\"]\n");
    let plan = ok(&pd(&["plan"], &own));
    assert!(plan.contains("default_alarms = false: delete"), "{plan}");
    assert!(plan.contains(&format!("-> {name}-p99")), "{plan}");
    ok(&pd(&["up"], &own));
    let left = cw
        .describe_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .send()
        .await
        .unwrap();
    assert!(left.metric_alarms().is_empty(), "{left:?}");
    assert_eq!(watched(&ecs, &name).await, (vec![format!("{name}-p99")], true, true));
    assert!(ok(&pd(&["plan"], &own)).contains("plan: 0 of "));
}

#[tokio::test]
async fn a_deployment_during_which_an_alarm_fires_is_rolled_back_and_reported_failed_naming_it() {
    let name = unique("alarmed");
    ok(&pd(&["up"], &format!("name = \"{name}\"\n")));
    let app = App::attach(&name).await;
    let repo = format!("{name}/web");
    let v1 = put_later(&app, &repo, "v1", "e1").await;
    let deployed = app.handle(&push_now(&repo, "v1", &v1)).await.unwrap();
    let good = one(&deployed).task_definition.clone().unwrap();
    deployment_in(&app, "web", "COMPLETED", &good).await;

    let v2 = put_later(&app, &repo, "v2", "e2").await;
    let push = push_now(&repo, "v2", &v2);
    let deployed = app.handle(&push).await.unwrap();
    let bad = one(&deployed).task_definition.clone().unwrap();
    // The new tasks start, then fail requests: the 5xx alarm goes off during the deployment.
    let alarm = format!("pushdeploy-{name}-web-5xx");
    let cw = aws_sdk_cloudwatch::Client::new(&app.sdk);
    cw.set_alarm_state()
        .alarm_name(&alarm)
        .state_value(StateValue::Alarm)
        .state_reason("test: 5xx responses")
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
    assert_eq!(failed.alarms, [alarm.clone()]);
    eventually(
        "ECS rolls back to the last good revision",
        crate::outcomes::ROLLOUT,
        crate::outcomes::EVERY,
        || async { app.running_arn("web").await == good },
    )
    .await;
    // The image is remembered: a replayed push does not deploy it again.
    let replay = app.handle(&push).await.unwrap();
    assert_eq!(
        (one(&replay).action, one(&replay).reason.as_str()),
        (Action::Skipped, "failed-before")
    );
}
