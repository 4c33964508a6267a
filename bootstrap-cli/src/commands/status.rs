//! `pushdeploy status`: every resource of the app with its state (the same observation `up` and
//! `plan` make), and per service the running revision, image, digest and readable tag, the
//! deployments with their rollout state, what its resources report of it (logs, scaling), and,
//! from the facts, who rolled it back: ECS's circuit breaker (its service-deployment history says
//! so) or a person (`pushdeploy rollback` records who in the pause tag).

use std::fmt;
use std::process::ExitCode;

use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, ServiceDeployment, ServiceDeploymentStatus};
use pushdeploy::image::ImageRef;
use pushdeploy::task_definition::{
    failed_digests, image_tag_key, is_paused, pushed_at_key, tag_value, PauseNote, TAG_PAUSED,
};
use serde::{Serialize, Serializer};

use crate::app_file::{App, AppService};
use crate::cli::{AppArgs, GlobalArgs};
use crate::context::Context;
use crate::error::{aws, CliError};
use crate::output::{print, table};
use crate::progress::Progress;
use crate::resources::facts::Facts;
use crate::resources::model::{Change, Detail, Mode, Report};
use crate::resources::{self, Options};
use crate::rollout::short;

/// The whole status document (`--output json`).
#[derive(Debug, Serialize)]
pub struct Status {
    /// App name.
    pub app: String,
    /// Region.
    pub region: String,
    /// Account.
    pub account: String,
    /// The load balancer's URL, once it exists.
    pub url: Option<String>,
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
    /// Whether it exists as the app file wants.
    pub condition: Condition,
    /// The kind's own state when it exists (`active`, `1/1 running`).
    pub state: Option<String>,
    /// How it differs from the app file, when `drifted`.
    pub drift: Vec<String>,
}

/// Whether a resource exists as the app file wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    /// As wanted.
    Present,
    /// Not there (`up` creates it).
    Missing,
    /// There, but not as the file says (`up` updates it).
    Drifted,
    /// An ECS service of the app that the file no longer lists (no longer redeployed).
    NotInFile,
}

impl ResourceState {
    fn of(report: Report) -> ResourceState {
        let (condition, drift) = match report.change {
            Change::Create => (Condition::Missing, Vec::new()),
            Change::Update(drift) => (Condition::Drifted, drift),
            Change::NoChange => (Condition::Present, Vec::new()),
            Change::NotInFile => (Condition::NotInFile, Vec::new()),
        };
        ResourceState {
            kind: report.kind,
            name: report.name,
            condition,
            state: report.state,
            drift,
        }
    }

    /// The state as the table words it.
    pub fn words(&self) -> String {
        match self.condition {
            Condition::Missing => "missing".into(),
            Condition::Drifted => format!("drifted: {}", self.drift.join("; ")),
            Condition::Present => self.state.clone().unwrap_or_else(|| "present".into()),
            Condition::NotInFile => "not in the app file: no longer redeployed".into(),
        }
    }
}

/// How a service's last deployment ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastDeployment {
    /// `completed`, `in-progress` or `failed`.
    pub outcome: DeploymentOutcome,
    /// The revision it deployed (`family:N`), when one is known.
    pub revision: Option<String>,
    /// ECS's reason, when it failed.
    pub reason: Option<String>,
}

/// The end of a deployment, as a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeploymentOutcome {
    /// All tasks of the new revision run.
    Completed,
    /// Still rolling.
    InProgress,
    /// Failed, or rolled back by ECS.
    Failed,
}

impl fmt::Display for LastDeployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = match self.outcome {
            DeploymentOutcome::Completed => "completed",
            DeploymentOutcome::InProgress => "in progress",
            DeploymentOutcome::Failed => "failed",
        };
        match (&self.revision, &self.reason) {
            (Some(revision), Some(reason)) => write!(f, "{outcome}: {revision} ({reason})"),
            (Some(revision), None) => write!(f, "{outcome}: {revision}"),
            (None, Some(reason)) => write!(f, "{outcome}: {reason}"),
            (None, None) => write!(f, "{outcome}"),
        }
    }
}

