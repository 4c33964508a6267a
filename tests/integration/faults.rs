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
        mock!(Ssm::put_parameter).then_http_response(|| response(200, r#"{"Version":1,"Tier":"Standard"}"#)),
        mock!(Ssm::delete_parameter).then_http_response(|| response(200, "{}")),
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
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, ecs_rules.iter());
    let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, ssm_ok().iter());
    Engine::from_clients(ecs, ssm, PARAMETER.into(), Duration::from_secs(60))
}

fn ecs_ok_until_update(update: Rule) -> Vec<Rule> {
    vec![
        mock!(Ecs::describe_services).then_http_response(describe_services_ok),
        mock!(Ecs::describe_task_definition).then_http_response(describe_task_definition_ok),
        mock!(Ecs::register_task_definition).then_http_response(register_ok),
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
    use pushdeploy_cli::resources::launch_capacity::retry_iam_propagation;

    let not_yet = "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Invalid IamInstanceProfile: pushdeploy-demo-instance</Message></Error><RequestId>1</RequestId></ErrorResponse>";
    let rule = mock!(Asg::create_auto_scaling_group)
        .sequence()
        .http_status(400, Some(not_yet.to_string()))
        .times(2)
        .http_response(|| response(200, "<CreateAutoScalingGroupResponse><ResponseMetadata><RequestId>2</RequestId></ResponseMetadata></CreateAutoScalingGroupResponse>"))
        .build();
    let asg = mock_client!(aws_sdk_autoscaling, RuleMode::Sequential, [&rule]);
    let result = retry_iam_propagation(Duration::from_secs(30), || {
        asg.create_auto_scaling_group().auto_scaling_group_name("g").send()
    })
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(rule.num_calls(), 3);

    let other = "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>MaxSize must be at least MinSize</Message></Error><RequestId>3</RequestId></ErrorResponse>";
    let rule = mock!(Asg::create_auto_scaling_group).then_http_response(move || response(400, other));
    let asg = mock_client!(aws_sdk_autoscaling, RuleMode::Sequential, [&rule]);
    let result = retry_iam_propagation(Duration::from_secs(30), || {
        asg.create_auto_scaling_group().auto_scaling_group_name("g").send()
    })
    .await;
    assert!(result.is_err());
    assert_eq!(rule.num_calls(), 1, "other validation errors are not retried");
}
