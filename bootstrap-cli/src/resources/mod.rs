//! The app's AWS resources, one module per kind, each following [`model::Resource`].
//!
//! [`inventory`] lists the app's resources in dependency order. `up` and `plan` converge along
//! it ([`converge`]), each resource once the kinds it uses are done ([`model::After`]), side by
//! side; `status` observes the same way, and `down` deletes along it reversed ([`teardown`]).
//! What one resource learns (an id, an ARN) later ones read from [`facts::Facts`]. A new kind is
//! its module, its `pub mod` line and its line in [`inventory`] (it waits for everything before
//! it until its `after` says what it uses).
//!
//! Every create looks first: moto, and AWS for some kinds, replace duplicates instead of refusing
//! them, and a run cut short must be finished by the next one.

pub mod alarm;
pub mod auto_scaling_group;
pub mod capacity_provider;
pub mod cluster;
pub mod cluster_capacity;
pub mod deletion;
pub mod facts;
pub mod instance_profile;
pub mod instance_type;
pub mod launch_template;
pub mod listener;
pub mod listener_rule;
pub mod load_balancer;
pub mod lock_table;
pub mod log_group;
pub mod model;
pub mod network;
pub mod repository;
pub mod role;
pub mod routing_config;
pub mod scaling;
pub mod security_group;
pub mod service;
pub mod service_linked_role;
pub mod target_group;
pub mod task_family;
pub mod unused_instances;

use std::collections::BTreeSet;

use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};

use crate::app_file::{App, AppService, Capacity};
use crate::context::Context;
use crate::error::CliError;
use crate::progress::Progress;
pub use deletion::{teardown, Teardown};
use facts::{Facts, GroupRole};
use model::{After, AnyResource, Mode, Report};

/// Settings of one `up` that are not in the app file.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Start an instance refresh when instances run an older AMI (`up --refresh-instances`).
    pub refresh_instances: bool,
    /// For `down`: also what another strategy would have made (the tasks' group, the
    /// infrastructure role, the other target groups), deleted when found.
    pub teardown: bool,
}

/// The app's resources in the order `up` creates them (and `down` deletes them reversed).
pub type Inventory = Vec<Box<dyn AnyResource>>;

/// The app's resources in dependency order: each one after everything it uses.
pub fn inventory(app: &App, options: Options) -> Inventory {
    let services = app.services();
    // An app whose services all run on Fargate has no instances (`down` still looks for them).
    let instances = options.teardown || services.iter().any(|s| s.spec.capacity == Capacity::Ec2);
    let mut list = identities(app, &services, options, instances);
    list.push(Box::new(cluster::Cluster::new(app)));
    list.push(Box::new(lock_table::LockTable::new(app)));
    let mut repositories = BTreeSet::new();
    for s in services.iter().filter(|s| repositories.insert(s.repository.clone())) {
        list.push(Box::new(repository::Repository::new(app, s)));
    }
    list.extend(each(&services, |s| Box::new(log_group::LogGroup::new(app, s))));
    list.push(Box::new(load_balancer::LoadBalancer::new(app)));
    list.extend(each(&services, |s| Box::new(target_group::TargetGroup::new(app, s))));
    list.extend(
        (services.iter().filter(|s| s.spec.deployment.is_staged()))
            .map(|s| Box::new(target_group::TargetGroup::alternate(app, s)) as Box<dyn AnyResource>),
    );
    if options.teardown {
        for s in &services {
            let other = target_group::TargetGroup::other_scheme(app, s);
            list.extend(other.into_iter().map(|g| Box::new(g) as Box<dyn AnyResource>));
        }
    }
    list.extend(
        services
            .iter()
            .flat_map(|s| alarm::KINDS.map(|kind| Box::new(alarm::Alarm::new(app, s, kind)) as Box<dyn AnyResource>)),
    );
    list.push(Box::new(listener::Listener::http(app)));
    if app.file.certificate_arn.is_some() {
        list.push(Box::new(listener::Listener::https(app)));
    }
    list.extend(
        (services.iter().filter_map(|s| listener::Listener::test(app, s))).map(|l| Box::new(l) as Box<dyn AnyResource>),
    );
    // A service removed from the file (added back by `down` to delete it) has no route: its
    // rule, if any, goes with the listener.
    for (i, s) in services.iter().enumerate().skip(1) {
        if s.spec.path.is_some() || s.spec.host.is_some() {
            list.push(Box::new(listener_rule::ListenerRule::new(app, s, i)));
        }
    }
    if instances {
        list.push(Box::new(launch_template::LaunchTemplate::new(app)));
        list.push(Box::new(auto_scaling_group::AutoScalingGroup::new(
            app,
            options.refresh_instances,
        )));
        list.push(Box::new(capacity_provider::CapacityProvider::new(app)));
    }
    list.push(Box::new(cluster_capacity::ClusterCapacity::new(app, instances)));
    list.extend(each(&services, |s| Box::new(task_family::TaskFamily::new(app, s))));
    list.extend(each(&services, |s| Box::new(service::Service::new(app, s))));
    list.extend(each(&services, |s| Box::new(scaling::ServiceScaling::new(app, s))));
    // After the services: they stop naming a test listener's rule before it goes (one going back
    // to rolling too, which only a service on Fargate does in place).
    let may_test = |s: &AppService| s.spec.deployment.is_staged() || s.spec.capacity != Capacity::Ec2;
    if options.teardown || !app.kept_groups.is_empty() || services.iter().any(may_test) {
        list.push(Box::new(listener::Leftovers::new(app)));
    }
    list.push(Box::new(routing_config::RoutingConfig::new(app)));
    if !instances {
        // The last service on the instances may have moved to Fargate: what is left of them goes
        // (last: its waits hold up nothing else).
        list.push(Box::new(unused_instances::UnusedInstances::new(app)));
    }
    list
}

