//! One target group per rolling service: HTTP to the instances' dynamic ports; two per
//! blue-green, canary or linear service, of target type `ip` (its tasks have their own network
//! interfaces, as the ECS guide documents for these strategies), between which ECS moves the
//! traffic. Each has a health check on the service's path every 10 s (healthy after 2 passes),
//! and a 30 s deregistration delay (the file can change it). AWS's defaults (30 s checks, 5
//! passes, 300 s delay) make every deploy and every `down` wait five minutes per task.

use std::fmt;
use std::time::Duration;

use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, Tag, TargetGroup as ElbTargetGroup, TargetGroupAttribute, TargetTypeEnum,
};

use super::facts::{need, Facts};
use super::model::{After, Resource, APP_TAG};
use crate::app_file::{App, AppService};
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::poll::{self, Poll, Wait};
use crate::progress::Step;

/// The target group attribute holding the deregistration delay (ELBv2 API reference).
pub const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";
/// How long `down` waits for a deleted listener to let go of the group.
pub const RELEASE: Duration = Duration::from_secs(300);

/// The health check every target group gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthTiming {
    /// Seconds between checks.
    pub interval: i32,
    /// Seconds a check may take.
    pub timeout: i32,
    /// Passes before a target is healthy.
    pub healthy: i32,
    /// Failures before it is unhealthy.
    pub unhealthy: i32,
}

/// Checks every 10 s, healthy after 2 passes (20 s), unhealthy after 3 failures.
pub const TIMING: HealthTiming = HealthTiming {
    interval: 10,
    timeout: 5,
    healthy: 2,
    unhealthy: 3,
};

impl fmt::Display for HealthTiming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "every {}s, timeout {}s, healthy after {}, unhealthy after {}",
            self.interval, self.timeout, self.healthy, self.unhealthy
        )
    }
}

/// How a target group differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The health check path.
    HealthCheckPath {
        /// Now.
        have: String,
        /// Wanted.
        want: String,
    },
    /// The health check's timing.
    HealthCheckTiming {
        /// Now.
        have: HealthTiming,
    },
    /// The deregistration delay, seconds.
    DeregistrationDelay {
        /// Now.
        have: Option<u32>,
        /// Wanted.
        want: u32,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::HealthCheckPath { have, want } => write!(f, "health check path {have} -> {want}"),
            Drift::HealthCheckTiming { have } => write!(f, "health check {have} -> {TIMING}"),
            Drift::DeregistrationDelay { have, want } => write!(
                f,
                "deregistration delay {}s -> {want}s",
                have.map_or("?".to_string(), |h| h.to_string())
            ),
        }
    }
}

/// Which of a service's groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// The one the service names (a rolling service's only one).
    Primary,
    /// The second of a blue-green, canary or linear service.
    Alternate,
}

/// A service's target group.
#[derive(Debug, Clone)]
pub struct TargetGroup {
    service: String,
    name: String,
    slot: Slot,
    target_type: TargetTypeEnum,
    /// False for a group of the other naming scheme, which only `down` looks for (a service
    /// that changed strategy, or was removed from the file).
    wanted: bool,
    health_path: String,
    deregistration_delay: u32,
    app: String,
}

impl TargetGroup {
    /// The target group of `service` (the first of two for a blue-green, canary or linear one:
    /// `-a`), or the one it kept through a switch in place ([`App::kept_groups`]).
    pub fn new(app: &App, service: &AppService) -> TargetGroup {
        let staged = service.spec.deployment.is_staged();
        let awsvpc = service.spec.is_awsvpc();
        TargetGroup {
            service: service.spec.name.clone(),
            name: match app.kept_groups.get(&service.spec.name) {
                Some(kept) => kept.clone(),
                None if staged => app.names.primary_target_group(&service.spec.name),
                None => app.names.target_group(&service.spec.name),
            },
            slot: Slot::Primary,
            wanted: true,
            target_type: if awsvpc {
                TargetTypeEnum::Ip
            } else {
                TargetTypeEnum::Instance
            },
            health_path: service.spec.health_check_path.clone(),
            deregistration_delay: service.spec.deregistration_delay,
            app: app.name.clone(),
        }
    }

    /// The second group of a blue-green, canary or linear service.
    pub fn alternate(app: &App, service: &AppService) -> TargetGroup {
        let (a, b) = (
            app.names.primary_target_group(&service.spec.name),
            app.names.alternate_target_group(&service.spec.name),
        );
        TargetGroup {
            // `-b`, unless the service kept `-b` as its first ([`App::kept_groups`]).
            name: if app.kept_groups.get(&service.spec.name) == Some(&b) {
                a
            } else {
                b
            },
            slot: Slot::Alternate,
            ..TargetGroup::new(app, service)
        }
    }

