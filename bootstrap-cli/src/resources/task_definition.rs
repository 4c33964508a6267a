//! A service's task definition. `up` registers the first revision only (the repository's
//! `latest`, or the app file's `image` as a placeholder the first push replaces). After that,
//! revisions belong to deploys: `up` never reverts one and never changes an image. The file
//! still owns the container's cpu and memory: when they change, `up` registers the *running*
//! revision again with the new sizes (every other field and tag copied) under the deploy lock.

use std::fmt;

use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, NetworkMode, PortMapping, Service as EcsService, ServiceField, SortOrder, Tag,
    TaskDefinition as EcsTaskDefinition, TaskDefinitionField, TaskDefinitionStatus, TransportProtocol,
};
use pushdeploy::lock::{with_lock, LockSettings};
use pushdeploy::task_definition::{placeholder_key, register_request, tag_value, NewRevision};

use super::{need, Known, Resource, APP_TAG};
use crate::app_file::{App, Service};
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::progress::Step;

/// A revision and its tags.
#[derive(Debug, Clone)]
pub struct Revision {
    /// ARN.
    pub arn: String,
    /// The definition.
    pub definition: EcsTaskDefinition,
    /// Its tags (the engine's push records among them).
    pub tags: Vec<Tag>,
}

impl Revision {
    /// The image of container `name`.
    pub fn image(&self, container: &str) -> Option<&str> {
        self.definition
            .container_definitions()
            .iter()
            .find(|c| c.name() == Some(container))
            .and_then(|c| c.image())
    }

    /// Whether container `name` still runs the placeholder image of `repository`.
    pub fn is_placeholder(&self, repository: &str) -> bool {
        tag_value(&self.tags, &placeholder_key(repository)).is_some()
    }
}

/// What the file owns of the running revision, and how it differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The container's CPU units.
    Cpu {
        /// Now.
        have: i32,
        /// Wanted.
        want: i32,
    },
    /// The container's memory, MiB.
    Memory {
        /// Now.
        have: Option<i32>,
        /// Wanted.
        want: i32,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Cpu { have, want } => write!(f, "cpu {have} -> {want}"),
            Drift::Memory { have, want } => write!(f, "memory {} -> {want}", have.unwrap_or_default()),
        }
    }
}

/// The sizes of the file's container in `definition`, as drift against the file.
pub fn size_drift(definition: &EcsTaskDefinition, container: &str, cpu: i32, memory: i32) -> Vec<Drift> {
    let Some(c) = definition
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some(container))
    else {
        return Vec::new();
    };
    let mut drift = Vec::new();
    if c.cpu() != cpu {
        drift.push(Drift::Cpu {
            have: c.cpu(),
            want: cpu,
        });
    }
    if c.memory() != Some(memory) {
        drift.push(Drift::Memory {
            have: c.memory(),
            want: memory,
        });
    }
    drift
}

/// A service's task definition.
#[derive(Debug, Clone)]
pub struct TaskDefinition {
    service: String,
    family: String,
    cluster: String,
    container: String,
    repository: String,
    placeholder: Option<String>,
    cpu: i32,
    memory: i32,
    port: u16,
    execution_role: String,
    lock: String,
    app: String,
}

impl TaskDefinition {
    /// The task definition of `service`.
    pub fn new(app: &App, service: &Service) -> TaskDefinition {
        TaskDefinition {
            service: service.spec.name.clone(),
            family: app.names.family(&service.spec.name),
            cluster: app.names.cluster(),
            container: service.container.clone(),
            repository: service.repository.clone(),
            placeholder: service.spec.image.clone(),
            cpu: service.spec.cpu as i32,
            memory: service.spec.memory as i32,
            port: service.spec.port,
            execution_role: app.names.execution_role(),
            lock: app.names.lock(&service.spec.name),
            app: app.name.clone(),
        }
    }

    /// The first image: the repository's `latest`, else the placeholder (marked, so the first
    /// push swaps it), else `latest` anyway (the service waits for a first push).
    fn first_image(&self, known: &Known) -> Result<(String, bool), CliError> {
        let repo = need(known.repositories.get(&self.repository), "the service's ECR repository")?;
        Ok(match &self.placeholder {
            Some(image) if !repo.has_latest => (image.clone(), true),
            _ => (format!("{}:latest", repo.uri), false),
        })
    }

    /// Registers `definition` (every field copied) with `tags` and points the service at it.
    ///
    /// IAM: `ecs:RegisterTaskDefinition`, `ecs:TagResource`, `iam:PassRole`, `ecs:UpdateService`.
    async fn roll(&self, ctx: &Context, definition: EcsTaskDefinition, tags: Vec<Tag>) -> Result<(), CliError> {
        let revision = NewRevision {
            definition,
            tags,
            image: String::new(),
        };
        let registered = register_request(ctx.ecs().register_task_definition(), revision)
            .send()
            .await
            .map_err(|e| aws("ecs:RegisterTaskDefinition", e))?;
        let arn = registered
            .task_definition
            .and_then(|t| t.task_definition_arn)
            .ok_or_else(|| missing("ecs:RegisterTaskDefinition", "taskDefinition.taskDefinitionArn"))?;
        ctx.ecs()
            .update_service()
            .cluster(&self.cluster)
            .service(&self.service)
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| aws("ecs:UpdateService", e))?;
        Ok(())
    }
}

