//! The instance profile that gives the cluster's instances their role (named as the role).

use std::fmt;

use aws_sdk_iam::types::Tag;

use super::facts::Facts;
use super::model::{After, Resource, APP_TAG};
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::progress::Step;

/// What the profile lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The instances' role.
    MissingRole(String),
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::MissingRole(role) => write!(f, "add role {role}"),
        }
    }
}

/// The app's instance profile.
#[derive(Debug, Clone)]
pub struct InstanceProfile {
    name: String,
    role: String,
    app: String,
}

impl InstanceProfile {
    /// The profile of the app's instance role.
    pub fn new(app: &App) -> InstanceProfile {
        InstanceProfile {
            name: app.names.instance_profile(),
            role: app.names.instance_role(),
            app: app.name.clone(),
        }
    }

    /// IAM: `iam:AddRoleToInstanceProfile`, `iam:PassRole` on the role (IAM checks it here).
    async fn add_role(&self, ctx: &Context) -> Result<(), CliError> {
        let added = ctx
            .iam()
            .add_role_to_instance_profile()
            .instance_profile_name(&self.name)
            .role_name(&self.role)
            .send()
            .await;
        match added {
            Ok(_) => Ok(()),
            // A profile holds one role: if it now holds ours, a run cut short added it.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_limit_exceeded_exception() || s.is_entity_already_exists_exception()) =>
            {
                match find(ctx, &self.name).await? {
                    Some(found) if found.roles.contains(&self.role) => Ok(()),
                    _ => Err(aws("iam:AddRoleToInstanceProfile", e)),
                }
            }
            Err(e) => Err(aws("iam:AddRoleToInstanceProfile", e)),
        }
    }
}

/// An instance profile as it exists.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Its roles.
    pub roles: Vec<String>,
    /// When IAM created it (EC2 and Auto Scaling see a new one only after a while).
    pub created: Option<aws_smithy_types::DateTime>,
}

/// Instance profile `name`, or `None` when it does not exist.
///
/// IAM: `iam:GetInstanceProfile`.
pub async fn find(ctx: &Context, name: &str) -> Result<Option<Observed>, CliError> {
    match ctx
        .iam()
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
    {
        Ok(out) => {
            let p = out
                .instance_profile
                .ok_or_else(|| missing("iam:GetInstanceProfile", "InstanceProfile"))?;
            Ok(Some(Observed {
                created: Some(p.create_date),
                roles: p.roles.into_iter().map(|r| r.role_name).collect(),
            }))
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => Ok(None),
        Err(e) => Err(aws("iam:GetInstanceProfile", e)),
    }
}

impl Resource for InstanceProfile {
    type Observed = Observed;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "instance profile"
    }

    /// What it is converged after. The instances' role, which it holds.
    fn after(&self) -> After {
        After::Kinds(&["iam role"])
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    async fn observe(&self, ctx: &Context, _facts: &Facts) -> Result<Option<Observed>, CliError> {
        find(ctx, &self.name).await
    }

    fn diff(&self, observed: &Observed, _facts: &Facts) -> Vec<Drift> {
        if observed.roles.contains(&self.role) {
            Vec::new()
        } else {
            vec![Drift::MissingRole(self.role.clone())]
        }
    }

    /// IAM: `iam:CreateInstanceProfile`, `iam:TagInstanceProfile`, `iam:AddRoleToInstanceProfile`,
    /// `iam:PassRole` (the instance role, to EC2).
    async fn create(&self, ctx: &Context, _facts: &Facts, _step: &Step) -> Result<Observed, CliError> {
        let tag = Tag::builder()
            .key(APP_TAG)
            .value(&self.app)
            .build()
            .expect("key and value are set");
        let created = ctx
            .iam()
            .create_instance_profile()
            .instance_profile_name(&self.name)
            .tags(tag)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_already_exists_exception()) => {}
            Err(e) => return Err(aws("iam:CreateInstanceProfile", e)),
        }
        self.add_role(ctx).await?;
        find(ctx, &self.name)
            .await?
            .ok_or_else(|| crate::error::missing("iam:GetInstanceProfile", "the profile just created"))
    }

    async fn apply(&self, ctx: &Context, _: &Observed, _: &[Drift], _: &Facts, _: &Step) -> Result<(), CliError> {
        self.add_role(ctx).await
    }

    /// IAM: `iam:RemoveRoleFromInstanceProfile`, `iam:DeleteInstanceProfile`.
    async fn delete(&self, ctx: &Context, observed: &Observed, _step: &Step) -> Result<(), CliError> {
        let iam = ctx.iam();
        for role in &observed.roles {
            iam.remove_role_from_instance_profile()
                .instance_profile_name(&self.name)
                .role_name(role)
                .send()
                .await
                .map_err(|e| aws("iam:RemoveRoleFromInstanceProfile", e))?;
        }
        match iam
            .delete_instance_profile()
            .instance_profile_name(&self.name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => Ok(()),
            Err(e) => Err(aws("iam:DeleteInstanceProfile", e)),
        }
    }

    fn record(&self, observed: &Observed, facts: &mut Facts) {
        facts.instance_profile = Some(self.name.clone());
        if let Some(created) = &observed.created {
            facts.created_at(self.kind(), &self.name, created);
        }
    }
}
