//! Following an ECS rollout to its end: `deploy --wait` and `rollback --wait` exit 0 only when
//! the deployment they started COMPLETED, and [`EXIT_FAILED`] when ECS failed it or rolled it
//! back, with ECS's reason.

use std::time::Duration;

use std::process::ExitCode;

use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, Service as EcsService, ServiceDeploymentLifecycleStage};
use pushdeploy::ecs_status::DeploymentStatus;
use pushdeploy::event::{DeploymentChange, DeploymentEnd};
use pushdeploy::outcome::Reason;
use pushdeploy::{Action, Engine, Outcome};

use crate::app_file::{App, Shift};
use crate::cli::WaitUntil;
use crate::context::Context;
use crate::ecs::describe_service;
use crate::error::{missing, CliError};
use crate::poll::{until, Poll, Wait};
use crate::progress::{Progress, Step};
use crate::resources::service::shift_of;

/// Exit status when the followed deployment failed or was rolled back (1 is any other error,
/// a timeout included).
pub const EXIT_FAILED: u8 = 3;

/// How a followed rollout ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutEnd {
    /// The deployment reached a steady state.
    Completed {
        /// ECS's deployment id.
        deployment: String,
    },
    /// ECS failed it (circuit breaker, alarm): its `rolloutStateReason`.
    Failed {
        /// ECS's deployment id.
        deployment: String,
        /// ECS's words.
        reason: String,
    },
    /// All production traffic is on it; ECS still bakes it (`--wait-until shifted`).
    Shifted {
        /// ECS's deployment id.
        deployment: String,
    },
    /// It is gone and the service runs another revision: rolled back, or replaced by a newer
    /// deployment.
    Replaced {
        /// ECS's deployment id.
        deployment: String,
        /// The revision the service runs now.
        running: String,
    },
}

/// What one look at the service says about the deployment of `task_definition` (whose id is
/// `known` once seen).
pub fn judge(deployments: &[Deployment], task_definition: &str, known: Option<&str>) -> Poll<RolloutEnd> {
    let ours = deployments.iter().find(|d| match known {
        Some(id) => d.id() == Some(id),
        None => d.task_definition() == Some(task_definition),
    });
    let Some(d) = ours else {
        let primary = (deployments.iter()).find(|d| DeploymentStatus::of(d) == DeploymentStatus::Primary);
        return match (known, primary.and_then(|p| p.task_definition())) {
            (Some(id), Some(running)) if running != task_definition => Poll::Done(RolloutEnd::Replaced {
                deployment: id.to_string(),
                running: running.to_string(),
            }),
            _ => Poll::Pending("not started".into()),
        };
    };
    let id = d.id().unwrap_or_default().to_string();
    match d.rollout_state() {
        Some(DeploymentRolloutState::Completed) => Poll::Done(RolloutEnd::Completed { deployment: id }),
        Some(DeploymentRolloutState::Failed) => Poll::Done(RolloutEnd::Failed {
            deployment: id,
            reason: d.rollout_state_reason().unwrap_or("ECS gave no reason").to_string(),
        }),
        state => Poll::Pending(format!(
            "{id} {} ({} of {} running)",
            state.map_or("IN_PROGRESS", DeploymentRolloutState::as_str),
            d.running_count(),
            d.desired_count()
        )),
    }
}

/// Lifecycle stages after which all production traffic is on the new revision.
const SHIFTED: &[ServiceDeploymentLifecycleStage] = &[
    ServiceDeploymentLifecycleStage::PostProductionTrafficShift,
    ServiceDeploymentLifecycleStage::BakeTime,
    ServiceDeploymentLifecycleStage::CleanUp,
];

/// A blue-green, canary or linear deployment's stage in words, with the production weights and
/// the bake time left (whole minutes, so a long bake reports once a minute), and whether
/// production traffic is all on the new revision, from its service-deployment record; `None`
/// for a rolling one.
///
/// IAM: `ecs:ListServiceDeployments`, `ecs:DescribeServiceDeployments`,
/// `elasticloadbalancing:DescribeRules`.
async fn stage_of(ctx: &Context, cluster: &str, service: &EcsService) -> Result<Option<(String, bool)>, CliError> {
    let shift = shift_of(service.deployment_configuration());
    if shift == Shift::Rolling {
        return Ok(None);
    }
    let name = service.service_name().unwrap_or_default();
    let (_, running) = crate::ecs::deployment_in_progress(ctx, cluster, name).await?;
    let Some(deployment) = running else { return Ok(None) };
    let stage = deployment.lifecycle_stage();
    let waiting = crate::ecs::awaits_answer(&deployment);
    let mut words = match (stage, waiting) {
        (_, true) => "waiting for `pushdeploy approve` (or `reject`)".to_string(),
        (Some(stage), false) => stage.as_str().to_string(),
        (None, false) => "starting".to_string(),
    };
    let rule =
        (service.load_balancers().first()).and_then(|lb| lb.advanced_configuration()?.production_listener_rule());
    // Shown when they can be read: a deploy role without DescribeRules still waits.
    if let Some(rule) = rule {
        if let Ok(weights) = crate::traffic::rule_weights(ctx, rule).await {
            if !weights.is_empty() {
                words = format!("{words}, production {weights}");
            }
        }
    }
    if stage == Some(&ServiceDeploymentLifecycleStage::BakeTime) {
        if let Some(left) = crate::traffic::bake_left(shift, deployment.updated_at()) {
            words = format!("{words}, {} min of bake time left", left.div_ceil(60));
        }
    }
    Ok(Some((words, stage.is_some_and(|s| SHIFTED.contains(s)))))
}

