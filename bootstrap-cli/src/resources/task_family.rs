//! A service's task definition. `up` registers the first revision only (the repository's
//! `latest`, or the app file's `image` as a placeholder the first push replaces). After that,
//! revisions belong to deploys: `up` never reverts one and never changes an image. The file
//! still owns the container's [`ContainerSettings`] (sizes, environment, command, health check,
//! logs): when they change, `up` registers the *running* revision again with the file's settings
//! (the image and every other field and tag copied) under the deploy lock.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, HealthCheck, KeyValuePair, LoadBalancer as EcsLoadBalancer, LogConfiguration,
    LogDriver, NetworkMode, PortMapping, Secret, Service as EcsService, Tag, TaskDefinition as EcsTaskDefinition,
    TransportProtocol,
};
use pushdeploy::lock::{with_lock, Holder, Lock, LockSettings};
use pushdeploy::revision::{roll_out_along, Along};
use pushdeploy::task_definition::{is_carried, placeholder_key, NewRevision};

use super::facts::{need, Facts};
use super::model::{After, Resource, APP_TAG};
use super::service::Placement;
use crate::app_file::{App, AppService, HealthCheckSpec};
use crate::context::Context;
use crate::ecs::{active_revisions, describe_revision, describe_service, Revision};
use crate::error::{aws, missing, CliError};
use crate::progress::Step;

/// What the app file owns of its container in every revision: sizes, environment, command,
/// health check and logs. Everything else (the image above all) belongs to deploys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSettings {
    /// CPU units.
    pub cpu: i32,
    /// Memory, MiB.
    pub memory: i32,
    /// Environment variables.
    pub environment: BTreeMap<String, String>,
    /// Command (the image's CMD when empty).
    pub command: Vec<String>,
    /// Health check.
    pub health_check: Option<HealthCheckSpec>,
    /// The `awslogs` group.
    pub log_group: String,
    /// The group's region.
    pub log_region: String,
    /// The streams' prefix (`<prefix>/<container>/<task id>`).
    pub log_prefix: String,
    /// Secrets by variable name: SSM parameter or Secrets Manager ARNs (`valueFrom`).
    pub secrets: BTreeMap<String, String>,
    /// The task role's ARN (a task-level field).
    pub task_role: Option<String>,
    /// The execution role's ARN (a task-level field); `None` leaves the revision's as it is.
    pub execution_role: Option<String>,
    /// The container port the load balancer sends to (the first port mapping's).
    pub port: i32,
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
    /// Environment variables, by name (values are not shown: they may be sensitive).
    Environment {
        /// Set by the file, absent now.
        added: Vec<String>,
        /// Set to another value.
        changed: Vec<String>,
        /// Present now, not in the file.
        removed: Vec<String>,
    },
    /// The command.
    Command {
        /// Wanted (empty: the image's own).
        want: Vec<String>,
    },
    /// The health check.
    HealthCheck {
        /// Whether one runs now.
        had: bool,
        /// Whether one is wanted.
        wanted: bool,
    },
    /// Where the container logs.
    Logs {
        /// The wanted group.
        group: String,
    },
    /// Secrets, by variable name.
    Secrets {
        /// In the file, absent now.
        added: Vec<String>,
        /// From another ARN now.
        changed: Vec<String>,
        /// Present now, not in the file.
        removed: Vec<String>,
    },
    /// The task role.
    TaskRole {
        /// Wanted (its name).
        want: Option<String>,
    },
    /// The execution role (moved to the app's IAM path, say).
    ExecutionRole {
        /// Wanted (its ARN).
        want: String,
    },
    /// The container port (the load balancer's target moves with it).
    Port {
        /// Now (`None`: no port mapping).
        have: Option<i32>,
        /// Wanted.
        want: i32,
    },
    /// Where the revision runs: the compatibility it requires (the service's tasks move with it).
    Platform {
        /// Whether Fargate is wanted (else the instances).
        fargate: bool,
    },
}

/// `+ADDED ~CHANGED -REMOVED`: names only, never values.
fn names_changed(added: &[String], changed: &[String], removed: &[String]) -> String {
    let words: Vec<String> = (added.iter().map(|n| format!("+{n}")))
        .chain(changed.iter().map(|n| format!("~{n}")))
        .chain(removed.iter().map(|n| format!("-{n}")))
        .collect();
    words.join(" ")
}