/// The ACTIVE service `service` of `cluster`, with tags.
///
/// IAM: `ecs:DescribeServices`.
pub async fn describe_service(ctx: &Context, cluster: &str, service: &str) -> Result<Option<EcsService>, CliError> {
    let out = ctx
        .ecs()
        .describe_services()
        .cluster(cluster)
        .services(service)
        .include(ServiceField::Tags)
        .send()
        .await;
    match out {
        Ok(out) => Ok(out
            .services
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.status() == Some("ACTIVE"))),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_cluster_not_found_exception()) => Ok(None),
        Err(e) => Err(aws("ecs:DescribeServices", e)),
    }
}

/// Every ACTIVE revision of exactly `family`, newest first (a prefix listing also returns
/// longer families).
///
/// IAM: `ecs:ListTaskDefinitions`.
pub async fn active_revisions(ctx: &Context, family: &str) -> Result<Vec<String>, CliError> {
    let exact = format!(":task-definition/{family}:");
    let mut arns = Vec::new();
    let mut pages = ctx
        .ecs()
        .list_task_definitions()
        .family_prefix(family)
        .status(TaskDefinitionStatus::Active)
        .sort(SortOrder::Desc)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws("ecs:ListTaskDefinitions", e))?;
        arns.extend(
            page.task_definition_arns()
                .iter()
                .filter(|a| a.contains(&exact))
                .cloned(),
        );
    }
    arns.sort_by_key(|a| std::cmp::Reverse(revision_number(a)));
    Ok(arns)
}

/// Revision number of a task-definition ARN (`...:task-definition/web:7` is 7).
pub fn revision_number(arn: &str) -> Option<u64> {
    arn.rsplit(':').next().and_then(|n| n.parse().ok())
}

/// A revision with its tags.
///
/// IAM: `ecs:DescribeTaskDefinition`.
pub async fn describe_revision(ctx: &Context, arn: &str) -> Result<Revision, CliError> {
    let out = ctx
        .ecs()
        .describe_task_definition()
        .task_definition(arn)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(|e| aws("ecs:DescribeTaskDefinition", e))?;
    let tags = out.tags().to_vec();
    let definition = out
        .task_definition
        .ok_or_else(|| missing("ecs:DescribeTaskDefinition", "taskDefinition"))?;
    Ok(Revision {
        arn: arn.to_string(),
        definition,
        tags,
    })
}

/// What exists: the service (if ACTIVE) and the revision it runs, or the family's newest.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The service, when it exists.
    pub service: Option<EcsService>,
    /// The revision.
    pub revision: Revision,
}

