//! The catch-up: ECR sends its events on a best-effort basis, and a push while a service was
//! paused or before the function existed sends none that matters. A sync finds, for every route,
//! the newest image in ECR that the route accepts, and deploys it through the same locked path as
//! a push when it is newer than what runs. A converged sync only reads.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_ecr::types::{DescribeImagesFilter, ImageDetail, TagStatus};
use aws_sdk_ecs::types::{DeploymentRolloutState, Service, Tag, TaskDefinition};
use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::config::ServiceRoute;
use crate::engine::{collect, skipped, Engine, SyncScope};
use crate::error::{aws_error, Error};
use crate::event::{Push, IMAGE_CONFIG_MEDIA_TYPES};
use crate::image::is_artifact_tag;
use crate::lock::{Holder, LockSettings};
use crate::outcome::{Outcome, Reason};
use crate::task_definition::{decide, is_paused, managed_by_ecs, running_digests, Decision, Force};

/// Repositories listed at once by a sync.
const LISTED_AT_ONCE: usize = 4;

/// The sync's lock settings: the engine's lease, a short wait (the sync deploys one route after
/// another inside the function's timeout).
fn sync_lock(engine: LockSettings) -> LockSettings {
    LockSettings {
        lease: engine.lease,
        wait: engine.wait.min(Duration::from_secs(2)),
    }
}

/// One image of a repository as ECR lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedImage {
    /// The registry's account.
    pub account: String,
    /// `sha256:...`.
    pub digest: String,
    /// Its tags, sorted.
    pub tags: Vec<String>,
    /// When ECR accepted the push (whole seconds).
    pub pushed_at: DateTime<Utc>,
}

impl ListedImage {
    /// From ECR's image detail; `None` for an untagged image, an artifact that is not a
    /// container image (a Helm chart, a signature), or a detail missing what a push needs.
    pub fn from_detail(detail: &ImageDetail) -> Option<ListedImage> {
        let media = detail.artifact_media_type.as_deref();
        if media.is_some_and(|m| !IMAGE_CONFIG_MEDIA_TYPES.contains(&m)) {
            return None;
        }
        let mut tags: Vec<String> = detail
            .image_tags()
            .iter()
            .filter(|t| !is_artifact_tag(t))
            .cloned()
            .collect();
        if tags.is_empty() {
            return None;
        }
        tags.sort();
        Some(ListedImage {
            account: detail.registry_id.clone()?,
            digest: detail.image_digest.clone()?,
            tags,
            pushed_at: DateTime::<Utc>::from_timestamp(detail.image_pushed_at?.secs(), 0)?,
        })
    }
}

/// Whether ECR's listing says `push` is not newer than an image the service runs (push time,
/// then digest): the sync's candidate and the running image, both by ECR's clock.
pub fn ecr_says_older(push: &Push, images: &[ListedImage], running: &[String]) -> bool {
    (running.iter())
        .filter(|d| **d != push.digest)
        .filter_map(|d| images.iter().find(|i| i.digest == *d))
        .any(|r| (push.pushed_at, push.digest.as_str()) <= (r.pushed_at, r.digest.as_str()))
}

/// The newest image (by push time, then digest) with a tag `route` accepts, as the push that
/// would have deployed it: its first accepted tag is the readable one.
pub fn newest_for(route: &ServiceRoute, images: &[ListedImage], region: &str, repository: &str) -> Option<Push> {
    images
        .iter()
        .filter_map(|image| {
            let tag = image.tags.iter().find(|t| route.accepts_tag(Some(t)))?;
            Some((image, tag))
        })
        .max_by(|(a, _), (b, _)| (a.pushed_at, &a.digest).cmp(&(b.pushed_at, &b.digest)))
        .map(|(image, tag)| Push {
            account: image.account.clone(),
            region: region.to_string(),
            repository: repository.to_string(),
            digest: image.digest.clone(),
            tag: Some(tag.clone()),
            pushed_at: image.pushed_at,
        })
}