/// How the `have` table differs from the `want` one, by name: added, changed, removed.
fn table_drift(have: &BTreeMap<&str, &str>, want: &BTreeMap<String, String>) -> Option<[Vec<String>; 3]> {
    let added: Vec<String> = (want.keys())
        .filter(|k| !have.contains_key(k.as_str()))
        .cloned()
        .collect();
    let changed: Vec<String> = (want.iter())
        .filter(|(k, v)| have.get(k.as_str()).is_some_and(|h| h != v))
        .map(|(k, _)| k.clone())
        .collect();
    let removed: Vec<String> = (have.keys())
        .filter(|k| !want.contains_key(**k))
        .map(|k| k.to_string())
        .collect();
    (!(added.is_empty() && changed.is_empty() && removed.is_empty())).then_some([added, changed, removed])
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Cpu { have, want } => write!(f, "cpu {have} -> {want}"),
            Drift::Memory { have, want } => write!(f, "memory {} -> {want}", have.unwrap_or_default()),
            Drift::Environment {
                added,
                changed,
                removed,
            } => write!(f, "environment {}", names_changed(added, changed, removed)),
            Drift::Secrets {
                added,
                changed,
                removed,
            } => write!(f, "secrets {}", names_changed(added, changed, removed)),
            Drift::TaskRole { want: Some(role) } => {
                write!(f, "task role -> {}", role.rsplit('/').next().unwrap_or(role))
            }
            Drift::TaskRole { want: None } => write!(f, "task role removed"),
            Drift::ExecutionRole { want } => write!(f, "execution role -> {want}"),
            Drift::Command { want } if want.is_empty() => write!(f, "command -> the image's"),
            Drift::Command { want } => write!(f, "command -> {want:?}"),
            Drift::HealthCheck { had: false, .. } => write!(f, "health check added"),
            Drift::HealthCheck { wanted: false, .. } => write!(f, "health check removed"),
            Drift::HealthCheck { .. } => write!(f, "health check changed"),
            Drift::Logs { group } => write!(f, "logs -> awslogs {group}"),
            Drift::Port { have, want } => write!(
                f,
                "port {} -> {want} (the load balancer follows: a new deployment)",
                have.map_or("none".to_string(), |p| p.to_string())
            ),
            Drift::Platform { fargate: true } => {
                write!(
                    f,
                    "compatibility EC2 -> FARGATE (the tasks move to Fargate with the capacity provider: one deployment)"
                )
            }
            Drift::Platform { fargate: false } => write!(
                f,
                "compatibility FARGATE -> EC2 (the tasks move to the instances with the capacity provider: one deployment)"
            ),
        }
    }
}

fn awslogs_options(settings: &ContainerSettings) -> HashMap<String, String> {
    HashMap::from([
        ("awslogs-group".to_string(), settings.log_group.clone()),
        ("awslogs-region".to_string(), settings.log_region.clone()),
        ("awslogs-stream-prefix".to_string(), settings.log_prefix.clone()),
    ])
}

/// The health check as ECS takes it.
fn health_check_of(spec: &HealthCheckSpec) -> HealthCheck {
    HealthCheck::builder()
        .set_command(Some(spec.command.clone()))
        .interval(spec.interval as i32)
        .timeout(spec.timeout as i32)
        .retries(spec.retries as i32)
        .start_period(spec.start_period as i32)
        .build()
        .expect("command is set")
}

/// Whether ECS's `have` is the file's `want`, with ECS's defaults for what it leaves out.
fn same_health_check(have: &HealthCheck, want: &HealthCheckSpec) -> bool {
    have.command() == want.command.as_slice()
        && have.interval().unwrap_or(30) == want.interval as i32
        && have.timeout().unwrap_or(5) == want.timeout as i32
        && have.retries().unwrap_or(3) == want.retries as i32
        && have.start_period().unwrap_or(0) == want.start_period as i32
}

