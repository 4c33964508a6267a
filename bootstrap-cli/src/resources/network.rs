//! Network: the VPC and subnets (the default ones unless the app file names them), and two
//! security groups: the load balancer's (HTTP, and HTTPS with a certificate, from anywhere over
//! IPv4 and IPv6) and the instances' (only the dynamic host-port range, only from the load
//! balancer's group).

use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, ResourceType, Tag, TagSpecification, UserIdGroupPair,
};

use super::{change_for, planned, Mode, Report, APP_TAG};
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, CliError};

/// Ephemeral host ports ECS assigns with dynamic port mapping (`hostPort: 0`).
pub const DYNAMIC_PORTS: (i32, i32) = (32768, 65535);

/// What later steps need.
#[derive(Debug, Clone)]
pub struct Network {
    /// VPC id.
    pub vpc_id: String,
    /// Subnet ids (at least two availability zones).
    pub subnets: Vec<String>,
    /// Load balancer security group id.
    pub alb_sg: String,
    /// Instance security group id.
    pub instance_sg: String,
}

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
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ports = if self.from == self.to {
            self.from.to_string()
        } else {
            format!("{}-{}", self.from, self.to)
        };
        match &self.source {
            Source::Cidr(c) | Source::Cidr6(c) => write!(f, "allow tcp {ports} from {c}"),
            Source::Group(g) => write!(f, "allow tcp {ports} from {g}"),
        }
    }
}

/// The load balancer's rules: 80 (and 443 with a certificate) from anywhere.
pub fn alb_rules(https: bool) -> Vec<Rule> {
    let ports: &[i32] = if https { &[80, 443] } else { &[80] };
    ports
        .iter()
        .flat_map(|&p| {
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
pub fn instance_rules(alb_sg: &str) -> Vec<Rule> {
    vec![Rule {
        from: DYNAMIC_PORTS.0,
        to: DYNAMIC_PORTS.1,
        source: Source::Group(alb_sg.into()),
    }]
}

/// Rules of `desired` that `existing` lacks.
pub fn missing_rules(desired: &[Rule], existing: &[IpPermission]) -> Vec<Rule> {
    let have = flatten(existing);
    desired.iter().filter(|r| !have.contains(r)).cloned().collect()
}

fn flatten(perms: &[IpPermission]) -> Vec<Rule> {
    let mut rules = Vec::new();
    for p in perms {
        if p.ip_protocol.as_deref() != Some("tcp") {
            continue;
        }
        let (from, to) = (p.from_port.unwrap_or(-1), p.to_port.unwrap_or(-1));
        for r in p.ip_ranges() {
            rules.push(Rule {
                from,
                to,
                source: Source::Cidr(r.cidr_ip().unwrap_or_default().into()),
            });
        }
        for r in p.ipv6_ranges() {
            rules.push(Rule {
                from,
                to,
                source: Source::Cidr6(r.cidr_ipv6().unwrap_or_default().into()),
            });
        }
        for g in p.user_id_group_pairs() {
            rules.push(Rule {
                from,
                to,
                source: Source::Group(g.group_id().unwrap_or_default().into()),
            });
        }
    }
    rules
}

fn permission(rule: &Rule) -> IpPermission {
    let b = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(rule.from)
        .to_port(rule.to);
    match &rule.source {
        Source::Cidr(c) => b.ip_ranges(IpRange::builder().cidr_ip(c).description("pushdeploy").build()),
        Source::Cidr6(c) => b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).description("pushdeploy").build()),
        Source::Group(g) => {
            b.user_id_group_pairs(UserIdGroupPair::builder().group_id(g).description("pushdeploy").build())
        }
    }
    .build()
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// Finds (or creates) the VPC wiring and both security groups.
///
/// IAM: `ec2:DescribeVpcs`, `ec2:DescribeSubnets`, `ec2:DescribeSecurityGroups`,
/// `ec2:CreateSecurityGroup`, `ec2:CreateTags`, `ec2:AuthorizeSecurityGroupIngress`.
pub async fn ensure(ctx: &Context, app: &App, mode: Mode) -> Result<(Vec<Report>, Network), CliError> {
    let ec2 = ctx.ec2();
    let vpc_id = match &app.file.vpc_id {
        Some(id) => id.clone(),
        None => {
            let out = ec2
                .describe_vpcs()
                .filters(filter("is-default", "true"))
                .send()
                .await
                .map_err(|e| aws("ec2:DescribeVpcs", e))?;
            out.vpcs().first().and_then(|v| v.vpc_id.clone()).ok_or_else(|| {
                CliError::Setup(format!(
                    "no default VPC in region {}: name one with `vpc_id` and `subnets` in pushdeploy.toml",
                    ctx.region()
                ))
            })?
        }
    };
    let subnets = if app.file.subnets.is_empty() {
        let out = ec2
            .describe_subnets()
            .filters(filter("vpc-id", &vpc_id))
            .filters(filter("default-for-az", "true"))
            .send()
            .await
            .map_err(|e| aws("ec2:DescribeSubnets", e))?;
        let mut subnets: Vec<(String, String)> = out
            .subnets()
            .iter()
            .filter_map(|s| Some((s.availability_zone.clone()?, s.subnet_id.clone()?)))
            .collect();
        subnets.sort();
        subnets.into_iter().map(|(_, id)| id).collect()
    } else {
        app.file.subnets.clone()
    };
    if subnets.len() < 2 {
        return Err(CliError::Setup(format!(
            "VPC {vpc_id} has {} default subnet(s); a load balancer needs two availability zones: list `subnets` in pushdeploy.toml",
            subnets.len()
        )));
    }
    let mut reports =
        vec![Report::new("vpc", &vpc_id, super::Change::NoChange).with_state(format!("{} subnets", subnets.len()))];

    let https = app.file.certificate_arn.is_some();
    let alb_name = format!("{}-alb", app.prefix());
    let (report, alb_sg) = security_group(
        ctx,
        app,
        &vpc_id,
        &alb_name,
        "pushdeploy load balancer",
        |_| alb_rules(https),
        mode,
    )
    .await?;
    reports.push(report);
    let inst_name = format!("{}-instances", app.prefix());
    let alb_for_rules = alb_sg.clone();
    let (report, instance_sg) = security_group(
        ctx,
        app,
        &vpc_id,
        &inst_name,
        "pushdeploy ECS instances",
        move |_| instance_rules(&alb_for_rules),
        mode,
    )
    .await?;
    reports.push(report);
    Ok((
        reports,
        Network {
            vpc_id,
            subnets,
            alb_sg,
            instance_sg,
        },
    ))
}

async fn security_group(
    ctx: &Context,
    app: &App,
    vpc_id: &str,
    name: &str,
    description: &str,
    rules: impl Fn(&str) -> Vec<Rule>,
    mode: Mode,
) -> Result<(Report, String), CliError> {
    let ec2 = ctx.ec2();
    let found = find_security_group(ctx, vpc_id, name).await?;
    let existed = found.is_some();
    let (id, existing) = match found {
        Some((id, perms)) => (id, perms),
        None if mode == Mode::Plan => (planned("security group"), Vec::new()),
        None => {
            let tags = TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroup)
                .tags(Tag::builder().key(APP_TAG).value(&app.name).build())
                .tags(Tag::builder().key("Name").value(name).build())
                .build();
            let created = ec2
                .create_security_group()
                .group_name(name)
                .description(description)
                .vpc_id(vpc_id)
                .tag_specifications(tags)
                .send()
                .await;
            match created {
                Ok(out) => (out.group_id.unwrap_or_default(), Vec::new()),
                // EC2 models no error type for it: the code is the contract.
                Err(e)
                    if aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&e)
                        == Some("InvalidGroup.Duplicate") =>
                {
                    find_security_group(ctx, vpc_id, name)
                        .await?
                        .ok_or_else(|| aws("ec2:CreateSecurityGroup", e))?
                }
                Err(e) => return Err(aws("ec2:CreateSecurityGroup", e)),
            }
        }
    };
    let missing = missing_rules(&rules(&id), &existing);
    if mode == Mode::Apply && !missing.is_empty() {
        ec2.authorize_security_group_ingress()
            .group_id(&id)
            .set_ip_permissions(Some(missing.iter().map(permission).collect()))
            .send()
            .await
            .map(|_| ())
            .or_else(
                |e| match aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&e) {
                    Some("InvalidPermission.Duplicate") => Ok(()),
                    _ => Err(aws("ec2:AuthorizeSecurityGroupIngress", e)),
                },
            )?;
    }
    let diffs = missing.iter().map(ToString::to_string).collect();
    Ok((
        Report::new("security group", format!("{name} ({id})"), change_for(existed, diffs)),
        id,
    ))
}

