//! Reads of ECS services and task-definition revisions that several resources and commands
//! share (`up`'s task definitions and services, `rollback`, following a rollout).

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{
    Service as EcsService, ServiceDeployment, ServiceDeploymentStatus, ServiceField, SortOrder, Tag,
    TaskDefinition as EcsTaskDefinition, TaskDefinitionField, TaskDefinitionStatus,
};
use pushdeploy::engine::is_active;
/// Revision number of a task-definition ARN (`...:task-definition/web:7` is 7).
pub use pushdeploy::revision::revision_number;
use pushdeploy::task_definition::{placeholder_key, tag_value};

use crate::context::Context;
use crate::error::{aws, missing, CliError};

/// A revision and its tags.
#[derive(Debug, Clone)]
pub struct Revision {
    /// ARN.
    pub arn: String,
    /// The definition.
    pub definition: EcsTaskDefinition,
    /// Its tags (the engine's push records among them).
    pub tags: Vec<Tag>,
}

impl Revision {
    /// The image of container `name`.
    pub fn image(&self, container: &str) -> Option<&str> {
        self.definition
            .container_definitions()
            .iter()
            .find(|c| c.name() == Some(container))
            .and_then(|c| c.image())
    }

    /// Whether container `name` runs an image pinned by digest (a deploy's).
    pub fn is_pinned(&self, container: &str) -> bool {
        (self.image(container))
            .and_then(|i| pushdeploy::image::ImageRef::parse(i).ok())
            .is_some_and(|i| i.digest.is_some())
    }

    /// Whether container `name` still runs the placeholder image of `repository`.
    pub fn is_placeholder(&self, repository: &str) -> bool {
        tag_value(&self.tags, &placeholder_key(repository)).is_some()
    }
}

/// The ACTIVE service `service` of `cluster`, with tags.
///
/// IAM: `ecs:DescribeServices`.
pub async fn describe_service(ctx: &Context, cluster: &str, service: &str) -> Result<Option<EcsService>, CliError> {
    let mut found = describe_services(ctx, cluster, &[service.to_string()]).await?;
    Ok(found.remove(service).flatten())
}

/// Services `names` of `cluster` (with tags), ten to a DescribeServices call (its limit): each
/// name maps to the service when it is ACTIVE, else to `None` (all `None` when the cluster does
/// not exist). [`describe_service`] is the same for one.
///
/// IAM: `ecs:DescribeServices`.
pub async fn describe_services(
    ctx: &Context,
    cluster: &str,
    names: &[String],
) -> Result<BTreeMap<String, Option<EcsService>>, CliError> {
    let mut found: BTreeMap<String, Option<EcsService>> = names.iter().map(|n| (n.clone(), None)).collect();
    for chunk in names.chunks(10) {
        let out = (ctx.ecs().describe_services())
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .include(ServiceField::Tags)
            .send()
            .await;
        match out {
            Ok(out) => {
                for service in out.services.unwrap_or_default().into_iter().filter(is_active) {
                    if let Some(name) = service.service_name().filter(|n| found.contains_key(*n)) {
                        found.insert(name.to_string(), Some(service.clone()));
                    }
                }
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_cluster_not_found_exception()) => return Ok(found),
            Err(e) => return Err(aws("ecs:DescribeServices", e)),
        }
    }
    Ok(found)
}

/// Every ACTIVE revision of exactly `family`, newest first (a prefix listing also returns
/// longer families).
///
/// IAM: `ecs:ListTaskDefinitions`.
pub async fn active_revisions(ctx: &Context, family: &str) -> Result<Vec<String>, CliError> {
    let exact = format!(":task-definition/{family}:");
    let mut arns = Vec::new();
    let mut pages = ctx
        .ecs()
        .list_task_definitions()
        .family_prefix(family)
        .status(TaskDefinitionStatus::Active)
        .sort(SortOrder::Desc)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws("ecs:ListTaskDefinitions", e))?;
        arns.extend(
            page.task_definition_arns()
                .iter()
                .filter(|a| a.contains(&exact))
                .cloned(),
        );
    }
    arns.sort_by_key(|a| std::cmp::Reverse(revision_number(a)));
    Ok(arns)
}

