//! Per service: the first task definition (only when the family has none: after that revisions
//! belong to deploys, and `up` never reverts one nor changes an image) and the ECS service behind
//! its target group, with the deployment circuit breaker (rollback on) and the capacity provider.

use aws_sdk_ecs::types::{
    CapacityProviderStrategyItem, Compatibility, ContainerDefinition, DeploymentCircuitBreaker,
    DeploymentConfiguration, LoadBalancer as EcsLoadBalancer, NetworkMode, PortMapping, PropagateTags,
    Service as EcsService, ServiceField, SortOrder, Tag, TaskDefinitionStatus, TransportProtocol,
};

use super::repository::Repository;
use super::{change_for, planned, Change, Mode, Report, APP_TAG};
use crate::app_file::{App, Service};
use crate::context::Context;
use crate::error::{aws, CliError};

/// Seconds ECS ignores failing load-balancer health checks after a task starts.
pub const HEALTH_CHECK_GRACE: i32 = 60;

/// Task-definition family of a service.
pub fn family(app: &App, service: &str) -> String {
    format!("{}-{service}", app.name)
}

/// Every ACTIVE revision of exactly `family` (a prefix listing also returns longer families).
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
    Ok(arns)
}

/// Revision number of a task-definition ARN (`...:task-definition/web:7` is 7).
pub fn revision_number(arn: &str) -> Option<u64> {
    arn.rsplit(':').next().and_then(|n| n.parse().ok())
}

/// The newest ACTIVE revision of `family`, if any (by revision number, whatever the listing order).
pub async fn latest_revision(ctx: &Context, family: &str) -> Result<Option<String>, CliError> {
    Ok(active_revisions(ctx, family)
        .await?
        .into_iter()
        .max_by_key(|a| revision_number(a)))
}

/// What the service's settings differ in from what `up` wants (never the task definition).
pub fn service_diffs(service: &EcsService, desired_count: i32, capacity_provider: &str) -> Vec<String> {
    let mut diffs = Vec::new();
    if service.desired_count() != desired_count {
        diffs.push(format!("desired count {} -> {desired_count}", service.desired_count()));
    }
    let breaker = service
        .deployment_configuration()
        .and_then(|d| d.deployment_circuit_breaker());
    if !breaker.is_some_and(|b| b.enable() && b.rollback()) {
        diffs.push("deployment circuit breaker -> enabled with rollback".into());
    }
    if !service
        .capacity_provider_strategy()
        .iter()
        .any(|s| s.capacity_provider() == capacity_provider)
    {
        diffs.push(format!("capacity provider -> {capacity_provider}"));
    }
    if service.health_check_grace_period_seconds() != Some(HEALTH_CHECK_GRACE) {
        diffs.push(format!("health check grace -> {HEALTH_CHECK_GRACE}s"));
    }
    diffs
}

