//! A service's deployment alarms on its target group, `pushdeploy-<app>-<service>-5xx` and
//! `-unhealthy`: the service's `deploymentConfiguration.alarms` names them with rollback, so a
//! deployment whose tasks start and then fail requests, or fail their health checks, is failed
//! and rolled back by ECS (ECS developer guide, "How CloudWatch alarms detect Amazon ECS
//! deployment failures"). ECS reads them with its service-linked role.
//!
//! Metrics: `AWS/ApplicationELB` `HTTPCode_Target_5XX_Count` (Sum above the threshold; reported only when not zero,
//! so missing data is not breaching) and `UnHealthyHostCount` (Maximum), by `TargetGroup` and
//! `LoadBalancer`, each the ARN's final part (ELB user guide, "CloudWatch metrics for your
//! Application Load Balancer"). A blue-green, canary or linear service's new revision runs in
//! whichever of its two groups has no traffic yet, so its alarms watch both, with metric math
//! (the sum of the 5xx, the larger unhealthy count; a group without data counts 0).

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat, Statistic, Tag,
};

use super::facts::Facts;
use super::model::{After, Resource, APP_TAG};
use crate::app_file::{App, AppService};
use crate::context::Context;
use crate::error::{aws, CliError};
use crate::progress::Step;

/// The two alarms `up` makes per service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmKind {
    /// 5xx responses from the service's tasks.
    Errors,
    /// Targets failing the load balancer's health check.
    Unhealthy,
}

/// Both kinds, in the order `up` lists them.
pub const KINDS: [AlarmKind; 2] = [AlarmKind::Errors, AlarmKind::Unhealthy];

impl AlarmKind {
    /// The end of the alarm's name.
    pub fn suffix(self) -> &'static str {
        match self {
            AlarmKind::Errors => "5xx",
            AlarmKind::Unhealthy => "unhealthy",
        }
    }
}

/// What an alarm is set to watch.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    metric: &'static str,
    statistic: Statistic,
    comparison: ComparisonOperator,
    threshold: f64,
    /// Seconds per period.
    period: i32,
    /// Periods in a row that breach before ALARM.
    evaluations: i32,
    /// `TargetGroup` and `LoadBalancer`, once both exist.
    dimensions: Option<[(String, String); 2]>,
    /// The same for the second target group of a blue-green, canary or linear service.
    second: Option<[(String, String); 2]>,
}

type Dimensions = [(String, String); 2];

/// How an alarm differs.
#[derive(Debug, Clone, PartialEq)]
pub enum Drift {
    /// Its metric, statistic, threshold, period or dimensions.
    Settings {
        /// What differs, in words.
        what: String,
    },
    /// The app file turned the default alarms off.
    Unwanted,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Settings { what } => write!(f, "{what}"),
            Drift::Unwanted => write!(f, "default_alarms = false: delete"),
        }
    }
}

/// An alarm as it exists.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    settings: Settings,
    state: String,
}

/// The alarms named `names`, a hundred to a DescribeAlarms call (its limit): each name maps to
/// its metric alarm, or to `None` when there is none of that name.
///
/// IAM: `cloudwatch:DescribeAlarms`.
pub async fn describe_all(ctx: &Context, names: &[String]) -> Result<BTreeMap<String, Option<MetricAlarm>>, CliError> {
    let mut found: BTreeMap<String, Option<MetricAlarm>> = names.iter().map(|n| (n.clone(), None)).collect();
    for chunk in names.chunks(100) {
        let mut pages = (ctx.cloudwatch().describe_alarms())
            .set_alarm_names(Some(chunk.to_vec()))
            .max_records(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws("cloudwatch:DescribeAlarms", e))?;
            for alarm in page.metric_alarms() {
                if let Some(name) = alarm.alarm_name().filter(|n| found.contains_key(*n)) {
                    found.insert(name.to_string(), Some(alarm.clone()));
                }
            }
        }
    }
    Ok(found)
}

/// The names of every deployment alarm `up` may make for `app` (those turned off included).
pub fn names(app: &App) -> Vec<String> {
    (app.services().iter())
        .flat_map(|s| KINDS.map(|kind| app.names.alarm(&s.spec.name, kind.suffix())))
        .collect()
}

/// One deployment alarm of one service.
#[derive(Debug, Clone)]
pub struct Alarm {
    kind: AlarmKind,
    service: String,
    name: String,
    threshold: u32,
    wanted: bool,
    /// Whether the service has a second target group to watch too.
    staged: bool,
    app: String,
}

