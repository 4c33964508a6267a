//! What earlier resources resolved to (ids, ARNs, what runs), for the later ones: the one typed
//! record that flows down the inventory. A field is here only because a later kind reads it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_sdk_ec2::types::ArchitectureType;

use crate::ecs::Revision;

/// Which of the app's security groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupRole {
    /// The load balancer's.
    LoadBalancer,
    /// The instances'.
    Instances,
    /// Tasks with a network interface of their own (`awsvpc`): blue-green, canary and linear
    /// services'.
    Tasks,
}

/// The VPC and the subnets the load balancer and the instances use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vpc {
    /// VPC id.
    pub id: String,
    /// Subnet ids, at least two (a load balancer spans two availability zones).
    pub subnets: Vec<String>,
}

/// CPU architecture of an instance type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// Intel and AMD.
    X86_64,
    /// Graviton.
    Arm64,
}

impl Architecture {
    /// From the architectures EC2 says a type supports: arm64 only when it cannot run x86_64.
    pub fn from_supported(supported: &[ArchitectureType]) -> Architecture {
        if supported.contains(&ArchitectureType::Arm64) && !supported.contains(&ArchitectureType::X8664) {
            Architecture::Arm64
        } else {
            Architecture::X86_64
        }
    }

    /// The public SSM parameter naming the current ECS-optimized Amazon Linux 2023 AMI.
    pub fn ami_parameter(self) -> &'static str {
        match self {
            Architecture::X86_64 => "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
            Architecture::Arm64 => "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id",
        }
    }
}

/// What later resources need of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryFacts {
    /// `<registry>/<name>`.
    pub uri: String,
    /// Images it holds.
    pub images: usize,
    /// Whether one is tagged `latest`.
    pub has_latest: bool,
}

/// What later resources need of the load balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerFacts {
    /// ARN.
    pub arn: String,
    /// Public DNS name.
    pub dns_name: String,
}

impl LoadBalancerFacts {
    /// The app's URL: HTTPS when the app file names a certificate.
    pub fn url(&self, app: &crate::app_file::App) -> String {
        let scheme = if app.file.certificate_arn.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.dns_name)
    }
}

/// What earlier resources resolved to, for the later ones.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The region in use.
    pub region: String,
    /// When resources were created (by this run, or as AWS reports it), by kind and name: AWS
    /// may not show a new one to every API yet.
    pub created: BTreeMap<(&'static str, String), SystemTime>,
    /// The VPC and its subnets.
    pub vpc: Option<Vpc>,
    /// CPU architecture of the instance type.
    pub architecture: Option<Architecture>,
    /// Security group ids.
    pub security_groups: BTreeMap<GroupRole, String>,
    /// Role ARNs by role name.
    pub roles: BTreeMap<String, String>,
    /// The instance profile's name, once it exists with its role.
    pub instance_profile: Option<String>,
    /// The cluster's ARN.
    pub cluster: Option<String>,
    /// Repositories by name.
    pub repositories: BTreeMap<String, RepositoryFacts>,
    /// The load balancer.
    pub load_balancer: Option<LoadBalancerFacts>,
    /// Target group ARNs by service.
    pub target_groups: BTreeMap<String, String>,
    /// The second target group of each blue-green, canary or linear service, by service.
    pub alternate_target_groups: BTreeMap<String, String>,
    /// The listener rule ECS moves each such service's traffic on, by service (the listener's
    /// default rule for the first service).
    pub production_rules: BTreeMap<String, String>,
    /// Listener ARNs by port.
    pub listeners: BTreeMap<i32, String>,
    /// The launch template's id.
    pub launch_template: Option<String>,
    /// The Auto Scaling group's ARN.
    pub auto_scaling_group: Option<String>,
    /// The capacity provider's name, once it is ACTIVE.
    pub capacity_provider: Option<String>,
    /// Services as DescribeServices returned them (`None`: not ACTIVE), by service name.
    pub services: BTreeMap<String, Option<aws_sdk_ecs::types::Service>>,
    /// The revision each service runs (or the family's newest), by service name.
    pub revisions: BTreeMap<String, Revision>,
    /// Deployment alarms as DescribeAlarms returned them (`None`: none of that name), by name.
    pub alarms: BTreeMap<String, Option<aws_sdk_cloudwatch::types::MetricAlarm>>,
}

impl Facts {
    /// Facts for a run in `region`, nothing learnt yet.
    pub fn new(region: &str) -> Facts {
        Facts {
            region: region.to_string(),
            ..Facts::default()
        }
    }

    /// Whether the resource `name` of `kind` was created less than `window` ago: what AWS's
    /// eventual consistency may still hide from another API.
    pub fn is_fresh(&self, kind: &'static str, name: &str, window: Duration) -> bool {
        self.created
            .get(&(kind, name.to_string()))
            .is_some_and(|at| at.elapsed().map_or(true, |age| age < window))
    }

    /// Adds what one resource learnt (its `record`, which only ever adds) to what is known.
    pub fn absorb(&mut self, learnt: Facts) {
        let Facts {
            region: _,
            created,
            vpc,
            architecture,
            security_groups,
            roles,
            instance_profile,
            cluster,
            repositories,
            load_balancer,
            target_groups,
            alternate_target_groups,
            production_rules,
            listeners,
            launch_template,
            auto_scaling_group,
            capacity_provider,
            services,
            revisions,
            alarms,
        } = learnt;
        self.created.extend(created);
        self.security_groups.extend(security_groups);
        self.roles.extend(roles);
        self.repositories.extend(repositories);
        self.target_groups.extend(target_groups);
        self.alternate_target_groups.extend(alternate_target_groups);
        self.production_rules.extend(production_rules);
        self.listeners.extend(listeners);
        self.services.extend(services);
        self.revisions.extend(revisions);
        self.alarms.extend(alarms);
        fn one<T>(mine: &mut Option<T>, theirs: Option<T>) {
            if theirs.is_some() {
                *mine = theirs;
            }
        }
        one(&mut self.vpc, vpc);
        one(&mut self.architecture, architecture);
        one(&mut self.instance_profile, instance_profile);
        one(&mut self.cluster, cluster);
        one(&mut self.load_balancer, load_balancer);
        one(&mut self.launch_template, launch_template);
        one(&mut self.auto_scaling_group, auto_scaling_group);
        one(&mut self.capacity_provider, capacity_provider);
    }

    /// Records when AWS says the resource was created.
    pub fn created_at(&mut self, kind: &'static str, name: &str, at: &aws_smithy_types::DateTime) {
        if let Ok(at) = SystemTime::try_from(*at) {
            self.created.insert((kind, name.to_string()), at);
        }
    }
}

/// A fact an earlier resource should have provided; in `up` it always has (it was created
/// first), so its absence means the resource is missing.
pub fn need<'a, T>(value: Option<&'a T>, what: &str) -> Result<&'a T, crate::error::CliError> {
    value.ok_or_else(|| crate::error::CliError::NotCreated { what: what.to_string() })
}
