//! The load balancer's listeners: HTTP on :80 forwarding to the first service, or, when the app
//! has a certificate, redirecting to HTTPS on :443, which forwards. The other services' rules
//! live on the listener that forwards (see `listener_rule`). A blue-green, canary or linear
//! service with a `test_port` has a test listener of its own there, whose default rule ECS moves
//! to the new revision at the test traffic stage.

use std::fmt;

use aws_sdk_elasticloadbalancingv2::types::{
    Action as ElbAction, ActionTypeEnum, Certificate, ForwardActionConfig, Listener as ElbListener, ProtocolEnum,
    RedirectActionConfig, RedirectActionStatusCodeEnum, Rule as ElbRule, Tag, TargetGroupTuple,
};

use super::facts::{need, Facts, GroupRole};
use super::model::{After, Resource, APP_TAG};
use super::security_group;
use crate::app_file::{App, AppService};
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::progress::Step;

/// TLS policy of the HTTPS listener.
pub const SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/// What a listener (or rule) does with a request, comparable across the API's two shapes of a
/// forward (`TargetGroupArn`, or one target group in `ForwardConfig`).
#[derive(Debug, Clone, Eq)]
pub enum Action {
    /// Forward to this target group (`None`: one `up` has yet to create).
    Forward(Option<String>),
    /// Forward to a blue-green, canary or linear service's two target groups, with the weights
    /// ECS moves at each deployment (so any weights, and either order, are the same action).
    Shared(Option<String>, Option<String>),
    /// Redirect to HTTPS on 443.
    RedirectToHttps,
    /// Anything else a user set.
    Other(String),
}

impl PartialEq for Action {
    fn eq(&self, other: &Action) -> bool {
        match (self, other) {
            (Action::Forward(a), Action::Forward(b)) => a == b,
            (Action::Other(a), Action::Other(b)) => a == b,
            (Action::Shared(a, b), Action::Shared(c, d)) => (a, b) == (c, d) || (a, b) == (d, c),
            (Action::RedirectToHttps, Action::RedirectToHttps) => true,
            _ => false,
        }
    }
}

/// The target groups a forward sends to (by name) with their weights, as ECS last set them.
pub fn weights(actions: &[ElbAction]) -> Vec<(String, i32)> {
    let Some(config) = actions.first().and_then(|a| a.forward_config()) else {
        return Vec::new();
    };
    (config.target_groups().iter())
        .filter_map(|t| {
            let arn = t.target_group_arn()?;
            Some((short_name(arn).to_string(), t.weight().unwrap_or(1)))
        })
        .collect()
}

/// `arn:...:targetgroup/<name>/<id>` as its name.
pub fn short_name(arn: &str) -> &str {
    arn.split('/').nth(1).unwrap_or(arn)
}

/// The rule a listener applies when no other matches: the one ECS takes as the production rule
/// of the first service when that service is blue-green, canary or linear.
///
/// IAM: `elasticloadbalancing:DescribeRules`.
pub async fn default_rule(ctx: &Context, listener_arn: &str) -> Result<ElbRule, CliError> {
    let out = ctx
        .elbv2()
        .describe_rules()
        .listener_arn(listener_arn)
        .send()
        .await
        .map_err(|e| aws("elasticloadbalancing:DescribeRules", e))?;
    (out.rules().iter())
        .find(|r| r.is_default() == Some(true) && r.rule_arn().is_some())
        .cloned()
        .ok_or_else(|| missing("elasticloadbalancing:DescribeRules", "the default rule"))
}

impl Action {
    /// What a rule forwarding to a service's group (or, for a blue-green, canary or linear one,
    /// to both its groups) does.
    pub fn to_service(facts: &Facts, service: &str, staged: bool) -> Action {
        let primary = facts.target_groups.get(service).cloned();
        if staged {
            Action::Shared(primary, facts.alternate_target_groups.get(service).cloned())
        } else {
            Action::Forward(primary)
        }
    }

