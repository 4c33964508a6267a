//! The Application Load Balancer: one target group per service (health check on its path), an
//! HTTP listener that forwards (or, with a certificate, redirects to an HTTPS listener that
//! forwards), the first service as the default route and path or host rules for the others.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, HostHeaderConditionConfig, Listener, LoadBalancerSchemeEnum,
    LoadBalancerStateEnum, LoadBalancerTypeEnum, Matcher, PathPatternConditionConfig, ProtocolEnum,
    RedirectActionConfig, RedirectActionStatusCodeEnum, Rule, RuleCondition, Tag, TargetTypeEnum,
};

use super::network::Network;
use super::{change_for, planned, Mode, Report, APP_TAG};
use crate::app_file::{load_balancer_name, target_group_name, App};
use crate::context::Context;
use crate::error::{aws, CliError};
use crate::progress::Step;

/// How long `up` waits for a new load balancer to become active.
pub const ACTIVE_TIMEOUT: Duration = Duration::from_secs(600);
/// TLS policy of the HTTPS listener.
pub const SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/// What later steps need.
#[derive(Debug, Clone)]
pub struct LoadBalancer {
    /// ARN.
    pub arn: String,
    /// Public DNS name.
    pub dns_name: String,
    /// Target group ARN per service name.
    pub target_groups: BTreeMap<String, String>,
}

fn tag(app: &App) -> Tag {
    Tag::builder().key(APP_TAG).value(&app.name).build()
}

fn forward(target_group: &str) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(target_group)
        .build()
}

fn redirect_to_https() -> Action {
    let config = RedirectActionConfig::builder()
        .protocol("HTTPS")
        .port("443")
        .status_code(RedirectActionStatusCodeEnum::Http301)
        .build();
    Action::builder()
        .r#type(ActionTypeEnum::Redirect)
        .redirect_config(config)
        .build()
}

/// The routing condition of a service that is not the default route.
fn condition(path: Option<&str>, host: Option<&str>) -> RuleCondition {
    match (host, path) {
        (Some(host), _) => RuleCondition::builder()
            .field("host-header")
            .host_header_config(HostHeaderConditionConfig::builder().values(host).build())
            .build(),
        (None, path) => RuleCondition::builder()
            .field("path-pattern")
            .path_pattern_config(
                PathPatternConditionConfig::builder()
                    .values(path.unwrap_or("/*"))
                    .build(),
            )
            .build(),
    }
}

/// What an action does, comparable across API shapes (`forward tg-arn`, `redirect HTTPS:443`).
pub fn describe_action(actions: &[Action]) -> String {
    match actions.first() {
        Some(a) if a.r#type() == Some(&ActionTypeEnum::Forward) => {
            let tg = a.target_group_arn().map(str::to_string).or_else(|| {
                a.forward_config()
                    .and_then(|f| f.target_groups().first())
                    .and_then(|t| t.target_group_arn().map(str::to_string))
            });
            // `arn:...:targetgroup/<name>/<id>` reads best as its name.
            let tg = tg.unwrap_or_default();
            format!("forward {}", tg.split('/').nth(1).unwrap_or(&tg))
        }
        Some(a) if a.r#type() == Some(&ActionTypeEnum::Redirect) => {
            let r = a.redirect_config();
            format!(
                "redirect {}:{}",
                r.and_then(|r| r.protocol()).unwrap_or("#{protocol}"),
                r.and_then(|r| r.port()).unwrap_or("#{port}")
            )
        }
        Some(a) => format!("{:?}", a.r#type()),
        None => "none".into(),
    }
}

/// What a rule matches, comparable (`path /api/*`, `host api.example.com`).
pub fn describe_conditions(conditions: &[RuleCondition]) -> String {
    let mut parts = Vec::new();
    for c in conditions {
        let values: Vec<String> = if let Some(h) = c.host_header_config() {
            h.values().to_vec()
        } else if let Some(p) = c.path_pattern_config() {
            p.values().to_vec()
        } else {
            c.values().to_vec()
        };
        let field = match c.field() {
            Some("host-header") => "host",
            Some("path-pattern") => "path",
            Some(other) => other,
            None => "?",
        };
        parts.push(format!("{field} {}", values.join(",")));
    }
    parts.join(" & ")
}

