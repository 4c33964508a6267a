//! The app's IAM roles: the instances' (AmazonEC2ContainerServiceforEC2Role, behind the instance
//! profile), the tasks' execution role (AmazonECSTaskExecutionRolePolicy, and read access to
//! exactly the secrets the services name), one task role per service (the file's
//! `task_role_policies`, nothing else) and, when a service is blue-green, canary or linear, the
//! role ECS moves its traffic with (AmazonECSInfrastructureRolePolicyForLoadBalancers). They carry the app's tag; `down` detaches what is
//! attached and deletes them.

use std::fmt;

use aws_sdk_iam::types::Tag;
use serde_json::{json, Value};

use super::facts::Facts;
use super::model::{After, Resource, APP_TAG};
use crate::app_file::{App, AppService};
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::iam_policy::{secrets_policy, SECRETS_POLICY};
use crate::progress::Step;

/// What a role lacks, or has that the app does not want.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// A managed policy the app attaches.
    MissingPolicy(String),
    /// A managed policy attached to a role the file owns whole (a task role), not in the file.
    ExtraPolicy(String),
    /// The secrets policy is missing or differs.
    SecretsPolicy,
    /// A secrets policy is there, but no service has secrets any more.
    StaleSecretsPolicy,
    /// On another IAM path; IAM cannot move a role, so `up` replaces it (and then re-registers
    /// the revisions that name it).
    Path {
        /// Now.
        have: String,
        /// Wanted.
        want: String,
    },
}

fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::MissingPolicy(arn) => write!(f, "attach {}", short(arn)),
            Drift::ExtraPolicy(arn) => write!(f, "detach {}", short(arn)),
            Drift::SecretsPolicy => write!(f, "grant reading the secrets"),
            Drift::StaleSecretsPolicy => write!(f, "remove the secrets grant"),
            Drift::Path { have, want } => write!(f, "path {have} -> {want}: replace the role"),
        }
    }
}

/// One of the app's roles.
#[derive(Debug, Clone)]
pub struct Role {
    name: String,
    /// Its IAM path: `/` for the instances' role, the app's for the roles the function passes.
    path: String,
    principal: &'static str,
    /// AWS-managed policies by path and name (the partition is the region's).
    managed: Vec<&'static str>,
    /// Policies by ARN, from the file.
    named: Vec<String>,
    /// Whether a policy attached but not wanted is detached: the file owns the whole role.
    exact: bool,
    /// The inline secrets policy wanted.
    inline: Option<Value>,
    /// False for the infrastructure role of an app without staged services, which only `down`
    /// looks for.
    wanted: bool,
    app: String,
}

impl Role {
    /// The instances' role.
    pub fn instance(app: &App) -> Role {
        Role {
            name: app.names.instance_role(),
            path: "/".into(),
            principal: "ec2.amazonaws.com",
            managed: vec!["service-role/AmazonEC2ContainerServiceforEC2Role"],
            named: Vec::new(),
            exact: false,
            inline: None,
            wanted: true,
            app: app.name.clone(),
        }
    }

    /// The tasks' execution role (pulls images, writes logs, reads the secrets).
    pub fn execution(app: &App) -> Role {
        Role {
            name: app.names.execution_role(),
            path: app.names.role_path(),
            principal: "ecs-tasks.amazonaws.com",
            managed: vec!["service-role/AmazonECSTaskExecutionRolePolicy"],
            named: Vec::new(),
            exact: false,
            inline: secrets_policy(&app.secret_sources()),
            wanted: true,
            app: app.name.clone(),
        }
    }

    /// The role ECS assumes to move a blue-green, canary or linear service's traffic between its
    /// target groups (`advancedConfiguration.roleArn`; ECS developer guide, "Amazon ECS
    /// infrastructure IAM role for load balancers").
    pub fn infrastructure(app: &App) -> Role {
        Role {
            name: app.names.infrastructure_role(),
            path: app.names.role_path(),
            principal: "ecs.amazonaws.com",
            managed: vec!["AmazonECSInfrastructureRolePolicyForLoadBalancers"],
            named: Vec::new(),
            exact: false,
            inline: None,
            wanted: true,
            app: app.name.clone(),
        }
    }

    /// The role as only `down` looks for it: deleted when found.
    pub fn unwanted(self) -> Role {
        Role { wanted: false, ..self }
    }

    /// A service's task role: what its application may call, exactly the file's policies.
    pub fn task(app: &App, service: &AppService) -> Role {
        Role {
            name: app.names.task_role(&service.spec.name),
            path: app.names.role_path(),
            principal: "ecs-tasks.amazonaws.com",
            managed: Vec::new(),
            named: service.spec.task_role_policies.clone(),
            exact: true,
            inline: None,
            wanted: true,
            app: app.name.clone(),
        }
    }

