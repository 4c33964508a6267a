//! The capacity providers' attachment to the cluster: the app's own (its Auto Scaling group's)
//! as the default strategy when it has instances, and `FARGATE` / `FARGATE_SPOT` when services
//! run there (AWS provides those two; they only need attaching). ECS refuses to detach a
//! provider that tasks still use (ResourceInUseException): `down` detaches them once the
//! services are INACTIVE, and waits while ECS still holds them.

use std::fmt;
use std::time::Duration;

use aws_sdk_ecs::types::CapacityProviderStrategyItem;

use super::facts::{need, Facts};
use super::model::{After, Resource};
use crate::app_file::{App, Capacity};
use crate::context::Context;
use crate::error::{aws, CliError};
use crate::poll::{self, Poll, Wait};
use crate::progress::Step;

/// How long `down` waits for ECS to let the provider go (tasks still stopping).
pub const RELEASE: Duration = Duration::from_secs(600);

/// The cluster's providers and default strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Providers attached to the cluster.
    pub providers: Vec<String>,
    /// Providers of its default strategy.
    pub default_strategy: Vec<String>,
}

/// How the attachment differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// Providers the services use that are not attached.
    Missing {
        /// Their names.
        providers: Vec<String>,
    },
    /// The provider is attached but is not the cluster's default strategy.
    NotDefault {
        /// The default strategy now.
        have: Vec<String>,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Missing { providers } => write!(f, "attach {}", providers.join(", ")),
            Drift::NotDefault { have } => write!(
                f,
                "default strategy {} -> the app's provider",
                if have.is_empty() {
                    "none".to_string()
                } else {
                    have.join(",")
                }
            ),
        }
    }
}

/// The app's providers on the app's cluster.
#[derive(Debug, Clone)]
pub struct ClusterCapacity {
    cluster: String,
    /// The providers the services use, the cluster's default first.
    providers: Vec<String>,
    /// Whether the first is the app's own (made by `up`), not one of AWS's Fargate ones.
    own: bool,
}

impl ClusterCapacity {
    /// The app's attachment: its own provider when it has `instances`, and the Fargate ones its
    /// services use.
    pub fn new(app: &App, instances: bool) -> ClusterCapacity {
        let mut providers = Vec::new();
        if instances {
            providers.push(app.names.capacity());
        }
        for capacity in [Capacity::Fargate, Capacity::FargateSpot] {
            if app.file.services.iter().any(|s| s.capacity == capacity) {
                providers.extend(capacity.fargate_provider().map(str::to_string));
            }
        }
        ClusterCapacity {
            cluster: app.names.cluster(),
            providers,
            own: instances,
        }
    }

    fn default_strategy(&self) -> Vec<CapacityProviderStrategyItem> {
        (self.providers.first().iter())
            .map(|p| {
                CapacityProviderStrategyItem::builder()
                    .capacity_provider(p.as_str())
                    .weight(1)
                    .base(0)
                    .build()
                    .expect("the provider is set")
            })
            .collect()
    }

    /// IAM: `ecs:PutClusterCapacityProviders`.
    async fn attach(&self, ctx: &Context, others: &[String]) -> Result<(), CliError> {
        let mut providers: Vec<String> = others.iter().filter(|p| !self.providers.contains(p)).cloned().collect();
        providers.extend(self.providers.iter().cloned());
        ctx.ecs()
            .put_cluster_capacity_providers()
            .cluster(&self.cluster)
            .set_capacity_providers(Some(providers))
            .set_default_capacity_provider_strategy(Some(self.default_strategy()))
            .send()
            .await
            .map_err(|e| aws("ecs:PutClusterCapacityProviders", e))?;
        Ok(())
    }
}

