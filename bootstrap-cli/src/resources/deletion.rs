//! Deleting the app's resources: all of them (`down`), or the instances no service uses any
//! more (`up`: the unused instances).

use futures::future::join_all;

use super::facts::Facts;
use super::model::{AnyResource, Deleted, Existing, Kept, Lifetime};
use crate::context::Context;
use crate::error::CliError;
use crate::progress::Progress;

/// What `down` did: what it deleted (or found gone), and the app's data it kept.
#[derive(Debug, Default)]
pub struct Teardown {
    /// Deleted or already gone, in the order of deletion.
    pub deleted: Vec<Deleted>,
    /// The app's data that exists and was kept.
    pub kept: Vec<Kept>,
}

/// Deletes every resource of the app: observes them all in the inventory's order, then deletes
/// in reverse, each with the wait its kind declares. Resources of the account are kept, and the
/// app's data ([`Lifetime::Data`]) unless `delete_data`.
pub async fn teardown(
    list: &[Box<dyn AnyResource>],
    ctx: &Context,
    delete_data: bool,
    progress: &Progress,
) -> Result<Teardown, CliError> {
    teardown_from(list, ctx, Facts::new(ctx.region()), delete_data, progress).await
}

/// [`teardown`] of some of the app's resources, with what is known of the others (`facts`: the
/// VPC a security group is found in, the cluster a provider is attached to).
pub async fn teardown_from(
    list: &[Box<dyn AnyResource>],
    ctx: &Context,
    mut facts: Facts,
    delete_data: bool,
    progress: &Progress,
) -> Result<Teardown, CliError> {
    let mut found = Vec::with_capacity(list.len());
    let look = progress.step("reading what exists");
    for r in list {
        match r.find(ctx, &mut facts).await {
            Ok(existing) => found.push(existing),
            Err(e) => {
                look.failed();
                return Err(e);
            }
        }
    }
    look.done(&format!(
        "{} of {} resources exist",
        found.iter().filter(|o| o.is_some()).count(),
        list.len()
    ));
    let mut done = Teardown::default();
    let mut doomed: Vec<(&dyn AnyResource, Option<&dyn Existing>)> = Vec::new();
    for (r, existing) in list.iter().zip(&found).rev() {
        match (r.lifetime(), existing) {
            (Lifetime::Account, _) => continue,
            (Lifetime::Data, Some(_)) if !delete_data => {
                done.kept.push(Kept {
                    kind: r.kind(),
                    name: r.name(),
                });
                continue;
            }
            (Lifetime::Data, None) if !delete_data => continue,
            // Absent and not wanted (scaling that is off): nothing to say.
            (_, None) if !r.wanted() => continue,
            _ => doomed.push((r.as_ref(), existing.as_deref())),
        }
    }
    // Neighbours of one kind that may go together are deleted concurrently; the order between
    // kinds stays the inventory's, reversed.
    let together = |a: &(&dyn AnyResource, _), b: &(&dyn AnyResource, _)| {
        a.0.kind() == b.0.kind() && a.0.deleted_together() && b.0.deleted_together()
    };
    for batch in doomed.chunk_by(together) {
        let results = join_all(
            batch
                .iter()
                .map(|(r, existing)| delete_one(*r, *existing, ctx, progress)),
        )
        .await;
        for result in results {
            done.deleted.push(result?);
        }
    }
    done.kept.reverse();
    Ok(done)
}

/// Deletes one resource (or says it was already gone), with its step.
async fn delete_one(
    r: &dyn AnyResource,
    existing: Option<&dyn Existing>,
    ctx: &Context,
    progress: &Progress,
) -> Result<Deleted, CliError> {
    let (kind, name) = (r.kind(), r.name());
    let step = progress.step(&format!("delete {kind} {name}"));
    let deleted = match existing {
        Some(existing) => existing.delete(ctx, &step).await.map(|()| true),
        None => Ok(false),
    };
    match deleted {
        Ok(deleted) => {
            step.done(if deleted { "deleted" } else { "already gone" });
            Ok(Deleted { kind, name, deleted })
        }
        Err(e) => {
            step.failed();
            Err(e)
        }
    }
}
