//! The next task-definition revision: a full-fidelity copy of the running one with the image
//! swapped only in the containers that run the pushed repository, plus the decision (pure)
//! whether a revision is needed at all.

use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types::{Tag, TaskDefinition};
use chrono::{DateTime, Utc};

use crate::config::ServiceRoute;
use crate::error::Error;
use crate::event::Push;
use crate::image::ImageRef;
use crate::outcome::Reason;

/// Service tag that pauses automatic redeploys (set by `pushdeploy rollback`).
pub const TAG_PAUSED: &str = "pushdeploy:paused";
/// Prefix of the revision tag recording when the running image of a repository was pushed.
pub const TAG_PUSHED_AT_PREFIX: &str = "pushdeploy:pushed-at:";
/// Prefix of the revision tag recording the readable tag of the running image of a repository.
pub const TAG_IMAGE_TAG_PREFIX: &str = "pushdeploy:tag:";
/// Prefix of the revision tag naming the containers (space-separated) that run a placeholder
/// image until the first push of a repository: `pushdeploy up` starts a service on `image` from
/// the app file while the repository is still empty, and the first push swaps them.
pub const TAG_PLACEHOLDER_PREFIX: &str = "pushdeploy:placeholder:";
/// Revision tag marking one registration attempt with a fresh random value, so a retry after a
/// lost answer can find its own earlier write instead of registering the image twice. Never
/// copied to the next revision.
pub const TAG_REGISTRATION: &str = "pushdeploy:registration";
/// Service tag key prefix of the failure memory: `pushdeploy:failed:<repository>` holds the
/// digests of that repository whose deployments of the service failed, newest first.
pub const TAG_FAILED_PREFIX: &str = "pushdeploy:failed:";
/// How many failed digests a service remembers per repository: three `sha256:` digests and
/// their separators fit ECS's 256-character tag values.
pub const FAILED_REMEMBERED: usize = 3;

/// Every `RegisterTaskDefinition` input field [`register_request`] sets from the running revision.
pub const COPIED_FIELDS: &[&str] = &[
    "family",
    "task_role_arn",
    "execution_role_arn",
    "network_mode",
    "container_definitions",
    "volumes",
    "placement_constraints",
    "requires_compatibilities",
    "cpu",
    "memory",
    "tags",
    "pid_mode",
    "ipc_mode",
    "proxy_configuration",
    "inference_accelerators",
    "ephemeral_storage",
    "runtime_platform",
    "enable_fault_injection",
];

/// `TaskDefinition` fields that ECS computes and `RegisterTaskDefinition` does not accept.
pub const READ_ONLY_FIELDS: &[&str] = &[
    "task_definition_arn",
    "revision",
    "status",
    "requires_attributes",
    "compatibilities",
    "registered_at",
    "deregistered_at",
    "delete_requested_at",
    "registered_by",
];

/// Revision tag key for the push time of `repository`.
pub fn pushed_at_key(repository: &str) -> String {
    format!("{TAG_PUSHED_AT_PREFIX}{repository}")
}

/// Revision tag key for the readable tag of `repository`.
pub fn image_tag_key(repository: &str) -> String {
    format!("{TAG_IMAGE_TAG_PREFIX}{repository}")
}

/// Revision tag key naming the placeholder containers of `repository`.
pub fn placeholder_key(repository: &str) -> String {
    format!("{TAG_PLACEHOLDER_PREFIX}{repository}")
}

/// Whether ECS manages the service itself (an Express Mode service, `resourceManagementType`
/// `ECS`: ECS API reference, Service): pushdeploy never updates one.
pub fn managed_by_ecs(service: &aws_sdk_ecs::types::Service) -> bool {
    service.resource_management_type() == Some(&aws_sdk_ecs::types::ResourceManagementType::Ecs)
}

/// Whether the service's tags pause automatic redeploys.
pub fn is_paused(service_tags: &[Tag]) -> bool {
    tag_value(service_tags, TAG_PAUSED).is_some_and(|v| !v.eq_ignore_ascii_case("false"))
}

