//! The account's ECS service-linked role, `AWSServiceRoleForECS`: ECS needs it to manage the
//! load balancer and the capacity provider, and a fresh account does not have it until someone
//! creates it. Shared by the account: `down` never deletes it.

use std::time::Duration;

use super::facts::Facts;
use super::model::{After, Lifetime, NoDrift, Resource};
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::progress::Step;

/// Name of the role (ECS developer guide, "Using service-linked roles for Amazon ECS").
pub const ROLE_NAME: &str = "AWSServiceRoleForECS";
/// How long a new service-linked role may take before ECS can assume it.
pub const PROPAGATION: Duration = Duration::from_secs(60);

/// The role, observed by name.
#[derive(Debug, Clone, Copy)]
pub struct EcsServiceLinkedRole;

/// The role.
#[derive(Debug, Clone)]
pub struct Observed {
    /// ARN.
    pub arn: String,
    /// When IAM created it.
    pub created: aws_smithy_types::DateTime,
}

async fn get(ctx: &Context) -> Result<Option<Observed>, CliError> {
    // IAM: iam:GetRole on role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS
    match ctx.iam().get_role().role_name(ROLE_NAME).send().await {
        Ok(out) => {
            let r = out.role.ok_or_else(|| missing("iam:GetRole", "Role"))?;
            Ok(Some(Observed {
                arn: r.arn,
                created: r.create_date,
            }))
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => Ok(None),
        Err(e) => Err(aws("iam:GetRole", e)),
    }
}

impl Resource for EcsServiceLinkedRole {
    type Observed = Observed;
    type Drift = NoDrift;

    fn kind(&self) -> &'static str {
        "service-linked role"
    }

    /// What it is converged after. Nothing: an account's role.
    fn after(&self) -> After {
        After::Kinds(&[])
    }

    fn name(&self) -> String {
        ROLE_NAME.into()
    }

    fn lifetime(&self) -> Lifetime {
        Lifetime::Account
    }

    async fn observe(&self, ctx: &Context, _facts: &Facts) -> Result<Option<Observed>, CliError> {
        get(ctx).await
    }

    fn diff(&self, _observed: &Observed, _facts: &Facts) -> Vec<NoDrift> {
        Vec::new()
    }

    async fn create(&self, ctx: &Context, _facts: &Facts, _step: &Step) -> Result<Observed, CliError> {
        // IAM: iam:CreateServiceLinkedRole, only for iam:AWSServiceName ecs.amazonaws.com
        let created = ctx
            .iam()
            .create_service_linked_role()
            .aws_service_name("ecs.amazonaws.com")
            .send()
            .await;
        match created {
            Ok(out) => out
                .role
                .map(|r| Observed {
                    arn: r.arn,
                    created: r.create_date,
                })
                .ok_or_else(|| crate::error::missing("iam:CreateServiceLinkedRole", "Role")),
            // "has been taken in this account": created meanwhile (another `up`, the console). IAM
            // models it as a generic InvalidInput, so the role's existence decides, not the text.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_invalid_input_exception()) => match get(ctx).await? {
                Some(found) => Ok(found),
                None => Err(aws("iam:CreateServiceLinkedRole", e)),
            },
            Err(e) => Err(aws("iam:CreateServiceLinkedRole", e)),
        }
    }

    async fn apply(&self, _: &Context, _: &Observed, _: &[NoDrift], _: &Facts, _: &Step) -> Result<(), CliError> {
        Ok(())
    }

    async fn delete(&self, _: &Context, _: &Observed, _: &Step) -> Result<(), CliError> {
        Ok(())
    }

    fn record(&self, observed: &Observed, facts: &mut Facts) {
        facts.created_at(self.kind(), ROLE_NAME, &observed.created);
    }

    fn state(&self, _observed: &Observed, facts: &Facts) -> Option<String> {
        Some(if facts.is_fresh(self.kind(), ROLE_NAME, PROPAGATION) {
            "created; ECS may take a minute to use it".into()
        } else {
            "present".into()
        })
    }
}

/// Whether an ECS error may be the new service-linked role not yet usable: ECS answers
/// InvalidParameterException "Unable to assume the service linked role" until it propagates.
/// Only retried while the role is new (IAM's creation date), so a real invalid parameter of an
/// established account fails at once.
pub fn may_be_propagating<E>(
    facts: &Facts,
    err: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;
    facts.is_fresh("service-linked role", ROLE_NAME, PROPAGATION) && err.code() == Some("InvalidParameterException")
}