impl Alarm {
    /// The `kind` alarm of `service`.
    pub fn new(app: &App, service: &AppService, kind: AlarmKind) -> Alarm {
        let spec = &service.spec.deployment;
        Alarm {
            kind,
            service: service.spec.name.clone(),
            name: app.names.alarm(&service.spec.name, kind.suffix()),
            threshold: match kind {
                AlarmKind::Errors => spec.max_5xx_per_minute,
                AlarmKind::Unhealthy => spec.max_unhealthy_tasks,
            },
            wanted: spec.default_alarms,
            staged: spec.is_staged(),
            app: app.name.clone(),
        }
    }

    /// What the alarm should watch; the dimensions once the load balancer and target group exist.
    fn settings(&self, facts: &Facts) -> Settings {
        let of = |groups: &std::collections::BTreeMap<String, String>| match (
            &facts.load_balancer,
            groups.get(&self.service),
        ) {
            (Some(lb), Some(tg)) => arn_suffixes(&lb.arn, tg),
            _ => None,
        };
        let dimensions = of(&facts.target_groups);
        let second = if self.staged {
            of(&facts.alternate_target_groups)
        } else {
            None
        };
        match self.kind {
            AlarmKind::Errors => Settings {
                metric: "HTTPCode_Target_5XX_Count",
                statistic: Statistic::Sum,
                comparison: ComparisonOperator::GreaterThanThreshold,
                threshold: f64::from(self.threshold),
                period: 60,
                evaluations: 1,
                dimensions,
                second,
            },
            AlarmKind::Unhealthy => Settings {
                metric: "UnHealthyHostCount",
                statistic: Statistic::Maximum,
                comparison: ComparisonOperator::GreaterThanThreshold,
                threshold: f64::from(self.threshold),
                period: 60,
                evaluations: 2,
                dimensions,
                second,
            },
        }
    }

    /// Creates or overwrites the alarm (PutMetricAlarm does both; tags count only when it
    /// creates). Needs the dimensions.
    ///
    /// IAM: `cloudwatch:PutMetricAlarm`; with tags, `cloudwatch:TagResource`.
    async fn put(&self, ctx: &Context, facts: &Facts, tagged: bool) -> Result<Settings, CliError> {
        let settings = self.settings(facts);
        let dimensions = (settings.dimensions.clone())
            .ok_or_else(|| crate::error::missing("cloudwatch:PutMetricAlarm", "the load balancer and target group"))?;
        let mut call = (ctx.cloudwatch().put_metric_alarm())
            .alarm_name(&self.name)
            .alarm_description(format!(
                "pushdeploy: fails (and rolls back) a deployment of ECS service {}/{}",
                self.app, self.service
            ))
            .comparison_operator(settings.comparison.clone())
            .threshold(settings.threshold)
            .evaluation_periods(settings.evaluations)
            // No `Unit`: one that does not match the metric's would leave the alarm without data.
            .treat_missing_data("notBreaching");
        call = match &settings.second {
            None => call
                .namespace(NAMESPACE)
                .metric_name(settings.metric)
                .statistic(settings.statistic.clone())
                .period(settings.period)
                .set_dimensions(Some(cw_dimensions(&dimensions))),
            Some(second) => call.set_metrics(Some(self.both_groups(&settings, &dimensions, second))),
        };
        if tagged {
            call = call.tags(Tag::builder().key(APP_TAG).value(&self.app).build());
        }
        call.send().await.map_err(|e| aws("cloudwatch:PutMetricAlarm", e))?;
        Ok(settings)
    }
}

impl Alarm {
    /// Metric math over both target groups: each group's metric (`m1`, `m2`), and the
    /// expression the alarm compares (CloudWatch user guide, "Create a CloudWatch alarm based on
    /// a metric math expression").
    fn both_groups(&self, settings: &Settings, first: &Dimensions, second: &Dimensions) -> Vec<MetricDataQuery> {
        let metric = |id: &str, dimensions: &Dimensions| {
            let stat = MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(NAMESPACE)
                        .metric_name(settings.metric)
                        .set_dimensions(Some(cw_dimensions(dimensions)))
                        .build(),
                )
                .period(settings.period)
                .stat(settings.statistic.as_str())
                .build();
            MetricDataQuery::builder()
                .id(id)
                .metric_stat(stat)
                .return_data(false)
                .build()
        };
        let expression = match self.kind {
            AlarmKind::Errors => "FILL(m1, 0) + FILL(m2, 0)",
            AlarmKind::Unhealthy => "MAX([FILL(m1, 0), FILL(m2, 0)])",
        };
        vec![
            metric("m1", first),
            metric("m2", second),
            MetricDataQuery::builder()
                .id("e1")
                .expression(expression)
                .label(format!("{} of both target groups", settings.metric))
                .return_data(true)
                .build(),
        ]
    }
}