/// A revision with its tags.
///
/// IAM: `ecs:DescribeTaskDefinition`.
pub async fn describe_revision(ctx: &Context, arn: &str) -> Result<Revision, CliError> {
    let out = ctx
        .ecs()
        .describe_task_definition()
        .task_definition(arn)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(|e| aws("ecs:DescribeTaskDefinition", e))?;
    let tags = out.tags().to_vec();
    let definition = out
        .task_definition
        .ok_or_else(|| missing("ecs:DescribeTaskDefinition", "taskDefinition"))?;
    Ok(Revision {
        arn: arn.to_string(),
        definition,
        tags,
    })
}

/// The service's newest service deployment, by creation time (ECS documents no listing order).
///
/// IAM: `ecs:ListServiceDeployments`.
pub async fn newest_deployment(
    ctx: &Context,
    cluster: &str,
    service: &str,
) -> Result<Option<aws_sdk_ecs::types::ServiceDeploymentBrief>, CliError> {
    let mut newest: Option<aws_sdk_ecs::types::ServiceDeploymentBrief> = None;
    let mut token = None;
    loop {
        let page = (ctx.ecs().list_service_deployments())
            .cluster(cluster)
            .service(service)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws("ecs:ListServiceDeployments", e))?;
        for brief in page.service_deployments() {
            if newest.as_ref().is_none_or(|n| brief.created_at() > n.created_at()) {
                newest = Some(brief.clone());
            }
        }
        token = page.next_token;
        if token.is_none() {
            return Ok(newest);
        }
    }
}

/// The service's newest service deployment's status and, when it is in progress, its record.
///
/// IAM: `ecs:ListServiceDeployments`, `ecs:DescribeServiceDeployments`.
pub async fn deployment_in_progress(
    ctx: &Context,
    cluster: &str,
    service: &str,
) -> Result<(Option<ServiceDeploymentStatus>, Option<ServiceDeployment>), CliError> {
    let newest = newest_deployment(ctx, cluster, service).await?;
    let status = newest.as_ref().and_then(|b| b.status()).cloned();
    let Some(arn) = (newest.as_ref())
        .filter(|_| status == Some(ServiceDeploymentStatus::InProgress))
        .and_then(|b| b.service_deployment_arn())
    else {
        return Ok((status, None));
    };
    Ok((status, describe_deployment(ctx, arn).await?))
}

/// The service deployment `arn`, as DescribeServiceDeployments has it.
///
/// IAM: `ecs:DescribeServiceDeployments`.
pub async fn describe_deployment(ctx: &Context, arn: &str) -> Result<Option<ServiceDeployment>, CliError> {
    let out = (ctx.ecs().describe_service_deployments())
        .service_deployment_arns(arn)
        .send()
        .await
        .map_err(|e| aws("ecs:DescribeServiceDeployments", e))?;
    Ok(out.service_deployments.unwrap_or_default().into_iter().next())
}

/// The task definition of a service revision.
///
/// IAM: `ecs:DescribeServiceRevisions`.
pub async fn revision_task_definition(ctx: &Context, revision_arn: &str) -> Result<Option<String>, CliError> {
    let out = (ctx
        .ecs()
        .describe_service_revisions()
        .service_revision_arns(revision_arn)
        .send()
        .await)
        .map_err(|e| aws("ecs:DescribeServiceRevisions", e))?;
    Ok((out.service_revisions().first())
        .and_then(|r| r.task_definition())
        .map(str::to_string))
}

/// A pause hook waiting for an answer.
pub fn is_awaiting(hook: &aws_sdk_ecs::types::DeploymentLifecycleHookDetail) -> bool {
    hook.target_type() == Some(&aws_sdk_ecs::types::DeploymentLifecycleHookTargetType::Pause)
        && hook.status() == Some(&aws_sdk_ecs::types::DeploymentLifecycleHookStatus::AwaitingAction)
}

/// Whether `deployment` waits at a pause hook for `approve` or `reject`.
pub fn awaits_answer(deployment: &aws_sdk_ecs::types::ServiceDeployment) -> bool {
    deployment.lifecycle_hook_details().iter().any(is_awaiting)
}