/// Who put a previous revision back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolledBackBy {
    /// ECS's deployment circuit breaker.
    CircuitBreaker,
    /// ECS, on a deployment alarm that went into ALARM.
    Alarm,
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
    /// How the last deployment ended (a rollback by ECS counts as failed).
    pub last_deployment: Option<LastDeployment>,
    /// Digests the function will not deploy again because a deployment of them failed
    /// (`pushdeploy deploy --force` does), newest first.
    pub failed_before: Vec<String>,
    /// Where production traffic stands, for a blue-green, canary or linear service.
    pub traffic: Option<crate::traffic::Traffic>,
    /// Recent service events.
    pub events: Vec<String>,
    /// What the service's resources report of it (its log group, its scaling ...), as fields.
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
    /// The same, as text lines (label, text).
    #[serde(skip)]
    pub detail_lines: Vec<(&'static str, String)>,
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
    #[serde(serialize_with = "rollout_state")]
    pub rollout_state: Option<DeploymentRolloutState>,
    /// Why, when ECS says.
    pub rollout_state_reason: Option<String>,
    /// Running tasks.
    pub running: i32,
    /// Desired tasks.
    pub desired: i32,
    /// Tasks that failed to start.
    pub failed_tasks: i32,
}

fn rollout_state<S: Serializer>(state: &Option<DeploymentRolloutState>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(state.as_ref().map_or("", DeploymentRolloutState::as_str))
}

impl DeploymentState {
    fn of(d: &Deployment) -> DeploymentState {
        DeploymentState {
            id: d.id().unwrap_or_default().into(),
            status: d.status().unwrap_or_default().into(),
            task_definition: d.task_definition().unwrap_or_default().into(),
            rollout_state: d.rollout_state().cloned(),
            rollout_state_reason: d.rollout_state_reason().map(str::to_string),
            running: d.running_count(),
            desired: d.desired_count(),
            failed_tasks: d.failed_tasks(),
        }
    }

    fn state_words(&self) -> &str {
        self.rollout_state.as_ref().map_or("", DeploymentRolloutState::as_str)
    }
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
    let who = match triggered_alarms(deployment) {
        Some(names) => format!("ECS ({} in ALARM)", names.join(", ")),
        None => "ECS's circuit breaker".to_string(),
    };
    Some(format!(
        "{who} {state} the deployment of {} ({reason}) to {}{when}",
        failed.map_or("a new revision", short),
        back_to.map_or("the last revision that worked", short)
    ))
}

/// The alarms that failed `deployment`, when alarms did (`None`: they did not).
pub fn triggered_alarms(deployment: &ServiceDeployment) -> Option<Vec<String>> {
    let alarms = deployment.alarms()?;
    (alarms.status() == Some(&aws_sdk_ecs::types::ServiceDeploymentRollbackMonitorsStatus::Triggered))
        .then(|| alarms.triggered_alarm_names().to_vec())
}

/// A person's rollback, from the pause tag `pushdeploy rollback` writes.
pub fn person_rollback(paused_tag: &str) -> String {
    match PauseNote::parse(paused_tag) {
        Some(note) => format!(
            "rolled back by {} at {} from {} to {}; automatic redeploys paused until `pushdeploy resume`",
            note.by, note.at, note.from, note.to
        ),
        None => format!("paused ({TAG_PAUSED}={paused_tag}); automatic redeploys off until `pushdeploy resume`"),
    }
}

/// Runs `status`.
pub async fn run(args: AppArgs, global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let app = App::load(args.file.as_deref(), args.app.as_deref())?;
    let ctx = Context::connect(global, app.file.region.as_deref()).await?;
    ctx.announce(&app).await?;
    let status = status(&app, &ctx).await?;
    let missing = |kind: &str| (status.resources.iter()).any(|r| r.kind == kind && r.condition == Condition::Missing);
    if missing("ecs cluster") && missing("routing config") {
        // Not "missing" rows and advice to `up`: that would build a second copy here.
        return Err(CliError::NoAppHere {
            app: app.name.clone(),
            region: ctx.region().to_string(),
            account: ctx.account().await?,
            parameter: app.names.config_parameter(),
        });
    }
    print(ctx.output, &status)?;
    Ok(ExitCode::SUCCESS)
}

/// Reads the status of every resource and service.
pub async fn status(app: &App, ctx: &Context) -> Result<Status, CliError> {
    let known = resources::read_ahead(app, ctx).await?;
    let app = &app.with_kept_groups(resources::service::kept_groups(ctx, app, &known.services).await?);
    let list = resources::inventory(app, Options::default());
    let (reports, facts, _) = resources::converge(&list, ctx, Mode::Preview, &Progress::silent(), known).await?;
    let mut services = Vec::new();
    for s in app.services() {
        services.push(service_status(ctx, app, &s, &facts, &reports).await?);
    }
    Ok(Status {
        app: app.name.clone(),
        region: ctx.region().to_string(),
        account: ctx.account().await?,
        url: facts.load_balancer.as_ref().map(|lb| lb.url(app)),
        resources: reports.into_iter().map(ResourceState::of).collect(),
        services,
    })
}

