//! The resource model every kind follows, in four parts:
//!
//! - `observe`: what exists, by name (reads only);
//! - `diff`: pure, from what exists to what the app file wants, as a typed drift (an enum per
//!   kind, `Display` for the report); unit-tested without AWS;
//! - `create` / `apply`: the writes, each with the IAM permission it needs;
//! - `delete`: and the wait it needs (drained, detached, gone).
//!
//! [`AnyResource`] erases a kind's types (a blanket impl for every [`Resource`]), so `up`, `plan`,
//! `status` and `down` loop over one list with no per-kind code.

use std::fmt;
use std::time::SystemTime;

use futures::future::{FutureExt, LocalBoxFuture};
use serde::Serialize;

use super::facts::Facts;
use crate::context::Context;
use crate::error::CliError;
use crate::progress::Step;

/// Tag key every resource carries; its value is the app name.
pub const APP_TAG: &str = "pushdeploy:app";

/// One kind of AWS resource the app owns.
// The futures are awaited in place, never spawned: they need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Resource {
    /// What exists in AWS.
    type Observed: 'static;
    /// One way what exists differs from what the app file wants.
    type Drift: fmt::Display;

    /// Kind, for reports (`security group`).
    fn kind(&self) -> &'static str;
    /// Name, for reports.
    fn name(&self) -> String;
    /// Whether `down` deletes it.
    fn lifetime(&self) -> Lifetime {
        Lifetime::App
    }
    /// Whether the app file wants it at all. One it does not want is as wanted when absent; when
    /// present, its `diff` says how it goes.
    fn wanted(&self) -> bool {
        true
    }
    /// Whether `down` may delete it at the same time as its neighbours of the same kind in the
    /// list (none of them uses another): ECS services, each a long drain.
    fn deleted_together(&self) -> bool {
        false
    }
    /// What `up`, `plan` and `status` converge it after: every resource before it in the list,
    /// or only those of the kinds it uses (their facts, or their existence in AWS).
    fn after(&self) -> After {
        After::Everything
    }

    /// What exists, or `None`. Reads only.
    async fn observe(&self, ctx: &Context, facts: &Facts) -> Result<Option<Self::Observed>, CliError>;
    /// How what exists differs from what the app wants. Pure.
    fn diff(&self, observed: &Self::Observed, facts: &Facts) -> Vec<Self::Drift>;
    /// Creates it; returns what now exists.
    async fn create(&self, ctx: &Context, facts: &Facts, step: &Step) -> Result<Self::Observed, CliError>;
    /// Removes the drift.
    async fn apply(
        &self,
        ctx: &Context,
        observed: &Self::Observed,
        drift: &[Self::Drift],
        facts: &Facts,
        step: &Step,
    ) -> Result<(), CliError>;
    /// Deletes it, and waits until AWS lets what it depended on go.
    async fn delete(&self, ctx: &Context, observed: &Self::Observed, step: &Step) -> Result<(), CliError>;
    /// Tells later resources what they need of it (ids, ARNs).
    fn record(&self, observed: &Self::Observed, facts: &mut Facts);
    /// A short state for reports (`active`, `2/2 running`).
    fn state(&self, _observed: &Self::Observed, _facts: &Facts) -> Option<String> {
        None
    }
    /// What `status` shows of it under its service (`None`: nothing). `observed` is `None`
    /// when it does not exist.
    fn detail(&self, _observed: Option<&Self::Observed>, _facts: &Facts) -> Option<Detail> {
        None
    }
}

/// Who a resource belongs to, which decides whether `down` deletes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// The app's own: `down` deletes it.
    App,
    /// The account's (the VPC, the ECS service-linked role): never deleted.
    Account,
    /// The app's data (ECR repositories with their images, log groups with their logs):
    /// deleted only on request (`down --delete-data`).
    Data,
}

/// The resources one must be converged after (see [`Resource::after`]). Whatever it says, the
/// checks of the file against the account (the VPC, the instance type) come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Every resource before it in the list (the default: one nobody has looked at).
    Everything,
    /// The resources before it of these kinds.
    Kinds(&'static [&'static str]),
}

