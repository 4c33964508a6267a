//! The ECS service of each app service: behind its target group, on the capacity provider, with
//! the deployment circuit breaker (rollback on). `up` owns its size and deployment settings,
//! never its task definition. Deleting one drains it (DRAINING until its tasks stop, then
//! INACTIVE); `down` waits for INACTIVE before it detaches the capacity provider.

use std::fmt;
use std::time::Duration;

use aws_sdk_ecs::client::Waiters as _;
use aws_sdk_ecs::types::{
    CapacityProviderStrategyItem, DeploymentAlarms, DeploymentCircuitBreaker, DeploymentConfiguration,
    LoadBalancer as EcsLoadBalancer, PropagateTags, Service as EcsService, ServiceField, Tag,
};

use super::facts::{need, Facts};
use super::model::{Resource, APP_TAG};
use super::service_linked_role::{self, may_be_propagating};
use crate::app_file::{App, AppService};
use crate::context::Context;
use crate::ecs::describe_service;
use crate::error::{aws, missing, CliError};
use crate::poll::{self, Poll, Wait};
use crate::progress::Step;
use pushdeploy::ecs_status::Status;

/// Seconds ECS ignores failing load-balancer health checks after a task starts.
pub const HEALTH_CHECK_GRACE: i32 = 60;
/// How long `down` (or an `up` meeting a draining service) waits for a service to drain.
pub const DRAINING: Duration = Duration::from_secs(900);

/// How the service differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// Desired task count.
    DesiredCount {
        /// Now.
        have: i32,
        /// Wanted.
        want: i32,
    },
    /// The circuit breaker is off or does not roll back.
    CircuitBreaker,
    /// Its capacity provider strategy (changing it needs a new deployment).
    CapacityProvider {
        /// Providers now.
        have: Vec<String>,
        /// Wanted.
        want: String,
    },
    /// Health check grace period, seconds.
    HealthCheckGrace {
        /// Now.
        have: Option<i32>,
    },
    /// The alarms that fail (and roll back) a deployment.
    Alarms {
        /// Watched now (none when off).
        have: Vec<String>,
        /// Wanted.
        want: Vec<String>,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::DesiredCount { have, want } => write!(f, "desired count {have} -> {want}"),
            Drift::CircuitBreaker => write!(f, "deployment circuit breaker -> enabled with rollback"),
            Drift::CapacityProvider { have, want } => write!(
                f,
                "capacity provider {} -> {want} (a new deployment)",
                if have.is_empty() {
                    "none".to_string()
                } else {
                    have.join(",")
                }
            ),
            Drift::HealthCheckGrace { have } => write!(
                f,
                "health check grace {} -> {HEALTH_CHECK_GRACE}s",
                have.map_or("none".to_string(), |h| format!("{h}s"))
            ),
            Drift::Alarms { have, want } => {
                let list = |names: &[String]| {
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                };
                write!(f, "deployment alarms {} -> {}", list(have), list(want))
            }
        }
    }
}

/// One ECS service of the app.
#[derive(Debug, Clone)]
pub struct Service {
    name: String,
    cluster: String,
    container: String,
    port: u16,
    /// The desired count it starts with.
    desired: i32,
    /// Whether the desired count is the file's (`None`: the scaler's, never reset by `up`).
    owned_desired: Option<i32>,
    capacity_provider: String,
    /// The alarms that fail a deployment, sorted: the two `up` creates and the file's own.
    alarms: Vec<String>,
    app: String,
}

/// The alarms a deployment of `service` watches: the two `up` creates (unless the file turns
/// them off) and the file's own, sorted.
pub fn deployment_alarms(app: &App, service: &AppService) -> Vec<String> {
    let spec = &service.spec.deployment;
    let mut names: Vec<String> = if spec.default_alarms {
        super::alarm::KINDS
            .iter()
            .map(|k| app.names.alarm(&service.spec.name, k.suffix()))
            .collect()
    } else {
        Vec::new()
    };
    names.extend(spec.alarms.iter().cloned());
    names.sort();
    names.dedup();
    names
}

impl Service {
    /// The ECS service of `service`.
    pub fn new(app: &App, service: &AppService) -> Service {
        Service {
            name: service.spec.name.clone(),
            cluster: app.names.cluster(),
            container: service.container.clone(),
            port: service.spec.port,
            desired: match &service.spec.autoscaling {
                Some(a) => service.spec.desired_count.clamp(a.min_count, a.max_count) as i32,
                None => service.spec.desired_count as i32,
            },
            owned_desired: match service.spec.autoscaling {
                Some(_) => None,
                None => Some(service.spec.desired_count as i32),
            },
            capacity_provider: app.names.capacity(),
            alarms: deployment_alarms(app, service),
            app: app.name.clone(),
        }
    }

