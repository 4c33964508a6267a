//! The ECS service of each app service: behind its target group, on the capacity provider, with
//! deployment alarms and, for a rolling service, the deployment circuit breaker (rollback on). A
//! blue-green, canary or linear service runs `awsvpc` tasks in the tasks' security group, and its
//! load balancer names the second target group, the rule ECS moves traffic on and the role it
//! does it with. `up` owns its size and deployment settings, never its task definition. Deleting one drains it (DRAINING until its tasks stop, then
//! INACTIVE); `down` waits for INACTIVE before it detaches the capacity provider.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use aws_sdk_ecs::client::Waiters as _;
use aws_sdk_ecs::types::{
    AdvancedConfiguration, AssignPublicIp, AwsVpcConfiguration, CanaryConfiguration, CapacityProviderStrategyItem,
    DeploymentAlarms, DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentController,
    DeploymentControllerType, DeploymentLifecycleHook, DeploymentLifecycleHookAction, DeploymentLifecycleHookStage,
    DeploymentLifecycleHookTargetType, DeploymentLifecycleHookTimeoutConfiguration, DeploymentRolloutState,
    DeploymentStrategy, LinearConfiguration, LoadBalancer as EcsLoadBalancer, NetworkConfiguration, PropagateTags,
    Service as EcsService, ServiceField, Tag,
};

use super::facts::{need, Facts, GroupRole};
use super::listener::short_name;
use super::model::{After, Resource, APP_TAG};
use super::service_linked_role::{self, may_be_propagating};
use crate::app_file::{App, AppService, Capacity, Percent, Shift};
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
/// How long a switch from rolling waits for the rolling deployment that precedes it (new tasks
/// healthy, the old ones drained).
const SWITCH: Duration = Duration::from_secs(1200);