    /// What the first of `actions` does.
    pub fn of(actions: &[ElbAction]) -> Action {
        match actions.first() {
            Some(a) if a.r#type() == Some(&ActionTypeEnum::Forward) && a.target_group_arn().is_none() => {
                if let [one, two] = a.forward_config().map(|f| f.target_groups()).unwrap_or_default() {
                    return Action::Shared(
                        one.target_group_arn().map(str::to_string),
                        two.target_group_arn().map(str::to_string),
                    );
                }
                let single = a.forward_config().and_then(|f| match f.target_groups() {
                    [one] => one.target_group_arn().map(str::to_string),
                    _ => None,
                });
                Action::Forward(single)
            }
            Some(a) if a.r#type() == Some(&ActionTypeEnum::Forward) => {
                let single = a.forward_config().and_then(|f| match f.target_groups() {
                    [one] => one.target_group_arn().map(str::to_string),
                    _ => None,
                });
                Action::Forward(a.target_group_arn().map(str::to_string).or(single))
            }
            Some(a) if a.r#type() == Some(&ActionTypeEnum::Redirect) => {
                let r = a.redirect_config();
                if r.and_then(|r| r.protocol()) == Some("HTTPS") && r.and_then(|r| r.port()) == Some("443") {
                    Action::RedirectToHttps
                } else {
                    Action::Other("redirect".into())
                }
            }
            Some(a) => Action::Other(a.r#type().map_or("unknown".into(), |t| t.as_str().to_string())),
            None => Action::Other("none".into()),
        }
    }

    /// The action for the API. Only called with a facts target group.
    pub fn to_elb(&self) -> Result<ElbAction, CliError> {
        match self {
            Action::Forward(Some(tg)) => Ok(ElbAction::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(tg)
                .build()),
            // The service's tasks are in the first group: it takes all traffic until ECS moves it.
            Action::Shared(Some(primary), Some(alternate)) => Ok(ElbAction::builder()
                .r#type(ActionTypeEnum::Forward)
                .forward_config(
                    ForwardActionConfig::builder()
                        .target_groups(
                            TargetGroupTuple::builder()
                                .target_group_arn(primary)
                                .weight(100)
                                .build(),
                        )
                        .target_groups(
                            TargetGroupTuple::builder()
                                .target_group_arn(alternate)
                                .weight(0)
                                .build(),
                        )
                        .build(),
                )
                .build()),
            Action::Forward(None) | Action::Shared(..) | Action::Other(_) => Err(CliError::NotCreated {
                what: "the service's target group".into(),
            }),
            Action::RedirectToHttps => Ok(ElbAction::builder()
                .r#type(ActionTypeEnum::Redirect)
                .redirect_config(
                    RedirectActionConfig::builder()
                        .protocol("HTTPS")
                        .port("443")
                        .status_code(RedirectActionStatusCodeEnum::Http301)
                        .build(),
                )
                .build()),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // `arn:...:targetgroup/<name>/<id>` reads best as its name.
            Action::Forward(Some(tg)) => write!(f, "forward {}", short_name(tg)),
            Action::Forward(None) => write!(f, "forward (new target group)"),
            Action::Shared(a, b) => {
                let name = |tg: &Option<String>| tg.as_deref().map_or("(new target group)", short_name).to_string();
                write!(f, "forward {} + {}", name(a), name(b))
            }
            Action::RedirectToHttps => write!(f, "redirect HTTPS:443"),
            Action::Other(what) => write!(f, "{what}"),
        }
    }
}

/// How a listener differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// Its default action.
    DefaultAction {
        /// Now.
        have: Action,
        /// Wanted.
        want: Action,
    },
    /// Its certificate (HTTPS).
    Certificate {
        /// Now.
        have: Option<String>,
        /// Wanted.
        want: String,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::DefaultAction { have, want } => write!(f, "default action {have} -> {want}"),
            Drift::Certificate { have, want } => {
                write!(f, "certificate {} -> {want}", have.as_deref().unwrap_or("none"))
            }
        }
    }
}

/// One of the app's listeners.
#[derive(Debug, Clone)]
pub struct Listener {
    port: i32,
    certificate: Option<String>,
    redirect: bool,
    default_service: String,
    /// Whether the first service is blue-green, canary or linear (forwarded to both its groups).
    default_staged: bool,
    /// A test listener (of `default_service`).
    test: bool,
    app: String,
}

impl Listener {
    /// HTTP on :80: forwards, or redirects to HTTPS when the app has a certificate.
    pub fn http(app: &App) -> Listener {
        Listener {
            port: 80,
            certificate: None,
            redirect: app.file.certificate_arn.is_some(),
            default_service: app.file.services[0].name.clone(),
            default_staged: app.file.services[0].deployment.is_staged(),
            test: false,
            app: app.name.clone(),
        }
    }

