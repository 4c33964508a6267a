//! The app's IAM roles: the instances' (AmazonEC2ContainerServiceforEC2Role, behind the instance
//! profile) and the tasks' execution role (AmazonECSTaskExecutionRolePolicy). They carry the
//! app's tag; `down` detaches what is attached and deletes them.

use std::fmt;

use aws_sdk_iam::types::Tag;

use super::{Known, Resource, APP_TAG};
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::progress::Step;

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

/// An AWS-managed policy's ARN in the region's partition.
pub fn managed_policy(region: &str, path_and_name: &str) -> String {
    format!("arn:{}:iam::aws:policy/{path_and_name}", partition(region))
}

/// What a role lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// A managed policy the app attaches.
    MissingPolicy(String),
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::MissingPolicy(arn) => write!(f, "attach {}", arn.rsplit('/').next().unwrap_or(arn)),
        }
    }
}

/// One of the app's roles.
#[derive(Debug, Clone)]
pub struct Role {
    name: String,
    principal: &'static str,
    policies: Vec<&'static str>,
    app: String,
}

impl Role {
    /// The instances' role.
    pub fn instance(app: &App) -> Role {
        Role {
            name: app.names.instance_role(),
            principal: "ec2.amazonaws.com",
            policies: vec!["service-role/AmazonEC2ContainerServiceforEC2Role"],
            app: app.name.clone(),
        }
    }

    /// The tasks' execution role (pulls images, writes logs).
    pub fn execution(app: &App) -> Role {
        Role {
            name: app.names.execution_role(),
            principal: "ecs-tasks.amazonaws.com",
            policies: vec!["service-role/AmazonECSTaskExecutionRolePolicy"],
            app: app.name.clone(),
        }
    }

    fn policy_arns(&self, region: &str) -> Vec<String> {
        self.policies.iter().map(|p| managed_policy(region, p)).collect()
    }

    fn trust(&self) -> String {
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": self.principal}, "Action": "sts:AssumeRole"}]
        })
        .to_string()
    }

    /// IAM: `iam:AttachRolePolicy` (only the managed policies above).
    async fn attach(&self, ctx: &Context, policies: &[String]) -> Result<(), CliError> {
        for policy in policies {
            ctx.iam()
                .attach_role_policy()
                .role_name(&self.name)
                .policy_arn(policy)
                .send()
                .await
                .map_err(|e| aws("iam:AttachRolePolicy", e))?;
        }
        Ok(())
    }
}

/// A role as it exists.
#[derive(Debug, Clone)]
pub struct Observed {
    /// ARN.
    pub arn: String,
    /// Managed policies attached.
    pub policies: Vec<String>,
}

/// The role `name` with its attached managed policies, or `None`.
///
/// IAM: `iam:GetRole`, `iam:ListAttachedRolePolicies`.
pub async fn find(ctx: &Context, name: &str) -> Result<Option<Observed>, CliError> {
    let iam = ctx.iam();
    let arn = match iam.get_role().role_name(name).send().await {
        Ok(out) => out.role.map(|r| r.arn).ok_or_else(|| missing("iam:GetRole", "Role"))?,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => return Ok(None),
        Err(e) => return Err(aws("iam:GetRole", e)),
    };
    let mut policies = Vec::new();
    let mut pages = iam
        .list_attached_role_policies()
        .role_name(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws("iam:ListAttachedRolePolicies", e))?;
        policies.extend(page.attached_policies().iter().filter_map(|p| p.policy_arn.clone()));
    }
    Ok(Some(Observed { arn, policies }))
}

impl Resource for Role {
    type Observed = Observed;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "iam role"
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    async fn observe(&self, ctx: &Context, _known: &Known) -> Result<Option<Observed>, CliError> {
        find(ctx, &self.name).await
    }

    fn diff(&self, observed: &Observed, _known: &Known) -> Vec<Drift> {
        // The region is in the ARN the role came back with.
        let region_partition = observed.arn.split(':').nth(1).unwrap_or("aws");
        self.policies
            .iter()
            .map(|p| format!("arn:{region_partition}:iam::aws:policy/{p}"))
            .filter(|arn| !observed.policies.contains(arn))
            .map(Drift::MissingPolicy)
            .collect()
    }

