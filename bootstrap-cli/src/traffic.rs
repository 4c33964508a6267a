//! Where a blue-green, canary or linear service's production traffic stands: the weights ECS set
//! on its rule (the listener's default rule for the first service), and, while a deployment
//! runs, its lifecycle stage and the bake time left. `status` shows it.

use std::time::SystemTime;

use aws_sdk_ecs::types::ServiceDeploymentLifecycleStage;
use aws_sdk_elasticloadbalancingv2::types::Action as ElbAction;
use serde::Serialize;

use crate::app_file::{App, AppService, Shift};
use crate::context::Context;
use crate::error::{aws, CliError};
use crate::resources::facts::Facts;
use crate::resources::listener::{default_rule, shares, shares_words};
use crate::resources::service::shift_words;

/// A staged service's traffic.
#[derive(Debug, Clone, Serialize)]
pub struct Traffic {
    /// The strategy and its times, in words.
    pub strategy: String,
    /// Each target group's share of production traffic, percent.
    pub weights: Vec<Weight>,
    /// The running deployment's lifecycle stage (`PRODUCTION_TRAFFIC_SHIFT`, `BAKE_TIME` ...).
    pub stage: Option<String>,
    /// Seconds of bake time left, during `BAKE_TIME`.
    pub bake_left_seconds: Option<u64>,
}

/// One target group's share.
#[derive(Debug, Clone, Serialize)]
pub struct Weight {
    /// Target group name.
    pub target_group: String,
    /// Percent of production traffic.
    pub percent: i32,
}

impl std::fmt::Display for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shares: Vec<String> = (self.weights.iter())
            .map(|w| format!("{} {}%", w.target_group, w.percent))
            .collect();
        let shares = if shares.is_empty() {
            "no weights yet".to_string()
        } else {
            shares.join(" / ")
        };
        write!(f, "{shares} ({})", self.strategy)?;
        if let Some(stage) = &self.stage {
            write!(f, ", deploying: {stage}")?;
        }
        if let Some(left) = self.bake_left_seconds {
            write!(f, ", {} min {} s of bake time left", left / 60, left % 60)?;
        }
        Ok(())
    }
}

/// The production rule's actions: the service's own rule, or the first service's listener's
/// default rule.
///
/// IAM: `elasticloadbalancing:DescribeRules`.
async fn production_actions(
    ctx: &Context,
    app: &App,
    service: &str,
    facts: &Facts,
) -> Result<Vec<ElbAction>, CliError> {
    let first = app.file.services.first().map(|s| s.name.as_str()) == Some(service);
    let port = if app.file.certificate_arn.is_some() { 443 } else { 80 };
    let rule = match (facts.production_rules.get(service), facts.listeners.get(&port)) {
        (Some(rule), _) => rule.clone(),
        // The listener's rules already carry the default rule's actions.
        (None, Some(listener)) if first => return Ok(default_rule(ctx, listener).await?.actions().to_vec()),
        _ => return Ok(Vec::new()),
    };
    rule_actions(ctx, &rule).await
}

/// The actions of the rule `rule_arn`.
///
/// IAM: `elasticloadbalancing:DescribeRules`.
async fn rule_actions(ctx: &Context, rule_arn: &str) -> Result<Vec<ElbAction>, CliError> {
    let out = (ctx.elbv2().describe_rules().rule_arns(rule_arn).send().await)
        .map_err(|e| aws("elasticloadbalancing:DescribeRules", e))?;
    Ok(out.rules().first().map(|r| r.actions().to_vec()).unwrap_or_default())
}

/// The traffic of `service`, when it is blue-green, canary or linear.
///
/// IAM: `elasticloadbalancing:DescribeRules`, `ecs:ListServiceDeployments`,
/// `ecs:DescribeServiceDeployments`.
pub async fn traffic(
    ctx: &Context,
    app: &App,
    service: &AppService,
    facts: &Facts,
) -> Result<Option<Traffic>, CliError> {
    let shift = service.spec.deployment.shift();
    let name = &service.spec.name;
    if shift == Shift::Rolling {
        return Ok(None);
    }
    let weights = (shares(&production_actions(ctx, app, name, facts).await?).into_iter())
        .map(|(target_group, percent)| Weight { target_group, percent })
        .collect();
    let mut traffic = Traffic {
        strategy: shift_words(shift),
        weights,
        stage: None,
        bake_left_seconds: None,
    };
    let (_, running) = crate::ecs::deployment_in_progress(ctx, &app.names.cluster(), name).await?;
    if let Some(deployment) = &running {
        let stage = deployment.lifecycle_stage();
        traffic.stage = stage.map(|s| s.as_str().to_string());
        if stage == Some(&ServiceDeploymentLifecycleStage::BakeTime) {
            traffic.bake_left_seconds = bake_left(shift, deployment.updated_at());
        }
    }
    Ok(Some(traffic))
}

/// The weights on the rule `rule_arn` in words (`pd-shop-web-a 90% / pd-shop-web-b 10%`), as
/// `deploy --wait` shows them.
///
/// IAM: `elasticloadbalancing:DescribeRules`.
pub async fn rule_weights(ctx: &Context, rule_arn: &str) -> Result<String, CliError> {
    Ok(shares_words(&rule_actions(ctx, rule_arn).await?))
}

/// Bake time left, counted from the deployment's last update (when it entered `BAKE_TIME`).
pub fn bake_left(shift: Shift, since: Option<&aws_smithy_types::DateTime>) -> Option<u64> {
    let bake = match shift {
        Shift::Rolling => return None,
        Shift::BlueGreen { bake } | Shift::Canary { bake, .. } | Shift::Linear { bake, .. } => u64::from(bake) * 60,
    };
    let since = SystemTime::try_from(*since?).ok()?;
    let gone = SystemTime::now().duration_since(since).unwrap_or_default().as_secs();
    Some(bake.saturating_sub(gone))
}