/// Polls the service until the deployment of `task_definition` ends (or, with
/// [`WaitUntil::Shifted`], carries all production traffic), or `limit` passes.
///
/// IAM: `ecs:DescribeServices`, and for a blue-green, canary or linear service what
/// `stage_of` needs.
pub async fn follow(
    ctx: &Context,
    cluster: &str,
    service: &str,
    task_definition: &str,
    limit: Duration,
    wait_until: WaitUntil,
    step: &Step,
) -> Result<RolloutEnd, CliError> {
    let wait = Wait::new(
        format!("the deployment of {} on {cluster}/{service}", short(task_definition)),
        limit,
        "`pushdeploy status` shows the rollout; ECS's service events say why it is slow",
    );
    let (known, last) = (
        &std::cell::RefCell::new(None::<String>),
        &std::cell::RefCell::new(String::new()),
    );
    until(&wait, step, || async move {
        let svc = describe_service(ctx, cluster, service).await?.ok_or_else(|| {
            CliError::Engine(pushdeploy::Error::ServiceNotFound {
                cluster: cluster.to_string(),
                service: service.to_string(),
            })
        })?;
        if svc.deployments.is_none() {
            return Err(missing("ecs:DescribeServices", "deployments"));
        }
        let mut look = judge(svc.deployments(), task_definition, known.borrow().as_deref());
        if known.borrow().is_none() {
            *known.borrow_mut() = svc
                .deployments()
                .iter()
                .find(|d| d.task_definition() == Some(task_definition))
                .and_then(|d| d.id().map(str::to_string));
        }
        if let (Poll::Pending(state), Some(id)) = (&look, known.borrow().clone()) {
            if let Some((stage, shifted)) = stage_of(ctx, cluster, &svc).await? {
                look = match (wait_until, shifted) {
                    (WaitUntil::Shifted, true) => Poll::Done(RolloutEnd::Shifted { deployment: id }),
                    _ => Poll::Pending(format!("{state}, {stage}")),
                };
            }
        }
        if let Poll::Pending(state) = &look {
            if *last.borrow() != *state {
                step.report(state);
                *last.borrow_mut() = state.clone();
            }
        }
        Ok(look)
    })
    .await
}

/// How a followed deployment ended: its outcomes (`completed` or `failed`) and the exit status.
pub struct Ended {
    /// The outcome lines, as the function prints them for the deployment's event.
    pub outcome: Vec<Outcome>,
    /// 0, or [`EXIT_FAILED`].
    pub exit: ExitCode,
}

/// Follows the deployment of `task_definition` to its end. A failure is remembered on the
/// service exactly as the function remembers it from ECS's event, so no push, replay or sync
/// deploys that image again (`--force` does); the reason is ECS's.
pub async fn wait_for(
    ctx: &Context,
    app: &App,
    cluster: &str,
    service: &str,
    task_definition: &str,
    limit: Duration,
    until: WaitUntil,
) -> Result<Ended, CliError> {
    let progress = Progress::new(ctx);
    let step = progress.step(&format!("rollout of {} on {cluster}/{service}", short(task_definition)));
    let end = match follow(ctx, cluster, service, task_definition, limit, until, &step).await {
        Ok(end) => end,
        Err(e) => {
            step.failed();
            return Err(e);
        }
    };
    let engine = Engine::from_clients(ctx.engine_clients(), app.names.config_parameter(), Duration::ZERO);
    let (deployment, ended, reason) = match &end {
        RolloutEnd::Completed { deployment } => {
            step.done("COMPLETED");
            (deployment, DeploymentEnd::Completed, String::new())
        }
        RolloutEnd::Failed { deployment, reason } => {
            step.done(&format!("FAILED: {reason}"));
            (deployment, DeploymentEnd::Failed, reason.clone())
        }
        RolloutEnd::Shifted { deployment } => {
            step.done("production traffic shifted");
            return Ok(early_end(cluster, service, task_definition, deployment, None));
        }
        RolloutEnd::Replaced { deployment, running } => {
            step.done(&format!("gone: the service runs {} now", short(running)));
            return Ok(early_end(cluster, service, task_definition, deployment, Some(running)));
        }
    };
    let change = DeploymentChange {
        cluster: cluster.to_string(),
        service: service.to_string(),
        deployment_id: deployment.clone(),
        end: ended,
        reason,
        at: Some(chrono::Utc::now()),
    };
    let mut outcome = engine.deployment_outcome(&change).await?;
    if let Some(o) = outcome.first_mut() {
        // A service outside the routing config (rolled back by hand, say) still has an end.
        if o.action == Action::Skipped {
            o.action = if ended == DeploymentEnd::Completed {
                Action::Completed
            } else {
                Action::Failed
            };
            o.task_definition = Some(task_definition.to_string());
        }
    }
    // Never 0 for a rollback, whatever ECS calls its end.
    let rolled_back = outcome.iter().any(|o| o.action == Action::RolledBack);
    let exit = match ended {
        DeploymentEnd::Completed if !rolled_back => ExitCode::SUCCESS,
        _ => ExitCode::from(EXIT_FAILED),
    };
    Ok(Ended { outcome, exit })
}