/// Who paused a service and why, as `pushdeploy rollback` records it in the pause tag's value:
/// `by=<principal> at=<time> from=<revision> to=<revision>`, data a reader splits on spaces and
/// `=`, in the characters ECS tag values allow, at most 256 of them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PauseNote {
    /// The caller's ARN.
    pub by: String,
    /// When, RFC 3339.
    pub at: String,
    /// The revision rolled away from (`family:N`).
    pub from: String,
    /// The revision put back (`family:N`).
    pub to: String,
}

/// ECS tag values take letters, digits, spaces and `_ . : / = + - @`; a space separates the
/// note's fields, so a value's own spaces and other characters become `_`.
fn tag_safe(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "_.:/+-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl PauseNote {
    /// The note as the tag's value; a principal too long for ECS's 256 characters is cut.
    pub fn to_tag_value(&self) -> String {
        let rest = format!(
            " at={} from={} to={}",
            tag_safe(&self.at),
            tag_safe(&self.from),
            tag_safe(&self.to)
        );
        let room = 256usize.saturating_sub(rest.chars().count() + 3);
        let by: String = tag_safe(&self.by).chars().take(room).collect();
        format!("by={by}{rest}")
    }

    /// The note in a pause tag's value, or `None` when the tag was set another way (by hand, or
    /// by an older release).
    pub fn parse(value: &str) -> Option<PauseNote> {
        let mut fields = std::collections::BTreeMap::new();
        for part in value.split(' ') {
            let (key, value) = part.split_once('=')?;
            fields.insert(key, value.to_string());
        }
        Some(PauseNote {
            by: fields.remove("by")?,
            at: fields.remove("at")?,
            from: fields.remove("from")?,
            to: fields.remove("to")?,
        })
    }
}

/// The value of tag `key`, if present.
pub fn tag_value<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key.as_deref() == Some(key))
        .and_then(|t| t.value.as_deref())
}

/// Service tag key of the failure memory for `repository` (at most 118 characters: repository
/// names in routes are limited to 100).
pub fn failed_key(repository: &str) -> String {
    format!("{TAG_FAILED_PREFIX}{repository}")
}

/// The digests of `repository` that failed a deployment of the service, newest first.
pub fn failed_digests<'a>(service_tags: &'a [Tag], repository: &str) -> Vec<&'a str> {
    tag_value(service_tags, &failed_key(repository))
        .map(|v| v.split(' ').filter(|d| !d.is_empty()).collect())
        .unwrap_or_default()
}

/// The failure memory's new value once `digest` failed, or `None` when it is remembered already
/// (a replayed failure event writes nothing). The oldest digest beyond [`FAILED_REMEMBERED`]
/// is forgotten.
pub fn remember_failed(service_tags: &[Tag], repository: &str, digest: &str) -> Option<String> {
    let known = failed_digests(service_tags, repository);
    if known.contains(&digest) {
        return None;
    }
    let mut digests = vec![digest];
    digests.extend(known.into_iter().take(FAILED_REMEMBERED - 1));
    Some(digests.join(" "))
}

/// Whether a deploy may put back an image that failed a deployment of the service before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Force {
    /// No: a remembered failed digest is `failed-before` (pushes, replays, syncs).
    No,
    /// Yes: `pushdeploy deploy --force`, on purpose.
    FailedBefore,
}

/// The decision for one service from what runs ([`next_revision`]), then the failure memory: a
/// digest that failed a deployment of the service before is `failed-before` unless forced.
pub fn decide(
    route: &ServiceRoute,
    push: &Push,
    running: &TaskDefinition,
    running_tags: &[Tag],
    service_tags: &[Tag],
    force: Force,
) -> Result<Decision, Error> {
    let decided = next_revision(route, push, running, running_tags)?;
    if matches!(decided, Decision::Deploy(_))
        && force == Force::No
        && failed_digests(service_tags, &push.repository).contains(&push.digest.as_str())
    {
        return Ok(Decision::Skip(Reason::FailedBefore));
    }
    Ok(decided)
}

/// What to do for one service.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Nothing: the reason says why.
    Skip(Reason),
    /// Register this revision and point the service at it.
    Deploy(Box<NewRevision>),
}

/// A revision to register.
#[derive(Debug, Clone)]
pub struct NewRevision {
    /// The running definition with the images swapped.
    pub definition: TaskDefinition,
    /// Tags for the new revision.
    pub tags: Vec<Tag>,
    /// The pinned image written into the swapped containers.
    pub image: String,
}

