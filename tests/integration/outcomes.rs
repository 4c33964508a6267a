//! Closing the loop on the strict emulator, where rollouts really complete, fail and roll back:
//! deployment outcomes, the failure memory, the catch-up sync (on demand and on a schedule),
//! `deploy --wait`, odd input, and a lock released only by its holder.

use std::time::Duration;

use pushdeploy::lock::{with_lock, Holder, Lock, LockSettings};
use pushdeploy::outcome::Reason;
use pushdeploy::{Action, Error, Outcome, SyncScope};
use pushdeploy_cli::cli::{AppArgs, DeployArgs, OutputFormat, WaitArgs};
use pushdeploy_cli::Context;
use serde_json::{json, Value};

use crate::bootstrap::{is_write, writes};
use crate::cli::put_image;
use crate::emulator::{control, emulator, ACCOUNT, REGION};
use crate::fixture::{container, eventually, image, unique, App, REGISTRY};

pub(crate) const ROLLOUT: Duration = Duration::from_secs(30);
pub(crate) const EVERY: Duration = Duration::from_millis(200);

/// An `ECS Deployment State Change` as ECS sends it for a service of `app`.
pub(crate) fn deployment_event(app: &App, service: &str, id: &str, name: &str, reason: &str) -> Value {
    json!({
        "version": "0", "id": unique("event"),
        "detail-type": "ECS Deployment State Change", "source": "aws.ecs",
        "account": ACCOUNT, "time": now(), "region": REGION,
        "resources": [format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/{}/{service}", app.cluster)],
        "detail": {
            "eventType": if name.ends_with("FAILED") { "ERROR" } else { "INFO" },
            "eventName": name, "deploymentId": id, "updatedAt": now(), "reason": reason
        }
    })
}

fn scheduled_event() -> Value {
    json!({
        "version": "0", "id": unique("tick"), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT, "time": now(), "region": REGION,
        "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/pushdeploy-sync")], "detail": {}
    })
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(crate) fn push_now(repo: &str, tag: &str, digest: &str) -> Value {
    crate::fixture::push_event(repo, Some(tag), digest, &now())
}

/// The deployment with this rollout state (`COMPLETED` on the PRIMARY one, `FAILED`), once
/// ECS shows it: its id, task definition and ECS's reason.
pub(crate) async fn deployment_in(app: &App, service: &str, state: &str, task_definition: &str) -> (String, String) {
    let found = std::cell::RefCell::new(None);
    eventually(
        &format!("a {state} deployment of {task_definition}"),
        ROLLOUT,
        EVERY,
        || async {
            let svc = app.described(service).await;
            let hit = svc.deployments().iter().find(|d| {
                d.rollout_state().map(|s| s.as_str()) == Some(state) && d.task_definition() == Some(task_definition)
            });
            *found.borrow_mut() = hit.map(|d| {
                (
                    d.id().unwrap().to_string(),
                    d.rollout_state_reason().unwrap_or_default().to_string(),
                )
            });
            found.borrow().is_some()
        },
    )
    .await;
    found.into_inner().unwrap()
}

fn failed_tag(service: &aws_sdk_ecs::types::Service, repo: &str) -> Option<String> {
    service
        .tags()
        .iter()
        .find(|t| t.key() == Some(&format!("pushdeploy:failed:{repo}")))
        .and_then(|t| t.value().map(str::to_string))
}

pub(crate) fn one(outcomes: &[Outcome]) -> &Outcome {
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    &outcomes[0]
}

/// Images go into ECR a second apart: ECR records push times in whole seconds.
pub(crate) async fn put_later(app: &App, repo: &str, tag: &str, layer: &str) -> String {
    tokio::time::sleep(Duration::from_millis(1100)).await;
    put_image(app, repo, tag, layer).await
}