/// The end of a followed deployment that ECS has not ended: all production traffic shifted
/// (`running` `None`: exit 0, ECS still bakes it), or replaced by the `running` revision (a
/// rollback or a newer deployment: exit [`EXIT_FAILED`]).
fn early_end(cluster: &str, service: &str, task_definition: &str, deployment: &str, running: Option<&String>) -> Ended {
    let words = match running {
        None => format!(
            "all production traffic is on {}; ECS bakes it before the deployment completes: `pushdeploy status` follows it",
            short(task_definition)
        ),
        Some(running) => format!("the deployment was rolled back or replaced: the service runs {running}"),
    };
    let mut outcome = Outcome::skipped(
        cluster,
        service,
        Reason::Ecs(words),
        Some(task_definition.to_string()),
        None,
    );
    outcome.action = if running.is_none() {
        Action::Deployed
    } else {
        Action::Failed
    };
    outcome.deployment = Some(deployment.to_string());
    Ended {
        outcome: vec![outcome],
        exit: if running.is_none() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_FAILED)
        },
    }
}

/// `arn:...:task-definition/shop-web:7` → `shop-web:7`.
pub fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::DeploymentRolloutState;

    const NEW: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/shop-web:8";
    const OLD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/shop-web:7";

    fn deployment(id: &str, status: &str, td: &str, state: DeploymentRolloutState, reason: &str) -> Deployment {
        Deployment::builder()
            .id(id)
            .status(status)
            .task_definition(td)
            .rollout_state(state)
            .rollout_state_reason(reason)
            .desired_count(2)
            .running_count(1)
            .build()
    }

    #[test]
    fn a_rollout_is_done_when_ecs_says_completed_or_failed_and_pending_otherwise() {
        let running = [deployment(
            "ecs-svc/1",
            "PRIMARY",
            NEW,
            DeploymentRolloutState::InProgress,
            "",
        )];
        assert!(matches!(judge(&running, NEW, None), Poll::Pending(s) if s.contains("1 of 2 running")));
        let done = [deployment(
            "ecs-svc/1",
            "PRIMARY",
            NEW,
            DeploymentRolloutState::Completed,
            "",
        )];
        assert_eq!(
            judge(&done, NEW, Some("ecs-svc/1")),
            Poll::Done(RolloutEnd::Completed {
                deployment: "ecs-svc/1".into()
            })
        );
        let failed = [
            deployment(
                "ecs-svc/2",
                "PRIMARY",
                OLD,
                DeploymentRolloutState::InProgress,
                "rolling back",
            ),
            deployment(
                "ecs-svc/1",
                "ACTIVE",
                NEW,
                DeploymentRolloutState::Failed,
                "ECS deployment circuit breaker: tasks failed to start.",
            ),
        ];
        assert_eq!(
            judge(&failed, NEW, Some("ecs-svc/1")),
            Poll::Done(RolloutEnd::Failed {
                deployment: "ecs-svc/1".into(),
                reason: "ECS deployment circuit breaker: tasks failed to start.".into()
            })
        );
    }

    #[test]
    fn a_deployment_gone_while_another_revision_runs_was_replaced() {
        let back = [deployment(
            "ecs-svc/0",
            "PRIMARY",
            OLD,
            DeploymentRolloutState::Completed,
            "",
        )];
        assert_eq!(
            judge(&back, NEW, Some("ecs-svc/1")),
            Poll::Done(RolloutEnd::Replaced {
                deployment: "ecs-svc/1".into(),
                running: OLD.into()
            })
        );
        assert!(
            matches!(judge(&back, NEW, None), Poll::Pending(_)),
            "not seen yet is not replaced"
        );
        let same = [deployment(
            "ecs-svc/9",
            "PRIMARY",
            NEW,
            DeploymentRolloutState::InProgress,
            "",
        )];
        assert!(matches!(judge(&same, NEW, Some("ecs-svc/1")), Poll::Pending(_)));
    }
}
