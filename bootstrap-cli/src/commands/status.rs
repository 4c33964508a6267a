//! `pushdeploy status`: every resource of the app with its state (the same observation `up` and
//! `plan` make), and per service the running revision, image, digest and readable tag, the
//! deployments with their rollout state, and, from the facts, who rolled it back: ECS's
//! circuit breaker (its service-deployment history says so) or a person (`pushdeploy
//! rollback` records who in the pause tag).

use std::io::Write;
use std::process::ExitCode;

use aws_sdk_ecs::types::{ServiceDeployment, ServiceDeploymentStatus};
use pushdeploy::image::ImageRef;
use pushdeploy::task_definition::{failed_digests, image_tag_key, is_paused, pushed_at_key, tag_value, TAG_PAUSED};
use serde::Serialize;

use crate::app_file::{App, Service};
use crate::cli::{AppArgs, GlobalArgs, OutputFormat};
use crate::context::Context;
use crate::error::{aws, CliError};
use crate::progress::Progress;
use crate::resources::{self, Change, Known, Mode, Options};

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
    /// `missing`, `drifted: ...` or the kind's own state (`present` when it has none).
    pub state: String,
}

/// Who put a previous revision back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolledBackBy {
    /// ECS's deployment circuit breaker.
    CircuitBreaker,
    /// A person, with `pushdeploy rollback`.
    Person,
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
    /// Running tasks.
    pub running: i32,
    /// Desired tasks.
    pub desired: i32,
    /// Deployments, newest first.
    pub deployments: Vec<DeploymentState>,
    /// Who rolled the service back, when it stands rolled back.
    pub rolled_back_by: Option<RolledBackBy>,
    /// The rollback in plain words (never reported as a success).
    pub rolled_back: Option<String>,
    /// How the last deployment ended: `completed`, `in progress`, or `failed` with ECS's
    /// reason (a rollback by ECS counts as failed).
    pub last_outcome: Option<String>,
    /// Digests the function will not deploy again because a deployment of them failed
    /// (`pushdeploy deploy --force` does), newest first.
    pub failed_before: Vec<String>,
    /// Recent service events.
    pub events: Vec<String>,
    /// Where its containers log (`pushdeploy logs --service <name>` prints it).
    pub log_group: String,
    /// Days the log group keeps events (`None`: missing, or never expires).
    pub log_retention_days: Option<i32>,
    /// Its auto scaling: the task range and the policies (`None`: off, the desired count is
    /// the app file's).
    pub scaling: Option<resources::scaling::Observed>,
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
    /// Running tasks.
    pub running: i32,
    /// Desired tasks.
    pub desired: i32,
    /// Tasks that failed to start.
    pub failed_tasks: i32,
}

fn revision(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// ECS's rollback of `deployment` in plain words, when the newest service deployment is one:
/// what failed, why, and what runs instead.
pub fn circuit_breaker_rollback(
    deployment: &ServiceDeployment,
    failed: Option<&str>,
    back_to: Option<&str>,
) -> Option<String> {
    let status = deployment.status()?;
    let state = match status {
        ServiceDeploymentStatus::RollbackInProgress | ServiceDeploymentStatus::RollbackRequested => "rolling back",
        ServiceDeploymentStatus::RollbackSuccessful => "rolled back",
        ServiceDeploymentStatus::RollbackFailed => "failed to roll back",
        _ => return None,
    };
    let rollback = deployment.rollback();
    let reason = rollback
        .and_then(|r| r.reason())
        .or(deployment.status_reason())
        .unwrap_or("no reason given");
    let when = rollback
        .and_then(|r| r.started_at())
        .map(|t| format!(" at {t}"))
        .unwrap_or_default();
    Some(format!(
        "ECS's circuit breaker {state} the deployment of {} ({reason}) to {}{when}",
        failed.map_or("a new revision", revision),
        back_to.map_or("the last revision that worked", revision)
    ))
}

/// A person's rollback, from the pause tag `pushdeploy rollback` writes.
pub fn person_rollback(paused_tag: &str) -> String {
    if paused_tag.starts_with("pushdeploy rollback") {
        format!("{paused_tag}; automatic redeploys paused until `pushdeploy resume`")
    } else {
        format!("paused ({TAG_PAUSED}={paused_tag}); automatic redeploys off until `pushdeploy resume`")
    }
}

/// Runs `status`.
pub async fn run(args: AppArgs, global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let app = App::load(args.file.as_deref(), args.app.as_deref())?;
    let ctx = Context::connect(global, app.file.region.as_deref()).await?;
    let status = status(&app, &ctx).await?;
    print(ctx.output, &status)?;
    Ok(ExitCode::SUCCESS)
}

/// Reads the status of every resource and service.
pub async fn status(app: &App, ctx: &Context) -> Result<Status, CliError> {
    let nodes = resources::inventory(app, Options::default());
    let (reports, known) = resources::converge(&nodes, ctx, Mode::Plan, &Progress::silent()).await?;
    let resources = reports
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
        services.push(service_status(ctx, app, &s, &known).await?);
    }
    Ok(Status {
        app: app.name.clone(),
        resources,
        services,
    })
}

