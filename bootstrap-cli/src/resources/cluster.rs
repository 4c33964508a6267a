//! The ECS cluster, named after the app, with Container Insights on or off as configured.

use aws_sdk_ecs::types::{ClusterField, ClusterSetting, ClusterSettingName, Tag};

use super::{change_for, Mode, Report, APP_TAG};
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, CliError};

fn insights(on: bool) -> &'static str {
    if on {
        "enabled"
    } else {
        "disabled"
    }
}

/// Ensures the cluster exists with the wanted settings.
///
/// IAM: `ecs:DescribeClusters`, `ecs:CreateCluster`, `ecs:TagResource`, `ecs:UpdateClusterSettings`.
pub async fn ensure(ctx: &Context, app: &App, mode: Mode) -> Result<Report, CliError> {
    let ecs = ctx.ecs();
    let name = app.cluster();
    let found = find_cluster(ctx, &name).await?;
    let want = insights(app.file.container_insights);
    let setting = ClusterSetting::builder()
        .name(ClusterSettingName::ContainerInsights)
        .value(want)
        .build();
    let mut diffs = Vec::new();
    if let Some(cluster) = &found {
        let have = cluster
            .settings()
            .iter()
            .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
            .and_then(|s| s.value())
            .unwrap_or("disabled");
        if have != want {
            diffs.push(format!("container insights {have} -> {want}"));
        }
    }
    if mode == Mode::Apply {
        if found.is_none() {
            ecs.create_cluster()
                .cluster_name(&name)
                .settings(setting)
                .tags(Tag::builder().key(APP_TAG).value(&app.name).build())
                .send()
                .await
                .map_err(|e| aws("ecs:CreateCluster", e))?;
        } else if !diffs.is_empty() {
            ecs.update_cluster_settings()
                .cluster(&name)
                .settings(setting)
                .send()
                .await
                .map_err(|e| aws("ecs:UpdateClusterSettings", e))?;
        }
    }
    Ok(Report::new("ecs cluster", name, change_for(found.is_some(), diffs)).with_state("active"))
}

/// The ACTIVE cluster named `name`, with its settings, if any.
///
/// IAM: `ecs:DescribeClusters`.
pub async fn find_cluster(ctx: &Context, name: &str) -> Result<Option<aws_sdk_ecs::types::Cluster>, CliError> {
    let out = ctx
        .ecs()
        .describe_clusters()
        .clusters(name)
        .include(ClusterField::Settings)
        .send()
        .await
        .map_err(|e| aws("ecs:DescribeClusters", e))?;
    Ok(out.clusters().iter().find(|c| c.status() == Some("ACTIVE")).cloned())
}
