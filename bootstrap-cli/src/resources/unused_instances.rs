//! The instances of an app none of whose services runs on them any more (the last one moved to
//! Fargate): its Auto Scaling group, launch template, capacity provider, instance profile, role
//! and security group, which an app with every service on Fargate does not have. `up` detaches
//! the provider from the cluster, then deletes them as `down` would. ECS refuses to detach a
//! provider that tasks still use (ResourceInUseException): a service that moved keeps its old
//! tasks there until its move's deployment ends, after its bake time. Until then they stay, the
//! report says so, and a later `up` removes them.

use std::fmt;

use aws_sdk_ecs::types::CapacityProviderStrategyItem;

use super::auto_scaling_group::AutoScalingGroup;
use super::capacity_provider::CapacityProvider;
use super::deletion::teardown_from;
use super::facts::{Facts, GroupRole};
use super::instance_profile::InstanceProfile;
use super::launch_template::LaunchTemplate;
use super::model::{After, AnyResource, Resource};
use super::role::Role;
use super::security_group::SecurityGroup;
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, CliError};
use crate::progress::{Progress, Step};

/// The instances' resources that exist though no service runs there (`kind name` each).
pub type Found = Vec<String>;

/// How they differ from an app without instances: they exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// What exists (`kind name` each).
    pub parts: Vec<String>,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no service runs on them: {} -> removed once no task does",
            self.parts.join(", ")
        )
    }
}

/// The instances of an app whose services all run on Fargate.
pub struct UnusedInstances {
    cluster: String,
    provider: String,
    /// The instances' resources in the inventory's order (deleted in reverse).
    parts: Vec<Box<dyn AnyResource>>,
}

impl UnusedInstances {
    /// What instances of `app` may be left.
    pub fn new(app: &App) -> UnusedInstances {
        UnusedInstances {
            cluster: app.names.cluster(),
            provider: app.names.capacity(),
            parts: vec![
                Box::new(SecurityGroup::new(app, GroupRole::Instances)),
                Box::new(Role::instance(app)),
                Box::new(InstanceProfile::new(app)),
                Box::new(LaunchTemplate::new(app)),
                Box::new(AutoScalingGroup::new(app, false)),
                Box::new(CapacityProvider::new(app)),
            ],
        }
    }

    /// Detaches the app's provider from the cluster (the default strategy keeps the others);
    /// `false` while ECS refuses because tasks still run on it.
    ///
    /// IAM: `ecs:DescribeClusters`, `ecs:PutClusterCapacityProviders`.
    async fn detach(&self, ctx: &Context) -> Result<bool, CliError> {
        let Some(cluster) = super::cluster::find(ctx, &self.cluster).await? else {
            return Ok(true);
        };
        if !cluster.capacity_providers().contains(&self.provider) {
            return Ok(true);
        }
        let others: Vec<String> = (cluster.capacity_providers().iter())
            .filter(|p| **p != self.provider)
            .cloned()
            .collect();
        let default: Vec<CapacityProviderStrategyItem> = (cluster.default_capacity_provider_strategy().iter())
            .filter(|s| s.capacity_provider() != self.provider)
            .cloned()
            .collect();
        let detached = ctx
            .ecs()
            .put_cluster_capacity_providers()
            .cluster(&self.cluster)
            .set_capacity_providers(Some(others))
            .set_default_capacity_provider_strategy(Some(default))
            .send()
            .await;
        match detached {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(s) if s.is_resource_in_use_exception() || s.is_update_in_progress_exception() => Ok(false),
                _ => Err(aws("ecs:PutClusterCapacityProviders", e)),
            },
        }
    }

    /// Detaches the provider and deletes the parts, when ECS lets it go.
    async fn remove(&self, ctx: &Context, facts: &Facts, step: &Step) -> Result<(), CliError> {
        if !self.detach(ctx).await? {
            step.set("tasks still run on them: a later `pushdeploy up` removes them");
            return Ok(());
        }
        teardown_from(&self.parts, ctx, facts.clone(), false, &Progress::silent()).await?;
        Ok(())
    }
}

impl Resource for UnusedInstances {
    type Observed = Found;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "unused instances"
    }

    fn name(&self) -> String {
        self.provider.clone()
    }

    /// Never wanted: absent is as it should be.
    fn wanted(&self) -> bool {
        false
    }

    /// After the services: the last of them left the instances first (its move sent the new
    /// capacity provider).
    fn after(&self) -> After {
        After::Kinds(&["ecs service"])
    }

    /// IAM: what each part's own observe needs (`ec2:DescribeSecurityGroups`, `iam:GetRole`,
    /// `iam:GetInstanceProfile`, `ec2:DescribeLaunchTemplates`,
    /// `autoscaling:DescribeAutoScalingGroups`, `ecs:DescribeCapacityProviders`, and their
    /// listings of attached policies and tags).
    async fn observe(&self, ctx: &Context, facts: &Facts) -> Result<Option<Found>, CliError> {
        let mut facts = facts.clone();
        let mut found = Vec::new();
        for part in &self.parts {
            if part.find(ctx, &mut facts).await?.is_some() {
                found.push(format!("{} {}", part.kind(), part.name()));
            }
        }
        Ok((!found.is_empty()).then_some(found))
    }

    fn diff(&self, found: &Found, _facts: &Facts) -> Vec<Drift> {
        vec![Drift { parts: found.clone() }]
    }

    /// Never called: `up` creates only what is wanted.
    async fn create(&self, _ctx: &Context, _facts: &Facts, _step: &Step) -> Result<Found, CliError> {
        Ok(Vec::new())
    }

    /// IAM: what [`UnusedInstances::detach`] needs, and what `down` needs to delete each part.
    async fn apply(&self, ctx: &Context, _: &Found, _: &[Drift], facts: &Facts, step: &Step) -> Result<(), CliError> {
        self.remove(ctx, facts, step).await
    }

    /// `down` lists the parts themselves (an app torn down is listed with its instances), so it
    /// never meets this one; deleting it is removing them all the same.
    async fn delete(&self, ctx: &Context, _: &Found, step: &Step) -> Result<(), CliError> {
        self.remove(ctx, &Facts::new(ctx.region()), step).await
    }

    fn record(&self, _found: &Found, _facts: &mut Facts) {}

    fn state(&self, found: &Found, _facts: &Facts) -> Option<String> {
        Some(crate::output::plural(found.len(), "resource") + " left")
    }
}