/// Decides, from the running revision alone, whether `push` needs a new revision of it.
///
/// Containers are matched by registry host and repository (and by name when the route lists
/// names), never by position, plus the containers the revision marks as placeholders for the
/// repository ([`placeholder_key`]). A push already running is `already-running`; a push older
/// than the running image of the repository (push time, then digest as tie-break) is
/// `older-than-running`, so late or shuffled events never downgrade.
pub fn next_revision(
    route: &ServiceRoute,
    push: &Push,
    running: &TaskDefinition,
    running_tags: &[Tag],
) -> Result<Decision, Error> {
    let matching = matching_containers(route, push, running, running_tags)?;
    let running_digest = |m: &(usize, Option<ImageRef>)| m.1.as_ref().and_then(|i| i.digest.clone());
    if matching
        .iter()
        .all(|m| running_digest(m).as_deref() == Some(push.digest.as_str()))
    {
        return Ok(Decision::Skip(Reason::AlreadyRunning));
    }
    let recorded_at = tag_value(running_tags, &pushed_at_key(&push.repository))
        .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        .map(|t| t.with_timezone(&Utc).timestamp());
    if let Some(recorded_at) = recorded_at {
        let running = running_digest(&matching[0]).unwrap_or_default();
        if (push.pushed_at.timestamp(), push.digest.as_str()) < (recorded_at, running.as_str()) {
            return Ok(Decision::Skip(Reason::OlderThanRunning));
        }
    }
    let image = push.pinned_image();
    let mut definition = running.clone();
    if let Some(defs) = definition.container_definitions.as_mut() {
        for (i, _) in &matching {
            defs[*i].image = Some(image.clone());
        }
    }
    Ok(Decision::Deploy(Box::new(NewRevision {
        definition,
        tags: revision_tags(push, running_tags),
        image,
    })))
}

/// The digests of `push`'s repository that `running` runs in the containers the route covers.
pub fn running_digests(
    route: &ServiceRoute,
    push: &Push,
    running: &TaskDefinition,
    running_tags: &[Tag],
) -> Vec<String> {
    (matching_containers(route, push, running, running_tags)
        .unwrap_or_default()
        .into_iter())
    .filter_map(|(_, image)| image?.digest)
    .collect()
}

/// The containers of `running` that `push` updates, by index, with the image they run (`None`
/// for a placeholder); an error naming every container when there is none.
fn matching_containers(
    route: &ServiceRoute,
    push: &Push,
    running: &TaskDefinition,
    running_tags: &[Tag],
) -> Result<Vec<(usize, Option<ImageRef>)>, Error> {
    let registry = push.registry();
    let containers = running.container_definitions.as_deref().unwrap_or_default();
    let placeholders: Vec<&str> = tag_value(running_tags, &placeholder_key(&push.repository))
        .map(|v| v.split(' ').collect())
        .unwrap_or_default();
    let matching: Vec<(usize, Option<ImageRef>)> = (containers.iter().enumerate())
        .filter(|(_, c)| route.covers_container(c.name.as_deref()))
        .filter_map(|(i, c)| {
            let image = c.image.as_deref().and_then(|i| ImageRef::parse(i).ok());
            if let Some(image) = image.filter(|im| im.is_from(&registry, &push.repository)) {
                return Some((i, Some(image)));
            }
            let placeholder = c.name.as_deref().is_some_and(|n| placeholders.contains(&n));
            placeholder.then_some((i, None))
        })
        .collect();
    if !matching.is_empty() {
        return Ok(matching);
    }
    let listed: Vec<String> = (containers.iter())
        .map(|c| {
            format!(
                "{}={}",
                c.name.as_deref().unwrap_or("?"),
                c.image.as_deref().unwrap_or("?")
            )
        })
        .collect();
    Err(Error::NoMatchingContainer {
        service: route.service.clone(),
        task_definition: running.task_definition_arn.clone().unwrap_or_default(),
        repository: push.repository.clone(),
        containers: listed.join(", "),
    })
}

/// Whether a revision tag passes to the next revision: not `aws:` (reserved to AWS, refused on
/// register), not one registration's own mark.
pub fn is_carried(key: &str) -> bool {
    !key.starts_with("aws:") && key != TAG_REGISTRATION
}

