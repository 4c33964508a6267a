//! The app's AWS resources, one module per kind, each in the same four parts:
//!
//! - `observe`: what exists, by name (reads only);
//! - `diff`: pure, from what exists to what the app file wants, as a typed drift (an enum per
//!   kind, `Display` for the report); unit-tested without AWS;
//! - `create` / `apply`: the writes, each with the IAM permission it needs;
//! - `delete`: and the wait it needs (drained, detached, gone).
//!
//! [`inventory`] lists the app's resources in dependency order. `up` and `plan` converge along
//! it ([`converge`]), `status` observes along it, and `down` deletes along it reversed
//! ([`teardown`]). What one resource learns (an id, an ARN) later ones read from [`Known`].
//!
//! Every create looks first: moto, and AWS for some kinds, replace duplicates instead of refusing
//! them, and a run cut short must be finished by the next one.

pub mod auto_scaling_group;
pub mod capacity_provider;
pub mod cluster;
pub mod cluster_capacity;
pub mod instance_profile;
pub mod instance_type;
pub mod launch_template;
pub mod listener;
pub mod listener_rule;
pub mod load_balancer;
pub mod log_group;
pub mod network;
pub mod repository;
pub mod role;
pub mod routing_config;
pub mod scaling;
pub mod security_group;
pub mod service;
pub mod service_linked_role;
pub mod target_group;
pub mod task_definition;

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::app_file::App;
use crate::context::Context;
use crate::error::CliError;
use crate::progress::{Progress, Step};

/// Tag key every resource carries; its value is the app name.
pub const APP_TAG: &str = "pushdeploy:app";

/// One kind of AWS resource the app owns.
// The futures are awaited in place, never spawned: they need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Resource {
    /// What exists in AWS.
    type Observed: 'static;
    /// One way what exists differs from what the app file wants.
    type Drift: fmt::Display;

    /// Kind, for reports (`security group`).
    fn kind(&self) -> &'static str;
    /// Name, for reports.
    fn name(&self) -> String;
    /// Whether `down` deletes it.
    fn lifetime(&self) -> Lifetime {
        Lifetime::App
    }
    /// Whether the app file wants it at all. One it does not want is as wanted when absent; when
    /// present, its `diff` says how it goes.
    fn wanted(&self) -> bool {
        true
    }

    /// What exists, or `None`. Reads only.
    async fn observe(&self, ctx: &Context, known: &Known) -> Result<Option<Self::Observed>, CliError>;
    /// How what exists differs from what the app wants. Pure.
    fn diff(&self, observed: &Self::Observed, known: &Known) -> Vec<Self::Drift>;
    /// Creates it; returns what now exists.
    async fn create(&self, ctx: &Context, known: &Known, step: &Step) -> Result<Self::Observed, CliError>;
    /// Removes the drift.
    async fn apply(
        &self,
        ctx: &Context,
        observed: &Self::Observed,
        drift: &[Self::Drift],
        known: &Known,
        step: &Step,
    ) -> Result<(), CliError>;
    /// Deletes it, and waits until AWS lets what it depended on go.
    async fn delete(&self, ctx: &Context, observed: &Self::Observed, step: &Step) -> Result<(), CliError>;
    /// Tells later resources what they need of it (ids, ARNs).
    fn record(&self, observed: &Self::Observed, known: &mut Known);
    /// A short state for reports (`active`, `2/2 running`).
    fn state(&self, _observed: &Self::Observed, _known: &Known) -> Option<String> {
        None
    }
}

/// Who a resource belongs to, which decides whether `down` deletes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// The app's own: `down` deletes it.
    App,
    /// The account's (the VPC, the ECS service-linked role): never deleted.
    Account,
    /// The app's data (ECR repositories and their images): deleted only on request.
    Data,
}

/// A difference-free kind's drift: it has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoDrift {}

impl fmt::Display for NoDrift {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

/// Which of the app's two security groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupRole {
    /// The load balancer's.
    LoadBalancer,
    /// The instances'.
    Instances,
}

