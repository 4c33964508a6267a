//! IAM: the instance role and its instance profile (AmazonEC2ContainerServiceforEC2Role), and
//! the task execution role (AmazonECSTaskExecutionRolePolicy). Roles carry the app's tags.

use aws_sdk_iam::types::Tag;

use super::{planned, Change, Mode, Report, APP_TAG};
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, CliError};

/// What later steps need.
#[derive(Debug, Clone)]
pub struct Roles {
    /// Instance profile name (the launch template names it).
    pub instance_profile: String,
    /// Task execution role ARN (task definitions carry it).
    pub execution_role_arn: String,
}

/// IAM partition of a region.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// Names of the two roles (and the profile, named as its role).
pub fn role_names(app: &App) -> (String, String) {
    (
        format!("{}-instance", app.prefix()),
        format!("{}-execution", app.prefix()),
    )
}

/// The app tag, as IAM's fallible builder makes it.
fn app_tag(app: &App) -> Result<Tag, CliError> {
    Tag::builder()
        .key(APP_TAG)
        .value(&app.name)
        .build()
        .map_err(|e| CliError::Setup(e.to_string()))
}

fn trust(service: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]
    })
    .to_string()
}

/// Ensures both roles, their managed policies and the instance profile.
///
/// IAM: `iam:GetRole`, `iam:CreateRole`, `iam:TagRole`, `iam:ListAttachedRolePolicies`,
/// `iam:AttachRolePolicy`, `iam:GetInstanceProfile`, `iam:CreateInstanceProfile`,
/// `iam:TagInstanceProfile`, `iam:AddRoleToInstanceProfile`, and `iam:PassRole` on both roles.
pub async fn ensure(ctx: &Context, app: &App, mode: Mode) -> Result<(Vec<Report>, Roles), CliError> {
    let p = partition(&ctx.region());
    let (instance_role, execution_role) = role_names(app);
    let ec2_policy = format!("arn:{p}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role");
    let exec_policy = format!("arn:{p}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy");
    let (r1, _) = role(ctx, app, &instance_role, "ec2.amazonaws.com", &ec2_policy, mode).await?;
    let (r2, execution_role_arn) =
        role(ctx, app, &execution_role, "ecs-tasks.amazonaws.com", &exec_policy, mode).await?;
    let r3 = instance_profile(ctx, app, &instance_role, mode).await?;
    Ok((
        vec![r1, r2, r3],
        Roles {
            instance_profile: instance_role,
            execution_role_arn,
        },
    ))
}

async fn role(
    ctx: &Context,
    app: &App,
    name: &str,
    principal: &str,
    policy: &str,
    mode: Mode,
) -> Result<(Report, String), CliError> {
    let iam = ctx.iam();
    let existing = match iam.get_role().role_name(name).send().await {
        Ok(out) => out.role.map(|r| r.arn),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => None,
        Err(e) => return Err(aws("iam:GetRole", e)),
    };
    let existed = existing.is_some();
    let arn = match (existing, mode) {
        (Some(arn), _) => arn,
        (None, Mode::Plan) => planned("role"),
        (None, Mode::Apply) => {
            let created = iam
                .create_role()
                .role_name(name)
                .assume_role_policy_document(trust(principal))
                .description(format!("pushdeploy app {}", app.name))
                .tags(app_tag(app)?)
                .send()
                .await;
            match created {
                Ok(out) => out.role.map(|r| r.arn).unwrap_or_default(),
                // Created by a run that was cut short after sending: idempotent creates take it as found.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_entity_already_exists_exception()) =>
                {
                    iam.get_role()
                        .role_name(name)
                        .send()
                        .await
                        .map_err(|e| aws("iam:GetRole", e))?
                        .role
                        .map(|r| r.arn)
                        .unwrap_or_default()
                }
                Err(e) => return Err(aws("iam:CreateRole", e)),
            }
        }
    };
    let attached = existed
        && attached_policies(ctx, name)
            .await?
            .unwrap_or_default()
            .iter()
            .any(|a| a == policy);
    if !attached && mode == Mode::Apply {
        iam.attach_role_policy()
            .role_name(name)
            .policy_arn(policy)
            .send()
            .await
            .map_err(|e| aws("iam:AttachRolePolicy", e))?;
    }
    let change = match (existed, attached) {
        (false, _) => Change::Create,
        (true, false) => Change::Update(vec![format!("attach {policy}")]),
        (true, true) => Change::NoChange,
    };
    Ok((Report::new("iam role", name, change), arn))
}

async fn instance_profile(ctx: &Context, app: &App, name: &str, mode: Mode) -> Result<Report, CliError> {
    let iam = ctx.iam();
    let roles = instance_profile_roles(ctx, name).await?;
    let existed = roles.is_some();
    let has_role = roles.as_ref().is_some_and(|r| r.iter().any(|r| r == name));
    if mode == Mode::Apply {
        if !existed {
            iam.create_instance_profile()
                .instance_profile_name(name)
                .tags(app_tag(app)?)
                .send()
                .await
                .map(|_| ())
                .or_else(|e| match e.as_service_error() {
                    Some(s) if s.is_entity_already_exists_exception() => Ok(()),
                    _ => Err(aws("iam:CreateInstanceProfile", e)),
                })?;
        }
        if !has_role {
            iam.add_role_to_instance_profile()
                .instance_profile_name(name)
                .role_name(name)
                .send()
                .await
                .map(|_| ())
                .or_else(|e| match e.as_service_error() {
                    // A profile holds one role: it is ours, added by a run that was cut short.
                    Some(s) if s.is_limit_exceeded_exception() || s.is_entity_already_exists_exception() => Ok(()),
                    _ => Err(aws("iam:AddRoleToInstanceProfile", e)),
                })?;
        }
    }
    let change = match (existed, has_role) {
        (false, _) => Change::Create,
        (true, false) => Change::Update(vec![format!("add role {name}")]),
        (true, true) => Change::NoChange,
    };
    Ok(Report::new("instance profile", name, change))
}

/// The roles in instance profile `name`, or `None` when it does not exist.
///
/// IAM: `iam:GetInstanceProfile`.
pub async fn instance_profile_roles(ctx: &Context, name: &str) -> Result<Option<Vec<String>>, CliError> {
    match ctx
        .iam()
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(Some(
            out.instance_profile
                .map(|p| p.roles.into_iter().map(|r| r.role_name).collect())
                .unwrap_or_default(),
        )),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => Ok(None),
        Err(e) => Err(aws("iam:GetInstanceProfile", e)),
    }
}

/// The managed policies attached to `role`, or `None` when the role does not exist.
///
/// IAM: `iam:ListAttachedRolePolicies`.
pub async fn attached_policies(ctx: &Context, role: &str) -> Result<Option<Vec<String>>, CliError> {
    match ctx.iam().list_attached_role_policies().role_name(role).send().await {
        Ok(out) => Ok(Some(
            out.attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn.clone())
                .collect(),
        )),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => Ok(None),
        Err(e) => Err(aws("iam:ListAttachedRolePolicies", e)),
    }
}
