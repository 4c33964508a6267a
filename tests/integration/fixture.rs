//! Test fixtures: an app of its own per test (cluster, services, routing config) in the shared
//! emulator, and helpers to read back what the engine did.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_ecs::types::{ContainerDefinition, Tag, TaskDefinition, TaskDefinitionField};
use pushdeploy::event::Push;
use pushdeploy::lock::LockSettings;
use pushdeploy::Engine;
use serde_json::Value;

use crate::emulator::{sdk_config, CallLog, ACCOUNT, REGION};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The app's deploy lock table, as `pushdeploy up` creates it.
pub async fn create_lock_table(sdk: &SdkConfig, table: &str) {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    aws_sdk_dynamodb::Client::new(sdk)
        .create_table()
        .table_name(table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(pushdeploy::lock::KEY)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(pushdeploy::lock::KEY)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create the lock table");
    // DynamoDB takes writes once the table is ACTIVE (the strict emulator keeps it CREATING a while).
    use aws_sdk_dynamodb::client::Waiters;
    aws_sdk_dynamodb::Client::new(sdk)
        .wait_until_table_exists()
        .table_name(table)
        .wait(Duration::from_secs(60))
        .await
        .expect("the lock table becomes active");
}

/// A name no other test (nor an earlier run against the same emulator) uses.
/// Looks every `every` until `done`, failing the test with `what` after `limit`: for the
/// emulator's timed state (draining, rollouts), which a test waits out rather than sleeps through.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, every: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !done().await {
        assert!(started.elapsed() < limit, "never: {what}");
        tokio::time::sleep(every).await;
    }
}

/// Service `service` of `cluster` as DescribeServices shows it, with its tags.
pub async fn described(ecs: &aws_sdk_ecs::Client, cluster: &str, service: &str) -> aws_sdk_ecs::types::Service {
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .send()
        .await
        .unwrap();
    out.services.unwrap().remove(0)
}

pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let salt = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_micros();
    format!("{prefix}-{n}-{salt}")
}

pub const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

/// `<registry>/<repo>:<tag>`
pub fn image(repo: &str, tag: &str) -> String {
    format!("{REGISTRY}/{repo}:{tag}")
}

/// A well-formed digest derived from `seed`.
pub fn digest(seed: u32) -> String {
    format!("sha256:{:064x}", seed as u128 * 0x9e37_79b9_7f4a_7c15)
}

pub fn push(repo: &str, tag: Option<&str>, digest: &str, time: &str) -> Push {
    Push {
        account: ACCOUNT.into(),
        region: REGION.into(),
        repository: repo.into(),
        digest: digest.into(),
        tag: tag.map(str::to_string),
        pushed_at: time.parse().expect("RFC 3339 time"),
    }
}

/// A push event as EventBridge delivers it.
pub fn push_event(repo: &str, tag: Option<&str>, digest: &str, time: &str) -> Value {
    pushdeploy::event::push_event(&push(repo, tag, digest, time))
}

pub fn container(name: &str, image: &str) -> ContainerDefinition {
    ContainerDefinition::builder()
        .name(name)
        .image(image)
        .memory(128)
        .essential(true)
        .build()
}

pub struct App {
    pub name: String,
    pub cluster: String,
    pub parameter: String,
    pub sdk: SdkConfig,
    pub ecs: aws_sdk_ecs::Client,
    pub ssm: aws_sdk_ssm::Client,
    /// Calls the engine made (not the fixture's own).
    pub calls: CallLog,
    pub engine: Engine,
}

impl App {
    /// A fresh app with its own cluster and no config yet.
    pub async fn new(prefix: &str) -> App {
        let app = App::attach(&unique(prefix)).await;
        app.ecs
            .create_cluster()
            .cluster_name(&app.name)
            .send()
            .await
            .expect("create cluster");
        create_lock_table(&app.sdk, &pushdeploy::lock::table_name(&app.name)).await;
        app
    }

