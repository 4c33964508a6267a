//! Error shapes moto cannot produce (throttling, 5xx, access denied), replayed through the real
//! SDK deserializers with `aws-smithy-mocks`: they must surface as typed errors that tell Lambda
//! whether to retry, and transient ones must be absorbed by the SDK's own retries.

use std::time::Duration;

use aws_sdk_ecs::Client as Ecs;
use aws_sdk_ssm::Client as Ssm;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use pushdeploy::{Action, Engine, Error};

use crate::fixture::{digest, push_event, REGISTRY};

const PARAMETER: &str = "/pushdeploy/faults/config";
const TD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1";

fn response(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body.to_string()))
}

fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({"__type": code, "message": message}).to_string()
}

fn ssm_ok() -> Vec<Rule> {
    let config = serde_json::json!({"version": 1, "app": "faults",
        "services": [{"cluster": "faults", "service": "web", "repository": "web"}]})
    .to_string();
    let get = serde_json::json!({"Parameter": {"Name": PARAMETER, "Value": config, "Type": "String", "Version": 1}})
        .to_string();
    vec![
        mock!(Ssm::get_parameter)
            .match_requests(|r| r.name() == Some(PARAMETER))
            .then_http_response(move || response(200, &get)),
        mock!(aws_sdk_dynamodb::Client::put_item).then_http_response(|| response(200, "{}")),
        mock!(aws_sdk_dynamodb::Client::delete_item).then_http_response(|| response(200, "{}")),
    ]
}

fn describe_services_ok() -> HttpResponse {
    response(
        200,
        &serde_json::json!({"services": [{"serviceName": "web", "status": "ACTIVE", "taskDefinition": TD, "tags": []}], "failures": []})
            .to_string(),
    )
}

fn describe_task_definition_ok() -> HttpResponse {
    response(
        200,
        &serde_json::json!({"taskDefinition": {"taskDefinitionArn": TD, "family": "web", "revision": 1,
            "containerDefinitions": [{"name": "web", "image": format!("{REGISTRY}/web:v1")}]}, "tags": []})
        .to_string(),
    )
}

fn register_ok() -> HttpResponse {
    response(
        200,
        &serde_json::json!({"taskDefinition": {"taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2",
            "family": "web", "revision": 2}})
        .to_string(),
    )
}

fn engine(ecs_rules: Vec<Rule>) -> Engine {
    engine_with(ecs_rules, Vec::new())
}

fn ecs_ok_until_update(update: Rule) -> Vec<Rule> {
    vec![
        mock!(Ecs::describe_services).then_http_response(describe_services_ok),
        mock!(Ecs::describe_task_definition).then_http_response(describe_task_definition_ok),
        mock!(Ecs::register_task_definition).then_http_response(register_ok),
        // A failed update leaves no revision behind for the retry to duplicate.
        mock!(Ecs::deregister_task_definition).then_http_response(|| response(200, "{}")),
        update,
    ]
}

async fn run(engine: &Engine) -> Result<Vec<pushdeploy::Outcome>, Error> {
    engine
        .handle_event(
            &push_event("web", Some("v2"), &digest(1), "2026-11-26T10:00:00Z"),
            "faults",
        )
        .await
}

#[tokio::test]
async fn persistent_throttling_fails_the_invocation_as_retryable() {
    let update = mock!(Ecs::update_service)
        .then_http_response(|| response(400, &error_body("ThrottlingException", "Rate exceeded")));
    let err = run(&engine(ecs_ok_until_update(update))).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(err.error_type(), "Retryable.AwsError");
    let diagnostic: lambda_runtime::Diagnostic = err.into();
    assert!(
        diagnostic.error_message.contains("ecs:UpdateService")
            && diagnostic.error_message.contains("ThrottlingException")
    );
}