/// The account's and the app's identities: the ECS service-linked role, the network, the
/// security groups and the roles (the instances' only when there are instances; the tasks' group
/// and the infrastructure role only for services that need them, though `down` looks for them).
fn identities(app: &App, services: &[AppService], options: Options, instances: bool) -> Inventory {
    let mut list: Inventory = vec![
        Box::new(service_linked_role::EcsServiceLinkedRole),
        Box::new(network::Network::new(app)),
    ];
    if instances {
        list.push(Box::new(instance_type::InstanceType::new(app)));
    }
    list.push(Box::new(security_group::SecurityGroup::new(
        app,
        GroupRole::LoadBalancer,
    )));
    if instances {
        list.push(Box::new(security_group::SecurityGroup::new(app, GroupRole::Instances)));
        list.push(Box::new(role::Role::instance(app)));
    }
    list.push(Box::new(role::Role::execution(app)));
    let awsvpc = services.iter().any(|s| s.spec.is_awsvpc());
    let tasks = security_group::SecurityGroup::new(app, GroupRole::Tasks);
    if awsvpc {
        list.push(Box::new(tasks));
    } else if options.teardown {
        list.push(Box::new(tasks.unwanted()));
    }
    let infrastructure = role::Role::infrastructure(app);
    if services.iter().any(|s| s.spec.deployment.is_staged()) {
        list.push(Box::new(infrastructure));
    } else if options.teardown {
        list.push(Box::new(infrastructure.unwanted()));
    }
    list.extend(each(services, |s| Box::new(role::Role::task(app, s))));
    if instances {
        list.push(Box::new(instance_profile::InstanceProfile::new(app)));
    }
    list
}

/// One resource per service.
fn each(services: &[AppService], make: impl Fn(&AppService) -> Box<dyn AnyResource>) -> Vec<Box<dyn AnyResource>> {
    services.iter().map(make).collect()
}