impl ContainerSettings {
    /// How container `name` of `definition` differs from these settings; nothing when the
    /// definition has no such container.
    pub fn drift(&self, definition: &EcsTaskDefinition, name: &str) -> Vec<Drift> {
        let Some(c) = definition
            .container_definitions()
            .iter()
            .find(|c| c.name() == Some(name))
        else {
            return Vec::new();
        };
        let mut drift = Vec::new();
        if c.cpu() != self.cpu {
            drift.push(Drift::Cpu {
                have: c.cpu(),
                want: self.cpu,
            });
        }
        if c.memory() != Some(self.memory) {
            drift.push(Drift::Memory {
                have: c.memory(),
                want: self.memory,
            });
        }
        if definition.task_role_arn() != self.task_role.as_deref() {
            drift.push(Drift::TaskRole {
                want: self.task_role.clone(),
            });
        }
        let execution = self.execution_role.as_ref();
        if let Some(want) = execution.filter(|w| definition.execution_role_arn() != Some(w.as_str())) {
            drift.push(Drift::ExecutionRole { want: want.clone() });
        }
        let have: BTreeMap<&str, &str> = c
            .environment()
            .iter()
            .filter_map(|kv| Some((kv.name()?, kv.value().unwrap_or_default())))
            .collect();
        if let Some([added, changed, removed]) = table_drift(&have, &self.environment) {
            drift.push(Drift::Environment {
                added,
                changed,
                removed,
            });
        }
        let have: BTreeMap<&str, &str> = c.secrets().iter().map(|s| (s.name(), s.value_from())).collect();
        if let Some([added, changed, removed]) = table_drift(&have, &self.secrets) {
            drift.push(Drift::Secrets {
                added,
                changed,
                removed,
            });
        }
        if c.command() != self.command.as_slice() {
            drift.push(Drift::Command {
                want: self.command.clone(),
            });
        }
        let same_check = match (c.health_check(), &self.health_check) {
            (None, None) => true,
            (Some(have), Some(want)) => same_health_check(have, want),
            _ => false,
        };
        if !same_check {
            drift.push(Drift::HealthCheck {
                had: c.health_check().is_some(),
                wanted: self.health_check.is_some(),
            });
        }
        drift.extend(self.wiring_drift(c));
        drift
    }

    /// How the container's port and logs differ.
    fn wiring_drift(&self, c: &ContainerDefinition) -> Vec<Drift> {
        let mut drift = Vec::new();
        let port = c.port_mappings().first().and_then(|m| m.container_port());
        if port != Some(self.port) {
            drift.push(Drift::Port {
                have: port,
                want: self.port,
            });
        }
        let logs = c
            .log_configuration()
            .is_some_and(|l| l.log_driver() == &LogDriver::Awslogs && l.options() == Some(&awslogs_options(self)));
        if !logs {
            drift.push(Drift::Logs {
                group: self.log_group.clone(),
            });
        }
        drift
    }

    /// Sets these settings on container `name` of `definition` and on the definition (its task
    /// role), leaving every other field as it is.
    pub fn apply(&self, definition: &mut EcsTaskDefinition, name: &str) {
        definition.task_role_arn = self.task_role.clone();
        if let Some(role) = &self.execution_role {
            definition.execution_role_arn = Some(role.clone());
        }
        if let Some(c) = (definition.container_definitions.as_mut())
            .and_then(|cs| cs.iter_mut().find(|c| c.name.as_deref() == Some(name)))
        {
            self.apply_to(c);
        }
    }

    /// Sets these settings on `container`, leaving every other field as it is.
    pub fn apply_to(&self, container: &mut ContainerDefinition) {
        container.cpu = self.cpu;
        container.memory = Some(self.memory);
        container.environment = (!self.environment.is_empty()).then(|| {
            (self.environment.iter())
                .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
                .collect()
        });
        container.secrets = (!self.secrets.is_empty()).then(|| {
            (self.secrets.iter())
                .map(|(k, v)| {
                    Secret::builder()
                        .name(k)
                        .value_from(v)
                        .build()
                        .expect("name and valueFrom are set")
                })
                .collect()
        });
        container.command = (!self.command.is_empty()).then(|| self.command.clone());
        container.health_check = self.health_check.as_ref().map(health_check_of);
        match container.port_mappings.as_mut().and_then(|m| m.first_mut()) {
            // Protocol and the other mappings stay as they are; so does a dynamic host port
            // (bridge), while an `awsvpc` task's, which must equal the container port, moves too.
            Some(first) => {
                if first.host_port.is_some() && first.host_port == first.container_port {
                    first.host_port = Some(self.port);
                }
                first.container_port = Some(self.port)
            }
            None => {
                container.port_mappings = Some(vec![PortMapping::builder()
                    .container_port(self.port)
                    .host_port(0)
                    .protocol(TransportProtocol::Tcp)
                    .build()])
            }
        }
        container.log_configuration = Some(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .set_options(Some(awslogs_options(self)))
                .build()
                .expect("the driver is set"),
        );
    }
}