#[tokio::test]
async fn a_bad_image_is_reported_failed_and_no_replay_or_sync_deploys_it_again_until_forced() {
    let app = App::new("breaker").await;
    let repo = format!("{}/web", app.name);
    let good = put_image(&app, &repo, "v1", "c1").await;
    app.guarded_service("web", vec![container("web", &image(&repo, "v0"))])
        .await;
    app.config(json!([app.route("web", &repo)])).await;

    let deployed = app.handle(&push_now(&repo, "v1", &good)).await.unwrap();
    let good_td = one(&deployed).task_definition.clone().unwrap();
    let (id, _) = deployment_in(&app, "web", "COMPLETED", &good_td).await;
    let completed = app
        .handle(&deployment_event(
            &app,
            "web",
            &id,
            "SERVICE_DEPLOYMENT_COMPLETED",
            &format!("ECS deployment {id} completed."),
        ))
        .await
        .unwrap();
    let completed = one(&completed);
    assert_eq!(completed.action, Action::Completed);
    assert_eq!(
        completed.image.as_deref(),
        Some(format!("{REGISTRY}/{repo}@{good}").as_str())
    );
    assert_eq!(
        (completed.task_definition.as_deref(), completed.deployment.as_deref()),
        (Some(good_td.as_str()), Some(id.as_str()))
    );
    assert_eq!(completed.reason, Reason::Ecs(format!("ECS deployment {id} completed.")));

    let bad = put_later(&app, &repo, "v2", "c2").await;
    control("bad-images", json!({"images": [bad]}));
    let push = push_now(&repo, "v2", &bad);
    let deployed = app.handle(&push).await.unwrap();
    let bad_td = one(&deployed).task_definition.clone().unwrap();
    let (failed_id, ecs_reason) = deployment_in(&app, "web", "FAILED", &bad_td).await;
    app.calls.take();
    let failure = deployment_event(&app, "web", &failed_id, "SERVICE_DEPLOYMENT_FAILED", &ecs_reason);
    let failed = app.handle(&failure).await.unwrap();
    let failed = one(&failed);
    assert_eq!(
        (failed.action, &failed.reason),
        (Action::Failed, &Reason::CircuitBreaker)
    );
    assert_eq!(
        failed.image.as_deref(),
        Some(format!("{REGISTRY}/{repo}@{bad}").as_str()),
        "the image that failed"
    );
    assert_eq!(failed.task_definition.as_deref(), Some(bad_td.as_str()));
    assert_eq!(
        writes(&app.calls),
        vec!["ECS.TagResource"],
        "the failure is remembered, in one write"
    );
    assert_eq!(failed_tag(&app.described("web").await, &repo), Some(bad.clone()));
    let line: Value = serde_json::from_str(&failed.to_json_line()).unwrap();
    assert_eq!(
        (line["action"].as_str(), line["reason"].as_str()),
        (Some("failed"), Some("circuit-breaker"))
    );
    assert_eq!(line["deployment"].as_str(), Some(failed_id.as_str()));

    // A replayed failure event remembers nothing new.
    let again = app.handle(&failure).await.unwrap();
    assert_eq!(one(&again).action, Action::Failed);
    assert!(writes(&app.calls).is_empty());

    eventually("ECS rolls back to the good revision", ROLLOUT, EVERY, || async {
        app.running_arn("web").await == good_td
    })
    .await;
    // A replayed push, a Lambda retry: failed-before, nothing written.
    let replay = app.handle(&push).await.unwrap();
    assert_eq!(
        (one(&replay).action, one(&replay).reason.as_str()),
        (Action::Skipped, "failed-before")
    );
    assert_eq!(
        writes(&app.calls),
        vec!["DynamoDB.PutItem", "DynamoDB.DeleteItem"],
        "only the deploy lock, taken to decide: nothing registered or updated"
    );
    // A sync finds the bad image newest in ECR, and leaves it.
    let synced = app.engine.sync(&SyncScope::default(), "test").await.unwrap();
    assert_eq!(one(&synced).reason, Reason::FailedBefore);
    assert!(writes(&app.calls).is_empty());
    assert_eq!(app.running_arn("web").await, good_td);

    // On purpose: `pushdeploy deploy --force`.
    let ctx = Context::new(app.sdk.clone(), OutputFormat::Json);
    let mut args = DeployArgs {
        app: AppArgs {
            app: Some(app.name.clone()),
            file: None,
        },
        service: "web".into(),
        image: format!("{repo}:v2"),
        cluster: None,
        force: false,
        wait: WaitArgs {
            wait: false,
            timeout: 60,
            wait_until: pushdeploy_cli::cli::WaitUntil::Completed,
        },
    };
    let refused = pushdeploy_cli::commands::deploy::deploy(&args, &ctx).await.unwrap();
    assert_eq!(
        one(&refused).reason,
        Reason::FailedBefore,
        "the CLI honours the memory too"
    );
    args.force = true;
    let forced = pushdeploy_cli::commands::deploy::deploy(&args, &ctx).await.unwrap();
    assert_eq!(
        (one(&forced).action, one(&forced).reason.as_str()),
        (Action::Deployed, "new-image")
    );

    // A newer push deploys normally.
    let fixed = put_later(&app, &repo, "v3", "c3").await;
    let deployed = app.handle(&push_now(&repo, "v3", &fixed)).await.unwrap();
    assert_eq!(one(&deployed).action, Action::Deployed);
}