    /// The groups of the other strategy's naming scheme, which `down` deletes when it finds them
    /// (`-a` and `-b` of a rolling service, the single group of a staged one).
    pub fn other_scheme(app: &App, service: &AppService) -> Vec<TargetGroup> {
        let mut other = service.clone();
        let deployment = &mut other.spec.deployment;
        deployment.strategy = if deployment.is_staged() {
            crate::app_file::Strategy::Rolling
        } else {
            crate::app_file::Strategy::BlueGreen
        };
        let mut groups = vec![TargetGroup::new(app, &other)];
        if other.spec.deployment.is_staged() {
            groups.push(TargetGroup::alternate(app, &other));
        }
        for g in &mut groups {
            g.wanted = false;
        }
        groups
    }

    /// IAM: `elasticloadbalancing:ModifyTargetGroupAttributes`.
    async fn set_delay(&self, ctx: &Context, arn: &str) -> Result<(), CliError> {
        ctx.elbv2()
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .attributes(
                TargetGroupAttribute::builder()
                    .key(DEREGISTRATION_DELAY)
                    .value(self.deregistration_delay.to_string())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws("elasticloadbalancing:ModifyTargetGroupAttributes", e))?;
        Ok(())
    }
}

/// A target group as it exists.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The group.
    pub group: ElbTargetGroup,
    /// Its deregistration delay, seconds.
    pub deregistration_delay: Option<u32>,
}

impl Observed {
    fn arn(&self) -> Result<&str, CliError> {
        self.group
            .target_group_arn()
            .ok_or_else(|| missing("elasticloadbalancing:DescribeTargetGroups", "TargetGroupArn"))
    }
}

/// The target group named `name`, with its deregistration delay.
///
/// IAM: `elasticloadbalancing:DescribeTargetGroups`, `elasticloadbalancing:DescribeTargetGroupAttributes`.
pub async fn find(ctx: &Context, name: &str) -> Result<Option<Observed>, CliError> {
    let elb = ctx.elbv2();
    let group = match elb.describe_target_groups().names(name).send().await {
        Ok(out) => out.target_groups.unwrap_or_default().into_iter().next(),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_target_group_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(aws("elasticloadbalancing:DescribeTargetGroups", e)),
    };
    let Some(group) = group else { return Ok(None) };
    let arn = group
        .target_group_arn()
        .ok_or_else(|| missing("elasticloadbalancing:DescribeTargetGroups", "TargetGroupArn"))?;
    let attributes = elb
        .describe_target_group_attributes()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(|e| aws("elasticloadbalancing:DescribeTargetGroupAttributes", e))?;
    let deregistration_delay = attributes
        .attributes()
        .iter()
        .find(|a| a.key() == Some(DEREGISTRATION_DELAY))
        .and_then(|a| a.value())
        .and_then(|v| v.parse().ok());
    Ok(Some(Observed {
        group,
        deregistration_delay,
    }))
}

