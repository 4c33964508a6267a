//! The network the app runs in: the VPC and its subnets, the region's default ones unless the
//! app file names them. The account's, not the app's: observed, never created or deleted.

use aws_sdk_ec2::types::Filter;

use super::facts::{Facts, Vpc};
use super::model::{After, Lifetime, NoDrift, Resource};
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, CliError};
use crate::progress::Step;

/// The network, as the app file names it (or not).
#[derive(Debug, Clone)]
pub struct Network {
    vpc_id: Option<String>,
    subnets: Vec<String>,
}

impl Network {
    /// The app's network.
    pub fn new(app: &App) -> Network {
        Network {
            vpc_id: app.file.vpc_id.clone(),
            subnets: app.file.subnets.clone(),
        }
    }
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

impl Resource for Network {
    type Observed = Vpc;
    type Drift = NoDrift;

    fn kind(&self) -> &'static str {
        "vpc"
    }

    /// What it is converged after. Nothing: it is read, never made.
    fn after(&self) -> After {
        After::Kinds(&[])
    }

    fn name(&self) -> String {
        self.vpc_id.clone().unwrap_or_else(|| "default".into())
    }

    fn lifetime(&self) -> Lifetime {
        Lifetime::Account
    }

    /// IAM: `ec2:DescribeVpcs`, `ec2:DescribeSubnets`.
    async fn observe(&self, ctx: &Context, _facts: &Facts) -> Result<Option<Vpc>, CliError> {
        let ec2 = ctx.ec2();
        let id = match &self.vpc_id {
            Some(id) => id.clone(),
            None => {
                let mut pages = ec2
                    .describe_vpcs()
                    .filters(filter("is-default", "true"))
                    .into_paginator()
                    .send();
                let mut found = None;
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| aws("ec2:DescribeVpcs", e))?;
                    found = found.or_else(|| page.vpcs().first().and_then(|v| v.vpc_id.clone()));
                }
                found.ok_or_else(|| CliError::NoDefaultVpc {
                    region: ctx.region().to_string(),
                })?
            }
        };
        let subnets = if self.subnets.is_empty() {
            let mut pages = ec2
                .describe_subnets()
                .filters(filter("vpc-id", &id))
                .filters(filter("default-for-az", "true"))
                .into_paginator()
                .send();
            let mut by_zone = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws("ec2:DescribeSubnets", e))?;
                by_zone.extend(
                    page.subnets()
                        .iter()
                        .filter_map(|s| Some((s.availability_zone.clone()?, s.subnet_id.clone()?))),
                );
            }
            by_zone.sort();
            by_zone.into_iter().map(|(_, id)| id).collect()
        } else {
            self.subnets.clone()
        };
        if subnets.len() < 2 {
            return Err(CliError::TooFewSubnets {
                vpc: id,
                count: subnets.len(),
            });
        }
        Ok(Some(Vpc { id, subnets }))
    }

    fn diff(&self, _observed: &Vpc, _facts: &Facts) -> Vec<NoDrift> {
        Vec::new()
    }

    async fn create(&self, ctx: &Context, _facts: &Facts, _step: &Step) -> Result<Vpc, CliError> {
        // `observe` finds the VPC or fails; nothing here creates one.
        Err(CliError::NoDefaultVpc {
            region: ctx.region().to_string(),
        })
    }

    async fn apply(&self, _: &Context, _: &Vpc, _: &[NoDrift], _: &Facts, _: &Step) -> Result<(), CliError> {
        Ok(())
    }

    async fn delete(&self, _: &Context, _: &Vpc, _: &Step) -> Result<(), CliError> {
        Ok(())
    }

    fn record(&self, observed: &Vpc, facts: &mut Facts) {
        facts.vpc = Some(observed.clone());
    }

    fn state(&self, observed: &Vpc, _facts: &Facts) -> Option<String> {
        Some(format!("{}, {} subnets", observed.id, observed.subnets.len()))
    }
}
