//! The instances of an app none of whose services runs on them any more (the last one moved to
//! Fargate): its Auto Scaling group, launch template, capacity provider, instance profile, role
//! and security group, which an app with every service on Fargate does not have. `up` detaches
//! the provider from the cluster, then deletes them as `down` would. ECS refuses to detach a
//! provider that tasks still use (ResourceInUseException): a service that moved keeps its old
//! tasks there until its move's deployment ends, after its bake time. So while any of the app's
//! services (those the file no longer lists too) names the provider or is being deployed, they
//! are kept, `plan` and `up` say so, and a later `up` removes them.

use std::fmt;

use aws_sdk_ecs::types::CapacityProviderStrategyItem;
use futures::future::join_all;

use super::auto_scaling_group::AutoScalingGroup;
use super::capacity_provider::CapacityProvider;
use super::deletion::teardown_from;
use super::facts::{Facts, GroupRole};
use super::instance_profile::InstanceProfile;
use super::launch_template::LaunchTemplate;
use super::model::{After, AnyResource, Lifetime, Resource};
use super::network::Network;
use super::role::Role;
use super::security_group::SecurityGroup;
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, CliError};
use crate::progress::{Progress, Step};

/// What is left of the instances, and who may still use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The instances' resources that exist (`kind name` each).
    pub parts: Vec<String>,
    /// The app's services that name the provider or are being deployed (a moved one's old
    /// tasks may still run there).
    pub users: Vec<String>,
}

/// How they differ from an app without instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// Nothing may run on them: removed.
    Unused {
        /// What exists.
        parts: Vec<String>,
    },
    /// Services may still run tasks there: kept until a later `up`.
    Kept {
        /// What exists.
        parts: Vec<String>,
        /// The services.
        users: Vec<String>,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Unused { parts } => write!(f, "no service runs on them: {} -> removed", parts.join(", ")),
            Drift::Kept { parts, users } => write!(
                f,
                "kept while {} may run tasks there (a deployment in progress): {}; a later `up` removes them",
                users.join(", "),
                parts.join(", ")
            ),
        }
    }
}

/// The instances of an app whose services all run on Fargate.
pub struct UnusedInstances {
    app: String,
    cluster: String,
    provider: String,
    /// The network (found first: the security group is looked for in its VPC), then the
    /// instances' resources in the inventory's order (deleted in reverse).
    parts: Vec<Box<dyn AnyResource>>,
}

impl UnusedInstances {
    /// What instances of `app` may be left.
    pub fn new(app: &App) -> UnusedInstances {
        UnusedInstances {
            app: app.name.clone(),
            cluster: app.names.cluster(),
            provider: app.names.capacity(),
            parts: vec![
                Box::new(Network::new(app)),
                Box::new(SecurityGroup::new(app, GroupRole::Instances)),
                Box::new(Role::instance(app)),
                Box::new(InstanceProfile::new(app)),
                Box::new(LaunchTemplate::new(app)),
                Box::new(AutoScalingGroup::new(app, false)),
                Box::new(CapacityProvider::new(app)),
            ],
        }
    }

    /// The app's services (by its tag, those the file no longer lists too) that name the
    /// provider or are being deployed.
    ///
    /// IAM: `ecs:ListServices`, `ecs:DescribeServices`.
    async fn users(&self, ctx: &Context) -> Result<Vec<String>, CliError> {
        let services = super::service::tagged_services(ctx, &self.cluster, &self.app).await?;
        Ok((services.iter().filter(|s| pushdeploy::engine::is_active(s)))
            .filter(|s| {
                let names_it = (s.capacity_provider_strategy().iter()).any(|p| p.capacity_provider() == self.provider);
                names_it || super::service::deploying(s)
            })
            .filter_map(|s| s.service_name().map(str::to_string))
            .collect())
    }