    /// Every policy wanted, by ARN, in `partition`.
    fn wanted(&self, partition: &str) -> Vec<String> {
        (self.managed.iter())
            .map(|p| format!("arn:{partition}:iam::aws:policy/{p}"))
            .chain(self.named.iter().cloned())
            .collect()
    }

    fn trust(&self) -> String {
        json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": self.principal}, "Action": "sts:AssumeRole"}]
        })
        .to_string()
    }

    /// IAM: `iam:AttachRolePolicy` (the AWS-managed policies above, and a task role's
    /// `task_role_policies`).
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

    /// IAM: `iam:DetachRolePolicy`.
    async fn detach(&self, ctx: &Context, policy: &str) -> Result<(), CliError> {
        match ctx
            .iam()
            .detach_role_policy()
            .role_name(&self.name)
            .policy_arn(policy)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => Ok(()),
            Err(e) => Err(aws("iam:DetachRolePolicy", e)),
        }
    }

    /// IAM: `iam:PutRolePolicy`, `iam:DeleteRolePolicy`.
    async fn put_inline(&self, ctx: &Context) -> Result<(), CliError> {
        match &self.inline {
            Some(document) => ctx
                .iam()
                .put_role_policy()
                .role_name(&self.name)
                .policy_name(SECRETS_POLICY)
                .policy_document(document.to_string())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws("iam:PutRolePolicy", e)),
            None => match ctx
                .iam()
                .delete_role_policy()
                .role_name(&self.name)
                .policy_name(SECRETS_POLICY)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => Ok(()),
                Err(e) => Err(aws("iam:DeleteRolePolicy", e)),
            },
        }
    }
}

/// A role as it exists.
#[derive(Debug, Clone)]
pub struct Observed {
    /// ARN.
    pub arn: String,
    /// Managed policies attached.
    pub policies: Vec<String>,
    /// Its inline secrets policy, parsed.
    pub inline: Option<Value>,
    /// Its IAM path.
    pub path: String,
}