/// A difference-free kind's drift: it has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoDrift {}

impl fmt::Display for NoDrift {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

/// Whether a converge writes or only reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Create and update (`up`).
    Apply,
    /// Only say what would change (`plan`, `up --dry-run`, `status`).
    Preview,
}

/// What `up` did (or would do) to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", content = "details", rename_all = "kebab-case")]
pub enum Change {
    /// It did not exist.
    Create,
    /// It existed and differed; the drift, as the report shows it.
    Update(Vec<String>),
    /// It existed as wanted.
    NoChange,
    /// An ECS service of the app that the app file no longer lists: `up` does not delete it.
    NotInFile,
}

impl Change {
    /// The change in words: to come in [`Mode::Preview`], done in [`Mode::Apply`].
    pub fn words(&self, mode: Mode) -> String {
        match (self, mode) {
            (Change::Create, Mode::Preview) => "create".into(),
            (Change::Create, Mode::Apply) => "created".into(),
            (Change::Update(d), Mode::Preview) => format!("update: {}", d.join("; ")),
            (Change::Update(d), Mode::Apply) => format!("updated: {}", d.join("; ")),
            (Change::NoChange, _) => "no change".into(),
            (Change::NotInFile, Mode::Preview) => concat!(
                "not in the file: `up` leaves it running but stops its redeploys (its route goes); ",
                "add it back to keep it, or delete it (`pushdeploy down` deletes the whole app)"
            )
            .into(),
            (Change::NotInFile, Mode::Apply) => concat!(
                "not in the file: left running, no longer redeployed; ",
                "add it back to keep it, or delete it (`pushdeploy down` deletes the whole app)"
            )
            .into(),
        }
    }
}

/// Something `status` shows under a service, reported by the resource it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    /// The service it belongs to.
    pub service: String,
    /// Its label in the text report (`logs`, `scaling`).
    pub label: &'static str,
    /// What people read.
    pub text: String,
    /// What scripts read: fields of the service's JSON document.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// One line of the `up` / `plan` / `status` report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Resource kind (`security group`, `load balancer` ...).
    pub kind: &'static str,
    /// Name or ARN.
    pub name: String,
    /// Create, update or no change.
    #[serde(flatten)]
    pub change: Change,
    /// State where the kind has one (`active`, `waiting for a first push` ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// What `status` shows of it under its service.
    #[serde(skip)]
    pub detail: Option<Detail>,
}

/// One resource `down` deleted, found already gone, or kept.
#[derive(Debug, Clone, Serialize)]
pub struct Deleted {
    /// Kind.
    pub kind: &'static str,
    /// Name.
    pub name: String,
    /// False when it was already gone.
    pub deleted: bool,
}

/// A resource `down` keeps because it is the app's data.
#[derive(Debug, Clone, Serialize)]
pub struct Kept {
    /// Kind.
    pub kind: &'static str,
    /// Name.
    pub name: String,
}

/// A resource of any kind, as the loops over the inventory see it.
pub trait AnyResource {
    /// Kind, for reports.
    fn kind(&self) -> &'static str;
    /// Name, for reports.
    fn name(&self) -> String;
    /// Whether `down` deletes it.
    fn lifetime(&self) -> Lifetime;
    /// Whether the app file wants it.
    fn wanted(&self) -> bool;
    /// Whether `down` may delete it alongside its neighbours of the same kind.
    fn deleted_together(&self) -> bool;
    /// What it is converged after.
    fn after(&self) -> After;
    /// Observes it, then (in [`Mode::Apply`]) creates it or removes its drift; records its facts
    /// in `facts` and returns them alone beside the report (what it learnt).
    fn converge<'a>(
        &'a self,
        ctx: &'a Context,
        facts: &'a mut Facts,
        mode: Mode,
        step: &'a Step,
    ) -> LocalBoxFuture<'a, Result<(Report, Facts), CliError>>;
    /// Observes it and records its facts: what exists, ready to be deleted, or `None`.
    fn find<'a, 'r: 'a>(
        &'r self,
        ctx: &'a Context,
        facts: &'a mut Facts,
    ) -> LocalBoxFuture<'a, Result<Option<Box<dyn Existing + 'r>>, CliError>>;
}