fn cw_dimensions(dimensions: &Dimensions) -> Vec<Dimension> {
    (dimensions.iter())
        .map(|(name, value)| Dimension::builder().name(name).value(value).build())
        .collect()
}

const NAMESPACE: &str = "AWS/ApplicationELB";

/// `TargetGroup` and `LoadBalancer` dimension values: `targetgroup/<name>/<id>` and
/// `app/<name>/<id>`, the final parts of the ARNs.
fn arn_suffixes(load_balancer_arn: &str, target_group_arn: &str) -> Option<[(String, String); 2]> {
    let lb = load_balancer_arn.split_once(":loadbalancer/")?.1;
    let tg = target_group_arn.rsplit_once(':')?.1;
    Some([
        ("TargetGroup".to_string(), tg.to_string()),
        ("LoadBalancer".to_string(), lb.to_string()),
    ])
}

/// `TargetGroup` and `LoadBalancer` of a metric's dimensions, in that order.
fn pair_of(found: &[Dimension]) -> Option<Dimensions> {
    let mut dimensions: Vec<(String, String)> = (found.iter())
        .map(|d| {
            (
                d.name().unwrap_or_default().to_string(),
                d.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    dimensions.sort();
    dimensions.reverse(); // TargetGroup before LoadBalancer, as `settings` lists them
    <[(String, String); 2]>::try_from(dimensions).ok()
}

fn observed(alarm: &MetricAlarm) -> Observed {
    // A metric-math alarm keeps its metrics in `Metrics`; a plain one at the top.
    let stats: Vec<&MetricStat> = alarm.metrics().iter().filter_map(|q| q.metric_stat()).collect();
    let top = stats.first().map(|s| (s.metric(), s.stat(), s.period()));
    let metric_name = top.map_or(alarm.metric_name(), |t| t.0.and_then(|m| m.metric_name()));
    let statistic = match top {
        Some((_, stat, _)) => stat.map(Statistic::from),
        None => alarm.statistic().cloned(),
    };
    let dimensions_of = |i: usize| {
        stats
            .get(i)
            .and_then(|s| s.metric())
            .and_then(|m| pair_of(m.dimensions()))
    };
    Observed {
        settings: Settings {
            metric: match metric_name {
                Some("HTTPCode_Target_5XX_Count") => "HTTPCode_Target_5XX_Count",
                Some("UnHealthyHostCount") => "UnHealthyHostCount",
                _ => "other",
            },
            statistic: statistic.unwrap_or(Statistic::SampleCount),
            comparison: (alarm.comparison_operator().cloned()).unwrap_or(ComparisonOperator::LessThanLowerThreshold),
            threshold: alarm.threshold().unwrap_or(f64::NAN),
            period: top.map_or(alarm.period(), |t| t.2).unwrap_or(0),
            evaluations: alarm.evaluation_periods().unwrap_or(0),
            dimensions: if stats.is_empty() {
                pair_of(alarm.dimensions())
            } else {
                dimensions_of(0)
            },
            second: dimensions_of(1),
        },
        state: alarm.state_value().map_or("unknown", |s| s.as_str()).to_string(),
    }
}

impl Resource for Alarm {
    type Observed = Observed;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "alarm"
    }

    /// What it is converged after. The load balancer and target groups its metrics are of.
    fn after(&self) -> After {
        After::Kinds(&["load balancer", "target group"])
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn wanted(&self) -> bool {
        self.wanted
    }

    /// IAM: `cloudwatch:DescribeAlarms`.
    async fn observe(&self, ctx: &Context, facts: &Facts) -> Result<Option<Observed>, CliError> {
        // The app's alarms were read together before anything else.
        if let Some(seen) = facts.alarms.get(&self.name) {
            return Ok(seen.as_ref().map(observed));
        }
        let out = (ctx.cloudwatch().describe_alarms().alarm_names(&self.name).send().await)
            .map_err(|e| aws("cloudwatch:DescribeAlarms", e))?;
        let found = out
            .metric_alarms()
            .iter()
            .find(|a| a.alarm_name() == Some(self.name.as_str()));
        Ok(found.map(observed))
    }

    fn diff(&self, observed: &Observed, facts: &Facts) -> Vec<Drift> {
        if !self.wanted {
            return vec![Drift::Unwanted];
        }
        let (want, have) = (self.settings(facts), &observed.settings);
        let mut what = Vec::new();
        if have.metric != want.metric || have.statistic != want.statistic || have.comparison != want.comparison {
            what.push(format!(
                "metric {} ({}) -> {} ({})",
                have.metric,
                have.statistic.as_str(),
                want.metric,
                want.statistic.as_str()
            ));
        }
        if have.threshold != want.threshold {
            what.push(format!("threshold {} -> {}", have.threshold, want.threshold));
        }
        if (have.period, have.evaluations) != (want.period, want.evaluations) {
            what.push(format!(
                "{} x {}s -> {} x {}s",
                have.evaluations, have.period, want.evaluations, want.period
            ));
        }
        if want.dimensions.is_some() && have.dimensions != want.dimensions {
            what.push("target group or load balancer changed".to_string());
        }
        if (want.second.is_some() || !self.staged) && have.second != want.second {
            what.push(match want.second {
                Some(_) => "watch both target groups".to_string(),
                None => "watch one target group".to_string(),
            });
        }
        what.into_iter().map(|what| Drift::Settings { what }).collect()
    }

    async fn create(&self, ctx: &Context, facts: &Facts, _step: &Step) -> Result<Observed, CliError> {
        let settings = self.put(ctx, facts, true).await?;
        Ok(Observed {
            settings,
            state: "INSUFFICIENT_DATA".to_string(),
        })
    }

    async fn apply(
        &self,
        ctx: &Context,
        observed: &Observed,
        drift: &[Drift],
        facts: &Facts,
        step: &Step,
    ) -> Result<(), CliError> {
        if drift.contains(&Drift::Unwanted) {
            return self.delete(ctx, observed, step).await;
        }
        // An update keeps the alarm's state and tags (PutMetricAlarm reference).
        self.put(ctx, facts, false).await.map(|_| ())
    }

    /// IAM: `cloudwatch:DeleteAlarms`.
    async fn delete(&self, ctx: &Context, _: &Observed, _step: &Step) -> Result<(), CliError> {
        match ctx.cloudwatch().delete_alarms().alarm_names(&self.name).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found()) => Ok(()),
            Err(e) => Err(aws("cloudwatch:DeleteAlarms", e)),
        }
    }

    fn record(&self, _observed: &Observed, _facts: &mut Facts) {}

    fn state(&self, observed: &Observed, _facts: &Facts) -> Option<String> {
        let rule = match self.kind {
            AlarmKind::Errors => format!("more than {} 5xx in a minute", self.threshold),
            AlarmKind::Unhealthy => format!("more than {} unhealthy for 2 minutes", self.threshold),
        };
        Some(format!("{}: {rule}", observed.state.to_lowercase().replace('_', " ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_file::AppFile;
    use crate::resources::facts::LoadBalancerFacts;

    const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/pd-shop/50dc6c495c0c9188";
    const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/pd-shop-web/73e2d6bc24d8a067";

    fn facts() -> Facts {
        let mut facts = Facts::default();
        facts.load_balancer = Some(LoadBalancerFacts {
            arn: LB.into(),
            dns_name: "x".into(),
        });
        facts.target_groups.insert("web".into(), TG.into());
        facts
    }

    fn alarm(kind: AlarmKind, file: AppFile) -> Alarm {
        let app = App::resolve(file, Some("shop"), "defaults", None).unwrap();
        Alarm::new(&app, &app.services()[0], kind)
    }

    #[test]
    fn the_alarms_watch_the_target_group_by_the_final_parts_of_the_arns() {
        let a = alarm(AlarmKind::Errors, AppFile::default());
        assert_eq!(a.name(), "pushdeploy-shop-web-5xx");
        let dims = a.settings(&facts()).dimensions.unwrap();
        assert_eq!(
            dims[0],
            ("TargetGroup".into(), "targetgroup/pd-shop-web/73e2d6bc24d8a067".into())
        );
        assert_eq!(dims[1], ("LoadBalancer".into(), "app/pd-shop/50dc6c495c0c9188".into()));
        let same = Observed {
            settings: a.settings(&facts()),
            state: "OK".into(),
        };
        assert!(a.diff(&same, &facts()).is_empty());
    }

    #[test]
    fn a_new_threshold_is_drift_and_alarms_turned_off_are_deleted() {
        let mut file = AppFile::default();
        file.services[0].deployment.max_5xx_per_minute = 50;
        let a = alarm(AlarmKind::Errors, file.clone());
        let before = Observed {
            settings: alarm(AlarmKind::Errors, AppFile::default()).settings(&facts()),
            state: "OK".into(),
        };
        let drift: Vec<String> = a.diff(&before, &facts()).iter().map(ToString::to_string).collect();
        assert_eq!(drift, ["threshold 10 -> 50"]);
        file.services[0].deployment.default_alarms = false;
        let off = alarm(AlarmKind::Unhealthy, file);
        assert!(!off.wanted());
        assert_eq!(off.diff(&before, &facts()), [Drift::Unwanted]);
    }
}
