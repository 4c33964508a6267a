//! The engine: the AWS clients built once, the cached routing config and the lock settings, and
//! the entry point for an EventBridge event. The redeploy (`redeploy.rs`), the catch-up sync
//! (`sync.rs`) and the deployment outcomes (`deployment.rs`) each add their part of its `impl`
//! and share the reads below; none of them imports another.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_ecs::types::{Service, ServiceField, Tag, TaskDefinition, TaskDefinitionField};
use futures::future::join_all;
use serde_json::Value;

use crate::config::{self, ServiceRoute};
use crate::config_cache::ConfigCache;
use crate::ecs_status::Status;
use crate::error::{aws_error, missing_field, Error};
use crate::event::{classify, Classified, Push};
use crate::lock::{self, Holder, LockSettings};
use crate::outcome::{Outcome, Reason};
use crate::routing::{route, Routed};
use crate::task_definition::Force;

/// What a sync covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncScope {
    /// Only this service (every routed one when `None`).
    pub service: Option<String>,
    /// Decide, write nothing: what would deploy is `skipped` with reason `dry-run`.
    pub dry_run: bool,
}

/// The AWS clients the engine calls through.
#[derive(Debug, Clone)]
pub struct Clients {
    /// ECS: services, task definitions, deployments.
    pub ecs: aws_sdk_ecs::Client,
    /// SSM Parameter Store: the routing config.
    pub ssm: aws_sdk_ssm::Client,
    /// ECR: the sync's image listing.
    pub ecr: aws_sdk_ecr::Client,
    /// DynamoDB: the deploy locks.
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Clients {
    /// Every client from one SDK config.
    pub fn new(sdk: &SdkConfig) -> Clients {
        Clients {
            ecs: aws_sdk_ecs::Client::new(sdk),
            ssm: aws_sdk_ssm::Client::new(sdk),
            ecr: aws_sdk_ecr::Client::new(sdk),
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
        }
    }
}

/// The engine: clients built once, the cached routing config, and the lock settings.
pub struct Engine {
    pub(crate) ecs: aws_sdk_ecs::Client,
    pub(crate) ecr: aws_sdk_ecr::Client,
    pub(crate) dynamodb: aws_sdk_dynamodb::Client,
    pub(crate) config: ConfigCache,
    pub(crate) lock: LockSettings,
    /// The lock table, when not the app's own `pushdeploy-<app>-locks`.
    pub(crate) lock_table: Option<String>,
}

impl Engine {
    /// An engine over `sdk` that reads its routing config from `parameter`.
    pub fn new(sdk: &SdkConfig, parameter: String, ttl: Duration) -> Engine {
        Engine::from_clients(Clients::new(sdk), parameter, ttl)
    }

    /// An engine over clients built by the caller (with interceptors, say).
    pub fn from_clients(clients: Clients, parameter: String, ttl: Duration) -> Engine {
        Engine {
            ecs: clients.ecs,
            ecr: clients.ecr,
            dynamodb: clients.dynamodb,
            config: ConfigCache::new(clients.ssm, parameter, ttl),
            lock: LockSettings::default(),
            lock_table: None,
        }
    }

    /// The engine as the Lambda runs it: the standard AWS chain (`AWS_ENDPOINT_URL` included),
    /// the config named by `PUSHDEPLOY_APP` or `PUSHDEPLOY_CONFIG_PARAMETER`, the lock table by
    /// `PUSHDEPLOY_LOCK_TABLE` when it is not the app's own.
    pub async fn from_env() -> Result<Engine, Error> {
        let parameter = config::parameter_from_env()?;
        let app = std::env::var(config::ENV_APP).ok();
        // One TLS stack, rustls on ring, trusting the system's roots (or `SSL_CERT_FILE`'s): the
        // SDK's default clients (two stacks) are not linked into the function (issue 20).
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .app_name(user_agent_app(app.as_deref()))
            .retry_config(function_retries())
            .load()
            .await;
        let engine = Engine::new(&sdk, parameter, config::ttl_from_env());
        Ok(
            match std::env::var(config::ENV_LOCK_TABLE).ok().filter(|t| !t.is_empty()) {
                Some(table) => engine.with_lock_table(table),
                None => engine,
            },
        )
    }
}

/// The function's SDK retries: standard mode (throttling, 5xx, timeouts, dropped connections) with
/// five attempts, not the default three. A burst of pushes meets ECS's per-account request
/// rates, and a call the function gives up on fails the whole invocation and waits a minute for
/// Lambda's retry; waits between attempts stay capped at 5 s, so the worst case (1 + 2 + 4 + 5
/// s) fits well inside the 60 s timeout the template gives the function.
pub fn function_retries() -> aws_smithy_types::retry::RetryConfig {
    aws_smithy_types::retry::RetryConfig::standard()
        .with_max_attempts(FUNCTION_ATTEMPTS)
        .with_max_backoff(Duration::from_secs(5))
}

/// Attempts per AWS call in the function (see [`function_retries`]).
pub const FUNCTION_ATTEMPTS: u32 = 5;

impl Engine {
    /// Takes the deploy locks in `table` instead of the app's own.
    pub fn with_lock_table(mut self, table: String) -> Engine {
        self.lock_table = Some(table);
        self
    }

    /// The deploy lock table: the one set, else the app's own (`pushdeploy-<app>-locks`, the
    /// app named by the routing config).
    pub(crate) async fn lock_table(&self) -> Result<String, Error> {
        match &self.lock_table {
            Some(table) => Ok(table.clone()),
            None => Ok(lock::table_name(&self.config.get().await?.app)),
        }
    }

