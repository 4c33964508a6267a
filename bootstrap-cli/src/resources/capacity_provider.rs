//! The ECS capacity provider over the Auto Scaling group: managed scaling (ECS grows and shrinks
//! the group to fit the tasks) and managed termination protection (no instance with tasks is
//! scaled in). Deleting one takes a while and can fail: `down` waits and reports ECS's reason.

use std::fmt;
use std::time::Duration;

use aws_sdk_ecs::types::{
    AutoScalingGroupProvider, AutoScalingGroupProviderUpdate, CapacityProvider as EcsCapacityProvider,
    CapacityProviderStatus, CapacityProviderUpdateStatus, ManagedScaling, ManagedScalingStatus,
    ManagedTerminationProtection, Tag,
};

use super::facts::{need, Facts};
use super::model::{After, Resource, APP_TAG};
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::poll::{self, Poll, Wait};
use crate::progress::Step;

/// How long `down` (and an `up` finding one still being deleted) waits for a deletion.
pub const DELETION: Duration = Duration::from_secs(900);

/// The managed scaling `up` sets: ECS keeps the group at 100% of what the tasks need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderScaling {
    /// On.
    pub enabled: bool,
    /// Target capacity, percent.
    pub target: i32,
    /// Smallest step.
    pub min_step: i32,
    /// Largest step.
    pub max_step: i32,
    /// Managed termination protection on.
    pub termination_protection: bool,
}

/// What `up` wants.
pub const SCALING: ProviderScaling = ProviderScaling {
    enabled: true,
    target: 100,
    min_step: 1,
    max_step: 10,
    termination_protection: true,
};

impl ProviderScaling {
    fn of(cp: &EcsCapacityProvider) -> ProviderScaling {
        let provider = cp.auto_scaling_group_provider();
        let managed = provider.and_then(|p| p.managed_scaling());
        ProviderScaling {
            enabled: managed.and_then(|m| m.status()) == Some(&ManagedScalingStatus::Enabled),
            target: managed.and_then(|m| m.target_capacity()).unwrap_or_default(),
            min_step: managed.and_then(|m| m.minimum_scaling_step_size()).unwrap_or_default(),
            max_step: managed.and_then(|m| m.maximum_scaling_step_size()).unwrap_or_default(),
            termination_protection: provider.and_then(|p| p.managed_termination_protection())
                == Some(&ManagedTerminationProtection::Enabled),
        }
    }

    fn managed_scaling(&self) -> ManagedScaling {
        ManagedScaling::builder()
            .status(ManagedScalingStatus::Enabled)
            .target_capacity(self.target)
            .minimum_scaling_step_size(self.min_step)
            .maximum_scaling_step_size(self.max_step)
            .build()
    }
}

impl fmt::Display for ProviderScaling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "managed scaling {} to {}% in steps of {}-{}, termination protection {}",
            if self.enabled { "on" } else { "off" },
            self.target,
            self.min_step,
            self.max_step,
            if self.termination_protection { "on" } else { "off" }
        )
    }
}

/// How the provider differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// Its scaling settings.
    Scaling {
        /// Now.
        have: ProviderScaling,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Scaling { have } => write!(f, "{have} -> {SCALING}"),
        }
    }
}

/// The app's capacity provider.
#[derive(Debug, Clone)]
pub struct CapacityProvider {
    name: String,
    app: String,
}

impl CapacityProvider {
    /// The app's provider.
    pub fn new(app: &App) -> CapacityProvider {
        CapacityProvider {
            name: app.names.capacity(),
            app: app.name.clone(),
        }
    }
}

/// The provider named `name`, whatever its state.
///
/// IAM: `ecs:DescribeCapacityProviders`.
pub async fn describe(ctx: &Context, name: &str) -> Result<Option<EcsCapacityProvider>, CliError> {
    let out = ctx
        .ecs()
        .describe_capacity_providers()
        .capacity_providers(name)
        .send()
        .await
        .map_err(|e| aws("ecs:DescribeCapacityProviders", e))?;
    Ok(out
        .capacity_providers
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.name() == Some(name)))
}

fn being_deleted(cp: &EcsCapacityProvider) -> bool {
    matches!(
        cp.update_status(),
        Some(CapacityProviderUpdateStatus::DeleteInProgress | CapacityProviderUpdateStatus::DeleteComplete)
    )
}

fn usable(cp: &EcsCapacityProvider) -> bool {
    cp.status() == Some(&CapacityProviderStatus::Active) && !being_deleted(cp)
}

impl CapacityProvider {
    /// Looks until ECS has finished deleting the provider; DELETE_FAILED is an error with ECS's
    /// reason.
    async fn wait_deleted(&self, ctx: &Context, step: &Step) -> Result<(), CliError> {
        let wait = Wait::new(
            format!("capacity provider {} to be deleted", self.name),
            DELETION,
            "run `pushdeploy down` again to continue",
        );
        poll::until(&wait, step, || async {
            let Some(cp) = describe(ctx, &self.name).await? else {
                return Ok(Poll::Done(()));
            };
            match (cp.status(), cp.update_status()) {
                (Some(CapacityProviderStatus::Inactive), _) => Ok(Poll::Done(())),
                (_, Some(CapacityProviderUpdateStatus::DeleteFailed)) => Err(CliError::CapacityProviderDeleteFailed {
                    name: self.name.clone(),
                    reason: cp.update_status_reason().unwrap_or("ECS gave no reason").to_string(),
                }),
                (
                    _,
                    Some(CapacityProviderUpdateStatus::DeleteInProgress | CapacityProviderUpdateStatus::DeleteComplete),
                ) => Ok(Poll::Pending("DELETE_IN_PROGRESS".into())),
                (status, _) => Ok(Poll::Pending(
                    status.map_or("unknown".into(), |s| s.as_str().to_string()),
                )),
            }
        })
        .await
    }
}

