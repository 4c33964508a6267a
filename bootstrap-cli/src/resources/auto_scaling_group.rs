//! The Auto Scaling group of the cluster's instances, across the app's subnets, with scale-in
//! protection (the capacity provider's managed termination protection decides which instance
//! may go). Its state says when instances run an older ECS-optimized AMI than the current one;
//! `up --refresh-instances` replaces them.

use std::fmt;
use std::time::Duration;

use aws_sdk_autoscaling::client::Waiters as _;
use aws_sdk_autoscaling::types::{
    AutoScalingGroup as AsgGroup, LaunchTemplateSpecification, RefreshPreferences, ScaleInProtectedInstances, Tag,
};

use super::facts::{need, Facts};
use super::model::{After, Resource, APP_TAG};
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::output::plural;
use crate::poll::{self, Wait};
use crate::progress::Step;

/// How long a new instance profile or launch template may stay invisible to Auto Scaling.
pub const PROPAGATION: Duration = Duration::from_secs(90);
/// How long `down` waits for the group's instances to terminate.
pub const TERMINATION: Duration = Duration::from_secs(900);

/// How the group differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// Its size bounds.
    Size {
        /// Now (min, max).
        have: (i32, i32),
        /// Wanted.
        want: (i32, i32),
    },
    /// Its subnets.
    Subnets {
        /// Now.
        have: Vec<String>,
        /// Wanted.
        want: Vec<String>,
    },
    /// Instances on an older AMI than the current one, to replace (`up --refresh-instances`).
    StaleInstances {
        /// How many.
        count: usize,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Size { have, want } => write!(f, "size {}..{} -> {}..{}", have.0, have.1, want.0, want.1),
            Drift::Subnets { have, want } => write!(f, "subnets {} -> {}", have.join(","), want.join(",")),
            Drift::StaleInstances { count } => {
                write!(f, "refresh {count} instance(s) on an older AMI than the current one")
            }
        }
    }
}

/// The app's Auto Scaling group.
#[derive(Debug, Clone)]
pub struct AutoScalingGroup {
    name: String,
    min: i32,
    max: i32,
    desired: i32,
    instance_name: String,
    app: String,
    refresh: bool,
}

impl AutoScalingGroup {
    /// The app's group; `refresh` turns instances on an older AMI into drift.
    pub fn new(app: &App, refresh: bool) -> AutoScalingGroup {
        AutoScalingGroup {
            name: app.names.capacity(),
            min: app.file.min_instances as i32,
            max: app.file.max_instances as i32,
            desired: app.file.desired_instances as i32,
            instance_name: app.names.instance_name(),
            app: app.name.clone(),
            refresh,
        }
    }

    fn tag(&self, key: &str, value: &str) -> Tag {
        Tag::builder()
            .key(key)
            .value(value)
            .propagate_at_launch(true)
            .resource_id(&self.name)
            .resource_type("auto-scaling-group")
            .build()
    }
}

/// A group as it exists, with how many of its instances run an older AMI.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The group.
    pub group: AsgGroup,
    /// Instances whose AMI is not the current ECS-optimized one.
    pub stale: usize,
}

fn subnets(group: &AsgGroup) -> Vec<String> {
    let mut s: Vec<String> = group
        .vpc_zone_identifier()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    s.sort();
    s
}

/// The group named `name`.
///
/// IAM: `autoscaling:DescribeAutoScalingGroups`.
pub async fn find_group(ctx: &Context, name: &str) -> Result<Option<AsgGroup>, CliError> {
    let out = ctx
        .autoscaling()
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(|e| aws("autoscaling:DescribeAutoScalingGroups", e))?;
    Ok(out.auto_scaling_groups.unwrap_or_default().into_iter().next())
}

/// How many of the group's instances do not run the current AMI of `parameter`.
///
/// IAM: `ec2:DescribeInstances`, `ssm:GetParameter` on the public AMI parameter.
async fn stale_instances(ctx: &Context, group: &AsgGroup, parameter: &str) -> Result<usize, CliError> {
    let ids: Vec<String> = group.instances().iter().filter_map(|i| i.instance_id.clone()).collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let current = ctx
        .ssm()
        .get_parameter()
        .name(parameter)
        .send()
        .await
        .map_err(|e| aws("ssm:GetParameter", e))?
        .parameter
        .and_then(|p| p.value)
        .ok_or_else(|| missing("ssm:GetParameter", "Parameter.Value"))?;
    let mut stale = 0;
    // By filter, not by id: an instance the group launched a moment ago can be
    // InvalidInstanceID.NotFound to DescribeInstances by id (EC2's eventual consistency).
    let by_id = aws_sdk_ec2::types::Filter::builder()
        .name("instance-id")
        .set_values(Some(ids))
        .build();
    let mut pages = ctx.ec2().describe_instances().filters(by_id).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws("ec2:DescribeInstances", e))?;
        stale += page
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.image_id() != Some(current.as_str()))
            .count();
    }
    Ok(stale)
}