    /// Detaches the app's provider from the cluster (the default strategy keeps the others).
    ///
    /// IAM: `ecs:DescribeClusters`, `ecs:PutClusterCapacityProviders`.
    async fn detach(&self, ctx: &Context) -> Result<(), CliError> {
        let Some(cluster) = super::cluster::find(ctx, &self.cluster).await? else {
            return Ok(());
        };
        if !cluster.capacity_providers().contains(&self.provider) {
            return Ok(());
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
            Ok(_) => Ok(()),
            // A task started there since the look (or one it could not see): not now.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {
                Err(CliError::UnusedInstances {
                    reason: format!("ECS says tasks still run on capacity provider {}", self.provider),
                })
            }
            Err(e) => Err(aws("ecs:PutClusterCapacityProviders", e)),
        }
    }

    /// Detaches the provider and deletes the parts.
    async fn remove(&self, ctx: &Context, facts: Facts, step: &Step) -> Result<(), CliError> {
        step.waiting("the app's unused instances to be deleted");
        let removed = match self.detach(ctx).await {
            Ok(()) => teardown_from(&self.parts, ctx, facts, false, &Progress::silent())
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        removed.map_err(|e| match e {
            CliError::UnusedInstances { .. } => e,
            e => CliError::UnusedInstances { reason: e.to_string() },
        })
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

    /// Each part looked for at once, then (when any exists) who may use them.
    ///
    /// IAM: what each part's own observe needs (`ec2:DescribeSecurityGroups`, `iam:GetRole`,
    /// `iam:ListAttachedRolePolicies`, `iam:ListRolePolicies`, `iam:GetRolePolicy`,
    /// `iam:GetInstanceProfile`, `ec2:DescribeLaunchTemplates`,
    /// `ec2:DescribeLaunchTemplateVersions`, `autoscaling:DescribeAutoScalingGroups`,
    /// `ecs:DescribeCapacityProviders`), and what [`UnusedInstances::users`] needs.
    async fn observe(&self, ctx: &Context, facts: &Facts) -> Result<Option<Found>, CliError> {
        let own = (self.parts.iter()).filter(|p| p.lifetime() != Lifetime::Account);
        let looks = join_all(own.map(|part| async move {
            let mut facts = facts.clone();
            let found = part.find(ctx, &mut facts).await?.is_some();
            Ok::<_, CliError>(found.then(|| format!("{} {}", part.kind(), part.name())))
        }))
        .await;
        let parts: Vec<String> = looks
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        if parts.is_empty() {
            return Ok(None);
        }
        let users = self.users(ctx).await?;
        Ok(Some(Found { parts, users }))
    }

    fn diff(&self, found: &Found, _facts: &Facts) -> Vec<Drift> {
        let parts = found.parts.clone();
        vec![if found.users.is_empty() {
            Drift::Unused { parts }
        } else {
            Drift::Kept {
                parts,
                users: found.users.clone(),
            }
        }]
    }

    /// Never called: `up` creates only what is wanted.
    async fn create(&self, _ctx: &Context, _facts: &Facts, _step: &Step) -> Result<Found, CliError> {
        Ok(Found {
            parts: Vec::new(),
            users: Vec::new(),
        })
    }

    /// Kept: nothing to do (the report says so). Unused: detached and deleted.
    ///
    /// IAM: what [`UnusedInstances::detach`] needs, and what `down` needs to delete each part.
    async fn apply(
        &self,
        ctx: &Context,
        _: &Found,
        drift: &[Drift],
        facts: &Facts,
        step: &Step,
    ) -> Result<(), CliError> {
        if drift.iter().any(|d| matches!(d, Drift::Kept { .. })) {
            return Ok(());
        }
        self.remove(ctx, facts.clone(), step).await
    }

    /// `down` lists the parts themselves (an app torn down is listed with its instances), so it
    /// does not meet this one; deleting it removes them all the same (the network is found
    /// first).
    async fn delete(&self, ctx: &Context, _: &Found, step: &Step) -> Result<(), CliError> {
        self.remove(ctx, Facts::new(ctx.region()), step).await
    }

    fn record(&self, _found: &Found, _facts: &mut Facts) {}
}