/// Whether `definition` requires Fargate (else it runs on the instances).
fn requires_fargate(definition: &EcsTaskDefinition) -> bool {
    definition.requires_compatibilities().contains(&Compatibility::Fargate)
}

/// A service's task definition.
#[derive(Debug, Clone)]
pub struct TaskFamily {
    service: String,
    family: String,
    cluster: String,
    container: String,
    repository: String,
    placeholder: Option<String>,
    settings: ContainerSettings,
    port: u16,
    /// `awsvpc` for a blue-green, canary or linear service or one on Fargate (its tasks sit in
    /// `ip` target groups), else `bridge` with dynamic host ports.
    network_mode: NetworkMode,
    /// Where its tasks run: on Fargate the revision requires FARGATE and sizes the task; a
    /// revision that moves there or back moves the service with it.
    placement: Placement,
    execution_role: String,
    task_role: String,
    lock_table: String,
    /// For a rolling service, the alarms its deployments watch: what going back to rolling sends
    /// first when ECS still has it blue-green, canary or linear (on Fargate,
    /// `service::check_switches`).
    rolling_alarms: Option<Vec<String>>,
    app: String,
}

impl TaskFamily {
    /// The task definition of `service`.
    pub fn new(app: &App, service: &AppService) -> TaskFamily {
        TaskFamily {
            service: service.spec.name.clone(),
            family: app.names.family(&service.spec.name),
            cluster: app.names.cluster(),
            container: service.container.clone(),
            repository: service.repository.clone(),
            placeholder: service.spec.image.clone(),
            settings: ContainerSettings {
                cpu: service.spec.cpu as i32,
                memory: service.spec.memory as i32,
                environment: service.spec.environment.clone(),
                command: service.spec.command.clone(),
                health_check: service.spec.health_check.clone(),
                log_group: app.names.log_group(&service.spec.name),
                log_region: String::new(), // the region in use: `settings` fills it in
                log_prefix: service.spec.name.clone(),
                secrets: service.spec.secrets.clone(),
                task_role: None,      // known once the role exists: `settings` fills it in
                execution_role: None, // likewise
                port: i32::from(service.spec.port),
            },
            port: service.spec.port,
            placement: Placement::new(app, service),
            network_mode: if service.spec.is_awsvpc() {
                NetworkMode::Awsvpc
            } else {
                NetworkMode::Bridge
            },
            execution_role: app.names.execution_role(),
            task_role: app.names.task_role(&service.spec.name),
            lock_table: app.names.lock_table(),
            rolling_alarms: (!service.spec.deployment.is_staged())
                .then(|| super::service::deployment_alarms(app, service)),
            app: app.name.clone(),
        }
    }

    /// What the file owns of the revision, with what earlier resources resolved: the region and
    /// the task role's ARN (in `plan`, before the role exists, where it will be: beside the
    /// execution role).
    fn settings(&self, facts: &Facts) -> ContainerSettings {
        let task_role = facts.roles.get(&self.task_role).cloned().or_else(|| {
            let execution = facts.roles.get(&self.execution_role)?;
            Some(format!("{}/{}", execution.rsplit_once('/')?.0, self.task_role))
        });
        ContainerSettings {
            log_region: facts.region.clone(),
            task_role,
            execution_role: facts.roles.get(&self.execution_role).cloned(),
            ..self.settings.clone()
        }
    }

    /// The first image: the repository's `latest`, else the placeholder (marked, so the first
    /// push swaps it), else `latest` anyway (the service waits for a first push).
    fn first_image(&self, facts: &Facts) -> Result<(String, bool), CliError> {
        let repo = need(facts.repositories.get(&self.repository), "the service's ECR repository")?;
        Ok(match &self.placeholder {
            Some(image) if !repo.has_latest => (image.clone(), true),
            _ => (format!("{}:latest", repo.uri), false),
        })
    }

