//! The redeploy algorithm end to end through the engine, as the Lambda runs it.

use pushdeploy::{Action, Error};
use serde_json::json;

use crate::fixture::{container, digest, image, push_event, App, REGISTRY};

fn pinned(repo: &str, digest: &str) -> String {
    format!("{REGISTRY}/{repo}@{digest}")
}

#[tokio::test]
async fn a_tagged_push_registers_a_pinned_revision_and_updates_the_service() {
    let app = App::new("tagged").await;
    let first = app
        .service("web", vec![container("web", &image("shop/web", "v1"))])
        .await;
    app.config(json!([app.route("web", "shop/web")])).await;

    let d = digest(1);
    let outcomes = app
        .handle(&push_event("shop/web", Some("v2"), &d, "2026-11-26T10:00:00Z"))
        .await
        .unwrap();

    assert_eq!(outcomes.len(), 1);
    let o = &outcomes[0];
    assert_eq!((o.action, o.reason.as_str()), (Action::Deployed, "new-image"));
    assert_eq!(o.service.as_deref(), Some("web"));
    assert_eq!(o.cluster.as_deref(), Some(app.cluster.as_str()));
    assert_eq!(o.image.as_deref(), Some(pinned("shop/web", &d).as_str()));
    let running = app.running_arn("web").await;
    assert_ne!(running, first);
    assert_eq!(o.task_definition.as_deref(), Some(running.as_str()));
    let (td, tags) = app.task_definition(&running).await;
    assert_eq!(
        td.container_definitions.unwrap()[0].image.as_deref(),
        Some(pinned("shop/web", &d).as_str())
    );
    let tag = |k: &str| {
        tags.iter()
            .find(|t| t.key.as_deref() == Some(k))
            .and_then(|t| t.value.clone())
    };
    assert_eq!(tag("pushdeploy:tag:shop/web").as_deref(), Some("v2"));
    assert_eq!(
        tag("pushdeploy:pushed-at:shop/web").as_deref(),
        Some("2026-11-26T10:00:00Z")
    );
}

#[tokio::test]
async fn a_warm_redeploy_makes_the_four_ecs_calls_and_the_two_lock_calls_put_item_and_delete_item_only() {
    let app = App::new("calls").await;
    app.service("web", vec![container("web", &image("calls/web", "v1"))])
        .await;
    app.config(json!([app.route("web", "calls/web")])).await;

    app.handle(&push_event("calls/web", Some("v2"), &digest(1), "2026-11-26T10:00:00Z"))
        .await
        .unwrap();
    let cold = app.calls.take();
    assert_eq!(cold[0], "SSM.GetParameter", "the cold start reads the config: {cold:?}");
    app.handle(&push_event("calls/web", Some("v3"), &digest(2), "2026-11-26T10:01:00Z"))
        .await
        .unwrap();
    assert_eq!(
        app.calls.take(),
        [
            "DynamoDB.PutItem",
            "ECS.DescribeServices",
            "ECS.DescribeTaskDefinition",
            "ECS.RegisterTaskDefinition",
            "ECS.UpdateService",
            "DynamoDB.DeleteItem"
        ]
    );
}

#[tokio::test]
async fn an_untagged_push_deploys_only_where_the_route_opts_in_and_records_no_readable_tag() {
    let app = App::new("bydigest").await;
    app.service("web", vec![container("web", &image("bd/web", "v1"))]).await;
    app.service("worker", vec![container("worker", &image("bd/web", "v1"))])
        .await;
    app.config(json!([
        app.route("web", "bd/web"),
        {"cluster": app.cluster, "service": "worker", "repository": "bd/web", "untagged": true}
    ]))
    .await;

    // What `docker buildx` pushes beside the tagged index: untagged manifests. They never decide
    // what runs unless the route says so.
    let d = digest(7);
    let outcomes = app
        .handle(&push_event("bd/web", None, &d, "2026-11-26T10:00:00Z"))
        .await
        .unwrap();
    let by_service = |s: &str| outcomes.iter().find(|o| o.service.as_deref() == Some(s)).unwrap();
    assert_eq!(
        (by_service("web").action, by_service("web").reason.as_str()),
        (Action::Skipped, "untagged")
    );
    assert_eq!(app.running_images("web").await[0].1, image("bd/web", "v1"));
    assert_eq!(by_service("worker").action, Action::Deployed);
    let (td, tags) = app.task_definition(&app.running_arn("worker").await).await;
    assert_eq!(
        td.container_definitions.unwrap()[0].image.as_deref(),
        Some(pinned("bd/web", &d).as_str())
    );
    assert!(!tags.iter().any(|t| t.key.as_deref() == Some("pushdeploy:tag:bd/web")));
}

