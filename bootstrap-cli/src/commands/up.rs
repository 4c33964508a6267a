//! `pushdeploy up` (and `plan`, `up --dry-run`): brings every resource of the app to what the
//! app file wants, in dependency order, each one find-first, so a re-run makes no write and an
//! interrupted run is finished by the next one.

use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::app_file::App;
use crate::cli::{GlobalArgs, PlanArgs, UpArgs};
use crate::context::Context;
use crate::error::{aws, CliError};
use crate::output::{plural, print, table};
use crate::poll::{self, Poll, Wait};
use crate::progress::Progress;
use crate::resources::facts::Facts;
use crate::resources::model::{Change, Mode, Report};
use crate::resources::{self, load_balancer, service, Options};

/// What `up` did, and what to do next.
#[derive(Debug, Serialize)]
pub struct UpReport {
    /// App name.
    pub app: String,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// One line per resource.
    pub resources: Vec<Report>,
    /// The load balancer's URL (`None` before it exists).
    pub url: Option<String>,
    /// Parameter values for `sam deploy` of the function.
    pub sam_parameters: SamParameters,
    /// Services still on their way to running what `up` asked (their state, in words).
    pub settling: Vec<Settling>,
}

/// A service `up` left on its way: a new service or deployment whose tasks are not all running.
#[derive(Debug, Serialize)]
pub struct Settling {
    /// Service name.
    pub service: String,
    /// `0/1 running`, `a deployment in progress`.
    pub state: String,
}

/// The template's parameters, as `up` knows them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SamParameters {
    /// App name.
    pub app_name: String,
    /// Cluster name.
    pub cluster_name: String,
    /// Task execution role ARN (`None` before it exists).
    pub execution_role_arn: Option<String>,
    /// Repositories outside `<app>/`, comma-separated (the rule matches `<app>/` by prefix).
    pub extra_repositories: String,
}

impl SamParameters {
    /// `--parameter-overrides` for `sam deploy`.
    pub fn overrides(&self) -> String {
        let mut text = format!(
            "AppName={} ClusterName={} ExecutionRoleArn={}",
            self.app_name,
            self.cluster_name,
            self.execution_role_arn.as_deref().unwrap_or("<after up>")
        );
        if !self.extra_repositories.is_empty() {
            text.push_str(&format!(" ExtraRepositories={}", self.extra_repositories));
        }
        text
    }
}

/// Runs `up`.
pub async fn run(args: UpArgs, global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let app = App::load(args.app.file.as_deref(), args.app.app.as_deref())?;
    let ctx = Context::connect(global, app.file.region.as_deref()).await?;
    ctx.announce(&app).await?;
    let mode = if args.dry_run { Mode::Preview } else { Mode::Apply };
    let options = Options {
        refresh_instances: args.refresh_instances,
        teardown: false,
    };
    let progress = Progress::new(&ctx);
    if app.source.is_none() && mode == Mode::Apply {
        refuse_defaults_over_an_app(&app, &ctx).await?;
    }
    let (report, facts) = converge(&app, &ctx, mode, options, &progress).await?;
    if args.wait && mode == Mode::Apply {
        wait_ready(&ctx, &app, &facts, Duration::from_secs(args.timeout), &progress).await?;
    }
    print(ctx.output, &report)?;
    Ok(ExitCode::SUCCESS)
}

/// Without an app file, `up` takes the defaults: it refuses when the app exists and the defaults
/// would change it (a command run in the wrong folder must not remove routes or services).
async fn refuse_defaults_over_an_app(app: &App, ctx: &Context) -> Result<(), CliError> {
    let (report, _) = converge(app, ctx, Mode::Preview, Options::default(), &Progress::silent()).await?;
    let exists = |r: &&Report| r.kind == "ecs cluster" || r.kind == "routing config";
    if !report
        .resources
        .iter()
        .filter(exists)
        .any(|r| r.change != Change::Create)
    {
        return Ok(());
    }
    // A service the file no longer lists is left as it is: not a change.
    let changes: Vec<String> = (report.resources.iter())
        .filter(|r| !matches!(r.change, Change::NoChange | Change::NotInFile))
        .map(|r| format!("{} {}: {}", r.kind, r.name, r.change.words(Mode::Preview)))
        .collect();
    if changes.is_empty() {
        return Ok(());
    }
    Err(CliError::NoFileOverExistingApp {
        app: app.name.clone(),
        region: ctx.region().to_string(),
        looked_for: std::env::current_dir()
            .map(|d| d.join("pushdeploy.toml").display().to_string())
            .unwrap_or_else(|_| "pushdeploy.toml".into()),
        changes: changes.join("; "),
    })
}

/// Runs `plan`.
pub async fn plan(args: PlanArgs, global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let app = App::load(args.file.as_deref(), args.app.as_deref())?;
    let ctx = Context::connect(global, app.file.region.as_deref()).await?;
    ctx.announce(&app).await?;
    let progress = Progress::new(&ctx);
    let (report, _) = converge(&app, &ctx, Mode::Preview, Options::default(), &progress).await?;
    print(ctx.output, &report)?;
    Ok(ExitCode::SUCCESS)
}