/// The newest service deployment, if it is a rollback, with the revisions it went from and to.
///
/// IAM: `ecs:ListServiceDeployments`, `ecs:DescribeServiceDeployments`, `ecs:DescribeServiceRevisions`.
async fn latest_rollback(ctx: &Context, cluster: &str, service: &str) -> Result<Option<String>, CliError> {
    let ecs = ctx.ecs();
    let mut newest: Option<aws_sdk_ecs::types::ServiceDeploymentBrief> = None;
    let mut token = None;
    loop {
        let page = ecs
            .list_service_deployments()
            .cluster(cluster)
            .service(service)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws("ecs:ListServiceDeployments", e))?;
        for brief in page.service_deployments() {
            if newest.as_ref().is_none_or(|n| brief.created_at() > n.created_at()) {
                newest = Some(brief.clone());
            }
        }
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    let Some(arn) = newest
        .filter(|b| {
            matches!(
                b.status(),
                Some(
                    ServiceDeploymentStatus::RollbackInProgress
                        | ServiceDeploymentStatus::RollbackRequested
                        | ServiceDeploymentStatus::RollbackSuccessful
                        | ServiceDeploymentStatus::RollbackFailed
                )
            )
        })
        .and_then(|b| b.service_deployment_arn)
    else {
        return Ok(None);
    };
    let described = ecs
        .describe_service_deployments()
        .service_deployment_arns(&arn)
        .send()
        .await
        .map_err(|e| aws("ecs:DescribeServiceDeployments", e))?;
    let Some(deployment) = described.service_deployments().first() else {
        return Ok(None);
    };
    let failed_arn = deployment.target_service_revision().and_then(|r| r.arn());
    let back_arn = deployment.rollback().and_then(|r| r.service_revision_arn());
    let wanted: Vec<String> = [failed_arn, back_arn]
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect();
    let revisions = if wanted.is_empty() {
        Vec::new()
    } else {
        ecs.describe_service_revisions()
            .set_service_revision_arns(Some(wanted))
            .send()
            .await
            .map_err(|e| aws("ecs:DescribeServiceRevisions", e))?
            .service_revisions
            .unwrap_or_default()
    };
    let task_definition = |arn: Option<&str>| {
        revisions
            .iter()
            .find(|r| arn.is_some() && r.service_revision_arn() == arn)
            .and_then(|r| r.task_definition())
    };
    Ok(circuit_breaker_rollback(
        deployment,
        task_definition(failed_arn),
        task_definition(back_arn),
    ))
}