impl Resource for TaskDefinition {
    type Observed = Observed;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "task definition"
    }

    fn name(&self) -> String {
        self.family.clone()
    }

    async fn observe(&self, ctx: &Context, _known: &Known) -> Result<Option<Observed>, CliError> {
        let service = describe_service(ctx, &self.cluster, &self.service).await?;
        let arn = match service.as_ref().and_then(|s| s.task_definition()) {
            Some(running) => running.to_string(),
            None => match active_revisions(ctx, &self.family).await?.into_iter().next() {
                Some(newest) => newest,
                None => return Ok(None),
            },
        };
        let revision = describe_revision(ctx, &arn).await?;
        Ok(Some(Observed { service, revision }))
    }

    fn diff(&self, observed: &Observed, _known: &Known) -> Vec<Drift> {
        size_drift(&observed.revision.definition, &self.container, self.cpu, self.memory)
    }

    /// IAM: `ecs:RegisterTaskDefinition`, `ecs:TagResource`, `iam:PassRole` (execution role).
    async fn create(&self, ctx: &Context, known: &Known, _step: &Step) -> Result<Observed, CliError> {
        let execution_role = need(known.roles.get(&self.execution_role), "the task execution role")?;
        let (image, placeholder) = self.first_image(known)?;
        let container = ContainerDefinition::builder()
            .name(&self.container)
            .image(&image)
            .cpu(self.cpu)
            .memory(self.memory)
            .essential(true)
            .port_mappings(
                PortMapping::builder()
                    .container_port(i32::from(self.port))
                    .host_port(0)
                    .protocol(TransportProtocol::Tcp)
                    .build(),
            )
            .build();
        let mut tags = vec![Tag::builder().key(APP_TAG).value(&self.app).build()];
        if placeholder {
            tags.push(
                Tag::builder()
                    .key(placeholder_key(&self.repository))
                    .value(&self.container)
                    .build(),
            );
        }
        let out = ctx
            .ecs()
            .register_task_definition()
            .family(&self.family)
            .network_mode(NetworkMode::Bridge)
            .requires_compatibilities(Compatibility::Ec2)
            .execution_role_arn(execution_role)
            .container_definitions(container)
            .set_tags(Some(tags.clone()))
            .send()
            .await
            .map_err(|e| aws("ecs:RegisterTaskDefinition", e))?;
        let definition = out
            .task_definition
            .ok_or_else(|| missing("ecs:RegisterTaskDefinition", "taskDefinition"))?;
        let arn = definition
            .task_definition_arn
            .clone()
            .ok_or_else(|| missing("ecs:RegisterTaskDefinition", "taskDefinition.taskDefinitionArn"))?;
        Ok(Observed {
            service: None,
            revision: Revision { arn, definition, tags },
        })
    }

    /// Registers the running revision again with the file's sizes, under the deploy lock, so it
    /// cannot race a push.
    ///
    /// IAM: what `roll` needs, `ecs:DescribeServices`, `ecs:DescribeTaskDefinition`, and the
    /// lock's `ssm:PutParameter`, `ssm:GetParameter`, `ssm:DeleteParameter`.
    async fn apply(&self, ctx: &Context, _: &Observed, _: &[Drift], _: &Known, _: &Step) -> Result<(), CliError> {
        let ssm = ctx.ssm();
        let owner = format!("pushdeploy up pid {}", std::process::id());
        let what = (self.cluster.as_str(), self.service.as_str());
        with_lock(&ssm, &self.lock, &owner, LockSettings::default(), what, async {
            // Read again under the lock: a push may have landed since the first look.
            let Some(service) = describe_service(ctx, &self.cluster, &self.service).await? else {
                return Ok(());
            };
            let running = service
                .task_definition()
                .ok_or_else(|| missing("ecs:DescribeServices", "taskDefinition"))?;
            let revision = describe_revision(ctx, running).await?;
            if size_drift(&revision.definition, &self.container, self.cpu, self.memory).is_empty() {
                return Ok(());
            }
            let mut definition = revision.definition;
            if let Some(c) = definition.container_definitions.as_mut().and_then(|cs| {
                cs.iter_mut()
                    .find(|c| c.name.as_deref() == Some(self.container.as_str()))
            }) {
                c.cpu = self.cpu;
                c.memory = Some(self.memory);
            }
            let tags = revision
                .tags
                .into_iter()
                .filter(|t| !t.key().is_some_and(|k| k.starts_with("aws:")))
                .collect();
            self.roll(ctx, definition, tags).await
        })
        .await
    }

    /// IAM: `ecs:ListTaskDefinitions`, `ecs:DeregisterTaskDefinition`.
    async fn delete(&self, ctx: &Context, _: &Observed, _step: &Step) -> Result<(), CliError> {
        for arn in active_revisions(ctx, &self.family).await? {
            ctx.ecs()
                .deregister_task_definition()
                .task_definition(&arn)
                .send()
                .await
                .map_err(|e| aws("ecs:DeregisterTaskDefinition", e))?;
        }
        Ok(())
    }

    fn record(&self, observed: &Observed, known: &mut Known) {
        known.services.insert(self.service.clone(), observed.service.clone());
        known.revisions.insert(self.service.clone(), observed.revision.clone());
    }

    fn state(&self, observed: &Observed, known: &Known) -> Option<String> {
        let revision = &observed.revision;
        let has_images = known.repositories.get(&self.repository).is_some_and(|r| r.images > 0);
        Some(if revision.is_placeholder(&self.repository) {
            format!(
                "placeholder {} until the first push",
                revision.image(&self.container).unwrap_or("image")
            )
        } else if has_images || revision.image(&self.container).is_some_and(|i| i.contains('@')) {
            "image managed by deploys".into()
        } else {
            "waiting for a first push".into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_files_container_sizes_are_drift() {
        let td = EcsTaskDefinition::builder()
            .container_definitions(ContainerDefinition::builder().name("web").cpu(256).memory(512).build())
            .container_definitions(ContainerDefinition::builder().name("sidecar").cpu(64).build())
            .build();
        assert!(size_drift(&td, "web", 256, 512).is_empty());
        let drift: Vec<String> = size_drift(&td, "web", 512, 1024)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(drift, ["cpu 256 -> 512", "memory 512 -> 1024"]);
        assert!(size_drift(&td, "absent", 1, 1).is_empty());
    }

    #[test]
    fn revision_numbers_come_from_the_arn() {
        assert_eq!(
            revision_number("arn:aws:ecs:us-east-1:1:task-definition/demo-web:17"),
            Some(17)
        );
        assert_eq!(revision_number("nonsense"), None);
    }
}
