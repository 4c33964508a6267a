//! One listener rule per service after the first (which takes the default action): its `path`
//! and/or `host` forward to its target group, on the listener that forwards (HTTPS when the app
//! has a certificate). Adding a certificate later moves the rules from :80 to :443. Rules carry
//! the app's tag.

use std::fmt;

use aws_sdk_elasticloadbalancingv2::types::{
    HostHeaderConditionConfig, PathPatternConditionConfig, Rule as ElbRule, RuleCondition, Tag,
};

use super::facts::{need, Facts};
use super::listener::Action;
use super::model::{After, Resource, APP_TAG};
use crate::app_file::{App, AppService};
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::progress::Step;

/// What a rule matches: a host, a path, or both (ELBv2 allows one of each per rule).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conditions {
    /// Host header pattern.
    pub host: Option<String>,
    /// Path pattern.
    pub path: Option<String>,
}

impl Conditions {
    /// What `conditions` match (the `Values` shape and the `*Config` shape alike).
    pub fn of(conditions: &[RuleCondition]) -> Conditions {
        let mut found = Conditions::default();
        for c in conditions {
            match c.field() {
                Some("host-header") => {
                    let values = c.host_header_config().map(|h| h.values().to_vec()).unwrap_or_default();
                    found.host = values.into_iter().chain(c.values().iter().cloned()).next();
                }
                Some("path-pattern") => {
                    let values = c.path_pattern_config().map(|p| p.values().to_vec()).unwrap_or_default();
                    found.path = values.into_iter().chain(c.values().iter().cloned()).next();
                }
                _ => {}
            }
        }
        found
    }

    fn to_elb(&self) -> Vec<RuleCondition> {
        let mut out = Vec::new();
        if let Some(host) = &self.host {
            out.push(
                RuleCondition::builder()
                    .field("host-header")
                    .host_header_config(HostHeaderConditionConfig::builder().values(host).build())
                    .build(),
            );
        }
        if let Some(path) = &self.path {
            out.push(
                RuleCondition::builder()
                    .field("path-pattern")
                    .path_pattern_config(PathPatternConditionConfig::builder().values(path).build())
                    .build(),
            );
        }
        out
    }
}

impl fmt::Display for Conditions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = [
            self.host.as_ref().map(|h| format!("host {h}")),
            self.path.as_ref().map(|p| format!("path {p}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        write!(f, "{}", parts.join(" & "))
    }
}

/// How a rule differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// What it matches.
    Conditions {
        /// Now.
        have: Conditions,
        /// Wanted.
        want: Conditions,
    },
    /// Where it forwards.
    Action {
        /// Now.
        have: Action,
        /// Wanted.
        want: Action,
    },
    /// It sits on the other listener (HTTP, after a certificate was added).
    Listener {
        /// Port now.
        have: i32,
        /// Port wanted.
        want: i32,
    },
    /// It lacks the app's tag.
    Untagged,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Conditions { have, want } => write!(f, "match {have} -> {want}"),
            Drift::Action { have, want } => write!(f, "{have} -> {want}"),
            Drift::Listener { have, want } => write!(f, "move from listener :{have} to :{want}"),
            Drift::Untagged => write!(f, "tag {APP_TAG}"),
        }
    }
}

/// A service's rule.
#[derive(Debug, Clone)]
pub struct ListenerRule {
    service: String,
    priority: i32,
    conditions: Conditions,
    port: i32,
    /// Whether the service is blue-green, canary or linear: the rule forwards to both its groups
    /// and ECS moves the weights.
    staged: bool,
    app: String,
}

impl ListenerRule {
    /// The rule of the `index`-th service (never the first: it is the default action).
    pub fn new(app: &App, service: &AppService, index: usize) -> ListenerRule {
        ListenerRule {
            service: service.spec.name.clone(),
            priority: (index * 10) as i32,
            conditions: Conditions {
                host: service.spec.host.clone(),
                path: service.spec.path.clone(),
            },
            port: if app.file.certificate_arn.is_some() { 443 } else { 80 },
            staged: service.spec.deployment.is_staged(),
            app: app.name.clone(),
        }
    }

    fn want_action(&self, facts: &Facts) -> Action {
        Action::to_service(facts, &self.service, self.staged)
    }

    fn tag(&self) -> Tag {
        Tag::builder().key(APP_TAG).value(&self.app).build()
    }

