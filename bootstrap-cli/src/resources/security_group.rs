//! The app's security groups: the load balancer's (HTTP, and HTTPS with a certificate, from
//! anywhere over IPv4 and IPv6), the instances' (only the dynamic host-port range, only from the
//! load balancer's group) and, when a service is blue-green, canary or linear, its tasks' (their
//! container ports, only from the load balancer's group). Missing rules are added; rules a user
//! added are left alone. Every rule `up` adds carries its description, so when a test listener
//! goes, the sweep that deletes it closes that port's rules of `up`'s ([`close_port`]) and no
//! others.

use std::fmt;
use std::time::Duration;

use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, ResourceType, Tag, TagSpecification, UserIdGroupPair,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::facts::{need, Facts, GroupRole};
use super::model::{After, Resource, APP_TAG};
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, CliError};
use crate::poll::{self, Poll, Wait};
use crate::progress::Step;

/// Ephemeral host ports ECS assigns with dynamic port mapping (`hostPort: 0`).
pub const DYNAMIC_PORTS: (i32, i32) = (32768, 65535);
/// How long a new group may stay invisible to the next EC2 call (EC2 API reference, "Eventual
/// consistency").
pub const VISIBILITY: Duration = Duration::from_secs(60);
/// How long `down` waits for a group's network interfaces (a deleted load balancer's linger for
/// minutes) to be released.
pub const RELEASE: Duration = Duration::from_secs(900);

/// One ingress rule: protocol tcp, a port range, a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// First port.
    pub from: i32,
    /// Last port.
    pub to: i32,
    /// Where traffic may come from.
    pub source: Source,
}

/// The source of an ingress rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// IPv4 CIDR.
    Cidr(String),
    /// IPv6 CIDR.
    Cidr6(String),
    /// Another security group.
    Group(String),
    /// The load balancer's group, which `up` has yet to create (only in a plan).
    NewGroup,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ports = if self.from == self.to {
            self.from.to_string()
        } else {
            format!("{}-{}", self.from, self.to)
        };
        match &self.source {
            Source::Cidr(c) | Source::Cidr6(c) | Source::Group(c) => write!(f, "allow tcp {ports} from {c}"),
            Source::NewGroup => write!(f, "allow tcp {ports} from the load balancer's new group"),
        }
    }
}

/// The description of every rule `up` adds: how it tells its own rules from a user's.
const OURS: &str = "pushdeploy";

/// What a group lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// An ingress rule the app needs.
    MissingRule(Rule),
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::MissingRule(rule) => write!(f, "{rule}"),
        }
    }
}

/// The load balancer's rules: 80 (and 443 with a certificate), and the services' test ports,
/// from anywhere.
pub fn alb_rules(https: bool, test_ports: &[u16]) -> Vec<Rule> {
    let mut ports: Vec<i32> = if https { vec![80, 443] } else { vec![80] };
    ports.extend(test_ports.iter().map(|&p| i32::from(p)));
    ports
        .into_iter()
        .flat_map(|p| {
            [
                Rule {
                    from: p,
                    to: p,
                    source: Source::Cidr("0.0.0.0/0".into()),
                },
                Rule {
                    from: p,
                    to: p,
                    source: Source::Cidr6("::/0".into()),
                },
            ]
        })
        .collect()
}

/// The instances' only rule: the dynamic host ports, from the load balancer's group.
pub fn instance_rules(alb_group: Option<&str>) -> Vec<Rule> {
    vec![Rule {
        from: DYNAMIC_PORTS.0,
        to: DYNAMIC_PORTS.1,
        source: alb_group.map_or(Source::NewGroup, |g| Source::Group(g.into())),
    }]
}

/// The tasks' rules: each `awsvpc` service's container port, from the load balancer's group.
pub fn task_rules(alb_group: Option<&str>, ports: &[u16]) -> Vec<Rule> {
    ports
        .iter()
        .map(|&p| Rule {
            from: i32::from(p),
            to: i32::from(p),
            source: alb_group.map_or(Source::NewGroup, |g| Source::Group(g.into())),
        })
        .collect()
}

