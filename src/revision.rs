//! Registering a revision and pointing a service at it, correct when AWS applies a call and its
//! answer is lost. `RegisterTaskDefinition` is not idempotent (each call is a new revision), so
//! it is sent without the SDK's blind retries: every attempt carries a registration mark (a tag
//! with a fresh random value), and after an answer that may hide an applied call the family is
//! searched for that mark before trying again. An `UpdateService` that fails leaves no revision
//! behind: if the service does not run the new one after all, it is deregistered.

use std::time::Duration;

use aws_sdk_ecs::types::{
    CapacityProviderStrategyItem, LoadBalancer, NetworkConfiguration, SortOrder, Tag, TaskDefinitionField,
    TaskDefinitionStatus,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::retry::RetryConfig;

use crate::error::{aws_error, missing_field, Error};
use crate::event::Push;
use crate::image::ImageRef;
use crate::lock::{fresh_token, jittered};
use crate::task_definition::{register_request, tag_value, NewRevision, TAG_REGISTRATION};

/// Attempts at registering one revision: as many as the function's other calls get.
const REGISTER_ATTEMPTS: u32 = crate::engine::FUNCTION_ATTEMPTS;
/// Revisions of the family looked at, newest first, when looking for one registered before.
const RECENT_REVISIONS: i32 = 5;

/// Registers `revision` and points the service at it; returns the new revision's ARN. The
/// CLI's own re-registrations (`up` applying the app file's settings) go through here too.
///
/// IAM: `ecs:RegisterTaskDefinition`, `ecs:TagResource`, `iam:PassRole` (task and execution
/// roles), `ecs:UpdateService`, and on failures `ecs:ListTaskDefinitions`,
/// `ecs:DescribeTaskDefinition`, `ecs:DescribeServices`, `ecs:DeregisterTaskDefinition`.
pub async fn roll_out(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    revision: NewRevision,
) -> Result<String, Error> {
    let new_arn = register(ecs, revision).await?;
    point(ecs, cluster, service, &new_arn).await?;
    Ok(new_arn)
}

/// What changes in the same `UpdateService` as the revision, where the two must change together:
/// ECS starts one new deployment for all of it.
#[derive(Debug, Clone, Default)]
pub struct Along {
    /// The service's load balancers (a new container port: ECS refuses a revision that does not
    /// map the port its load balancer names).
    pub load_balancers: Option<Vec<LoadBalancer>>,
    /// Where its tasks run (between the instances and Fargate: ECS refuses a revision that does
    /// not require the capacity's compatibility). Sent with `forceNewDeployment`, which ECS
    /// requires with a changed strategy.
    pub capacity: Option<Vec<CapacityProviderStrategyItem>>,
    /// Its tasks' network (a public address on Fargate only).
    pub network: Option<NetworkConfiguration>,
}

/// [`roll_out`], with `along` changed in the same `UpdateService`.
pub async fn roll_out_along(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    revision: NewRevision,
    along: Along,
) -> Result<String, Error> {
    let new_arn = register(ecs, revision).await?;
    point_with(ecs, cluster, service, &new_arn, along).await?;
    Ok(new_arn)
}

/// Whether a failed call may have been applied all the same: its answer was a 5xx, or never came.
fn may_have_applied<E>(e: &SdkError<E, HttpResponse>) -> bool {
    match e {
        SdkError::ServiceError(s) => s.raw().status().as_u16() >= 500,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        _ => false,
    }
}

/// Registers `revision`, once: a retry after an answer that may have been lost first looks for
/// the registration mark in the family.
async fn register(ecs: &aws_sdk_ecs::Client, mut revision: NewRevision) -> Result<String, Error> {
    let mark = fresh_token();
    revision.tags.retain(|t| t.key() != Some(TAG_REGISTRATION));
    revision
        .tags
        .push(Tag::builder().key(TAG_REGISTRATION).value(&mark).build());
    let family =
        (revision.definition.family.clone()).ok_or_else(|| missing_field("ecs:RegisterTaskDefinition", "family"))?;
    let marked =
        |_: &aws_sdk_ecs::types::TaskDefinition, tags: &[Tag]| tag_value(tags, TAG_REGISTRATION) == Some(mark.as_str());
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=REGISTER_ATTEMPTS {
        let sent = register_request(ecs.register_task_definition(), revision.clone())
            .customize()
            .config_override(aws_sdk_ecs::config::Builder::new().retry_config(RetryConfig::disabled()))
            .send()
            .await;
        let e = match sent {
            Ok(out) => {
                return (out.task_definition.and_then(|t| t.task_definition_arn))
                    .ok_or_else(|| missing_field("ecs:RegisterTaskDefinition", "taskDefinition.taskDefinitionArn"))
            }
            Err(e) => e,
        };
        let maybe_applied = may_have_applied(&e);
        let error = aws_error("ecs:RegisterTaskDefinition", e);
        if maybe_applied {
            if let Some(arn) = find_in_family(ecs, &family, None, marked).await? {
                tracing::info!(task_definition = %arn, "a registration whose answer was lost was applied: using it");
                return Ok(arn);
            }
        }
        if !error.is_retryable() || attempt == REGISTER_ATTEMPTS {
            return Err(error);
        }
        tokio::time::sleep(jittered(delay)).await;
        delay *= 2;
    }
    unreachable!("the last attempt returns")
}

/// The newest ACTIVE revision of exactly `family` (newer than revision `after`, when given) that
/// `matches`, among the last few.
async fn find_in_family(
    ecs: &aws_sdk_ecs::Client,
    family: &str,
    after: Option<u64>,
    matches: impl Fn(&aws_sdk_ecs::types::TaskDefinition, &[Tag]) -> bool,
) -> Result<Option<String>, Error> {
    // IAM: ecs:ListTaskDefinitions (resource "*")
    let listed = ecs
        .list_task_definitions()
        .family_prefix(family)
        .status(TaskDefinitionStatus::Active)
        .sort(SortOrder::Desc)
        .max_results(RECENT_REVISIONS)
        .send()
        .await
        .map_err(|e| aws_error("ecs:ListTaskDefinitions", e))?;
    let exact = format!(":task-definition/{family}:");
    let newer = |arn: &&String| revision_number(arn).is_some_and(|n| after.is_none_or(|a| n > a));
    for arn in listed
        .task_definition_arns()
        .iter()
        .filter(|a| a.contains(&exact))
        .filter(newer)
    {
        // IAM: ecs:DescribeTaskDefinition (resource "*")
        let out = (ecs.describe_task_definition().task_definition(arn))
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| aws_error("ecs:DescribeTaskDefinition", e))?;
        if out.task_definition().is_some_and(|td| matches(td, out.tags())) {
            return Ok(Some(arn.clone()));
        }
    }
    Ok(None)
}

