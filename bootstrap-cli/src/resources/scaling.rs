//! A service's auto scaling: an Application Auto Scaling scalable target on the service's
//! desired count, between the file's `min_count` and `max_count`, with one target-tracking
//! policy per metric the file names (the tasks' average CPU, the load balancer's requests per
//! target). While it is on, the desired count belongs to the scaler: `up` never resets it.
//!
//! Without `[services.autoscaling]` the service wants none: `up` deregisters a target left from
//! before, and with it its policies and their alarms (DeregisterScalableTarget reference).

use std::fmt;

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ScalableTarget, ScalingPolicy,
    ServiceNamespace, TargetTrackingScalingPolicyConfiguration,
};
use serde::Serialize;

use super::facts::{need, Facts};
use super::model::{After, Detail, Resource, APP_TAG};
use crate::app_file::{App, AppService, AutoscalingSpec};
use crate::context::Context;
use crate::error::{aws, CliError};
use crate::output::plural;
use crate::progress::Step;

/// The policy that tracks the tasks' average CPU.
pub const CPU_POLICY: &str = "pushdeploy-cpu";
/// The policy that tracks the load balancer's requests per target.
pub const REQUESTS_POLICY: &str = "pushdeploy-requests";

/// What a target-tracking policy tracks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metric {
    /// The tasks' average CPU, percent.
    Cpu,
    /// The load balancer's requests per target and minute.
    RequestsPerTarget,
    /// Another predefined metric (a policy of the team's own).
    Other(MetricType),
}

impl Metric {
    fn of(metric: &MetricType) -> Metric {
        match metric {
            MetricType::EcsServiceAverageCpuUtilization => Metric::Cpu,
            MetricType::AlbRequestCountPerTarget => Metric::RequestsPerTarget,
            other => Metric::Other(other.clone()),
        }
    }

    fn metric_type(&self) -> MetricType {
        match self {
            Metric::Cpu => MetricType::EcsServiceAverageCpuUtilization,
            Metric::RequestsPerTarget => MetricType::AlbRequestCountPerTarget,
            Metric::Other(other) => other.clone(),
        }
    }

    /// The tracked value in words (`cpu 60%`).
    pub fn words(&self, target: f64) -> String {
        match self {
            Metric::Cpu => format!("cpu {target}%"),
            Metric::RequestsPerTarget => format!("{target} requests per task and minute"),
            Metric::Other(other) => format!("{} {target}", other.as_str()),
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.metric_type().as_str())
    }
}

impl Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.metric_type().as_str())
    }
}

/// A target-tracking policy: what it tracks and the value it keeps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tracking {
    /// Policy name.
    pub name: String,
    /// Predefined metric (`ECSServiceAverageCPUUtilization`, `ALBRequestCountPerTarget`).
    pub metric: Metric,
    /// Target value.
    pub target: f64,
    /// `app/<lb>/<id>/targetgroup/<tg>/<id>` for the request count.
    #[serde(skip)]
    pub label: Option<String>,
}

/// A scalable target as it exists.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observed {
    /// Fewest tasks.
    pub min_count: i32,
    /// Most tasks.
    pub max_count: i32,
    /// Its target-tracking policies.
    pub policies: Vec<Tracking>,
}

/// How the scaling differs from the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Drift {
    /// The task range.
    Range {
        /// Now.
        have: (i32, i32),
        /// Wanted.
        want: (u32, u32),
    },
    /// A policy missing or tracking another value.
    Policy(Tracking),
    /// A policy of ours the file no longer names.
    ExtraPolicy(String),
    /// Scaling is no longer in the file.
    Off,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Range { have, want } => write!(f, "tasks {}-{} -> {}-{}", have.0, have.1, want.0, want.1),
            Drift::Policy(t) => write!(f, "track {} at {}", t.metric, t.target),
            Drift::ExtraPolicy(name) => write!(f, "delete policy {name}"),
            Drift::Off => write!(f, "scaling off: deregister"),
        }
    }
}

/// A service's auto scaling.
#[derive(Debug, Clone)]
pub struct ServiceScaling {
    service: String,
    resource_id: String,
    spec: Option<AutoscalingSpec>,
    app: String,
}

/// The Application Auto Scaling resource id of an ECS service.
pub fn resource_id(cluster: &str, service: &str) -> String {
    format!("service/{cluster}/{service}")
}