/// Whether the service's load balancer names what ECS moves traffic with (a second group: one
/// going back to rolling still does, [`Drift::SecondGroup`]).
pub fn has_advanced_configuration(service: &EcsService) -> bool {
    (service.load_balancers().iter()).any(|lb| lb.advanced_configuration().is_some())
}

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
    /// How ECS moves traffic to a new revision (strategy and its times).
    Strategy {
        /// Now.
        have: Shift,
        /// Wanted.
        want: Shift,
    },
    /// Whether a deployment waits for `pushdeploy approve` before production traffic moves.
    Approval {
        /// Wanted.
        want: bool,
    },
    /// Whether ECS moves a test listener's rule too (`test_port`): the load balancers are sent
    /// again, which starts a deployment.
    TestListener {
        /// Wanted.
        want: bool,
    },
    /// The alarms that fail (and roll back) a deployment.
    Alarms {
        /// Watched now (none when off).
        have: Vec<String>,
        /// Wanted.
        want: Vec<String>,
    },
    /// A rolling service's load balancer still names a second group (it was blue-green, canary
    /// or linear): sent again with only the group production traffic is on, which starts a
    /// rolling deployment into it.
    SecondGroup,
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
            Drift::Strategy {
                have: Shift::Rolling,
                want,
            } => write!(
                f,
                "strategy rolling -> {} (in place: a rolling deployment first gives ECS the second target group)",
                shift_words(*want)
            ),
            Drift::Strategy { have, want } => write!(f, "strategy {} -> {}", shift_words(*have), shift_words(*want)),
            Drift::Approval { want: true } => write!(f, "pause for approval before production traffic"),
            Drift::Approval { want: false } => write!(f, "no pause for approval"),
            Drift::TestListener { want: true } => write!(f, "test listener rule -> on (a new deployment)"),
            Drift::TestListener { want: false } => write!(f, "test listener rule -> none (a new deployment)"),
            Drift::SecondGroup => write!(
                f,
                "second target group -> none (a rolling deployment into the group production traffic is on)"
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

/// A strategy and its settings in words (`canary 10% for 5 min, bake 10 min`).
pub fn shift_words(shift: Shift) -> String {
    match shift {
        Shift::Rolling => "rolling".into(),
        Shift::BlueGreen { bake } => format!("blue-green, bake {bake} min"),
        Shift::Canary {
            percent,
            canary_bake,
            bake,
        } => format!("canary {percent} for {canary_bake} min, bake {bake} min"),
        Shift::Linear { step, step_bake, bake } => {
            format!("linear {step} every {step_bake} min, bake {bake} min")
        }
    }
}

/// The strategy a service's deployment configuration says (none: rolling, ECS's default).
pub fn shift_of(config: Option<&DeploymentConfiguration>) -> Shift {
    let percent = |p: f64| Percent((p * 10.0).round() as u32);
    let bake = config.and_then(|c| c.bake_time_in_minutes()).unwrap_or_default() as u32;
    match config.and_then(|c| c.strategy()) {
        Some(DeploymentStrategy::BlueGreen) => Shift::BlueGreen { bake },
        Some(DeploymentStrategy::Canary) => {
            let canary = config.and_then(|c| c.canary_configuration());
            Shift::Canary {
                percent: percent(canary.and_then(|c| c.canary_percent()).unwrap_or_default()),
                canary_bake: canary.and_then(|c| c.canary_bake_time_in_minutes()).unwrap_or_default() as u32,
                bake,
            }
        }
        Some(DeploymentStrategy::Linear) => {
            let linear = config.and_then(|c| c.linear_configuration());
            Shift::Linear {
                step: percent(linear.and_then(|c| c.step_percent()).unwrap_or_default()),
                step_bake: linear.and_then(|c| c.step_bake_time_in_minutes()).unwrap_or_default() as u32,
                bake,
            }
        }
        _ => Shift::Rolling,
    }
}

/// Where a service's tasks run: the capacity provider and, for `awsvpc` tasks, their network.
/// What the service is created with, and what moves with a revision between the instances and
/// Fargate (with the revision that makes it possible: the task definition does that).
#[derive(Debug, Clone)]
pub struct Placement {
    capacity_provider: String,
    /// Whether its tasks have interfaces of their own (`awsvpc`).
    awsvpc: bool,
    /// Whether they run on Fargate.
    fargate: bool,
}

impl Placement {
    /// Where `service`'s tasks run.
    pub fn new(app: &App, service: &AppService) -> Placement {
        Placement {
            capacity_provider: match service.spec.capacity.fargate_provider() {
                Some(fargate) => fargate.to_string(),
                None => app.names.capacity(),
            },
            awsvpc: service.spec.is_awsvpc(),
            fargate: service.spec.capacity != Capacity::Ec2,
        }
    }

    /// Whether the tasks run on Fargate.
    pub fn fargate(&self) -> bool {
        self.fargate
    }

    /// Whether `service` runs its tasks on this provider alone.
    pub fn is_where(&self, service: &EcsService) -> bool {
        let providers = service.capacity_provider_strategy();
        providers.len() == 1 && providers[0].capacity_provider() == self.capacity_provider
    }

    /// `awsvpc` tasks: in the app's subnets and the tasks' security group; on Fargate with a
    /// public address (to pull the image and send logs from the default VPC's public subnets,
    /// which have no NAT gateway), on EC2 without (ECS refuses one for `awsvpc` tasks there).
    pub fn network(&self, facts: &Facts) -> Result<Option<NetworkConfiguration>, CliError> {
        if !self.awsvpc {
            return Ok(None);
        }
        let vpc = need(facts.vpc.as_ref(), "the VPC")?;
        let group = need(
            facts.security_groups.get(&GroupRole::Tasks),
            "the tasks' security group",
        )?;
        let awsvpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(vpc.subnets.clone()))
            .security_groups(group)
            .assign_public_ip(if self.fargate {
                AssignPublicIp::Enabled
            } else {
                AssignPublicIp::Disabled
            })
            .build()
            .expect("subnets are set");
        Ok(Some(
            NetworkConfiguration::builder().awsvpc_configuration(awsvpc).build(),
        ))
    }

    /// The service's capacity provider strategy: its one provider.
    pub fn strategy(&self) -> CapacityProviderStrategyItem {
        CapacityProviderStrategyItem::builder()
            .capacity_provider(&self.capacity_provider)
            .weight(1)
            .build()
            .expect("the provider is set")
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
    /// Where its tasks run.
    placement: Placement,
    /// The alarms that fail a deployment, sorted: the two `up` creates and the file's own.
    alarms: Vec<String>,
    /// How ECS moves traffic to a new revision.
    shift: Shift,
    /// Whether a deployment pauses for `pushdeploy approve` before production traffic moves.
    approve: bool,
    /// Whether it takes the listener's default route (the first service).
    default_route: bool,
    /// The port of the listener that forwards (443 with a certificate).
    listener_port: i32,
    /// The service's test listener (blue-green, canary and linear).
    test_port: Option<i32>,
    infrastructure_role: String,
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
            placement: Placement::new(app, service),
            alarms: deployment_alarms(app, service),
            shift: service.spec.deployment.shift(),
            approve: service.spec.deployment.approve_before_production,
            default_route: app.file.services.first().map(|s| &s.name) == Some(&service.spec.name),
            listener_port: if app.file.certificate_arn.is_some() { 443 } else { 80 },
            test_port: (service.spec.deployment.test_port)
                .filter(|_| service.spec.deployment.is_staged())
                .map(i32::from),
            infrastructure_role: app.names.infrastructure_role(),
            app: app.name.clone(),
        }
    }

    fn staged(&self) -> bool {
        self.shift != Shift::Rolling
    }

    /// The load balancer of the service: its target group and, for a blue-green, canary or
    /// linear service, what ECS moves traffic with.
    ///
    /// IAM: `elasticloadbalancing:DescribeRules` (the first service's default rule, the test
    /// listener's).
    async fn load_balancer(&self, ctx: &Context, facts: &Facts) -> Result<EcsLoadBalancer, CliError> {
        let target_group = need(facts.target_groups.get(&self.name), "the service's target group")?;
        let mut lb = EcsLoadBalancer::builder()
            .target_group_arn(target_group)
            .container_name(&self.container)
            .container_port(i32::from(self.port));
        if self.staged() {
            let alternate = need(
                facts.alternate_target_groups.get(&self.name),
                "the service's second target group",
            )?;
            let role = need(
                facts.roles.get(&self.infrastructure_role),
                "the ECS infrastructure role",
            )?;
            let rule = match facts.production_rules.get(&self.name) {
                Some(rule) => rule.clone(),
                None if self.default_route => {
                    let listener = need(facts.listeners.get(&self.listener_port), "the listener")?;
                    let rule = super::listener::default_rule(ctx, listener).await?;
                    rule.rule_arn().unwrap_or_default().to_string()
                }
                None => {
                    return Err(CliError::NotCreated {
                        what: "the service's listener rule".into(),
                    })
                }
            };
            let test_rule = match self.test_port {
                Some(port) => {
                    let listener = need(facts.listeners.get(&port), "the test listener")?;
                    let rule = super::listener::default_rule(ctx, listener).await?;
                    rule.rule_arn().map(str::to_string)
                }
                None => None,
            };
            lb = lb.advanced_configuration(
                AdvancedConfiguration::builder()
                    .alternate_target_group_arn(alternate)
                    .production_listener_rule(rule)
                    .set_test_listener_rule(test_rule)
                    .role_arn(role)
                    .build(),
            );
        }
        Ok(lb.build())
    }

    /// The first half of AWS's path from rolling to blue-green, canary or linear ("Update the
    /// deployment strategy from rolling update to Amazon ECS blue/green"): the load balancer's
    /// `advancedConfiguration` (second group, production rule, role) sent while the service is
    /// still rolling, which starts a rolling deployment; the strategy follows once it completed
    /// (ECS changes a strategy only between deployments). The service's tasks stay in its first
    /// group, which the production rule weighs 100 until ECS moves it. A failed deployment (its
    /// circuit breaker rolls back, which may take the load balancer back too) stops the switch.
    ///
    /// IAM: `ecs:UpdateService`, `ecs:DescribeServices`, `iam:PassRole` of the infrastructure
    /// role, `elasticloadbalancing:DescribeRules`.
    async fn prepare_switch(&self, ctx: &Context, facts: &Facts, step: &Step) -> Result<(), CliError> {
        let load_balancer = self.load_balancer(ctx, facts).await?;
        let ecs = ctx.ecs();
        // ECS assumes the infrastructure role here first: one this `up` just made may not have
        // propagated (as at CreateService).
        let updated = poll::retry(
            service_linked_role::PROPAGATION,
            |e: &aws_sdk_ecs::error::SdkError<aws_sdk_ecs::operation::update_service::UpdateServiceError>| {
                use aws_smithy_types::error::metadata::ProvideErrorMetadata;
                facts.is_fresh("iam role", &self.infrastructure_role, service_linked_role::PROPAGATION)
                    && e.code() == Some("InvalidParameterException")
            },
            || {
                (ecs.update_service())
                    .cluster(&self.cluster)
                    .service(&self.name)
                    .load_balancers(load_balancer.clone())
                    .send()
            },
        )
        .await
        .map_err(|e| aws("ecs:UpdateService", e))?;
        // The deployment this started: a look that does not show it yet is too early, one that
        // shows it gone (and the load balancer without the second group) is a rollback.
        let started = (updated.service().and_then(|s| s.deployments().first()))
            .and_then(|d| d.id())
            .map(str::to_string);
        let seen = std::cell::Cell::new(false);
        step.set("a rolling deployment gives ECS the second target group");
        let wait = Wait::new(
            format!("the rolling deployment of service {} before its switch", self.name),
            SWITCH,
            "`pushdeploy status` shows the deployment: run `pushdeploy up` again once it is done",
        );
        let failed = |service: &str, reason: Option<&str>| CliError::SwitchFailed {
            service: service.to_string(),
            reason: reason.unwrap_or("ECS gave no reason").to_string(),
        };
        poll::until(&wait, step, || async {
            let found = describe_service(ctx, &self.cluster, &self.name).await?;
            let Some(found) = found else {
                return Err(failed(&self.name, Some("the service is gone")));
            };
            let deployments = found.deployments();
            if let Some(d) = (deployments.iter()).find(|d| d.rollout_state() == Some(&DeploymentRolloutState::Failed)) {
                return Err(failed(&self.name, d.rollout_state_reason()));
            }
            let ours = (deployments.iter()).any(|d| started.is_none() || d.id() == started.as_deref());
            seen.set(seen.get() || ours);
            let done = ours
                && deployments.len() == 1
                && deployments[0].rollout_state() == Some(&DeploymentRolloutState::Completed);
            let second_group = has_advanced_configuration(&found);
            if done && second_group {
                return Ok(Poll::Done(()));
            }
            if (done || (seen.get() && !ours)) && !second_group {
                return Err(failed(&self.name, Some("ECS rolled its load balancer back")));
            }
            Ok(Poll::Pending(format!(
                "{} running",
                crate::output::plural(deployments.len(), "deployment")
            )))
        })
        .await
    }

    /// The service read again when its task definition's roll-out in this `up` may have done part
    /// of `drift` already (a move between the instances and Fargate, going back to one group):
    /// what `apply` was given is as seen before it.
    ///
    /// IAM: `ecs:DescribeServices`.
    async fn after_roll_out(&self, ctx: &Context, drift: &[Drift]) -> Result<Option<EcsService>, CliError> {
        if (drift.iter()).any(|d| matches!(d, Drift::CapacityProvider { .. } | Drift::SecondGroup)) {
            describe_service(ctx, &self.cluster, &self.name).await
        } else {
            Ok(None)
        }
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

/// The deployment configuration of a service going back to rolling ([`check_switches`]): the
/// rolling one with the strategy said outright and a pause `service` has cleared (an absent list
/// would keep it; an empty one is sent only then).
pub fn rolling_again(alarms: &[String], service: &EcsService) -> DeploymentConfiguration {
    let mut config = deployment_configuration(alarms, Shift::Rolling, false);
    config.strategy = Some(DeploymentStrategy::Rolling);
    if (service.deployment_configuration()).is_some_and(|c| !c.lifecycle_hooks().is_empty()) {
        config.lifecycle_hooks = Some(Vec::new());
    }
    config
}

/// The deployment alarms (roll back a deployment during which, or during whose bake time, an
/// alarm goes into ALARM; off when `alarms` is empty, which also clears alarms set before), and
/// the strategy: a rolling service's circuit breaker (roll back a deployment whose tasks fail to
/// start; ECS uses it for rolling updates only), the other strategies' times and steps.
pub fn deployment_configuration(alarms: &[String], shift: Shift, approve: bool) -> DeploymentConfiguration {
    let watched = DeploymentAlarms::builder()
        .set_alarm_names(Some(alarms.to_vec()))
        .enable(!alarms.is_empty())
        .rollback(!alarms.is_empty())
        .build()
        .expect("names, enable and rollback are set");
    let config = DeploymentConfiguration::builder()
        .alarms(watched)
        .maximum_percent(200)
        .minimum_healthy_percent(100)
        // An empty list clears a pause set before (an absent one would keep it).
        .set_lifecycle_hooks((shift != Shift::Rolling).then(|| approve.then(approval_hook).into_iter().collect()));
    match shift {
        Shift::Rolling => {
            config.deployment_circuit_breaker(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
        }
        Shift::BlueGreen { bake } => config
            .strategy(DeploymentStrategy::BlueGreen)
            .bake_time_in_minutes(bake as i32),
        Shift::Canary {
            percent,
            canary_bake,
            bake,
        } => config
            .strategy(DeploymentStrategy::Canary)
            .bake_time_in_minutes(bake as i32)
            .canary_configuration(
                CanaryConfiguration::builder()
                    .canary_percent(percent.value())
                    .canary_bake_time_in_minutes(canary_bake as i32)
                    .build(),
            ),
        Shift::Linear { step, step_bake, bake } => config
            .strategy(DeploymentStrategy::Linear)
            .bake_time_in_minutes(bake as i32)
            .linear_configuration(
                LinearConfiguration::builder()
                    .step_percent(step.value())
                    .step_bake_time_in_minutes(step_bake as i32)
                    .build(),
            ),
    }
    .build()
}

/// The pause `approve_before_production` sets: after test traffic moved, before any production
/// traffic does (once per deployment, where a pause before each production step would ask again
/// at every canary or linear step), answered by ContinueServiceDeployment; unanswered for a day
/// (ECS's default timeout), ECS rolls back (ECS developer guide, "Pause hooks for Amazon ECS
/// service deployments").
pub fn approval_hook() -> DeploymentLifecycleHook {
    DeploymentLifecycleHook::builder()
        .target_type(DeploymentLifecycleHookTargetType::Pause)
        .lifecycle_stages(DeploymentLifecycleHookStage::PostTestTrafficShift)
        .timeout_configuration(
            DeploymentLifecycleHookTimeoutConfiguration::builder()
                .timeout_in_minutes(APPROVAL_MINUTES)
                .action(DeploymentLifecycleHookAction::Rollback)
                .build(),
        )
        .build()
}

/// Minutes a deployment waits for `pushdeploy approve` before ECS rolls it back.
pub const APPROVAL_MINUTES: i32 = 1440;

/// Whether a deployment configuration pauses for approval (a pause hook before production).
pub fn pauses_for_approval(config: Option<&DeploymentConfiguration>) -> bool {
    config.is_some_and(|c| {
        c.lifecycle_hooks().iter().any(|h| {
            h.target_type() == Some(&DeploymentLifecycleHookTargetType::Pause)
                && h.lifecycle_stages()
                    .contains(&DeploymentLifecycleHookStage::PostTestTrafficShift)
        })
    })
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
    shift: Shift,
    approve: bool,
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
    if shift == Shift::Rolling && !breaker.is_some_and(|b| b.enable() && b.rollback()) {
        drift.push(Drift::CircuitBreaker);
    }
    let have = shift_of(service.deployment_configuration());
    if have != shift {
        drift.push(Drift::Strategy { have, want: shift });
    }
    if pauses_for_approval(service.deployment_configuration()) != approve {
        drift.push(Drift::Approval { want: approve });
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

    /// What it is converged after: the task definitions, which come after all else CreateService
    /// names or checks (target groups behind their listeners and rules, alarms, roles, groups, the
    /// cluster with its capacity: see the task definition's `after`), so the service
    /// does too. Not the repositories' images or anything of the function.
    fn after(&self) -> After {
        After::Kinds(&["task definition"])
    }

    fn name(&self) -> String {
        format!("{}/{}", self.cluster, self.name)
    }

    fn deleted_together(&self) -> bool {
        true
    }

    async fn observe(&self, ctx: &Context, facts: &Facts) -> Result<Option<EcsService>, CliError> {
        seen_or_described(ctx, facts, &self.cluster, &self.name).await
    }

    fn diff(&self, service: &EcsService, facts: &Facts) -> Vec<Drift> {
        let mut drift = service_drift(
            service,
            self.owned_desired,
            &self.placement.capacity_provider,
            &self.alarms,
            self.shift,
            self.approve,
        );
        let test_rule =
            (service.load_balancers().iter()).find_map(|lb| lb.advanced_configuration()?.test_listener_rule());
        // The rule must be the test port's listener's (`.../listener-rule/app/<lb>/<id>/<listener
        // id>/<rule id>` under `.../listener/app/<lb>/<id>/<listener id>`): a changed port too
        // (in a plan, a listener still to create is another one).
        let as_wanted = match (self.test_port, test_rule) {
            (None, None) => true,
            (Some(port), Some(rule)) => facts.listeners.get(&port).is_some_and(|listener| {
                (rule.replacen("listener-rule/", "listener/", 1)).starts_with(&format!("{listener}/"))
            }),
            _ => false,
        };
        if self.staged() && !as_wanted {
            drift.push(Drift::TestListener {
                want: self.test_port.is_some(),
            });
        }
        if !self.staged() && has_advanced_configuration(service) {
            drift.push(Drift::SecondGroup);
        }
        drift
    }

    /// IAM: `ecs:CreateService`, `ecs:TagResource`, `ecs:DescribeServices`; for a blue-green,
    /// canary or linear service `iam:PassRole` of the infrastructure role (to `ecs.amazonaws.com`)
    /// and, for the first service, `elasticloadbalancing:DescribeRules` (its listener's default
    /// rule).
    async fn create(&self, ctx: &Context, facts: &Facts, step: &Step) -> Result<EcsService, CliError> {
        let revision = need(facts.revisions.get(&self.name), "the service's task definition")?;
        let load_balancer = self.load_balancer(ctx, facts).await?;
        let network = self.placement.network(facts)?;
        self.wait_drained(ctx, step).await?;
        let ecs = ctx.ecs();
        let created = poll::retry(
            service_linked_role::PROPAGATION,
            // ECS assumes the infrastructure role at CreateService: a role this `up` just made
            // may not have propagated (IAM is eventually consistent), as with the linked role.
            |e| {
                use aws_smithy_types::error::metadata::ProvideErrorMetadata;
                may_be_propagating(facts, e)
                    || (facts.is_fresh("iam role", &self.infrastructure_role, service_linked_role::PROPAGATION)
                        && e.code() == Some("InvalidParameterException"))
            },
            || {
                ecs.create_service()
                    .cluster(&self.cluster)
                    .service_name(&self.name)
                    .task_definition(&revision.arn)
                    .desired_count(self.desired)
                    .load_balancers(load_balancer.clone())
                    .set_network_configuration(network.clone())
                    .capacity_provider_strategy(self.placement.strategy())
                    .deployment_controller(
                        DeploymentController::builder()
                            .r#type(DeploymentControllerType::Ecs)
                            .build()
                            .expect("the type is set"),
                    )
                    .deployment_configuration(deployment_configuration(&self.alarms, self.shift, self.approve))
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

    /// IAM: `ecs:UpdateService`; with a test listener added or a switch from rolling,
    /// `iam:PassRole` of the infrastructure role and `elasticloadbalancing:DescribeRules` (and
    /// `ecs:DescribeServices` while the switch's rolling deployment runs, and to read the service
    /// again after its task definition's roll-out when the capacity or the groups change).
    async fn apply(
        &self,
        ctx: &Context,
        service: &EcsService,
        drift: &[Drift],
        facts: &Facts,
        step: &Step,
    ) -> Result<(), CliError> {
        let switching = self.staged()
            && drift.iter().any(|d| {
                matches!(
                    d,
                    Drift::Strategy {
                        have: Shift::Rolling,
                        ..
                    }
                )
            });
        if switching && !has_advanced_configuration(service) {
            self.prepare_switch(ctx, facts, step).await?;
        }
        let now = self.after_roll_out(ctx, drift).await?;
        let back = |d: &Drift| matches!(d, Drift::Strategy { .. } | Drift::SecondGroup);
        let config = if !self.staged() && drift.iter().any(back) {
            rolling_again(&self.alarms, service)
        } else {
            deployment_configuration(&self.alarms, self.shift, self.approve)
        };
        let mut call = ctx
            .ecs()
            .update_service()
            .cluster(&self.cluster)
            .service(&self.name)
            .set_desired_count(self.owned_desired)
            .deployment_configuration(config)
            .health_check_grace_period_seconds(HEALTH_CHECK_GRACE);
        // Between blue-green, canary and linear only the configuration changes (the groups, rule
        // and role stay): sending the load balancers again would start a deployment, so only a
        // test listener added or removed sends them. Between rolling and the others (on Fargate:
        // `check_switches`) the load balancers go in calls of their own.
        if !switching && drift.iter().any(|d| matches!(d, Drift::TestListener { .. })) {
            call = call.load_balancers(self.load_balancer(ctx, facts).await?);
        }
        let elsewhere = (now.as_ref()).is_some_and(|now| !self.placement.is_where(now));
        let moved = |d: &Drift| matches!(d, Drift::CapacityProvider { .. }) && !elsewhere;
        if drift.iter().all(moved) {
            // The move alone, and it went with the revision: nothing left to send (sending the
            // configuration again mid-deployment would be a write for nothing).
            return Ok(());
        }
        if drift.iter().any(|d| matches!(d, Drift::CapacityProvider { .. })) && elsewhere {
            // ECS refuses a strategy change without a new deployment (UpdateService reference);
            // an unchanged strategy is never sent, so settings alone never redeploy. The tasks'
            // network goes with it (a public address on Fargate only).
            call = call
                .capacity_provider_strategy(self.placement.strategy())
                .set_network_configuration(self.placement.network(facts)?)
                .force_new_deployment(true);
        }
        call.send().await.map_err(|e| aws("ecs:UpdateService", e))?;
        // Back to rolling ("Update the deployment strategy from Amazon ECS blue/green to rolling
        // update"): the strategy first (above, no deployment), then the load balancer with only
        // the group production traffic is on, a rolling deployment into it; unless the task
        // definition's roll-out in this `up` already sent it (`service` is as seen before that).
        let second_group = drift.iter().any(|d| matches!(d, Drift::SecondGroup))
            && now.as_ref().is_some_and(has_advanced_configuration);
        if second_group {
            (ctx.ecs().update_service())
                .cluster(&self.cluster)
                .service(&self.name)
                .load_balancers(self.load_balancer(ctx, facts).await?)
                .send()
                .await
                .map_err(|e| aws("ecs:UpdateService", e))?;
        }
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
        let running = format!("{}/{} running", service.running_count(), service.desired_count());
        Some(match shift_of(service.deployment_configuration()) {
            Shift::Rolling => running,
            shift => format!("{running}, {}", shift_words(shift)),
        })
    }
}

/// Service `name` as the facts have it (read ahead with the app's others, or by its task
/// definition just before), else as ECS describes it now.
///
/// IAM: `ecs:DescribeServices`.
pub async fn seen_or_described(
    ctx: &Context,
    facts: &Facts,
    cluster: &str,
    name: &str,
) -> Result<Option<EcsService>, CliError> {
    match facts.services.get(name) {
        Some(seen) => Ok(seen.clone()),
        None => describe_service(ctx, cluster, name).await,
    }
}

/// Refuses, before `up` writes anything, a file that changes an existing service in a way `up`
/// cannot do in place ([`CliError::StrategySwitch`]). In place are AWS's own paths, between
/// deployments ([`CliError::SwitchDuringDeployment`] during one): between rolling on Fargate and
/// blue-green, canary or linear ("Update the deployment strategy from rolling update to Amazon
/// ECS blue/green" and back), and a blue-green, canary or linear service between the instances
/// and Fargate (UpdateService, `capacityProviderStrategy`: "You can change capacity providers for
/// rolling deployments and blue/green deployments"), whose `awsvpc` tasks stay behind the same
/// `ip` groups. A rolling service on the instances runs `bridge` tasks behind an `instance`
/// group: those would change network, which AWS documents no way to do without dropping
/// requests. Both changes at once go in two steps, each on one of those paths.
/// `found` is every service of the app as ECS has it ([`crate::ecs::describe_services`]).
pub fn check_switches(app: &App, found: &BTreeMap<String, Option<EcsService>>) -> Result<(), CliError> {
    for service in app.services() {
        let Some(Some(existing)) = found.get(&service.spec.name) else {
            continue;
        };
        let (have, want) = (
            shift_of(existing.deployment_configuration()),
            service.spec.deployment.shift(),
        );
        let (staged, to_staged) = (have != Shift::Rolling, want != Shift::Rolling);
        let (on_fargate, to_fargate) = (on_fargate(existing), service.spec.capacity != Capacity::Ec2);
        if staged == to_staged && on_fargate == to_fargate {
            continue;
        }
        let moving = on_fargate != to_fargate;
        let words = |shift: Shift, fargate: bool| {
            let place = if fargate { "Fargate" } else { "the app's instances" };
            let place = if moving {
                format!(" with its tasks on {place}")
            } else {
                String::new()
            };
            format!("{} deployments{place}", shift_words(shift))
        };
        let how = match (staged != to_staged, moving) {
            (true, false) if on_fargate => None,
            (false, true) if staged => None,
            // Rolling on Fargate to staged on the instances, and back: staged on the way.
            (true, true) if on_fargate && !staged => Some(Refusal::TwoSteps(
                "first change the `strategy` alone (on Fargate), run `pushdeploy up`, then change the `capacity`",
            )),
            (true, true) if staged && !on_fargate => Some(Refusal::TwoSteps(
                "first change the `capacity` alone (to Fargate), run `pushdeploy up`, then change the `strategy`",
            )),
            _ => Some(Refusal::Network),
        };
        if let Some(how) = how {
            return Err(CliError::StrategySwitch {
                service: service.spec.name.clone(),
                have: words(have, on_fargate),
                want: words(want, to_fargate),
                how: how.to_string(),
            });
        }
        if deploying(existing) {
            return Err(CliError::SwitchDuringDeployment {
                service: service.spec.name.clone(),
            });
        }
    }
    Ok(())
}

/// Why [`check_switches`] refuses, with what to do.
enum Refusal {
    /// Both the strategy and the capacity change: one per `up`.
    TwoSteps(&'static str),
    /// A rolling service on the instances would change network.
    Network,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::TwoSteps(how) => write!(f, "`up` does that in two steps: {how}"),
            Refusal::Network => write!(
                f,
                "its tasks would move between the instances' network and interfaces of their own behind other \
                 target groups, which AWS documents no way to do without dropping requests (a blue-green, \
                 canary or linear service moves between the instances and Fargate in place, and one on \
                 Fargate between rolling and the others). Keep its `strategy` and `capacity`, or run \
                 `pushdeploy down` then `pushdeploy up` (repositories and images are kept)"
            ),
        }
    }
}

/// Whether the service's tasks run on Fargate (or Fargate Spot).
pub fn on_fargate(service: &EcsService) -> bool {
    (service.capacity_provider_strategy().iter()).any(|s| s.capacity_provider().starts_with("FARGATE"))
}

/// Whether a deployment of the service is under way (more than one, or the primary not done).
pub fn deploying(service: &EcsService) -> bool {
    service.deployments().len() > 1
        || (service.deployments().first())
            .is_some_and(|d| d.rollout_state() == Some(&DeploymentRolloutState::InProgress))
}

/// The first target group of each service that switched strategy in place, or is switching in
/// this `up` ([`App::kept_groups`]): a blue-green, canary or linear service whose load balancer
/// still names the group it had when rolling keeps that one; a rolling service whose load balancer
/// still names a second group keeps the one production traffic is on (its production rule's
/// heavier weight, read here), and once it names only that one, that one.
///
/// IAM: `elasticloadbalancing:DescribeRules` (a service moving back to rolling).
pub async fn kept_groups(
    ctx: &Context,
    app: &App,
    found: &BTreeMap<String, Option<EcsService>>,
) -> Result<BTreeMap<String, String>, CliError> {
    let mut production = BTreeMap::new();
    for (service, rule) in production_rules_to_read(app, found) {
        production.insert(service, production_group(ctx, &rule).await?);
    }
    Ok(first_groups(app, found, &production))
}

/// The rolling services (in the file) whose load balancer still names a second group, with the
/// production rule whose weights say which group they keep.
fn production_rules_to_read(app: &App, found: &BTreeMap<String, Option<EcsService>>) -> Vec<(String, String)> {
    (app.services().into_iter())
        .filter(|s| !s.spec.deployment.is_staged())
        .filter_map(|s| {
            let Some(Some(service)) = found.get(&s.spec.name) else {
                return None;
            };
            let advanced = service.load_balancers().first()?.advanced_configuration()?;
            Some((s.spec.name, advanced.production_listener_rule()?.to_string()))
        })
        .collect()
}

/// The group a rule forwards most of its traffic to (by name; the first of a tie).
///
/// IAM: `elasticloadbalancing:DescribeRules`.
async fn production_group(ctx: &Context, rule: &str) -> Result<String, CliError> {
    let out = (ctx.elbv2().describe_rules().rule_arns(rule).send().await)
        .map_err(|e| aws("elasticloadbalancing:DescribeRules", e))?;
    let actions = out.rules().first().map(|r| r.actions()).unwrap_or_default();
    // A forward to one group (an `up` cut short after the rule forwarded to it alone) names it
    // without a forward config.
    let single = actions.first().and_then(|a| a.target_group_arn()).map(short_name);
    let mut heaviest: Option<(i32, String)> = None;
    for (group, weight) in super::listener::weights(actions) {
        if heaviest.as_ref().is_none_or(|(w, _)| weight > *w) {
            heaviest = Some((weight, group));
        }
    }
    (heaviest.map(|(_, group)| group).or(single.map(str::to_string))).ok_or_else(|| {
        missing(
            "elasticloadbalancing:DescribeRules",
            "the production rule's target groups",
        )
    })
}

/// [`kept_groups`] from what ECS has and the groups production traffic is on (`production`, by
/// service, for those [`production_rules_to_read`] names).
fn first_groups(
    app: &App,
    found: &BTreeMap<String, Option<EcsService>>,
    production: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut kept = BTreeMap::new();
    for s in app.services() {
        let name = s.spec.name;
        let Some(Some(service)) = found.get(&name) else {
            continue;
        };
        let Some(lb) = service.load_balancers().first() else {
            continue;
        };
        let Some(first) = lb.target_group_arn().map(short_name) else {
            continue;
        };
        // On the instances too: a service that switched on Fargate may have moved there since.
        let rolling = app.names.target_group(&name);
        let group = if s.spec.deployment.is_staged() {
            // `-a` is the default; the rolling one's, or `-b` (back to rolling on it, then staged
            // again) is kept, and the other of `-a`/`-b` is its second.
            (first != app.names.primary_target_group(&name)).then(|| first.to_string())
        } else if lb.advanced_configuration().is_some() {
            production.get(&name).cloned()
        } else {
            (first != rolling).then(|| first.to_string())
        };
        if let Some(group) = group {
            kept.insert(name, group);
        }
    }
    kept
}

/// Every service of the app in its cluster, found by the app's tag: `down` deletes those the
/// app file no longer lists too.
///
/// IAM: `ecs:ListServices`, `ecs:DescribeServices`.
pub async fn tagged(ctx: &Context, cluster: &str, app: &str) -> Result<Vec<String>, CliError> {
    Ok((tagged_services(ctx, cluster, app).await?.iter())
        .filter_map(|s| s.service_name().map(str::to_string))
        .collect())
}

/// [`tagged`], as DescribeServices shows them (ACTIVE or DRAINING, with their tags).
///
/// IAM: `ecs:ListServices`, `ecs:DescribeServices`.
pub async fn tagged_services(ctx: &Context, cluster: &str, app: &str) -> Result<Vec<EcsService>, CliError> {
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
    let mut services = Vec::new();
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
        services.extend(out.services.unwrap_or_default().into_iter().filter(|s| {
            s.tags()
                .iter()
                .any(|t| t.key() == Some(APP_TAG) && t.value() == Some(app))
        }));
    }
    Ok(services)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::CapacityProviderStrategyItem as Item;
    use aws_sdk_ecs::types::Deployment;

    fn app(text: &str) -> App {
        let file: crate::app_file::AppFile = toml::from_str(text).unwrap();
        App::resolve(file, Some("shop"), "test", Some(text)).unwrap()
    }

    /// `web` as ECS has it: rolling (on Fargate or instances) behind `group`, its deployment
    /// `rollout`.
    fn running(fargate: bool, group: &str, rollout: DeploymentRolloutState) -> BTreeMap<String, Option<EcsService>> {
        let provider = if fargate { "FARGATE" } else { "pushdeploy-shop" };
        let service = EcsService::builder()
            .deployment_configuration(deployment_configuration(&[], Shift::Rolling, false))
            .capacity_provider_strategy(Item::builder().capacity_provider(provider).build().unwrap())
            .load_balancers(
                EcsLoadBalancer::builder()
                    .target_group_arn(format!(
                        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{group}/0123"
                    ))
                    .build(),
            )
            .deployments(Deployment::builder().status("PRIMARY").rollout_state(rollout).build())
            .build();
        BTreeMap::from([("web".to_string(), Some(service))])
    }

    const CANARY_ON_FARGATE: &str =
        "[[services]]\nname = \"web\"\ncapacity = \"fargate\"\n[services.deployment]\nstrategy = \"canary\"\n";

    #[test]
    fn only_a_rolling_service_on_fargate_moves_to_a_staged_strategy_in_place_and_only_between_deployments() {
        let canary = app(CANARY_ON_FARGATE);
        let done = running(true, "pd-shop-web", DeploymentRolloutState::Completed);
        check_switches(&canary, &done).expect("AWS's path: in place");
        let busy = running(true, "pd-shop-web", DeploymentRolloutState::InProgress);
        let refused = check_switches(&canary, &busy).unwrap_err();
        assert!(matches!(refused, CliError::SwitchDuringDeployment { .. }), "{refused}");
        // On instances the tasks would change network: refused.
        let on_instances = app("[[services]]\nname = \"web\"\n[services.deployment]\nstrategy = \"canary\"\n");
        let ec2 = running(false, "pd-shop-web", DeploymentRolloutState::Completed);
        let refused = check_switches(&on_instances, &ec2).unwrap_err();
        assert!(matches!(refused, CliError::StrategySwitch { .. }), "{refused}");
        // A new service is no switch.
        check_switches(&canary, &BTreeMap::from([("web".to_string(), None)])).unwrap();
    }

    /// `web` as ECS has it with `shift`, its tasks on Fargate or the instances, between deployments.
    fn settled(fargate: bool, shift: Shift) -> BTreeMap<String, Option<EcsService>> {
        let mut found = running(fargate, "pd-shop-web-a", DeploymentRolloutState::Completed);
        let web = found.get_mut("web").unwrap().as_mut().unwrap();
        web.deployment_configuration = Some(deployment_configuration(&[], shift, false));
        found
    }

    #[test]
    fn a_staged_service_moves_between_the_instances_and_fargate_in_place_and_two_changes_take_two_steps() {
        let canary = Shift::Canary {
            percent: Percent(100),
            canary_bake: 5,
            bake: 10,
        };
        let file = |capacity: &str, strategy: &str| {
            app(&format!(
                "[[services]]\nname = \"web\"\ncapacity = \"{capacity}\"\n[services.deployment]\nstrategy = \"{strategy}\"\n"
            ))
        };
        // A staged service, either way: its awsvpc tasks stay behind the same ip groups.
        check_switches(&file("fargate", "canary"), &settled(false, canary)).expect("to Fargate in place");
        check_switches(&file("ec2", "canary"), &settled(true, canary)).expect("to the instances in place");
        check_switches(&file("fargate-spot", "canary"), &settled(false, canary)).expect("to Fargate Spot in place");
        // ... between deployments only.
        let mut busy = settled(false, canary);
        busy.get_mut("web").unwrap().as_mut().unwrap().deployments = Some(vec![Deployment::builder()
            .status("PRIMARY")
            .rollout_state(DeploymentRolloutState::InProgress)
            .build()]);
        let refused = check_switches(&file("fargate", "canary"), &busy).unwrap_err();
        assert!(matches!(refused, CliError::SwitchDuringDeployment { .. }), "{refused}");
        // A rolling one: bridge tasks on the instances, or going there, would change network.
        for (on_fargate, capacity) in [(false, "fargate"), (true, "ec2")] {
            let refused = check_switches(&file(capacity, "rolling"), &settled(on_fargate, Shift::Rolling)).unwrap_err();
            assert!(refused.to_string().contains("without dropping requests"), "{refused}");
        }
        // Both at once: two steps, each on a path `up` takes, the first named.
        let refused = check_switches(&file("ec2", "canary"), &settled(true, Shift::Rolling)).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("first change the `strategy` alone (on Fargate)"),
            "{refused}"
        );
        let refused = check_switches(&file("fargate", "rolling"), &settled(false, canary)).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("first change the `capacity` alone (to Fargate)"),
            "{refused}"
        );
        let refused = check_switches(&file("fargate", "canary"), &settled(false, Shift::Rolling)).unwrap_err();
        assert!(refused.to_string().contains("without dropping requests"), "{refused}");
        let refused = check_switches(&file("ec2", "rolling"), &settled(true, canary)).unwrap_err();
        assert!(refused.to_string().contains("without dropping requests"), "{refused}");
        // Nothing moving: no refusal, deployment or not.
        check_switches(&file("ec2", "canary"), &busy).unwrap();
    }

    #[test]
    fn a_service_switched_in_place_keeps_the_group_it_had() {
        let none = BTreeMap::new();
        let canary = app(CANARY_ON_FARGATE);
        let was_rolling = running(true, "pd-shop-web", DeploymentRolloutState::Completed);
        let kept = first_groups(&canary, &was_rolling, &none);
        assert_eq!(kept, BTreeMap::from([("web".to_string(), "pd-shop-web".to_string())]));
        let group = |app: &App| {
            let first = super::super::target_group::TargetGroup::new(app, &app.services()[0]);
            super::super::model::Resource::name(&first)
        };
        assert_eq!(group(&canary.with_kept_groups(kept)), "pd-shop-web");
        assert_eq!(group(&canary), "pd-shop-web-a");
        // Created staged: `-a` and `-b`, nothing kept.
        let staged = running(true, "pd-shop-web-a", DeploymentRolloutState::Completed);
        assert!(first_groups(&canary, &staged, &none).is_empty());
        // Back to rolling on `-b`, then staged again: `-b` stays first, `-a` is the second.
        let on_b = canary.with_kept_groups(first_groups(
            &canary,
            &running(true, "pd-shop-web-b", DeploymentRolloutState::Completed),
            &none,
        ));
        assert_eq!(group(&on_b), "pd-shop-web-b");
        let second = super::super::target_group::TargetGroup::alternate(&on_b, &on_b.services()[0]);
        assert_eq!(super::super::model::Resource::name(&second), "pd-shop-web-a");
        // On the instances too (it switched on Fargate, then moved): what it kept stays.
        let on_instances = running(false, "pd-shop-web", DeploymentRolloutState::Completed);
        assert_eq!(
            first_groups(&canary, &on_instances, &none),
            BTreeMap::from([("web".to_string(), "pd-shop-web".to_string())])
        );
        // A rolling service keeps nothing either.
        let rolling = app("[[services]]\nname = \"web\"\ncapacity = \"fargate\"\n");
        assert!(first_groups(&rolling, &was_rolling, &none).is_empty());
        assert!(production_rules_to_read(&rolling, &was_rolling).is_empty());

        // Back to rolling: the group production traffic is on, read from the production rule,
        // while the load balancer names two; then the one it names.
        let mut two = staged.clone();
        let service = two.get_mut("web").unwrap().as_mut().unwrap();
        service.load_balancers.as_mut().unwrap()[0].advanced_configuration = Some(
            AdvancedConfiguration::builder()
                .alternate_target_group_arn(
                    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pd-shop-web-b/4567",
                )
                .production_listener_rule(
                    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/pd-shop/1/2/3",
                )
                .role_arn("arn:aws:iam::123456789012:role/pushdeploy-shop-ecs-infrastructure")
                .build(),
        );
        assert_eq!(
            production_rules_to_read(&rolling, &two),
            [(
                "web".to_string(),
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/pd-shop/1/2/3".to_string()
            )]
        );
        let on_b = BTreeMap::from([("web".to_string(), "pd-shop-web-b".to_string())]);
        let kept = first_groups(&rolling, &two, &on_b);
        assert_eq!(group(&rolling.with_kept_groups(kept)), "pd-shop-web-b");
        let moved = running(true, "pd-shop-web-b", DeploymentRolloutState::Completed);
        assert_eq!(
            group(&rolling.with_kept_groups(first_groups(&rolling, &moved, &none))),
            "pd-shop-web-b"
        );
        assert_eq!(group(&rolling), "pd-shop-web");
    }

    #[test]
    fn an_unchanged_strategy_is_no_drift_and_a_changed_one_says_it_redeploys() {
        let ours = EcsService::builder()
            .desired_count(1)
            .deployment_configuration(deployment_configuration(&[], Shift::Rolling, false))
            .capacity_provider_strategy(
                Item::builder()
                    .capacity_provider("pushdeploy-demo")
                    .weight(1)
                    .build()
                    .unwrap(),
            )
            .health_check_grace_period_seconds(HEALTH_CHECK_GRACE)
            .build();
        assert!(service_drift(&ours, Some(1), "pushdeploy-demo", &[], Shift::Rolling, false).is_empty());
        // Scaling on: whatever count the scaler chose is no drift.
        let mut scaled = ours.clone();
        scaled.desired_count = 7;
        assert!(service_drift(&scaled, None, "pushdeploy-demo", &[], Shift::Rolling, false).is_empty());
        let bare = EcsService::builder().desired_count(2).build();
        let drift: Vec<String> = service_drift(
            &bare,
            Some(1),
            "pushdeploy-demo",
            &["a".to_string()],
            Shift::Rolling,
            false,
        )
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