/// The role `name` with its attached managed policies and its secrets policy, or `None`.
///
/// IAM: `iam:GetRole`, `iam:ListAttachedRolePolicies`, `iam:ListRolePolicies`, `iam:GetRolePolicy`.
pub async fn find(ctx: &Context, name: &str) -> Result<Option<Observed>, CliError> {
    let iam = ctx.iam();
    let (arn, path) = match iam.get_role().role_name(name).send().await {
        Ok(out) => out
            .role
            .map(|r| (r.arn, r.path))
            .ok_or_else(|| missing("iam:GetRole", "Role"))?,
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
    let mut inline = None;
    if inline_names(ctx, name).await?.iter().any(|n| n == SECRETS_POLICY) {
        let out = iam
            .get_role_policy()
            .role_name(name)
            .policy_name(SECRETS_POLICY)
            .send()
            .await
            .map_err(|e| aws("iam:GetRolePolicy", e))?;
        inline = Some(policy_document(out.policy_document()));
    }
    Ok(Some(Observed {
        arn,
        policies,
        inline,
        path,
    }))
}

/// The names of a role's inline policies.
///
/// IAM: `iam:ListRolePolicies`.
async fn inline_names(ctx: &Context, role: &str) -> Result<Vec<String>, CliError> {
    let mut names = Vec::new();
    let mut pages = ctx.iam().list_role_policies().role_name(role).into_paginator().send();
    while let Some(page) = pages.next().await {
        names.extend(page.map_err(|e| aws("iam:ListRolePolicies", e))?.policy_names);
    }
    Ok(names)
}

/// A policy document as IAM returns it: URL-encoded JSON (RFC 3986), per the IAM API reference.
/// Anything unreadable compares unequal to every wanted policy, so `up` rewrites it.
pub fn policy_document(encoded: &str) -> Value {
    let decoded = percent_encoding::percent_decode_str(encoded).decode_utf8_lossy();
    serde_json::from_str(&decoded).unwrap_or(Value::Null)
}

impl Resource for Role {
    type Observed = Observed;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "iam role"
    }

    /// What it is converged after. Nothing: its policies name resources by their names, not by facts.
    fn after(&self) -> After {
        After::Kinds(&[])
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn wanted(&self) -> bool {
        self.wanted
    }

    async fn observe(&self, ctx: &Context, _facts: &Facts) -> Result<Option<Observed>, CliError> {
        find(ctx, &self.name).await
    }

    fn diff(&self, observed: &Observed, _facts: &Facts) -> Vec<Drift> {
        // The partition is in the ARN the role came back with.
        let partition = observed.arn.split(':').nth(1).unwrap_or("aws");
        let wanted = self.wanted(partition);
        if observed.path != self.path {
            // Replaced whole: the new role gets every policy and grant.
            return vec![Drift::Path {
                have: observed.path.clone(),
                want: self.path.clone(),
            }];
        }
        let mut drift: Vec<Drift> = (wanted.iter())
            .filter(|arn| !observed.policies.contains(arn))
            .cloned()
            .map(Drift::MissingPolicy)
            .collect();
        if self.exact {
            drift.extend(
                (observed.policies.iter())
                    .filter(|arn| !wanted.contains(arn))
                    .cloned()
                    .map(Drift::ExtraPolicy),
            );
        }
        match (&self.inline, &observed.inline) {
            (Some(want), have) if have.as_ref() != Some(want) => drift.push(Drift::SecretsPolicy),
            (None, Some(_)) => drift.push(Drift::StaleSecretsPolicy),
            _ => {}
        }
        drift
    }

    /// IAM: `iam:CreateRole`, `iam:TagRole`, `iam:GetRole`, `iam:AttachRolePolicy`.
    async fn create(&self, ctx: &Context, _facts: &Facts, _step: &Step) -> Result<Observed, CliError> {
        let tag = Tag::builder()
            .key(APP_TAG)
            .value(&self.app)
            .build()
            .expect("key and value are set");
        let created = ctx
            .iam()
            .create_role()
            .role_name(&self.name)
            .path(&self.path)
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
                inline: None,
                path: self.path.clone(),
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
        // What a run cut short left undone, `converge` finishes through `diff` and `apply`.
        Ok(found)
    }

    /// IAM: what `attach`, `detach` and `put_inline` need, and for a move what `delete` and
    /// `create` need.
    async fn apply(
        &self,
        ctx: &Context,
        observed: &Observed,
        drift: &[Drift],
        facts: &Facts,
        step: &Step,
    ) -> Result<(), CliError> {
        if drift.iter().any(|d| matches!(d, Drift::Path { .. })) {
            self.delete(ctx, observed, step).await?;
            let created = self.create(ctx, facts, step).await?;
            let rest = self.diff(&created, facts);
            return Box::pin(self.apply(ctx, &created, &rest, facts, step)).await;
        }
        let attach: Vec<String> = (drift.iter())
            .filter_map(|d| match d {
                Drift::MissingPolicy(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        self.attach(ctx, &attach).await?;
        for d in drift {
            match d {
                Drift::ExtraPolicy(p) => self.detach(ctx, p).await?,
                Drift::SecretsPolicy | Drift::StaleSecretsPolicy => self.put_inline(ctx).await?,
                Drift::MissingPolicy(_) | Drift::Path { .. } => {}
            }
        }
        Ok(())
    }

    /// IAM: `iam:DetachRolePolicy`, `iam:ListRolePolicies`, `iam:DeleteRolePolicy`, `iam:DeleteRole`.
    async fn delete(&self, ctx: &Context, observed: &Observed, _step: &Step) -> Result<(), CliError> {
        let iam = ctx.iam();
        for policy in &observed.policies {
            self.detach(ctx, policy).await?;
        }
        // A role with inline policies (ours, or a user's) cannot be deleted.
        for name in inline_names(ctx, &self.name).await? {
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

    /// The role's ARN on its wanted path: after a move, what the revisions must name.
    fn record(&self, observed: &Observed, facts: &mut Facts) {
        let arn = match observed.arn.split_once(":role/") {
            Some((account, _)) => format!("{account}:role{}{}", self.path, self.name),
            None => observed.arn.clone(),
        };
        facts.roles.insert(self.name.clone(), arn);
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
            arn: "arn:aws-cn:iam::1:role/pushdeploy/demo/pushdeploy-demo-execution".into(),
            policies: vec![],
            inline: None,
            path: "/pushdeploy/demo/".into(),
        };
        let drift = role.diff(&observed, &Facts::default());
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
        assert!(role.diff(&attached, &Facts::default()).is_empty());
        // Made by an earlier release at the root path: replaced, and named on the app's path.
        let rooted = Observed {
            arn: "arn:aws-cn:iam::1:role/pushdeploy-demo-execution".into(),
            path: "/".into(),
            ..attached
        };
        let drift = role.diff(&rooted, &Facts::default());
        assert_eq!(drift[0].to_string(), "path / -> /pushdeploy/demo/: replace the role");
        let mut facts = Facts::default();
        role.record(&rooted, &mut facts);
        assert_eq!(
            facts.roles["pushdeploy-demo-execution"],
            "arn:aws-cn:iam::1:role/pushdeploy/demo/pushdeploy-demo-execution"
        );
        assert_eq!(
            Role::instance(&app).path,
            "/",
            "the instances' role is passed by no function"
        );
    }

    fn app(text: &str) -> App {
        let file: AppFile = toml::from_str(text).unwrap();
        App::resolve(file, Some("shop"), "test", Some(text)).unwrap()
    }

    #[test]
    fn a_task_role_holds_exactly_the_files_policies() {
        let app = app("[[services]]\nname = \"web\"\ntask_role_policies = [\"arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess\", \"arn:aws:iam::123456789012:policy/shop/queue\"]\n");
        let role = Role::task(&app, &app.services()[0]);
        assert_eq!(role.name(), "pushdeploy-shop-web-task");
        let observed = Observed {
            arn: "arn:aws:iam::123456789012:role/pushdeploy/shop/pushdeploy-shop-web-task".into(),
            policies: vec![
                "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess".into(),
                "arn:aws:iam::aws:policy/AdministratorAccess".into(),
            ],
            inline: None,
            path: "/pushdeploy/shop/".into(),
        };
        let drift: Vec<String> = role
            .diff(&observed, &Facts::default())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(drift, ["attach queue", "detach AdministratorAccess"]);
        // The execution role is shared with what AWS or a user attached: nothing is detached.
        let execution = Role::execution(&app);
        let shared = Observed {
            policies: vec![
                "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy".into(),
                "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy".into(),
            ],
            ..observed
        };
        assert!(execution.diff(&shared, &Facts::default()).is_empty());
    }

    #[test]
    fn the_execution_role_may_read_exactly_the_named_secrets_and_decrypt_only_with_a_named_key() {
        let app = app(concat!(
            "[[services]]\nname = \"web\"\n",
            "secrets = { DB = \"arn:aws:ssm:eu-west-1:123456789012:parameter/shop/db\", ",
            "API = \"arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/api-AbCdEf:token::\" }\n",
            "[[services]]\nname = \"worker\"\npath = \"/w/*\"\n",
            "secrets = { DB = \"arn:aws:ssm:eu-west-1:123456789012:parameter/shop/db\" }\n",
            "secrets_kms_key = \"arn:aws:kms:eu-west-1:123456789012:key/k-1\"\n",
        ));
        let policy = secrets_policy(&app.secret_sources()).unwrap();
        assert_eq!(
            policy["Statement"],
            serde_json::json!([
                {"Sid": "Parameters", "Effect": "Allow", "Action": "ssm:GetParameters",
                 "Resource": ["arn:aws:ssm:eu-west-1:123456789012:parameter/shop/db"]},
                {"Sid": "Secrets", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                 "Resource": ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/api-AbCdEf"]},
                {"Sid": "Keys", "Effect": "Allow", "Action": "kms:Decrypt",
                 "Resource": ["arn:aws:kms:eu-west-1:123456789012:key/k-1"]},
            ])
        );
        let role = Role::execution(&app);
        let bare = Observed {
            arn: "arn:aws:iam::123456789012:role/pushdeploy/shop/pushdeploy-shop-execution".into(),
            policies: vec!["arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy".into()],
            inline: None,
            path: "/pushdeploy/shop/".into(),
        };
        assert_eq!(role.diff(&bare, &Facts::default()), [Drift::SecretsPolicy]);
        // IAM hands the document back URL-encoded; read back, it is no drift.
        let encoded: String =
            percent_encoding::utf8_percent_encode(&policy.to_string(), percent_encoding::NON_ALPHANUMERIC).collect();
        let granted = Observed {
            inline: Some(policy_document(&encoded)),
            ..bare.clone()
        };
        assert!(role.diff(&granted, &Facts::default()).is_empty());
        // No secrets any more: the grant goes. No key named: no kms:Decrypt at all.
        let plain = app_without_secrets();
        assert_eq!(
            Role::execution(&plain).diff(&granted, &Facts::default()),
            [Drift::StaleSecretsPolicy]
        );
        assert!(secrets_policy(&plain.secret_sources()).is_none());
        let keyless = self::app(
            "[[services]]\nname = \"web\"\nsecrets = { DB = \"arn:aws:ssm:eu-west-1:123456789012:parameter/db\" }\n",
        );
        assert!(!secrets_policy(&keyless.secret_sources())
            .unwrap()
            .to_string()
            .contains("kms"));
    }

    fn app_without_secrets() -> App {
        app("[[services]]\nname = \"web\"\n")
    }
}