impl Resource for CapacityProvider {
    type Observed = EcsCapacityProvider;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "capacity provider"
    }

    /// What it is converged after. Its Auto Scaling group, and the ECS service-linked role.
    fn after(&self) -> After {
        After::Kinds(&["auto scaling group", "service-linked role"])
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    async fn observe(&self, ctx: &Context, _facts: &Facts) -> Result<Option<EcsCapacityProvider>, CliError> {
        Ok(describe(ctx, &self.name).await?.filter(usable))
    }

    fn diff(&self, cp: &EcsCapacityProvider, _facts: &Facts) -> Vec<Drift> {
        let have = ProviderScaling::of(cp);
        if have == SCALING {
            Vec::new()
        } else {
            vec![Drift::Scaling { have }]
        }
    }

    /// IAM: `ecs:CreateCapacityProvider`, `ecs:TagResource`.
    async fn create(&self, ctx: &Context, facts: &Facts, step: &Step) -> Result<EcsCapacityProvider, CliError> {
        let asg = need(facts.auto_scaling_group.as_ref(), "the Auto Scaling group")?;
        // One still being deleted (a `down` cut short) holds the name until it is gone.
        if describe(ctx, &self.name).await?.is_some_and(|cp| being_deleted(&cp)) {
            self.wait_deleted(ctx, step).await?;
        }
        let provider = AutoScalingGroupProvider::builder()
            .auto_scaling_group_arn(asg)
            .managed_scaling(SCALING.managed_scaling())
            .managed_termination_protection(ManagedTerminationProtection::Enabled)
            .build()
            .expect("the group's ARN is set");
        let created = ctx
            .ecs()
            .create_capacity_provider()
            .name(&self.name)
            .auto_scaling_group_provider(provider)
            .tags(Tag::builder().key(APP_TAG).value(&self.app).build())
            .send()
            .await;
        match created {
            Ok(out) => out
                .capacity_provider
                .ok_or_else(|| missing("ecs:CreateCapacityProvider", "capacityProvider")),
            // "already exists" is a generic ClientException: whether ours exists decides.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_client_exception()) => {
                match describe(ctx, &self.name).await?.filter(usable) {
                    Some(found) => Ok(found),
                    None => Err(aws("ecs:CreateCapacityProvider", e)),
                }
            }
            Err(e) => Err(aws("ecs:CreateCapacityProvider", e)),
        }
    }

    /// IAM: `ecs:UpdateCapacityProvider`.
    async fn apply(
        &self,
        ctx: &Context,
        _: &EcsCapacityProvider,
        _: &[Drift],
        _: &Facts,
        _: &Step,
    ) -> Result<(), CliError> {
        ctx.ecs()
            .update_capacity_provider()
            .name(&self.name)
            .auto_scaling_group_provider(
                AutoScalingGroupProviderUpdate::builder()
                    .managed_scaling(SCALING.managed_scaling())
                    .managed_termination_protection(ManagedTerminationProtection::Enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws("ecs:UpdateCapacityProvider", e))?;
        Ok(())
    }

    /// IAM: `ecs:DeleteCapacityProvider`, `ecs:DescribeCapacityProviders`.
    async fn delete(&self, ctx: &Context, _: &EcsCapacityProvider, step: &Step) -> Result<(), CliError> {
        match ctx
            .ecs()
            .delete_capacity_provider()
            .capacity_provider(&self.name)
            .send()
            .await
        {
            Ok(_) => {}
            // Gone meanwhile: whether it still exists decides.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_client_exception()) => {
                if describe(ctx, &self.name).await?.is_some_and(|cp| usable(&cp)) {
                    return Err(aws("ecs:DeleteCapacityProvider", e));
                }
            }
            Err(e) => return Err(aws("ecs:DeleteCapacityProvider", e)),
        }
        self.wait_deleted(ctx, step).await
    }

    fn record(&self, _cp: &EcsCapacityProvider, facts: &mut Facts) {
        facts.capacity_provider = Some(self.name.clone());
    }

    fn state(&self, cp: &EcsCapacityProvider, _facts: &Facts) -> Option<String> {
        Some(match cp.update_status() {
            Some(CapacityProviderUpdateStatus::DeleteFailed) => format!(
                "DELETE_FAILED: {}",
                cp.update_status_reason().unwrap_or("ECS gave no reason")
            ),
            _ => ProviderScaling::of(cp).to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_being_deleted_is_not_usable_and_drift_is_typed() {
        let deleting = EcsCapacityProvider::builder()
            .status(CapacityProviderStatus::Active)
            .update_status(CapacityProviderUpdateStatus::DeleteInProgress)
            .build();
        assert!(!usable(&deleting));
        let failed = EcsCapacityProvider::builder()
            .status(CapacityProviderStatus::Active)
            .update_status(CapacityProviderUpdateStatus::DeleteFailed)
            .build();
        assert!(usable(&failed), "a failed deletion leaves the provider in use");
        let app = App::resolve(crate::app_file::AppFile::default(), Some("demo"), "defaults", None).unwrap();
        let drift = CapacityProvider::new(&app).diff(&failed, &Facts::default());
        assert!(matches!(drift.as_slice(), [Drift::Scaling { have }] if !have.enabled));
    }
}