/// Rules of `desired` that `existing` lacks.
pub fn missing_rules(desired: &[Rule], existing: &[Rule]) -> Vec<Drift> {
    desired
        .iter()
        .filter(|r| !existing.contains(r))
        .cloned()
        .map(Drift::MissingRule)
        .collect()
}

/// The tcp rules of a group's permissions, one per source.
pub fn flatten(perms: &[IpPermission]) -> Vec<Rule> {
    rules_in(perms, |_| true)
}

/// The tcp rules `up` added to a group (those with its description) for exactly `port`.
pub fn ours_on_port(perms: &[IpPermission], port: i32) -> Vec<Rule> {
    (rules_in(perms, |description| description == Some(OURS)).into_iter())
        .filter(|r| r.from == port && r.to == port)
        .collect()
}

/// Closes `port` in group `id`: revokes the rules `up` added for it (a test listener's, once
/// the listener is gone), one call each, since in a VPC other than the default EC2 revokes none
/// of a batch when one is missing (RevokeSecurityGroupIngress reference). A rule already gone
/// (a resend after a lost answer) or a group gone is the outcome wanted.
///
/// IAM: `ec2:DescribeSecurityGroups`, `ec2:RevokeSecurityGroupIngress`.
pub async fn close_port(ctx: &Context, id: &str, port: i32) -> Result<(), CliError> {
    let ec2 = ctx.ec2();
    let groups = match ec2.describe_security_groups().group_ids(id).send().await {
        Ok(out) => out.security_groups.unwrap_or_default(),
        Err(e) if e.code() == Some("InvalidGroup.NotFound") => return Ok(()),
        Err(e) => return Err(aws("ec2:DescribeSecurityGroups", e)),
    };
    let rules = groups
        .first()
        .map_or_else(Vec::new, |g| ours_on_port(g.ip_permissions(), port));
    for rule in &rules {
        let sent = (ec2.revoke_security_group_ingress())
            .group_id(id)
            .ip_permissions(permission(rule, None))
            .send()
            .await;
        match sent {
            Ok(_) => {}
            Err(e) if matches!(e.code(), Some("InvalidPermission.NotFound" | "InvalidGroup.NotFound")) => {}
            Err(e) => return Err(aws("ec2:RevokeSecurityGroupIngress", e)),
        }
    }
    Ok(())
}

/// The tcp rules of `perms` whose description `keep` accepts, one per source.
fn rules_in(perms: &[IpPermission], keep: impl Fn(Option<&str>) -> bool) -> Vec<Rule> {
    let mut rules = Vec::new();
    for p in perms {
        if p.ip_protocol.as_deref() != Some("tcp") {
            continue;
        }
        let (from, to) = (p.from_port.unwrap_or(-1), p.to_port.unwrap_or(-1));
        let sources = (p.ip_ranges().iter())
            .filter(|r| keep(r.description()))
            .filter_map(|r| r.cidr_ip().map(|c| Source::Cidr(c.into())))
            .chain(
                (p.ipv6_ranges().iter())
                    .filter(|r| keep(r.description()))
                    .filter_map(|r| r.cidr_ipv6().map(|c| Source::Cidr6(c.into()))),
            )
            .chain(
                (p.user_id_group_pairs().iter())
                    .filter(|g| keep(g.description()))
                    .filter_map(|g| g.group_id().map(|c| Source::Group(c.into()))),
            );
        rules.extend(sources.map(|source| Rule { from, to, source }));
    }
    rules
}

/// `rule` as EC2 takes it, with `up`'s description (a revoke needs none: EC2 matches the rule
/// without it).
fn permission(rule: &Rule, description: Option<&str>) -> IpPermission {
    let b = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(rule.from)
        .to_port(rule.to);
    match &rule.source {
        Source::Cidr(c) => b.ip_ranges(
            IpRange::builder()
                .cidr_ip(c)
                .set_description(description.map(Into::into))
                .build(),
        ),
        Source::Cidr6(c) => b.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(c)
                .set_description(description.map(Into::into))
                .build(),
        ),
        Source::Group(g) => b.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(g)
                .set_description(description.map(Into::into))
                .build(),
        ),
        Source::NewGroup => b,
    }
    .build()
}