/// What earlier resources resolved to, for the later ones (and for `status`).
#[derive(Debug, Default)]
pub struct Known {
    /// The region in use.
    pub region: String,
    /// When resources were created (by this run, or as AWS reports it), by kind and name: AWS
    /// may not show a new one to every API yet.
    pub created: BTreeMap<(&'static str, String), SystemTime>,
    /// The VPC and its subnets.
    pub vpc: Option<network::Vpc>,
    /// CPU architecture of the instance type (`x86_64`, `arm64`).
    pub architecture: Option<instance_type::Architecture>,
    /// Security group ids.
    pub security_groups: BTreeMap<GroupRole, String>,
    /// Role ARNs by role name.
    pub roles: BTreeMap<String, String>,
    /// The instance profile's name, once it exists with its role.
    pub instance_profile: Option<String>,
    /// The cluster's ARN.
    pub cluster: Option<String>,
    /// Repositories by name.
    pub repositories: BTreeMap<String, repository::RepositoryFacts>,
    /// Log groups by service.
    pub log_groups: BTreeMap<String, log_group::Observed>,
    /// The load balancer.
    pub load_balancer: Option<load_balancer::LoadBalancerFacts>,
    /// Target group ARNs by service.
    pub target_groups: BTreeMap<String, String>,
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
    pub revisions: BTreeMap<String, task_definition::Revision>,
    /// Scalable targets by service name.
    pub scaling: BTreeMap<String, scaling::Observed>,
}

impl Known {
    /// Whether the resource `name` of `kind` was created less than `window` ago: what AWS's
    /// eventual consistency may still hide from another API.
    pub fn is_fresh(&self, kind: &'static str, name: &str, window: Duration) -> bool {
        self.created
            .get(&(kind, name.to_string()))
            .is_some_and(|at| at.elapsed().map_or(true, |age| age < window))
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
pub fn need<'a, T>(value: Option<&'a T>, what: &str) -> Result<&'a T, CliError> {
    value.ok_or_else(|| CliError::NotCreated { what: what.to_string() })
}

/// Whether `converge` writes or only reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Create and update.
    Apply,
    /// Only say what would change (`plan`, `up --dry-run`, `status`).
    Plan,
}

/// What `up` did (or would do) to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", content = "details", rename_all = "kebab-case")]
pub enum Change {
    /// It did not exist.
    Create,
    /// It existed and differed; the drift, as the report shows it.
    Update(Vec<String>),
    /// It existed as wanted.
    NoChange,
}

/// One line of the `up` / `plan` / `status` report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Resource kind (`security group`, `load balancer` ...).
    pub kind: &'static str,
    /// Name or ARN.
    pub name: String,
    /// Create, update or no change.
    #[serde(flatten)]
    pub change: Change,
    /// State where the kind has one (`active`, `waiting for a first push` ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// One deleted (or already absent) resource.
#[derive(Debug, Clone, Serialize)]
pub struct Deleted {
    /// Kind.
    pub kind: &'static str,
    /// Name.
    pub name: String,
    /// False when it was already gone.
    pub deleted: bool,
}

/// Settings of one `up` that are not in the app file.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Start an instance refresh when instances run an older AMI (`up --refresh-instances`).
    pub refresh_instances: bool,
}

/// Every resource of the app, in the order `up` creates them (and `down` deletes them reversed).
pub enum Node {
    /// The account's ECS service-linked role.
    ServiceLinkedRole(service_linked_role::EcsServiceLinkedRole),
    /// VPC and subnets.
    Network(network::Network),
    /// The instance type and its architecture.
    InstanceType(instance_type::InstanceType),
    /// A security group.
    SecurityGroup(security_group::SecurityGroup),
    /// An IAM role.
    Role(role::Role),
    /// The instance profile.
    InstanceProfile(instance_profile::InstanceProfile),
    /// The ECS cluster.
    Cluster(cluster::Cluster),
    /// An ECR repository.
    Repository(repository::Repository),
    /// A service's log group.
    LogGroup(log_group::LogGroup),
    /// The load balancer.
    LoadBalancer(load_balancer::LoadBalancer),
    /// A target group.
    TargetGroup(target_group::TargetGroup),
    /// A listener.
    Listener(listener::Listener),
    /// A listener rule.
    ListenerRule(listener_rule::ListenerRule),
    /// The launch template.
    LaunchTemplate(launch_template::LaunchTemplate),
    /// The Auto Scaling group.
    AutoScalingGroup(auto_scaling_group::AutoScalingGroup),
    /// The capacity provider.
    CapacityProvider(capacity_provider::CapacityProvider),
    /// The capacity provider's attachment to the cluster.
    ClusterCapacity(cluster_capacity::ClusterCapacity),
    /// A service's task definition.
    TaskDefinition(task_definition::TaskDefinition),
    /// An ECS service.
    Service(service::Service),
    /// A service's auto scaling.
    Scaling(scaling::Scaling),
    /// The routing config.
    RoutingConfig(routing_config::RoutingConfig),
}

