//! A deployment paused for approval (`ECS Hook State Change`, `HOOK_AWAITING_ACTION`): reported
//! as `awaiting-approval`, with the stage and when ECS stops waiting, from the service
//! deployment's typed record (ECS developer guide, "Pause hooks for Amazon ECS service
//! deployments"). Nothing is written: the pause is answered by `pushdeploy approve` or `reject`.

use aws_sdk_ecs::types::ServiceDeploymentStatus;
use aws_sdk_ecs::types::{DeploymentLifecycleHookStatus, DeploymentLifecycleHookTargetType, ServiceDeployment};
use aws_smithy_types::date_time::Format;

use crate::config::ServiceRoute;
use crate::engine::Engine;
use crate::error::{aws_error, Error};
use crate::event::HookPause;
use crate::outcome::{Action, Outcome, Pause, Reason};

/// The pause of `deployment`, when one of its pause hooks awaits an answer.
pub fn awaiting(deployment: &ServiceDeployment) -> Option<Pause> {
    let hook = deployment.lifecycle_hook_details().iter().find(|h| {
        h.target_type() == Some(&DeploymentLifecycleHookTargetType::Pause)
            && h.status() == Some(&DeploymentLifecycleHookStatus::AwaitingAction)
    })?;
    Some(Pause {
        service_deployment: deployment.service_deployment_arn()?.to_string(),
        stage: deployment.lifecycle_stage().map(|s| s.as_str().to_string()),
        expires_at: hook.expires_at().and_then(|t| t.fmt(Format::DateTime).ok()),
        timeout_action: hook.timeout_action().map(|a| a.as_str().to_string()),
    })
}

impl Engine {
    /// Reports the service's deployment that waits at a pause hook: `awaiting-approval`, or
    /// `skipped` when none waits any more (answered before this event arrived), `not-routed`
    /// for a service the routing config does not route.
    ///
    /// Calls: `DescribeServices`, `ListServiceDeployments` (in progress), `DescribeServiceDeployments`.
    pub async fn pause_outcome(&self, pause: &HookPause) -> Result<Vec<Outcome>, Error> {
        let config = self.config.get().await?;
        let routes: Vec<&ServiceRoute> = (config.services.iter())
            .filter(|r| r.cluster == pause.cluster && r.service == pause.service)
            .collect();
        if routes.is_empty() {
            return Ok(vec![Outcome::skipped(
                &pause.cluster,
                &pause.service,
                Reason::NotRouted,
                None,
                None,
            )]);
        }
        let service = self.describe_service(&pause.cluster, &pause.service).await?;
        let running = service.task_definition().map(str::to_string);
        // IAM: ecs:ListServiceDeployments on arn:aws:ecs:<region>:<account>:service/<cluster>/*
        let listed = (self.ecs.list_service_deployments())
            .cluster(&pause.cluster)
            .service(&pause.service)
            .status(ServiceDeploymentStatus::InProgress)
            .send()
            .await
            .map_err(|e| aws_error("ecs:ListServiceDeployments", e))?;
        let arns: Vec<String> = (listed.service_deployments().iter())
            .filter_map(|b| b.service_deployment_arn().map(str::to_string))
            .collect();
        let mut waiting = None;
        if !arns.is_empty() {
            // IAM: ecs:DescribeServiceDeployments on the service and its service-deployment ARNs
            let described = (self.ecs.describe_service_deployments())
                .set_service_deployment_arns(Some(arns))
                .send()
                .await
                .map_err(|e| aws_error("ecs:DescribeServiceDeployments", e))?;
            waiting = described.service_deployments().iter().find_map(awaiting);
        }
        let Some(found) = waiting else {
            let reason = Reason::Ecs("no deployment waits for approval any more".into());
            return Ok(vec![Outcome::skipped(
                &pause.cluster,
                &pause.service,
                reason,
                running,
                None,
            )]);
        };
        let mut outcome = Outcome::skipped(&pause.cluster, &pause.service, Reason::PauseHook, running, None);
        outcome.action = Action::AwaitingApproval;
        tracing::info!(cluster = %pause.cluster, service = %pause.service, deployment = %found.service_deployment,
            stage = ?found.stage, expires_at = ?found.expires_at,
            "a deployment waits for approval: `pushdeploy approve` or `pushdeploy reject`");
        outcome.pause = Some(found);
        Ok(vec![outcome])
    }
}