#[tokio::test]
async fn deployment_events_of_services_not_routed_are_skipped_without_a_call() {
    let app = App::new("notrouted").await;
    let repo = format!("{}/web", app.name);
    app.service("web", vec![container("web", &image(&repo, "v1"))]).await;
    app.config(json!([app.route("web", &repo)])).await;
    app.engine.config().get().await.unwrap();
    app.calls.take();
    let event = deployment_event(
        &app,
        "other",
        "ecs-svc/1234567890123456789",
        "SERVICE_DEPLOYMENT_FAILED",
        "x",
    );
    let out = app.handle(&event).await.unwrap();
    assert_eq!(
        (one(&out).action, one(&out).reason.as_str()),
        (Action::Skipped, "not-routed")
    );
    assert_eq!(one(&out).service.as_deref(), Some("other"));
    assert!(
        app.calls.take().is_empty(),
        "no AWS call for a service the config does not route"
    );
    let mut progress = deployment_event(&app, "web", "ecs-svc/1", "SERVICE_DEPLOYMENT_IN_PROGRESS", "");
    progress["detail"]["eventType"] = json!("INFO");
    let out = app.handle(&progress).await.unwrap();
    assert_eq!(one(&out).reason, Reason::DeploymentInProgress);
}

#[tokio::test]
async fn a_missed_push_is_deployed_by_sync_and_by_the_schedule_and_a_converged_sync_only_reads() {
    let app = App::new("catchup").await;
    let repo = format!("{}/web", app.name);
    let v1 = put_image(&app, &repo, "v1", "d1").await;
    app.service("web", vec![container("web", &format!("{REGISTRY}/{repo}@{v1}"))])
        .await;
    app.config(json!([{"cluster": app.cluster, "service": "web", "repository": repo, "tags": ["v*"]}]))
        .await;

    // Nothing newer: a converged sync reads, per routed service, one page of images, the
    // service and its revision (the first one also reads the config).
    let converged = app.engine.sync(&SyncScope::default(), "test").await.unwrap();
    assert_eq!(one(&converged).reason, Reason::AlreadyRunning);
    let calls = app.calls.take();
    assert!(calls.iter().all(|c| !is_write(c)), "{calls:?}");
    assert_eq!(
        calls,
        vec![
            "SSM.GetParameter",
            "ECR.DescribeImages",
            "ECS.DescribeServices",
            "ECS.DescribeTaskDefinition"
        ]
    );

    // Pushes whose events never came: v2, and a newer tag the route's filter rejects.
    let v2 = put_later(&app, &repo, "v2", "d2").await;
    put_later(&app, &repo, "nightly", "d3").await;
    let dry = app
        .engine
        .sync(
            &SyncScope {
                service: None,
                dry_run: true,
            },
            "test",
        )
        .await
        .unwrap();
    assert_eq!(one(&dry).reason, Reason::DryRun);
    assert_eq!(
        one(&dry).image.as_deref(),
        Some(format!("{REGISTRY}/{repo}:v2@{v2}").as_str()),
        "what would deploy, by tag and digest"
    );
    assert!(writes(&app.calls).is_empty(), "a dry run writes nothing");

    let synced = app.engine.sync(&SyncScope::default(), "test").await.unwrap();
    assert_eq!(
        (one(&synced).action, one(&synced).reason.as_str()),
        (Action::Deployed, "new-image")
    );
    assert_eq!(app.running_images("web").await[0].1, format!("{REGISTRY}/{repo}@{v2}"));
    let (_, tags) = app.task_definition(&app.running_arn("web").await).await;
    assert!(tags
        .iter()
        .any(|t| t.key() == Some(&format!("pushdeploy:tag:{repo}")) && t.value() == Some("v2")));
    app.calls.take();
    let again = app.engine.sync(&SyncScope::default(), "test").await.unwrap();
    assert_eq!(one(&again).reason, Reason::AlreadyRunning);
    assert!(writes(&app.calls).is_empty());

    // The schedule runs the same sync.
    let v4 = put_later(&app, &repo, "v4", "d4").await;
    let ticked = app.handle(&scheduled_event()).await.unwrap();
    assert_eq!(one(&ticked).action, Action::Deployed);
    assert_eq!(app.running_images("web").await[0].1, format!("{REGISTRY}/{repo}@{v4}"));

    // A paused service is left alone.
    let arn = app.described("web").await.service_arn().unwrap().to_string();
    app.ecs
        .tag_resource()
        .resource_arn(arn)
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("pushdeploy:paused")
                .value("true")
                .build(),
        )
        .send()
        .await
        .unwrap();
    put_later(&app, &repo, "v5", "d5").await;
    app.calls.take();
    let paused = app.engine.sync(&SyncScope::default(), "test").await.unwrap();
    assert_eq!(one(&paused).reason, Reason::Paused);
    assert!(writes(&app.calls).is_empty());
}