impl Resource for TargetGroup {
    type Observed = Observed;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "target group"
    }

    /// What it is converged after. Only the VPC.
    fn after(&self) -> After {
        After::Kinds(&[])
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn wanted(&self) -> bool {
        self.wanted
    }

    async fn observe(&self, ctx: &Context, _facts: &Facts) -> Result<Option<Observed>, CliError> {
        find(ctx, &self.name).await
    }

    fn diff(&self, observed: &Observed, _facts: &Facts) -> Vec<Drift> {
        let tg = &observed.group;
        let mut drift = Vec::new();
        if tg.health_check_path() != Some(self.health_path.as_str()) {
            drift.push(Drift::HealthCheckPath {
                have: tg.health_check_path().unwrap_or_default().to_string(),
                want: self.health_path.clone(),
            });
        }
        let have = HealthTiming {
            interval: tg.health_check_interval_seconds().unwrap_or_default(),
            timeout: tg.health_check_timeout_seconds().unwrap_or_default(),
            healthy: tg.healthy_threshold_count().unwrap_or_default(),
            unhealthy: tg.unhealthy_threshold_count().unwrap_or_default(),
        };
        if have != TIMING {
            drift.push(Drift::HealthCheckTiming { have });
        }
        if observed.deregistration_delay != Some(self.deregistration_delay) {
            drift.push(Drift::DeregistrationDelay {
                have: observed.deregistration_delay,
                want: self.deregistration_delay,
            });
        }
        drift
    }

    /// IAM: `elasticloadbalancing:CreateTargetGroup`, `elasticloadbalancing:AddTags`,
    /// `elasticloadbalancing:ModifyTargetGroupAttributes`.
    async fn create(&self, ctx: &Context, facts: &Facts, _step: &Step) -> Result<Observed, CliError> {
        let vpc = need(facts.vpc.as_ref(), "the VPC")?;
        let out = ctx
            .elbv2()
            .create_target_group()
            .name(&self.name)
            .protocol(ProtocolEnum::Http)
            .port(80)
            .vpc_id(&vpc.id)
            .target_type(self.target_type.clone())
            .health_check_protocol(ProtocolEnum::Http)
            .health_check_path(&self.health_path)
            .health_check_interval_seconds(TIMING.interval)
            .health_check_timeout_seconds(TIMING.timeout)
            .healthy_threshold_count(TIMING.healthy)
            .unhealthy_threshold_count(TIMING.unhealthy)
            .matcher(Matcher::builder().http_code("200-399").build())
            .tags(Tag::builder().key(APP_TAG).value(&self.app).build())
            .send()
            .await;
        let group = match out {
            Ok(out) => out
                .target_groups
                .unwrap_or_default()
                .into_iter()
                .next()
                .ok_or_else(|| missing("elasticloadbalancing:CreateTargetGroup", "TargetGroups"))?,
            // The same name with other settings: ours, from a run cut short; `apply` converges it.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_duplicate_target_group_name_exception()) =>
            {
                return find(ctx, &self.name)
                    .await?
                    .ok_or_else(|| aws("elasticloadbalancing:CreateTargetGroup", e))
            }
            Err(e) => return Err(aws("elasticloadbalancing:CreateTargetGroup", e)),
        };
        let observed = Observed {
            group,
            deregistration_delay: None,
        };
        self.set_delay(ctx, observed.arn()?).await?;
        Ok(Observed {
            deregistration_delay: Some(self.deregistration_delay),
            ..observed
        })
    }

    /// IAM: `elasticloadbalancing:ModifyTargetGroup`, `elasticloadbalancing:ModifyTargetGroupAttributes`.
    async fn apply(
        &self,
        ctx: &Context,
        observed: &Observed,
        drift: &[Drift],
        _: &Facts,
        _: &Step,
    ) -> Result<(), CliError> {
        let arn = observed.arn()?;
        if drift
            .iter()
            .any(|d| matches!(d, Drift::HealthCheckPath { .. } | Drift::HealthCheckTiming { .. }))
        {
            ctx.elbv2()
                .modify_target_group()
                .target_group_arn(arn)
                .health_check_path(&self.health_path)
                .health_check_interval_seconds(TIMING.interval)
                .health_check_timeout_seconds(TIMING.timeout)
                .healthy_threshold_count(TIMING.healthy)
                .unhealthy_threshold_count(TIMING.unhealthy)
                .send()
                .await
                .map_err(|e| aws("elasticloadbalancing:ModifyTargetGroup", e))?;
        }
        if drift.iter().any(|d| matches!(d, Drift::DeregistrationDelay { .. })) {
            self.set_delay(ctx, arn).await?;
        }
        Ok(())
    }

    /// IAM: `elasticloadbalancing:DeleteTargetGroup`.
    async fn delete(&self, ctx: &Context, observed: &Observed, step: &Step) -> Result<(), CliError> {
        let elb = ctx.elbv2();
        let arn = observed.arn()?;
        let wait = Wait::new(
            format!("target group {} to be released", self.name),
            RELEASE,
            "a listener or rule still forwards to it: run `pushdeploy down` again",
        );
        poll::until(&wait, step, || async {
            match elb.delete_target_group().target_group_arn(arn).send().await {
                Ok(_) => Ok(Poll::Done(())),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {
                    Ok(Poll::Pending("in use".into()))
                }
                Err(e) => Err(aws("elasticloadbalancing:DeleteTargetGroup", e)),
            }
        })
        .await
    }

    fn record(&self, observed: &Observed, facts: &mut Facts) {
        if !self.wanted {
            return;
        }
        if let Ok(arn) = observed.arn() {
            let groups = match self.slot {
                Slot::Primary => &mut facts.target_groups,
                Slot::Alternate => &mut facts.alternate_target_groups,
            };
            groups.insert(self.service.clone(), arn.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_file::AppFile;

    #[test]
    fn aws_defaults_are_drift_and_the_app_settings_are_not() {
        let app = App::resolve(AppFile::default(), Some("demo"), "defaults", None).unwrap();
        let r = TargetGroup::new(&app, &app.services()[0]);
        let aws_defaults = Observed {
            group: ElbTargetGroup::builder()
                .health_check_path("/")
                .health_check_interval_seconds(30)
                .health_check_timeout_seconds(5)
                .healthy_threshold_count(5)
                .unhealthy_threshold_count(2)
                .build(),
            deregistration_delay: Some(300),
        };
        let drift: Vec<String> = r
            .diff(&aws_defaults, &Facts::default())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            drift,
            [
                "health check every 30s, timeout 5s, healthy after 5, unhealthy after 2 -> every 10s, timeout 5s, healthy after 2, unhealthy after 3",
                "deregistration delay 300s -> 30s"
            ]
        );
        let ours = Observed {
            group: ElbTargetGroup::builder()
                .health_check_path("/")
                .health_check_interval_seconds(10)
                .health_check_timeout_seconds(5)
                .healthy_threshold_count(2)
                .unhealthy_threshold_count(3)
                .build(),
            deregistration_delay: Some(30),
        };
        assert!(r.diff(&ours, &Facts::default()).is_empty());
    }
}