/// The request-count metric's label: the final parts of the load balancer's and the target
/// group's ARNs (PredefinedMetricSpecification reference).
pub fn resource_label(load_balancer_arn: &str, target_group_arn: &str) -> Option<String> {
    let lb = load_balancer_arn.split_once(":loadbalancer/")?.1;
    let tg = target_group_arn.rsplit_once(':')?.1;
    tg.starts_with("targetgroup/").then(|| format!("{lb}/{tg}"))
}

fn predefined(policy: &ScalingPolicy) -> Option<Tracking> {
    let config = policy.target_tracking_scaling_policy_configuration()?;
    let metric = config.predefined_metric_specification()?;
    Some(Tracking {
        name: policy.policy_name().to_string(),
        metric: Metric::of(metric.predefined_metric_type()),
        target: config.target_value(),
        label: metric.resource_label().map(str::to_string),
    })
}

impl ServiceScaling {
    /// The scaling of `service`.
    pub fn new(app: &App, service: &AppService) -> ServiceScaling {
        ServiceScaling {
            service: service.spec.name.clone(),
            resource_id: resource_id(&app.names.cluster(), &service.spec.name),
            spec: service.spec.autoscaling.clone(),
            app: app.name.clone(),
        }
    }

    /// The policies the file wants; the request count needs the load balancer and the target
    /// group (`None` before they exist, as in a first `plan`).
    fn wanted_policies(&self, facts: &Facts) -> Vec<Tracking> {
        let Some(spec) = &self.spec else {
            return Vec::new();
        };
        let mut policies = Vec::new();
        if let Some(cpu) = spec.cpu_target {
            policies.push(Tracking {
                name: CPU_POLICY.into(),
                metric: Metric::Cpu,
                target: f64::from(cpu),
                label: None,
            });
        }
        if let Some(requests) = spec.requests_per_target {
            let label = facts.load_balancer.as_ref().zip(facts.target_groups.get(&self.service));
            policies.push(Tracking {
                name: REQUESTS_POLICY.into(),
                metric: Metric::RequestsPerTarget,
                target: f64::from(requests),
                label: label.and_then(|(lb, tg)| resource_label(&lb.arn, tg)),
            });
        }
        policies
    }

    /// IAM: `application-autoscaling:PutScalingPolicy` (and, by Application Auto Scaling on the
    /// caller's behalf, `cloudwatch:PutMetricAlarm`, `cloudwatch:DescribeAlarms`).
    async fn put_policy(&self, ctx: &Context, policy: &Tracking) -> Result<(), CliError> {
        let label = match (&policy.metric, &policy.label) {
            (Metric::RequestsPerTarget, None) => {
                return Err(CliError::NotCreated {
                    what: "the service's target group on the load balancer".into(),
                })
            }
            (_, label) => label.clone(),
        };
        let metric = PredefinedMetricSpecification::builder()
            .predefined_metric_type(policy.metric.metric_type())
            .set_resource_label(label)
            .build()
            .expect("the metric type is set");
        let config = TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(policy.target)
            .predefined_metric_specification(metric)
            .build()
            .expect("the target value is set");
        ctx.application_autoscaling()
            .put_scaling_policy()
            .policy_name(&policy.name)
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&self.resource_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(config)
            .send()
            .await
            .map_err(|e| aws("application-autoscaling:PutScalingPolicy", e))?;
        Ok(())
    }

    /// IAM: `application-autoscaling:RegisterScalableTarget`, `application-autoscaling:TagResource`
    /// (and, the first time in an account, `iam:CreateServiceLinkedRole` for
    /// `ecs.application-autoscaling.amazonaws.com`).
    async fn register(&self, ctx: &Context, spec: &AutoscalingSpec, tag: bool) -> Result<(), CliError> {
        let mut call = ctx
            .application_autoscaling()
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&self.resource_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .min_capacity(spec.min_count as i32)
            .max_capacity(spec.max_count as i32);
        if tag {
            call = call.tags(APP_TAG, &self.app);
        }
        call.send()
            .await
            .map_err(|e| aws("application-autoscaling:RegisterScalableTarget", e))?;
        Ok(())
    }
}

