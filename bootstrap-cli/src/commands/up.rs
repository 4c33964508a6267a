//! `pushdeploy up` (and `plan`, `up --dry-run`): provisions the app in dependency order,
//! independent steps concurrently, every step find-first so a re-run makes no write and an
//! interrupted run is finished by the next one.

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use serde::Serialize;

use crate::app_file::App;
use crate::cli::{OutputFormat, PlanArgs, UpArgs};
use crate::context::Context;
use crate::error::{aws, CliError};
use crate::progress::{Progress, Step};
use crate::resources::{
    cluster, config, iam, launch_capacity, load_balancer, network, repository, service, Change, Mode, Report,
};

/// What `up` did, and what to do next.
#[derive(Debug, Serialize)]
pub struct UpResult {
    /// App name.
    pub app: String,
    /// Whether anything was written.
    pub dry_run: bool,
    /// One line per resource.
    pub resources: Vec<Report>,
    /// The load balancer's URL.
    pub url: String,
    /// Parameter values for `sam deploy` of the function.
    pub sam_parameters: SamParameters,
}

/// The template's parameters, as `up` knows them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SamParameters {
    /// App name.
    pub app_name: String,
    /// Cluster name.
    pub cluster_name: String,
    /// Comma-separated repositories.
    pub repositories: String,
    /// Task execution role ARN.
    pub execution_role_arn: String,
}

impl SamParameters {
    /// `--parameter-overrides` for `sam deploy`.
    pub fn overrides(&self) -> String {
        format!(
            "AppName={} ClusterName={} Repositories={} ExecutionRoleArn={}",
            self.app_name, self.cluster_name, self.repositories, self.execution_role_arn
        )
    }
}