/// After taking over the lock of a holder that never released it (a killed invocation): a
/// revision it registered for this very push, newer than the one running, that it did not get to
/// point the service at. Deploying it beats registering the image a second time.
pub async fn orphan_of(ecs: &aws_sdk_ecs::Client, running_arn: &str, push: &Push) -> Result<Option<String>, Error> {
    let Some(family) = family_of(running_arn) else {
        return Ok(None);
    };
    let pinned = push.pinned_image();
    let runs_push = |td: &aws_sdk_ecs::types::TaskDefinition, _: &[Tag]| {
        let ours = td.container_definitions().iter().filter(|c| {
            c.image()
                .and_then(|i| ImageRef::parse(i).ok())
                .is_some_and(|i| i.repository == push.repository)
        });
        let images: Vec<Option<&str>> = ours.map(|c| c.image()).collect();
        !images.is_empty() && images.iter().all(|i| *i == Some(pinned.as_str()))
    };
    find_in_family(ecs, family, revision_number(running_arn), runs_push).await
}

/// Points the service at `new_arn`. When that fails, the service either runs it after all (the
/// answer was lost) or the revision is deregistered, so no retry leaves a second one behind.
pub async fn point(ecs: &aws_sdk_ecs::Client, cluster: &str, service: &str, new_arn: &str) -> Result<(), Error> {
    point_with(ecs, cluster, service, new_arn, Along::default()).await
}

