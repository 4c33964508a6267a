//! `pushdeploy status`: every resource of the app with its state, and per service the running
//! revision, image, digest and readable tag, the deployments with their rollout state, and, in
//! plain words, when ECS rolled a deployment back.

use std::io::Write;
use std::process::ExitCode;

use aws_sdk_ecs::types::{Deployment, TaskDefinitionField};
use pushdeploy::image::ImageRef;
use pushdeploy::task_definition::{image_tag_key, is_paused, pushed_at_key, tag_value};
use serde::Serialize;

use crate::app_file::App;
use crate::cli::{AppArgs, OutputFormat};
use crate::context::Context;
use crate::error::{aws, CliError};
use crate::progress::Progress;
use crate::resources::{service, Change, Mode};

/// The whole status document (`--output json`).
#[derive(Debug, Serialize)]
pub struct Status {
    /// App name.
    pub app: String,
    /// Every resource `up` manages.
    pub resources: Vec<ResourceState>,
    /// Every service.
    pub services: Vec<ServiceStatus>,
}

/// One resource.
#[derive(Debug, Serialize)]
pub struct ResourceState {
    /// Kind.
    pub kind: &'static str,
    /// Name.
    pub name: String,
    /// `present`, `missing`, `drifted: ...` or the kind's own state.
    pub state: String,
}

/// One service.
#[derive(Debug, Default, Serialize)]
pub struct ServiceStatus {
    /// Service name.
    pub service: String,
    /// Cluster name.
    pub cluster: String,
    /// Whether the service exists.
    pub exists: bool,
    /// Running task-definition ARN.
    pub task_definition: Option<String>,
    /// Image of the container that runs the service's repository.
    pub image: Option<String>,
    /// Its digest, when pinned.
    pub digest: Option<String>,
    /// Readable tag recorded on the revision (or in the image reference).
    pub tag: Option<String>,
    /// Push time recorded on the revision.
    pub pushed_at: Option<String>,
    /// Automatic redeploys paused (after `rollback`).
    pub paused: bool,
    /// Running / desired tasks.
    pub running: i32,
    /// Desired tasks.
    pub desired: i32,
    /// Deployments, newest first.
    pub deployments: Vec<DeploymentState>,
    /// Plain words when ECS rolled a deployment back (never reported as a success).
    pub rolled_back: Option<String>,
    /// Recent service events.
    pub events: Vec<String>,
}