/// `up` with default options: provisions (or, in [`Mode::Preview`], only inspects) everything.
pub async fn up(app: &App, ctx: &Context, mode: Mode, progress: &Progress) -> Result<UpReport, CliError> {
    Ok(converge(app, ctx, mode, Options::default(), progress).await?.0)
}

/// Converges every resource of the app; returns the report and what it learnt.
pub async fn converge(
    app: &App,
    ctx: &Context,
    mode: Mode,
    options: Options,
    progress: &Progress,
) -> Result<(UpReport, Facts), CliError> {
    let known = resources::read_ahead(app, ctx).await?;
    resources::service::check_switches(app, &known.services)?;
    let app = &app.with_kept_groups(resources::service::kept_groups(ctx, app, &known.services).await?);
    let list = resources::inventory(app, options);
    let (mut reports, facts, timing) = resources::converge(&list, ctx, mode, progress, known).await?;
    progress.note(&timing.words(&list));
    reports.extend(not_in_file(app, ctx, &facts).await?);
    let settling = match mode {
        Mode::Apply => settling(app, &facts, &reports),
        Mode::Preview => Vec::new(),
    };
    let prefix = format!("{}/", app.name);
    let mut extra: Vec<String> = app
        .services()
        .into_iter()
        .map(|s| s.repository)
        .filter(|r| !r.starts_with(&prefix))
        .collect();
    extra.sort();
    extra.dedup();
    let report = UpReport {
        app: app.name.clone(),
        dry_run: mode == Mode::Preview,
        resources: reports,
        url: facts.load_balancer.as_ref().map(|lb| lb.url(app)),
        sam_parameters: SamParameters {
            app_name: app.name.clone(),
            cluster_name: app.names.cluster(),
            execution_role_arn: facts.roles.get(&app.names.execution_role()).cloned(),
            extra_repositories: extra.join(","),
        },
        settling,
    };
    Ok((report, facts))
}

/// The app's ECS services (by its tag) that the file no longer lists: `up` leaves them running.
///
/// IAM: `ecs:ListServices`, `ecs:DescribeServices`.
async fn not_in_file(app: &App, ctx: &Context, facts: &Facts) -> Result<Vec<Report>, CliError> {
    if facts.cluster.is_none() {
        return Ok(Vec::new());
    }
    let listed: Vec<String> = app.services().into_iter().map(|s| s.spec.name).collect();
    let mut tagged = service::tagged(ctx, &app.names.cluster(), &app.name).await?;
    tagged.retain(|name| !listed.contains(name));
    tagged.sort();
    Ok(tagged
        .into_iter()
        .map(|name| Report {
            kind: "ecs service",
            name: format!("{}/{name}", app.names.cluster()),
            change: Change::NotInFile,
            state: None,
            detail: None,
        })
        .collect())
}

/// The services with an image that `up` started a deployment of (a new service, a new revision,
/// a new capacity provider), or found short of tasks.
fn settling(app: &App, facts: &Facts, reports: &[Report]) -> Vec<Settling> {
    let cluster = app.names.cluster();
    let touched = |name: &str| {
        reports.iter().any(|r| match &r.change {
            Change::Create => {
                (r.kind == "ecs service" && r.name == format!("{cluster}/{name}"))
                    || (r.kind == "task definition" && r.name == app.names.family(name))
            }
            Change::Update(_) if r.kind == "task definition" => r.name == app.names.family(name),
            Change::Update(d) if r.kind == "ecs service" => {
                r.name == format!("{cluster}/{name}") && d.iter().any(|w| w.contains("a new deployment"))
            }
            _ => false,
        })
    };
    let mut settling = Vec::new();
    for s in app.services() {
        let name = s.spec.name;
        let Some(Some(service)) = facts.services.get(&name) else {
            continue;
        };
        if !has_image(app, facts, &name) {
            continue;
        }
        let short = service.running_count() < service.desired_count() || service.deployments().len() > 1;
        if touched(&name) {
            settling.push(Settling {
                service: name,
                state: "a new deployment is starting".into(),
            });
        } else if short {
            settling.push(Settling {
                service: name,
                state: format!("{}/{} running", service.running_count(), service.desired_count()),
            });
        }
    }
    settling
}

/// Whether the service runs an image that exists: a pinned one (a deploy's), the placeholder, or
/// the repository's `latest`. A service without one waits for its first push, so `up --wait`
/// does not wait for it.
pub fn has_image(app: &App, facts: &Facts, service: &str) -> bool {
    let Some(s) = app.services().into_iter().find(|s| s.spec.name == service) else {
        return false;
    };
    let Some(revision) = facts.revisions.get(service) else {
        return false;
    };
    revision.is_placeholder(&s.repository)
        || revision.is_pinned(&s.container)
        || facts.repositories.get(&s.repository).is_some_and(|r| r.has_latest)
}