    /// Replaces the lock settings (tests use short waits).
    pub fn with_lock_settings(mut self, lock: LockSettings) -> Engine {
        self.lock = lock;
        self
    }

    /// The routing config cache.
    pub fn config(&self) -> &ConfigCache {
        &self.config
    }

    /// Handles one EventBridge event: a push is routed and redeploys every accepted service; a
    /// deployment state change is reported (and a failed image remembered); a scheduled event
    /// syncs every route.
    /// `holder` names the invocation (its request id) and, in the function, its deadline: the
    /// deploy locks' leases end with it.
    pub async fn handle_event(&self, event: &Value, holder: impl Into<Holder>) -> Result<Vec<Outcome>, Error> {
        let holder = holder.into();
        let push = match classify(event)? {
            Classified::Push(push) => push,
            Classified::Deployment(change) => return self.deployment_outcome(&change).await,
            Classified::Paused(pause) => return self.pause_outcome(&pause).await,
            Classified::Schedule => return self.sync(&SyncScope::default(), &holder).await,
            Classified::Ignored { reason, .. } => return Ok(vec![Outcome::ignored(reason, None)]),
        };
        let config = self.config.get().await?;
        let routed = route(&config, &push);
        if routed.is_empty() {
            return Ok(vec![Outcome::ignored(
                Reason::NoMatchingService,
                Some(push.pinned_image()),
            )]);
        }
        self.redeploy(&push, &routed, &holder, Force::No).await
    }

    /// Redeploys `push` to the routed services, concurrently; reports every service's outcome
    /// and fails (retryably if any failure is) when one of them failed.
    pub async fn redeploy(
        &self,
        push: &Push,
        routed: &[Routed<'_>],
        holder: impl Into<Holder>,
        force: Force,
    ) -> Result<Vec<Outcome>, Error> {
        let holder = &holder.into();
        let results = join_all(routed.iter().map(|r| async move {
            match r {
                Routed::Accepted(route) => self.deploy_service(route, push, holder, force).await,
                Routed::Skipped(route, reason) => Ok(skipped(route, reason.clone(), None, push)),
            }
        }))
        .await;
        collect(results)
    }

    /// The ACTIVE service `service_name` of `cluster`, with its tags.
    pub(crate) async fn describe_service(&self, cluster: &str, service_name: &str) -> Result<Service, Error> {
        let mut found = self.describe_services(cluster, &[service_name]).await?;
        found.pop().ok_or_else(|| Error::ServiceNotFound {
            cluster: cluster.to_string(),
            service: service_name.to_string(),
        })
    }

    /// The ACTIVE ones of `names` (at most 10, DescribeServices' limit), with their tags.
    pub(crate) async fn describe_services(&self, cluster: &str, names: &[&str]) -> Result<Vec<Service>, Error> {
        // IAM: ecs:DescribeServices on arn:aws:ecs:<region>:<account>:service/<cluster>/*
        let described = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(names.iter().map(|n| n.to_string()).collect()))
            .include(ServiceField::Tags)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_cluster_not_found_exception() => Error::ClusterNotFound {
                    cluster: cluster.to_string(),
                },
                _ => aws_error("ecs:DescribeServices", e),
            })?;
        Ok(described
            .services
            .unwrap_or_default()
            .into_iter()
            .filter(|s| is_active(s) && s.task_definition.is_some())
            .collect())
    }

    /// The task definition `arn` with its tags.
    pub(crate) async fn describe_task_definition(&self, arn: &str) -> Result<(TaskDefinition, Vec<Tag>), Error> {
        // IAM: ecs:DescribeTaskDefinition (resource "*": the action takes no resource ARN)
        let td = self
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| aws_error("ecs:DescribeTaskDefinition", e))?;
        let running = td
            .task_definition
            .ok_or_else(|| missing_field("ecs:DescribeTaskDefinition", "taskDefinition"))?;
        Ok((running, td.tags.unwrap_or_default()))
    }
}

/// The function's name in the user agent of its AWS requests (`app/pushdeploy-function.<app>`),
/// so CloudTrail, and the IAM proof over the tests' requests, can tell its calls from the CLI's.
pub fn user_agent_app(app: Option<&str>) -> aws_config::AppName {
    let named = app.and_then(|a| aws_config::AppName::new(format!("pushdeploy-function.{a}")).ok());
    named.unwrap_or_else(|| aws_config::AppName::new("pushdeploy-function").expect("a valid app name"))
}

/// Whether ECS shows the service ACTIVE.
pub fn is_active(service: &Service) -> bool {
    Status::of_service(service) == Status::Active
}

/// A routed service's `skipped` outcome for `push`.
pub(crate) fn skipped(route: &ServiceRoute, reason: Reason, task_definition: Option<String>, push: &Push) -> Outcome {
    Outcome::skipped(
        &route.cluster,
        &route.service,
        reason,
        task_definition,
        Some(push.pinned_image()),
    )
}

/// Every service's outcome, or the failures (retryable if any is) with the others' outcomes.
pub(crate) fn collect(results: Vec<Result<Outcome, Error>>) -> Result<Vec<Outcome>, Error> {
    let (mut outcomes, mut failures) = (Vec::new(), Vec::new());
    for result in results {
        match result {
            Ok(o) => outcomes.push(o),
            Err(e) => failures.push(e),
        }
    }
    match failures.len() {
        0 => Ok(outcomes),
        1 if outcomes.is_empty() => Err(failures.remove(0)),
        _ => Err(Error::Partial { failures, outcomes }),
    }
}