    /// HTTPS on :443 with the app's certificate.
    pub fn https(app: &App) -> Listener {
        Listener {
            port: 443,
            certificate: app.file.certificate_arn.clone(),
            redirect: false,
            ..Listener::http(app)
        }
    }

    /// The test listener of a blue-green, canary or linear service with a `test_port`: HTTP,
    /// forwarding to both its groups.
    pub fn test(app: &App, service: &AppService) -> Option<Listener> {
        let port = service.spec.deployment.test_port?;
        service.spec.deployment.is_staged().then(|| Listener {
            port: i32::from(port),
            certificate: None,
            redirect: false,
            default_service: service.spec.name.clone(),
            default_staged: true,
            test: true,
            app: app.name.clone(),
        })
    }

    fn want(&self, facts: &Facts) -> Action {
        if self.redirect {
            Action::RedirectToHttps
        } else {
            Action::to_service(facts, &self.default_service, self.default_staged)
        }
    }
}

/// Each target group's share of what a forward sends, percent (its weight over their sum).
pub fn shares(actions: &[ElbAction]) -> Vec<(String, i32)> {
    let weights = weights(actions);
    let total: i32 = weights.iter().map(|(_, w)| w).sum();
    (weights.into_iter())
        .map(|(name, weight)| (name, weight * 100 / total.max(1)))
        .collect()
}

/// Each target group's share in words (`pd-shop-web-a 90% / pd-shop-web-b 10%`), empty when
/// `actions` forward to no weighted groups.
pub fn shares_words(actions: &[ElbAction]) -> String {
    let parts: Vec<String> = (shares(actions).iter())
        .map(|(name, percent)| format!("{name} {percent}%"))
        .collect();
    parts.join(" / ")
}

/// What `actions` do, with the weights when they forward to two groups.
pub fn shown(actions: &[ElbAction]) -> String {
    match Action::of(actions) {
        Action::Shared(..) => format!("forward {}", shares_words(actions)),
        other => other.to_string(),
    }
}

/// The listeners of a load balancer.
///
/// IAM: `elasticloadbalancing:DescribeListeners`.
pub async fn listeners(ctx: &Context, load_balancer_arn: &str) -> Result<Vec<ElbListener>, CliError> {
    let mut all = Vec::new();
    let mut pages = ctx
        .elbv2()
        .describe_listeners()
        .load_balancer_arn(load_balancer_arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        all.extend(
            page.map_err(|e| aws("elasticloadbalancing:DescribeListeners", e))?
                .listeners
                .unwrap_or_default(),
        );
    }
    Ok(all)
}

async fn find(ctx: &Context, load_balancer_arn: &str, port: i32) -> Result<Option<ElbListener>, CliError> {
    Ok(listeners(ctx, load_balancer_arn)
        .await?
        .into_iter()
        .find(|l| l.port() == Some(port)))
}

/// Deletes `listener` (its rules go with it); one already gone counts as deleted.
///
/// IAM: `elasticloadbalancing:DeleteListener`.
async fn delete_listener(ctx: &Context, listener: &ElbListener) -> Result<(), CliError> {
    match ctx.elbv2().delete_listener().listener_arn(arn(listener)?).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_listener_not_found_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(aws("elasticloadbalancing:DeleteListener", e)),
    }
}

fn arn(listener: &ElbListener) -> Result<&str, CliError> {
    listener
        .listener_arn()
        .ok_or_else(|| missing("elasticloadbalancing:DescribeListeners", "ListenerArn"))
}