async fn service_status(ctx: &Context, app: &App, s: &Service, known: &Known) -> Result<ServiceStatus, CliError> {
    let cluster = app.names.cluster();
    let mut st = ServiceStatus {
        service: s.spec.name.clone(),
        cluster: cluster.clone(),
        log_group: app.names.log_group(&s.spec.name),
        log_retention_days: known.log_groups.get(&s.spec.name).and_then(|g| g.retention),
        scaling: known.scaling.get(&s.spec.name).cloned(),
        ..Default::default()
    };
    let Some(Some(svc)) = known.services.get(&s.spec.name) else {
        return Ok(st);
    };
    st.exists = true;
    st.paused = is_paused(svc.tags());
    st.running = svc.running_count();
    st.desired = svc.desired_count();
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
    if st.paused {
        st.rolled_back_by = Some(RolledBackBy::Person);
        st.rolled_back = tag_value(svc.tags(), TAG_PAUSED).map(person_rollback);
    } else if let Some(text) = latest_rollback(ctx, &cluster, &s.spec.name).await? {
        st.rolled_back_by = Some(RolledBackBy::CircuitBreaker);
        st.rolled_back = Some(text);
    }
    st.last_outcome = last_outcome(&st.deployments, st.rolled_back_by.as_ref());
    st.failed_before = failed_digests(svc.tags(), &s.repository)
        .into_iter()
        .map(str::to_string)
        .collect();
    if let Some(revision) = known.revisions.get(&s.spec.name) {
        let image = revision.image(&s.container).map(str::to_string);
        let parsed = image.as_deref().and_then(|i| ImageRef::parse(i).ok());
        st.digest = parsed.as_ref().and_then(|p| p.digest.clone());
        st.tag = tag_value(&revision.tags, &image_tag_key(&s.repository))
            .map(str::to_string)
            .or_else(|| parsed.and_then(|p| p.tag));
        st.pushed_at = tag_value(&revision.tags, &pushed_at_key(&s.repository)).map(str::to_string);
        st.image = image;
        st.task_definition = Some(revision.arn.clone());
    }
    Ok(st)
}