impl Resource for ClusterCapacity {
    type Observed = Attachment;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "cluster capacity"
    }

    /// What it is converged after. The cluster and the capacity provider it attaches.
    fn after(&self) -> After {
        After::Kinds(&["ecs cluster", "capacity provider"])
    }

    fn name(&self) -> String {
        format!("{} -> {}", self.cluster, self.providers.join(", "))
    }

    /// IAM: `ecs:DescribeClusters`.
    async fn observe(&self, ctx: &Context, facts: &Facts) -> Result<Option<Attachment>, CliError> {
        if facts.cluster.is_none() {
            return Ok(None);
        }
        let Some(cluster) = super::cluster::find(ctx, &self.cluster).await? else {
            return Ok(None);
        };
        let attachment = Attachment {
            providers: cluster.capacity_providers().to_vec(),
            default_strategy: cluster
                .default_capacity_provider_strategy()
                .iter()
                .map(|s| s.capacity_provider().to_string())
                .collect(),
        };
        let ours = attachment.providers.iter().any(|p| self.providers.contains(p));
        Ok(ours.then_some(attachment))
    }

    fn diff(&self, attachment: &Attachment, _facts: &Facts) -> Vec<Drift> {
        let mut drift = Vec::new();
        let missing: Vec<String> = (self.providers.iter())
            .filter(|p| !attachment.providers.contains(p))
            .cloned()
            .collect();
        if !missing.is_empty() {
            drift.push(Drift::Missing { providers: missing });
        }
        if attachment.default_strategy != self.providers[..1.min(self.providers.len())] {
            drift.push(Drift::NotDefault {
                have: attachment.default_strategy.clone(),
            });
        }
        drift
    }

    async fn create(&self, ctx: &Context, facts: &Facts, _step: &Step) -> Result<Attachment, CliError> {
        if self.own {
            need(facts.capacity_provider.as_ref(), "the capacity provider")?;
        }
        let others = match super::cluster::find(ctx, &self.cluster).await? {
            Some(c) => c.capacity_providers().to_vec(),
            None => Vec::new(),
        };
        self.attach(ctx, &others).await?;
        let kept: Vec<String> = others.into_iter().filter(|p| !self.providers.contains(p)).collect();
        Ok(Attachment {
            providers: [kept, self.providers.clone()].concat(),
            default_strategy: self.providers.iter().take(1).cloned().collect(),
        })
    }

    async fn apply(
        &self,
        ctx: &Context,
        attachment: &Attachment,
        _: &[Drift],
        _: &Facts,
        _: &Step,
    ) -> Result<(), CliError> {
        self.attach(ctx, &attachment.providers).await
    }

    /// IAM: `ecs:PutClusterCapacityProviders`.
    async fn delete(&self, ctx: &Context, attachment: &Attachment, step: &Step) -> Result<(), CliError> {
        let ecs = ctx.ecs();
        let others: Vec<String> = attachment
            .providers
            .iter()
            .filter(|p| !self.providers.contains(p))
            .cloned()
            .collect();
        let wait = Wait::new(
            format!("ECS to release capacity providers {}", self.providers.join(", ")),
            RELEASE,
            "tasks still run on it: check `pushdeploy status`, then run `pushdeploy down` again",
        );
        poll::until(&wait, step, || async {
            let detached = ecs
                .put_cluster_capacity_providers()
                .cluster(&self.cluster)
                .set_capacity_providers(Some(others.clone()))
                .set_default_capacity_provider_strategy(Some(Vec::new()))
                .send()
                .await;
            match detached {
                Ok(_) => Ok(Poll::Done(())),
                Err(e) => match e.as_service_error() {
                    Some(s) if s.is_resource_in_use_exception() => Ok(Poll::Pending("in use".into())),
                    Some(s) if s.is_update_in_progress_exception() => Ok(Poll::Pending("updating".into())),
                    Some(s) if s.is_cluster_not_found_exception() => Ok(Poll::Done(())),
                    _ => Err(aws("ecs:PutClusterCapacityProviders", e)),
                },
            }
        })
        .await
    }

    fn record(&self, _attachment: &Attachment, _facts: &mut Facts) {}
}