/// Runs `$body` with `$r` bound to the node's resource, whatever its kind.
macro_rules! on_node {
    ($node:expr, $r:ident => $body:expr) => {
        match $node {
            Node::ServiceLinkedRole($r) => $body,
            Node::Network($r) => $body,
            Node::InstanceType($r) => $body,
            Node::SecurityGroup($r) => $body,
            Node::Role($r) => $body,
            Node::InstanceProfile($r) => $body,
            Node::Cluster($r) => $body,
            Node::Repository($r) => $body,
            Node::LogGroup($r) => $body,
            Node::LoadBalancer($r) => $body,
            Node::TargetGroup($r) => $body,
            Node::Listener($r) => $body,
            Node::ListenerRule($r) => $body,
            Node::LaunchTemplate($r) => $body,
            Node::AutoScalingGroup($r) => $body,
            Node::CapacityProvider($r) => $body,
            Node::ClusterCapacity($r) => $body,
            Node::TaskDefinition($r) => $body,
            Node::Service($r) => $body,
            Node::Scaling($r) => $body,
            Node::RoutingConfig($r) => $body,
        }
    };
}

impl Node {
    /// Kind, for reports and progress.
    pub fn kind(&self) -> &'static str {
        on_node!(self, r => r.kind())
    }

    /// Name, for reports and progress.
    pub fn name(&self) -> String {
        on_node!(self, r => r.name())
    }
}

/// The app's resources in dependency order: each one after everything it uses.
pub fn inventory(app: &App, options: Options) -> Vec<Node> {
    let services = app.services();
    let https = app.file.certificate_arn.is_some();
    let mut nodes = vec![
        Node::ServiceLinkedRole(service_linked_role::EcsServiceLinkedRole),
        Node::Network(network::Network::new(app)),
        Node::InstanceType(instance_type::InstanceType::new(app)),
        Node::SecurityGroup(security_group::SecurityGroup::new(app, GroupRole::LoadBalancer)),
        Node::SecurityGroup(security_group::SecurityGroup::new(app, GroupRole::Instances)),
        Node::Role(role::Role::instance(app)),
        Node::Role(role::Role::execution(app)),
    ];
    for s in &services {
        nodes.push(Node::Role(role::Role::task(app, s)));
    }
    nodes.extend([
        Node::InstanceProfile(instance_profile::InstanceProfile::new(app)),
        Node::Cluster(cluster::Cluster::new(app)),
    ]);
    let mut repositories = BTreeSet::new();
    for s in &services {
        if repositories.insert(s.repository.clone()) {
            nodes.push(Node::Repository(repository::Repository::new(app, s)));
        }
    }
    for s in &services {
        nodes.push(Node::LogGroup(log_group::LogGroup::new(app, s)));
    }
    nodes.push(Node::LoadBalancer(load_balancer::LoadBalancer::new(app)));
    for s in &services {
        nodes.push(Node::TargetGroup(target_group::TargetGroup::new(app, s)));
    }
    nodes.push(Node::Listener(listener::Listener::http(app)));
    if https {
        nodes.push(Node::Listener(listener::Listener::https(app)));
    }
    // A service removed from the file (added back by `down` to delete it) has no route: its
    // rule, if any, goes with the listener.
    for (i, s) in services.iter().enumerate().skip(1) {
        if s.spec.path.is_some() || s.spec.host.is_some() {
            nodes.push(Node::ListenerRule(listener_rule::ListenerRule::new(app, s, i)));
        }
    }
    nodes.extend([
        Node::LaunchTemplate(launch_template::LaunchTemplate::new(app)),
        Node::AutoScalingGroup(auto_scaling_group::AutoScalingGroup::new(
            app,
            options.refresh_instances,
        )),
        Node::CapacityProvider(capacity_provider::CapacityProvider::new(app)),
        Node::ClusterCapacity(cluster_capacity::ClusterCapacity::new(app)),
    ]);
    for s in &services {
        nodes.push(Node::TaskDefinition(task_definition::TaskDefinition::new(app, s)));
    }
    for s in &services {
        nodes.push(Node::Service(service::Service::new(app, s)));
    }
    for s in &services {
        nodes.push(Node::Scaling(scaling::Scaling::new(app, s)));
    }
    nodes.push(Node::RoutingConfig(routing_config::RoutingConfig::new(app)));
    nodes
}

