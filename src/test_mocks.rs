//! Unit-test doubles: the engine over `aws-smithy-mocks` clients, so the engine's decisions are
//! tested through the real SDK (de)serializers without an emulator. Answers are JSON as the
//! services send it.

use std::time::Duration;

use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

use crate::engine::{Clients, Engine};
use crate::lock::LockSettings;

pub const PARAMETER: &str = "/pushdeploy/shop/config";
pub const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
pub const SERVICE_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service/shop/web";

pub fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

pub fn td(n: u32) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task-definition/shop-web:{n}")
}

pub fn ok(body: serde_json::Value) -> HttpResponse {
    HttpResponse::new(StatusCode::try_from(200).unwrap(), SdkBody::from(body.to_string()))
}

pub fn failure(status: u16, code: &str) -> HttpResponse {
    let body = serde_json::json!({"__type": code, "message": code}).to_string();
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

/// The app's state outside ECS: SSM holding `routes` as the routing config of app `shop`, and its
/// lock table with a lock that is always free. `[0]` reads the config, `[1]` takes a lock
/// (DynamoDB PutItem on `pushdeploy-shop-locks`), `[2]` releases it (DeleteItem).
pub fn ssm_rules(routes: serde_json::Value) -> Vec<Rule> {
    let config = serde_json::json!({"version": 1, "app": "shop", "services": routes}).to_string();
    let get = serde_json::json!({"Parameter": {"Name": PARAMETER, "Value": config, "Type": "String", "Version": 1}});
    vec![
        mock!(aws_sdk_ssm::Client::get_parameter)
            .match_requests(|r| r.name() == Some(PARAMETER))
            .then_http_response(move || ok(get.clone())),
        mock!(aws_sdk_dynamodb::Client::put_item)
            .match_requests(|r| r.table_name() == Some("pushdeploy-shop-locks"))
            .then_http_response(|| ok(serde_json::json!({}))),
        mock!(aws_sdk_dynamodb::Client::delete_item)
            .match_requests(|r| r.table_name() == Some("pushdeploy-shop-locks"))
            .then_http_response(|| ok(serde_json::json!({}))),
    ]
}

/// The engine over mocked ECS, SSM, ECR and DynamoDB (`state` serves both SSM and DynamoDB: a
/// rule answers only its own operation); unmatched calls fail the test.
pub fn engine(ecs: &[&Rule], state: &[Rule], ecr: &[&Rule]) -> Engine {
    let clients = Clients {
        ecs: mock_client!(aws_sdk_ecs, RuleMode::MatchAny, ecs),
        ssm: mock_client!(aws_sdk_ssm, RuleMode::MatchAny, state.iter()),
        ecr: mock_client!(aws_sdk_ecr, RuleMode::MatchAny, ecr),
        dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, state.iter()),
    };
    Engine::from_clients(clients, PARAMETER.into(), Duration::from_secs(60)).with_lock_settings(LockSettings {
        lease: Duration::from_secs(30),
        wait: Duration::from_secs(1),
    })
}

/// DescribeServices answering one ACTIVE service `web` of cluster `shop`.
pub fn service(task_definition: &str, tags: serde_json::Value, deployments: serde_json::Value) -> Rule {
    let body = serde_json::json!({"services": [{"serviceName": "web", "serviceArn": SERVICE_ARN, "clusterArn":
        "arn:aws:ecs:us-east-1:123456789012:cluster/shop", "status": "ACTIVE", "taskDefinition": task_definition,
        "tags": tags, "deployments": deployments}], "failures": []});
    mock!(aws_sdk_ecs::Client::describe_services).then_http_response(move || ok(body.clone()))
}

/// DescribeTaskDefinition answering a revision whose container `web` runs `image`.
pub fn definition(arn: &str, image: &str, tags: serde_json::Value) -> Rule {
    let body = serde_json::json!({"taskDefinition": {"taskDefinitionArn": arn, "family": "shop-web", "revision": 1,
        "containerDefinitions": [{"name": "web", "image": image, "memory": 128}]}, "tags": tags});
    mock!(aws_sdk_ecs::Client::describe_task_definition).then_http_response(move || ok(body.clone()))
}