/// What `up`, `plan` and `status` read of `app` in batches before its resources one by one: its
/// ECS services (ten to a DescribeServices call) and its deployment alarms (a hundred to a
/// DescribeAlarms call), which the task definitions, services and alarms take from the facts
/// instead of a read each. The calls stay linear in the services, with a tenth of the slope.
///
/// IAM: `ecs:DescribeServices`, `cloudwatch:DescribeAlarms`.
pub async fn read_ahead(app: &App, ctx: &Context) -> Result<Facts, CliError> {
    let names: Vec<String> = app.services().into_iter().map(|s| s.spec.name).collect();
    let mut facts = Facts::new(ctx.region());
    facts.services = crate::ecs::describe_services(ctx, &app.names.cluster(), &names).await?;
    facts.alarms = alarm::describe_all(ctx, &alarm::names(app)).await?;
    Ok(facts)
}

/// At most this many resources converge at once: AWS throttles a burst of control-plane calls
/// (the SDK retries those, but each retry is a wait), and the terminal shows one line each.
pub const IN_FLIGHT: usize = 8;

/// The kinds every resource follows, whatever its [`After`]: the checks of the file against the
/// account, so that a wrong instance type or a missing VPC stops `up` before it creates anything.
const CHECKS: [&str; 2] = ["vpc", "instance type"];

/// For each resource of `list`, the earlier ones it is converged after ([`AnyResource::after`]).
pub fn dependencies(list: &[Box<dyn AnyResource>]) -> Vec<Vec<usize>> {
    (list.iter().enumerate())
        .map(|(i, r)| {
            (0..i)
                .filter(|&j| match r.after() {
                    After::Everything => true,
                    After::Kinds(kinds) => kinds.contains(&list[j].kind()) || CHECKS.contains(&list[j].kind()),
                })
                .collect()
        })
        .collect()
}

/// How long each resource took and what it waited for: the longest chain of dependencies, the
/// least time any order could take.
#[derive(Debug, Clone, Default)]
pub struct Timing {
    /// Each resource's own time (observe, create or update, and its waits), in list order.
    pub own: Vec<Duration>,
    /// The longest chain: list indexes, first to last.
    pub chain: Vec<usize>,
    /// Its length, the sum of its resources' own times.
    pub chain_time: Duration,
    /// From the first start to the last end.
    pub wall: Duration,
}

impl Timing {
    fn of(own: Vec<Duration>, after: &[Vec<usize>], wall: Duration) -> Timing {
        // Longest path ending at each resource, in list order (dependencies come earlier).
        let mut ends: Vec<(Duration, Option<usize>)> = Vec::with_capacity(own.len());
        for (i, time) in own.iter().enumerate() {
            let longest = after[i].iter().map(|&j| (ends[j].0, Some(j))).max_by_key(|(t, _)| *t);
            let (before, from) = longest.unwrap_or((Duration::ZERO, None));
            ends.push((before + *time, from));
        }
        let last = (0..ends.len()).max_by_key(|&i| ends[i].0);
        let mut chain = Vec::new();
        let mut at = last;
        while let Some(i) = at {
            chain.push(i);
            at = ends[i].1;
        }
        chain.reverse();
        Timing {
            chain_time: last.map_or(Duration::ZERO, |i| ends[i].0),
            own,
            chain,
            wall,
        }
    }

    /// One line: the wall time beside the sum of the resources' own times and the longest
    /// chain, and the chain.
    pub fn words(&self, list: &[Box<dyn AnyResource>]) -> String {
        let chain: Vec<String> = (self.chain.iter())
            .map(|&i| {
                format!(
                    "{} {} {:.2}s",
                    list[i].kind(),
                    list[i].name(),
                    self.own[i].as_secs_f64()
                )
            })
            .collect();
        format!(
            "converged in {:.2}s (one resource after another: {:.2}s); longest dependency chain {:.2}s: {}",
            self.wall.as_secs_f64(),
            self.own.iter().sum::<Duration>().as_secs_f64(),
            self.chain_time.as_secs_f64(),
            chain.join(" -> ")
        )
    }
}