fn summary(change: &Change, mode: Mode) -> String {
    match (change, mode) {
        (Change::Create, Mode::Plan) => "to create".into(),
        (Change::Create, Mode::Apply) => "created".into(),
        (Change::Update(d), Mode::Plan) => format!("to update: {}", d.join("; ")),
        (Change::Update(d), Mode::Apply) => format!("updated: {}", d.join("; ")),
        (Change::NoChange, _) => "no change".into(),
    }
}

async fn converge_one<R: Resource>(
    r: &R,
    ctx: &Context,
    known: &mut Known,
    mode: Mode,
    step: &Step,
) -> Result<Report, CliError> {
    let observed = r.observe(ctx, known).await?;
    let (change, observed) = match observed {
        Some(observed) => {
            let drift = r.diff(&observed, known);
            if mode == Mode::Apply && !drift.is_empty() {
                r.apply(ctx, &observed, &drift, known, step).await?;
            }
            let change = if drift.is_empty() {
                Change::NoChange
            } else {
                Change::Update(drift.iter().map(ToString::to_string).collect())
            };
            (change, Some(observed))
        }
        None if mode == Mode::Apply && r.wanted() => {
            let observed = r.create(ctx, known, step).await?;
            known.created.insert((r.kind(), r.name()), SystemTime::now());
            // A create that found the resource already there (a run cut short after sending,
            // or a concurrent one) took it as it is: converge it now, not on the next `up`.
            let drift = r.diff(&observed, known);
            if !drift.is_empty() {
                r.apply(ctx, &observed, &drift, known, step).await?;
            }
            (Change::Create, Some(observed))
        }
        None if !r.wanted() => (Change::NoChange, None),
        None => (Change::Create, None),
    };
    let state = match &observed {
        Some(o) => r.state(o, known),
        None if !r.wanted() => Some("off".into()),
        None => None,
    };
    if let Some(observed) = &observed {
        r.record(observed, known);
    }
    Ok(Report {
        kind: r.kind(),
        name: r.name(),
        change,
        state,
    })
}

/// Brings every resource to what the app wants ([`Mode::Apply`]), or reports what that would
/// take ([`Mode::Plan`]), in [`inventory`] order. Returns the reports and what was learnt.
pub async fn converge(
    nodes: &[Node],
    ctx: &Context,
    mode: Mode,
    progress: &Progress,
) -> Result<(Vec<Report>, Known), CliError> {
    let mut known = Known {
        region: ctx.region().to_string(),
        ..Known::default()
    };
    let mut reports = Vec::with_capacity(nodes.len());
    for node in nodes {
        let step = progress.step(&format!("{} {}", node.kind(), node.name()));
        match on_node!(node, r => converge_one(r, ctx, &mut known, mode, &step).await) {
            Ok(report) => {
                step.done(&summary(&report.change, mode));
                reports.push(report);
            }
            Err(e) => {
                step.failed();
                return Err(e);
            }
        }
    }
    Ok((reports, known))
}

async fn observe_one<R: Resource>(r: &R, ctx: &Context, known: &mut Known) -> Result<Option<Box<dyn Any>>, CliError> {
    let observed = r.observe(ctx, known).await?;
    if let Some(o) = &observed {
        r.record(o, known);
    }
    Ok(observed.map(|o| Box::new(o) as Box<dyn Any>))
}

async fn delete_one<R: Resource>(
    r: &R,
    observed: Option<Box<dyn Any>>,
    ctx: &Context,
    step: &Step,
) -> Result<bool, CliError> {
    let Some(observed) = observed else {
        return Ok(false);
    };
    let observed = observed
        .downcast::<R::Observed>()
        .expect("a node's observation has the node's own type");
    r.delete(ctx, &observed, step).await?;
    Ok(true)
}