#[tokio::test]
async fn a_duplicate_event_registers_nothing_and_updates_nothing() {
    let app = App::new("dup").await;
    app.service("web", vec![container("web", &image("dup/web", "v1"))])
        .await;
    app.config(json!([app.route("web", "dup/web")])).await;
    let event = push_event("dup/web", Some("v2"), &digest(3), "2026-11-26T10:00:00Z");

    app.handle(&event).await.unwrap();
    let (running, revisions) = (app.running_arn("web").await, app.revisions("web").await);
    app.calls.take();
    let o = app.handle(&event).await.unwrap().remove(0);

    assert_eq!((o.action, o.reason.as_str()), (Action::Skipped, "already-running"));
    assert_eq!(o.task_definition.as_deref(), Some(running.as_str()));
    assert_eq!(app.running_arn("web").await, running);
    assert_eq!(app.revisions("web").await, revisions);
    let calls = app.calls.take();
    assert!(
        !calls
            .iter()
            .any(|c| c.contains("Register") || c.contains("UpdateService")),
        "{calls:?}"
    );
}

#[tokio::test]
async fn an_event_older_than_the_running_image_never_downgrades() {
    let app = App::new("late").await;
    app.service("web", vec![container("web", &image("late/web", "v1"))])
        .await;
    app.config(json!([app.route("web", "late/web")])).await;
    let (newer, older) = (digest(20), digest(10));

    app.handle(&push_event("late/web", Some("v3"), &newer, "2026-11-26T10:05:00Z"))
        .await
        .unwrap();
    let o = app
        .handle(&push_event("late/web", Some("v2"), &older, "2026-11-26T10:00:00Z"))
        .await
        .unwrap()
        .remove(0);

    assert_eq!((o.action, o.reason.as_str()), (Action::Skipped, "older-than-running"));
    assert_eq!(app.running_images("web").await[0].1, pinned("late/web", &newer));
}

#[tokio::test]
async fn the_tag_filter_accepts_matching_tags_and_skips_the_rest() {
    let app = App::new("filter").await;
    app.service("web", vec![container("web", &image("flt/web", "v1"))])
        .await;
    app.config(
        json!([{"cluster": app.cluster, "service": "web", "repository": "flt/web", "tags": ["v*", "release-*"]}]),
    )
    .await;

    let rejected = app
        .handle(&push_event(
            "flt/web",
            Some("dev-42"),
            &digest(4),
            "2026-11-26T10:00:00Z",
        ))
        .await
        .unwrap();
    assert_eq!(
        (rejected[0].action, rejected[0].reason.as_str()),
        (Action::Skipped, "tag-filtered")
    );
    assert_eq!(app.running_images("web").await[0].1, image("flt/web", "v1"));
    let untagged = app
        .handle(&push_event("flt/web", None, &digest(5), "2026-11-26T10:00:01Z"))
        .await
        .unwrap();
    assert_eq!(
        untagged[0].reason, "untagged",
        "an untagged push deploys only where the route opts in"
    );

    let accepted = app
        .handle(&push_event(
            "flt/web",
            Some("release-7"),
            &digest(6),
            "2026-11-26T10:00:02Z",
        ))
        .await
        .unwrap();
    assert_eq!(accepted[0].action, Action::Deployed);
    assert_eq!(app.running_images("web").await[0].1, pinned("flt/web", &digest(6)));
}