/// Ensures the load balancer, target groups, listeners and rules; waits until it is active.
///
/// IAM: `elasticloadbalancing:Describe*`, `CreateLoadBalancer`, `CreateTargetGroup`,
/// `CreateListener`, `CreateRule`, `ModifyListener`, `ModifyRule`, `ModifyTargetGroup`,
/// `SetSecurityGroups`, `SetSubnets`, `AddTags`.
pub async fn ensure(
    ctx: &Context,
    app: &App,
    net: &Network,
    mode: Mode,
    step: &Step,
) -> Result<(Vec<Report>, LoadBalancer), CliError> {
    let elb = ctx.elbv2();
    let name = load_balancer_name(&app.name);
    let mut reports = Vec::new();

    let found = find_load_balancer(ctx, &name).await?;
    let mut diffs = Vec::new();
    let (arn, dns_name) = match (&found, mode) {
        (Some(lb), _) => {
            let mut have: Vec<String> = lb.security_groups().to_vec();
            have.sort();
            if have != vec![net.alb_sg.clone()] {
                diffs.push(format!("security groups {have:?} -> [{}]", net.alb_sg));
            }
            let mut subnets: Vec<String> = lb
                .availability_zones()
                .iter()
                .filter_map(|z| z.subnet_id.clone())
                .collect();
            subnets.sort();
            let mut want = net.subnets.clone();
            want.sort();
            if subnets != want {
                diffs.push(format!("subnets {subnets:?} -> {want:?}"));
            }
            let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
            if mode == Mode::Apply && diffs.iter().any(|d| d.starts_with("security")) {
                elb.set_security_groups()
                    .load_balancer_arn(&arn)
                    .security_groups(&net.alb_sg)
                    .send()
                    .await
                    .map_err(|e| aws("elasticloadbalancing:SetSecurityGroups", e))?;
            }
            if mode == Mode::Apply && diffs.iter().any(|d| d.starts_with("subnets")) {
                elb.set_subnets()
                    .load_balancer_arn(&arn)
                    .set_subnets(Some(net.subnets.clone()))
                    .send()
                    .await
                    .map_err(|e| aws("elasticloadbalancing:SetSubnets", e))?;
            }
            (arn, lb.dns_name().unwrap_or_default().to_string())
        }
        (None, Mode::Plan) => (planned("load balancer"), planned("dns name")),
        (None, Mode::Apply) => {
            let out = elb
                .create_load_balancer()
                .name(&name)
                .set_subnets(Some(net.subnets.clone()))
                .security_groups(&net.alb_sg)
                .scheme(LoadBalancerSchemeEnum::InternetFacing)
                .r#type(LoadBalancerTypeEnum::Application)
                .tags(tag(app))
                .send()
                .await
                .map_err(|e| aws("elasticloadbalancing:CreateLoadBalancer", e))?;
            let lb = out.load_balancers().first();
            (
                lb.and_then(|l| l.load_balancer_arn.clone()).unwrap_or_default(),
                lb.and_then(|l| l.dns_name.clone()).unwrap_or_default(),
            )
        }
    };
    let state = if mode == Mode::Apply {
        wait_active(ctx, &arn, step).await?
    } else {
        found_state(&found)
    };
    reports.push(Report::new("load balancer", &name, change_for(found.is_some(), diffs)).with_state(state));

    let mut target_groups = BTreeMap::new();
    for service in app.services() {
        let (report, tg) =
            target_group(ctx, app, net, &service.spec.name, &service.spec.health_check_path, mode).await?;
        reports.push(report);
        target_groups.insert(service.spec.name.clone(), tg);
    }

    let services = app.services();
    let default_tg = target_groups[&services[0].spec.name].clone();
    let https = app.file.certificate_arn.clone();
    let http_default = if https.is_some() {
        redirect_to_https()
    } else {
        forward(&default_tg)
    };
    let listeners = if found.is_some() {
        listeners(ctx, &arn).await?
    } else {
        Vec::new()
    };
    let (report, http_arn) = listener(ctx, app, &arn, &listeners, 80, None, http_default, mode).await?;
    reports.push(report);
    let rules_on = match &https {
        Some(cert) => {
            let (report, https_arn) =
                listener(ctx, app, &arn, &listeners, 443, Some(cert), forward(&default_tg), mode).await?;
            reports.push(report);
            https_arn
        }
        None => http_arn,
    };
    for (i, service) in services.iter().enumerate().skip(1) {
        let want_condition = condition(service.spec.path.as_deref(), service.spec.host.as_deref());
        let want_action = forward(&target_groups[&service.spec.name]);
        reports.push(
            rule(
                ctx,
                &rules_on,
                (i * 10) as i32,
                want_condition,
                want_action,
                &service.spec.name,
                mode,
            )
            .await?,
        );
    }
    Ok((
        reports,
        LoadBalancer {
            arn,
            dns_name,
            target_groups,
        },
    ))
}