/// [`point`], changing `along` in the same call.
async fn point_with(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    new_arn: &str,
    along: Along,
) -> Result<(), Error> {
    let force = along.capacity.is_some().then_some(true);
    // IAM: ecs:UpdateService on arn:aws:ecs:<region>:<account>:service/<cluster>/*
    let sent = ecs
        .update_service()
        .cluster(cluster)
        .service(service)
        .task_definition(new_arn)
        .set_load_balancers(along.load_balancers)
        .set_capacity_provider_strategy(along.capacity)
        .set_network_configuration(along.network)
        .set_force_new_deployment(force)
        .send()
        .await;
    let error = match sent {
        Ok(_) => return Ok(()),
        Err(e) => match e.as_service_error() {
            Some(s) if s.is_service_not_found_exception() || s.is_service_not_active_exception() => {
                Error::ServiceNotFound {
                    cluster: cluster.to_string(),
                    service: service.to_string(),
                }
            }
            _ => aws_error("ecs:UpdateService", e),
        },
    };
    if error.is_retryable() && runs(ecs, cluster, service, new_arn).await {
        return Ok(());
    }
    // IAM: ecs:DeregisterTaskDefinition (resource "*")
    if let Err(e) = ecs.deregister_task_definition().task_definition(new_arn).send().await {
        let e = aws_error("ecs:DeregisterTaskDefinition", e);
        tracing::warn!(task_definition = %new_arn, error = %e, "could not deregister the revision the service never ran");
    }
    Err(error)
}

/// Whether the service runs `arn` (false when that cannot be told).
async fn runs(ecs: &aws_sdk_ecs::Client, cluster: &str, service: &str, arn: &str) -> bool {
    // IAM: ecs:DescribeServices on arn:aws:ecs:<region>:<account>:service/<cluster>/*
    let described = ecs.describe_services().cluster(cluster).services(service).send().await;
    described.is_ok_and(|out| out.services().iter().any(|s| s.task_definition() == Some(arn)))
}

/// `...:task-definition/<family>:<n>` → `<family>`.
fn family_of(arn: &str) -> Option<&str> {
    arn.rsplit_once(":task-definition/")?.1.rsplit_once(':').map(|(f, _)| f)
}