#[tokio::test]
async fn a_push_to_a_repository_no_service_uses_is_skipped() {
    let app = App::new("unknown").await;
    app.service("web", vec![container("web", &image("unk/web", "v1"))])
        .await;
    app.config(json!([app.route("web", "unk/web")])).await;

    let outcomes = app
        .handle(&push_event("unk/other", Some("v1"), &digest(8), "2026-11-26T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(
        (outcomes[0].action, outcomes[0].reason.as_str()),
        (Action::Skipped, "no-matching-service")
    );
    assert_eq!(outcomes[0].service, None);
}

#[tokio::test]
async fn a_paused_service_is_skipped_until_resumed() {
    let app = App::new("paused").await;
    app.service("web", vec![container("web", &image("pz/web", "v1"))]).await;
    app.config(json!([app.route("web", "pz/web")])).await;
    let service_arn = app
        .ecs
        .describe_services()
        .cluster(&app.cluster)
        .services("web")
        .send()
        .await
        .unwrap()
        .services
        .unwrap()[0]
        .service_arn
        .clone()
        .unwrap();
    let paused = aws_sdk_ecs::types::Tag::builder()
        .key("pushdeploy:paused")
        .value("true")
        .build();
    app.ecs
        .tag_resource()
        .resource_arn(&service_arn)
        .tags(paused)
        .send()
        .await
        .unwrap();

    let event = push_event("pz/web", Some("v2"), &digest(9), "2026-11-26T10:00:00Z");
    let o = app.handle(&event).await.unwrap().remove(0);
    assert_eq!((o.action, o.reason.as_str()), (Action::Skipped, "paused"));
    assert_eq!(app.running_images("web").await[0].1, image("pz/web", "v1"));

    app.ecs
        .untag_resource()
        .resource_arn(&service_arn)
        .tag_keys("pushdeploy:paused")
        .send()
        .await
        .unwrap();
    assert_eq!(app.handle(&event).await.unwrap()[0].action, Action::Deployed);
}

#[tokio::test]
async fn one_repository_feeds_two_services() {
    let app = App::new("fanout").await;
    app.service("web", vec![container("web", &image("fan/app", "v1"))])
        .await;
    app.service("worker", vec![container("worker", &image("fan/app", "v1"))])
        .await;
    app.config(json!([app.route("web", "fan/app"), app.route("worker", "fan/app")]))
        .await;

    let d = digest(11);
    let mut outcomes = app
        .handle(&push_event("fan/app", Some("v2"), &d, "2026-11-26T10:00:00Z"))
        .await
        .unwrap();
    outcomes.sort_by(|a, b| a.service.cmp(&b.service));
    let services: Vec<_> = outcomes
        .iter()
        .map(|o| (o.service.clone().unwrap(), o.action))
        .collect();
    assert_eq!(
        services,
        [
            ("web".to_string(), Action::Deployed),
            ("worker".to_string(), Action::Deployed)
        ]
    );
    assert_eq!(app.running_images("web").await[0].1, pinned("fan/app", &d));
    assert_eq!(app.running_images("worker").await[0].1, pinned("fan/app", &d));
}

#[tokio::test]
async fn in_a_sidecar_task_definition_only_the_pushed_repositorys_container_changes() {
    let app = App::new("sidecar").await;
    app.service(
        "web",
        vec![
            container("proxy", &image("side/proxy", "v1")),
            container("web", &image("side/web", "v1")),
            container("logs", "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"),
        ],
    )
    .await;
    app.config(json!([app.route("web", "side/web"), app.route("web", "side/proxy")]))
        .await;

    let (web_digest, proxy_digest) = (digest(12), digest(13));
    app.handle(&push_event("side/web", Some("v2"), &web_digest, "2026-11-26T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        app.running_images("web").await,
        [
            ("proxy".to_string(), image("side/proxy", "v1")),
            ("web".to_string(), pinned("side/web", &web_digest)),
            (
                "logs".to_string(),
                "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable".to_string()
            ),
        ]
    );
    // The proxy's push is older than the web push, but it is the proxy's own first push: it deploys.
    app.handle(&push_event(
        "side/proxy",
        Some("v2"),
        &proxy_digest,
        "2026-11-26T09:00:00Z",
    ))
    .await
    .unwrap();
    let images = app.running_images("web").await;
    assert_eq!(images[0].1, pinned("side/proxy", &proxy_digest));
    assert_eq!(images[1].1, pinned("side/web", &web_digest));
}

#[tokio::test]
async fn a_missing_service_is_a_fatal_error_that_says_what_to_do() {
    let app = App::new("missing").await;
    app.config(json!([app.route("ghost", "ms/web")])).await;

    let err = app
        .handle(&push_event("ms/web", Some("v2"), &digest(14), "2026-11-26T10:00:00Z"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ServiceNotFound { .. }), "{err:?}");
    assert_eq!(err.error_type(), "Fatal.ServiceNotFound");
    assert!(err.to_string().contains("pushdeploy up"), "{err}");
}

#[tokio::test]
async fn a_missing_cluster_is_reported_as_such() {
    let app = App::new("nocluster").await;
    // The app's own cluster, gone (the function's role is the app's: another cluster is denied).
    app.ecs.delete_cluster().cluster(&app.cluster).send().await.unwrap();
    app.config(json!([{"cluster": app.cluster, "service": "web", "repository": "nc/web"}]))
        .await;
    let err = app
        .handle(&push_event("nc/web", Some("v2"), &digest(15), "2026-11-26T10:00:00Z"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ClusterNotFound { .. } | Error::ServiceNotFound { .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn one_failing_service_fails_the_event_but_the_others_still_deploy() {
    let app = App::new("partial").await;
    app.service("web", vec![container("web", &image("pt/web", "v1"))]).await;
    app.config(json!([app.route("web", "pt/web"), app.route("ghost", "pt/web")]))
        .await;

    let err = app
        .handle(&push_event("pt/web", Some("v2"), &digest(16), "2026-11-26T10:00:00Z"))
        .await
        .unwrap_err();
    let Error::Partial { failures, outcomes } = &err else {
        panic!("expected a partial failure: {err:?}")
    };
    assert_eq!(failures.len(), 1);
    assert_eq!(outcomes[0].action, Action::Deployed);
    assert_eq!(app.running_images("web").await[0].1, pinned("pt/web", &digest(16)));
}

#[tokio::test]
async fn a_missing_config_names_the_parameter() {
    let app = App::new("noconfig").await;
    let err = app
        .handle(&push_event("nc/web", Some("v2"), &digest(17), "2026-11-26T10:00:00Z"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&app.parameter) && text.contains("not found"), "{text}");
    assert_eq!(err.error_type(), "Fatal.ConfigError");
}

#[tokio::test]
async fn an_invalid_config_says_which_parameter_and_what_is_wrong() {
    let app = App::new("badconfig").await;
    app.put_config(r#"{"version":1,"app":"x","services":[{"cluster":"c","service":"s"}]}"#)
        .await;
    let err = app
        .handle(&push_event("bc/web", Some("v2"), &digest(18), "2026-11-26T10:00:00Z"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&app.parameter) && text.contains("repository"), "{text}");
}

#[tokio::test]
async fn events_that_are_not_successful_pushes_are_skipped_without_reading_the_config() {
    let app = App::new("ignored").await;
    for (name, reason) in [
        ("ecr-delete.json", "not-a-push"),
        ("ecr-push-failed.json", "push-failed"),
        ("other-source.json", "not-an-ecr-image-action"),
    ] {
        let text = std::fs::read_to_string(crate::emulator::root().join("events").join(name)).unwrap();
        let event: serde_json::Value = serde_json::from_str(&text).unwrap();
        let outcomes = app.handle(&event).await.unwrap();
        assert_eq!(outcomes.len(), 1, "{name}");
        assert_eq!(
            (outcomes[0].action, outcomes[0].reason.as_str()),
            (Action::Skipped, reason),
            "{name}"
        );
    }
    assert!(
        app.calls.take().is_empty(),
        "no AWS call for an event that concerns nobody"
    );
}

#[tokio::test]
async fn concurrent_shuffled_and_duplicated_events_end_on_the_newest_image_without_duplicate_revisions() {
    let app = App::new("race").await;
    app.service("web", vec![container("web", &image("race/web", "v1"))])
        .await;
    app.config(json!([app.route("web", "race/web")])).await;
    let events: Vec<_> = (1..=4)
        .map(|i| {
            push_event(
                "race/web",
                Some(&format!("v{i}")),
                &digest(100 + i),
                &format!("2026-11-26T10:0{i}:00Z"),
            )
        })
        .collect();
    // Each event three times, newest first, then interleaved: the worst order for last-writer-wins.
    let order = [3usize, 3, 2, 1, 0, 3, 2, 1, 0, 0, 1, 2];
    let results = futures::future::join_all(order.iter().map(|&i| app.handle(&events[i]))).await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    assert_eq!(app.running_images("web").await[0].1, pinned("race/web", &digest(104)));
    let mut seen = std::collections::HashSet::new();
    for arn in app.revisions("web").await {
        let (td, _) = app.task_definition(&arn).await;
        let img = td.container_definitions.unwrap()[0].image.clone().unwrap();
        assert!(seen.insert(img.clone()), "two revisions carry {img}");
    }
}