/// The running revision's tags carried over, with the push's time and readable tag recorded.
fn revision_tags(push: &Push, running_tags: &[Tag]) -> Vec<Tag> {
    let (pushed_at_key, image_tag_key) = (pushed_at_key(&push.repository), image_tag_key(&push.repository));
    let placeholder_key = placeholder_key(&push.repository);
    let mut tags: Vec<Tag> = (running_tags.iter())
        .filter(|t| {
            let key = t.key.as_deref().unwrap_or_default();
            // `aws:` keys are reserved to AWS and rejected on register; the placeholder mark
            // ends with the first real image.
            is_carried(key) && key != pushed_at_key && key != image_tag_key && key != placeholder_key
        })
        .cloned()
        .collect();
    tags.push(Tag::builder().key(pushed_at_key).value(push.pushed_at_tag()).build());
    if let Some(tag) = &push.tag {
        tags.push(Tag::builder().key(image_tag_key).value(tag).build());
    }
    tags
}

/// Fills a `RegisterTaskDefinition` call with every field of the new revision ([`COPIED_FIELDS`]).
///
/// IAM: `ecs:RegisterTaskDefinition` and `ecs:TagResource` (tag on create), and `iam:PassRole`
/// on the task and execution roles.
// Inference accelerators are deprecated by AWS, but a revision that still has them must keep them.
#[allow(deprecated)]
pub fn register_request(
    call: RegisterTaskDefinitionFluentBuilder,
    rev: NewRevision,
) -> RegisterTaskDefinitionFluentBuilder {
    let d = rev.definition;
    call.set_family(d.family)
        .set_task_role_arn(d.task_role_arn)
        .set_execution_role_arn(d.execution_role_arn)
        .set_network_mode(d.network_mode)
        .set_container_definitions(d.container_definitions)
        .set_volumes(d.volumes)
        .set_placement_constraints(d.placement_constraints)
        .set_requires_compatibilities(d.requires_compatibilities)
        .set_cpu(d.cpu)
        .set_memory(d.memory)
        .set_tags(Some(rev.tags).filter(|t| !t.is_empty()))
        .set_pid_mode(d.pid_mode)
        .set_ipc_mode(d.ipc_mode)
        .set_proxy_configuration(d.proxy_configuration)
        .set_inference_accelerators(d.inference_accelerators)
        .set_ephemeral_storage(d.ephemeral_storage)
        .set_runtime_platform(d.runtime_platform)
        .set_enable_fault_injection(d.enable_fault_injection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_note_is_data_that_reads_back_and_fits_a_tag() {
        let note = PauseNote {
            by: "arn:aws:sts::1:assumed-role/Admin/alice@example.com".into(),
            at: "2026-11-26T10:00:00Z".into(),
            from: "demo-web:9".into(),
            to: "demo-web:7".into(),
        };
        let value = note.to_tag_value();
        assert_eq!(
            value,
            "by=arn:aws:sts::1:assumed-role/Admin/alice@example.com at=2026-11-26T10:00:00Z from=demo-web:9 to=demo-web:7"
        );
        assert_eq!(PauseNote::parse(&value), Some(note.clone()));
        let odd = PauseNote {
            by: "a b#c".repeat(100),
            ..note
        };
        let value = odd.to_tag_value();
        assert!(value.chars().count() <= 256 && !value.contains('#'), "{value}");
        assert_eq!(PauseNote::parse(&value).unwrap().to, "demo-web:7");
        assert_eq!(PauseNote::parse("true"), None);
        assert_eq!(PauseNote::parse("pushdeploy rollback by x at y"), None);
    }
    use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;
    use aws_sdk_ecs::types::ContainerDefinition;

    const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const REGISTRY: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

    /// Field names of an SDK struct, read from its `Debug` output.
    fn debug_fields(debug: &str) -> Vec<String> {
        let inner = &debug[debug.find('{').unwrap() + 1..debug.rfind('}').unwrap()];
        inner
            .split(", ")
            .map(|f| f.split(':').next().unwrap().trim().to_string())
            .collect()
    }

    #[test]
    fn every_register_input_field_is_copied() {
        // Fails when an SDK upgrade adds a RegisterTaskDefinition field nobody copies.
        let input = RegisterTaskDefinitionInput::builder().build().unwrap();
        for field in debug_fields(&format!("{input:?}")) {
            assert!(
                COPIED_FIELDS.contains(&field.as_str()),
                "RegisterTaskDefinition field `{field}` is not copied"
            );
        }
    }

    #[test]
    fn a_revision_is_registered_with_its_tags_and_without_an_empty_list() {
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new("eu-west-1"))
            .build();
        let client = aws_sdk_ecs::Client::from_conf(config);
        let revision = |tags: Vec<Tag>| NewRevision {
            definition: TaskDefinition::builder().family("web").build(),
            tags,
            image: String::new(),
        };
        let tag = Tag::builder().key("pushdeploy:app").value("shop").build();
        let tagged = register_request(client.register_task_definition(), revision(vec![tag.clone()]));
        assert_eq!(tagged.get_tags().as_deref(), Some(&[tag][..]));
        let bare = register_request(client.register_task_definition(), revision(Vec::new()));
        assert_eq!(bare.get_tags(), &None, "ECS takes no tags better than an empty list");
        assert_eq!(bare.get_family().as_deref(), Some("web"));
    }

    #[test]
    fn every_task_definition_field_is_copied_or_known_read_only() {
        let td = TaskDefinition::builder().build();
        for field in debug_fields(&format!("{td:?}")) {
            assert!(
                COPIED_FIELDS.contains(&field.as_str()) || READ_ONLY_FIELDS.contains(&field.as_str()),
                "TaskDefinition field `{field}` is neither copied nor known read-only"
            );
        }
    }

    fn push(digest: &str, at: &str, tag: Option<&str>) -> Push {
        Push {
            account: "123456789012".into(),
            region: "eu-west-1".into(),
            repository: "web".into(),
            digest: digest.into(),
            tag: tag.map(str::to_string),
            pushed_at: at.parse().unwrap(),
        }
    }

    fn container(name: &str, image: &str) -> ContainerDefinition {
        ContainerDefinition::builder().name(name).image(image).build()
    }

    fn running(containers: Vec<ContainerDefinition>) -> TaskDefinition {
        TaskDefinition::builder()
            .task_definition_arn("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:3")
            .family("web")
            .set_container_definitions(Some(containers))
            .build()
    }

    fn tags(pairs: &[(&str, &str)]) -> Vec<Tag> {
        pairs
            .iter()
            .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
            .collect()
    }

    fn deployed(decision: Decision) -> NewRevision {
        match decision {
            Decision::Deploy(rev) => *rev,
            Decision::Skip(reason) => panic!("expected a deploy, skipped: {reason}"),
        }
    }

    #[test]
    fn only_containers_from_the_pushed_repository_change() {
        let td = running(vec![
            container("envoy", &format!("{REGISTRY}/proxy:v1")),
            container("web", &format!("{REGISTRY}/web:v1")),
            container("log", "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"),
        ]);
        let rev = deployed(
            next_revision(
                &ServiceRoute::new("c", "s", "web"),
                &push(NEW, "2026-11-26T10:00:00Z", Some("v2")),
                &td,
                &[],
            )
            .unwrap(),
        );
        let images: Vec<_> = rev
            .definition
            .container_definitions
            .unwrap()
            .into_iter()
            .map(|c| c.image.unwrap())
            .collect();
        assert_eq!(images[0], format!("{REGISTRY}/proxy:v1"));
        assert_eq!(images[1], format!("{REGISTRY}/web@{NEW}"));
        assert_eq!(images[2], "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable");
        assert_eq!(rev.image, format!("{REGISTRY}/web@{NEW}"));
        assert_eq!(tag_value(&rev.tags, "pushdeploy:tag:web"), Some("v2"));
        assert_eq!(
            tag_value(&rev.tags, "pushdeploy:pushed-at:web"),
            Some("2026-11-26T10:00:00Z")
        );
    }

    #[test]
    fn container_names_in_the_route_narrow_the_swap() {
        let td = running(vec![
            container("a", &format!("{REGISTRY}/web:1")),
            container("b", &format!("{REGISTRY}/web:1")),
        ]);
        let mut route = ServiceRoute::new("c", "s", "web");
        route.containers = vec!["b".into()];
        let rev = deployed(next_revision(&route, &push(NEW, "2026-11-26T10:00:00Z", None), &td, &[]).unwrap());
        let defs = rev.definition.container_definitions.unwrap();
        assert_eq!(defs[0].image.as_deref(), Some(format!("{REGISTRY}/web:1").as_str()));
        assert_eq!(defs[1].image.as_deref(), Some(format!("{REGISTRY}/web@{NEW}").as_str()));
        assert_eq!(
            tag_value(&rev.tags, "pushdeploy:tag:web"),
            None,
            "a push by digest records no readable tag"
        );
    }

    #[test]
    fn a_task_definition_without_the_repository_is_an_error() {
        let td = running(vec![container("web", "nginx:1.27")]);
        let err = next_revision(
            &ServiceRoute::new("c", "s", "web"),
            &push(NEW, "2026-11-26T10:00:00Z", None),
            &td,
            &[],
        )
        .unwrap_err();
        assert!(matches!(err, Error::NoMatchingContainer { .. }));
        assert!(err.to_string().contains("web=nginx:1.27"), "{err}");
    }

    #[test]
    fn a_failed_digest_is_remembered_once_newest_first_three_at_most() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let none: Vec<Tag> = Vec::new();
        let first = remember_failed(&none, "web", &d('a')).unwrap();
        assert_eq!(first, d('a'));
        let with = |v: &str| tags(&[("pushdeploy:failed:web", v), ("pushdeploy:failed:other", "x")]);
        assert_eq!(
            remember_failed(&with(&first), "web", &d('a')),
            None,
            "a replay writes nothing"
        );
        let second = remember_failed(&with(&first), "web", &d('b')).unwrap();
        assert_eq!(second, format!("{} {}", d('b'), d('a')));
        let third = remember_failed(&with(&second), "web", &d('c')).unwrap();
        let fourth = remember_failed(&with(&third), "web", &d('e')).unwrap();
        assert_eq!(fourth, format!("{} {} {}", d('e'), d('c'), d('b')));
        assert!(fourth.len() <= 256, "fits an ECS tag value");
        assert_eq!(failed_digests(&with(&fourth), "web").len(), FAILED_REMEMBERED);
        assert_eq!(failed_digests(&with(&fourth), "other"), vec!["x"]);
        assert!(failed_digests(&with(&fourth), "we").is_empty());
        assert_eq!(
            failed_key(&"r".repeat(100)).len(),
            118,
            "within ECS's 128-character keys"
        );
    }

    #[test]
    fn a_remembered_failure_is_skipped_unless_forced_and_only_when_it_would_deploy() {
        let route = ServiceRoute::new("c", "s", "web");
        let td = running(vec![container("web", &format!("{REGISTRY}/web:v1"))]);
        let remembered = tags(&[("pushdeploy:failed:web", &format!("sha256:{} {NEW}", "0".repeat(64)))]);
        let new = push(NEW, "2026-11-26T10:00:00Z", Some("v2"));
        let skipped = decide(&route, &new, &td, &[], &remembered, Force::No).unwrap();
        assert!(matches!(skipped, Decision::Skip(Reason::FailedBefore)));
        let forced = decide(&route, &new, &td, &[], &remembered, Force::FailedBefore).unwrap();
        assert!(matches!(forced, Decision::Deploy(_)));
        assert!(matches!(
            decide(&route, &new, &td, &[], &[], Force::No).unwrap(),
            Decision::Deploy(_)
        ));
        let running_it = running(vec![container("web", &format!("{REGISTRY}/web@{NEW}"))]);
        let already = decide(&route, &new, &running_it, &[], &remembered, Force::No).unwrap();
        assert!(
            matches!(already, Decision::Skip(Reason::AlreadyRunning)),
            "what runs is reported as running"
        );
    }

    #[test]
    fn the_running_digest_is_already_running() {
        let td = running(vec![container("web", &format!("{REGISTRY}/web@{NEW}"))]);
        let p = next_revision(
            &ServiceRoute::new("c", "s", "web"),
            &push(NEW, "2026-11-26T10:00:00Z", None),
            &td,
            &[],
        )
        .unwrap();
        assert!(matches!(p, Decision::Skip(Reason::AlreadyRunning)));
    }

    #[test]
    fn an_older_push_never_downgrades_and_ties_break_on_digest() {
        let td = running(vec![container("web", &format!("{REGISTRY}/web@{NEW}"))]);
        let recorded = tags(&[("pushdeploy:pushed-at:web", "2026-11-26T10:00:00Z")]);
        let route = ServiceRoute::new("c", "s", "web");
        let older = next_revision(&route, &push(OLD, "2026-11-26T09:59:59Z", None), &td, &recorded).unwrap();
        assert!(matches!(older, Decision::Skip(Reason::OlderThanRunning)));
        let same_second_lower_digest =
            next_revision(&route, &push(OLD, "2026-11-26T10:00:00Z", None), &td, &recorded).unwrap();
        assert!(matches!(
            same_second_lower_digest,
            Decision::Skip(Reason::OlderThanRunning)
        ));
        let td_old = running(vec![container("web", &format!("{REGISTRY}/web@{OLD}"))]);
        let same_second_higher_digest =
            next_revision(&route, &push(NEW, "2026-11-26T10:00:00Z", None), &td_old, &recorded).unwrap();
        assert!(matches!(same_second_higher_digest, Decision::Deploy(_)));
        let newer = next_revision(&route, &push(OLD, "2026-11-26T10:00:01Z", None), &td, &recorded).unwrap();
        assert!(matches!(newer, Decision::Deploy(_)));
    }

    #[test]
    fn tags_are_carried_over_except_reserved_and_replaced_ones() {
        let td = running(vec![container("web", &format!("{REGISTRY}/web:v1"))]);
        let old = tags(&[
            ("team", "a"),
            ("aws:cloudformation:stack-name", "x"),
            ("pushdeploy:tag:web", "v1"),
            ("pushdeploy:pushed-at:proxy", "2026-01-01T00:00:00Z"),
        ]);
        let rev = deployed(
            next_revision(
                &ServiceRoute::new("c", "s", "web"),
                &push(NEW, "2026-11-26T10:00:00Z", Some("v2")),
                &td,
                &old,
            )
            .unwrap(),
        );
        let mut keys: Vec<_> = rev
            .tags
            .iter()
            .map(|t| format!("{}={}", t.key.as_deref().unwrap(), t.value.as_deref().unwrap()))
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "pushdeploy:pushed-at:proxy=2026-01-01T00:00:00Z",
                "pushdeploy:pushed-at:web=2026-11-26T10:00:00Z",
                "pushdeploy:tag:web=v2",
                "team=a"
            ]
        );
    }

    #[test]
    fn a_placeholder_container_takes_the_first_push_of_its_repository_and_loses_the_mark() {
        let td = running(vec![
            container("web", "public.ecr.aws/nginx/nginx:stable"),
            container("log", "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"),
        ]);
        let marked = tags(&[("pushdeploy:placeholder:web", "web"), ("team", "a")]);
        let route = ServiceRoute::new("c", "s", "web");
        let rev =
            deployed(next_revision(&route, &push(NEW, "2026-11-26T10:00:00Z", Some("v1")), &td, &marked).unwrap());
        let images: Vec<_> = rev
            .definition
            .container_definitions
            .unwrap()
            .into_iter()
            .map(|c| c.image.unwrap())
            .collect();
        assert_eq!(images[0], format!("{REGISTRY}/web@{NEW}"));
        assert_eq!(images[1], "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable");
        assert_eq!(tag_value(&rev.tags, "pushdeploy:placeholder:web"), None);
        assert_eq!(tag_value(&rev.tags, "team"), Some("a"));
        // The mark names the repository: another repository's push still finds nothing to swap.
        let other = Push {
            repository: "api".into(),
            ..push(NEW, "2026-11-26T10:00:00Z", Some("v1"))
        };
        assert!(matches!(
            next_revision(&ServiceRoute::new("c", "s", "api"), &other, &td, &marked),
            Err(Error::NoMatchingContainer { .. })
        ));
    }

    #[test]
    fn paused_means_a_paused_tag_not_set_to_false() {
        assert!(is_paused(&tags(&[("pushdeploy:paused", "true")])));
        assert!(is_paused(&tags(&[("pushdeploy:paused", "2026-11-26T10:00:00Z")])));
        assert!(!is_paused(&tags(&[("pushdeploy:paused", "false")])));
        assert!(!is_paused(&tags(&[("other", "true")])));
    }
}