/// Brings every resource to what the app wants ([`Mode::Apply`]), or reports what that would
/// take ([`Mode::Preview`]), starting from `facts` (what [`read_ahead`] read, or
/// [`Facts::new`]). Each resource starts once those it comes after ([`dependencies`]) are done,
/// beside the others ([`IN_FLIGHT`] at most), with what they learnt; a resource's own waits (a
/// table becoming active, IAM propagating) hold up only what uses it. Returns the reports in
/// list order, what was learnt, and the timing. After a failure nothing new starts, the
/// resources in flight finish (one may hold the deploy lock, which only its end releases), and
/// the first error is returned.
pub async fn converge(
    list: &[Box<dyn AnyResource>],
    ctx: &Context,
    mode: Mode,
    progress: &Progress,
    facts: Facts,
) -> Result<(Vec<Report>, Facts, Timing), CliError> {
    let after = dependencies(list);
    // Tokio's clock: the same as the system's, and a test's paused clock in tests.
    let started_at = tokio::time::Instant::now();
    let mut known = facts;
    let mut reports: Vec<Option<Report>> = list.iter().map(|_| None).collect();
    let mut own = vec![Duration::ZERO; list.len()];
    let mut started = vec![false; list.len()];
    let mut running = FuturesUnordered::new();
    let mut failure = None;
    loop {
        for i in 0..list.len() {
            let ready = !started[i] && after[i].iter().all(|&j| reports[j].is_some());
            if running.len() < IN_FLIGHT && ready && failure.is_none() {
                started[i] = true;
                let (r, mut mine) = (&list[i], known.clone());
                running.push(async move {
                    let step = progress.step(&format!("{} {}", r.kind(), r.name()));
                    let began = tokio::time::Instant::now();
                    let result = r.converge(ctx, &mut mine, mode, &step).await;
                    match &result {
                        Ok((report, _)) => step.done(&report.change.words(mode)),
                        Err(_) => step.failed(),
                    }
                    (i, result, began.elapsed())
                });
            }
        }
        let Some((i, result, took)) = running.next().await else {
            break;
        };
        match result {
            Ok((report, learnt)) => {
                known.absorb(learnt);
                reports[i] = Some(report);
                own[i] = took;
            }
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let timing = Timing::of(own, &after, started_at.elapsed());
    let reports = reports.into_iter().flatten().collect::<Vec<_>>();
    debug_assert_eq!(
        reports.len(),
        list.len(),
        "every resource converges once its dependencies have"
    );
    Ok((reports, known, timing))
}

#[cfg(test)]
mod tests {
    use super::model::{Existing, Lifetime};
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
        ("task definition", "lock table"),
        ("routing config", "lock table"),
        ("ecs service", "task definition"),
        ("ecs service", "cluster capacity"),
        ("ecs service", "listener"),
        ("ecs service", "listener rule"),
        ("alarm", "target group"),
        ("alarm", "load balancer"),
        ("ecs service", "alarm"),
        ("ecs service", "ecs cluster"),
        ("service scaling", "ecs service"),
        ("service scaling", "load balancer"),
        ("service scaling", "target group"),
        ("routing config", "ecs service"),
        ("auto scaling group", "ecs cluster"),
        ("capacity provider", "service-linked role"),
        ("ecs service", "iam role"),
        ("ecs service", "security group"),
        ("ecs service", "target group"),
        ("ecs service", "log group"),
        ("ecs service", "service-linked role"),
        ("task definition", "target group"),
        ("task definition", "listener rule"),
        ("task definition", "cluster capacity"),
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
        let kinds: Vec<&str> = inventory(&app, Options::default()).iter().map(|r| r.kind()).collect();
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

    /// An app with every kind: a certificate, a second service on a path, a canary service
    /// with a test listener, scaling.
    fn everything() -> App {
        let text = r#"
            certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/x"
            [[services]]
            name = "web"
            [services.autoscaling]
            min_count = 1
            max_count = 4
            cpu_target = 60
            [[services]]
            name = "api"
            path = "/api/*"
            [services.deployment]
            strategy = "canary"
            test_port = 8081
        "#;
        let file: AppFile = toml::from_str(text).unwrap();
        App::resolve(file, Some("demo"), "pushdeploy.toml", Some(text)).unwrap()
    }

    #[test]
    fn converge_starts_each_resource_after_what_it_uses() {
        let app = everything();
        let list = inventory(&app, Options::default());
        let after = dependencies(&list);
        // What each resource starts after, directly or through what it waits for (a dependency
        // ends only after its own have).
        let mut before: Vec<BTreeSet<usize>> = Vec::with_capacity(list.len());
        for direct in &after {
            let mut all: BTreeSet<usize> = direct.iter().copied().collect();
            for &j in direct {
                all.extend(before[j].iter().copied());
            }
            before.push(all);
        }
        for (i, r) in list.iter().enumerate() {
            for (user, used) in USES.iter().filter(|(user, _)| *user == r.kind()) {
                for j in (0..i).filter(|&j| list[j].kind() == *used) {
                    assert!(
                        before[i].contains(&j),
                        "{user} {} must start after {used} {}",
                        r.name(),
                        list[j].name()
                    );
                }
            }
        }
        // Every kind an `after` names is one the inventory has (a misspelt kind waits for nothing).
        let kinds: BTreeSet<&str> = list.iter().map(|r| r.kind()).collect();
        for r in &list {
            if let After::Kinds(named) = r.after() {
                for kind in named {
                    assert!(kinds.contains(kind), "{} names {kind}, no such kind", r.kind());
                }
            }
        }
        // Not everything after everything: the lock table and the roles start at once, and the
        // services wait for the lock table only through their task definitions.
        let index = |kind: &str| list.iter().position(|r| r.kind() == kind).unwrap();
        assert!(after[index("lock table")]
            .iter()
            .all(|&j| CHECKS.contains(&list[j].kind())));
        assert!(after[index("iam role")]
            .iter()
            .all(|&j| CHECKS.contains(&list[j].kind())));
        assert!(!after[index("ecs service")].contains(&index("lock table")));
    }

    /// A resource that only waits and says when it starts and ends.
    struct Fake {
        kind: &'static str,
        after: After,
        millis: u64,
        fails: bool,
        log: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
    }

    impl AnyResource for Fake {
        fn kind(&self) -> &'static str {
            self.kind
        }
        fn name(&self) -> String {
            self.kind.to_string()
        }
        fn lifetime(&self) -> Lifetime {
            Lifetime::App
        }
        fn wanted(&self) -> bool {
            true
        }
        fn deleted_together(&self) -> bool {
            false
        }
        fn after(&self) -> After {
            self.after
        }
        fn converge<'a>(
            &'a self,
            _ctx: &'a Context,
            _facts: &'a mut Facts,
            _mode: Mode,
            _step: &'a crate::progress::Step,
        ) -> futures::future::LocalBoxFuture<'a, Result<(Report, Facts), CliError>> {
            use futures::FutureExt;
            async move {
                self.log.borrow_mut().push(format!("start {}", self.kind));
                tokio::time::sleep(Duration::from_millis(self.millis)).await;
                self.log.borrow_mut().push(format!("end {}", self.kind));
                if self.fails {
                    return Err(CliError::Timeout {
                        what: self.kind.into(),
                        waited_secs: 0,
                        hint: String::new(),
                    });
                }
                let report = Report {
                    kind: self.kind,
                    name: self.name(),
                    change: model::Change::NoChange,
                    state: None,
                    detail: None,
                };
                Ok((report, Facts::default()))
            }
            .boxed_local()
        }
        fn find<'a, 'r: 'a>(
            &'r self,
            _ctx: &'a Context,
            _facts: &'a mut Facts,
        ) -> futures::future::LocalBoxFuture<'a, Result<Option<Box<dyn Existing + 'r>>, CliError>> {
            unreachable!("converge only")
        }
    }

    fn fakes(specs: &[(&'static str, After, u64, bool)]) -> (Inventory, std::rc::Rc<std::cell::RefCell<Vec<String>>>) {
        let log = std::rc::Rc::default();
        let list = (specs.iter())
            .map(|&(kind, after, millis, fails)| {
                Box::new(Fake {
                    kind,
                    after,
                    millis,
                    fails,
                    log: std::rc::Rc::clone(&log),
                }) as Box<dyn AnyResource>
            })
            .collect();
        (list, log)
    }

    fn offline() -> Context {
        let sdk = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .build();
        Context::new(sdk, crate::cli::OutputFormat::Text)
    }

    #[tokio::test(start_paused = true)]
    async fn independent_resources_run_side_by_side_and_a_dependent_one_after_them() {
        let (list, log) = fakes(&[
            ("slow", After::Kinds(&[]), 100, false),
            ("quick", After::Kinds(&[]), 10, false),
            ("both", After::Kinds(&["slow", "quick"]), 10, false),
            ("rest", After::Everything, 10, false),
        ]);
        let (reports, _, timing) = converge(&list, &offline(), Mode::Apply, &Progress::silent(), Facts::default())
            .await
            .unwrap();
        let kinds: Vec<&str> = reports.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, ["slow", "quick", "both", "rest"], "the list's order");
        assert_eq!(
            *log.borrow(),
            [
                "start slow",
                "start quick",
                "end quick",
                "end slow",
                "start both",
                "end both",
                "start rest",
                "end rest"
            ]
        );
        assert_eq!(timing.chain, [0, 2, 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_failure_nothing_new_starts_and_what_runs_finishes() {
        let (list, log) = fakes(&[
            ("slow", After::Kinds(&[]), 100, false),
            ("broken", After::Kinds(&[]), 10, true),
            ("user", After::Kinds(&["broken"]), 10, false),
            ("late", After::Kinds(&["slow"]), 10, false),
        ]);
        let err = converge(&list, &offline(), Mode::Apply, &Progress::silent(), Facts::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("broken"), "{err}");
        // `slow` may hold the deploy lock: it ends; nothing starts after the failure.
        assert_eq!(*log.borrow(), ["start slow", "start broken", "end broken", "end slow"]);
    }

    #[test]
    fn the_longest_chain_follows_the_dependencies_not_the_list() {
        let ms = Duration::from_millis;
        // 0 <- 1 <- 3, 0 <- 2: 2 is the slow one, but 1 -> 3 is longer together.
        let after = vec![vec![], vec![0], vec![0], vec![1]];
        let timing = Timing::of(vec![ms(10), ms(30), ms(50), ms(40)], &after, ms(85));
        assert_eq!(timing.chain, vec![0, 1, 3]);
        assert_eq!(timing.chain_time, ms(80));
        let timing = Timing::of(vec![ms(10), ms(30), ms(90), ms(40)], &after, ms(100));
        assert_eq!(timing.chain, vec![0, 2]);
        assert_eq!(timing.chain_time, ms(100));
        assert_eq!(Timing::of(Vec::new(), &[], ms(0)).chain, Vec::<usize>::new());
    }

    #[test]
    fn down_also_looks_for_what_another_strategy_would_have_made() {
        let app = App::resolve(AppFile::default(), Some("demo"), "defaults", None).unwrap();
        let names = |options| -> Vec<(String, bool)> {
            inventory(&app, options)
                .iter()
                .map(|r| (format!("{} {}", r.kind(), r.name()), r.wanted()))
                .collect()
        };
        let up = names(Options::default());
        assert!(
            !up.iter().any(|(n, _)| n.ends_with("web-a") || n.contains("tasks")),
            "{up:?}"
        );
        let down = names(Options {
            teardown: true,
            ..Options::default()
        });
        for unwanted in [
            "target group pd-demo-web-a",
            "target group pd-demo-web-b",
            "security group pushdeploy-demo-tasks",
            "iam role pushdeploy-demo-ecs-infrastructure",
        ] {
            assert!(down.contains(&(unwanted.to_string(), false)), "{unwanted}: {down:?}");
        }
        assert!(down.contains(&("target group pd-demo-web".to_string(), true)));
        let mut seen = BTreeSet::new();
        assert!(down.iter().all(|n| seen.insert(n.0.clone())), "each once: {down:?}");
    }

    #[test]
    fn the_inventory_names_each_resource_once() {
        let app = App::resolve(AppFile::default(), Some("demo"), "defaults", None).unwrap();
        let list = inventory(&app, Options::default());
        let mut seen = BTreeSet::new();
        for r in &list {
            assert!(seen.insert((r.kind(), r.name())), "{} {} twice", r.kind(), r.name());
        }
    }
}
