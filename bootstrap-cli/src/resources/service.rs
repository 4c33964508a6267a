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
    let found = describe(ctx, app, &spec.name).await?;
    // The file owns the container's cpu and memory; deploys own the image and everything else.
    let td_report = match (&found, &existing_td) {
        (Some(svc), Some(_)) => {
            let running = svc.task_definition().unwrap_or_default().to_string();
            let (_, _, diffs) = sized_revision(ctx, &running, service).await?;
            if !diffs.is_empty() && mode == Mode::Apply {
                resize(ctx, app, service).await?;
            }
            Report::new("task definition", running, change_for(true, diffs)).with_state("image managed by deploys")
        }
        (_, Some(arn)) => Report::new("task definition", arn, Change::NoChange).with_state("image managed by deploys"),
        (_, None) => Report::new("task definition", &td_arn, Change::Create).with_state(image.clone()),
    };
    let mut reports = vec![td_report];

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

/// The running revision (with tags) and how its container's cpu and memory differ from the file.
///
/// IAM: `ecs:DescribeTaskDefinition`.
async fn sized_revision(
    ctx: &Context,
    running: &str,
    service: &Service,
) -> Result<(aws_sdk_ecs::types::TaskDefinition, Vec<Tag>, Vec<String>), CliError> {
    let out = ctx
        .ecs()
        .describe_task_definition()
        .task_definition(running)
        .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(|e| aws("ecs:DescribeTaskDefinition", e))?;
    let tags = out.tags().to_vec();
    let td = out
        .task_definition
        .unwrap_or_else(|| aws_sdk_ecs::types::TaskDefinition::builder().build());
    let mut diffs = Vec::new();
    if let Some(c) = td
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some(service.container.as_str()))
    {
        if c.cpu() != service.spec.cpu as i32 {
            diffs.push(format!("cpu {} -> {}", c.cpu(), service.spec.cpu));
        }
        if c.memory() != Some(service.spec.memory as i32) {
            diffs.push(format!(
                "memory {} -> {}",
                c.memory().unwrap_or_default(),
                service.spec.memory
            ));
        }
    }
    Ok((td, tags, diffs))
}

/// Registers the running revision again with the file's cpu and memory (same image, every other
/// field copied) and points the service at it, under the deploy lock so it cannot race a push.
///
/// IAM: `ecs:DescribeServices`, `ecs:DescribeTaskDefinition`, `ecs:RegisterTaskDefinition`,
/// `ecs:UpdateService`, `iam:PassRole`, and the lock's `ssm:PutParameter`/`ssm:DeleteParameter`.
async fn resize(ctx: &Context, app: &App, service: &Service) -> Result<(), CliError> {
    let ssm = ctx.ssm();
    let parameter = pushdeploy::config::parameter_for_app(&app.name).map_err(pushdeploy::Error::from)?;
    let lock_name = pushdeploy::lock::lock_name(&parameter, &app.cluster(), &service.spec.name);
    let owner = format!("pushdeploy up pid {}", std::process::id());
    let lease = pushdeploy::lock::acquire(
        &ssm,
        &lock_name,
        &owner,
        pushdeploy::lock::LockSettings::default(),
        (&app.cluster(), &service.spec.name),
    )
    .await?;
    let result = async {
        // Read again under the lock: a push may have landed since the first look.
        let Some(svc) = describe(ctx, app, &service.spec.name).await? else {
            return Ok(());
        };
        let (mut td, tags, diffs) = sized_revision(ctx, svc.task_definition().unwrap_or_default(), service).await?;
        if diffs.is_empty() {
            return Ok(());
        }
        if let Some(c) = td.container_definitions.as_mut().and_then(|cs| {
            cs.iter_mut()
                .find(|c| c.name.as_deref() == Some(service.container.as_str()))
        }) {
            c.cpu = service.spec.cpu as i32;
            c.memory = Some(service.spec.memory as i32);
        }
        let tags = tags
            .into_iter()
            .filter(|t| !t.key().is_some_and(|k| k.starts_with("aws:")))
            .collect();
        let revision = pushdeploy::task_definition::NewRevision {
            definition: td,
            tags,
            image: String::new(),
        };
        let registered = pushdeploy::task_definition::register_request(ctx.ecs().register_task_definition(), revision)
            .send()
            .await
            .map_err(|e| aws("ecs:RegisterTaskDefinition", e))?;
        let arn = registered
            .task_definition
            .and_then(|t| t.task_definition_arn)
            .unwrap_or_default();
        ctx.ecs()
            .update_service()
            .cluster(app.cluster())
            .service(&service.spec.name)
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| aws("ecs:UpdateService", e))?;
        Ok::<(), CliError>(())
    }
    .await;
    lease.release(&ssm).await;
    result
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