    /// IAM: `elasticloadbalancing:CreateRule`, `elasticloadbalancing:AddTags`.
    async fn create_on(&self, ctx: &Context, facts: &Facts) -> Result<Observed, CliError> {
        let listener = need(facts.listeners.get(&self.port), "the listener")?;
        let created = ctx
            .elbv2()
            .create_rule()
            .listener_arn(listener)
            .priority(self.priority)
            .set_conditions(Some(self.conditions.to_elb()))
            .actions(self.want_action(facts).to_elb()?)
            .tags(self.tag())
            .send()
            .await;
        match created {
            Ok(out) => Ok(Observed {
                rule: out
                    .rules
                    .unwrap_or_default()
                    .into_iter()
                    .next()
                    .ok_or_else(|| missing("elasticloadbalancing:CreateRule", "Rules"))?,
                port: self.port,
                tagged: true,
            }),
            // Created by a run that was cut short after sending: take it, `apply` converges it.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_priority_in_use_exception()) => self
                .find(ctx, facts)
                .await?
                .ok_or_else(|| aws("elasticloadbalancing:CreateRule", e)),
            Err(e) => Err(aws("elasticloadbalancing:CreateRule", e)),
        }
    }

    /// The rule at this priority on either listener, the wanted one first.
    ///
    /// IAM: `elasticloadbalancing:DescribeRules`, `elasticloadbalancing:DescribeTags`.
    async fn find(&self, ctx: &Context, facts: &Facts) -> Result<Option<Observed>, CliError> {
        let elb = ctx.elbv2();
        let mut ports: Vec<i32> = facts.listeners.keys().copied().collect();
        ports.sort_by_key(|p| *p != self.port);
        for port in ports {
            let mut pages = elb
                .describe_rules()
                .listener_arn(&facts.listeners[&port])
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws("elasticloadbalancing:DescribeRules", e))?;
                let found = page
                    .rules()
                    .iter()
                    .find(|r| r.priority() == Some(self.priority.to_string().as_str()));
                if let Some(rule) = found {
                    let arn = rule
                        .rule_arn()
                        .ok_or_else(|| missing("elasticloadbalancing:DescribeRules", "RuleArn"))?;
                    let tags = elb
                        .describe_tags()
                        .resource_arns(arn)
                        .send()
                        .await
                        .map_err(|e| aws("elasticloadbalancing:DescribeTags", e))?;
                    let tagged = tags
                        .tag_descriptions()
                        .iter()
                        .flat_map(|d| d.tags())
                        .any(|t| t.key() == Some(APP_TAG) && t.value() == Some(self.app.as_str()));
                    return Ok(Some(Observed {
                        rule: rule.clone(),
                        port,
                        tagged,
                    }));
                }
            }
        }
        Ok(None)
    }
}

/// A rule as it exists.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The rule.
    pub rule: ElbRule,
    /// The port of the listener it is on.
    pub port: i32,
    /// Whether it carries the app's tag.
    pub tagged: bool,
}

impl Observed {
    fn arn(&self) -> Result<&str, CliError> {
        self.rule
            .rule_arn()
            .ok_or_else(|| missing("elasticloadbalancing:DescribeRules", "RuleArn"))
    }
}