fn found_state(found: &Option<aws_sdk_elasticloadbalancingv2::types::LoadBalancer>) -> String {
    found
        .as_ref()
        .and_then(|lb| lb.state().and_then(|s| s.code()).map(|c| c.as_str().to_string()))
        .unwrap_or_else(|| "absent".into())
}

async fn wait_active(ctx: &Context, arn: &str, step: &Step) -> Result<String, CliError> {
    let started = Instant::now();
    loop {
        let out = ctx
            .elbv2()
            .describe_load_balancers()
            .load_balancer_arns(arn)
            .send()
            .await
            .map_err(|e| aws("elasticloadbalancing:DescribeLoadBalancers", e))?;
        let code = out
            .load_balancers()
            .first()
            .and_then(|lb| lb.state())
            .and_then(|s| s.code())
            .cloned();
        match code {
            Some(LoadBalancerStateEnum::Active) => return Ok("active".into()),
            Some(LoadBalancerStateEnum::Failed) => {
                return Err(CliError::Setup(format!(
                    "load balancer {arn} failed to provision: see its state reason in the console"
                )))
            }
            _ if started.elapsed() > ACTIVE_TIMEOUT => {
                return Err(CliError::Timeout {
                    what: "the load balancer to become active".into(),
                    waited_secs: started.elapsed().as_secs(),
                    hint: "run `pushdeploy up` again to resume".into(),
                })
            }
            _ => {
                step.set("load balancer: waiting until active");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

async fn target_group(
    ctx: &Context,
    app: &App,
    net: &Network,
    service: &str,
    health: &str,
    mode: Mode,
) -> Result<(Report, String), CliError> {
    let elb = ctx.elbv2();
    let name = target_group_name(&app.name, service);
    let found = find_target_group(ctx, &name).await?;
    let mut diffs = Vec::new();
    let arn = match (&found, mode) {
        (Some(tg), _) => {
            let arn = tg.target_group_arn().unwrap_or_default().to_string();
            if tg.health_check_path() != Some(health) {
                diffs.push(format!(
                    "health check path {:?} -> {health}",
                    tg.health_check_path().unwrap_or_default()
                ));
                if mode == Mode::Apply {
                    elb.modify_target_group()
                        .target_group_arn(&arn)
                        .health_check_path(health)
                        .send()
                        .await
                        .map_err(|e| aws("elasticloadbalancing:ModifyTargetGroup", e))?;
                }
            }
            arn
        }
        (None, Mode::Plan) => planned("target group"),
        (None, Mode::Apply) => {
            let out = elb
                .create_target_group()
                .name(&name)
                .protocol(ProtocolEnum::Http)
                .port(80)
                .vpc_id(&net.vpc_id)
                .target_type(TargetTypeEnum::Instance)
                .health_check_protocol(ProtocolEnum::Http)
                .health_check_path(health)
                .matcher(Matcher::builder().http_code("200-399").build())
                .tags(tag(app))
                .send()
                .await
                .map_err(|e| aws("elasticloadbalancing:CreateTargetGroup", e))?;
            out.target_groups()
                .first()
                .and_then(|t| t.target_group_arn.clone())
                .unwrap_or_default()
        }
    };
    Ok((
        Report::new("target group", &name, change_for(found.is_some(), diffs)),
        arn,
    ))
}

#[allow(clippy::too_many_arguments)]
async fn listener(
    ctx: &Context,
    app: &App,
    lb_arn: &str,
    existing: &[Listener],
    port: i32,
    certificate: Option<&str>,
    default_action: Action,
    mode: Mode,
) -> Result<(Report, String), CliError> {
    let elb = ctx.elbv2();
    let found = existing.iter().find(|l| l.port() == Some(port));
    let want = describe_action(std::slice::from_ref(&default_action));
    let protocol = if certificate.is_some() {
        ProtocolEnum::Https
    } else {
        ProtocolEnum::Http
    };
    let mut diffs = Vec::new();
    let arn = match (found, mode) {
        (Some(l), _) => {
            let arn = l.listener_arn().unwrap_or_default().to_string();
            let have = describe_action(l.default_actions());
            if have != want {
                diffs.push(format!("default action {have} -> {want}"));
                if mode == Mode::Apply {
                    elb.modify_listener()
                        .listener_arn(&arn)
                        .default_actions(default_action)
                        .send()
                        .await
                        .map_err(|e| aws("elasticloadbalancing:ModifyListener", e))?;
                }
            }
            arn
        }
        (None, Mode::Plan) => planned("listener"),
        (None, Mode::Apply) => {
            let mut call = elb
                .create_listener()
                .load_balancer_arn(lb_arn)
                .port(port)
                .protocol(protocol.clone())
                .default_actions(default_action)
                .tags(tag(app));
            if let Some(cert) = certificate {
                call = call
                    .certificates(Certificate::builder().certificate_arn(cert).build())
                    .ssl_policy(SSL_POLICY);
            }
            match call.send().await {
                Ok(out) => out
                    .listeners()
                    .first()
                    .and_then(|l| l.listener_arn.clone())
                    .unwrap_or_default(),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_duplicate_listener_exception()) =>
                {
                    let out = elb
                        .describe_listeners()
                        .load_balancer_arn(lb_arn)
                        .send()
                        .await
                        .map_err(|e| aws("elasticloadbalancing:DescribeListeners", e))?;
                    out.listeners()
                        .iter()
                        .find(|l| l.port() == Some(port))
                        .and_then(|l| l.listener_arn.clone())
                        .unwrap_or_default()
                }
                Err(e) => return Err(aws("elasticloadbalancing:CreateListener", e)),
            }
        }
    };
    let name = format!("{} :{port} -> {want}", protocol.as_str());
    Ok((Report::new("listener", name, change_for(found.is_some(), diffs)), arn))
}

async fn rule(
    ctx: &Context,
    listener_arn: &str,
    priority: i32,
    want_condition: RuleCondition,
    want_action: Action,
    service: &str,
    mode: Mode,
) -> Result<Report, CliError> {
    let elb = ctx.elbv2();
    let existing: Vec<Rule> = if listener_arn.starts_with('(') {
        Vec::new()
    } else {
        elb.describe_rules()
            .listener_arn(listener_arn)
            .send()
            .await
            .map_err(|e| aws("elasticloadbalancing:DescribeRules", e))?
            .rules
            .unwrap_or_default()
    };
    let found = existing
        .iter()
        .find(|r| r.priority() == Some(priority.to_string().as_str()));
    let want = format!(
        "{} -> {}",
        describe_conditions(std::slice::from_ref(&want_condition)),
        describe_action(std::slice::from_ref(&want_action))
    );
    let mut diffs = Vec::new();
    match (found, mode) {
        (Some(r), _) => {
            let have = format!(
                "{} -> {}",
                describe_conditions(r.conditions()),
                describe_action(r.actions())
            );
            if have != want {
                diffs.push(format!("{have} => {want}"));
                if mode == Mode::Apply {
                    elb.modify_rule()
                        .rule_arn(r.rule_arn().unwrap_or_default())
                        .conditions(want_condition)
                        .actions(want_action)
                        .send()
                        .await
                        .map_err(|e| aws("elasticloadbalancing:ModifyRule", e))?;
                }
            }
        }
        (None, Mode::Plan) => {}
        (None, Mode::Apply) => {
            elb.create_rule()
                .listener_arn(listener_arn)
                .priority(priority)
                .conditions(want_condition)
                .actions(want_action)
                .send()
                .await
                .map_err(|e| aws("elasticloadbalancing:CreateRule", e))?;
        }
    }
    Ok(Report::new(
        "listener rule",
        format!("{service}: {want}"),
        change_for(found.is_some(), diffs),
    ))
}

/// The load balancer named `name`.
///
/// IAM: `elasticloadbalancing:DescribeLoadBalancers`.
pub async fn find_load_balancer(
    ctx: &Context,
    name: &str,
) -> Result<Option<aws_sdk_elasticloadbalancingv2::types::LoadBalancer>, CliError> {
    match ctx.elbv2().describe_load_balancers().names(name).send().await {
        Ok(out) => Ok(out.load_balancers().first().cloned()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_load_balancer_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws("elasticloadbalancing:DescribeLoadBalancers", e)),
    }
}

/// The target group named `name`.
///
/// IAM: `elasticloadbalancing:DescribeTargetGroups`.
pub async fn find_target_group(
    ctx: &Context,
    name: &str,
) -> Result<Option<aws_sdk_elasticloadbalancingv2::types::TargetGroup>, CliError> {
    match ctx.elbv2().describe_target_groups().names(name).send().await {
        Ok(out) => Ok(out.target_groups().first().cloned()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_target_group_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws("elasticloadbalancing:DescribeTargetGroups", e)),
    }
}

/// The listeners of a load balancer.
///
/// IAM: `elasticloadbalancing:DescribeListeners`.
pub async fn listeners(ctx: &Context, load_balancer_arn: &str) -> Result<Vec<Listener>, CliError> {
    let out = ctx
        .elbv2()
        .describe_listeners()
        .load_balancer_arn(load_balancer_arn)
        .send()
        .await
        .map_err(|e| aws("elasticloadbalancing:DescribeListeners", e))?;
    Ok(out.listeners.unwrap_or_default())
}
