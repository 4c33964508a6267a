//! The app's deploy lock table, `pushdeploy-<app>-locks`: one item per service being deployed,
//! taken with a conditional PutItem and released with a conditional DeleteItem by the function,
//! `deploy`, `rollback` and `up` (src/lock.rs). On-demand capacity (a lock is a few writes a
//! deploy), and a TTL on the lease's end so DynamoDB clears items a killed holder left (the lock
//! itself never waits for that: an expired lease is taken over at once).

use std::fmt;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableDescription, TableStatus,
    Tag, TimeToLiveSpecification, TimeToLiveStatus,
};
use pushdeploy::lock::{KEY, TTL_ATTRIBUTE};

use super::facts::Facts;
use super::model::{After, Resource, APP_TAG};
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::poll::{self, Poll, Wait};
use crate::progress::Step;

/// How long `up` waits for the table to be ACTIVE, and `down` for it to be gone.
const TRANSITION: Duration = Duration::from_secs(300);

/// The table as it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// ARN.
    pub arn: String,
    /// Billed per request (on-demand).
    pub on_demand: bool,
    /// The attribute DynamoDB expires items by, when TTL is on (or being turned on).
    pub ttl: Option<String>,
}

/// How the table differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// Provisioned capacity: a burst of deploys could be throttled.
    Provisioned,
    /// TTL off, or on another attribute.
    Ttl {
        /// Now.
        have: Option<String>,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Provisioned => write!(f, "provisioned capacity -> on-demand"),
            Drift::Ttl { have: Some(have) } => write!(f, "ttl on {have} -> {TTL_ATTRIBUTE}"),
            Drift::Ttl { have: None } => write!(f, "ttl off -> on {TTL_ATTRIBUTE}"),
        }
    }
}

/// The app's lock table.
#[derive(Debug, Clone)]
pub struct LockTable {
    name: String,
    app: String,
}

impl LockTable {
    /// The lock table of `app`.
    pub fn new(app: &App) -> LockTable {
        LockTable {
            name: app.names.lock_table(),
            app: app.name.clone(),
        }
    }

    /// IAM: `dynamodb:DescribeTimeToLive`.
    async fn ttl(&self, ctx: &Context) -> Result<Option<String>, CliError> {
        let out = (ctx
            .dynamodb()
            .describe_time_to_live()
            .table_name(&self.name)
            .send()
            .await)
            .map_err(|e| aws("dynamodb:DescribeTimeToLive", e))?;
        let ttl = out.time_to_live_description();
        let on = matches!(
            ttl.and_then(|t| t.time_to_live_status()),
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        );
        Ok(ttl.and_then(|t| t.attribute_name()).filter(|_| on).map(str::to_string))
    }

    /// IAM: `dynamodb:UpdateTimeToLive`.
    async fn enable_ttl(&self, ctx: &Context) -> Result<(), CliError> {
        let spec = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(TTL_ATTRIBUTE)
            .build()
            .expect("enabled and the attribute are set");
        ctx.dynamodb()
            .update_time_to_live()
            .table_name(&self.name)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| aws("dynamodb:UpdateTimeToLive", e))?;
        Ok(())
    }

    fn observed(&self, table: &TableDescription, ttl: Option<String>) -> Result<Observed, CliError> {
        let on_demand = (table.billing_mode_summary().and_then(|b| b.billing_mode()))
            .is_some_and(|m| *m == BillingMode::PayPerRequest);
        Ok(Observed {
            arn: (table.table_arn().map(str::to_string))
                .ok_or_else(|| missing("dynamodb:DescribeTable", "Table.TableArn"))?,
            on_demand,
            ttl,
        })
    }

    /// Waits until the table is ACTIVE: DynamoDB takes writes only then. Polled from half a
    /// second on (the SDK's TableExists waiter first looks after 20 s, for a table that is
    /// usually active in a few).
    ///
    /// IAM: `dynamodb:DescribeTable`.
    async fn wait_active(&self, ctx: &Context, step: &Step) -> Result<TableDescription, CliError> {
        let wait = Wait::new(
            format!("lock table {} to be active", self.name),
            TRANSITION,
            "run `pushdeploy up` again to continue",
        );
        poll::until(&wait, step, || async {
            let table = match self.describe(ctx).await? {
                // Not visible yet right after CreateTable: DynamoDB is eventually consistent.
                None => return Ok(Poll::Pending("not visible yet".to_string())),
                Some(table) => table,
            };
            Ok(match table.table_status() {
                Some(TableStatus::Active) => Poll::Done(table),
                Some(status) => Poll::Pending(status.as_str().to_string()),
                None => Poll::Pending("no status yet".to_string()),
            })
        })
        .await
    }

    /// The table, or `None` when DynamoDB does not know it.
    ///
    /// IAM: `dynamodb:DescribeTable`.
    async fn describe(&self, ctx: &Context) -> Result<Option<TableDescription>, CliError> {
        match ctx.dynamodb().describe_table().table_name(&self.name).send().await {
            Ok(out) => (out.table.map(Some)).ok_or_else(|| missing("dynamodb:DescribeTable", "Table")),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(aws("dynamodb:DescribeTable", e)),
        }
    }
}

