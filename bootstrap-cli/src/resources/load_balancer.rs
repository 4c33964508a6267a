//! The Application Load Balancer: internet-facing, in the app's subnets, behind the load
//! balancer's security group. Target groups, listeners and rules are kinds of their own.

use std::fmt;
use std::time::Duration;

use aws_sdk_elasticloadbalancingv2::client::Waiters as _;
use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancer as ElbLoadBalancer, LoadBalancerSchemeEnum, LoadBalancerStateEnum, LoadBalancerTypeEnum, Tag,
};

use super::facts::{need, Facts, GroupRole, LoadBalancerFacts};
use super::model::{After, Resource, APP_TAG};
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::poll::{self, Poll, Wait};
use crate::progress::Step;

/// How long `down` waits for the load balancer to be gone, and `up --wait` for it to be active.
pub const TRANSITION: Duration = Duration::from_secs(600);

/// How the load balancer differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// Its security groups are not exactly the app's load balancer group.
    SecurityGroups {
        /// Now.
        have: Vec<String>,
        /// Wanted (`None`: the group is yet to be created).
        want: Option<String>,
    },
    /// Its subnets are not the app's.
    Subnets {
        /// Now.
        have: Vec<String>,
        /// Wanted.
        want: Vec<String>,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::SecurityGroups { have, want } => write!(
                f,
                "security groups {} -> {}",
                have.join(","),
                want.as_deref().unwrap_or("(new group)")
            ),
            Drift::Subnets { have, want } => write!(f, "subnets {} -> {}", have.join(","), want.join(",")),
        }
    }
}

/// The app's load balancer.
#[derive(Debug, Clone)]
pub struct LoadBalancer {
    name: String,
    app: String,
}

impl LoadBalancer {
    /// The app's load balancer.
    pub fn new(app: &App) -> LoadBalancer {
        LoadBalancer {
            name: app.names.load_balancer(),
            app: app.name.clone(),
        }
    }
}

/// The load balancer named `name`.
///
/// IAM: `elasticloadbalancing:DescribeLoadBalancers`.
pub async fn find(ctx: &Context, name: &str) -> Result<Option<ElbLoadBalancer>, CliError> {
    match ctx.elbv2().describe_load_balancers().names(name).send().await {
        Ok(out) => Ok(out.load_balancers.unwrap_or_default().into_iter().next()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_load_balancer_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws("elasticloadbalancing:DescribeLoadBalancers", e)),
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

impl Resource for LoadBalancer {
    type Observed = ElbLoadBalancer;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "load balancer"
    }

    /// What it is converged after. Its security group (and the VPC's subnets).
    fn after(&self) -> After {
        After::Kinds(&["security group"])
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    async fn observe(&self, ctx: &Context, _facts: &Facts) -> Result<Option<ElbLoadBalancer>, CliError> {
        find(ctx, &self.name).await
    }

    fn diff(&self, lb: &ElbLoadBalancer, facts: &Facts) -> Vec<Drift> {
        let mut drift = Vec::new();
        let have = sorted(lb.security_groups().to_vec());
        let want = facts.security_groups.get(&GroupRole::LoadBalancer).cloned();
        if want.as_ref().is_none_or(|w| have != [w.clone()]) {
            drift.push(Drift::SecurityGroups { have, want });
        }
        let have = sorted(
            lb.availability_zones()
                .iter()
                .filter_map(|z| z.subnet_id.clone())
                .collect(),
        );
        if let Some(vpc) = &facts.vpc {
            let want = sorted(vpc.subnets.clone());
            if have != want {
                drift.push(Drift::Subnets { have, want });
            }
        }
        drift
    }

    /// IAM: `elasticloadbalancing:CreateLoadBalancer`, `elasticloadbalancing:AddTags`,
    /// `iam:CreateServiceLinkedRole` (the ELB one, on an account's first load balancer).
    async fn create(&self, ctx: &Context, facts: &Facts, _step: &Step) -> Result<ElbLoadBalancer, CliError> {
        let vpc = need(facts.vpc.as_ref(), "the VPC")?;
        let sg = need(
            facts.security_groups.get(&GroupRole::LoadBalancer),
            "the load balancer's security group",
        )?;
        let out = ctx
            .elbv2()
            .create_load_balancer()
            .name(&self.name)
            .set_subnets(Some(vpc.subnets.clone()))
            .security_groups(sg)
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .r#type(LoadBalancerTypeEnum::Application)
            .tags(Tag::builder().key(APP_TAG).value(&self.app).build())
            .send()
            .await
            .map_err(|e| aws("elasticloadbalancing:CreateLoadBalancer", e))?;
        out.load_balancers
            .unwrap_or_default()
            .into_iter()
            .next()
            .ok_or_else(|| missing("elasticloadbalancing:CreateLoadBalancer", "LoadBalancers"))
    }

    /// IAM: `elasticloadbalancing:SetSecurityGroups`, `elasticloadbalancing:SetSubnets`.
    async fn apply(
        &self,
        ctx: &Context,
        lb: &ElbLoadBalancer,
        drift: &[Drift],
        facts: &Facts,
        _: &Step,
    ) -> Result<(), CliError> {
        let elb = ctx.elbv2();
        let arn = lb
            .load_balancer_arn()
            .ok_or_else(|| missing("elasticloadbalancing:DescribeLoadBalancers", "LoadBalancerArn"))?;
        for d in drift {
            match d {
                Drift::SecurityGroups { .. } => {
                    let sg = need(
                        facts.security_groups.get(&GroupRole::LoadBalancer),
                        "the load balancer's security group",
                    )?;
                    elb.set_security_groups()
                        .load_balancer_arn(arn)
                        .security_groups(sg)
                        .send()
                        .await
                        .map_err(|e| aws("elasticloadbalancing:SetSecurityGroups", e))?;
                }
                Drift::Subnets { want, .. } => {
                    elb.set_subnets()
                        .load_balancer_arn(arn)
                        .set_subnets(Some(want.clone()))
                        .send()
                        .await
                        .map_err(|e| aws("elasticloadbalancing:SetSubnets", e))?;
                }
            }
        }
        Ok(())
    }

    /// IAM: `elasticloadbalancing:DeleteLoadBalancer`, `elasticloadbalancing:DescribeLoadBalancers`.
    async fn delete(&self, ctx: &Context, lb: &ElbLoadBalancer, step: &Step) -> Result<(), CliError> {
        let elb = ctx.elbv2();
        let arn = lb
            .load_balancer_arn()
            .ok_or_else(|| missing("elasticloadbalancing:DescribeLoadBalancers", "LoadBalancerArn"))?;
        match elb.delete_load_balancer().load_balancer_arn(arn).send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_load_balancer_not_found_exception()) =>
            {
                return Ok(())
            }
            Err(e) => return Err(aws("elasticloadbalancing:DeleteLoadBalancer", e)),
        }
        let wait = Wait::new(
            format!("load balancer {} to be deleted", self.name),
            TRANSITION,
            "run `pushdeploy down` again to continue",
        );
        step.waiting(&wait.what);
        let done = elb
            .wait_until_load_balancers_deleted()
            .load_balancer_arns(arn)
            .wait(TRANSITION)
            .await;
        poll::waited(done, "elasticloadbalancing:DescribeLoadBalancers", &wait).map(|_| ())
    }

    fn record(&self, lb: &ElbLoadBalancer, facts: &mut Facts) {
        if let (Some(arn), Some(dns_name)) = (lb.load_balancer_arn(), lb.dns_name()) {
            facts.load_balancer = Some(LoadBalancerFacts {
                arn: arn.to_string(),
                dns_name: dns_name.to_string(),
            });
        }
    }

    fn state(&self, lb: &ElbLoadBalancer, _facts: &Facts) -> Option<String> {
        lb.state().and_then(|s| s.code()).map(|c| c.as_str().to_string())
    }
}