    fn strategy(&self) -> CapacityProviderStrategyItem {
        CapacityProviderStrategyItem::builder()
            .capacity_provider(&self.capacity_provider)
            .weight(1)
            .build()
            .expect("the provider is set")
    }

    /// Waits while a service of this name drains (a `down` cut short): ECS refuses to create one
    /// ("Unable to Start a service that is still Draining").
    ///
    /// IAM: `ecs:DescribeServices`.
    async fn wait_drained(&self, ctx: &Context, step: &Step) -> Result<(), CliError> {
        let out = ctx
            .ecs()
            .describe_services()
            .cluster(&self.cluster)
            .services(&self.name)
            .send()
            .await
            .map_err(|e| aws("ecs:DescribeServices", e))?;
        if out.services().iter().any(|s| Status::of_service(s) == Status::Draining) {
            wait_inactive(ctx, &self.cluster, &self.name, step).await?;
        }
        Ok(())
    }
}

/// The circuit breaker `up` sets (roll back a deployment whose tasks fail to start) and the
/// deployment alarms (roll back one during which an alarm goes into ALARM; off when `alarms` is
/// empty, which also clears alarms set before).
pub fn deployment_configuration(alarms: &[String]) -> DeploymentConfiguration {
    let watched = DeploymentAlarms::builder()
        .set_alarm_names(Some(alarms.to_vec()))
        .enable(!alarms.is_empty())
        .rollback(!alarms.is_empty())
        .build()
        .expect("names, enable and rollback are set");
    DeploymentConfiguration::builder()
        .deployment_circuit_breaker(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
        .alarms(watched)
        .maximum_percent(200)
        .minimum_healthy_percent(100)
        .build()
}

/// Waits until the service is INACTIVE (drained) or gone, looking from half a second on (the
/// SDK's ServicesInactive waiter first looks after 15 s).
///
/// IAM: `ecs:DescribeServices`.
pub async fn wait_inactive(ctx: &Context, cluster: &str, service: &str, step: &Step) -> Result<(), CliError> {
    let wait = Wait::new(
        format!("service {service} to drain"),
        DRAINING,
        "its tasks are still stopping: run `pushdeploy down` again to continue",
    );
    poll::until(&wait, step, || async {
        let out = (ctx
            .ecs()
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await)
            .map_err(|e| aws("ecs:DescribeServices", e))?;
        // No service in the answer (a failure `MISSING`): ECS has purged it, which is gone too.
        Ok(match out.services().first().map(Status::of_service) {
            None | Some(Status::Inactive) => Poll::Done(()),
            Some(Status::Draining) => {
                let running = out.services()[0].running_count();
                Poll::Pending(format!(
                    "draining, {}",
                    crate::output::plural(running.max(0) as usize, "task")
                ))
            }
            Some(_) => Poll::Pending("still active".to_string()),
        })
    })
    .await
}

/// Waits until the service is stable (one deployment, all its tasks running), with the SDK's
/// waiter.
///
/// IAM: `ecs:DescribeServices`.
pub async fn wait_stable(ctx: &Context, cluster: &str, service: &str, limit: Duration) -> Result<(), CliError> {
    let wait = Wait::new(
        format!("service {service} to be stable"),
        limit,
        "see the service's events and deployments in `pushdeploy status`",
    );
    let done = ctx
        .ecs()
        .wait_until_services_stable()
        .cluster(cluster)
        .services(service)
        .wait(limit)
        .await;
    poll::waited(done, "ecs:DescribeServices", &wait).map(|_| ())
}

/// What the service differs in from what `up` wants (never the task definition, nor the desired
/// count when that is `None`: the scaler's).
pub fn service_drift(
    service: &EcsService,
    desired: Option<i32>,
    capacity_provider: &str,
    alarms: &[String],
) -> Vec<Drift> {
    let mut drift = Vec::new();
    if let Some(desired) = desired.filter(|d| *d != service.desired_count()) {
        drift.push(Drift::DesiredCount {
            have: service.desired_count(),
            want: desired,
        });
    }
    let breaker = service
        .deployment_configuration()
        .and_then(|d| d.deployment_circuit_breaker());
    if !breaker.is_some_and(|b| b.enable() && b.rollback()) {
        drift.push(Drift::CircuitBreaker);
    }
    let providers: Vec<String> = service
        .capacity_provider_strategy()
        .iter()
        .map(|s| s.capacity_provider().to_string())
        .collect();
    if providers != [capacity_provider] {
        drift.push(Drift::CapacityProvider {
            have: providers,
            want: capacity_provider.to_string(),
        });
    }
    if service.health_check_grace_period_seconds() != Some(HEALTH_CHECK_GRACE) {
        drift.push(Drift::HealthCheckGrace {
            have: service.health_check_grace_period_seconds(),
        });
    }
    let watched = service.deployment_configuration().and_then(|d| d.alarms());
    let mut have: Vec<String> = match watched {
        Some(w) if w.enable() => w.alarm_names().to_vec(),
        _ => Vec::new(),
    };
    have.sort();
    let rolls_back = watched.is_some_and(|w| w.rollback()) || alarms.is_empty();
    if have != alarms || !rolls_back {
        drift.push(Drift::Alarms {
            have,
            want: alarms.to_vec(),
        });
    }
    drift
}

impl Resource for Service {
    type Observed = EcsService;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "ecs service"
    }

    fn name(&self) -> String {
        format!("{}/{}", self.cluster, self.name)
    }

    fn deleted_together(&self) -> bool {
        true
    }

    async fn observe(&self, ctx: &Context, facts: &Facts) -> Result<Option<EcsService>, CliError> {
        // The task definition's look at the service (just before) is still fresh.
        match facts.services.get(&self.name) {
            Some(seen) => Ok(seen.clone()),
            None => describe_service(ctx, &self.cluster, &self.name).await,
        }
    }

    fn diff(&self, service: &EcsService, _facts: &Facts) -> Vec<Drift> {
        service_drift(service, self.owned_desired, &self.capacity_provider, &self.alarms)
    }

    /// IAM: `ecs:CreateService`, `ecs:TagResource`, `ecs:DescribeServices`.
    async fn create(&self, ctx: &Context, facts: &Facts, step: &Step) -> Result<EcsService, CliError> {
        let revision = need(facts.revisions.get(&self.name), "the service's task definition")?;
        let target_group = need(facts.target_groups.get(&self.name), "the service's target group")?;
        self.wait_drained(ctx, step).await?;
        let ecs = ctx.ecs();
        let created = poll::retry(
            service_linked_role::PROPAGATION,
            |e| may_be_propagating(facts, e),
            || {
                ecs.create_service()
                    .cluster(&self.cluster)
                    .service_name(&self.name)
                    .task_definition(&revision.arn)
                    .desired_count(self.desired)
                    .load_balancers(
                        EcsLoadBalancer::builder()
                            .target_group_arn(target_group)
                            .container_name(&self.container)
                            .container_port(i32::from(self.port))
                            .build(),
                    )
                    .capacity_provider_strategy(self.strategy())
                    .deployment_configuration(deployment_configuration(&self.alarms))
                    .health_check_grace_period_seconds(HEALTH_CHECK_GRACE)
                    .propagate_tags(PropagateTags::Service)
                    .enable_ecs_managed_tags(true)
                    .tags(Tag::builder().key(APP_TAG).value(&self.app).build())
                    .send()
            },
        )
        .await;
        match created {
            Ok(out) => out.service.ok_or_else(|| missing("ecs:CreateService", "service")),
            // "Creation of service was not idempotent": a run cut short created it. ECS models no
            // error of its own for that, so whether the service exists decides.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_invalid_parameter_exception()) => {
                match describe_service(ctx, &self.cluster, &self.name).await? {
                    Some(found) => Ok(found),
                    None => Err(aws("ecs:CreateService", e)),
                }
            }
            Err(e) => Err(aws("ecs:CreateService", e)),
        }
    }

    /// IAM: `ecs:UpdateService`.
    async fn apply(&self, ctx: &Context, _: &EcsService, drift: &[Drift], _: &Facts, _: &Step) -> Result<(), CliError> {
        let mut call = ctx
            .ecs()
            .update_service()
            .cluster(&self.cluster)
            .service(&self.name)
            .set_desired_count(self.owned_desired)
            .deployment_configuration(deployment_configuration(&self.alarms))
            .health_check_grace_period_seconds(HEALTH_CHECK_GRACE);
        if drift.iter().any(|d| matches!(d, Drift::CapacityProvider { .. })) {
            // ECS refuses a strategy change without a new deployment (UpdateService reference);
            // an unchanged strategy is never sent, so settings alone never redeploy.
            call = call
                .capacity_provider_strategy(self.strategy())
                .force_new_deployment(true);
        }
        call.send().await.map_err(|e| aws("ecs:UpdateService", e))?;
        Ok(())
    }

    /// IAM: `ecs:UpdateService`, `ecs:DeleteService`, `ecs:DescribeServices`.
    async fn delete(&self, ctx: &Context, _: &EcsService, step: &Step) -> Result<(), CliError> {
        let ecs = ctx.ecs();
        let scaled = ecs
            .update_service()
            .cluster(&self.cluster)
            .service(&self.name)
            .desired_count(0)
            .send()
            .await;
        match scaled {
            Ok(_) => {}
            // Already draining (a `down` cut short): go on to the wait.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_service_not_active_exception()) => {}
            Err(e) => return Err(aws("ecs:UpdateService", e)),
        }
        match ecs
            .delete_service()
            .cluster(&self.cluster)
            .service(&self.name)
            .force(true)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_service_not_found_exception()) => return Ok(()),
            // Already draining: DeleteService's model lists no error for it, the code is the contract.
            Err(e) if poll::code_is("ServiceNotActiveException")(&e) => {}
            Err(e) => return Err(aws("ecs:DeleteService", e)),
        }
        wait_inactive(ctx, &self.cluster, &self.name, step).await
    }

    fn record(&self, service: &EcsService, facts: &mut Facts) {
        facts.services.insert(self.name.clone(), Some(service.clone()));
    }

    fn state(&self, service: &EcsService, _facts: &Facts) -> Option<String> {
        Some(format!(
            "{}/{} running",
            service.running_count(),
            service.desired_count()
        ))
    }
}