    /// Registers `definition` (every field copied) with `tags` and points the service at it, with
    /// `along` changed in the same `UpdateService`.
    ///
    /// IAM: `ecs:RegisterTaskDefinition`, `ecs:TagResource`, `iam:PassRole`, `ecs:UpdateService`.
    async fn roll(
        &self,
        ctx: &Context,
        definition: EcsTaskDefinition,
        tags: Vec<Tag>,
        along: Along,
    ) -> Result<(), CliError> {
        let revision = NewRevision {
            definition,
            tags,
            image: String::new(),
        };
        roll_out_along(&ctx.ecs(), &self.cluster, &self.service, revision, along).await?;
        Ok(())
    }

    /// What the file owns of `definition` that differs: the container's settings and where it
    /// runs.
    fn drift(&self, settings: &ContainerSettings, definition: &EcsTaskDefinition) -> Vec<Drift> {
        let mut drift = settings.drift(definition, &self.container);
        if requires_fargate(definition) != self.placement.fargate() {
            drift.push(Drift::Platform {
                fargate: self.placement.fargate(),
            });
        }
        drift
    }

    /// `definition` made to run where the file says: on Fargate it requires FARGATE and the task
    /// is sized (its size follows the container's: ECS refuses containers that reserve more than
    /// the task has); moved back to the instances it requires EC2 with no task size, as `create`
    /// registers it there.
    fn place(&self, definition: &mut EcsTaskDefinition, settings: &ContainerSettings) {
        if self.placement.fargate() {
            definition.requires_compatibilities = Some(vec![Compatibility::Fargate]);
            definition.cpu = Some(settings.cpu.to_string());
            definition.memory = Some(settings.memory.to_string());
        } else if requires_fargate(definition) {
            definition.requires_compatibilities = Some(vec![Compatibility::Ec2]);
            definition.cpu = None;
            definition.memory = None;
        }
    }

    /// A service going back to rolling whose revision changes in the same `up` (or in a later
    /// one, when this one was cut short): a staged deployment would need the two-group rule the
    /// listener no longer has, and a rolling one into the first group may put the tasks where
    /// production traffic is not. So the strategy goes first while ECS still has it staged (no
    /// deployment), and while the load balancer names a second group the new revision is rolled
    /// out with it naming only the group production traffic is on (the service's `up` then finds
    /// that done). `None` for any other service.
    ///
    /// IAM: `ecs:UpdateService`.
    async fn back_to_rolling(
        &self,
        ctx: &Context,
        service: &EcsService,
        facts: &Facts,
        port: i32,
    ) -> Result<Option<Vec<EcsLoadBalancer>>, CliError> {
        let Some(alarms) = &self.rolling_alarms else {
            return Ok(None);
        };
        if !super::service::has_advanced_configuration(service) {
            return Ok(None);
        }
        let group = need(facts.target_groups.get(&self.service), "the service's target group")?;
        if super::service::shift_of(service.deployment_configuration()) != crate::app_file::Shift::Rolling {
            (ctx.ecs().update_service())
                .cluster(&self.cluster)
                .service(&self.service)
                .deployment_configuration(super::service::rolling_again(alarms, service))
                .send()
                .await
                .map_err(|e| aws("ecs:UpdateService", e))?;
        }
        Ok(Some(vec![EcsLoadBalancer::builder()
            .target_group_arn(group)
            .container_name(&self.container)
            .container_port(port)
            .build()]))
    }

    /// The service's load balancers with this container's port set to `port`, when one differs.
    fn rewired(&self, service: &EcsService, port: i32) -> Option<Vec<EcsLoadBalancer>> {
        let mine = |lb: &EcsLoadBalancer| lb.container_name() == Some(self.container.as_str());
        if !service
            .load_balancers()
            .iter()
            .any(|lb| mine(lb) && lb.container_port() != Some(port))
        {
            return None;
        }
        Some(
            (service.load_balancers().iter())
                .map(|lb| {
                    let mut lb = lb.clone();
                    if mine(&lb) {
                        lb.container_port = Some(port);
                    }
                    lb
                })
                .collect(),
        )
    }
}

/// What exists: the service (if ACTIVE) and the revision it runs, or the family's newest.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The service, when it exists.
    pub service: Option<EcsService>,
    /// The revision.
    pub revision: Revision,
}