impl Resource for AutoScalingGroup {
    type Observed = Observed;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "auto scaling group"
    }

    /// What it is converged after. Its launch template (and the VPC's subnets), and the ECS
    /// cluster its instances' agents register with (an agent told a cluster that does not exist
    /// yet stops: "Cluster not found" is terminal to it).
    fn after(&self) -> After {
        After::Kinds(&["launch template", "ecs cluster"])
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    async fn observe(&self, ctx: &Context, facts: &Facts) -> Result<Option<Observed>, CliError> {
        let Some(group) = find_group(ctx, &self.name).await? else {
            return Ok(None);
        };
        let stale = match facts.architecture {
            Some(arch) => stale_instances(ctx, &group, arch.ami_parameter()).await?,
            None => 0,
        };
        Ok(Some(Observed { group, stale }))
    }

    fn diff(&self, observed: &Observed, facts: &Facts) -> Vec<Drift> {
        let g = &observed.group;
        let mut drift = Vec::new();
        let have = (g.min_size().unwrap_or_default(), g.max_size().unwrap_or_default());
        if have != (self.min, self.max) {
            drift.push(Drift::Size {
                have,
                want: (self.min, self.max),
            });
        }
        if let Some(vpc) = &facts.vpc {
            let mut want = vpc.subnets.clone();
            want.sort();
            let have = subnets(g);
            if have != want {
                drift.push(Drift::Subnets { have, want });
            }
        }
        if self.refresh && observed.stale > 0 {
            drift.push(Drift::StaleInstances { count: observed.stale });
        }
        drift
    }

    /// IAM: `autoscaling:CreateAutoScalingGroup`, `autoscaling:CreateOrUpdateTags`,
    /// `ec2:RunInstances` (through the launch template), `iam:PassRole` (the instance role),
    /// `iam:CreateServiceLinkedRole` (Auto Scaling's, on an account's first group).
    async fn create(&self, ctx: &Context, facts: &Facts, _step: &Step) -> Result<Observed, CliError> {
        let vpc = need(facts.vpc.as_ref(), "the VPC")?;
        let template = need(facts.launch_template.as_ref(), "the launch template")?;
        let asg = ctx.autoscaling();
        // Auto Scaling refuses a template or instance profile created moments ago with a
        // ValidationError (no code of its own): retried only while one of them is that new (by
        // AWS's creation dates), so a real mistake fails at once.
        let fresh = facts.is_fresh("launch template", &self.name, PROPAGATION)
            || facts
                .instance_profile
                .as_ref()
                .is_some_and(|p| facts.is_fresh("instance profile", p, PROPAGATION));
        let created = poll::retry(
            PROPAGATION,
            |e| fresh && poll::code_is("ValidationError")(e),
            || {
                asg.create_auto_scaling_group()
                    .auto_scaling_group_name(&self.name)
                    .launch_template(
                        LaunchTemplateSpecification::builder()
                            .launch_template_id(template)
                            .version("$Latest")
                            .build(),
                    )
                    .min_size(self.min)
                    .max_size(self.max)
                    .desired_capacity(self.desired)
                    .vpc_zone_identifier(vpc.subnets.join(","))
                    .new_instances_protected_from_scale_in(true)
                    .tags(self.tag(APP_TAG, &self.app))
                    .tags(self.tag("Name", &self.instance_name))
                    .send()
            },
        )
        .await;
        match created {
            Ok(_) => {}
            // Created by a run that was cut short after sending.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_already_exists_fault()) => {}
            Err(e) => return Err(aws("autoscaling:CreateAutoScalingGroup", e)),
        }
        let group = find_group(ctx, &self.name)
            .await?
            .ok_or_else(|| missing("autoscaling:DescribeAutoScalingGroups", "the group just created"))?;
        Ok(Observed { group, stale: 0 })
    }

    /// IAM: `autoscaling:UpdateAutoScalingGroup`, `autoscaling:StartInstanceRefresh`.
    async fn apply(
        &self,
        ctx: &Context,
        _: &Observed,
        drift: &[Drift],
        facts: &Facts,
        _: &Step,
    ) -> Result<(), CliError> {
        let asg = ctx.autoscaling();
        if drift
            .iter()
            .any(|d| matches!(d, Drift::Size { .. } | Drift::Subnets { .. }))
        {
            let vpc = need(facts.vpc.as_ref(), "the VPC")?;
            asg.update_auto_scaling_group()
                .auto_scaling_group_name(&self.name)
                .min_size(self.min)
                .max_size(self.max)
                .vpc_zone_identifier(vpc.subnets.join(","))
                .send()
                .await
                .map_err(|e| aws("autoscaling:UpdateAutoScalingGroup", e))?;
        }
        if drift.iter().any(|d| matches!(d, Drift::StaleInstances { .. })) {
            // New instances are protected from scale-in (and by managed termination protection):
            // with the default preference (Wait) a refresh waits on them for an hour and fails.
            let preferences = RefreshPreferences::builder()
                .scale_in_protected_instances(ScaleInProtectedInstances::Refresh)
                .build();
            match asg
                .start_instance_refresh()
                .auto_scaling_group_name(&self.name)
                .preferences(preferences)
                .send()
                .await
            {
                Ok(_) => {}
                // One is already replacing them.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_instance_refresh_in_progress_fault()) => {}
                Err(e) => return Err(aws("autoscaling:StartInstanceRefresh", e)),
            }
        }
        Ok(())
    }

    /// IAM: `autoscaling:DeleteAutoScalingGroup` (its instances terminate with it).
    async fn delete(&self, ctx: &Context, observed: &Observed, step: &Step) -> Result<(), CliError> {
        let asg = ctx.autoscaling();
        // A `down` cut short finds the group still deleting; asking again would be refused
        // (ScalingActivityInProgress), so go on to the wait.
        if !is_deleting(&observed.group) {
            asg.delete_auto_scaling_group()
                .auto_scaling_group_name(&self.name)
                .force_delete(true)
                .send()
                .await
                .map_err(|e| aws("autoscaling:DeleteAutoScalingGroup", e))?;
        }
        let wait = Wait::new(
            format!("the instances of {} to terminate", self.name),
            TERMINATION,
            "run `pushdeploy down` again to continue",
        );
        step.waiting(&wait.what);
        let done = asg
            .wait_until_group_not_exists()
            .auto_scaling_group_names(&self.name)
            .wait(TERMINATION)
            .await;
        poll::waited(done, "autoscaling:DescribeAutoScalingGroups", &wait).map(|_| ())
    }

    fn record(&self, observed: &Observed, facts: &mut Facts) {
        facts.auto_scaling_group = observed.group.auto_scaling_group_arn.clone();
    }

    fn state(&self, observed: &Observed, _facts: &Facts) -> Option<String> {
        let n = plural(observed.group.instances().len(), "instance");
        Some(match observed.stale {
            0 => n,
            stale if self.refresh => format!("{n}, refreshing {stale} on an older AMI"),
            stale => format!(
                "{n}, {stale} on an older AMI than the current one: `pushdeploy up --refresh-instances` replaces them"
            ),
        })
    }
}