impl Resource for ListenerRule {
    type Observed = Observed;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "listener rule"
    }

    /// What it is converged after. The listener it is on and the target groups it forwards to.
    fn after(&self) -> After {
        After::Kinds(&["listener", "target group"])
    }

    fn name(&self) -> String {
        format!("{}: {} (priority {})", self.service, self.conditions, self.priority)
    }

    async fn observe(&self, ctx: &Context, facts: &Facts) -> Result<Option<Observed>, CliError> {
        self.find(ctx, facts).await
    }

    fn diff(&self, observed: &Observed, facts: &Facts) -> Vec<Drift> {
        let mut drift = Vec::new();
        if observed.port != self.port {
            drift.push(Drift::Listener {
                have: observed.port,
                want: self.port,
            });
        }
        let have = Conditions::of(observed.rule.conditions());
        if have != self.conditions {
            drift.push(Drift::Conditions {
                have,
                want: self.conditions.clone(),
            });
        }
        let (have, want) = (Action::of(observed.rule.actions()), self.want_action(facts));
        if have != want {
            drift.push(Drift::Action { have, want });
        }
        if !observed.tagged {
            drift.push(Drift::Untagged);
        }
        drift
    }

    async fn create(&self, ctx: &Context, facts: &Facts, _step: &Step) -> Result<Observed, CliError> {
        self.create_on(ctx, facts).await
    }

    /// IAM: `elasticloadbalancing:ModifyRule`, `elasticloadbalancing:AddTags`, and for a move
    /// `elasticloadbalancing:DeleteRule`, `elasticloadbalancing:CreateRule`.
    async fn apply(
        &self,
        ctx: &Context,
        observed: &Observed,
        drift: &[Drift],
        facts: &Facts,
        step: &Step,
    ) -> Result<(), CliError> {
        let elb = ctx.elbv2();
        if drift.iter().any(|d| matches!(d, Drift::Listener { .. })) {
            // A rule cannot change listeners: recreate it on the right one.
            self.delete(ctx, observed, step).await?;
            self.create_on(ctx, facts).await?;
            return Ok(());
        }
        let arn = observed.arn()?;
        if drift
            .iter()
            .any(|d| matches!(d, Drift::Conditions { .. } | Drift::Action { .. }))
        {
            // Only conditions changed: keep the actions, whose weights ECS may be moving.
            let actions = if drift.iter().any(|d| matches!(d, Drift::Action { .. })) {
                vec![self.want_action(facts).to_elb()?]
            } else {
                observed.rule.actions().to_vec()
            };
            elb.modify_rule()
                .rule_arn(arn)
                .set_conditions(Some(self.conditions.to_elb()))
                .set_actions(Some(actions))
                .send()
                .await
                .map_err(|e| aws("elasticloadbalancing:ModifyRule", e))?;
        }
        if drift.contains(&Drift::Untagged) {
            elb.add_tags()
                .resource_arns(arn)
                .tags(self.tag())
                .send()
                .await
                .map_err(|e| aws("elasticloadbalancing:AddTags", e))?;
        }
        Ok(())
    }

    /// IAM: `elasticloadbalancing:DeleteRule`.
    async fn delete(&self, ctx: &Context, observed: &Observed, _step: &Step) -> Result<(), CliError> {
        match ctx.elbv2().delete_rule().rule_arn(observed.arn()?).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_rule_not_found_exception()) => Ok(()),
            Err(e) => Err(aws("elasticloadbalancing:DeleteRule", e)),
        }
    }

    fn record(&self, observed: &Observed, facts: &mut Facts) {
        if let Ok(arn) = observed.arn() {
            facts.production_rules.insert(self.service.clone(), arn.to_string());
        }
    }

    fn state(&self, observed: &Observed, _facts: &Facts) -> Option<String> {
        Some(format!(
            "on :{}, {}",
            observed.port,
            super::listener::shown(observed.rule.actions())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_file::AppFile;

    fn app(certificate: bool) -> App {
        let mut file = AppFile::default();
        file.certificate_arn = certificate.then(|| "arn:aws:acm:us-east-1:1:certificate/c".to_string());
        let mut api = crate::app_file::ServiceSpec::default();
        api.name = "api".into();
        api.host = Some("api.example.com".into());
        api.path = Some("/v1/*".into());
        file.services.push(api);
        App::resolve(file, Some("demo"), "defaults", None).unwrap()
    }

    #[test]
    fn host_and_path_together_are_both_conditions_and_read_back_equal() {
        let app = app(false);
        let rule = ListenerRule::new(&app, &app.services()[1], 1);
        let elb = rule.conditions.to_elb();
        assert_eq!(elb.len(), 2);
        assert_eq!(Conditions::of(&elb), rule.conditions);
        assert_eq!(rule.conditions.to_string(), "host api.example.com & path /v1/*");
        // The old shape (`Values`) reads the same.
        let old = RuleCondition::builder().field("path-pattern").values("/v1/*").build();
        assert_eq!(Conditions::of(&[old]).path.as_deref(), Some("/v1/*"));
    }

    #[test]
    fn a_rule_left_on_http_after_a_certificate_moves_to_https() {
        let app = app(true);
        let rule = ListenerRule::new(&app, &app.services()[1], 1);
        let mut facts = Facts::default();
        facts.target_groups.insert("api".into(), "arn:tg/pd-demo-api/1".into());
        let on_http = Observed {
            rule: ElbRule::builder()
                .priority("10")
                .set_conditions(Some(rule.conditions.to_elb()))
                .actions(Action::Forward(Some("arn:tg/pd-demo-api/1".into())).to_elb().unwrap())
                .build(),
            port: 80,
            tagged: false,
        };
        assert_eq!(
            rule.diff(&on_http, &facts),
            [Drift::Listener { have: 80, want: 443 }, Drift::Untagged]
        );
    }
}