/// The images of each repository the routes name, listed once per repository.
type Listings<'a> = HashMap<&'a str, Result<Vec<ListedImage>, Error>>;
/// The routes' services by (cluster, service): `Ok(None)` for one that is not ACTIVE.
type Services = HashMap<(String, String), Result<Option<Service>, Error>>;
/// Running revisions already described in this sync, by ARN.
type Definitions = HashMap<String, (TaskDefinition, Vec<Tag>)>;

impl Engine {
    /// Syncs every route in `scope`: one outcome per route, as a push of the newest accepted
    /// image would have had. Failures of some routes do not stop the others.
    ///
    /// Calls when converged: `DescribeImages` per repository page, `DescribeServices` per cluster
    /// (10 services a call), `DescribeTaskDefinition` per service; a deploy adds the push's own.
    pub async fn sync(&self, scope: &SyncScope, holder: impl Into<Holder>) -> Result<Vec<Outcome>, Error> {
        let holder = holder.into();
        let config = self.config.get().await?;
        let routes: Vec<&ServiceRoute> = config
            .services
            .iter()
            .filter(|r| scope.service.as_ref().is_none_or(|s| *s == r.service))
            .collect();
        let region = self.ecr.config().region().map(|r| r.to_string()).unwrap_or_default();
        // Every repository once, a few at a time: a large app's sync stays well inside the
        // function's timeout without a burst of DescribeImages on the account.
        let mut repositories: Vec<&str> = routes.iter().map(|r| r.repository.as_str()).collect();
        repositories.sort_unstable();
        repositories.dedup();
        let listed: Listings = futures::stream::iter(repositories)
            .map(|repository| async move { (repository, self.list_images(repository).await) })
            .buffer_unordered(LISTED_AT_ONCE)
            .collect()
            .await;
        // Per route: the push a missed event would have carried, when ECR has one.
        let candidates: Vec<(&ServiceRoute, Result<Option<Push>, Error>)> = routes
            .iter()
            .map(|route| {
                let candidate = match &listed[route.repository.as_str()] {
                    Ok(images) => Ok(newest_for(route, images, &region, &route.repository)),
                    Err(e) => Err(e.clone()),
                };
                (*route, candidate)
            })
            .collect();
        let wanted: Vec<&ServiceRoute> = (candidates.iter())
            .filter(|(_, c)| matches!(c, Ok(Some(_))))
            .map(|(r, _)| *r)
            .collect();
        let services = self.services_of(&wanted).await;
        let mut definitions = Definitions::new();
        let mut results = Vec::with_capacity(candidates.len());
        for (route, candidate) in candidates {
            let synced = match candidate {
                Ok(Some(push)) => {
                    let images = listed[route.repository.as_str()].as_deref().unwrap_or_default();
                    self.sync_route(route, &push, images, &services, &mut definitions, scope, &holder)
                        .await
                }
                Ok(None) => Ok(Outcome::skipped(
                    &route.cluster,
                    &route.service,
                    Reason::NoImage,
                    None,
                    None,
                )),
                Err(e) => Err(e),
            };
            results.push(synced);
        }
        collect(results)
    }