/// `...:task-definition/<family>:<n>` → `n`.
pub fn revision_number(arn: &str) -> Option<u64> {
    arn.rsplit(':').next().and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_ecs::types::{ContainerDefinition, TaskDefinition};
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use serde_json::json;

    use super::*;
    use crate::test_mocks::{digest, failure, ok, td, REGISTRY};

    fn revision(image: &str) -> NewRevision {
        NewRevision {
            definition: TaskDefinition::builder()
                .family("shop-web")
                .container_definitions(ContainerDefinition::builder().name("web").image(image).build())
                .build(),
            tags: vec![Tag::builder()
                .key("pushdeploy:pushed-at:shop/web")
                .value("2026-11-27T10:00:00Z")
                .build()],
            image: image.to_string(),
        }
    }

    /// RegisterTaskDefinition answering `answers` in turn, recording each attempt's mark.
    fn registers(marks: &Arc<Mutex<Vec<String>>>, answers: Vec<fn() -> HttpResponse>) -> Rule {
        let record = marks.clone();
        let mut rule = mock!(aws_sdk_ecs::Client::register_task_definition)
            .match_requests(move |r| {
                let mark = tag_value(r.tags(), TAG_REGISTRATION).unwrap_or_default().to_string();
                record.lock().unwrap().push(mark);
                true
            })
            .sequence();
        for answer in answers {
            rule = rule.http_response(answer);
        }
        rule.build()
    }

    fn registered() -> HttpResponse {
        ok(json!({"taskDefinition": {"taskDefinitionArn": td(2), "family": "shop-web", "revision": 2}}))
    }

    fn update(answer: fn() -> HttpResponse) -> Rule {
        mock!(aws_sdk_ecs::Client::update_service).then_http_response(answer)
    }

    #[tokio::test]
    async fn a_registration_applied_with_its_answer_lost_is_found_by_its_mark_not_made_twice() {
        let marks = Arc::default();
        let register = registers(&marks, vec![|| failure(500, "ServerException")]);
        let seen: Arc<Mutex<Vec<String>>> = marks.clone();
        let listed = mock!(aws_sdk_ecs::Client::list_task_definitions)
            .match_requests(|r| r.family_prefix() == Some("shop-web") && r.sort() == Some(&SortOrder::Desc))
            .then_http_response(|| ok(json!({"taskDefinitionArns": [td(2), td(1)]})));
        // Revision 2 carries the mark of the attempt whose answer was lost.
        let described = mock!(aws_sdk_ecs::Client::describe_task_definition)
            .match_requests(|r| r.task_definition() == Some(td(2).as_str()))
            .then_http_response(move || {
                let mark = seen.lock().unwrap()[0].clone();
                ok(
                    json!({"taskDefinition": {"taskDefinitionArn": td(2), "family": "shop-web", "revision": 2},
                          "tags": [{"key": TAG_REGISTRATION, "value": mark}]}),
                )
            });
        let updated = update(|| ok(json!({"service": {"serviceName": "web"}})));
        let ecs = mock_client!(
            aws_sdk_ecs,
            RuleMode::MatchAny,
            [&register, &listed, &described, &updated]
        );
        let arn = roll_out(&ecs, "shop", "web", revision("img")).await.unwrap();
        assert_eq!(arn, td(2));
        assert_eq!(
            (register.num_calls(), updated.num_calls()),
            (1, 1),
            "registered once, pointed at once"
        );
        assert!(marks.lock().unwrap()[0].len() >= 16, "a fresh random mark");
    }

    #[tokio::test]
    async fn a_throttled_registration_is_tried_again_without_looking_and_the_sdk_never_retries_blindly() {
        let marks = Arc::default();
        let register = registers(&marks, vec![|| failure(400, "ThrottlingException"), registered]);
        let listed = mock!(aws_sdk_ecs::Client::list_task_definitions).then_http_response(|| ok(json!({})));
        let updated = update(|| ok(json!({"service": {"serviceName": "web"}})));
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&register, &listed, &updated]);
        assert_eq!(roll_out(&ecs, "shop", "web", revision("img")).await.unwrap(), td(2));
        assert_eq!(register.num_calls(), 2);
        assert_eq!(
            listed.num_calls(),
            0,
            "a 4xx refusal was not applied: nothing to look for"
        );
        let marks = marks.lock().unwrap();
        assert_eq!(
            marks[0], marks[1],
            "one mark for the registration, whatever the attempts"
        );

        // A 5xx not applied: looked for, not found, registered on the next attempt.
        let marks = Arc::default();
        let register = registers(&marks, vec![|| failure(503, "ServiceUnavailableException"), registered]);
        let listed = mock!(aws_sdk_ecs::Client::list_task_definitions)
            .then_http_response(|| ok(json!({"taskDefinitionArns": [td(1)]})));
        let described = mock!(aws_sdk_ecs::Client::describe_task_definition).then_http_response(|| {
            ok(json!({"taskDefinition": {"taskDefinitionArn": td(1), "family": "shop-web"}, "tags": []}))
        });
        let updated = update(|| ok(json!({"service": {"serviceName": "web"}})));
        let ecs = mock_client!(
            aws_sdk_ecs,
            RuleMode::MatchAny,
            [&register, &listed, &described, &updated]
        );
        assert_eq!(roll_out(&ecs, "shop", "web", revision("img")).await.unwrap(), td(2));
        assert_eq!((register.num_calls(), listed.num_calls()), (2, 1));

        // A refusal that no retry helps is returned at once.
        let marks = Arc::default();
        let register = registers(&marks, vec![|| failure(400, "ClientException")]);
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&register]);
        let err = roll_out(&ecs, "shop", "web", revision("img")).await.unwrap_err();
        assert!(matches!(
            err,
            Error::Aws {
                operation: "ecs:RegisterTaskDefinition",
                retryable: false,
                ..
            }
        ));
        assert_eq!(register.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_failed_update_deregisters_the_revision_unless_the_service_runs_it_after_all() {
        let marks = Arc::default();
        let register = registers(&marks, vec![registered, registered]);
        let refused = update(|| failure(400, "ServiceNotFoundException"));
        let deregistered = mock!(aws_sdk_ecs::Client::deregister_task_definition)
            .match_requests(|r| r.task_definition() == Some(td(2).as_str()))
            .then_http_response(|| ok(json!({"taskDefinition": {"taskDefinitionArn": td(2)}})));
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&register, &refused, &deregistered]);
        let err = roll_out(&ecs, "shop", "web", revision("img")).await.unwrap_err();
        assert!(matches!(err, Error::ServiceNotFound { .. }), "{err:?}");
        assert_eq!(
            deregistered.num_calls(),
            1,
            "no revision left behind for the retry to duplicate"
        );

        // The update's answer was lost, but it was applied: the service runs the revision.
        let lost = update(|| failure(500, "ServerException"));
        let runs_it = mock!(aws_sdk_ecs::Client::describe_services).then_http_response(|| {
            ok(json!({"services": [{"serviceName": "web", "taskDefinition": td(2)}], "failures": []}))
        });
        let deregistered = mock!(aws_sdk_ecs::Client::deregister_task_definition).then_http_response(|| ok(json!({})));
        let ecs = mock_client!(
            aws_sdk_ecs,
            RuleMode::MatchAny,
            [&register, &lost, &runs_it, &deregistered]
        );
        assert_eq!(roll_out(&ecs, "shop", "web", revision("img")).await.unwrap(), td(2));
        assert_eq!(deregistered.num_calls(), 0);
    }

    #[tokio::test]
    async fn after_a_takeover_a_revision_registered_for_the_same_push_is_reused() {
        let push = Push {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            repository: "shop/web".into(),
            digest: digest('b'),
            tag: Some("v2".into()),
            pushed_at: "2026-11-27T10:00:00Z".parse().unwrap(),
        };
        let listed = mock!(aws_sdk_ecs::Client::list_task_definitions)
            .then_http_response(|| ok(json!({"taskDefinitionArns": [td(3), td(2), td(1)]})));
        let other = mock!(aws_sdk_ecs::Client::describe_task_definition)
            .match_requests(|r| r.task_definition() == Some(td(3).as_str()))
            .then_http_response(|| {
                ok(
                    json!({"taskDefinition": {"taskDefinitionArn": td(3), "containerDefinitions": [
                    {"name": "web", "image": format!("{REGISTRY}/shop/web@{}", digest('c'))}]}, "tags": []}),
                )
            });
        let ours = mock!(aws_sdk_ecs::Client::describe_task_definition)
            .match_requests(|r| r.task_definition() == Some(td(2).as_str()))
            .then_http_response(|| {
                ok(
                    json!({"taskDefinition": {"taskDefinitionArn": td(2), "containerDefinitions": [
                    {"name": "web", "image": format!("{REGISTRY}/shop/web@{}", digest('b'))},
                    {"name": "envoy", "image": "envoyproxy/envoy:v1"}]}, "tags": []}),
                )
            });
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&listed, &other, &ours]);
        assert_eq!(orphan_of(&ecs, &td(1), &push).await.unwrap(), Some(td(2)));
        assert_eq!(
            orphan_of(&ecs, &td(2), &push).await.unwrap(),
            None,
            "only revisions newer than the running one"
        );
        assert_eq!(
            (family_of(&td(7)), revision_number(&td(7))),
            (Some("shop-web"), Some(7))
        );
    }
}
