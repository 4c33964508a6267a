//! `pushdeploy approve` and `pushdeploy reject`: answer a deployment that waits for approval
//! before production traffic moves (`approve_before_production`). ECS paused it at a pause hook;
//! approving continues it (ContinueServiceDeployment CONTINUE), rejecting rolls it back
//! (ROLLBACK: production traffic never reached the new revision). ECS developer guide, "Pause
//! hooks for Amazon ECS service deployments".

use std::fmt;
use std::process::ExitCode;

use aws_sdk_ecs::types::DeploymentLifecycleHookAction;
use serde::Serialize;

use crate::app_file::App;
use crate::cli::{GlobalArgs, ServiceArgs};
use crate::context::Context;
use crate::error::{aws, CliError};
use crate::output::print;
use crate::rollout::short;

/// What an answer did.
#[derive(Debug, Serialize)]
pub struct Answered {
    /// Cluster name.
    pub cluster: String,
    /// Service name.
    pub service: String,
    /// The service deployment answered.
    pub deployment: String,
    /// The revision it deploys (`family:N`).
    pub revision: Option<String>,
    /// `approved` or `rejected`.
    pub answer: &'static str,
}

impl fmt::Display for Answered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let revision = self.revision.as_deref().unwrap_or("the new revision");
        match self.answer {
            "approved" => writeln!(
                f,
                "approved: {}/{} moves production traffic to {revision}; `pushdeploy status` shows the steps",
                self.cluster, self.service
            ),
            _ => writeln!(
                f,
                "rejected: ECS rolls {}/{} back; production traffic stays where it was and {revision} stops",
                self.cluster, self.service
            ),
        }
    }
}

/// `pushdeploy approve` (CONTINUE) or `pushdeploy reject` (ROLLBACK).
pub async fn run(args: ServiceArgs, global: &GlobalArgs, approve: bool) -> Result<ExitCode, CliError> {
    let app = App::load(args.app.file.as_deref(), args.app.app.as_deref())?;
    app.service(&args.service)?;
    let ctx = Context::connect(global, app.file.region.as_deref()).await?;
    ctx.announce(&app).await?;
    let answered = answer(&ctx, &app, &args.service, approve).await?;
    print(ctx.output, &answered)?;
    Ok(ExitCode::SUCCESS)
}

/// Finds the service's deployment waiting at a pause hook and answers it.
///
/// IAM: `ecs:ListServiceDeployments`, `ecs:DescribeServiceDeployments`,
/// `ecs:ContinueServiceDeployment`. A rerun (or the SDK's resend after a lost answer) that finds
/// the hook already carrying this answer reports it answered.
pub async fn answer(ctx: &Context, app: &App, service: &str, approve: bool) -> Result<Answered, CliError> {
    let cluster = app.names.cluster();
    let waiting = |why: String| CliError::NotAwaitingApproval {
        service: service.to_string(),
        why,
    };
    if !app.service(service)?.spec.deployment.approve_before_production {
        return Err(waiting(
            "it does not pause for approval: set `approve_before_production = true` under its [services.deployment] (blue-green, canary or linear) and run `pushdeploy up`".into(),
        ));
    }
    let (status, running) = crate::ecs::deployment_in_progress(ctx, &cluster, service).await?;
    let Some(deployment) = running.as_ref() else {
        let state = status.as_ref().map_or("none", |s| s.as_str());
        return Err(waiting(format!("no deployment is in progress (the newest: {state})")));
    };
    let arn = deployment.service_deployment_arn().unwrap_or_default();
    let hook = (deployment.lifecycle_hook_details().iter()).find(|h| crate::ecs::is_awaiting(h));
    let Some(hook_id) = hook.and_then(|h| h.hook_id()) else {
        let stage = deployment.lifecycle_stage().map_or("unknown", |s| s.as_str());
        return Err(waiting(format!(
            "its deployment is at stage {stage} and waits for nobody"
        )));
    };
    // Read before answering: once ECS has the answer, a failed read must not look like a failed
    // answer.
    let revision = revision_of(ctx, deployment).await?;
    let action = if approve {
        DeploymentLifecycleHookAction::Continue
    } else {
        DeploymentLifecycleHookAction::Rollback
    };
    let sent = (ctx.ecs().continue_service_deployment())
        .service_deployment_arn(arn)
        .hook_id(hook_id)
        .action(action)
        .send()
        .await;
    match sent {
        Ok(_) => {}
        // ECS refuses an answer to a hook no longer awaiting one (InvalidParameterException, or
        // the generic ClientException: the API reference lists both and says not which). When the
        // SDK resent a call whose answer was lost (a 5xx, a dropped connection) that hook is
        // answered already, maybe by the lost call: the hook's state says whether it carries
        // this answer; if not, ECS's refusal stands.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_invalid_parameter_exception() || s.is_client_exception()) =>
        {
            if !answered_as(ctx, arn, hook_id, approve).await? {
                return Err(aws("ecs:ContinueServiceDeployment", e));
            }
        }
        Err(e) => return Err(aws("ecs:ContinueServiceDeployment", e)),
    }
    Ok(Answered {
        cluster,
        service: service.to_string(),
        deployment: arn.to_string(),
        revision,
        answer: if approve { "approved" } else { "rejected" },
    })
}

/// Whether the deployment's hook `hook_id` carries this answer: SUCCEEDED after CONTINUE; after
/// ROLLBACK, FAILED or the deployment rolling back.
///
/// IAM: `ecs:DescribeServiceDeployments`.
async fn answered_as(ctx: &Context, arn: &str, hook_id: &str, approve: bool) -> Result<bool, CliError> {
    use aws_sdk_ecs::types::DeploymentLifecycleHookStatus as Hook;
    let Some(deployment) = crate::ecs::describe_deployment(ctx, arn).await? else {
        return Ok(false);
    };
    let hook = (deployment.lifecycle_hook_details().iter())
        .find(|h| h.hook_id() == Some(hook_id))
        .and_then(|h| h.status());
    Ok(if approve {
        hook == Some(&Hook::Succeeded)
    } else {
        hook == Some(&Hook::Failed) || deployment.status().is_some_and(|s| s.as_str().starts_with("ROLLBACK_"))
    })
}

/// The task definition (`family:N`) of the deployment's target revision.
///
/// IAM: `ecs:DescribeServiceRevisions`.
async fn revision_of(
    ctx: &Context,
    deployment: &aws_sdk_ecs::types::ServiceDeployment,
) -> Result<Option<String>, CliError> {
    let Some(arn) = deployment.target_service_revision().and_then(|r| r.arn()) else {
        return Ok(None);
    };
    Ok(crate::ecs::revision_task_definition(ctx, arn)
        .await?
        .map(|t| short(&t).to_string()))
}