/// One of the app's security groups.
#[derive(Debug, Clone)]
pub struct SecurityGroup {
    role: GroupRole,
    name: String,
    app: String,
    https: bool,
    /// The container ports of the services whose tasks this group admits (tasks' group).
    task_ports: Vec<u16>,
    /// The test listeners' ports (load balancer's group).
    test_ports: Vec<u16>,
    /// False for the tasks' group of an app without staged services, which only `down` looks for.
    wanted: bool,
}

impl SecurityGroup {
    /// The app's group for `role`.
    pub fn new(app: &App, role: GroupRole) -> SecurityGroup {
        let name = match role {
            GroupRole::LoadBalancer => app.names.alb_security_group(),
            GroupRole::Instances => app.names.instance_security_group(),
            GroupRole::Tasks => app.names.task_security_group(),
        };
        let mut task_ports: Vec<u16> = (app.file.services.iter())
            .filter(|s| s.is_awsvpc())
            .map(|s| s.port)
            .collect();
        task_ports.sort_unstable();
        task_ports.dedup();
        SecurityGroup {
            role,
            name,
            app: app.name.clone(),
            https: app.file.certificate_arn.is_some(),
            task_ports,
            test_ports: (app.file.services.iter())
                .filter(|s| s.deployment.is_staged())
                .filter_map(|s| s.deployment.test_port)
                .collect(),
            wanted: true,
        }
    }

    /// The group as only `down` looks for it: deleted when found.
    pub fn unwanted(self) -> SecurityGroup {
        SecurityGroup { wanted: false, ..self }
    }

    fn description(&self) -> &'static str {
        match self.role {
            GroupRole::LoadBalancer => "pushdeploy load balancer",
            GroupRole::Instances => "pushdeploy ECS instances",
            GroupRole::Tasks => "pushdeploy ECS tasks",
        }
    }

    fn desired(&self, facts: &Facts) -> Vec<Rule> {
        match self.role {
            GroupRole::LoadBalancer => alb_rules(self.https, &self.test_ports),
            GroupRole::Instances => {
                instance_rules(facts.security_groups.get(&GroupRole::LoadBalancer).map(String::as_str))
            }
            GroupRole::Tasks => task_rules(
                facts.security_groups.get(&GroupRole::LoadBalancer).map(String::as_str),
                &self.task_ports,
            ),
        }
    }

    /// IAM: `ec2:AuthorizeSecurityGroupIngress`.
    async fn authorize(&self, ctx: &Context, id: &str, rules: &[Rule]) -> Result<(), CliError> {
        if rules.is_empty() {
            return Ok(());
        }
        let ec2 = &ctx.ec2();
        let permissions: Vec<IpPermission> = rules.iter().map(|r| permission(r, Some(OURS))).collect();
        // A group created a moment ago (this one, or the load balancer's it names) can be
        // InvalidGroup.NotFound to the next call: the id came from EC2 itself, so wait for it.
        let send = |permissions: Vec<IpPermission>| {
            poll::retry(VISIBILITY, poll::code_is("InvalidGroup.NotFound"), move || {
                ec2.authorize_security_group_ingress()
                    .group_id(id)
                    .set_ip_permissions(Some(permissions.clone()))
                    .send()
            })
        };
        match send(permissions.clone()).await {
            Ok(_) => Ok(()),
            // Some rule is there already (a run cut short after sending, or a concurrent one),
            // and EC2 then adds none of the batch: add them one by one, skipping those present.
            Err(e) if e.code() == Some("InvalidPermission.Duplicate") => {
                for permission in permissions {
                    match send(vec![permission]).await {
                        Ok(_) => {}
                        Err(e) if e.code() == Some("InvalidPermission.Duplicate") => {}
                        Err(e) => return Err(aws("ec2:AuthorizeSecurityGroupIngress", e)),
                    }
                }
                Ok(())
            }
            Err(e) => Err(aws("ec2:AuthorizeSecurityGroupIngress", e)),
        }
    }
}