    /// One route's sync, once ECR has an image for it: skipped with the reason a push of `push`
    /// would have had, or deployed through the push's own locked path.
    #[allow(clippy::too_many_arguments)]
    async fn sync_route(
        &self,
        route: &ServiceRoute,
        push: &Push,
        images: &[ListedImage],
        services: &Services,
        definitions: &mut Definitions,
        scope: &SyncScope,
        holder: &Holder,
    ) -> Result<Outcome, Error> {
        let service = match services.get(&(route.cluster.clone(), route.service.clone())) {
            Some(Ok(Some(service))) => service,
            Some(Ok(None)) | None => {
                return Err(Error::ServiceNotFound {
                    cluster: route.cluster.clone(),
                    service: route.service.clone(),
                })
            }
            Some(Err(e)) => return Err(e.clone()),
        };
        let running_arn = service.task_definition.clone().unwrap_or_default();
        let skip = |reason| Ok(skipped(route, reason, Some(running_arn.clone()), push));
        if managed_by_ecs(service) {
            return skip(Reason::ManagedByEcs);
        }
        let service_tags = service.tags();
        if is_paused(service_tags) {
            return skip(Reason::Paused);
        }
        if !definitions.contains_key(&running_arn) {
            let found = self.describe_task_definition(&running_arn).await?;
            definitions.insert(running_arn.clone(), found);
        }
        let (running, running_tags) = &definitions[&running_arn];
        // ECS rolling a failed deployment back: its image is about to be remembered; a deploy
        // now would cancel the rollback. The next sync looks again.
        let rolling_back =
            (service.deployments().iter()).any(|d| d.rollout_state() == Some(&DeploymentRolloutState::Failed));
        match decide(route, push, running, running_tags, service_tags, Force::No)? {
            Decision::Skip(reason) => skip(reason),
            // Newer by the revision's record (the event's clock) is not enough: ECR's own push
            // times, one clock for both images, must agree.
            Decision::Deploy(_)
                if ecr_says_older(push, images, &running_digests(route, push, running, running_tags)) =>
            {
                skip(Reason::OlderThanRunning)
            }
            Decision::Deploy(_) if rolling_back => skip(Reason::DeploymentInProgress),
            // What would deploy, by tag and digest (`<repo>:<tag>@<digest>`, a reference ECS
            // takes as it is: the digest decides).
            Decision::Deploy(_) if scope.dry_run => {
                let mut outcome = skipped(route, Reason::DryRun, Some(running_arn.clone()), push);
                if let Some(tag) = &push.tag {
                    outcome.image = Some(format!("{}/{}:{tag}@{}", push.registry(), push.repository, push.digest));
                }
                Ok(outcome)
            }
            // Through the push's own path: the lock, a fresh read, the same rules. A lock held by
            // a deploy (a push) is not waited for long: that deploy decides.
            Decision::Deploy(_) => match self
                .deploy_service_with(route, push, holder, Force::No, sync_lock(self.lock))
                .await
            {
                Err(Error::Busy { .. }) => skip(Reason::DeploymentInProgress),
                other => other,
            },
        }
    }