#[tokio::test]
async fn a_sync_says_per_route_what_it_did_when_a_repository_is_empty_or_missing() {
    let app = App::new("syncodd").await;
    let (web, api) = (format!("{}/web", app.name), format!("{}/api", app.name));
    app.service("web", vec![container("web", &image(&web, "v1"))]).await;
    app.service("api", vec![container("api", &image(&api, "v1"))]).await;
    aws_sdk_ecr::Client::new(&app.sdk)
        .create_repository()
        .repository_name(&web)
        .send()
        .await
        .unwrap();
    app.config(json!([app.route("web", &web), app.route("api", &api)]))
        .await;
    let Err(Error::Partial { failures, outcomes }) = app.engine.sync(&SyncScope::default(), "test").await else {
        panic!("one route's repository does not exist")
    };
    assert_eq!(
        one(&outcomes).reason,
        Reason::NoImage,
        "an empty repository has nothing to deploy"
    );
    assert_eq!(one(&outcomes).service.as_deref(), Some("web"));
    assert_eq!(failures.len(), 1);
    let text = failures[0].to_string();
    assert!(
        text.contains("ecr:DescribeImages") && text.contains("RepositoryNotFoundException"),
        "{text}"
    );
    assert!(!failures[0].is_retryable(), "a missing repository stays missing");
}