/// How the last deployment ended, from the deployments ECS shows (PRIMARY first): a failed one
/// still draining, or one ECS's circuit breaker rolled back, is `failed`.
pub fn last_outcome(deployments: &[DeploymentState], rolled_back_by: Option<&RolledBackBy>) -> Option<String> {
    if let Some(failed) = deployments.iter().find(|d| d.rollout_state == "FAILED") {
        let reason = failed.rollout_state_reason.as_deref().unwrap_or("ECS gave no reason");
        return Some(format!("failed: {} ({reason})", revision(&failed.task_definition)));
    }
    let primary = deployments.first()?;
    Some(match (primary.rollout_state.as_str(), rolled_back_by) {
        (_, Some(RolledBackBy::CircuitBreaker)) => "failed: rolled back by ECS's circuit breaker".to_string(),
        ("COMPLETED", _) => format!("completed: {}", revision(&primary.task_definition)),
        ("IN_PROGRESS", _) => format!("in progress: {}", revision(&primary.task_definition)),
        (other, _) => format!("{}: {}", other.to_lowercase(), revision(&primary.task_definition)),
    })
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
        let kept = s
            .log_retention_days
            .map(|d| format!(" (kept {d} days)"))
            .unwrap_or_default();
        writeln!(
            out,
            "  logs       {}{kept}: pushdeploy logs --app {} --service {}",
            s.log_group, status.app, s.service
        )?;
        match &s.scaling {
            Some(scaling) => {
                let policies: Vec<String> = (scaling.policies.iter())
                    .map(|p| match p.metric.as_str() {
                        "ECSServiceAverageCPUUtilization" => format!("cpu {}%", p.target),
                        "ALBRequestCountPerTarget" => format!("{} requests per task and minute", p.target),
                        other => format!("{other} {}", p.target),
                    })
                    .collect();
                writeln!(
                    out,
                    "  scaling    {}-{} tasks, now {} ({})",
                    scaling.min_count,
                    scaling.max_count,
                    s.desired,
                    policies.join(", ")
                )?;
            }
            None => writeln!(out, "  scaling    off: {} tasks, as the app file says", s.desired)?,
        }
        if let Some(rb) = &s.rolled_back {
            writeln!(out, "  ROLLED BACK: {rb}")?;
        }
        if let Some(last) = &s.last_outcome {
            writeln!(out, "  last deployment  {last}")?;
        }
        if !s.failed_before.is_empty() {
            writeln!(
                out,
                "  failed before    {} (never redeployed automatically; `pushdeploy deploy --force` on purpose)",
                s.failed_before.join(", ")
            )?;
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
    use aws_sdk_ecs::types::Rollback;

    const V6: &str = "arn:aws:ecs:us-east-1:1:task-definition/demo-web:6";
    const V7: &str = "arn:aws:ecs:us-east-1:1:task-definition/demo-web:7";

    #[test]
    fn a_circuit_breaker_rollback_says_what_failed_why_and_what_runs() {
        let d = ServiceDeployment::builder()
            .status(ServiceDeploymentStatus::RollbackSuccessful)
            .rollback(
                Rollback::builder()
                    .reason("ECS deployment circuit breaker: tasks failed to start.")
                    .build(),
            )
            .build();
        let text = circuit_breaker_rollback(&d, Some(V7), Some(V6)).unwrap();
        assert_eq!(
            text,
            "ECS's circuit breaker rolled back the deployment of demo-web:7 (ECS deployment circuit breaker: tasks failed to start.) to demo-web:6"
        );
    }

    #[test]
    fn the_last_outcome_is_failed_while_a_failed_deployment_shows_or_after_ecs_rolled_back() {
        let d = |status: &str, td: &str, state: &str, reason: Option<&str>| DeploymentState {
            id: "ecs-svc/1".into(),
            status: status.into(),
            task_definition: format!("arn:aws:ecs:us-east-1:1:task-definition/{td}"),
            rollout_state: state.into(),
            rollout_state_reason: reason.map(str::to_string),
            running: 1,
            desired: 1,
            failed_tasks: 0,
        };
        assert_eq!(last_outcome(&[], None), None);
        let done = [d("PRIMARY", "web:7", "COMPLETED", None)];
        assert_eq!(last_outcome(&done, None).as_deref(), Some("completed: web:7"));
        let running = [
            d("PRIMARY", "web:8", "IN_PROGRESS", None),
            d("ACTIVE", "web:7", "COMPLETED", None),
        ];
        assert_eq!(last_outcome(&running, None).as_deref(), Some("in progress: web:8"));
        let failing = [
            d("PRIMARY", "web:7", "IN_PROGRESS", None),
            d(
                "ACTIVE",
                "web:8",
                "FAILED",
                Some("ECS deployment circuit breaker: tasks failed to start."),
            ),
        ];
        assert_eq!(
            last_outcome(&failing, None).as_deref(),
            Some("failed: web:8 (ECS deployment circuit breaker: tasks failed to start.)")
        );
        assert!(last_outcome(&done, Some(&RolledBackBy::CircuitBreaker))
            .unwrap()
            .starts_with("failed"));
        assert!(last_outcome(&done, Some(&RolledBackBy::Person))
            .unwrap()
            .starts_with("completed"));
    }

    #[test]
    fn a_successful_deployment_is_no_rollback() {
        let d = ServiceDeployment::builder()
            .status(ServiceDeploymentStatus::Successful)
            .build();
        assert_eq!(circuit_breaker_rollback(&d, Some(V7), None), None);
    }

    #[test]
    fn a_persons_rollback_is_read_from_the_pause_tag() {
        let text =
            person_rollback("pushdeploy rollback by arn:aws:iam::1:user/alice at 2026-11-26T10:00:00Z to demo-web:6");
        assert!(
            text.contains("user/alice") && text.contains("pushdeploy resume"),
            "{text}"
        );
        assert!(person_rollback("true").contains("pushdeploy:paused=true"));
    }
}