/// `up --wait`: until the load balancer is active.
///
/// IAM: `elasticloadbalancing:DescribeLoadBalancers`.
pub async fn wait_available(
    ctx: &Context,
    facts: &LoadBalancerFacts,
    limit: Duration,
    step: &Step,
) -> Result<(), CliError> {
    let wait = Wait::new(
        "the load balancer to become active",
        limit,
        "run `pushdeploy up --wait` again to resume",
    );
    // Not the SDK's LoadBalancerAvailable waiter: it has no failure acceptor, so a load balancer
    // that ends `failed` would be waited on until the timeout.
    poll::until(&wait, step, || async {
        let out = ctx
            .elbv2()
            .describe_load_balancers()
            .load_balancer_arns(&facts.arn)
            .send()
            .await
            .map_err(|e| aws("elasticloadbalancing:DescribeLoadBalancers", e))?;
        let lb = out
            .load_balancers()
            .first()
            .ok_or_else(|| missing("elasticloadbalancing:DescribeLoadBalancers", "LoadBalancers"))?;
        let state = lb
            .state()
            .ok_or_else(|| missing("elasticloadbalancing:DescribeLoadBalancers", "State"))?;
        match state.code() {
            Some(LoadBalancerStateEnum::Active) => Ok(Poll::Done(())),
            Some(LoadBalancerStateEnum::Failed) => Err(CliError::LoadBalancerFailed {
                name: lb.load_balancer_name().unwrap_or_default().to_string(),
                reason: state.reason().unwrap_or("no reason given").to_string(),
            }),
            other => Ok(Poll::Pending(
                other
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_else(|| "unknown".into()),
            )),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::facts::Vpc;
    use aws_sdk_elasticloadbalancingv2::types::AvailabilityZone;

    fn lb(sgs: &[&str], subnets: &[&str]) -> ElbLoadBalancer {
        ElbLoadBalancer::builder()
            .set_security_groups(Some(sgs.iter().map(|s| s.to_string()).collect()))
            .set_availability_zones(Some(
                subnets
                    .iter()
                    .map(|s| AvailabilityZone::builder().subnet_id(*s).build())
                    .collect(),
            ))
            .build()
    }

    #[test]
    fn groups_and_subnets_drift_in_any_order_and_an_unknown_group_is_a_new_one() {
        let app = App::resolve(crate::app_file::AppFile::default(), Some("demo"), "defaults", None).unwrap();
        let r = LoadBalancer::new(&app);
        let mut facts = Facts::default();
        facts.vpc = Some(Vpc {
            id: "vpc-1".into(),
            subnets: vec!["subnet-b".into(), "subnet-a".into()],
        });
        assert_eq!(
            r.diff(&lb(&["sg-1"], &["subnet-a", "subnet-b"]), &facts)[0].to_string(),
            "security groups sg-1 -> (new group)"
        );
        facts.security_groups.insert(GroupRole::LoadBalancer, "sg-1".into());
        assert!(r.diff(&lb(&["sg-1"], &["subnet-a", "subnet-b"]), &facts).is_empty());
        let drift = r.diff(&lb(&["sg-1", "sg-2"], &["subnet-a"]), &facts);
        assert_eq!(drift.len(), 2);
        assert!(matches!(&drift[1], Drift::Subnets { want, .. } if want == &["subnet-a", "subnet-b"]));
    }
}