/// One deployment of a service.
#[derive(Debug, Serialize)]
pub struct DeploymentState {
    /// Deployment id.
    pub id: String,
    /// `PRIMARY`, `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// Task definition it deploys.
    pub task_definition: String,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`.
    pub rollout_state: String,
    /// Why, when ECS says.
    pub rollout_state_reason: Option<String>,
    /// Running / desired / failed tasks.
    pub running: i32,
    /// Desired tasks.
    pub desired: i32,
    /// Tasks that failed to start.
    pub failed_tasks: i32,
}

/// What the rollout says about a rollback, in plain words, or `None` when nothing was rolled back.
///
/// A circuit-breaker rollback shows as a `FAILED` deployment while it runs, and afterwards only
/// as the newest revision of the family not being the one that runs (and the service not paused).
pub fn rolled_back(running: &str, newest: Option<&str>, paused: bool, deployments: &[Deployment]) -> Option<String> {
    if let Some(failed) = deployments
        .iter()
        .find(|d| d.rollout_state().map(|s| s.as_str()) == Some("FAILED"))
    {
        return Some(format!(
            "deployment of {} FAILED ({}); ECS is rolling back to {}",
            revision(failed.task_definition().unwrap_or_default()),
            failed.rollout_state_reason().unwrap_or("no reason given"),
            revision(running)
        ));
    }
    match newest {
        Some(newest) if newest != running && !paused => Some(format!(
            "the newest revision {} is not running: ECS rolled its deployment back to {} (see the service events)",
            revision(newest),
            revision(running)
        )),
        _ => None,
    }
}

fn revision(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Runs `status`.
pub async fn run(args: AppArgs, ctx: &Context) -> Result<ExitCode, CliError> {
    let app = App::load(args.file.as_deref(), args.app.as_deref())?;
    let status = status(&app, ctx).await?;
    print(ctx.output, &status)?;
    Ok(ExitCode::SUCCESS)
}

/// Reads the status of every resource and service.
pub async fn status(app: &App, ctx: &Context) -> Result<Status, CliError> {
    let observed = crate::commands::up::up(app, ctx, Mode::Plan, &Progress::silent()).await?;
    let resources = observed
        .resources
        .into_iter()
        .map(|r| ResourceState {
            kind: r.kind,
            name: r.name,
            state: match r.change {
                Change::Create => "missing".into(),
                Change::Update(d) => format!("drifted: {}", d.join("; ")),
                Change::NoChange => r.state.unwrap_or_else(|| "present".into()),
            },
        })
        .collect();
    let mut services = Vec::new();
    for s in app.services() {
        services.push(service_status(ctx, app, &s).await?);
    }
    Ok(Status {
        app: app.name.clone(),
        resources,
        services,
    })
}

async fn service_status(ctx: &Context, app: &App, s: &crate::app_file::Service) -> Result<ServiceStatus, CliError> {
    let mut st = ServiceStatus {
        service: s.spec.name.clone(),
        cluster: app.cluster(),
        ..Default::default()
    };
    let Some(svc) = service::describe(ctx, app, &s.spec.name).await? else {
        return Ok(st);
    };
    st.exists = true;
    st.paused = is_paused(svc.tags());
    st.running = svc.running_count();
    st.desired = svc.desired_count();
    let running = svc.task_definition().unwrap_or_default().to_string();
    st.deployments = svc
        .deployments()
        .iter()
        .map(|d| DeploymentState {
            id: d.id().unwrap_or_default().into(),
            status: d.status().unwrap_or_default().into(),
            task_definition: d.task_definition().unwrap_or_default().into(),
            rollout_state: d.rollout_state().map(|r| r.as_str().to_string()).unwrap_or_default(),
            rollout_state_reason: d.rollout_state_reason().map(str::to_string),
            running: d.running_count(),
            desired: d.desired_count(),
            failed_tasks: d.failed_tasks(),
        })
        .collect();
    st.events = svc
        .events()
        .iter()
        .take(5)
        .filter_map(|e| e.message().map(str::to_string))
        .collect();
    let newest = service::latest_revision(ctx, &service::family(app, &s.spec.name)).await?;
    st.rolled_back = rolled_back(&running, newest.as_deref(), st.paused, svc.deployments());
    if !running.is_empty() {
        let td = ctx
            .ecs()
            .describe_task_definition()
            .task_definition(&running)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| aws("ecs:DescribeTaskDefinition", e))?;
        let tags = td.tags().to_vec();
        let image = td
            .task_definition()
            .and_then(|t| {
                t.container_definitions()
                    .iter()
                    .find(|c| c.name() == Some(s.container.as_str()))
            })
            .and_then(|c| c.image().map(str::to_string));
        let parsed = image.as_deref().and_then(|i| ImageRef::parse(i).ok());
        st.digest = parsed.as_ref().and_then(|p| p.digest.clone());
        st.tag = tag_value(&tags, &image_tag_key(&s.repository))
            .map(str::to_string)
            .or_else(|| parsed.and_then(|p| p.tag));
        st.pushed_at = tag_value(&tags, &pushed_at_key(&s.repository)).map(str::to_string);
        st.image = image;
    }
    st.task_definition = Some(running);
    Ok(st)
}

fn print(format: OutputFormat, status: &Status) -> Result<(), CliError> {
    if format == OutputFormat::Json {
        return crate::commands::print_json(status);
    }
    let mut out = std::io::stdout().lock();
    let rows: Vec<[String; 3]> = status
        .resources
        .iter()
        .map(|r| [r.kind.to_string(), r.name.clone(), r.state.clone()])
        .collect();
    crate::commands::table(&mut out, &["RESOURCE", "NAME", "STATE"], &rows)?;
    for s in &status.services {
        writeln!(out)?;
        if !s.exists {
            writeln!(
                out,
                "service {}/{}: missing (run `pushdeploy up`)",
                s.cluster, s.service
            )?;
            continue;
        }
        let paused = if s.paused {
            "  PAUSED: automatic redeploys off until `pushdeploy resume`"
        } else {
            ""
        };
        writeln!(
            out,
            "service {}/{}: {}/{} running{paused}",
            s.cluster, s.service, s.running, s.desired
        )?;
        writeln!(out, "  revision   {}", s.task_definition.as_deref().unwrap_or("-"))?;
        writeln!(out, "  image      {}", s.image.as_deref().unwrap_or("-"))?;
        writeln!(out, "  digest     {}", s.digest.as_deref().unwrap_or("- (not pinned)"))?;
        writeln!(out, "  tag        {}", s.tag.as_deref().unwrap_or("-"))?;
        if let Some(at) = &s.pushed_at {
            writeln!(out, "  pushed at  {at}")?;
        }
        if let Some(rb) = &s.rolled_back {
            writeln!(out, "  ROLLED BACK: {rb}")?;
        }
        for d in &s.deployments {
            let reason = d
                .rollout_state_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            writeln!(
                out,
                "  deployment {} {} {} {}/{} running, {} failed{reason}",
                d.status,
                revision(&d.task_definition),
                d.rollout_state,
                d.running,
                d.desired,
                d.failed_tasks
            )?;
        }
        for e in &s.events {
            writeln!(out, "  event      {e}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::DeploymentRolloutState;

    const V6: &str = "arn:aws:ecs:us-east-1:1:task-definition/demo-web:6";
    const V7: &str = "arn:aws:ecs:us-east-1:1:task-definition/demo-web:7";

    #[test]
    fn a_failed_deployment_is_reported_as_a_rollback_not_a_success() {
        let failed = Deployment::builder()
            .task_definition(V7)
            .rollout_state(DeploymentRolloutState::Failed)
            .rollout_state_reason("ECS deployment circuit breaker: tasks failed to start.")
            .build();
        let text = rolled_back(V6, Some(V7), false, &[failed]).unwrap();
        assert!(
            text.contains("demo-web:7 FAILED") && text.contains("circuit breaker") && text.contains("demo-web:6"),
            "{text}"
        );
    }

    #[test]
    fn after_the_rollback_the_newest_revision_not_running_still_says_so() {
        let primary = Deployment::builder()
            .task_definition(V6)
            .rollout_state(DeploymentRolloutState::Completed)
            .build();
        let text = rolled_back(V6, Some(V7), false, &[primary]).unwrap();
        assert!(text.contains("newest revision demo-web:7 is not running"), "{text}");
    }

    #[test]
    fn a_paused_service_or_the_newest_revision_running_is_no_rollback() {
        assert_eq!(rolled_back(V6, Some(V7), true, &[]), None);
        assert_eq!(rolled_back(V7, Some(V7), false, &[]), None);
    }
}