#[tokio::test]
async fn deploy_wait_exits_zero_on_a_completed_rollout_and_three_on_a_rollback() {
    let app = App::new("waiting").await;
    let repo = format!("{}/web", app.name);
    put_image(&app, &repo, "v1", "e1").await;
    app.guarded_service("web", vec![container("web", &image(&repo, "v0"))])
        .await;
    app.config(json!([app.route("web", &repo)])).await;
    let env = [
        ("AWS_ENDPOINT_URL", emulator().endpoint.as_str()),
        ("AWS_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let deploy = |tag: &str| {
        let image = format!("{repo}:{tag}");
        let args = [
            "deploy",
            "--app",
            &app.name,
            "--service",
            "web",
            "--image",
            &image,
            "--wait",
            "--timeout",
            "60",
        ];
        crate::first_contact::run(&args, &env, &[])
    };
    let ok = deploy("v1");
    let (stdout, stderr) = (String::from_utf8_lossy(&ok.stdout), String::from_utf8_lossy(&ok.stderr));
    assert_eq!(ok.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("deployed") && stdout.contains("completed"), "{stdout}");
    assert!(stderr.contains("COMPLETED"), "progress on stderr: {stderr}");

    let bad = put_later(&app, &repo, "v2", "e2").await;
    control("bad-images", json!({"images": [bad]}));
    let failed = deploy("v2");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&failed.stdout),
        String::from_utf8_lossy(&failed.stderr),
    );
    assert_eq!(failed.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("FAILED") && stdout.contains("circuit-breaker"),
        "{stdout}"
    );
    assert!(stderr.contains("circuit breaker"), "ECS's reason: {stderr}");
    assert_eq!(
        failed_tag(&app.described("web").await, &repo),
        Some(bad),
        "remembered as the function would"
    );
}

#[tokio::test]
async fn odd_input_is_answered_and_never_writes() {
    let app = App::new("oddinput").await;
    let repo = format!("{}/web", app.name);
    let v1 = put_image(&app, &repo, "v1", "f1").await;
    app.service("web", vec![container("web", &format!("{REGISTRY}/{repo}@{v1}"))])
        .await;
    app.config(json!([app.route("web", &repo)])).await;
    // A newer image waits in ECR, so anything that wrongly syncs or deploys would write.
    put_later(&app, &repo, "v2", "f2").await;
    let arn = |s: &str| format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/{s}");
    let with = |mut e: Value, path: &[&str], v: Value| {
        let mut at = &mut e;
        for p in &path[..path.len() - 1] {
            at = &mut at[*p];
        }
        at[path[path.len() - 1]] = v;
        e
    };
    let failed = deployment_event(&app, "web", "ecs-svc/1", "SERVICE_DEPLOYMENT_FAILED", "x");
    let tick = scheduled_event();
    let odd = vec![
        json!(null),
        json!(""),
        json!("not json at all"),
        json!([]),
        json!({}),
        json!(42),
        json!({"detail-type": "Scheduled Event"}),
        json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}),
        with(tick.clone(), &["detail"], json!({"run": "everything"})),
        with(tick.clone(), &["detail"], json!(null)),
        with(tick.clone(), &["detail"], json!([])),
        with(tick.clone(), &["detail"], json!("x".repeat(1 << 20))),
        with(tick.clone(), &["source"], json!("my.app")),
        with(tick.clone(), &["detail-type"], json!(7)),
        with(failed.clone(), &["resources"], json!([])),
        with(failed.clone(), &["resources"], json!([arn("web"), arn("web")])),
        with(
            failed.clone(),
            &["resources"],
            json!(["arn:aws:ecs:us-east-1:123456789012:service/web"]),
        ),
        with(
            failed.clone(),
            &["resources"],
            json!([arn(&format!("{}/web/extra", app.cluster))]),
        ),
        with(failed.clone(), &["resources"], json!([arn("unknown-cluster/web")])),
        with(
            failed.clone(),
            &["resources"],
            json!([arn(&format!("{}/{}", app.cluster, "x".repeat(5000)))]),
        ),
        with(failed.clone(), &["detail", "deploymentId"], json!("not-an-id")),
        with(failed.clone(), &["detail", "deploymentId"], json!(12)),
        with(
            failed.clone(),
            &["detail", "eventName"],
            json!("SERVICE_DEPLOYMENT_EXPLODED"),
        ),
        with(failed.clone(), &["detail"], json!({})),
        with(failed.clone(), &["detail"], json!("x")),
        with(failed.clone(), &["detail-type"], json!("ECS Task State Change")),
        with(failed.clone(), &["source"], json!("aws.ec2")),
        with(
            crate::fixture::push_event(&repo, Some("v2"), &v1, &now()),
            &["detail", "image-digest"],
            json!("sha256:nope"),
        ),
        with(
            crate::fixture::push_event(&repo, Some("v2"), &v1, &now()),
            &["detail", "result"],
            json!("FAILURE"),
        ),
        with(
            crate::fixture::push_event(&repo, Some("v2"), &v1, &now()),
            &["time"],
            json!("yesterday"),
        ),
    ];
    app.calls.take();
    for event in &odd {
        let answer = app.handle(event).await;
        if let Err(e) = &answer {
            assert!(!e.is_retryable(), "odd input is not worth a retry: {e}");
            assert!(!e.to_string().is_empty());
        }
        let written: Vec<String> = app.calls.take().into_iter().filter(|c| is_write(c)).collect();
        assert!(written.is_empty(), "{event:.200} wrote {written:?}");
    }
    assert_eq!(app.running_images("web").await[0].1, format!("{REGISTRY}/{repo}@{v1}"));
    assert_eq!(app.revisions("web").await.len(), 1, "nothing registered");
}