    /// Every tagged image of `repository`, all pages.
    ///
    /// IAM: `ecr:DescribeImages` on the repository.
    pub async fn list_images(&self, repository: &str) -> Result<Vec<ListedImage>, Error> {
        let mut pages = self
            .ecr
            .describe_images()
            .repository_name(repository)
            .max_results(1000)
            .filter(DescribeImagesFilter::builder().tag_status(TagStatus::Tagged).build())
            .into_paginator()
            .send();
        let mut images = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("ecr:DescribeImages", e))?;
            images.extend(page.image_details().iter().filter_map(ListedImage::from_detail));
        }
        Ok(images)
    }

    /// The routes' services, described ten a call per cluster: `Ok(None)` for one that is not
    /// ACTIVE, `Err` when its cluster's call failed.
    async fn services_of(&self, routes: &[&ServiceRoute]) -> Services {
        let mut by_cluster: Vec<(&str, Vec<&str>)> = Vec::new();
        for route in routes {
            match by_cluster.iter_mut().find(|(c, _)| *c == route.cluster) {
                Some((_, names)) if names.contains(&route.service.as_str()) => {}
                Some((_, names)) => names.push(&route.service),
                None => by_cluster.push((&route.cluster, vec![&route.service])),
            }
        }
        let mut found = HashMap::new();
        for (cluster, names) in by_cluster {
            for chunk in names.chunks(10) {
                let described = self.describe_services(cluster, chunk).await;
                for name in chunk {
                    let key = (cluster.to_string(), name.to_string());
                    let value = match &described {
                        Ok(services) => Ok(services.iter().find(|s| s.service_name() == Some(name)).cloned()),
                        Err(e) => Err(e.clone()),
                    };
                    found.insert(key, value);
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Action;
    use crate::test_mocks::*;
    use aws_smithy_mocks::{mock, Rule};
    use serde_json::json;

    #[test]
    fn the_sync_keeps_the_lease_and_waits_two_seconds_at_most() {
        let long = sync_lock(LockSettings {
            lease: Duration::from_secs(900),
            wait: Duration::from_secs(20),
        });
        assert_eq!(
            (long.lease, long.wait),
            (Duration::from_secs(900), Duration::from_secs(2))
        );
        let short = sync_lock(LockSettings {
            lease: Duration::from_secs(30),
            wait: Duration::from_millis(500),
        });
        assert_eq!(
            (short.lease, short.wait),
            (Duration::from_secs(30), Duration::from_millis(500))
        );
    }

    fn image_detail(d: char, tags: &[&str], at: i64) -> serde_json::Value {
        json!({"registryId": "123456789012", "repositoryName": "shop/web", "imageDigest": digest(d),
               "imageTags": tags, "imagePushedAt": at, "artifactMediaType": IMAGE_CONFIG_MEDIA_TYPES[0]})
    }

    /// Two pages of `shop/web`: v1 (a, oldest), nightly (n, newest), then v2 (b).
    fn listing() -> Vec<Rule> {
        let first = json!({"imageDetails": [image_detail('a', &["v1"], 1_790_000_000), image_detail('n', &["nightly"], 1_790_000_300)],
                           "nextToken": "page-2"});
        let second = json!({"imageDetails": [image_detail('b', &["v2", "latest"], 1_790_000_200)]});
        vec![
            mock!(aws_sdk_ecr::Client::describe_images)
                .match_requests(|r| {
                    r.next_token().is_none()
                        && r.max_results() == Some(1000)
                        && r.repository_name() == Some("shop/web")
                        && r.filter().and_then(|f| f.tag_status()) == Some(&TagStatus::Tagged)
                })
                .then_http_response(move || ok(first.clone())),
            mock!(aws_sdk_ecr::Client::describe_images)
                .match_requests(|r| r.next_token() == Some("page-2"))
                .then_http_response(move || ok(second.clone())),
        ]
    }

    fn releases() -> serde_json::Value {
        json!([{"cluster": "shop", "service": "web", "repository": "shop/web", "tags": ["v*"]}])
    }

    fn running(d: char, pushed_at: &str) -> (Rule, Rule) {
        let image = format!("{REGISTRY}/shop/web@{}", digest(d));
        (
            service(
                &td(1),
                json!([]),
                json!([{"id": "ecs-svc/1", "status": "PRIMARY", "rolloutState": "COMPLETED", "taskDefinition": td(1)}]),
            ),
            definition(
                &td(1),
                &image,
                json!([{"key": "pushdeploy:pushed-at:shop/web", "value": pushed_at}]),
            ),
        )
    }

    fn writes() -> (Rule, Rule) {
        (
            mock!(aws_sdk_ecs::Client::register_task_definition)
                .match_requests(|r| {
                    r.container_definitions()[0].image() == Some(&format!("{REGISTRY}/shop/web@{}", digest('b')))
                })
                .then_http_response(|| {
                    ok(json!({"taskDefinition": {"taskDefinitionArn": td(2), "family": "shop-web", "revision": 2}}))
                }),
            mock!(aws_sdk_ecs::Client::update_service)
                .match_requests(|r| r.task_definition() == Some(td(2).as_str()))
                .then_http_response(|| ok(json!({"service": {"serviceName": "web", "status": "ACTIVE"}}))),
        )
    }

    #[tokio::test]
    async fn a_sync_deploys_the_newest_accepted_image_across_pages_through_the_locked_path() {
        let listing = listing();
        let (describe, revision) = running('a', "2026-09-21T14:13:20Z");
        let (register, update) = writes();
        let ssm = ssm_rules(releases());
        let engine = engine(
            &[&describe, &revision, &register, &update],
            &ssm,
            &[&listing[0], &listing[1]],
        );

        let dry = engine
            .sync(
                &SyncScope {
                    service: None,
                    dry_run: true,
                },
                "t",
            )
            .await
            .unwrap();
        assert_eq!((dry[0].action, &dry[0].reason), (Action::Skipped, &Reason::DryRun));
        assert_eq!(
            dry[0].image,
            Some(format!("{REGISTRY}/shop/web:v2@{}", digest('b'))),
            "v2, not the newer nightly, by tag and digest"
        );
        assert_eq!(
            (register.num_calls(), ssm[1].num_calls()),
            (0, 0),
            "a dry run writes nothing, takes no lock"
        );

        let done = engine.sync(&SyncScope::default(), "t").await.unwrap();
        assert_eq!((done[0].action, &done[0].reason), (Action::Deployed, &Reason::NewImage));
        assert_eq!(done[0].task_definition.as_deref(), Some(td(2).as_str()));
        assert_eq!((register.num_calls(), update.num_calls()), (1, 1));
        assert_eq!(
            (ssm[1].num_calls(), ssm[2].num_calls()),
            (1, 1),
            "under the deploy lock"
        );
        assert_eq!(
            (listing[0].num_calls(), listing[1].num_calls()),
            (2, 2),
            "every page, once a sync"
        );
    }

    #[tokio::test]
    async fn the_routes_services_are_described_once_each_in_one_call_per_cluster() {
        let both = json!({"services": [
            {"serviceName": "web", "status": "ACTIVE", "taskDefinition": td(1)},
            {"serviceName": "api", "status": "ACTIVE", "taskDefinition": td(1)}], "failures": []});
        let describe = mock!(aws_sdk_ecs::Client::describe_services)
            .match_requests(|r| r.cluster() == Some("shop") && r.services() == ["web", "api"])
            .then_http_response(move || ok(both.clone()));
        let ssm = ssm_rules(json!([]));
        let engine = engine(&[&describe], &ssm, &[]);
        // Two repositories feed `web` (an app and its sidecar); `api` shares the cluster.
        let routes = [
            ServiceRoute::new("shop", "web", "shop/web"),
            ServiceRoute::new("shop", "web", "shop/sidecar"),
            ServiceRoute::new("shop", "api", "shop/api"),
        ];
        let found = engine.services_of(&routes.iter().collect::<Vec<_>>()).await;
        assert_eq!(describe.num_calls(), 1);
        for service in ["web", "api"] {
            let s = found.get(&("shop".to_string(), service.to_string())).unwrap();
            assert!(matches!(s, Ok(Some(_))), "{service}: {s:?}");
        }
    }

    #[tokio::test]
    async fn a_sync_reads_only_when_nothing_is_newer_and_says_why() {
        let cases: [(char, &str, serde_json::Value, serde_json::Value, Reason); 5] = [
            (
                'b',
                "2026-09-21T14:16:40Z",
                json!([]),
                releases(),
                Reason::AlreadyRunning,
            ),
            (
                'c',
                "2026-09-21T14:20:00Z",
                json!([]),
                releases(),
                Reason::OlderThanRunning,
            ),
            (
                'a',
                "2026-09-21T14:13:20Z",
                json!([{"key": "pushdeploy:paused", "value": "true"}]),
                releases(),
                Reason::Paused,
            ),
            (
                'a',
                "2026-09-21T14:13:20Z",
                json!([{"key": "pushdeploy:failed:shop/web", "value": digest('b')}]),
                releases(),
                Reason::FailedBefore,
            ),
            (
                'a',
                "2026-09-21T14:13:20Z",
                json!([]),
                json!([{"cluster": "shop", "service": "web", "repository": "shop/web", "tags": ["prod-*"]}]),
                Reason::NoImage,
            ),
        ];
        for (d, pushed_at, tags, routes, reason) in cases {
            let listing = listing();
            let image = format!("{REGISTRY}/shop/web@{}", digest(d));
            let describe = service(&td(1), tags, json!([]));
            let revision = definition(
                &td(1),
                &image,
                json!([{"key": "pushdeploy:pushed-at:shop/web", "value": pushed_at}]),
            );
            let (register, update) = writes();
            let ssm = ssm_rules(routes);
            let engine = engine(
                &[&describe, &revision, &register, &update],
                &ssm,
                &[&listing[0], &listing[1]],
            );
            let out = engine.sync(&SyncScope::default(), "t").await.unwrap();
            assert_eq!((out[0].action, &out[0].reason), (Action::Skipped, &reason));
            assert_eq!(out[0].service.as_deref(), Some("web"));
            assert_eq!(
                (register.num_calls(), ssm[1].num_calls()),
                (0, 0),
                "{reason}: no write, no lock"
            );
            let wanted_calls = if reason == Reason::NoImage { 0 } else { 1 };
            assert_eq!(describe.num_calls(), wanted_calls, "{reason}");
        }
    }

    #[tokio::test]
    async fn a_sync_leaves_a_service_alone_while_ecs_rolls_a_failed_deployment_back() {
        let listing = listing();
        let image = format!("{REGISTRY}/shop/web@{}", digest('a'));
        let describe = service(
            &td(1),
            json!([]),
            json!([{"id": "ecs-svc/2", "status": "PRIMARY", "taskDefinition": td(1), "rolloutState": "IN_PROGRESS"},
                   {"id": "ecs-svc/1", "status": "ACTIVE", "taskDefinition": td(2), "rolloutState": "FAILED"}]),
        );
        let revision = definition(
            &td(1),
            &image,
            json!([{"key": "pushdeploy:pushed-at:shop/web", "value": "2026-09-21T14:13:20Z"}]),
        );
        let (register, update) = writes();
        let ssm = ssm_rules(releases());
        let engine = engine(
            &[&describe, &revision, &register, &update],
            &ssm,
            &[&listing[0], &listing[1]],
        );
        let out = engine.sync(&SyncScope::default(), "t").await.unwrap();
        assert_eq!(
            (out[0].action, &out[0].reason),
            (Action::Skipped, &Reason::DeploymentInProgress)
        );
        assert_eq!((register.num_calls(), ssm[1].num_calls()), (0, 0));
    }

    #[tokio::test]
    async fn each_route_gets_its_outcome_or_its_error() {
        let listing = listing();
        let throttled = mock!(aws_sdk_ecr::Client::describe_images)
            .match_requests(|r| r.repository_name() == Some("shop/api"))
            .then_http_response(|| failure(400, "ThrottlingException"));
        let (describe, revision) = running('b', "2026-09-21T14:16:40Z");
        let routes = json!([
            {"cluster": "shop", "service": "web", "repository": "shop/web", "tags": ["v*"]},
            {"cluster": "shop", "service": "gone", "repository": "shop/web", "tags": ["v*"]},
            {"cluster": "shop", "service": "api", "repository": "shop/api"}
        ]);
        let ssm = ssm_rules(routes);
        let engine = engine(&[&describe, &revision], &ssm, &[&throttled, &listing[0], &listing[1]]);
        let Err(Error::Partial { failures, outcomes }) = engine.sync(&SyncScope::default(), "t").await else {
            panic!("two routes fail")
        };
        assert_eq!(outcomes.len(), 1);
        assert_eq!(
            (outcomes[0].service.as_deref(), &outcomes[0].reason),
            (Some("web"), &Reason::AlreadyRunning)
        );
        assert!(
            matches!(&failures[0], Error::ServiceNotFound { service, .. } if service == "gone"),
            "{failures:?}"
        );
        assert!(
            matches!(
                &failures[1],
                Error::Aws {
                    operation: "ecr:DescribeImages",
                    retryable: true,
                    ..
                }
            ),
            "{failures:?}"
        );
        assert_eq!(describe.num_calls(), 1, "web and gone in one DescribeServices");
        assert_eq!(listing[0].num_calls(), 1, "shop/web listed once for two routes");

        let only = engine
            .sync(
                &SyncScope {
                    service: Some("web".into()),
                    dry_run: false,
                },
                "t",
            )
            .await
            .unwrap();
        assert_eq!(only.len(), 1, "--service narrows the sync");
    }

    fn image(digest: char, tags: &[&str], at: &str) -> ListedImage {
        ListedImage {
            account: "123456789012".into(),
            digest: format!("sha256:{}", digest.to_string().repeat(64)),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            pushed_at: at.parse().unwrap(),
        }
    }

    #[test]
    fn a_sync_deploys_only_what_is_newer_by_ecrs_clock_too() {
        let push = |d: char, at: &str| Push {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            repository: "shop/web".into(),
            digest: digest(d),
            tag: Some("v".into()),
            pushed_at: at.parse().unwrap(),
        };
        let listed = [
            image('a', &["v7"], "2026-11-27T10:05:00Z"),
            image('b', &["v1"], "2026-11-27T10:03:00Z"),
            image('c', &["v8"], "2026-11-27T10:06:00Z"),
        ];
        let running = [digest('a')];
        // The revision recorded the event's 10:00 for `a` (another clock): by it, `b` looks newer.
        assert!(
            ecr_says_older(&push('b', "2026-11-27T10:03:00Z"), &listed, &running),
            "ECR says a is newer"
        );
        assert!(!ecr_says_older(&push('c', "2026-11-27T10:06:00Z"), &listed, &running));
        assert!(
            !ecr_says_older(&push('a', "2026-11-27T10:05:00Z"), &listed, &running),
            "the same image is not older"
        );
        assert!(
            !ecr_says_older(&push('b', "2026-11-27T10:03:00Z"), &listed, &[digest('z')]),
            "unlisted: the record decides"
        );
    }

    #[test]
    fn the_newest_image_with_an_accepted_tag_wins() {
        let images = [
            image('a', &["v1"], "2026-11-01T00:00:00Z"),
            image('b', &["dev-3"], "2026-11-03T00:00:00Z"),
            image('c', &["latest", "v2"], "2026-11-02T00:00:00Z"),
        ];
        let any = ServiceRoute::new("c", "s", "r");
        let push = newest_for(&any, &images, "eu-west-1", "r").unwrap();
        assert_eq!((push.digest.as_bytes()[7], push.tag.as_deref()), (b'b', Some("dev-3")));
        assert_eq!(
            push.pinned_image(),
            format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/r@{}", images[1].digest)
        );

        let mut releases = ServiceRoute::new("c", "s", "r");
        releases.tags = vec!["v*".into()];
        let push = newest_for(&releases, &images, "eu-west-1", "r").unwrap();
        assert_eq!((push.digest.as_bytes()[7], push.tag.as_deref()), (b'c', Some("v2")));
        assert_eq!(push.pushed_at_tag(), "2026-11-02T00:00:00Z");

        releases.tags = vec!["prod-*".into()];
        assert_eq!(newest_for(&releases, &images, "eu-west-1", "r"), None);
        assert_eq!(newest_for(&any, &[], "eu-west-1", "r"), None);
    }

    #[test]
    fn the_same_second_is_decided_by_digest() {
        let images = [
            image('e', &["x"], "2026-11-01T00:00:00Z"),
            image('d', &["y"], "2026-11-01T00:00:00Z"),
        ];
        let push = newest_for(&ServiceRoute::new("c", "s", "r"), &images, "us-east-1", "r").unwrap();
        assert_eq!(push.tag.as_deref(), Some("x"));
    }

    #[test]
    fn untagged_images_artifacts_and_incomplete_details_are_not_candidates() {
        let at = aws_sdk_ecr::primitives::DateTime::from_secs(1_790_000_000);
        let base = || {
            ImageDetail::builder()
                .registry_id("123456789012")
                .image_digest(format!("sha256:{}", "f".repeat(64)))
                .image_pushed_at(at)
        };
        let tagged = base().image_tags("v1").build();
        assert_eq!(ListedImage::from_detail(&tagged).unwrap().tags, vec!["v1"]);
        let image_config = base()
            .image_tags("v1")
            .artifact_media_type(IMAGE_CONFIG_MEDIA_TYPES[1])
            .build();
        assert!(ListedImage::from_detail(&image_config).is_some());
        assert_eq!(ListedImage::from_detail(&base().build()), None, "untagged");
        let signature = base().image_tags(format!("sha256-{}.sig", "e".repeat(64))).build();
        assert_eq!(ListedImage::from_detail(&signature), None, "a cosign signature");
        let chart = base()
            .image_tags("v1")
            .artifact_media_type("application/vnd.cncf.helm.config.v1+json")
            .build();
        assert_eq!(ListedImage::from_detail(&chart), None, "a Helm chart");
        let no_time = ImageDetail::builder()
            .registry_id("123456789012")
            .image_digest("sha256:x")
            .image_tags("v1")
            .build();
        assert_eq!(ListedImage::from_detail(&no_time), None);
    }
}