/// Deletes every resource of the app: observes them all in [`inventory`] order, then deletes
/// in reverse, each with the wait its kind declares. Resources of the account are kept, and the
/// app's data (repositories) unless `delete_data`.
pub async fn teardown(
    nodes: &[Node],
    ctx: &Context,
    delete_data: bool,
    progress: &Progress,
) -> Result<Vec<Deleted>, CliError> {
    let mut known = Known {
        region: ctx.region().to_string(),
        ..Known::default()
    };
    let mut observed = Vec::with_capacity(nodes.len());
    let look = progress.step("reading what exists");
    for node in nodes {
        match on_node!(node, r => observe_one(r, ctx, &mut known).await) {
            Ok(o) => observed.push(o),
            Err(e) => {
                look.failed();
                return Err(e);
            }
        }
    }
    look.done(&format!(
        "{} of {} resources exist",
        observed.iter().filter(|o| o.is_some()).count(),
        nodes.len()
    ));
    let mut deleted = Vec::new();
    for (node, observed) in nodes.iter().zip(observed).rev() {
        let lifetime = on_node!(node, r => r.lifetime());
        let keep = match lifetime {
            Lifetime::App => false,
            Lifetime::Account => true,
            Lifetime::Data => !delete_data,
        };
        // Absent and not wanted (scaling that is off): nothing to say.
        if keep || (observed.is_none() && !on_node!(node, r => r.wanted())) {
            continue;
        }
        let step = progress.step(&format!("delete {} {}", node.kind(), node.name()));
        match on_node!(node, r => delete_one(r, observed, ctx, &step).await) {
            Ok(did) => {
                step.done(if did { "deleted" } else { "already gone" });
                deleted.push(Deleted {
                    kind: node.kind(),
                    name: node.name(),
                    deleted: did,
                });
            }
            Err(e) => {
                step.failed();
                return Err(e);
            }
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_file::AppFile;

    /// `(a, b)`: `a` uses `b`, so `a` must come after `b` in the inventory (and go before it in
    /// `down`). AWS refuses the other order; the emulator only enforces some of it.
    const USES: &[(&str, &str)] = &[
        ("security group", "vpc"),
        ("instance profile", "iam role"),
        ("ecs cluster", "service-linked role"),
        ("load balancer", "security group"),
        ("target group", "vpc"),
        ("listener", "load balancer"),
        ("listener", "target group"),
        ("listener rule", "listener"),
        ("listener rule", "target group"),
        ("launch template", "security group"),
        ("launch template", "instance profile"),
        ("launch template", "instance type"),
        ("auto scaling group", "launch template"),
        ("capacity provider", "auto scaling group"),
        ("cluster capacity", "capacity provider"),
        ("cluster capacity", "ecs cluster"),
        ("task definition", "iam role"),
        ("task definition", "ecr repository"),
        ("task definition", "log group"),
        ("ecs service", "task definition"),
        ("ecs service", "cluster capacity"),
        ("ecs service", "listener"),
        ("ecs service", "listener rule"),
        ("ecs service", "ecs cluster"),
        ("service scaling", "ecs service"),
        ("routing config", "ecs service"),
    ];

    #[test]
    fn every_resource_comes_after_what_it_uses_so_down_deletes_it_first() {
        let mut file = AppFile::default();
        file.certificate_arn = Some("arn:aws:acm:us-east-1:1:certificate/x".into());
        let mut api = crate::app_file::ServiceSpec::default();
        api.name = "api".into();
        api.path = Some("/api/*".into());
        file.services.push(api);
        let app = App::resolve(file, Some("demo"), "defaults", None).unwrap();
        let kinds: Vec<&str> = inventory(&app, Options::default()).iter().map(Node::kind).collect();
        for (user, used) in USES {
            let first_user = kinds
                .iter()
                .position(|k| k == user)
                .unwrap_or_else(|| panic!("no {user}"));
            let last_used = kinds
                .iter()
                .rposition(|k| k == used)
                .unwrap_or_else(|| panic!("no {used}"));
            assert!(last_used < first_user, "{user} must come after every {used}: {kinds:?}");
        }
    }

    #[test]
    fn the_inventory_names_each_resource_once() {
        let app = App::resolve(AppFile::default(), Some("demo"), "defaults", None).unwrap();
        let nodes = inventory(&app, Options::default());
        let mut seen = BTreeSet::new();
        for n in &nodes {
            assert!(seen.insert((n.kind(), n.name())), "{} {} twice", n.kind(), n.name());
        }
    }
}