/// `up --wait`: the load balancer active, the instances joined to the cluster, and the
/// services that have an image stable. The three are awaited side by side (AWS works on them at
/// once: a load balancer provisions for minutes while instances boot and tasks start), so the
/// wait is the longest of them, not their sum.
///
/// IAM: `elasticloadbalancing:DescribeLoadBalancers`, `ecs:ListContainerInstances`,
/// `ecs:DescribeServices`.
pub async fn wait_ready(
    ctx: &Context,
    app: &App,
    facts: &Facts,
    timeout: Duration,
    progress: &Progress,
) -> Result<(), CliError> {
    let started = Instant::now();
    let left = || timeout.saturating_sub(started.elapsed());
    let balancer = async {
        let Some(lb) = &facts.load_balancer else {
            return Ok(());
        };
        let step = progress.step("waiting for the load balancer");
        finish(
            &step,
            load_balancer::wait_available(ctx, lb, left(), &step).await,
            "active",
        )
    };
    // An app whose services all run on Fargate has no instances to wait for.
    let ec2 = (app.file.services.iter()).any(|s| s.capacity == crate::app_file::Capacity::Ec2);
    let instances = async {
        match ec2 {
            true => wait_instances(ctx, app, left(), progress).await,
            false => Ok(()),
        }
    };
    let services = (app.services().into_iter())
        .filter(|s| has_image(app, facts, &s.spec.name))
        .map(|s| async move {
            let step = progress.step(&format!("waiting for service {} to be stable", s.spec.name));
            let waited = service::wait_stable(ctx, &app.names.cluster(), &s.spec.name, left()).await;
            finish(&step, waited, "stable")
        });
    futures::try_join!(balancer, instances, futures::future::try_join_all(services))?;
    Ok(())
}

/// Ends `step` as `waited` did: done with `words`, or failed.
fn finish(step: &crate::progress::Step, waited: Result<(), CliError>, words: &str) -> Result<(), CliError> {
    match &waited {
        Ok(()) => step.done(words),
        Err(_) => step.failed(),
    }
    waited
}

/// `up --wait`: the app's instances joined to the cluster (at least `min_instances`).
///
/// IAM: `ecs:ListContainerInstances`.
async fn wait_instances(ctx: &Context, app: &App, limit: Duration, progress: &Progress) -> Result<(), CliError> {
    let step = progress.step("waiting for instances to join the cluster");
    // The minimum, not desired_instances: managed scaling owns the group's desired capacity and
    // scales in toward the minimum while no task needs the instances (before the first push).
    let want = app.file.min_instances as usize;
    let wait = Wait::new(
        format!("{} to join cluster {}", plural(want, "instance"), app.names.cluster()),
        limit,
        "check the Auto Scaling group's activity and the instances' ECS agent log (`pushdeploy status`)",
    );
    let joined = poll::until(&wait, &step, || async {
        let mut joined = 0;
        let mut pages = ctx
            .ecs()
            .list_container_instances()
            .cluster(app.names.cluster())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            joined += page
                .map_err(|e| aws("ecs:ListContainerInstances", e))?
                .container_instance_arns()
                .len();
        }
        Ok(if joined >= want {
            Poll::Done(joined)
        } else {
            Poll::Pending(format!("{joined} of {want}"))
        })
    })
    .await;
    match joined {
        Ok(n) => step.done(&format!("{n} joined")),
        Err(e) => {
            step.failed();
            return Err(e);
        }
    }
    Ok(())
}

impl fmt::Display for UpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.dry_run { Mode::Preview } else { Mode::Apply };
        let rows: Vec<[String; 4]> = (self.resources.iter())
            .map(|r| {
                [
                    r.kind.to_string(),
                    r.name.clone(),
                    r.change.words(mode),
                    r.state.clone().unwrap_or_default(),
                ]
            })
            .collect();
        table(f, &["RESOURCE", "NAME", "CHANGE", "STATE"], &rows)?;
        let changes = (self.resources.iter())
            .filter(|r| !matches!(r.change, Change::NoChange | Change::NotInFile))
            .count();
        writeln!(f)?;
        if self.dry_run {
            return writeln!(
                f,
                "plan: {changes} of {} resources would change; nothing was written",
                self.resources.len()
            );
        }
        let count = |c: fn(&Change) -> bool| self.resources.iter().filter(|r| c(&r.change)).count();
        let left = count(|c| *c == Change::NotInFile);
        writeln!(
            f,
            "{} created, {} updated, {} unchanged{}",
            count(|c| *c == Change::Create),
            count(|c| matches!(c, Change::Update(_))),
            count(|c| *c == Change::NoChange),
            if left > 0 {
                format!(", {} not in the file (left running)", plural(left, "service"))
            } else {
                String::new()
            }
        )?;
        if !self.settling.is_empty() {
            let words: Vec<String> = (self.settling.iter())
                .map(|s| format!("{} ({})", s.service, s.state))
                .collect();
            writeln!(
                f,
                "still settling: {}; `pushdeploy status` follows it, `up --wait` waits for it",
                words.join(", ")
            )?;
        }
        writeln!(f, "app {} is up: {}", self.app, self.url.as_deref().unwrap_or("-"))?;
        writeln!(f, "next: deploy the function that redeploys on every push:")?;
        writeln!(
            f,
            "  sam build && sam deploy --guided --parameter-overrides {}",
            self.sam_parameters.overrides()
        )
    }
}