/// Whether the group is being deleted. `AutoScalingGroup.Status` is a plain string in the Auto
/// Scaling model, set only while a delete runs: this is where it is read.
fn is_deleting(group: &aws_sdk_autoscaling::types::AutoScalingGroup) -> bool {
    group.status() == Some("Delete in progress")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_file::AppFile;
    use crate::resources::facts::Vpc;

    #[test]
    fn stale_instances_are_drift_only_when_a_refresh_is_asked_for() {
        let app = App::resolve(AppFile::default(), Some("demo"), "defaults", None).unwrap();
        let mut facts = Facts::default();
        facts.vpc = Some(Vpc {
            id: "vpc-1".into(),
            subnets: vec!["subnet-b".into(), "subnet-a".into()],
        });
        let observed = Observed {
            group: AsgGroup::builder()
                .min_size(1)
                .max_size(2)
                .vpc_zone_identifier("subnet-a,subnet-b")
                .build(),
            stale: 1,
        };
        assert!(AutoScalingGroup::new(&app, false).diff(&observed, &facts).is_empty());
        assert!(AutoScalingGroup::new(&app, false)
            .state(&observed, &facts)
            .unwrap()
            .contains("--refresh-instances"));
        assert_eq!(
            AutoScalingGroup::new(&app, true).diff(&observed, &facts),
            [Drift::StaleInstances { count: 1 }]
        );
        let resized = Observed {
            group: AsgGroup::builder()
                .min_size(0)
                .max_size(5)
                .vpc_zone_identifier("subnet-a")
                .build(),
            stale: 0,
        };
        let drift: Vec<String> = AutoScalingGroup::new(&app, false)
            .diff(&resized, &facts)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(drift, ["size 0..5 -> 1..2", "subnets subnet-a -> subnet-a,subnet-b"]);
    }
}