impl Resource for TaskFamily {
    type Observed = Observed;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "task definition"
    }

    /// What it is converged after. The roles its tasks run as, the repository of its image, its
    /// log group, the lock table (a revision registered again goes under the deploy lock), and
    /// all else the service uses: registering again may start a deployment, which must find the
    /// target groups, rules, groups, alarms and capacity of this `up`, not the last one's. The
    /// service comes after the task definitions, so after these too.
    fn after(&self) -> After {
        After::Kinds(&[
            "service-linked role",
            "security group",
            "iam role",
            "ecs cluster",
            "ecr repository",
            "log group",
            "lock table",
            "load balancer",
            "target group",
            "alarm",
            "listener",
            "listener rule",
            "cluster capacity",
        ])
    }

    fn name(&self) -> String {
        self.family.clone()
    }

    async fn observe(&self, ctx: &Context, facts: &Facts) -> Result<Option<Observed>, CliError> {
        let service = super::service::seen_or_described(ctx, facts, &self.cluster, &self.service).await?;
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

    fn diff(&self, observed: &Observed, facts: &Facts) -> Vec<Drift> {
        self.drift(&self.settings(facts), &observed.revision.definition)
    }

    /// IAM: `ecs:RegisterTaskDefinition`, `ecs:TagResource`, `iam:PassRole` (execution role).
    async fn create(&self, ctx: &Context, facts: &Facts, _step: &Step) -> Result<Observed, CliError> {
        let execution_role = need(facts.roles.get(&self.execution_role), "the task execution role")?;
        let (image, placeholder) = self.first_image(facts)?;
        let mut container = ContainerDefinition::builder()
            .name(&self.container)
            .image(&image)
            .essential(true)
            .port_mappings(
                PortMapping::builder()
                    .container_port(i32::from(self.port))
                    // Dynamic on a shared host network; an `awsvpc` task's own interface serves
                    // the container port itself (ECS task definition parameters, `hostPort`).
                    .host_port(if self.network_mode == NetworkMode::Awsvpc {
                        i32::from(self.port)
                    } else {
                        0
                    })
                    .protocol(TransportProtocol::Tcp)
                    .build(),
            )
            .build();
        let settings = self.settings(facts);
        settings.apply_to(&mut container);
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
            .network_mode(self.network_mode.clone())
            .requires_compatibilities(if self.placement.fargate() {
                Compatibility::Fargate
            } else {
                Compatibility::Ec2
            })
            // Fargate sizes the task, not the container (ECS developer guide, "Task CPU and
            // memory"); the file's values are a Fargate size (checked when it loads).
            .set_cpu(self.placement.fargate().then(|| self.settings.cpu.to_string()))
            .set_memory(self.placement.fargate().then(|| self.settings.memory.to_string()))
            .execution_role_arn(execution_role)
            .set_task_role_arn(settings.task_role.clone())
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

    /// Registers the running revision again with the file's settings, under the deploy lock, so it
    /// cannot race a push.
    ///
    /// IAM: what `roll` needs, `ecs:DescribeServices`, `ecs:DescribeTaskDefinition`, and the
    /// lock's `dynamodb:PutItem`, `dynamodb:DeleteItem`.
    async fn apply(&self, ctx: &Context, _: &Observed, _: &[Drift], facts: &Facts, _: &Step) -> Result<(), CliError> {
        let holder = Holder::from(format!("pushdeploy up pid {}", std::process::id()).as_str());
        let lock = Lock {
            table: &self.lock_table,
            cluster: &self.cluster,
            service: &self.service,
        };
        with_lock(&ctx.dynamodb(), lock, &holder, LockSettings::default(), async {
            // Read again under the lock: a push may have landed since the first look.
            let Some(service) = describe_service(ctx, &self.cluster, &self.service).await? else {
                return Ok(());
            };
            let running = service
                .task_definition()
                .ok_or_else(|| missing("ecs:DescribeServices", "taskDefinition"))?;
            let revision = describe_revision(ctx, running).await?;
            let settings = self.settings(facts);
            let drift = self.drift(&settings, &revision.definition);
            if drift.is_empty() {
                return Ok(());
            }
            let mut definition = revision.definition;
            settings.apply(&mut definition, &self.container);
            self.place(&mut definition, &settings);
            let tags = revision
                .tags
                .into_iter()
                .filter(|t| t.key().is_some_and(is_carried))
                .collect();
            let rewire = match self.back_to_rolling(ctx, &service, facts, settings.port).await? {
                Some(load_balancers) => Some(load_balancers),
                None => self.rewired(&service, settings.port),
            };
            // A move between the instances and Fargate: the revision, the capacity and the tasks'
            // network in one deployment (ECS refuses each without the others).
            // Between Fargate and Fargate Spot too: one deployment, not a second for the service.
            let moving =
                drift.iter().any(|d| matches!(d, Drift::Platform { .. })) || !self.placement.is_where(&service);
            let along = Along {
                load_balancers: rewire,
                capacity: moving.then(|| vec![self.placement.strategy()]),
                network: if moving { self.placement.network(facts)? } else { None },
            };
            self.roll(ctx, definition, tags, along).await
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

    fn record(&self, observed: &Observed, facts: &mut Facts) {
        facts.services.insert(self.service.clone(), observed.service.clone());
        facts.revisions.insert(self.service.clone(), observed.revision.clone());
    }

    fn state(&self, observed: &Observed, facts: &Facts) -> Option<String> {
        let revision = &observed.revision;
        let has_images = facts.repositories.get(&self.repository).is_some_and(|r| r.images > 0);
        Some(if revision.is_placeholder(&self.repository) {
            format!(
                "placeholder {} until the first push",
                revision.image(&self.container).unwrap_or("image")
            )
        } else if has_images || revision.is_pinned(&self.container) {
            "image managed by deploys".into()
        } else {
            "waiting for a first push".into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::revision_number;

    fn settings() -> ContainerSettings {
        ContainerSettings {
            cpu: 256,
            memory: 512,
            environment: BTreeMap::from([("A".into(), "1".into()), ("B".into(), "2".into())]),
            command: vec!["serve".into(), "--port=80".into()],
            health_check: Some(HealthCheckSpec {
                command: vec!["CMD-SHELL".into(), "curl -f localhost".into()],
                interval: 30,
                timeout: 5,
                retries: 3,
                start_period: 10,
            }),
            log_group: "/pushdeploy/shop/web".into(),
            log_region: "eu-west-1".into(),
            log_prefix: "web".into(),
            secrets: BTreeMap::new(),
            task_role: None,
            execution_role: None,
            port: 80,
        }
    }

    fn with(container: ContainerDefinition) -> EcsTaskDefinition {
        EcsTaskDefinition::builder()
            .container_definitions(container)
            .container_definitions(ContainerDefinition::builder().name("sidecar").cpu(64).build())
            .build()
    }

    fn drift_of(wanted: &ContainerSettings, container: ContainerDefinition) -> Vec<String> {
        wanted
            .drift(&with(container), "web")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn settings_applied_to_a_container_are_no_drift_and_keep_every_other_field() {
        let wanted = settings();
        let mut web = ContainerDefinition::builder()
            .name("web")
            .image("repo@sha256:1")
            .essential(true)
            .environment(KeyValuePair::builder().name("OLD").value("x").build())
            .build();
        wanted.apply_to(&mut web);
        assert!(wanted.drift(&with(web.clone()), "web").is_empty());
        assert_eq!((web.image(), web.essential()), (Some("repo@sha256:1"), Some(true)));
        assert!(
            web.environment().iter().all(|kv| kv.name() != Some("OLD")),
            "the file owns the environment"
        );
        // ECS fills in the health check's defaults; they are not drift.
        let mut filled = web.clone();
        filled.health_check = Some(
            HealthCheck::builder()
                .command("CMD-SHELL")
                .command("curl -f localhost")
                .start_period(10)
                .build()
                .unwrap(),
        );
        assert!(wanted.drift(&with(filled), "web").is_empty());
        // Nothing wanted: the container's own command, health check and environment go.
        let bare = ContainerSettings {
            environment: BTreeMap::new(),
            command: Vec::new(),
            health_check: None,
            ..settings()
        };
        bare.apply_to(&mut web);
        assert_eq!(
            (web.command(), web.health_check(), web.environment()),
            (&[][..], None, &[][..])
        );
        assert!(bare.drift(&with(web), "web").is_empty());
    }

    #[test]
    fn a_new_port_drifts_and_moves_only_the_first_mappings_container_port() {
        let wanted = ContainerSettings {
            port: 8080,
            ..settings()
        };
        let mut web = ContainerDefinition::builder()
            .name("web")
            .port_mappings(PortMapping::builder().container_port(80).host_port(0).build())
            .port_mappings(PortMapping::builder().container_port(9090).host_port(9090).build())
            .build();
        settings().apply_to(&mut web);
        assert_eq!(
            drift_of(&wanted, web.clone()),
            ["port 80 -> 8080 (the load balancer follows: a new deployment)"]
        );
        wanted.apply_to(&mut web);
        let ports: Vec<_> = (web.port_mappings().iter())
            .map(|m| (m.container_port(), m.host_port()))
            .collect();
        assert_eq!(ports, [(Some(8080), Some(0)), (Some(9090), Some(9090))]);
        assert!(wanted.drift(&with(web), "web").is_empty());
    }

    #[test]
    fn each_owned_field_drifts_in_words_that_hide_values() {
        let wanted = settings();
        let mut web = ContainerDefinition::builder().name("web").build();
        wanted.apply_to(&mut web);
        let mut changed = web.clone();
        changed.cpu = 512;
        changed.memory = Some(1024);
        changed.environment = Some(vec![
            KeyValuePair::builder().name("A").value("secret-old").build(),
            KeyValuePair::builder().name("C").value("3").build(),
        ]);
        changed.command = None;
        changed.health_check.as_mut().unwrap().retries = Some(5);
        changed.log_configuration = Some(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", "/pushdeploy/shop/web")
                .options("awslogs-region", "us-east-1")
                .options("awslogs-stream-prefix", "web")
                .build()
                .unwrap(),
        );
        assert_eq!(
            drift_of(&wanted, changed),
            [
                "cpu 512 -> 256",
                "memory 1024 -> 512",
                "environment +B ~A -C",
                "command -> [\"serve\", \"--port=80\"]",
                "health check changed",
                "logs -> awslogs /pushdeploy/shop/web",
            ]
        );
        let mut unchecked = web.clone();
        unchecked.health_check = None;
        unchecked.log_configuration = None;
        assert_eq!(
            drift_of(&wanted, unchecked),
            ["health check added", "logs -> awslogs /pushdeploy/shop/web"]
        );
        let unwanted = ContainerSettings {
            health_check: None,
            command: Vec::new(),
            ..settings()
        };
        assert_eq!(
            drift_of(&unwanted, web),
            ["command -> the image's", "health check removed"]
        );
        assert!(wanted
            .drift(&with(ContainerDefinition::builder().name("x").build()), "absent")
            .is_empty());
    }

    #[test]
    fn secrets_and_the_task_role_drift_by_name_and_apply_to_the_revision() {
        let mut web = ContainerDefinition::builder()
            .name("web")
            .image("repo@sha256:1")
            .build();
        settings().apply_to(&mut web);
        let mut definition = with(web);
        let db = "arn:aws:ssm:eu-west-1:123456789012:parameter/shop/db";
        let wanted = ContainerSettings {
            secrets: BTreeMap::from([("DB".into(), db.into())]),
            task_role: Some("arn:aws:iam::123456789012:role/pushdeploy-shop-web-task".into()),
            ..settings()
        };
        let words = |w: &ContainerSettings, d: &EcsTaskDefinition| -> Vec<String> {
            w.drift(d, "web").iter().map(ToString::to_string).collect()
        };
        assert_eq!(
            words(&wanted, &definition),
            ["task role -> pushdeploy-shop-web-task", "secrets +DB"]
        );
        wanted.apply(&mut definition, "web");
        assert!(wanted.drift(&definition, "web").is_empty());
        let c = &definition.container_definitions()[0];
        assert_eq!((c.image(), c.secrets()[0].value_from()), (Some("repo@sha256:1"), db));
        assert_eq!(
            definition.container_definitions()[1].cpu(),
            64,
            "other containers are kept"
        );
        let moved = ContainerSettings {
            secrets: BTreeMap::from([("DB".into(), format!("{db}-v2"))]),
            ..wanted.clone()
        };
        assert_eq!(words(&moved, &definition), ["secrets ~DB"]);
        assert_eq!(words(&settings(), &definition), ["task role removed", "secrets -DB"]);
        settings().apply(&mut definition, "web");
        assert_eq!(
            (
                definition.task_role_arn(),
                definition.container_definitions()[0].secrets()
            ),
            (None, &[][..])
        );
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