/// The newest service deployment, if it is a rollback: who rolled back (the circuit breaker or an
/// alarm) and, in words, the revisions it went from and to.
///
/// IAM: `ecs:ListServiceDeployments`, `ecs:DescribeServiceDeployments`, `ecs:DescribeServiceRevisions`.
async fn latest_rollback(
    ctx: &Context,
    cluster: &str,
    service: &str,
) -> Result<Option<(RolledBackBy, String)>, CliError> {
    let ecs = ctx.ecs();
    let Some(arn) = crate::ecs::newest_deployment(ctx, cluster, service)
        .await?
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
    let Some(deployment) = crate::ecs::describe_deployment(ctx, &arn).await? else {
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
    let by = match triggered_alarms(&deployment) {
        Some(_) => RolledBackBy::Alarm,
        None => RolledBackBy::CircuitBreaker,
    };
    Ok(
        circuit_breaker_rollback(&deployment, task_definition(failed_arn), task_definition(back_arn))
            .map(|text| (by, text)),
    )
}

async fn service_status(
    ctx: &Context,
    app: &App,
    s: &AppService,
    facts: &Facts,
    reports: &[Report],
) -> Result<ServiceStatus, CliError> {
    let cluster = app.names.cluster();
    let mut st = ServiceStatus {
        service: s.spec.name.clone(),
        cluster: cluster.clone(),
        ..Default::default()
    };
    for detail in reports.iter().filter_map(|r| r.detail.as_ref()) {
        if detail.service == s.spec.name {
            let Detail {
                label, text, fields, ..
            } = detail.clone();
            st.details.extend(fields);
            st.detail_lines.push((label, text));
        }
    }
    let Some(Some(svc)) = facts.services.get(&s.spec.name) else {
        return Ok(st);
    };
    st.exists = true;
    st.paused = is_paused(svc.tags());
    st.running = svc.running_count();
    st.desired = svc.desired_count();
    st.deployments = svc.deployments().iter().map(DeploymentState::of).collect();
    st.events = (svc.events().iter().take(5))
        .filter_map(|e| e.message().map(str::to_string))
        .collect();
    if st.paused {
        st.rolled_back_by = Some(RolledBackBy::Person);
        st.rolled_back = tag_value(svc.tags(), TAG_PAUSED).map(person_rollback);
    } else if let Some((by, text)) = latest_rollback(ctx, &cluster, &s.spec.name).await? {
        st.rolled_back_by = Some(by);
        st.rolled_back = Some(text);
    }
    st.last_deployment = last_deployment(&st.deployments, st.rolled_back_by.as_ref());
    st.traffic = crate::traffic::traffic(ctx, app, s, facts).await?;
    st.failed_before = (failed_digests(svc.tags(), &s.repository).into_iter())
        .map(str::to_string)
        .collect();
    if let Some(revision) = facts.revisions.get(&s.spec.name) {
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
pub fn last_deployment(
    deployments: &[DeploymentState],
    rolled_back_by: Option<&RolledBackBy>,
) -> Option<LastDeployment> {
    let failed = (deployments.iter()).find(|d| d.rollout_state == Some(DeploymentRolloutState::Failed));
    if let Some(failed) = failed {
        return Some(LastDeployment {
            outcome: DeploymentOutcome::Failed,
            revision: Some(short(&failed.task_definition).to_string()),
            reason: Some(
                (failed.rollout_state_reason.as_deref())
                    .unwrap_or("ECS gave no reason")
                    .to_string(),
            ),
        });
    }
    let primary = deployments.first()?;
    let revision = Some(short(&primary.task_definition).to_string());
    Some(match (&primary.rollout_state, rolled_back_by) {
        (_, Some(RolledBackBy::CircuitBreaker)) => LastDeployment {
            outcome: DeploymentOutcome::Failed,
            revision: None,
            reason: Some("rolled back by ECS's circuit breaker".to_string()),
        },
        (_, Some(RolledBackBy::Alarm)) => LastDeployment {
            outcome: DeploymentOutcome::Failed,
            revision: None,
            reason: Some("rolled back by ECS on a deployment alarm".to_string()),
        },
        (Some(DeploymentRolloutState::Completed), _) => LastDeployment {
            outcome: DeploymentOutcome::Completed,
            revision,
            reason: None,
        },
        (Some(DeploymentRolloutState::Failed), _) => LastDeployment {
            outcome: DeploymentOutcome::Failed,
            revision,
            reason: primary.rollout_state_reason.clone(),
        },
        _ => LastDeployment {
            outcome: DeploymentOutcome::InProgress,
            revision,
            reason: None,
        },
    })
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.url.as_deref().unwrap_or("no load balancer yet");
        writeln!(
            f,
            "app {} in {} (account {}): {url}\n",
            self.app, self.region, self.account
        )?;
        let rows: Vec<[String; 3]> = (self.resources.iter())
            .map(|r| [r.kind.to_string(), r.name.clone(), r.words()])
            .collect();
        table(f, &["RESOURCE", "NAME", "STATE"], &rows)?;
        for s in &self.services {
            writeln!(f)?;
            if s.exists {
                write!(f, "{s}")?;
            } else {
                writeln!(f, "service {}/{}: missing (run `pushdeploy up`)", s.cluster, s.service)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for ServiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let paused = if self.paused {
            "  PAUSED: automatic redeploys off until `pushdeploy resume`"
        } else {
            ""
        };
        writeln!(
            f,
            "service {}/{}: {}/{} running{paused}",
            self.cluster, self.service, self.running, self.desired
        )?;
        let line = |f: &mut fmt::Formatter<'_>, label: &str, text: &str| writeln!(f, "  {label:<10} {text}");
        line(f, "revision", self.task_definition.as_deref().unwrap_or("-"))?;
        line(f, "image", self.image.as_deref().unwrap_or("-"))?;
        line(f, "digest", self.digest.as_deref().unwrap_or("- (not pinned)"))?;
        line(f, "tag", self.tag.as_deref().unwrap_or("-"))?;
        if let Some(at) = &self.pushed_at {
            line(f, "pushed at", at)?;
        }
        for (label, text) in &self.detail_lines {
            line(f, label, text)?;
        }
        if let Some(traffic) = &self.traffic {
            line(f, "traffic", &traffic.to_string())?;
        }
        if let Some(rb) = &self.rolled_back {
            writeln!(f, "  ROLLED BACK: {rb}")?;
        }
        if let Some(last) = &self.last_deployment {
            writeln!(f, "  last deployment  {last}")?;
        }
        if !self.failed_before.is_empty() {
            writeln!(
                f,
                "  failed before    {} (never redeployed automatically; `pushdeploy deploy --force` on purpose)",
                self.failed_before.join(", ")
            )?;
        }
        for d in &self.deployments {
            let reason = (d.rollout_state_reason.as_deref())
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            writeln!(
                f,
                "  deployment {} {} {} {}/{} running, {} failed{reason}",
                d.status,
                short(&d.task_definition),
                d.state_words(),
                d.running,
                d.desired,
                d.failed_tasks
            )?;
        }
        for e in &self.events {
            line(f, "event", e)?;
        }
        Ok(())
    }
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
            rollout_state: match state {
                "COMPLETED" => Some(DeploymentRolloutState::Completed),
                "FAILED" => Some(DeploymentRolloutState::Failed),
                _ => Some(DeploymentRolloutState::InProgress),
            },
            rollout_state_reason: reason.map(str::to_string),
            running: 1,
            desired: 1,
            failed_tasks: 0,
        };
        assert_eq!(last_deployment(&[], None), None);
        let done = [d("PRIMARY", "web:7", "COMPLETED", None)];
        assert_eq!(
            last_deployment(&done, None).map(|l| l.to_string()).as_deref(),
            Some("completed: web:7")
        );
        let running = [
            d("PRIMARY", "web:8", "IN_PROGRESS", None),
            d("ACTIVE", "web:7", "COMPLETED", None),
        ];
        assert_eq!(
            last_deployment(&running, None).map(|l| l.to_string()).as_deref(),
            Some("in progress: web:8")
        );
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
            last_deployment(&failing, None).map(|l| l.to_string()).as_deref(),
            Some("failed: web:8 (ECS deployment circuit breaker: tasks failed to start.)")
        );
        assert_eq!(
            last_deployment(&done, Some(&RolledBackBy::CircuitBreaker))
                .unwrap()
                .outcome,
            DeploymentOutcome::Failed
        );
        assert_eq!(
            last_deployment(&done, Some(&RolledBackBy::Person)).unwrap().outcome,
            DeploymentOutcome::Completed
        );
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
            person_rollback("by=arn:aws:iam::1:user/alice at=2026-11-26T10:00:00Z from=demo-web:7 to=demo-web:6");
        assert_eq!(
            text,
            "rolled back by arn:aws:iam::1:user/alice at 2026-11-26T10:00:00Z from demo-web:7 to demo-web:6; automatic redeploys paused until `pushdeploy resume`"
        );
        assert!(person_rollback("true").contains("pushdeploy:paused=true"));
    }
}