/// A resource that exists, as `down` found it.
pub trait Existing {
    /// Deletes it, with the wait its kind needs.
    fn delete<'a>(&'a self, ctx: &'a Context, step: &'a Step) -> LocalBoxFuture<'a, Result<(), CliError>>;
}

/// A resource with what was observed of it.
struct Found<'a, R: Resource> {
    resource: &'a R,
    observed: R::Observed,
}

impl<R: Resource> Existing for Found<'_, R> {
    fn delete<'a>(&'a self, ctx: &'a Context, step: &'a Step) -> LocalBoxFuture<'a, Result<(), CliError>> {
        self.resource.delete(ctx, &self.observed, step).boxed_local()
    }
}

impl<R: Resource> AnyResource for R {
    fn kind(&self) -> &'static str {
        Resource::kind(self)
    }

    fn name(&self) -> String {
        Resource::name(self)
    }

    fn lifetime(&self) -> Lifetime {
        Resource::lifetime(self)
    }

    fn wanted(&self) -> bool {
        Resource::wanted(self)
    }

    fn deleted_together(&self) -> bool {
        Resource::deleted_together(self)
    }

    fn after(&self) -> After {
        Resource::after(self)
    }

    fn converge<'a>(
        &'a self,
        ctx: &'a Context,
        facts: &'a mut Facts,
        mode: Mode,
        step: &'a Step,
    ) -> LocalBoxFuture<'a, Result<(Report, Facts), CliError>> {
        converge_one(self, ctx, facts, mode, step).boxed_local()
    }

    fn find<'a, 'r: 'a>(
        &'r self,
        ctx: &'a Context,
        facts: &'a mut Facts,
    ) -> LocalBoxFuture<'a, Result<Option<Box<dyn Existing + 'r>>, CliError>> {
        async move {
            let Some(observed) = self.observe(ctx, facts).await? else {
                return Ok(None);
            };
            self.record(&observed, facts);
            Ok(Some(Box::new(Found {
                resource: self,
                observed,
            }) as Box<dyn Existing + 'r>))
        }
        .boxed_local()
    }
}

async fn converge_one<R: Resource>(
    r: &R,
    ctx: &Context,
    facts: &mut Facts,
    mode: Mode,
    step: &Step,
) -> Result<(Report, Facts), CliError> {
    let mut learnt = Facts::new(&facts.region);
    let (change, observed) = match r.observe(ctx, facts).await? {
        Some(observed) => {
            let drift = r.diff(&observed, facts);
            if mode == Mode::Apply && !drift.is_empty() {
                r.apply(ctx, &observed, &drift, facts, step).await?;
            }
            let change = if drift.is_empty() {
                Change::NoChange
            } else {
                Change::Update(drift.iter().map(ToString::to_string).collect())
            };
            (change, Some(observed))
        }
        None if mode == Mode::Apply && r.wanted() => {
            let observed = r.create(ctx, facts, step).await?;
            let now = SystemTime::now();
            facts.created.insert((r.kind(), r.name()), now);
            learnt.created.insert((r.kind(), r.name()), now);
            // A create that found the resource already there (a run cut short after sending,
            // or a concurrent one) took it as it is: converge it now, not on the next `up`.
            let drift = r.diff(&observed, facts);
            if !drift.is_empty() {
                r.apply(ctx, &observed, &drift, facts, step).await?;
            }
            (Change::Create, Some(observed))
        }
        None if !r.wanted() => (Change::NoChange, None),
        None => (Change::Create, None),
    };
    let state = match &observed {
        Some(o) => r.state(o, facts),
        None if !r.wanted() => Some("off".into()),
        None => None,
    };
    if let Some(observed) = &observed {
        r.record(observed, facts);
        r.record(observed, &mut learnt);
    }
    let report = Report {
        kind: r.kind(),
        name: r.name(),
        change,
        state,
        detail: r.detail(observed.as_ref(), facts),
    };
    Ok((report, learnt))
}
