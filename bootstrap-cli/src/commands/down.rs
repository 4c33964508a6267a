//! `pushdeploy down`: deletes everything the app created, in reverse dependency order, waiting
//! where AWS needs it. Every step looks first, so `down` is re-runnable after an interruption.
//! The order is the code's own ([`ORDER`], checked against [`DEPENDS_ON`] by a test), not
//! whatever the API happens to refuse.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::Filter;
use pushdeploy::config::parameter_for_app;
use serde::Serialize;

use crate::app_file::{load_balancer_name, target_group_name, App};
use crate::cli::{DownArgs, OutputFormat};
use crate::context::Context;
use crate::error::{aws, CliError};
use crate::progress::{Progress, Step};
use crate::resources::{cluster, iam, launch_capacity, load_balancer, service, APP_TAG};

/// How long `down` waits for services to drain, instances to terminate, load balancers to go.
pub const WAIT: Duration = Duration::from_secs(900);

/// The teardown steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Teardown {
    /// ECS services (scaled to zero, deleted, drained).
    Services,
    /// Task-definition revisions of the app's families.
    TaskDefinitions,
    /// Capacity provider (detached from the cluster first).
    CapacityProvider,
    /// Auto Scaling group (instances terminated).
    AutoScalingGroup,
    /// Launch template.
    LaunchTemplate,
    /// Listeners.
    Listeners,
    /// Load balancer.
    LoadBalancer,
    /// Target groups.
    TargetGroups,
    /// ECS cluster.
    Cluster,
    /// Security groups (instances', then the load balancer's).
    SecurityGroups,
    /// Instance profile.
    InstanceProfile,
    /// IAM roles.
    Roles,
    /// SSM parameters: the routing config and any deploy locks.
    Parameters,
    /// ECR repositories (only with `--delete-repositories`).
    Repositories,
}

/// The order `down` runs in.
pub const ORDER: [Teardown; 14] = [
    Teardown::Services,
    Teardown::TaskDefinitions,
    Teardown::CapacityProvider,
    Teardown::AutoScalingGroup,
    Teardown::LaunchTemplate,
    Teardown::Listeners,
    Teardown::LoadBalancer,
    Teardown::TargetGroups,
    Teardown::Cluster,
    Teardown::SecurityGroups,
    Teardown::InstanceProfile,
    Teardown::Roles,
    Teardown::Parameters,
    Teardown::Repositories,
];

/// `(a, b)`: `a` uses `b`, so `a` must be gone before `b` is deleted.
pub const DEPENDS_ON: &[(Teardown, Teardown)] = &[
    (Teardown::Services, Teardown::Cluster),
    (Teardown::Services, Teardown::TargetGroups),
    (Teardown::Services, Teardown::CapacityProvider),
    (Teardown::Services, Teardown::Roles),
    (Teardown::Services, Teardown::TaskDefinitions),
    (Teardown::CapacityProvider, Teardown::AutoScalingGroup),
    (Teardown::CapacityProvider, Teardown::Cluster),
    (Teardown::AutoScalingGroup, Teardown::LaunchTemplate),
    (Teardown::AutoScalingGroup, Teardown::SecurityGroups),
    (Teardown::AutoScalingGroup, Teardown::InstanceProfile),
    (Teardown::Listeners, Teardown::TargetGroups),
    (Teardown::Listeners, Teardown::LoadBalancer),
    (Teardown::LoadBalancer, Teardown::SecurityGroups),
    (Teardown::LoadBalancer, Teardown::TargetGroups),
    (Teardown::InstanceProfile, Teardown::Roles),
    (Teardown::Services, Teardown::Parameters),
    (Teardown::Services, Teardown::Repositories),
];

/// One deleted (or already absent) resource.
#[derive(Debug, Serialize)]
pub struct Deleted {
    /// Kind.
    pub kind: &'static str,
    /// Name.
    pub name: String,
    /// False when it was already gone.
    pub deleted: bool,
}