impl Resource for Listener {
    type Observed = ElbListener;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "listener"
    }

    /// What it is converged after. The load balancer, the target groups it forwards to and
    /// the security group its port opens in.
    fn after(&self) -> After {
        After::Kinds(&["load balancer", "target group", "security group"])
    }

    fn name(&self) -> String {
        let protocol = if self.certificate.is_some() { "HTTPS" } else { "HTTP" };
        match self.test {
            true => format!("{protocol} :{} (test, {})", self.port, self.default_service),
            false => format!("{protocol} :{}", self.port),
        }
    }

    async fn observe(&self, ctx: &Context, facts: &Facts) -> Result<Option<ElbListener>, CliError> {
        let Some(lb) = &facts.load_balancer else {
            return Ok(None);
        };
        find(ctx, &lb.arn, self.port).await
    }

    fn diff(&self, listener: &ElbListener, facts: &Facts) -> Vec<Drift> {
        let mut drift = Vec::new();
        let (have, want) = (Action::of(listener.default_actions()), self.want(facts));
        if have != want {
            drift.push(Drift::DefaultAction { have, want });
        }
        if let Some(want) = &self.certificate {
            let have = listener
                .certificates()
                .first()
                .and_then(|c| c.certificate_arn())
                .map(str::to_string);
            if have.as_ref() != Some(want) {
                drift.push(Drift::Certificate {
                    have,
                    want: want.clone(),
                });
            }
        }
        drift
    }

    /// IAM: `elasticloadbalancing:CreateListener`, `elasticloadbalancing:AddTags`.
    async fn create(&self, ctx: &Context, facts: &Facts, _step: &Step) -> Result<ElbListener, CliError> {
        let lb = need(facts.load_balancer.as_ref(), "the load balancer")?;
        let mut call = ctx
            .elbv2()
            .create_listener()
            .load_balancer_arn(&lb.arn)
            .port(self.port)
            .default_actions(self.want(facts).to_elb()?)
            .tags(Tag::builder().key(APP_TAG).value(&self.app).build());
        call = match &self.certificate {
            Some(cert) => call
                .protocol(ProtocolEnum::Https)
                .certificates(Certificate::builder().certificate_arn(cert).build())
                .ssl_policy(SSL_POLICY),
            None => call.protocol(ProtocolEnum::Http),
        };
        match call.send().await {
            Ok(out) => out
                .listeners
                .unwrap_or_default()
                .into_iter()
                .next()
                .ok_or_else(|| missing("elasticloadbalancing:CreateListener", "Listeners")),
            // Created by a run that was cut short after sending.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_duplicate_listener_exception()) =>
            {
                find(ctx, &lb.arn, self.port)
                    .await?
                    .ok_or_else(|| aws("elasticloadbalancing:CreateListener", e))
            }
            Err(e) => Err(aws("elasticloadbalancing:CreateListener", e)),
        }
    }

    /// IAM: `elasticloadbalancing:ModifyListener`.
    async fn apply(
        &self,
        ctx: &Context,
        listener: &ElbListener,
        drift: &[Drift],
        _: &Facts,
        _: &Step,
    ) -> Result<(), CliError> {
        let mut call = ctx.elbv2().modify_listener().listener_arn(arn(listener)?);
        for d in drift {
            call = match d {
                Drift::DefaultAction { want, .. } => call.default_actions(want.to_elb()?),
                Drift::Certificate { want, .. } => call
                    .protocol(ProtocolEnum::Https)
                    .certificates(Certificate::builder().certificate_arn(want).build())
                    .ssl_policy(SSL_POLICY),
            };
        }
        call.send()
            .await
            .map_err(|e| aws("elasticloadbalancing:ModifyListener", e))?;
        Ok(())
    }

    async fn delete(&self, ctx: &Context, listener: &ElbListener, _step: &Step) -> Result<(), CliError> {
        delete_listener(ctx, listener).await
    }

    fn record(&self, listener: &ElbListener, facts: &mut Facts) {
        if let Ok(arn) = arn(listener) {
            facts.listeners.insert(self.port, arn.to_string());
        }
    }

    fn state(&self, listener: &ElbListener, _facts: &Facts) -> Option<String> {
        Some(shown(listener.default_actions()))
    }
}

/// The app's test listeners no service of the file asks for any more (a `test_port` removed or
/// changed, a staged service gone from the file): they still forward to a service's target
/// groups, so `down` could not delete those, and `up` would leave a port open to nothing it
/// means. `up` deletes them after the services stopped naming their rules (it comes after the
/// services in the inventory), then closes the port in the load balancer's group (the rules `up`
/// opened for it, none of a user's); `down` deletes them with the rest. Every listener of the
/// load balancer but 80, 443 and the file's test ports.
#[derive(Debug, Clone)]
pub struct Leftovers {
    keep: Vec<i32>,
}

/// A listener `up` deletes, by port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover(i32);

impl fmt::Display for Leftover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "listener :{} no service tests on -> deleted, its port closed",
            self.0
        )
    }
}

impl Leftovers {
    /// The listeners `app`'s file keeps.
    pub fn new(app: &App) -> Leftovers {
        let mut keep = vec![80, 443];
        keep.extend(
            (app.file.services.iter())
                .filter(|s| s.deployment.is_staged())
                .filter_map(|s| s.deployment.test_port.map(i32::from)),
        );
        Leftovers { keep }
    }