/// Every service of the app in its cluster, found by the app's tag: `down` deletes those the
/// app file no longer lists too.
///
/// IAM: `ecs:ListServices`, `ecs:DescribeServices`.
pub async fn tagged(ctx: &Context, cluster: &str, app: &str) -> Result<Vec<String>, CliError> {
    let ecs = ctx.ecs();
    let mut arns = Vec::new();
    let mut pages = ecs.list_services().cluster(cluster).into_paginator().send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => arns.extend(page.service_arns.unwrap_or_default()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_cluster_not_found_exception()) => return Ok(Vec::new()),
            Err(e) => return Err(aws("ecs:ListServices", e)),
        }
    }
    let mut names = Vec::new();
    // DescribeServices takes ten services at a time.
    for chunk in arns.chunks(10) {
        let out = ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .include(ServiceField::Tags)
            .send()
            .await
            .map_err(|e| aws("ecs:DescribeServices", e))?;
        names.extend(
            out.services()
                .iter()
                .filter(|s| {
                    s.tags()
                        .iter()
                        .any(|t| t.key() == Some(APP_TAG) && t.value() == Some(app))
                })
                .filter_map(|s| s.service_name().map(str::to_string)),
        );
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::CapacityProviderStrategyItem as Item;

    #[test]
    fn an_unchanged_strategy_is_no_drift_and_a_changed_one_says_it_redeploys() {
        let ours = EcsService::builder()
            .desired_count(1)
            .deployment_configuration(deployment_configuration(&[]))
            .capacity_provider_strategy(
                Item::builder()
                    .capacity_provider("pushdeploy-demo")
                    .weight(1)
                    .build()
                    .unwrap(),
            )
            .health_check_grace_period_seconds(HEALTH_CHECK_GRACE)
            .build();
        assert!(service_drift(&ours, Some(1), "pushdeploy-demo", &[]).is_empty());
        // Scaling on: whatever count the scaler chose is no drift.
        let mut scaled = ours.clone();
        scaled.desired_count = 7;
        assert!(service_drift(&scaled, None, "pushdeploy-demo", &[]).is_empty());
        let bare = EcsService::builder().desired_count(2).build();
        let drift: Vec<String> = service_drift(&bare, Some(1), "pushdeploy-demo", &["a".to_string()])
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            drift,
            [
                "desired count 2 -> 1",
                "deployment circuit breaker -> enabled with rollback",
                "capacity provider none -> pushdeploy-demo (a new deployment)",
                "health check grace none -> 60s",
                "deployment alarms none -> a"
            ]
        );
    }
}