/// The group named `name` in the VPC, with its ingress permissions.
pub async fn find_security_group(
    ctx: &Context,
    vpc_id: &str,
    name: &str,
) -> Result<Option<(String, Vec<IpPermission>)>, CliError> {
    let out = ctx
        .ec2()
        .describe_security_groups()
        .filters(filter("group-name", name))
        .filters(filter("vpc-id", vpc_id))
        .send()
        .await
        .map_err(|e| aws("ec2:DescribeSecurityGroups", e))?;
    Ok(out
        .security_groups()
        .first()
        .map(|g| (g.group_id.clone().unwrap_or_default(), g.ip_permissions().to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_balancer_is_open_on_http_and_with_a_certificate_https_over_both_ip_versions() {
        let rules: Vec<String> = alb_rules(true).iter().map(ToString::to_string).collect();
        assert_eq!(
            rules,
            [
                "allow tcp 80 from 0.0.0.0/0",
                "allow tcp 80 from ::/0",
                "allow tcp 443 from 0.0.0.0/0",
                "allow tcp 443 from ::/0"
            ]
        );
        assert_eq!(alb_rules(false).len(), 2);
    }

    #[test]
    fn instances_accept_only_the_dynamic_ports_from_the_load_balancer() {
        assert_eq!(
            instance_rules("sg-1"),
            [Rule {
                from: 32768,
                to: 65535,
                source: Source::Group("sg-1".into())
            }]
        );
    }

    #[test]
    fn only_missing_rules_are_authorized() {
        let existing = vec![permission(&alb_rules(false)[0])];
        let missing = missing_rules(&alb_rules(false), &existing);
        assert_eq!(missing, vec![alb_rules(false)[1].clone()]);
        assert!(missing_rules(
            &alb_rules(false),
            &[permission(&alb_rules(false)[0]), permission(&alb_rules(false)[1])]
        )
        .is_empty());
    }
}