impl Resource for LockTable {
    type Observed = Observed;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "lock table"
    }

    /// What it is converged after. Nothing: the function is its only user.
    fn after(&self) -> After {
        After::Kinds(&[])
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    /// IAM: `dynamodb:DescribeTable` and what `ttl` needs.
    async fn observe(&self, ctx: &Context, _facts: &Facts) -> Result<Option<Observed>, CliError> {
        let Some(table) = self.describe(ctx).await? else {
            return Ok(None);
        };
        let ttl = self.ttl(ctx).await?;
        self.observed(&table, ttl).map(Some)
    }

    fn diff(&self, observed: &Observed, _facts: &Facts) -> Vec<Drift> {
        let mut drift = Vec::new();
        if !observed.on_demand {
            drift.push(Drift::Provisioned);
        }
        if observed.ttl.as_deref() != Some(TTL_ATTRIBUTE) {
            drift.push(Drift::Ttl {
                have: observed.ttl.clone(),
            });
        }
        drift
    }

    /// IAM: `dynamodb:CreateTable`, `dynamodb:TagResource` (tags given at creation), and what
    /// `wait_active` and `enable_ttl` need.
    async fn create(&self, ctx: &Context, _facts: &Facts, step: &Step) -> Result<Observed, CliError> {
        let created = ctx
            .dynamodb()
            .create_table()
            .table_name(&self.name)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(KEY)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("name and type are set"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(KEY)
                    .key_type(KeyType::Hash)
                    .build()
                    .expect("name and type are set"),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .tags(
                Tag::builder()
                    .key(APP_TAG)
                    .value(&self.app)
                    .build()
                    .expect("key and value are set"),
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            // Created by a run cut short after sending (or being created still): take it as it is.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {}
            Err(e) => return Err(aws("dynamodb:CreateTable", e)),
        }
        let table = self.wait_active(ctx, step).await?;
        self.enable_ttl(ctx).await?;
        self.observed(&table, Some(TTL_ATTRIBUTE.to_string()))
    }

    /// IAM: `dynamodb:UpdateTable`, and what `enable_ttl` needs.
    async fn apply(&self, ctx: &Context, _: &Observed, drift: &[Drift], _: &Facts, _: &Step) -> Result<(), CliError> {
        for d in drift {
            match d {
                Drift::Provisioned => {
                    (ctx.dynamodb().update_table().table_name(&self.name))
                        .billing_mode(BillingMode::PayPerRequest)
                        .send()
                        .await
                        .map_err(|e| aws("dynamodb:UpdateTable", e))?;
                }
                Drift::Ttl { .. } => self.enable_ttl(ctx).await?,
            }
        }
        Ok(())
    }

    /// IAM: `dynamodb:DeleteTable`, `dynamodb:DescribeTable`.
    async fn delete(&self, ctx: &Context, _: &Observed, step: &Step) -> Result<(), CliError> {
        match ctx.dynamodb().delete_table().table_name(&self.name).send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(())
            }
            Err(e) => return Err(aws("dynamodb:DeleteTable", e)),
        }
        let wait = Wait::new(
            format!("lock table {} to be deleted", self.name),
            TRANSITION,
            "run `pushdeploy down` again to continue",
        );
        poll::until(&wait, step, || async {
            Ok(match self.describe(ctx).await? {
                None => Poll::Done(()),
                Some(table) => Poll::Pending(table.table_status().map_or("still there", |s| s.as_str()).to_string()),
            })
        })
        .await
    }

    fn record(&self, _observed: &Observed, _facts: &mut Facts) {}

    fn state(&self, observed: &Observed, _facts: &Facts) -> Option<String> {
        let capacity = if observed.on_demand { "on-demand" } else { "provisioned" };
        Some(match &observed.ttl {
            Some(ttl) => format!("{capacity}, expires by {ttl}"),
            None => capacity.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_named_for_the_app_and_drifts_in_capacity_and_ttl() {
        let app = App::resolve(crate::app_file::AppFile::default(), Some("shop"), "defaults", None).unwrap();
        let table = LockTable::new(&app);
        assert_eq!(table.name(), "pushdeploy-shop-locks");
        let ok = Observed {
            arn: "arn:aws:dynamodb:us-east-1:123456789012:table/pushdeploy-shop-locks".into(),
            on_demand: true,
            ttl: Some(TTL_ATTRIBUTE.into()),
        };
        assert!(table.diff(&ok, &Facts::default()).is_empty());
        let off = Observed {
            on_demand: false,
            ttl: None,
            ..ok.clone()
        };
        let words: Vec<String> = (table.diff(&off, &Facts::default()).iter())
            .map(ToString::to_string)
            .collect();
        assert_eq!(words, ["provisioned capacity -> on-demand", "ttl off -> on expires_at"]);
    }
}