/// The scalable target of ECS service `resource_id` with its target-tracking policies, or `None`.
///
/// IAM: `application-autoscaling:DescribeScalableTargets`,
/// `application-autoscaling:DescribeScalingPolicies`.
pub async fn find(ctx: &Context, resource_id: &str) -> Result<Option<Observed>, CliError> {
    let client = ctx.application_autoscaling();
    let out = client
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .map_err(|e| aws("application-autoscaling:DescribeScalableTargets", e))?;
    let Some(target): Option<&ScalableTarget> = out.scalable_targets().iter().find(|t| t.resource_id() == resource_id)
    else {
        return Ok(None);
    };
    let mut policies = Vec::new();
    let mut pages = client
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws("application-autoscaling:DescribeScalingPolicies", e))?;
        policies.extend(page.scaling_policies().iter().filter_map(predefined));
    }
    Ok(Some(Observed {
        min_count: target.min_capacity(),
        max_count: target.max_capacity(),
        policies,
    }))
}

impl Resource for ServiceScaling {
    type Observed = Observed;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "service scaling"
    }

    /// What it is converged after. The service it scales, and the load balancer and target group of its request-count metric.
    fn after(&self) -> After {
        After::Kinds(&["ecs service", "load balancer", "target group"])
    }

    fn name(&self) -> String {
        self.resource_id.clone()
    }

    fn wanted(&self) -> bool {
        self.spec.is_some()
    }

    async fn observe(&self, ctx: &Context, _facts: &Facts) -> Result<Option<Observed>, CliError> {
        find(ctx, &self.resource_id).await
    }

    fn diff(&self, observed: &Observed, facts: &Facts) -> Vec<Drift> {
        let Some(spec) = &self.spec else {
            return vec![Drift::Off];
        };
        let mut drift = Vec::new();
        let want = (spec.min_count, spec.max_count);
        if (observed.min_count, observed.max_count) != (want.0 as i32, want.1 as i32) {
            drift.push(Drift::Range {
                have: (observed.min_count, observed.max_count),
                want,
            });
        }
        let wanted = self.wanted_policies(facts);
        for w in &wanted {
            let same = observed.policies.iter().any(|p| {
                p.name == w.name
                    && p.metric == w.metric
                    && p.target == w.target
                    && (w.label.is_none() || p.label == w.label)
            });
            if !same {
                drift.push(Drift::Policy(w.clone()));
            }
        }
        for p in &observed.policies {
            let ours = p.name == CPU_POLICY || p.name == REQUESTS_POLICY;
            if ours && !wanted.iter().any(|w| w.name == p.name) {
                drift.push(Drift::ExtraPolicy(p.name.clone()));
            }
        }
        drift
    }

    async fn create(&self, ctx: &Context, facts: &Facts, _step: &Step) -> Result<Observed, CliError> {
        let spec = need(self.spec.as_ref(), "the service's autoscaling settings")?;
        self.register(ctx, spec, true).await?;
        let policies = self.wanted_policies(facts);
        for policy in &policies {
            self.put_policy(ctx, policy).await?;
        }
        Ok(Observed {
            min_count: spec.min_count as i32,
            max_count: spec.max_count as i32,
            policies,
        })
    }

    /// IAM: what `register` and `put_policy` need, `application-autoscaling:DeleteScalingPolicy`,
    /// and `delete`'s.
    async fn apply(
        &self,
        ctx: &Context,
        observed: &Observed,
        drift: &[Drift],
        _: &Facts,
        step: &Step,
    ) -> Result<(), CliError> {
        for d in drift {
            match (d, &self.spec) {
                (Drift::Off, _) => self.delete(ctx, observed, step).await?,
                (Drift::Range { .. }, Some(spec)) => self.register(ctx, spec, false).await?,
                (Drift::Policy(policy), _) => self.put_policy(ctx, policy).await?,
                (Drift::ExtraPolicy(name), _) => {
                    match ctx
                        .application_autoscaling()
                        .delete_scaling_policy()
                        .policy_name(name)
                        .service_namespace(ServiceNamespace::Ecs)
                        .resource_id(&self.resource_id)
                        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
                        .send()
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if e.as_service_error().is_some_and(|s| s.is_object_not_found_exception()) => {}
                        Err(e) => return Err(aws("application-autoscaling:DeleteScalingPolicy", e)),
                    }
                }
                (Drift::Range { .. }, None) => {}
            }
        }
        Ok(())
    }

    /// Deregistering deletes the target's policies and their alarms too.
    ///
    /// IAM: `application-autoscaling:DeregisterScalableTarget`.
    async fn delete(&self, ctx: &Context, _: &Observed, _step: &Step) -> Result<(), CliError> {
        match ctx
            .application_autoscaling()
            .deregister_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&self.resource_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_object_not_found_exception()) => Ok(()),
            Err(e) => Err(aws("application-autoscaling:DeregisterScalableTarget", e)),
        }
    }

    fn record(&self, _observed: &Observed, _facts: &mut Facts) {}

    fn detail(&self, observed: Option<&Observed>, facts: &Facts) -> Option<Detail> {
        let desired = (facts.services.get(&self.service))
            .and_then(|s| s.as_ref())
            .map_or(0, |s| s.desired_count());
        let text = match observed {
            Some(o) => {
                let policies: Vec<String> = o.policies.iter().map(|p| p.metric.words(p.target)).collect();
                format!(
                    "{}-{} tasks, now {desired} ({})",
                    o.min_count,
                    o.max_count,
                    policies.join(", ")
                )
            }
            None => format!("off: {}, as the app file says", plural(desired as usize, "task")),
        };
        let mut fields = serde_json::Map::new();
        fields.insert(
            "scaling".into(),
            serde_json::to_value(observed).unwrap_or(serde_json::Value::Null),
        );
        Some(Detail {
            service: self.service.clone(),
            label: "scaling",
            text,
            fields,
        })
    }

    fn state(&self, observed: &Observed, _facts: &Facts) -> Option<String> {
        Some(format!("{}-{} tasks", observed.min_count, observed.max_count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_file::AppFile;
    use crate::resources::facts::LoadBalancerFacts;

    fn scaling(text: &str) -> ServiceScaling {
        let file: AppFile = toml::from_str(text).unwrap();
        let app = App::resolve(file, Some("shop"), "test", Some(text)).unwrap();
        ServiceScaling::new(&app, &app.services()[0])
    }

    const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/pd-shop/50dc6c495c0c9188";
    const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pd-shop-web/943f017f100becff";

    #[test]
    fn the_request_count_label_is_the_arns_final_parts() {
        assert_eq!(
            resource_label(LB, TG).as_deref(),
            Some("app/pd-shop/50dc6c495c0c9188/targetgroup/pd-shop-web/943f017f100becff")
        );
        assert_eq!(
            resource_label(LB, "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/x"),
            None
        );
        assert_eq!(resource_label("nonsense", TG), None);
    }

    #[test]
    fn scaling_drifts_in_range_and_policies_and_leaves_others_policies_alone() {
        let s = scaling("[[services]]\nname = \"web\"\n[services.autoscaling]\nmin_count = 1\nmax_count = 4\ncpu_target = 60\nrequests_per_target = 500\n");
        assert_eq!(s.name(), "service/shop/web");
        assert!(s.wanted());
        let mut facts = Facts::default();
        facts.load_balancer = Some(LoadBalancerFacts {
            arn: LB.into(),
            dns_name: "pd-shop.elb".into(),
        });
        facts.target_groups.insert("web".into(), TG.into());
        let label = resource_label(LB, TG);
        let observed = Observed {
            min_count: 1,
            max_count: 2,
            policies: vec![
                Tracking {
                    name: CPU_POLICY.into(),
                    metric: Metric::Cpu,
                    target: 50.0,
                    label: None,
                },
                Tracking {
                    name: "teams-own".into(),
                    metric: Metric::Other(MetricType::EcsServiceAverageMemoryUtilization),
                    target: 70.0,
                    label: None,
                },
            ],
        };
        let words: Vec<String> = s.diff(&observed, &facts).iter().map(ToString::to_string).collect();
        assert_eq!(
            words,
            [
                "tasks 1-2 -> 1-4",
                "track ECSServiceAverageCPUUtilization at 60",
                "track ALBRequestCountPerTarget at 500",
            ]
        );
        let converged = Observed {
            min_count: 1,
            max_count: 4,
            policies: vec![
                Tracking {
                    target: 60.0,
                    ..observed.policies[0].clone()
                },
                Tracking {
                    name: REQUESTS_POLICY.into(),
                    metric: Metric::RequestsPerTarget,
                    target: 500.0,
                    label,
                },
            ],
        };
        assert!(s.diff(&converged, &facts).is_empty());
        // CPU only now: the request policy goes; scaling removed: the target goes.
        let cpu_only = scaling(
            "[[services]]\nname = \"web\"\n[services.autoscaling]\nmin_count = 1\nmax_count = 4\ncpu_target = 60\n",
        );
        assert_eq!(
            cpu_only.diff(&converged, &facts),
            [Drift::ExtraPolicy(REQUESTS_POLICY.into())]
        );
        let off = scaling("[[services]]\nname = \"web\"\n");
        assert!(!off.wanted());
        assert_eq!(off.diff(&converged, &facts), [Drift::Off]);
    }
}
