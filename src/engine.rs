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
use crate::lock::LockSettings;
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

/// The engine: clients built once, the cached routing config, and the lock settings.
pub struct Engine {
    pub(crate) ecs: aws_sdk_ecs::Client,
    pub(crate) ssm: aws_sdk_ssm::Client,
    pub(crate) ecr: aws_sdk_ecr::Client,
    pub(crate) config: ConfigCache,
    pub(crate) lock: LockSettings,
}

impl Engine {
    /// An engine over `sdk` that reads its routing config from `parameter`.
    pub fn new(sdk: &SdkConfig, parameter: String, ttl: Duration) -> Engine {
        Engine::from_clients(
            aws_sdk_ecs::Client::new(sdk),
            aws_sdk_ssm::Client::new(sdk),
            aws_sdk_ecr::Client::new(sdk),
            parameter,
            ttl,
        )
    }

    /// An engine over clients built by the caller (with interceptors, say).
    pub fn from_clients(
        ecs: aws_sdk_ecs::Client,
        ssm: aws_sdk_ssm::Client,
        ecr: aws_sdk_ecr::Client,
        parameter: String,
        ttl: Duration,
    ) -> Engine {
        Engine {
            ecs,
            ecr,
            config: ConfigCache::new(ssm.clone(), parameter, ttl),
            ssm,
            lock: LockSettings::default(),
        }
    }

    /// The engine as the Lambda runs it: the standard AWS chain (`AWS_ENDPOINT_URL` included),
    /// the config named by `PUSHDEPLOY_APP` or `PUSHDEPLOY_CONFIG_PARAMETER`.
    pub async fn from_env() -> Result<Engine, Error> {
        let parameter = config::parameter_from_env()?;
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(Engine::new(&sdk, parameter, config::ttl_from_env()))
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
    pub async fn handle_event(&self, event: &Value, owner: &str) -> Result<Vec<Outcome>, Error> {
        let push = match classify(event)? {
            Classified::Push(push) => push,
            Classified::Deployment(change) => return self.deployment_outcome(&change).await,
            Classified::Schedule => return self.sync(&SyncScope::default(), owner).await,
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
        self.redeploy(&push, &routed, owner, Force::No).await
    }

    /// Redeploys `push` to the routed services, concurrently; reports every service's outcome
    /// and fails (retryably if any failure is) when one of them failed.
    pub async fn redeploy(
        &self,
        push: &Push,
        routed: &[Routed<'_>],
        owner: &str,
        force: Force,
    ) -> Result<Vec<Outcome>, Error> {
        let results = join_all(routed.iter().map(|r| async move {
            match r {
                Routed::Accepted(route) => self.deploy_service(route, push, owner, force).await,
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