fn deployment_configuration() -> DeploymentConfiguration {
    DeploymentConfiguration::builder()
        .deployment_circuit_breaker(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
        .maximum_percent(200)
        .minimum_healthy_percent(100)
        .build()
}

fn strategy(capacity_provider: &str) -> Result<CapacityProviderStrategyItem, CliError> {
    CapacityProviderStrategyItem::builder()
        .capacity_provider(capacity_provider)
        .weight(1)
        .build()
        .map_err(|e| CliError::Setup(e.to_string()))
}

/// Ensures the service's first task definition and the ECS service.
///
/// IAM: `ecs:ListTaskDefinitions`, `ecs:RegisterTaskDefinition`, `ecs:DescribeServices`,
/// `ecs:CreateService`, `ecs:UpdateService`, `ecs:TagResource`, `iam:PassRole` (execution role).
#[allow(clippy::too_many_arguments)]
pub async fn ensure(
    ctx: &Context,
    app: &App,
    service: &Service,
    repo: &Repository,
    target_group: &str,
    execution_role_arn: &str,
    capacity_provider: &str,
    mode: Mode,
) -> Result<Vec<Report>, CliError> {
    let ecs = ctx.ecs();
    let spec = &service.spec;
    let family = family(app, &spec.name);
    let existing_td = latest_revision(ctx, &family).await?;
    let image = if repo.has_latest {
        format!("{}:latest", repo.uri)
    } else {
        spec.image.clone().unwrap_or_else(|| format!("{}:latest", repo.uri))
    };
    let td_arn = match (&existing_td, mode) {
        (Some(arn), _) => arn.clone(),
        (None, Mode::Plan) => planned("task definition"),
        (None, Mode::Apply) => {
            let container = ContainerDefinition::builder()
                .name(&service.container)
                .image(&image)
                .cpu(spec.cpu as i32)
                .memory(spec.memory as i32)
                .essential(true)
                .port_mappings(
                    PortMapping::builder()
                        .container_port(i32::from(spec.port))
                        .host_port(0)
                        .protocol(TransportProtocol::Tcp)
                        .build(),
                )
                .build();
            let out = ecs
                .register_task_definition()
                .family(&family)
                .network_mode(NetworkMode::Bridge)
                .requires_compatibilities(Compatibility::Ec2)
                .execution_role_arn(execution_role_arn)
                .container_definitions(container)
                .tags(Tag::builder().key(APP_TAG).value(&app.name).build())
                .send()
                .await
                .map_err(|e| aws("ecs:RegisterTaskDefinition", e))?;
            out.task_definition
                .and_then(|t| t.task_definition_arn)
                .unwrap_or_default()
        }
    };
    let td_state = if existing_td.is_some() {
        "revisions belong to deploys; up leaves them alone".to_string()
    } else {
        image.clone()
    };
    let mut reports = vec![Report::new(
        "task definition",
        &td_arn,
        change_for(existing_td.is_some(), Vec::new()),
    )
    .with_state(td_state)];

    let found = describe(ctx, app, &spec.name).await?;
    let desired = spec.desired_count as i32;
    let mut change = match &found {
        Some(s) => change_for(true, service_diffs(s, desired, capacity_provider)),
        None => Change::Create,
    };
    if mode == Mode::Apply {
        let mut current = found.clone();
        if current.is_none() {
            ecs.create_service()
                .cluster(app.cluster())
                .service_name(&spec.name)
                .task_definition(&td_arn)
                .desired_count(desired)
                .load_balancers(
                    EcsLoadBalancer::builder()
                        .target_group_arn(target_group)
                        .container_name(&service.container)
                        .container_port(i32::from(spec.port))
                        .build(),
                )
                .capacity_provider_strategy(strategy(capacity_provider)?)
                .deployment_configuration(deployment_configuration())
                .health_check_grace_period_seconds(HEALTH_CHECK_GRACE)
                .propagate_tags(PropagateTags::Service)
                .enable_ecs_managed_tags(true)
                .tags(Tag::builder().key(APP_TAG).value(&app.name).build())
                .send()
                .await
                .map_err(|e| aws("ecs:CreateService", e))?;
            // Some implementations drop settings on create; converge them right away.
            current = describe(ctx, app, &spec.name).await?;
        }
        let diffs = current
            .as_ref()
            .map(|s| service_diffs(s, desired, capacity_provider))
            .unwrap_or_default();
        if !diffs.is_empty() {
            ecs.update_service()
                .cluster(app.cluster())
                .service(&spec.name)
                .desired_count(desired)
                .capacity_provider_strategy(strategy(capacity_provider)?)
                .deployment_configuration(deployment_configuration())
                .health_check_grace_period_seconds(HEALTH_CHECK_GRACE)
                .send()
                .await
                .map_err(|e| aws("ecs:UpdateService", e))?;
        }
        if found.is_none() {
            change = Change::Create;
        }
    }
    let state = match &found {
        Some(s) => format!("{}/{} running", s.running_count(), s.desired_count()),
        None if repo.has_latest || spec.image.is_some() => "starting".into(),
        None => "waiting for a first push".into(),
    };
    reports.push(Report::new("ecs service", format!("{}/{}", app.cluster(), spec.name), change).with_state(state));
    Ok(reports)
}

/// The ACTIVE service, with tags.
///
/// IAM: `ecs:DescribeServices`.
pub async fn describe(ctx: &Context, app: &App, service: &str) -> Result<Option<EcsService>, CliError> {
    let out = ctx
        .ecs()
        .describe_services()
        .cluster(app.cluster())
        .services(service)
        .include(ServiceField::Tags)
        .send()
        .await;
    match out {
        Ok(out) => Ok(out.services().iter().find(|s| s.status() == Some("ACTIVE")).cloned()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_cluster_not_found_exception()) => Ok(None),
        Err(e) => Err(aws("ecs:DescribeServices", e)),
    }
}