    async fn delete_all(&self, ctx: &Context, found: &[ElbListener]) -> Result<(), CliError> {
        for listener in found {
            delete_listener(ctx, listener).await?;
        }
        Ok(())
    }
}

impl Resource for Leftovers {
    type Observed = Vec<ElbListener>;
    type Drift = Leftover;

    fn kind(&self) -> &'static str {
        "listener"
    }

    fn name(&self) -> String {
        "test listeners no service asks for".into()
    }

    fn wanted(&self) -> bool {
        false
    }

    async fn observe(&self, ctx: &Context, facts: &Facts) -> Result<Option<Vec<ElbListener>>, CliError> {
        let Some(lb) = &facts.load_balancer else {
            return Ok(None);
        };
        let found: Vec<ElbListener> = (listeners(ctx, &lb.arn).await?.into_iter())
            .filter(|l| l.port().is_some_and(|p| !self.keep.contains(&p)))
            .collect();
        Ok((!found.is_empty()).then_some(found))
    }

    fn diff(&self, found: &Vec<ElbListener>, _facts: &Facts) -> Vec<Leftover> {
        found.iter().filter_map(|l| l.port()).map(Leftover).collect()
    }

    async fn create(&self, _: &Context, _: &Facts, _: &Step) -> Result<Vec<ElbListener>, CliError> {
        Ok(Vec::new())
    }

    /// IAM: `elasticloadbalancing:DeleteListener`, `ec2:DescribeSecurityGroups`,
    /// `ec2:RevokeSecurityGroupIngress`.
    async fn apply(
        &self,
        ctx: &Context,
        found: &Vec<ElbListener>,
        _: &[Leftover],
        facts: &Facts,
        _: &Step,
    ) -> Result<(), CliError> {
        self.delete_all(ctx, found).await?;
        // Only once the listener is gone: nothing is left on the port to reach.
        if let Some(group) = facts.security_groups.get(&GroupRole::LoadBalancer) {
            for port in found.iter().filter_map(|l| l.port()) {
                security_group::close_port(ctx, group, port).await?;
            }
        }
        Ok(())
    }

    async fn delete(&self, ctx: &Context, found: &Vec<ElbListener>, _step: &Step) -> Result<(), CliError> {
        self.delete_all(ctx, found).await
    }

    fn record(&self, _: &Vec<ElbListener>, _: &mut Facts) {}

    fn state(&self, found: &Vec<ElbListener>, _facts: &Facts) -> Option<String> {
        let ports: Vec<String> = found.iter().filter_map(|l| l.port()).map(|p| format!(":{p}")).collect();
        Some(ports.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/pd-demo-web/abc";

    #[test]
    fn both_shapes_of_a_forward_are_the_same_action() {
        let plain = ElbAction::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn(TG)
            .build();
        let config = ElbAction::builder()
            .r#type(ActionTypeEnum::Forward)
            .forward_config(
                ForwardActionConfig::builder()
                    .target_groups(TargetGroupTuple::builder().target_group_arn(TG).build())
                    .build(),
            )
            .build();
        assert_eq!(Action::of(&[plain]), Action::of(&[config]));
        assert_eq!(Action::Forward(Some(TG.into())).to_string(), "forward pd-demo-web");
        assert_eq!(
            Action::of(&[Action::RedirectToHttps.to_elb().unwrap()]),
            Action::RedirectToHttps
        );
    }

    #[test]
    fn adding_a_certificate_turns_the_http_listener_into_a_redirect() {
        let mut file = crate::app_file::AppFile::default();
        file.certificate_arn = Some("arn:aws:acm:us-east-1:1:certificate/c".into());
        let app = App::resolve(file, Some("demo"), "defaults", None).unwrap();
        let mut facts = Facts::default();
        facts.target_groups.insert("web".into(), TG.into());
        let forwarding = ElbListener::builder()
            .port(80)
            .default_actions(Action::Forward(Some(TG.into())).to_elb().unwrap())
            .build();
        assert_eq!(
            Listener::http(&app).diff(&forwarding, &facts),
            [Drift::DefaultAction {
                have: Action::Forward(Some(TG.into())),
                want: Action::RedirectToHttps
            }]
        );
        let https = ElbListener::builder()
            .port(443)
            .default_actions(Action::Forward(Some(TG.into())).to_elb().unwrap())
            .build();
        assert_eq!(
            Listener::https(&app).diff(&https, &facts)[0].to_string(),
            "certificate none -> arn:aws:acm:us-east-1:1:certificate/c"
        );
    }
}