#[tokio::test]
async fn a_server_error_is_retryable() {
    let describe =
        mock!(Ecs::describe_services).then_http_response(|| response(500, &error_body("ServerException", "internal")));
    let err = run(&engine(vec![describe])).await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Aws {
                operation: "ecs:DescribeServices",
                retryable: true,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_transient_throttle_is_absorbed_by_the_sdk_retry() {
    let update = mock!(Ecs::update_service)
        .sequence()
        .http_status(400, Some(error_body("ThrottlingException", "Rate exceeded")))
        .http_response(|| response(200, r#"{"service":{"serviceName":"web","status":"ACTIVE"}}"#))
        .build();
    let outcomes = run(&engine(ecs_ok_until_update(update))).await.unwrap();
    assert_eq!(outcomes[0].action, Action::Deployed);
}

#[tokio::test]
async fn access_denied_is_fatal_and_names_the_missing_permission() {
    let update = mock!(Ecs::update_service).then_http_response(|| {
        response(
            400,
            &error_body(
                "AccessDeniedException",
                "User is not authorized to perform: ecs:UpdateService",
            ),
        )
    });
    let err = run(&engine(ecs_ok_until_update(update))).await.unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(err.error_type(), "Fatal.AwsError");
    assert!(err.to_string().contains("grant ecs:UpdateService"), "{err}");
}

#[tokio::test]
async fn a_deleted_service_is_reported_as_not_found() {
    let describe = mock!(Ecs::describe_services).then_http_response(|| {
        response(200, r#"{"services":[],"failures":[{"arn":"arn:aws:ecs:us-east-1:123456789012:service/faults/web","reason":"MISSING"}]}"#)
    });
    let err = run(&engine(vec![describe])).await.unwrap_err();
    assert!(matches!(err, Error::ServiceNotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn a_new_instance_profile_not_yet_visible_is_retried_until_it_is() {
    use aws_sdk_autoscaling::Client as Asg;
    use pushdeploy_cli::poll::{code_is, retry};

    let not_yet = "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Invalid IamInstanceProfile: pushdeploy-demo-instance</Message></Error><RequestId>1</RequestId></ErrorResponse>";
    let rule = mock!(Asg::create_auto_scaling_group)
        .sequence()
        .http_status(400, Some(not_yet.to_string()))
        .times(2)
        .http_response(|| response(200, "<CreateAutoScalingGroupResponse><ResponseMetadata><RequestId>2</RequestId></ResponseMetadata></CreateAutoScalingGroupResponse>"))
        .build();
    let asg = mock_client!(aws_sdk_autoscaling, RuleMode::Sequential, [&rule]);
    let result = retry(Duration::from_secs(30), code_is("ValidationError"), || {
        asg.create_auto_scaling_group().auto_scaling_group_name("g").send()
    })
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(rule.num_calls(), 3);

    // Auto Scaling gives the same code to a real mistake: only a run that created the template
    // or the profile a moment ago retries it (resources::auto_scaling_group).
    let other = "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>MaxSize must be at least MinSize</Message></Error><RequestId>3</RequestId></ErrorResponse>";
    let rule = mock!(Asg::create_auto_scaling_group).then_http_response(move || response(400, other));
    let asg = mock_client!(aws_sdk_autoscaling, RuleMode::Sequential, [&rule]);
    let created_now = false;
    let result = retry(
        Duration::from_secs(30),
        |e| created_now && code_is("ValidationError")(e),
        || asg.create_auto_scaling_group().auto_scaling_group_name("g").send(),
    )
    .await;
    assert!(result.is_err());
    assert_eq!(rule.num_calls(), 1, "nothing new to wait for: not retried");
}

/// A context whose every call is answered by `rules` (aws-smithy-mocks), never the network.
fn mocked(rules: &[&Rule]) -> pushdeploy_cli::Context {
    use aws_smithy_mocks::{create_mock_http_client, MockResponseInterceptor};
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .http_client(create_mock_http_client())
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new("testing", "testing", None, None, "mocks"),
        ))
        .build();
    pushdeploy_cli::Context::new(sdk, pushdeploy_cli::cli::OutputFormat::Json).with_interceptor(interceptor)
}

#[tokio::test]
async fn a_capacity_provider_change_is_sent_with_a_new_deployment_and_other_settings_never_are() {
    use aws_sdk_ecs::operation::update_service::UpdateServiceOutput;
    use pushdeploy_cli::app_file::{App, AppFile};
    use pushdeploy_cli::resources::facts::Facts;
    use pushdeploy_cli::resources::model::Resource;
    use pushdeploy_cli::resources::service::{Drift, Service};

    let app = App::resolve(AppFile::default(), Some("demo"), "defaults", None).unwrap();
    let svc = Service::new(&app, &app.services()[0]);
    let step = pushdeploy_cli::progress::Progress::silent().step("t");
    let observed = aws_sdk_ecs::types::Service::builder().build();
    // ECS refuses a strategy change without forceNewDeployment: only that exact shape is answered.
    let with_force = mock!(Ecs::update_service)
        .match_requests(|r| {
            r.force_new_deployment() == Some(true)
                && r.capacity_provider_strategy().first().map(|s| s.capacity_provider()) == Some("pushdeploy-demo")
        })
        .then_output(|| UpdateServiceOutput::builder().build());
    // The service read again (the task definition's roll-out may have moved it already): still
    // on no provider here, so the strategy goes.
    let described = |provider: Option<&'static str>| {
        let mut service = aws_sdk_ecs::types::Service::builder()
            .service_name("web")
            .status("ACTIVE");
        if let Some(p) = provider {
            service = service.capacity_provider_strategy(
                aws_sdk_ecs::types::CapacityProviderStrategyItem::builder()
                    .capacity_provider(p)
                    .build()
                    .unwrap(),
            );
        }
        let service = service.build();
        mock!(Ecs::describe_services).then_output(move || {
            aws_sdk_ecs::operation::describe_services::DescribeServicesOutput::builder()
                .services(service.clone())
                .build()
        })
    };
    let elsewhere = described(None);
    let ctx = mocked(&[&with_force, &elsewhere]);
    let changed = [Drift::CapacityProvider {
        have: vec![],
        want: "pushdeploy-demo".into(),
    }];
    svc.apply(&ctx, &observed, &changed, &Facts::default(), &step)
        .await
        .unwrap();
    assert_eq!(with_force.num_calls(), 1);
    // Already there (moved with its revision): nothing is sent at all.
    let there = described(Some("pushdeploy-demo"));
    let any_update = mock!(Ecs::update_service).then_output(|| UpdateServiceOutput::builder().build());
    let ctx = mocked(&[&there, &any_update]);
    svc.apply(&ctx, &observed, &changed, &Facts::default(), &step)
        .await
        .unwrap();
    assert_eq!((there.num_calls(), any_update.num_calls()), (1, 0));
    // Any other drift sends no strategy and never redeploys.
    let settings_only = mock!(Ecs::update_service)
        .match_requests(|r| r.force_new_deployment().is_none() && r.capacity_provider_strategy().is_empty())
        .then_output(|| UpdateServiceOutput::builder().build());
    let ctx = mocked(&[&settings_only]);
    let count = [Drift::DesiredCount { have: 2, want: 1 }, Drift::CircuitBreaker];
    svc.apply(&ctx, &observed, &count, &Facts::default(), &step)
        .await
        .unwrap();
    assert_eq!(settings_only.num_calls(), 1);
}

#[tokio::test]
async fn down_waits_out_a_capacity_provider_still_in_use_or_being_updated() {
    use aws_sdk_ecs::operation::put_cluster_capacity_providers::PutClusterCapacityProvidersOutput;
    use pushdeploy_cli::app_file::{App, AppFile};
    use pushdeploy_cli::resources::cluster_capacity::{Attachment, ClusterCapacity};
    use pushdeploy_cli::resources::model::Resource;

    let app = App::resolve(AppFile::default(), Some("demo"), "defaults", None).unwrap();
    let detach = mock!(Ecs::put_cluster_capacity_providers)
        .sequence()
        .http_status(
            400,
            Some(error_body(
                "ResourceInUseException",
                "The specified capacity provider is in use and cannot be removed.",
            )),
        )
        .http_status(
            400,
            Some(error_body("UpdateInProgressException", "an update is in progress")),
        )
        .output(|| PutClusterCapacityProvidersOutput::builder().build())
        .build();
    let ctx = mocked(&[&detach]);
    let attachment = Attachment {
        providers: vec!["pushdeploy-demo".into()],
        default_strategy: vec!["pushdeploy-demo".into()],
    };
    let step = pushdeploy_cli::progress::Progress::silent().step("t");
    ClusterCapacity::new(&app, true)
        .delete(&ctx, &attachment, &step)
        .await
        .expect("detached once ECS let go");
    assert_eq!(detach.num_calls(), 3);

    let refused = mock!(Ecs::put_cluster_capacity_providers)
        .then_http_response(|| response(400, &error_body("InvalidParameterException", "not this")));
    let ctx = mocked(&[&refused]);
    assert!(ClusterCapacity::new(&app, true)
        .delete(&ctx, &attachment, &step)
        .await
        .is_err());
    assert_eq!(refused.num_calls(), 1, "other errors are not waited out");
}

// --- The calls of the closed loop: the failure memory's TagResource and the sync's DescribeImages.

const SERVICE_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service/faults/web";

/// The engine over mocked clients: SSM and DynamoDB answer the config and a free lock.
fn engine_with(ecs_rules: Vec<Rule>, ecr_rules: Vec<Rule>) -> Engine {
    let state = ssm_ok();
    let clients = pushdeploy::Clients {
        ecs: mock_client!(aws_sdk_ecs, RuleMode::MatchAny, ecs_rules.iter()),
        ssm: mock_client!(aws_sdk_ssm, RuleMode::MatchAny, state.iter()),
        ecr: mock_client!(aws_sdk_ecr, RuleMode::MatchAny, ecr_rules.iter()),
        dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, state.iter()),
    };
    Engine::from_clients(clients, PARAMETER.into(), Duration::from_secs(60))
}

/// The service in the middle of ECS's rollback of deployment `ecs-svc/1`, which ran `digest(1)`.
fn failed_deployment_rules(tag: Rule) -> Vec<Rule> {
    let described = serde_json::json!({"services": [{"serviceName": "web", "serviceArn": SERVICE_ARN, "status": "ACTIVE",
        "taskDefinition": TD, "tags": [],
        "deployments": [
            {"id": "ecs-svc/2", "status": "PRIMARY", "taskDefinition": TD, "rolloutState": "IN_PROGRESS"},
            {"id": "ecs-svc/1", "status": "ACTIVE", "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2",
             "rolloutState": "FAILED", "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start."}]}],
        "failures": []})
    .to_string();
    let definition = serde_json::json!({"taskDefinition": {"taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2",
        "family": "web", "revision": 2,
        "containerDefinitions": [{"name": "web", "image": format!("{REGISTRY}/web@{}", digest(1))}]}, "tags": []})
    .to_string();
    vec![
        mock!(Ecs::describe_services).then_http_response(move || response(200, &described)),
        mock!(Ecs::describe_task_definition).then_http_response(move || response(200, &definition)),
        // No service-deployment record (a revision from before ECS kept them): the deployment
        // DescribeServices shows under the event's id is the one that failed.
        mock!(Ecs::list_service_deployments).then_http_response(|| response(200, r#"{"serviceDeployments":[]}"#)),
        tag,
    ]
}

async fn failure_event(engine: &Engine) -> Result<Vec<pushdeploy::Outcome>, Error> {
    let event = serde_json::json!({"version": "0", "id": "e", "detail-type": "ECS Deployment State Change",
        "source": "aws.ecs", "account": "123456789012", "time": "2026-11-26T10:05:00Z", "region": "us-east-1",
        "resources": [SERVICE_ARN],
        "detail": {"eventType": "ERROR", "eventName": "SERVICE_DEPLOYMENT_FAILED", "deploymentId": "ecs-svc/1",
                   "reason": "ECS deployment circuit breaker: tasks failed to start."}});
    engine.handle_event(&event, "faults").await
}

#[tokio::test]
async fn remembering_a_failure_fails_the_event_as_retryable_when_throttled_and_fatal_when_denied() {
    let throttled = mock!(Ecs::tag_resource)
        .then_http_response(|| response(400, &error_body("ThrottlingException", "Rate exceeded")));
    let err = failure_event(&engine_with(failed_deployment_rules(throttled), vec![]))
        .await
        .unwrap_err();
    assert!(
        err.is_retryable(),
        "the event is retried, so the failure is not lost: {err}"
    );
    assert!(err.to_string().contains("ecs:TagResource"), "{err}");

    let denied = mock!(Ecs::tag_resource).then_http_response(|| {
        response(
            400,
            &error_body(
                "AccessDeniedException",
                "User is not authorized to perform: ecs:TagResource",
            ),
        )
    });
    let err = failure_event(&engine_with(failed_deployment_rules(denied), vec![]))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Fatal.AwsError");
    assert!(err.to_string().contains("grant ecs:TagResource"), "{err}");

    let once = mock!(Ecs::tag_resource)
        .sequence()
        .http_status(500, Some(error_body("ServerException", "internal")))
        .http_response(|| response(200, "{}"))
        .build();
    let outcomes = failure_event(&engine_with(failed_deployment_rules(once), vec![]))
        .await
        .unwrap();
    // No service-deployment record here: ECS's words as they are (a code comes only from the
    // record's typed fields).
    assert_eq!(
        (outcomes[0].action, outcomes[0].reason.as_str()),
        (Action::Failed, "ECS deployment circuit breaker: tasks failed to start.")
    );
    assert_eq!(outcomes[0].image, Some(format!("{REGISTRY}/web@{}", digest(1))));
}

fn images_page() -> HttpResponse {
    response(
        200,
        &serde_json::json!({"imageDetails": [{"registryId": "123456789012", "repositoryName": "web",
            "imageDigest": digest(1), "imageTags": ["v1"], "imagePushedAt": 1_790_000_000.0}]})
        .to_string(),
    )
}

async fn sync(engine: &Engine) -> Result<Vec<pushdeploy::Outcome>, Error> {
    engine.sync(&pushdeploy::SyncScope::default(), "faults").await
}

#[tokio::test]
async fn a_sync_that_cannot_list_images_says_whether_a_retry_helps() {
    use aws_sdk_ecr::Client as Ecr;
    let busy = mock!(Ecr::describe_images)
        .then_http_response(|| response(400, &error_body("ThrottlingException", "Rate exceeded")));
    let err = sync(&engine_with(vec![], vec![busy])).await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Aws {
                operation: "ecr:DescribeImages",
                retryable: true,
                ..
            }
        ),
        "{err:?}"
    );
    let down =
        mock!(Ecr::describe_images).then_http_response(|| response(503, &error_body("ServerException", "unavailable")));
    assert!(sync(&engine_with(vec![], vec![down])).await.unwrap_err().is_retryable());
    let denied = mock!(Ecr::describe_images).then_http_response(|| {
        response(
            400,
            &error_body("AccessDeniedException", "not authorized to perform: ecr:DescribeImages"),
        )
    });
    let err = sync(&engine_with(vec![], vec![denied])).await.unwrap_err();
    assert_eq!(err.error_type(), "Fatal.AwsError");
    assert!(err.to_string().contains("grant ecr:DescribeImages"), "{err}");

    // A throttle the SDK's retry absorbs: the sync goes on and deploys the newer image.
    let once = mock!(Ecr::describe_images)
        .sequence()
        .http_status(400, Some(error_body("ThrottlingException", "Rate exceeded")))
        .http_response(images_page)
        .build();
    let update = mock!(Ecs::update_service)
        .then_http_response(|| response(200, r#"{"service":{"serviceName":"web","status":"ACTIVE"}}"#));
    let outcomes = sync(&engine_with(ecs_ok_until_update(update), vec![once]))
        .await
        .unwrap();
    assert_eq!(
        (outcomes[0].action, outcomes[0].reason.as_str()),
        (Action::Deployed, "new-image")
    );
}

/// A deployment of `lost`'s `web` with one pause hook, `h1`, in `hook`'s state.
fn paused(hook: aws_sdk_ecs::types::DeploymentLifecycleHookStatus) -> aws_sdk_ecs::types::ServiceDeployment {
    use aws_sdk_ecs::types::{DeploymentLifecycleHookDetail, DeploymentLifecycleHookTargetType, ServiceDeployment};
    ServiceDeployment::builder()
        .service_deployment_arn(DEPLOYMENT)
        .status(aws_sdk_ecs::types::ServiceDeploymentStatus::InProgress)
        .lifecycle_hook_details(
            DeploymentLifecycleHookDetail::builder()
                .hook_id("h1")
                .target_type(DeploymentLifecycleHookTargetType::Pause)
                .status(hook)
                .build(),
        )
        .build()
}

const DEPLOYMENT: &str = "arn:aws:ecs:us-east-1:123456789012:service-deployment/lost/web/d1";

/// `approve` against ECS answers: the hook awaiting, then (read again after a refusal) `after`;
/// ContinueServiceDeployment applied with its answer lost (a 500), then refused when the SDK
/// sends it again, since the hook is answered.
async fn approve_lost(
    approve: bool,
    after: aws_sdk_ecs::types::DeploymentLifecycleHookStatus,
) -> (
    Result<pushdeploy_cli::commands::approve::Answered, pushdeploy_cli::error::CliError>,
    usize,
) {
    use aws_sdk_ecs::operation::describe_service_deployments::DescribeServiceDeploymentsOutput as Described;
    use aws_sdk_ecs::operation::list_service_deployments::ListServiceDeploymentsOutput;
    use aws_sdk_ecs::types::{DeploymentLifecycleHookStatus as Hook, ServiceDeploymentBrief, ServiceDeploymentStatus};
    use pushdeploy_cli::app_file::App;

    let text = "name = \"lost\"\n[[services]]\nname = \"web\"\n[services.deployment]\nstrategy = \"blue-green\"\n\
                approve_before_production = true\n";
    let app = App::resolve(toml::from_str(text).unwrap(), None, "pushdeploy.toml", Some(text)).unwrap();
    let list = mock!(Ecs::list_service_deployments).then_output(|| {
        ListServiceDeploymentsOutput::builder()
            .service_deployments(
                ServiceDeploymentBrief::builder()
                    .service_deployment_arn(DEPLOYMENT)
                    .status(ServiceDeploymentStatus::InProgress)
                    .build(),
            )
            .build()
    });
    let describe = mock!(Ecs::describe_service_deployments)
        .sequence()
        .output(|| {
            Described::builder()
                .service_deployments(paused(Hook::AwaitingAction))
                .build()
        })
        .output(move || Described::builder().service_deployments(paused(after.clone())).build())
        .build();
    let refused = "The lifecycle hook h1 is not AWAITING_ACTION";
    let answer = mock!(Ecs::continue_service_deployment)
        .sequence()
        .http_status(500, Some(error_body("ServerException", "internal")))
        .http_status(400, Some(error_body("InvalidParameterException", refused)))
        .build();
    let ctx = mocked(&[&list, &describe, &answer]);
    let answered = pushdeploy_cli::commands::approve::answer(&ctx, &app, "web", approve).await;
    (answered, answer.num_calls())
}

#[tokio::test]
async fn an_approval_whose_answer_was_lost_is_found_on_the_hook_and_one_answered_otherwise_is_not() {
    use aws_sdk_ecs::types::DeploymentLifecycleHookStatus as Hook;
    // The lost call was applied: the hook carries its answer, so the resend's refusal is success.
    let (approved, calls) = approve_lost(true, Hook::Succeeded).await;
    assert_eq!(calls, 2, "the SDK resent the call after the 500");
    assert_eq!(approved.unwrap().answer, "approved");
    let (rejected, _) = approve_lost(false, Hook::Failed).await;
    assert_eq!(rejected.unwrap().answer, "rejected");
    // Someone else answered the other way: the refusal stands, with ECS's words.
    let (crossed, _) = approve_lost(false, Hook::Succeeded).await;
    let message = crossed.unwrap_err().to_string();
    assert!(
        message.contains("ecs:ContinueServiceDeployment") && message.contains("not AWAITING_ACTION"),
        "{message}"
    );
}

#[tokio::test]
async fn closing_a_port_revokes_only_up_s_rules_and_one_already_gone_is_the_outcome_wanted() {
    use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
    use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, SecurityGroup};
    use aws_sdk_ec2::Client as Ec2;
    use pushdeploy_cli::resources::security_group::close_port;

    let ours = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(8081)
        .to_port(8081)
        .ip_ranges(
            IpRange::builder()
                .cidr_ip("0.0.0.0/0")
                .description("pushdeploy")
                .build(),
        )
        .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").description("mine").build())
        .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").description("pushdeploy").build())
        .build();
    let describe = mock!(Ec2::describe_security_groups).then_output(move || {
        DescribeSecurityGroupsOutput::builder()
            .security_groups(
                SecurityGroup::builder()
                    .group_id("sg-1")
                    .ip_permissions(ours.clone())
                    .build(),
            )
            .build()
    });
    // Applied once with its answer lost, then sent again: EC2 finds no such rule. Only up's two
    // rules may be sent (the user's 10.0.0.0/8 matches no mock rule, which would fail the call).
    let not_found = r#"<Response><Errors><Error><Code>InvalidPermission.NotFound</Code><Message>The specified rule does not exist in this security group.</Message></Error></Errors><RequestID>r</RequestID></Response>"#;
    let revoke = mock!(Ec2::revoke_security_group_ingress)
        .match_requests(|r| {
            let p = &r.ip_permissions()[0];
            r.group_id() == Some("sg-1")
                && p.from_port() == Some(8081)
                && (p.ip_ranges().iter().all(|c| c.cidr_ip() == Some("0.0.0.0/0")))
                && (p.ipv6_ranges().iter().all(|c| c.cidr_ipv6() == Some("::/0")))
        })
        .then_http_response(move || response(400, not_found));
    let ctx = mocked(&[&describe, &revoke]);
    close_port(&ctx, "sg-1", 8081).await.unwrap();
    assert_eq!(revoke.num_calls(), 2, "one call per rule, the user's left alone");
}