/// Runs `down`.
pub async fn run(args: DownArgs, ctx: &Context) -> Result<ExitCode, CliError> {
    let app = App::load(args.app.file.as_deref(), args.app.app.as_deref())?;
    if !args.yes {
        confirm(&app)?;
    }
    let deleted = down(ctx, &app, args.delete_repositories, &Progress::new(ctx)).await?;
    let mut out = std::io::stdout().lock();
    match ctx.output {
        OutputFormat::Json => crate::commands::print_json(&deleted)?,
        OutputFormat::Text => {
            let rows: Vec<[String; 3]> = deleted
                .iter()
                .map(|d| {
                    [
                        d.kind.to_string(),
                        d.name.clone(),
                        if d.deleted { "deleted" } else { "already gone" }.to_string(),
                    ]
                })
                .collect();
            crate::commands::table(&mut out, &["RESOURCE", "NAME", "RESULT"], &rows)?;
            if !args.delete_repositories {
                writeln!(
                    out,
                    "\nECR repositories and their images are kept (`--delete-repositories` deletes them)"
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether `down` may ask: only on a terminal; elsewhere it refuses instead of hanging or guessing.
pub fn may_ask(app: &App, stdin_is_terminal: bool) -> Result<(), CliError> {
    if stdin_is_terminal {
        Ok(())
    } else {
        Err(CliError::NeedsConfirmation { app: app.name.clone() })
    }
}

fn confirm(app: &App) -> Result<(), CliError> {
    may_ask(app, std::io::stdin().is_terminal())?;
    eprint!(
        "Delete app {} and every resource it created? Type the app name to confirm: ",
        app.name
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() == app.name {
        Ok(())
    } else {
        Err(CliError::Aborted)
    }
}

/// Deletes everything, step by step in [`ORDER`].
pub async fn down(
    ctx: &Context,
    app: &App,
    delete_repositories: bool,
    progress: &Progress,
) -> Result<Vec<Deleted>, CliError> {
    let mut all = Vec::new();
    for step in ORDER {
        if step == Teardown::Repositories && !delete_repositories {
            continue;
        }
        let s = progress.step(&format!("delete {step:?}").to_lowercase());
        match teardown(ctx, app, step, &s).await {
            Ok(done) => {
                s.done(&format!("{} deleted", done.iter().filter(|d| d.deleted).count()));
                all.extend(done);
            }
            Err(e) => {
                s.failed();
                return Err(e);
            }
        }
    }
    Ok(all)
}

fn gone(kind: &'static str, name: impl Into<String>, deleted: bool) -> Deleted {
    Deleted {
        kind,
        name: name.into(),
        deleted,
    }
}

async fn wait_until<F, Fut>(what: &str, step: &Step, mut done: F) -> Result<(), CliError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, CliError>>,
{
    let started = Instant::now();
    while !done().await? {
        if started.elapsed() > WAIT {
            return Err(CliError::Timeout {
                what: what.to_string(),
                waited_secs: started.elapsed().as_secs(),
                hint: "run `pushdeploy down` again to continue".into(),
            });
        }
        step.set(&format!("waiting for {what}"));
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    Ok(())
}

/// IAM for `down`: the `Delete*`, `Deregister*`, `Detach*`, `Remove*` counterparts of what `up`
/// creates, plus the same `Describe*`/`Get*`/`List*` (README lists them).
async fn teardown(ctx: &Context, app: &App, step: Teardown, progress: &Step) -> Result<Vec<Deleted>, CliError> {
    let mut done = Vec::new();
    let name = app.prefix();
    match step {
        Teardown::Services => {
            let ecs = ctx.ecs();
            for s in app.services() {
                let found = service::describe(ctx, app, &s.spec.name).await?;
                if found.is_some() {
                    ecs.update_service()
                        .cluster(app.cluster())
                        .service(&s.spec.name)
                        .desired_count(0)
                        .send()
                        .await
                        .map_err(|e| aws("ecs:UpdateService", e))?;
                    ecs.delete_service()
                        .cluster(app.cluster())
                        .service(&s.spec.name)
                        .force(true)
                        .send()
                        .await
                        .map_err(|e| aws("ecs:DeleteService", e))?;
                    wait_until(&format!("service {} to drain", s.spec.name), progress, || async {
                        Ok(service::describe(ctx, app, &s.spec.name).await?.is_none())
                    })
                    .await?;
                }
                done.push(gone("ecs service", &s.spec.name, found.is_some()));
            }
        }
        Teardown::TaskDefinitions => {
            let ecs = ctx.ecs();
            for s in app.services() {
                let family = service::family(app, &s.spec.name);
                let arns = service::active_revisions(ctx, &family).await?;
                for arn in &arns {
                    ecs.deregister_task_definition()
                        .task_definition(arn)
                        .send()
                        .await
                        .map_err(|e| aws("ecs:DeregisterTaskDefinition", e))?;
                }
                done.push(gone(
                    "task definitions",
                    format!("{family} ({} revisions)", arns.len()),
                    !arns.is_empty(),
                ));
            }
        }
        Teardown::CapacityProvider => {
            let ecs = ctx.ecs();
            let cluster = cluster::find_cluster(ctx, &app.cluster()).await?;
            if cluster.is_some_and(|c| !c.capacity_providers().is_empty()) {
                ecs.put_cluster_capacity_providers()
                    .cluster(app.cluster())
                    .set_capacity_providers(Some(Vec::new()))
                    .set_default_capacity_provider_strategy(Some(Vec::new()))
                    .send()
                    .await
                    .map_err(|e| aws("ecs:PutClusterCapacityProviders", e))?;
            }
            let cp = launch_capacity::capacity_name(app);
            let exists = launch_capacity::capacity_provider_active(ctx, &cp).await?;
            if exists {
                ecs.delete_capacity_provider()
                    .capacity_provider(&cp)
                    .send()
                    .await
                    .map_err(|e| aws("ecs:DeleteCapacityProvider", e))?;
            }
            done.push(gone("capacity provider", cp, exists));
        }
        Teardown::AutoScalingGroup => {
            let found = launch_capacity::find_auto_scaling_group(ctx, &name).await?.is_some();
            if found {
                ctx.autoscaling()
                    .delete_auto_scaling_group()
                    .auto_scaling_group_name(&name)
                    .force_delete(true)
                    .send()
                    .await
                    .map_err(|e| aws("autoscaling:DeleteAutoScalingGroup", e))?;
                wait_until("the Auto Scaling group's instances to terminate", progress, || async {
                    Ok(launch_capacity::find_auto_scaling_group(ctx, &name).await?.is_none())
                })
                .await?;
            }
            done.push(gone("auto scaling group", &name, found));
        }
        Teardown::LaunchTemplate => {
            let found = launch_capacity::find_launch_template(ctx, &name).await?.is_some();
            if found {
                ctx.ec2()
                    .delete_launch_template()
                    .launch_template_name(&name)
                    .send()
                    .await
                    .map_err(|e| aws("ec2:DeleteLaunchTemplate", e))?;
            }
            done.push(gone("launch template", &name, found));
        }
        Teardown::Listeners | Teardown::LoadBalancer => {
            let elb = ctx.elbv2();
            let lb_name = load_balancer_name(&app.name);
            let lb = load_balancer::find_load_balancer(ctx, &lb_name)
                .await?
                .and_then(|l| l.load_balancer_arn);
            match (&lb, step) {
                (Some(arn), Teardown::Listeners) => {
                    for l in load_balancer::listeners(ctx, arn).await? {
                        elb.delete_listener()
                            .listener_arn(l.listener_arn().unwrap_or_default())
                            .send()
                            .await
                            .map_err(|e| aws("elasticloadbalancing:DeleteListener", e))?;
                        done.push(gone("listener", format!(":{}", l.port().unwrap_or_default()), true));
                    }
                }
                (Some(arn), _) => {
                    elb.delete_load_balancer()
                        .load_balancer_arn(arn)
                        .send()
                        .await
                        .map_err(|e| aws("elasticloadbalancing:DeleteLoadBalancer", e))?;
                    wait_until("the load balancer to be deleted", progress, || async {
                        Ok(load_balancer::find_load_balancer(ctx, &lb_name).await?.is_none())
                    })
                    .await?;
                    done.push(gone("load balancer", &lb_name, true));
                }
                (None, Teardown::Listeners) => {}
                (None, _) => done.push(gone("load balancer", &lb_name, false)),
            }
        }
        Teardown::TargetGroups => {
            for s in app.services() {
                let tg_name = target_group_name(&app.name, &s.spec.name);
                let arn = load_balancer::find_target_group(ctx, &tg_name)
                    .await?
                    .and_then(|t| t.target_group_arn);
                if let Some(arn) = &arn {
                    ctx.elbv2()
                        .delete_target_group()
                        .target_group_arn(arn)
                        .send()
                        .await
                        .map_err(|e| aws("elasticloadbalancing:DeleteTargetGroup", e))?;
                }
                done.push(gone("target group", tg_name, arn.is_some()));
            }
        }
        Teardown::Cluster => {
            let found = cluster::find_cluster(ctx, &app.cluster()).await?.is_some();
            if found {
                ctx.ecs()
                    .delete_cluster()
                    .cluster(app.cluster())
                    .send()
                    .await
                    .map_err(|e| aws("ecs:DeleteCluster", e))?;
            }
            done.push(gone("ecs cluster", app.cluster(), found));
        }
        Teardown::SecurityGroups => {
            let ec2 = ctx.ec2();
            // The instances' group references the load balancer's: delete it first.
            for sg_name in [format!("{name}-instances"), format!("{name}-alb")] {
                let out = ec2
                    .describe_security_groups()
                    .filters(Filter::builder().name("group-name").values(&sg_name).build())
                    .filters(
                        Filter::builder()
                            .name(format!("tag:{APP_TAG}"))
                            .values(&app.name)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| aws("ec2:DescribeSecurityGroups", e))?;
                let ids: Vec<String> = out
                    .security_groups()
                    .iter()
                    .filter_map(|g| g.group_id.clone())
                    .collect();
                for id in &ids {
                    // Network interfaces of a deleted load balancer linger for minutes.
                    wait_until(
                        &format!("security group {sg_name} to be released"),
                        progress,
                        || async {
                            match ec2.delete_security_group().group_id(id).send().await {
                                Ok(_) => Ok(true),
                                Err(e)
                                    if aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&e)
                                        == Some("DependencyViolation") =>
                                {
                                    Ok(false)
                                }
                                Err(e)
                                    if aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&e)
                                        == Some("InvalidGroup.NotFound") =>
                                {
                                    Ok(true)
                                }
                                Err(e) => Err(aws("ec2:DeleteSecurityGroup", e)),
                            }
                        },
                    )
                    .await?;
                }
                done.push(gone("security group", sg_name, !ids.is_empty()));
            }
        }
        Teardown::InstanceProfile => {
            let iam = ctx.iam();
            let (profile, _) = iam::role_names(app);
            let roles = iam::instance_profile_roles(ctx, &profile).await?;
            if let Some(roles) = &roles {
                for role in roles {
                    iam.remove_role_from_instance_profile()
                        .instance_profile_name(&profile)
                        .role_name(role)
                        .send()
                        .await
                        .map_err(|e| aws("iam:RemoveRoleFromInstanceProfile", e))?;
                }
                iam.delete_instance_profile()
                    .instance_profile_name(&profile)
                    .send()
                    .await
                    .map_err(|e| aws("iam:DeleteInstanceProfile", e))?;
            }
            done.push(gone("instance profile", profile, roles.is_some()));
        }
        Teardown::Roles => {
            let iam = ctx.iam();
            let (instance, execution) = iam::role_names(app);
            for role in [instance, execution] {
                let attached = iam::attached_policies(ctx, &role).await?;
                if let Some(policies) = &attached {
                    for policy in policies {
                        iam.detach_role_policy()
                            .role_name(&role)
                            .policy_arn(policy)
                            .send()
                            .await
                            .map_err(|e| aws("iam:DetachRolePolicy", e))?;
                    }
                    iam.delete_role()
                        .role_name(&role)
                        .send()
                        .await
                        .map_err(|e| aws("iam:DeleteRole", e))?;
                }
                done.push(gone("iam role", role, attached.is_some()));
            }
        }
        Teardown::Parameters => {
            let ssm = ctx.ssm();
            let parameter = parameter_for_app(&app.name).map_err(pushdeploy::Error::from)?;
            let prefix = parameter
                .rsplit_once('/')
                .map(|(p, _)| p.to_string())
                .unwrap_or_default();
            let mut names = Vec::new();
            let mut pages = ssm
                .get_parameters_by_path()
                .path(&prefix)
                .recursive(true)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws("ssm:GetParametersByPath", e))?;
                names.extend(page.parameters().iter().filter_map(|p| p.name.clone()));
            }
            for chunk in names.chunks(10) {
                ssm.delete_parameters()
                    .set_names(Some(chunk.to_vec()))
                    .send()
                    .await
                    .map_err(|e| aws("ssm:DeleteParameters", e))?;
            }
            done.push(gone(
                "ssm parameters",
                format!("{prefix}/* ({})", names.len()),
                !names.is_empty(),
            ));
        }
        Teardown::Repositories => {
            let ecr = ctx.ecr();
            for s in app.services() {
                let deleted = match ecr
                    .delete_repository()
                    .repository_name(&s.repository)
                    .force(true)
                    .send()
                    .await
                {
                    Ok(_) => true,
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_repository_not_found_exception()) =>
                    {
                        false
                    }
                    Err(e) => return Err(aws("ecr:DeleteRepository", e)),
                };
                done.push(gone("ecr repository", &s.repository, deleted));
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_goes_before_what_it_depends_on() {
        let pos = |t: Teardown| ORDER.iter().position(|o| *o == t).unwrap();
        for (user, used) in DEPENDS_ON {
            assert!(pos(*user) < pos(*used), "{user:?} must be deleted before {used:?}");
        }
    }

    #[test]
    fn every_step_appears_once() {
        for t in ORDER {
            assert_eq!(ORDER.iter().filter(|o| **o == t).count(), 1, "{t:?}");
        }
    }
}