#[tokio::test]
async fn the_deploy_lock_is_released_only_by_its_holder() {
    let app = App::new("lockholder").await;
    let table = pushdeploy::lock::table_name(&app.name);
    let db = aws_sdk_dynamodb::Client::new(&app.sdk);
    let short = LockSettings {
        lease: Duration::from_millis(1500),
        wait: Duration::from_secs(10),
    };
    let long = LockSettings {
        lease: Duration::from_secs(60),
        wait: Duration::from_secs(10),
    };
    let holder = |settings| {
        let (db, table, cluster) = (db.clone(), table.clone(), app.cluster.clone());
        move |owner: &'static str, hold: Duration| async move {
            let lock = Lock {
                table: &table,
                cluster: &cluster,
                service: "web",
            };
            with_lock(&db, lock, &Holder::from(owner), settings, async {
                tokio::time::sleep(hold).await;
                Ok::<_, Error>(())
            })
            .await
        }
    };
    // The laptop takes the lock and sleeps past its 1.5 s lease; the function takes it over.
    let laptop = tokio::spawn(holder(short)("laptop", Duration::from_millis(3000)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let function = tokio::spawn(holder(long)("function", Duration::from_millis(2500)));
    let owner = || async {
        let key = pushdeploy::lock::key(&app.cluster, "web");
        let item = (db.get_item().table_name(&table))
            .key(pushdeploy::lock::KEY, aws_sdk_dynamodb::types::AttributeValue::S(key))
            .send()
            .await
            .unwrap()
            .item;
        item.and_then(|i| i.get("owner")?.as_s().ok().cloned())
    };
    eventually(
        "the function takes over the expired lease",
        Duration::from_secs(10),
        EVERY,
        || async { owner().await.as_deref() == Some("function") },
    )
    .await;
    laptop.await.unwrap().unwrap();
    let after_laptop = owner().await;
    assert_eq!(
        after_laptop.as_deref(),
        Some("function"),
        "the laptop, past its lease, left the function's lock alone"
    );
    function.await.unwrap().unwrap();
    assert_eq!(owner().await, None, "the holder releases its own lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn engines_and_cli_processes_at_once_end_on_the_newest_image_without_duplicate_revisions() {
    let app = App::new("procrace").await;
    let repo = format!("{}/web", app.name);
    let mut pushed = Vec::new();
    for i in 1..=3 {
        pushed.push(put_later(&app, &repo, &format!("v{i}"), &format!("9{i}")).await);
    }
    app.service("web", vec![container("web", &image(&repo, "v0"))]).await;
    app.config(json!([app.route("web", &repo)])).await;
    // The events ECR would have sent, with ECR's own push times.
    let details = aws_sdk_ecr::Client::new(&app.sdk)
        .describe_images()
        .repository_name(&repo)
        .send()
        .await
        .unwrap()
        .image_details
        .unwrap();
    let event = |i: usize| {
        let d = details
            .iter()
            .find(|d| d.image_digest() == Some(pushed[i].as_str()))
            .unwrap();
        let at = chrono::DateTime::from_timestamp(d.image_pushed_at().unwrap().secs(), 0).unwrap();
        crate::fixture::push_event(&repo, Some(&format!("v{}", i + 1)), &pushed[i], &at.to_rfc3339())
    };
    let env = [
        ("AWS_ENDPOINT_URL", emulator().endpoint.clone()),
        ("AWS_REGION", REGION.to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ];
    crate::first_contact::cli(); // built before the race starts
                                 // Separate OS processes of `pushdeploy deploy`, newest first and duplicated...
    let processes: Vec<_> = ["v3", "v1", "v3", "v2"]
        .iter()
        .map(|tag| {
            std::process::Command::new(crate::first_contact::cli())
                .args([
                    "deploy",
                    "--app",
                    &app.name,
                    "--service",
                    "web",
                    "--image",
                    &format!("{repo}:{tag}"),
                    "-o",
                    "json",
                ])
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start pushdeploy deploy")
        })
        .collect();
    // ...while function instances (engines of their own) take shuffled, duplicated events.
    let engines: Vec<_> = (0..3)
        .map(|_| pushdeploy::Engine::new(&app.sdk, app.parameter.clone(), Duration::from_secs(60)))
        .collect();
    let order = [2usize, 0, 1, 2, 1, 0, 2, 0];
    let events: Vec<Value> = order.iter().map(|&i| event(i)).collect();
    let results = futures::future::join_all(
        events
            .iter()
            .enumerate()
            .map(|(n, e)| engines[n % engines.len()].handle_event(e, "race")),
    )
    .await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    for child in processes {
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        // An explicit deploy that lost the race (an older image, the lock held) deploys nothing:
        // it exits 1 and says why; anything else is a failure.
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() || (out.status.code() == Some(1) && err.contains("was not deployed")),
            "{err}"
        );
    }
    assert_eq!(
        app.running_images("web").await[0].1,
        format!("{REGISTRY}/{repo}@{}", pushed[2])
    );
    let mut seen = std::collections::HashSet::new();
    for arn in app.revisions("web").await {
        let (td, _) = app.task_definition(&arn).await;
        let img = td.container_definitions.unwrap()[0].image.clone().unwrap();
        assert!(seen.insert(img.clone()), "two revisions carry {img}");
    }
}

#[tokio::test]
async fn a_failure_event_handled_after_the_rollback_still_names_and_remembers_the_image() {
    let app = App::new("lateevent").await;
    let repo = format!("{}/web", app.name);
    let good = put_image(&app, &repo, "v1", "a7").await;
    app.guarded_service("web", vec![container("web", &image(&repo, "v0"))])
        .await;
    app.config(json!([app.route("web", &repo)])).await;
    let good_td = one(&app.handle(&push_now(&repo, "v1", &good)).await.unwrap())
        .task_definition
        .clone()
        .unwrap();
    deployment_in(&app, "web", "COMPLETED", &good_td).await;
    let bad = put_later(&app, &repo, "v2", "a8").await;
    control("bad-images", json!({"images": [bad]}));
    let bad_td = one(&app.handle(&push_now(&repo, "v2", &bad)).await.unwrap())
        .task_definition
        .clone()
        .unwrap();
    let (failed_id, reason) = deployment_in(&app, "web", "FAILED", &bad_td).await;
    eventually("ECS finishes rolling back", ROLLOUT, EVERY, || async {
        let svc = app.described("web").await;
        svc.deployments().len() == 1 && svc.deployments()[0].rollout_state().map(|s| s.as_str()) == Some("COMPLETED")
    })
    .await;
    // A Lambda retry or a replay from the failure queue, minutes later: the deployment is gone
    // from the service's deployments, and its service-deployment history still names it.
    let late = app
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
        (one(&late).action, one(&late).task_definition.as_deref()),
        (Action::Failed, Some(bad_td.as_str()))
    );
    assert_eq!(
        one(&late).image.as_deref(),
        Some(format!("{REGISTRY}/{repo}@{bad}").as_str())
    );
    assert_eq!(failed_tag(&app.described("web").await, &repo), Some(bad));
}