/// Runs `up`.
pub async fn run(args: UpArgs, ctx: &Context) -> Result<ExitCode, CliError> {
    let app = App::load(args.file.as_deref(), args.app.as_deref())?;
    let mode = if args.dry_run { Mode::Plan } else { Mode::Apply };
    let progress = Progress::new(ctx);
    let result = up(&app, ctx, mode, &progress).await?;
    if args.wait && mode == Mode::Apply {
        wait_ready(ctx, &app, Duration::from_secs(args.timeout), &progress).await?;
    }
    print(ctx.output, &result)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `plan`.
pub async fn plan(args: PlanArgs, ctx: &Context) -> Result<ExitCode, CliError> {
    let app = App::load(args.file.as_deref(), args.app.as_deref())?;
    let result = up(&app, ctx, Mode::Plan, &Progress::new(ctx)).await?;
    print(ctx.output, &result)?;
    Ok(ExitCode::SUCCESS)
}

fn summary(reports: &[Report], mode: Mode) -> String {
    let count = |f: fn(&Change) -> bool| reports.iter().filter(|r| f(&r.change)).count();
    let (c, u, n) = (
        count(|c| *c == Change::Create),
        count(|c| matches!(c, Change::Update(_))),
        count(|c| *c == Change::NoChange),
    );
    let mut parts = Vec::new();
    let (created, updated) = if mode == Mode::Plan {
        ("to create", "to update")
    } else {
        ("created", "updated")
    };
    if c > 0 {
        parts.push(format!("{c} {created}"));
    }
    if u > 0 {
        parts.push(format!("{u} {updated}"));
    }
    if n > 0 {
        parts.push(format!("{n} unchanged"));
    }
    parts.join(", ")
}

/// Provisions (or, in [`Mode::Plan`], only inspects) everything, in dependency order.
pub async fn up(app: &App, ctx: &Context, mode: Mode, progress: &Progress) -> Result<UpResult, CliError> {
    let services = app.services();
    let mut all = Vec::new();

    // 1. Independent: network, IAM, cluster, repositories.
    let step_net = progress.step("network");
    let step_iam = progress.step("iam roles");
    let step_cluster = progress.step("ecs cluster");
    let step_repos = progress.step("ecr repositories");
    let (net, roles, cluster_report, repos) = tokio::try_join!(
        finish(&step_net, mode, network::ensure(ctx, app, mode)),
        finish(&step_iam, mode, iam::ensure(ctx, app, mode)),
        finish(&step_cluster, mode, async {
            Ok((vec![cluster::ensure(ctx, app, mode).await?], ()))
        }),
        finish(&step_repos, mode, async {
            let found = try_join_all(services.iter().map(|s| repository::ensure(ctx, app, s, mode))).await?;
            let (reports, repos): (Vec<_>, Vec<_>) = found.into_iter().unzip();
            Ok((reports, repos))
        }),
    )?;
    for part in [net.0, roles.0, cluster_report.0, repos.0] {
        all.extend(part);
    }
    let (net, roles, repos) = (net.1, roles.1, repos.1);

    // 2. Load balancer and EC2 capacity, side by side.
    let step_lb = progress.step("load balancer");
    let step_capacity = progress.step("ec2 capacity");
    let (lb, capacity) = tokio::try_join!(
        finish(&step_lb, mode, load_balancer::ensure(ctx, app, &net, mode, &step_lb)),
        finish(&step_capacity, mode, async {
            Ok((launch_capacity::ensure(ctx, app, &net, &roles, mode).await?, ()))
        }),
    )?;
    all.extend(lb.0);
    all.extend(capacity.0);
    let lb = lb.1;

    // 3. Services, then 4. the routing config the function reads.
    let step_services = progress.step("ecs services");
    let capacity_provider = launch_capacity::capacity_name(app);
    let service_reports = finish(&step_services, mode, async {
        let reports = try_join_all(services.iter().zip(&repos).map(|(s, repo)| {
            service::ensure(
                ctx,
                app,
                s,
                repo,
                &lb.target_groups[&s.spec.name],
                &roles.execution_role_arn,
                &capacity_provider,
                mode,
            )
        }))
        .await?;
        Ok((reports.into_iter().flatten().collect(), ()))
    })
    .await?;
    all.extend(service_reports.0);
    let step_config = progress.step("routing config");
    let config_report = finish(&step_config, mode, async {
        Ok((vec![config::ensure(ctx, app, mode).await?], ()))
    })
    .await?;
    all.extend(config_report.0);

    let scheme = if app.file.certificate_arn.is_some() {
        "https"
    } else {
        "http"
    };
    Ok(UpResult {
        app: app.name.clone(),
        dry_run: mode == Mode::Plan,
        resources: all,
        url: format!("{scheme}://{}", lb.dns_name),
        sam_parameters: SamParameters {
            app_name: app.name.clone(),
            cluster_name: app.cluster(),
            repositories: services
                .iter()
                .map(|s| s.repository.clone())
                .collect::<Vec<_>>()
                .join(","),
            execution_role_arn: roles.execution_role_arn.clone(),
        },
    })
}

async fn finish<T>(
    step: &Step,
    mode: Mode,
    work: impl Future<Output = Result<(Vec<Report>, T), CliError>>,
) -> Result<(Vec<Report>, T), CliError> {
    match work.await {
        Ok(done) => {
            step.done(&summary(&done.0, mode));
            Ok(done)
        }
        Err(e) => {
            step.failed();
            Err(e)
        }
    }
}

/// `up --wait`: instances joined to the cluster, and services with an image stable.
///
/// IAM: `ecs:ListContainerInstances`, `ecs:DescribeServices`.
pub async fn wait_ready(ctx: &Context, app: &App, timeout: Duration, progress: &Progress) -> Result<(), CliError> {
    let started = Instant::now();
    let step = progress.step("waiting for instances and services");
    let want_instances = app.file.desired_instances as usize;
    loop {
        let out = ctx
            .ecs()
            .list_container_instances()
            .cluster(app.cluster())
            .send()
            .await
            .map_err(|e| aws("ecs:ListContainerInstances", e))?;
        let joined = out.container_instance_arns().len();
        let mut unstable = Vec::new();
        for s in app.services() {
            if let Some(svc) = service::describe(ctx, app, &s.spec.name).await? {
                let stable = svc.deployments().len() == 1 && svc.running_count() == svc.desired_count();
                if !stable {
                    unstable.push(format!(
                        "{} {}/{}",
                        s.spec.name,
                        svc.running_count(),
                        svc.desired_count()
                    ));
                }
            }
        }
        if joined >= want_instances && unstable.is_empty() {
            step.done(&format!("{joined} instances joined, services stable"));
            return Ok(());
        }
        if started.elapsed() > timeout {
            step.failed();
            return Err(CliError::Timeout {
                what: format!("{want_instances} instances to join (have {joined}) and services to stabilise ({})", unstable.join(", ")),
                waited_secs: started.elapsed().as_secs(),
                hint: "check the Auto Scaling group's activity and the services' events (`pushdeploy status`); a service without an image waits for its first push".into(),
            });
        }
        step.set(&format!(
            "{joined}/{want_instances} instances, waiting on {}",
            unstable.join(", ")
        ));
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Prints the summary table, the URL and the next step (text) or the whole result (JSON).
pub fn print(format: OutputFormat, result: &UpResult) -> Result<(), CliError> {
    if format == OutputFormat::Json {
        return crate::commands::print_json(result);
    }
    let mut out = std::io::stdout().lock();
    let rows: Vec<[String; 4]> = result
        .resources
        .iter()
        .map(|r| {
            let change = match &r.change {
                Change::Create if result.dry_run => "create".to_string(),
                Change::Create => "created".to_string(),
                Change::Update(d) if result.dry_run => format!("update: {}", d.join("; ")),
                Change::Update(d) => format!("updated: {}", d.join("; ")),
                Change::NoChange => "no change".to_string(),
            };
            [
                r.kind.to_string(),
                r.name.clone(),
                change,
                r.state.clone().unwrap_or_default(),
            ]
        })
        .collect();
    crate::commands::table(&mut out, &["RESOURCE", "NAME", "CHANGE", "STATE"], &rows)?;
    let changes = result.resources.iter().filter(|r| r.change != Change::NoChange).count();
    writeln!(out)?;
    if result.dry_run {
        writeln!(
            out,
            "plan: {changes} of {} resources would change; nothing was written",
            result.resources.len()
        )?;
        return Ok(());
    }
    writeln!(out, "app {} is up: {}", result.app, result.url)?;
    writeln!(out, "next: deploy the function that redeploys on every push:")?;
    writeln!(
        out,
        "  sam build && sam deploy --guided --parameter-overrides {}",
        result.sam_parameters.overrides()
    )?;
    Ok(())
}
