//! The ECS cluster, named after the app, with Container Insights on or off as configured.

use std::fmt;
use std::time::Duration;

use aws_sdk_ecs::types::{Cluster as EcsCluster, ClusterField, ClusterSetting, ClusterSettingName, Tag};

use super::facts::Facts;
use super::model::{After, Resource, APP_TAG};
use super::service_linked_role::{self, may_be_propagating};
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::poll::{self, Poll, Wait};
use crate::progress::Step;
use pushdeploy::ecs_status::Status;

/// How long `down` waits for ECS to let the cluster go once its services are gone (tasks still
/// stopping, instances still deregistering).
pub const EMPTYING: Duration = Duration::from_secs(600);

/// How the cluster differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// Container Insights `enabled` / `disabled`.
    ContainerInsights {
        /// Now.
        have: String,
        /// Wanted.
        want: &'static str,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::ContainerInsights { have, want } => write!(f, "container insights {have} -> {want}"),
        }
    }
}

/// The app's cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    name: String,
    insights: bool,
    app: String,
}

impl Cluster {
    /// The app's cluster.
    pub fn new(app: &App) -> Cluster {
        Cluster {
            name: app.names.cluster(),
            insights: app.file.container_insights,
            app: app.name.clone(),
        }
    }

    fn want(&self) -> &'static str {
        if self.insights {
            "enabled"
        } else {
            "disabled"
        }
    }

    fn setting(&self) -> ClusterSetting {
        ClusterSetting::builder()
            .name(ClusterSettingName::ContainerInsights)
            .value(self.want())
            .build()
    }
}

/// The ACTIVE cluster named `name`, with its settings.
///
/// IAM: `ecs:DescribeClusters`.
pub async fn find(ctx: &Context, name: &str) -> Result<Option<EcsCluster>, CliError> {
    let out = ctx
        .ecs()
        .describe_clusters()
        .clusters(name)
        .include(ClusterField::Settings)
        .send()
        .await
        .map_err(|e| aws("ecs:DescribeClusters", e))?;
    Ok(out
        .clusters()
        .iter()
        .find(|c| Status::of_cluster(c) == Status::Active)
        .cloned())
}

impl Resource for Cluster {
    type Observed = EcsCluster;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "ecs cluster"
    }

    /// What it is converged after. The ECS service-linked role: CreateCluster assumes it.
    fn after(&self) -> After {
        After::Kinds(&["service-linked role"])
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    async fn observe(&self, ctx: &Context, _facts: &Facts) -> Result<Option<EcsCluster>, CliError> {
        find(ctx, &self.name).await
    }

    fn diff(&self, cluster: &EcsCluster, _facts: &Facts) -> Vec<Drift> {
        let have = cluster
            .settings()
            .iter()
            .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
            .and_then(|s| s.value())
            .unwrap_or("disabled");
        if have == self.want() {
            Vec::new()
        } else {
            vec![Drift::ContainerInsights {
                have: have.to_string(),
                want: self.want(),
            }]
        }
    }

    /// IAM: `ecs:CreateCluster`, `ecs:TagResource`.
    async fn create(&self, ctx: &Context, facts: &Facts, _step: &Step) -> Result<EcsCluster, CliError> {
        let ecs = ctx.ecs();
        // A service-linked role created moments ago is not usable yet (ECS developer guide).
        let out = poll::retry(
            service_linked_role::PROPAGATION,
            |e| may_be_propagating(facts, e),
            || {
                ecs.create_cluster()
                    .cluster_name(&self.name)
                    .settings(self.setting())
                    .tags(Tag::builder().key(APP_TAG).value(&self.app).build())
                    .send()
            },
        )
        .await
        .map_err(|e| aws("ecs:CreateCluster", e))?;
        out.cluster.ok_or_else(|| missing("ecs:CreateCluster", "cluster"))
    }

    /// IAM: `ecs:UpdateClusterSettings`.
    async fn apply(&self, ctx: &Context, _: &EcsCluster, _: &[Drift], _: &Facts, _: &Step) -> Result<(), CliError> {
        ctx.ecs()
            .update_cluster_settings()
            .cluster(&self.name)
            .settings(self.setting())
            .send()
            .await
            .map_err(|e| aws("ecs:UpdateClusterSettings", e))?;
        Ok(())
    }

    /// IAM: `ecs:DeleteCluster`.
    async fn delete(&self, ctx: &Context, _: &EcsCluster, step: &Step) -> Result<(), CliError> {
        let ecs = ctx.ecs();
        let wait = Wait::new(
            format!("cluster {} to empty", self.name),
            EMPTYING,
            "services, tasks or instances are still in it: check `pushdeploy status`, then run `pushdeploy down` again",
        );
        poll::until(&wait, step, || async {
            match ecs.delete_cluster().cluster(&self.name).send().await {
                Ok(_) => Ok(Poll::Done(())),
                Err(e) => match e.as_service_error() {
                    Some(s) if s.is_cluster_not_found_exception() => Ok(Poll::Done(())),
                    // Services draining, tasks stopping, instances deregistering: ECS lets go soon.
                    Some(s) if s.is_cluster_contains_services_exception() => Ok(Poll::Pending("services".into())),
                    Some(s) if s.is_cluster_contains_tasks_exception() => Ok(Poll::Pending("tasks".into())),
                    Some(s) if s.is_cluster_contains_container_instances_exception() => {
                        Ok(Poll::Pending("container instances".into()))
                    }
                    Some(s) if s.is_cluster_contains_capacity_provider_exception() => {
                        Ok(Poll::Pending("capacity providers".into()))
                    }
                    Some(s) if s.is_update_in_progress_exception() => Ok(Poll::Pending("an update".into())),
                    _ => Err(aws("ecs:DeleteCluster", e)),
                },
            }
        })
        .await
    }

    fn record(&self, cluster: &EcsCluster, facts: &mut Facts) {
        facts.cluster = cluster.cluster_arn.clone();
    }

    fn state(&self, cluster: &EcsCluster, _facts: &Facts) -> Option<String> {
        cluster.status().map(|s| s.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_file::AppFile;

    #[test]
    fn container_insights_drift_either_way_and_absent_means_disabled() {
        let mut file = AppFile::default();
        file.container_insights = true;
        let app = App::resolve(file, Some("demo"), "defaults", None).unwrap();
        let c = Cluster::new(&app);
        let bare = EcsCluster::builder().build();
        assert_eq!(
            c.diff(&bare, &Facts::default())[0].to_string(),
            "container insights disabled -> enabled"
        );
        let on = EcsCluster::builder()
            .settings(
                ClusterSetting::builder()
                    .name(ClusterSettingName::ContainerInsights)
                    .value("enabled")
                    .build(),
            )
            .build();
        assert!(c.diff(&on, &Facts::default()).is_empty());
    }
}
