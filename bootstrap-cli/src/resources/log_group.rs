//! A service's CloudWatch Logs group, `/pushdeploy/<app>/<service>`, with the app file's
//! retention. It must exist before a task starts: the `awslogs` driver does not create it
//! (without `awslogs-create-group`, which would need `logs:CreateLogGroup` on every instance),
//! and a task whose group is missing fails to start. The app's data: `down` deletes it only
//! with `--delete-data`.

use std::fmt;

use super::facts::Facts;
use super::model::{After, Detail, Lifetime, Resource, APP_TAG};
use crate::app_file::{App, AppService};
use crate::context::Context;
use crate::error::{aws, CliError};
use crate::progress::Step;

/// How a log group differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// Days kept (`None`: never expires).
    Retention {
        /// Now.
        have: Option<i32>,
        /// Wanted.
        want: i32,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Retention { have: Some(have), want } => write!(f, "retention {have} -> {want} days"),
            Drift::Retention { have: None, want } => write!(f, "retention never expires -> {want} days"),
        }
    }
}

/// A log group as it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Name.
    pub name: String,
    /// Days kept; `None` when its events never expire.
    pub retention: Option<i32>,
    /// Bytes stored, as CloudWatch Logs reports it.
    pub stored_bytes: Option<i64>,
}

/// One service's log group.
#[derive(Debug, Clone)]
pub struct LogGroup {
    service: String,
    name: String,
    retention: i32,
    app: String,
}

impl LogGroup {
    /// The log group of `service`.
    pub fn new(app: &App, service: &AppService) -> LogGroup {
        LogGroup {
            service: service.spec.name.clone(),
            name: app.names.log_group(&service.spec.name),
            retention: app.file.log_retention_days as i32,
            app: app.name.clone(),
        }
    }
}

/// The log group named exactly `name`, or `None`. A prefix listing also returns longer names.
///
/// IAM: `logs:DescribeLogGroups`.
pub async fn find(ctx: &Context, name: &str) -> Result<Option<Observed>, CliError> {
    let mut pages = ctx
        .logs()
        .describe_log_groups()
        .log_group_name_prefix(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws("logs:DescribeLogGroups", e))?;
        if let Some(group) = page.log_groups().iter().find(|g| g.log_group_name() == Some(name)) {
            return Ok(Some(Observed {
                name: name.to_string(),
                retention: group.retention_in_days(),
                stored_bytes: group.stored_bytes(),
            }));
        }
    }
    Ok(None)
}

/// Sets how long `name` keeps its events.
///
/// IAM: `logs:PutRetentionPolicy`.
async fn put_retention(ctx: &Context, name: &str, days: i32) -> Result<(), CliError> {
    ctx.logs()
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(days)
        .send()
        .await
        .map_err(|e| aws("logs:PutRetentionPolicy", e))?;
    Ok(())
}

impl Resource for LogGroup {
    type Observed = Observed;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "log group"
    }

    /// What it is converged after. Nothing.
    fn after(&self) -> After {
        After::Kinds(&[])
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn lifetime(&self) -> Lifetime {
        Lifetime::Data
    }

    async fn observe(&self, ctx: &Context, _facts: &Facts) -> Result<Option<Observed>, CliError> {
        find(ctx, &self.name).await
    }

    fn diff(&self, observed: &Observed, _facts: &Facts) -> Vec<Drift> {
        if observed.retention == Some(self.retention) {
            return Vec::new();
        }
        vec![Drift::Retention {
            have: observed.retention,
            want: self.retention,
        }]
    }

    /// IAM: `logs:CreateLogGroup`, `logs:TagResource` (tags given at creation), and what
    /// `put_retention` needs.
    async fn create(&self, ctx: &Context, _facts: &Facts, _step: &Step) -> Result<Observed, CliError> {
        let created = ctx
            .logs()
            .create_log_group()
            .log_group_name(&self.name)
            .tags(APP_TAG, &self.app)
            .send()
            .await;
        match created {
            Ok(_) => {}
            // Created by a run that was cut short after sending: take it, retention and all,
            // and let `converge` remove the drift.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_already_exists_exception()) =>
            {
                if let Some(observed) = find(ctx, &self.name).await? {
                    return Ok(observed);
                }
                return Err(aws("logs:CreateLogGroup", e));
            }
            Err(e) => return Err(aws("logs:CreateLogGroup", e)),
        }
        put_retention(ctx, &self.name, self.retention).await?;
        Ok(Observed {
            name: self.name.clone(),
            retention: Some(self.retention),
            stored_bytes: Some(0),
        })
    }

    async fn apply(&self, ctx: &Context, _: &Observed, _: &[Drift], _: &Facts, _: &Step) -> Result<(), CliError> {
        put_retention(ctx, &self.name, self.retention).await
    }

    /// IAM: `logs:DeleteLogGroup`.
    async fn delete(&self, ctx: &Context, _: &Observed, _step: &Step) -> Result<(), CliError> {
        match ctx.logs().delete_log_group().log_group_name(&self.name).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(aws("logs:DeleteLogGroup", e)),
        }
    }

    fn record(&self, _observed: &Observed, _facts: &mut Facts) {}

    fn detail(&self, observed: Option<&Observed>, _facts: &Facts) -> Option<Detail> {
        let retention = observed.and_then(|o| o.retention);
        let kept = retention.map(|d| format!(" (kept {d} days)")).unwrap_or_default();
        let mut fields = serde_json::Map::new();
        fields.insert("log_group".into(), self.name.clone().into());
        fields.insert("log_retention_days".into(), retention.into());
        Some(Detail {
            service: self.service.clone(),
            label: "logs",
            text: format!(
                "{}{kept}: pushdeploy logs --app {} --service {}",
                self.name, self.app, self.service
            ),
            fields,
        })
    }

    fn state(&self, observed: &Observed, _facts: &Facts) -> Option<String> {
        Some(match observed.retention {
            Some(days) => format!("kept {days} days"),
            None => "never expires".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_file::AppFile;

    fn group(days: u32) -> LogGroup {
        let mut file = AppFile::default();
        file.log_retention_days = days;
        let app = App::resolve(file, Some("shop"), "defaults", None).unwrap();
        LogGroup::new(&app, &app.services()[0])
    }

    #[test]
    fn the_group_is_named_for_app_and_service_and_only_retention_drifts() {
        let g = group(14);
        assert_eq!(g.name(), "/pushdeploy/shop/web");
        let observed = |retention| Observed {
            name: g.name(),
            retention,
            stored_bytes: None,
        };
        assert!(g.diff(&observed(Some(14)), &Facts::default()).is_empty());
        let drift: Vec<String> = [observed(Some(30)), observed(None)]
            .iter()
            .flat_map(|o| g.diff(o, &Facts::default()))
            .map(|d| d.to_string())
            .collect();
        assert_eq!(drift, ["retention 30 -> 14 days", "retention never expires -> 14 days"]);
    }
}