    /// IAM: `iam:CreateRole`, `iam:TagRole`, `iam:GetRole`, `iam:AttachRolePolicy`.
    async fn create(&self, ctx: &Context, _known: &Known, _step: &Step) -> Result<Observed, CliError> {
        let tag = Tag::builder()
            .key(APP_TAG)
            .value(&self.app)
            .build()
            .expect("key and value are set");
        let created = ctx
            .iam()
            .create_role()
            .role_name(&self.name)
            .assume_role_policy_document(self.trust())
            .description(format!("pushdeploy app {}", self.app))
            .tags(tag)
            .send()
            .await;
        let found = match created {
            Ok(out) => Observed {
                arn: out
                    .role
                    .map(|r| r.arn)
                    .ok_or_else(|| missing("iam:CreateRole", "Role"))?,
                policies: Vec::new(),
            },
            // Created by a run that was cut short after sending: idempotent creates take it as found.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_already_exists_exception()) =>
            {
                find(ctx, &self.name).await?.ok_or_else(|| aws("iam:CreateRole", e))?
            }
            Err(e) => return Err(aws("iam:CreateRole", e)),
        };
        let wanted = self.policy_arns(ctx.region());
        let lacking: Vec<String> = wanted.iter().filter(|p| !found.policies.contains(p)).cloned().collect();
        self.attach(ctx, &lacking).await?;
        Ok(Observed {
            arn: found.arn,
            policies: wanted,
        })
    }

    async fn apply(&self, ctx: &Context, _: &Observed, drift: &[Drift], _: &Known, _: &Step) -> Result<(), CliError> {
        let policies: Vec<String> = drift.iter().map(|Drift::MissingPolicy(p)| p.clone()).collect();
        self.attach(ctx, &policies).await
    }

    /// IAM: `iam:DetachRolePolicy`, `iam:ListRolePolicies`, `iam:DeleteRolePolicy`, `iam:DeleteRole`.
    async fn delete(&self, ctx: &Context, observed: &Observed, _step: &Step) -> Result<(), CliError> {
        let iam = ctx.iam();
        for policy in &observed.policies {
            match iam
                .detach_role_policy()
                .role_name(&self.name)
                .policy_arn(policy)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => {}
                Err(e) => return Err(aws("iam:DetachRolePolicy", e)),
            }
        }
        // A role with inline policies (a user's, say) cannot be deleted.
        let mut inline = Vec::new();
        let mut pages = iam.list_role_policies().role_name(&self.name).into_paginator().send();
        while let Some(page) = pages.next().await {
            inline.extend(page.map_err(|e| aws("iam:ListRolePolicies", e))?.policy_names);
        }
        for name in inline {
            iam.delete_role_policy()
                .role_name(&self.name)
                .policy_name(name)
                .send()
                .await
                .map_err(|e| aws("iam:DeleteRolePolicy", e))?;
        }
        match iam.delete_role().role_name(&self.name).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => Ok(()),
            Err(e) => Err(aws("iam:DeleteRole", e)),
        }
    }

    fn record(&self, observed: &Observed, known: &mut Known) {
        known.roles.insert(self.name.clone(), observed.arn.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_file::AppFile;

    #[test]
    fn a_role_lacking_its_managed_policy_drifts_in_its_own_partition() {
        let app = App::resolve(AppFile::default(), Some("demo"), "defaults", None).unwrap();
        let role = Role::execution(&app);
        let observed = Observed {
            arn: "arn:aws-cn:iam::1:role/pushdeploy-demo-execution".into(),
            policies: vec![],
        };
        let drift = role.diff(&observed, &Known::default());
        assert_eq!(
            drift,
            [Drift::MissingPolicy(
                "arn:aws-cn:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy".into()
            )]
        );
        assert_eq!(drift[0].to_string(), "attach AmazonECSTaskExecutionRolePolicy");
        let attached = Observed {
            policies: vec!["arn:aws-cn:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy".into()],
            ..observed
        };
        assert!(role.diff(&attached, &Known::default()).is_empty());
    }
}