    /// The engine and clients for an app that exists already (one `pushdeploy up` made).
    pub async fn attach(name: &str) -> App {
        let name = name.to_string();
        let sdk = sdk_config().await;
        let calls = CallLog::default();
        // The engine's requests carry the function's name, as the function's do (the IAM proof
        // checks them against the function's role); the fixture's own set-up calls do not.
        let engine_sdk = (sdk.clone().into_builder())
            .app_name(pushdeploy::engine::user_agent_app(Some(&name)))
            .build();
        let engine_ecs = aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::config::Builder::from(&engine_sdk)
                .interceptor(calls.clone())
                .build(),
        );
        let engine_ssm = aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(&engine_sdk)
                .interceptor(calls.clone())
                .build(),
        );
        let engine_ecr = aws_sdk_ecr::Client::from_conf(
            aws_sdk_ecr::config::Builder::from(&engine_sdk)
                .interceptor(calls.clone())
                .build(),
        );
        let engine_dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&engine_sdk)
                .interceptor(calls.clone())
                .build(),
        );
        let parameter = format!("/pushdeploy/{name}/config");
        let clients = pushdeploy::Clients {
            ecs: engine_ecs,
            ssm: engine_ssm,
            ecr: engine_ecr,
            dynamodb: engine_dynamodb,
        };
        let engine = Engine::from_clients(clients, parameter.clone(), Duration::from_secs(60)).with_lock_settings(
            LockSettings {
                lease: Duration::from_secs(30),
                wait: Duration::from_secs(20),
            },
        );
        let ecs = aws_sdk_ecs::Client::new(&sdk);
        App {
            cluster: name.clone(),
            name,
            parameter,
            ssm: aws_sdk_ssm::Client::new(&sdk),
            ecs,
            sdk,
            calls,
            engine,
        }
    }

    /// Registers a task definition with these containers and runs a service on it.
    pub async fn service(&self, service: &str, containers: Vec<ContainerDefinition>) -> String {
        self.create_service(service, containers, None).await
    }

    /// Like [`App::service`], with the deployment circuit breaker on and rolling back, as `up`
    /// creates services: a bad image fails its deployment and ECS puts the last good one back.
    pub async fn guarded_service(&self, service: &str, containers: Vec<ContainerDefinition>) -> String {
        let breaker = aws_sdk_ecs::types::DeploymentCircuitBreaker::builder()
            .enable(true)
            .rollback(true)
            .build();
        let deployments = aws_sdk_ecs::types::DeploymentConfiguration::builder()
            .deployment_circuit_breaker(breaker)
            .build();
        self.create_service(service, containers, Some(deployments)).await
    }

    async fn create_service(
        &self,
        service: &str,
        containers: Vec<ContainerDefinition>,
        deployments: Option<aws_sdk_ecs::types::DeploymentConfiguration>,
    ) -> String {
        let family = format!("{}-{service}", self.name);
        let td = self
            .ecs
            .register_task_definition()
            .family(&family)
            .set_container_definitions(Some(containers))
            .send()
            .await
            .expect("register task definition");
        let arn = td.task_definition.unwrap().task_definition_arn.unwrap();
        self.ecs
            .create_service()
            .cluster(&self.cluster)
            .service_name(service)
            .task_definition(&arn)
            .desired_count(1)
            .set_deployment_configuration(deployments)
            .send()
            .await
            .expect("create service");
        arn
    }

    /// The service's deployments as DescribeServices shows them, with its tags.
    pub async fn described(&self, service: &str) -> aws_sdk_ecs::types::Service {
        described(&self.ecs, &self.cluster, service).await
    }

    /// Writes the routing config: `services` is the JSON array of routes.
    pub async fn config(&self, services: Value) {
        let doc = serde_json::json!({"version": 1, "app": self.name, "services": services});
        self.put_config(&doc.to_string()).await;
    }

    pub async fn put_config(&self, text: &str) {
        self.ssm
            .put_parameter()
            .name(&self.parameter)
            .value(text)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .expect("put config");
    }

    /// A route of this app's cluster.
    pub fn route(&self, service: &str, repository: &str) -> Value {
        serde_json::json!({"cluster": self.cluster, "service": service, "repository": repository})
    }

    /// Runs the engine on an event as the Lambda does.
    pub async fn handle(&self, event: &Value) -> Result<Vec<pushdeploy::Outcome>, pushdeploy::Error> {
        self.engine.handle_event(event, "test").await
    }

    /// The task definition ARN the service runs now.
    pub async fn running_arn(&self, service: &str) -> String {
        let out = self
            .ecs
            .describe_services()
            .cluster(&self.cluster)
            .services(service)
            .send()
            .await
            .unwrap();
        out.services.unwrap().remove(0).task_definition.unwrap()
    }

    /// A task definition and its tags.
    pub async fn task_definition(&self, arn: &str) -> (TaskDefinition, Vec<Tag>) {
        let out = self
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .unwrap();
        (out.task_definition.unwrap(), out.tags.unwrap_or_default())
    }

    /// Images of the running revision's containers, by container name.
    pub async fn running_images(&self, service: &str) -> Vec<(String, String)> {
        let (td, _) = self.task_definition(&self.running_arn(service).await).await;
        td.container_definitions
            .unwrap()
            .into_iter()
            .map(|c| (c.name.unwrap(), c.image.unwrap()))
            .collect()
    }

    /// Every revision ARN of the service's family.
    pub async fn revisions(&self, service: &str) -> Vec<String> {
        let family = format!("{}-{service}", self.name);
        let mut arns = Vec::new();
        let mut pages = self
            .ecs
            .list_task_definitions()
            .family_prefix(&family)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            arns.extend(
                page.expect("list task definitions")
                    .task_definition_arns
                    .unwrap_or_default(),
            );
        }
        arns.retain(|a| a.contains(&format!("/{family}:")));
        arns
    }
}