/// A group as it exists.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Group id.
    pub id: String,
    /// Its tcp ingress rules.
    pub rules: Vec<Rule>,
}

/// The group named `name` in the VPC, with its ingress rules.
///
/// IAM: `ec2:DescribeSecurityGroups`.
pub async fn find(ctx: &Context, vpc_id: &str, name: &str) -> Result<Option<Observed>, CliError> {
    let filter = |n: &str, v: &str| Filter::builder().name(n).values(v).build();
    let mut pages = ctx
        .ec2()
        .describe_security_groups()
        .filters(filter("group-name", name))
        .filters(filter("vpc-id", vpc_id))
        .into_paginator()
        .send();
    let mut found = None;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws("ec2:DescribeSecurityGroups", e))?;
        if let Some(g) = page.security_groups().first() {
            let id = g
                .group_id
                .clone()
                .ok_or_else(|| crate::error::missing("ec2:DescribeSecurityGroups", "GroupId"))?;
            found = Some(Observed {
                id,
                rules: flatten(g.ip_permissions()),
            });
        }
    }
    Ok(found)
}

impl Resource for SecurityGroup {
    type Observed = Observed;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "security group"
    }

    /// What it is converged after. The groups before it: the instances' and the tasks' admit the load balancer's.
    fn after(&self) -> After {
        After::Kinds(&["security group"])
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn wanted(&self) -> bool {
        self.wanted
    }

    async fn observe(&self, ctx: &Context, facts: &Facts) -> Result<Option<Observed>, CliError> {
        let vpc = need(facts.vpc.as_ref(), "the VPC")?;
        find(ctx, &vpc.id, &self.name).await
    }

    fn diff(&self, observed: &Observed, facts: &Facts) -> Vec<Drift> {
        missing_rules(&self.desired(facts), &observed.rules)
    }

    /// IAM: `ec2:CreateSecurityGroup`, `ec2:CreateTags`, `ec2:AuthorizeSecurityGroupIngress`.
    async fn create(&self, ctx: &Context, facts: &Facts, _step: &Step) -> Result<Observed, CliError> {
        let vpc = need(facts.vpc.as_ref(), "the VPC")?;
        let tags = TagSpecification::builder()
            .resource_type(ResourceType::SecurityGroup)
            .tags(Tag::builder().key(APP_TAG).value(&self.app).build())
            .tags(Tag::builder().key("Name").value(&self.name).build())
            .build();
        let created = ctx
            .ec2()
            .create_security_group()
            .group_name(&self.name)
            .description(self.description())
            .vpc_id(&vpc.id)
            .tag_specifications(tags)
            .send()
            .await;
        let found = match created {
            Ok(out) => Observed {
                id: out
                    .group_id
                    .ok_or_else(|| crate::error::missing("ec2:CreateSecurityGroup", "GroupId"))?,
                rules: Vec::new(),
            },
            // Created by a run that was cut short after sending (EC2 models no error type: the
            // code is the contract).
            Err(e) if e.code() == Some("InvalidGroup.Duplicate") => find(ctx, &vpc.id, &self.name)
                .await?
                .ok_or_else(|| aws("ec2:CreateSecurityGroup", e))?,
            Err(e) => return Err(aws("ec2:CreateSecurityGroup", e)),
        };
        let missing: Vec<Rule> = (missing_rules(&self.desired(facts), &found.rules).into_iter())
            .map(|Drift::MissingRule(r)| r)
            .collect();
        self.authorize(ctx, &found.id, &missing).await?;
        Ok(Observed {
            rules: [found.rules, missing].concat(),
            id: found.id,
        })
    }

    /// IAM: `ec2:AuthorizeSecurityGroupIngress`.
    async fn apply(
        &self,
        ctx: &Context,
        observed: &Observed,
        drift: &[Drift],
        _: &Facts,
        _: &Step,
    ) -> Result<(), CliError> {
        let rules: Vec<Rule> = drift.iter().map(|Drift::MissingRule(r)| r.clone()).collect();
        self.authorize(ctx, &observed.id, &rules).await
    }

    /// IAM: `ec2:DeleteSecurityGroup`.
    async fn delete(&self, ctx: &Context, observed: &Observed, step: &Step) -> Result<(), CliError> {
        let ec2 = ctx.ec2();
        let wait = Wait::new(
            format!("security group {} to be released", self.name),
            RELEASE,
            "a network interface still uses it (a deleted load balancer's linger for minutes): run `pushdeploy down` again later",
        );
        poll::until(&wait, step, || async {
            match ec2.delete_security_group().group_id(&observed.id).send().await {
                Ok(_) => Ok(Poll::Done(())),
                Err(e) if e.code() == Some("DependencyViolation") => Ok(Poll::Pending("in use".into())),
                Err(e) if e.code() == Some("InvalidGroup.NotFound") => Ok(Poll::Done(())),
                Err(e) => Err(aws("ec2:DeleteSecurityGroup", e)),
            }
        })
        .await
    }

    fn record(&self, observed: &Observed, facts: &mut Facts) {
        facts.security_groups.insert(self.role, observed.id.clone());
    }

    fn state(&self, observed: &Observed, _facts: &Facts) -> Option<String> {
        Some(observed.id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_balancer_is_open_on_http_and_with_a_certificate_https_over_both_ip_versions() {
        let rules: Vec<String> = alb_rules(true, &[]).iter().map(ToString::to_string).collect();
        assert_eq!(
            rules,
            [
                "allow tcp 80 from 0.0.0.0/0",
                "allow tcp 80 from ::/0",
                "allow tcp 443 from 0.0.0.0/0",
                "allow tcp 443 from ::/0"
            ]
        );
        assert_eq!(alb_rules(false, &[]).len(), 2);
        let test: Vec<String> = alb_rules(false, &[8080]).iter().map(ToString::to_string).collect();
        assert_eq!(test[2..], ["allow tcp 8080 from 0.0.0.0/0", "allow tcp 8080 from ::/0"]);
    }

    #[test]
    fn instances_accept_only_the_dynamic_ports_from_the_load_balancer() {
        assert_eq!(
            instance_rules(Some("sg-1")),
            [Rule {
                from: 32768,
                to: 65535,
                source: Source::Group("sg-1".into())
            }]
        );
        assert_eq!(
            instance_rules(None)[0].to_string(),
            "allow tcp 32768-65535 from the load balancer's new group"
        );
    }

    #[test]
    fn only_missing_rules_are_drift_whatever_the_api_shape() {
        let existing = flatten(&[permission(&alb_rules(false, &[])[0], Some(OURS))]);
        assert_eq!(
            missing_rules(&alb_rules(false, &[]), &existing),
            vec![Drift::MissingRule(alb_rules(false, &[])[1].clone())]
        );
        let both = flatten(&[
            permission(&alb_rules(false, &[])[0], Some(OURS)),
            permission(&alb_rules(false, &[])[1], Some(OURS)),
        ]);
        assert!(missing_rules(&alb_rules(false, &[]), &both).is_empty());
        let extra = [
            both,
            vec![Rule {
                from: 22,
                to: 22,
                source: Source::Cidr("10.0.0.0/8".into()),
            }],
        ]
        .concat();
        assert!(
            missing_rules(&alb_rules(false, &[]), &extra).is_empty(),
            "a user's own rules are no drift"
        );
    }

    #[test]
    fn a_port_closes_only_on_the_rules_up_added_for_it() {
        let user = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(8080)
            .to_port(8080)
            .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").description("mine").build())
            .build();
        let perms: Vec<IpPermission> = (alb_rules(false, &[8080, 8081]).iter())
            .map(|r| permission(r, Some(OURS)))
            .chain([user])
            .collect();
        let closed: Vec<String> = ours_on_port(&perms, 8080).iter().map(ToString::to_string).collect();
        assert_eq!(
            closed,
            ["allow tcp 8080 from 0.0.0.0/0", "allow tcp 8080 from ::/0"],
            "not the user's, not 8081's"
        );
        assert!(ours_on_port(&perms, 9000).is_empty());
        assert_eq!(flatten(&perms).len(), 7);
    }
}
