//! `pushdeploy.toml`: the app file. Every field has a default, so no file at all means one
//! service `web` on port 80. Errors name the line and the field.

use std::collections::BTreeMap;
use std::path::Path;

use pushdeploy::config::{AppConfig, ServiceRoute, CONFIG_VERSION};
use pushdeploy::image::{is_repository_name, ImageRef};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::AppFileError;
use crate::iam_policy::{is_arn, is_secret_arn, secrets_policy, SecretSource, MAX_INLINE_POLICY_LEN};
pub use crate::names::Names;

/// The file `pushdeploy init` writes.
pub const STARTER: &str = r#"# pushdeploy app file: every field is optional; the values below are the defaults.

# App name: names and tags every resource (pushdeploy:app=<name>). Default: --app, else "demo".
# name = "demo"

# AWS region; default: the standard chain (AWS_REGION, profile).
# region = "us-east-1"

# EC2 capacity for the ECS cluster (an Auto Scaling group behind a capacity provider).
instance_type = "t3.small"
min_instances = 1
desired_instances = 1
max_instances = 2

# Network: the default VPC and its default subnets unless named here.
# vpc_id = "vpc-0123456789abcdef0"
# subnets = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]

# An ACM certificate ARN adds an HTTPS listener, and HTTP then redirects to HTTPS.
# certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/..."

# CloudWatch Container Insights on the cluster.
container_insights = false

# Days CloudWatch Logs keeps what the containers print (log group /pushdeploy/<app>/<service>):
# 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
# 3288 or 3653.
log_retention_days = 30

[[services]]
name = "web"
# ECR repository (created if absent); default "<app>/<service>".
# repository = "demo/web"
# Container name in the task definition; default: the service name.
# container = "web"
port = 80
health_check_path = "/"
cpu = 256        # CPU units (1024 = one vCPU)
memory = 512     # MiB
desired_count = 1
# Tag filter: glob patterns a pushed tag must match to redeploy; none = every tag.
# tags = ["v*", "latest"]
# Pushes without a tag (docker buildx pushes untagged manifests beside the tagged index) deploy
# only when this is true.
untagged = false
# Listener routing for a second and later service: a path pattern, a host name, or both.
# path = "/api/*"
# host = "api.example.com"
# Image for the first task definition while the repository is still empty; the first push
# replaces it.
# image = "public.ecr.aws/nginx/nginx:stable"
# Seconds the load balancer keeps sending in-flight requests to a task being stopped.
deregistration_delay = 30
scan_on_push = true
immutable_tags = false
# Where the tasks run: "ec2" (the app's instances), "fargate" or "fargate-spot" (no instances;
# cpu and memory must be a Fargate size, e.g. 256 with 512, 1024 or 2048). An app whose
# services all run on Fargate gets no instances at all.
# capacity = "ec2"
# Environment variables of the container.
# environment = { LOG_LEVEL = "info", FEATURE_X = "on" }
# The command the container runs, instead of the image's CMD.
# command = ["bundle", "exec", "puma"]
# A container health check (ECS restarts an unhealthy container); `command` runs in the
# container's shell. The values below are ECS's defaults.
# [services.health_check]
# command = "curl -f http://localhost/ || exit 1"
# interval = 30      # seconds, 5-300
# timeout = 5        # seconds, 2-60
# retries = 3        # 1-10
# start_period = 0   # seconds, 0-300
# Secrets the container gets as environment variables, read at start from SSM Parameter Store
# or Secrets Manager (full ARNs). The execution role may read exactly these; name the KMS key
# when they are encrypted with your own.
# secrets = { DATABASE_URL = "arn:aws:ssm:us-east-1:123456789012:parameter/shop/database-url" }
# secrets_kms_key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# Managed policies of the service's task role pushdeploy-<app>-<service>-task: what the
# application itself may call in AWS. None by default.
# task_role_policies = ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]
# AppService auto scaling (target tracking): `up` then leaves the desired count to the scaler, and
# the capacity provider grows the instances to fit (up to max_instances).
# [services.autoscaling]
# min_count = 1
# max_count = 4
# cpu_target = 60              # average CPU of the tasks, percent
# requests_per_target = 1000   # load balancer requests per task and minute
# Deployment alarms: ECS fails a deployment, and rolls it back, when one goes into ALARM while
# it runs or in the bake time after. `up` creates two on the service's target group
# (pushdeploy-<app>-<service>-5xx and -unhealthy); name your own alarms beside them.
# [services.deployment]
# default_alarms = true
# max_5xx_per_minute = 10      # more 5xx responses from the tasks in one minute fail it
# max_unhealthy_tasks = 0      # more unhealthy tasks, two minutes in a row, fail it
# alarms = ["shop-web-p99"]    # your own CloudWatch alarms, at most 10
# How ECS moves traffic to a new revision: "rolling" (tasks replaced a few at a time), or
# "blue-green", "canary", "linear": a second set of tasks in a second target group takes the
# traffic (all at once, a share first, or in steps), the first set stays for bake_minutes, and
# an alarm in that time rolls back at once. These run `awsvpc` tasks (an interface each).
# strategy = "canary"
# bake_minutes = 5             # 0-1440, after all traffic moved
# canary_percent = 5           # canary: first share, 0.1-100
# canary_bake_minutes = 10     # canary: minutes before the rest, 0-1440
# step_percent = 10            # linear: each step's share, 3-100
# step_bake_minutes = 6        # linear: minutes between steps, 0-1440
# approve_before_production = false  # pause before production traffic until `pushdeploy approve`
# test_port = 8080             # a test listener on the load balancer, to the new revision first
"#;

/// The app file, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppFile {
    /// App name.
    #[serde(deserialize_with = "app_name")]
    pub name: Option<String>,
    /// AWS region.
    #[serde(deserialize_with = "region")]
    pub region: Option<String>,
    /// EC2 instance type of the cluster's instances.
    #[serde(deserialize_with = "instance_type")]
    pub instance_type: String,
    /// Auto Scaling group minimum.
    pub min_instances: u32,
    /// Auto Scaling group desired capacity.
    pub desired_instances: u32,
    /// Auto Scaling group maximum.
    #[serde(deserialize_with = "at_least_one")]
    pub max_instances: u32,
    /// VPC; default the default VPC.
    #[serde(deserialize_with = "vpc_id")]
    pub vpc_id: Option<String>,
    /// Subnets; default the VPC's default subnets.
    #[serde(deserialize_with = "subnet_ids")]
    pub subnets: Vec<String>,
    /// ACM certificate for HTTPS.
    #[serde(deserialize_with = "certificate")]
    pub certificate_arn: Option<String>,
    /// Container Insights.
    pub container_insights: bool,
    /// Retention of the services' log groups, days.
    #[serde(deserialize_with = "retention_days")]
    pub log_retention_days: u32,
    /// The services.
    pub services: Vec<ServiceSpec>,
}

/// One service of the app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceSpec {
    /// ECS service name.
    #[serde(deserialize_with = "ecs_name")]
    pub name: String,
    /// ECR repository; default `<app>/<name>`.
    #[serde(deserialize_with = "repository")]
    pub repository: Option<String>,
    /// Container name; default the service name.
    #[serde(deserialize_with = "container_name")]
    pub container: Option<String>,
    /// Container port.
    #[serde(deserialize_with = "port")]
    pub port: u16,
    /// Target group health-check path.
    #[serde(deserialize_with = "health_path")]
    pub health_check_path: String,
    /// CPU units.
    pub cpu: u32,
    /// Memory, MiB.
    #[serde(deserialize_with = "memory")]
    pub memory: u32,
    /// ECS desired count.
    pub desired_count: u32,
    /// Tag filter globs.
    #[serde(deserialize_with = "globs")]
    pub tags: Vec<String>,
    /// Whether pushes without a tag deploy.
    pub untagged: bool,
    /// Listener path pattern.
    #[serde(deserialize_with = "path_pattern")]
    pub path: Option<String>,
    /// Listener host header.
    #[serde(deserialize_with = "host_header")]
    pub host: Option<String>,
    /// Placeholder image while the repository is empty.
    #[serde(deserialize_with = "placeholder_image")]
    pub image: Option<String>,
    /// Target group deregistration delay, seconds.
    #[serde(deserialize_with = "deregistration_delay")]
    pub deregistration_delay: u32,
    /// ECR scan on push.
    pub scan_on_push: bool,
    /// ECR immutable tags.
    pub immutable_tags: bool,
    /// Environment variables, by name.
    #[serde(deserialize_with = "environment")]
    pub environment: BTreeMap<String, String>,
    /// The container's command (the image's CMD when empty).
    #[serde(deserialize_with = "command")]
    pub command: Vec<String>,
    /// The container's health check.
    pub health_check: Option<HealthCheckSpec>,
    /// Secrets passed as environment variables, by name: SSM parameter or Secrets Manager ARNs
    /// (`valueFrom`). The execution role may read exactly these.
    #[serde(deserialize_with = "secrets")]
    pub secrets: BTreeMap<String, String>,
    /// The KMS key the secrets are encrypted with, when not the AWS-managed one: the execution
    /// role may decrypt with it.
    #[serde(deserialize_with = "kms_key")]
    pub secrets_kms_key: Option<String>,
    /// Managed policies of the service's task role (what the application may call in AWS).
    #[serde(deserialize_with = "policy_arns")]
    pub task_role_policies: Vec<String>,
    /// AppService auto scaling.
    pub autoscaling: Option<AutoscalingSpec>,
    /// What fails (and rolls back) a deployment besides tasks that do not start.
    pub deployment: DeploymentSpec,
    /// Where its tasks run: the app's instances, or AWS Fargate (on demand or Spot).
    pub capacity: Capacity,
}

/// Where a service's tasks run (`capacity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capacity {
    /// The app's EC2 instances (its Auto Scaling group's capacity provider).
    #[default]
    Ec2,
    /// AWS Fargate: no instances to run.
    Fargate,
    /// AWS Fargate Spot: Fargate's spare capacity, interruptible with two minutes' notice.
    FargateSpot,
}

impl Capacity {
    /// The ECS capacity provider a Fargate service uses; `None` on the app's instances.
    pub fn fargate_provider(self) -> Option<&'static str> {
        match self {
            Capacity::Ec2 => None,
            Capacity::Fargate => Some("FARGATE"),
            Capacity::FargateSpot => Some("FARGATE_SPOT"),
        }
    }
}

impl ServiceSpec {
    /// Whether its tasks have network interfaces of their own (`awsvpc`, behind `ip` target
    /// groups): on Fargate, or blue-green, canary or linear.
    pub fn is_awsvpc(&self) -> bool {
        self.capacity != Capacity::Ec2 || self.deployment.is_staged()
    }
}

/// Fargate's task sizes: CPU units and the memory (MiB) each allows (ECS developer guide, "Task
/// CPU and memory" for Fargate).
pub fn fargate_memory(cpu: u32) -> Vec<u32> {
    let range = |from: u32, to: u32, step: u32| (from..=to).step_by(step as usize).collect();
    match cpu {
        256 => vec![512, 1024, 2048],
        512 => range(1024, 4096, 1024),
        1024 => range(2048, 8192, 1024),
        2048 => range(4096, 16384, 1024),
        4096 => range(8192, 30720, 1024),
        8192 => range(16384, 61440, 4096),
        16384 => range(32768, 122880, 8192),
        _ => Vec::new(),
    }
}

/// A service's deployment alarms: ECS fails a deployment, and rolls it back, when one of them
/// goes into ALARM while it runs or during the bake time after (ECS developer guide, "How
/// CloudWatch alarms detect Amazon ECS deployment failures").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeploymentSpec {
    /// Whether `up` creates the service's two alarms on its target group: 5xx responses from its
    /// tasks, and unhealthy tasks.
    pub default_alarms: bool,
    /// 5xx responses from the service's tasks within one minute above which a deployment fails
    /// (0-100000).
    #[serde(deserialize_with = "max_5xx")]
    pub max_5xx_per_minute: u32,
    /// Unhealthy tasks, two minutes in a row, above which a deployment fails (0-5000).
    #[serde(deserialize_with = "max_unhealthy")]
    pub max_unhealthy_tasks: u32,
    /// Your own CloudWatch alarms, by name, that fail a deployment too (at most 10).
    #[serde(deserialize_with = "alarm_names")]
    pub alarms: Vec<String>,
    /// How ECS moves traffic to a new revision.
    pub strategy: Strategy,
    /// Minutes both revisions run after all traffic moved, before the old one goes (0-1440;
    /// blue-green, canary and linear; default 5).
    #[serde(deserialize_with = "bake_minutes")]
    pub bake_minutes: Option<u32>,
    /// Canary: the share of traffic moved first (0.1-100 in steps of 0.1; default 5).
    #[serde(deserialize_with = "canary_percent")]
    pub canary_percent: Option<Percent>,
    /// Canary: minutes before the rest moves (0-1440; default 10).
    #[serde(deserialize_with = "bake_minutes")]
    pub canary_bake_minutes: Option<u32>,
    /// Linear: the share of traffic each step moves (3-100 in steps of 0.1; default 10).
    #[serde(deserialize_with = "step_percent")]
    pub step_percent: Option<Percent>,
    /// Linear: minutes between steps (0-1440; default 6).
    #[serde(deserialize_with = "bake_minutes")]
    pub step_bake_minutes: Option<u32>,
    /// Blue-green, canary and linear: ECS pauses each deployment before any production traffic
    /// moves until `pushdeploy approve` (or `reject`) answers, rolling back after a day without.
    pub approve_before_production: bool,
    /// Blue-green, canary and linear: a test listener on this load-balancer port that sends to
    /// the new revision before it takes production traffic (ECS moves its rule at the test
    /// traffic stage). Open to the same sources as the production listeners.
    #[serde(deserialize_with = "test_port")]
    pub test_port: Option<u16>,
}

/// How ECS moves a service's traffic to a new revision (`strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Tasks replaced a few at a time (ECS's rolling update).
    #[default]
    Rolling,
    /// A second set of tasks takes all traffic at once, the first stays for the bake time.
    BlueGreen,
    /// A share of traffic first, the rest after a wait.
    Canary,
    /// Traffic in equal steps with a wait between them.
    Linear,
}

impl Strategy {
    /// The word in the app file.
    pub fn word(self) -> &'static str {
        match self {
            Strategy::Rolling => "rolling",
            Strategy::BlueGreen => "blue-green",
            Strategy::Canary => "canary",
            Strategy::Linear => "linear",
        }
    }
}

/// A percentage in tenths (ECS takes multiples of 0.1), written in the file as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Percent(pub u32);

impl Percent {
    /// As ECS's number.
    pub fn value(self) -> f64 {
        f64::from(self.0) / 10.0
    }
}

impl std::fmt::Display for Percent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 % 10 == 0 {
            write!(f, "{}%", self.0 / 10)
        } else {
            write!(f, "{}.{}%", self.0 / 10, self.0 % 10)
        }
    }
}

impl Serialize for Percent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.value())
    }
}

/// A service's traffic shift with every default resolved: what its ECS deployment configuration
/// says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shift {
    /// Rolling update.
    Rolling,
    /// All at once, then `bake` minutes.
    BlueGreen {
        /// Minutes both revisions run after the shift.
        bake: u32,
    },
    /// `percent` first, the rest after `canary_bake` minutes, then `bake` minutes.
    Canary {
        /// First share.
        percent: Percent,
        /// Minutes at the first share.
        canary_bake: u32,
        /// Minutes both revisions run after the shift.
        bake: u32,
    },
    /// `step` at a time, `step_bake` minutes apart, then `bake` minutes.
    Linear {
        /// Each step's share.
        step: Percent,
        /// Minutes between steps.
        step_bake: u32,
        /// Minutes both revisions run after the shift.
        bake: u32,
    },
}

/// Minutes both revisions run after the shift when the file does not say (`bake_minutes`).
pub const DEFAULT_BAKE_MINUTES: u32 = 5;

impl DeploymentSpec {
    /// The traffic shift, defaults resolved (ECS's own for the canary and linear settings).
    pub fn shift(&self) -> Shift {
        let bake = self.bake_minutes.unwrap_or(DEFAULT_BAKE_MINUTES);
        match self.strategy {
            Strategy::Rolling => Shift::Rolling,
            Strategy::BlueGreen => Shift::BlueGreen { bake },
            Strategy::Canary => Shift::Canary {
                percent: self.canary_percent.unwrap_or(Percent(50)),
                canary_bake: self.canary_bake_minutes.unwrap_or(10),
                bake,
            },
            Strategy::Linear => Shift::Linear {
                step: self.step_percent.unwrap_or(Percent(100)),
                step_bake: self.step_bake_minutes.unwrap_or(6),
                bake,
            },
        }
    }

    /// Whether ECS shifts traffic between two target groups (anything but rolling).
    pub fn is_staged(&self) -> bool {
        self.strategy != Strategy::Rolling
    }
}

impl Default for DeploymentSpec {
    fn default() -> Self {
        DeploymentSpec {
            default_alarms: true,
            max_5xx_per_minute: 10,
            max_unhealthy_tasks: 0,
            alarms: Vec::new(),
            strategy: Strategy::Rolling,
            bake_minutes: None,
            canary_percent: None,
            canary_bake_minutes: None,
            step_percent: None,
            step_bake_minutes: None,
            approve_before_production: false,
            test_port: None,
        }
    }
}

/// AppService auto scaling (Application Auto Scaling target tracking).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscalingSpec {
    /// Fewest tasks.
    pub min_count: u32,
    /// Most tasks.
    #[serde(deserialize_with = "max_count")]
    pub max_count: u32,
    /// Average CPU of the service's tasks to keep, percent (1-100).
    #[serde(default, deserialize_with = "cpu_target")]
    pub cpu_target: Option<u32>,
    /// Load balancer requests per task and minute to keep.
    #[serde(default, deserialize_with = "requests_per_target")]
    pub requests_per_target: Option<u32>,
}

/// A container health check (ECS API reference, `HealthCheck`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckSpec {
    /// A shell command (`CMD-SHELL`), or the exec form starting with `CMD` or `CMD-SHELL`.
    #[serde(deserialize_with = "health_command")]
    pub command: Vec<String>,
    /// Seconds between checks, 5-300.
    #[serde(default = "HealthCheckSpec::default_interval", deserialize_with = "interval")]
    pub interval: u32,
    /// Seconds a check may take, 2-60.
    #[serde(default = "HealthCheckSpec::default_timeout", deserialize_with = "check_timeout")]
    pub timeout: u32,
    /// Failures in a row before the container is unhealthy, 1-10.
    #[serde(default = "HealthCheckSpec::default_retries", deserialize_with = "retries")]
    pub retries: u32,
    /// Seconds after start during which failures do not count, 0-300.
    #[serde(default, deserialize_with = "start_period")]
    pub start_period: u32,
}

impl HealthCheckSpec {
    fn default_interval() -> u32 {
        30
    }
    fn default_timeout() -> u32 {
        5
    }
    fn default_retries() -> u32 {
        3
    }
}

impl Default for AppFile {
    fn default() -> Self {
        AppFile {
            name: None,
            region: None,
            instance_type: "t3.small".into(),
            min_instances: 1,
            desired_instances: 1,
            max_instances: 2,
            vpc_id: None,
            subnets: Vec::new(),
            certificate_arn: None,
            container_insights: false,
            log_retention_days: 30,
            services: vec![ServiceSpec::default()],
        }
    }
}

impl Default for ServiceSpec {
    fn default() -> Self {
        ServiceSpec {
            name: "web".into(),
            repository: None,
            container: None,
            port: 80,
            health_check_path: "/".into(),
            cpu: 256,
            memory: 512,
            desired_count: 1,
            tags: Vec::new(),
            untagged: false,
            path: None,
            host: None,
            image: None,
            deregistration_delay: 30,
            scan_on_push: true,
            immutable_tags: false,
            environment: BTreeMap::new(),
            command: Vec::new(),
            health_check: None,
            secrets: BTreeMap::new(),
            secrets_kms_key: None,
            task_role_policies: Vec::new(),
            autoscaling: None,
            deployment: DeploymentSpec::default(),
            capacity: Capacity::Ec2,
        }
    }
}

/// The app with every default resolved: what `up` provisions.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    /// App name.
    pub name: String,
    /// Every resource name, derived from the app name.
    pub names: Names,
    /// The file's settings.
    pub file: AppFile,
    /// The file read, `None` when there was none (the defaults).
    pub source: Option<String>,
    /// The first target group of each service that switched strategy in place on Fargate, by
    /// service: ECS keeps a service's group through the switch, so a blue-green, canary or linear
    /// service that was rolling still has the rolling one's, `pd-<app>-<service>`, not `-a`, and a
    /// rolling one that was staged the group production traffic was on (learnt from ECS,
    /// [`App::with_kept_groups`]; empty from the file alone).
    pub kept_groups: BTreeMap<String, String>,
}

/// A service with its defaults resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct AppService {
    /// The spec.
    pub spec: ServiceSpec,
    /// ECR repository.
    pub repository: String,
    /// Container name.
    pub container: String,
}

impl App {
    /// Reads `path` (or takes the defaults when it does not exist and was not asked for by name).
    pub fn load(path: Option<&Path>, app_flag: Option<&str>) -> Result<App, AppFileError> {
        let default_path = Path::new("pushdeploy.toml");
        let (file, shown, text) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| AppFileError {
                    file: p.display().to_string(),
                    message: format!("cannot read: {e} (create one with `pushdeploy init`)"),
                })?;
                (
                    parse(&text, &p.display().to_string())?,
                    p.display().to_string(),
                    Some(text),
                )
            }
            None if default_path.exists() => {
                let text = std::fs::read_to_string(default_path).map_err(|e| AppFileError {
                    file: "pushdeploy.toml".into(),
                    message: format!("cannot read: {e}"),
                })?;
                (
                    parse(&text, "pushdeploy.toml")?,
                    "pushdeploy.toml".to_string(),
                    Some(text),
                )
            }
            None => (AppFile::default(), "defaults".to_string(), None),
        };
        App::resolve(file, app_flag, &shown, text.as_deref())
    }

    /// Applies `--app`, fills defaults and checks what spans several fields.
    pub fn resolve(
        file: AppFile,
        app_flag: Option<&str>,
        shown: &str,
        text: Option<&str>,
    ) -> Result<App, AppFileError> {
        let fail = |p: Problem| AppFileError {
            file: shown.to_string(),
            message: {
                let line = |key: &str| text.and_then(|t| line_of(t, key, p.service));
                // The other fields the problem is about, each with its line (or its default).
                let also: Vec<String> = (p.also.iter())
                    .map(|key| match line(key) {
                        Some(n) => format!("`{key}` on line {n}"),
                        None => format!("`{key}` (the default)"),
                    })
                    .collect();
                let also = if also.is_empty() {
                    String::new()
                } else {
                    format!(" (see {})", also.join(", "))
                };
                match line(p.key) {
                    Some(n) => format!("line {n}, field `{}`: {}{also}", p.key, p.message),
                    None => format!("field `{}`: {}{also}", p.key, p.message),
                }
            },
        };
        let name = resolved_name(&file, app_flag).map_err(fail)?;
        check_instances(&file).map_err(fail)?;
        check_services(&file, &name).map_err(fail)?;
        let names = Names::new(&name);
        let source = (shown != "defaults").then(|| shown.to_string());
        let app = App {
            name,
            names,
            file,
            source,
            kept_groups: BTreeMap::new(),
        };
        app.check_whole().map_err(fail)?;
        Ok(app)
    }

    /// What only the whole app shows: services sharing a repository share its settings, and
    /// the routing config and the secrets policy fit where they are stored.
    fn check_whole(&self) -> Result<(), Problem> {
        let services = self.services();
        for (i, s) in services.iter().enumerate() {
            let Some(first) = services[..i].iter().find(|o| o.repository == s.repository) else {
                continue;
            };
            if (first.spec.scan_on_push, first.spec.immutable_tags) != (s.spec.scan_on_push, s.spec.immutable_tags) {
                return Err(Problem::service(
                    "scan_on_push",
                    i,
                    format!(
                        "services {:?} and {:?} share repository {} but not its scan_on_push and immutable_tags",
                        first.spec.name, s.spec.name, s.repository
                    ),
                ));
            }
        }
        let size = self.routing_config().to_json().len();
        if size > MAX_CONFIG_LEN {
            return Err(Problem::app("services", format!(
                "the routing config would be {size} characters, over the {MAX_CONFIG_LEN} an SSM parameter holds: split the app, or shorten names and tag filters"
            )));
        }
        let policy = secrets_policy(&self.secret_sources()).map_or(0, |p| p.to_string().len());
        if policy > MAX_INLINE_POLICY_LEN {
            return Err(Problem::app("secrets", format!(
                "reading the secrets takes a policy of {policy} characters, over the {MAX_INLINE_POLICY_LEN} IAM allows on a role: keep several values in one Secrets Manager secret (a JSON key each)"
            )));
        }
        Ok(())
    }

    /// Each service's secrets and the key that decrypts them, for the execution role's policy.
    pub fn secret_sources(&self) -> Vec<SecretSource> {
        (self.services().into_iter())
            .map(|s| SecretSource {
                secrets: s.spec.secrets.values().cloned().collect(),
                kms_key: s.spec.secrets_kms_key,
            })
            .collect()
    }

    /// The routing config `up` writes to SSM for the function, in the engine's own type.
    pub fn routing_config(&self) -> AppConfig {
        let services = self
            .services()
            .into_iter()
            .map(|s| {
                let mut route = ServiceRoute::new(&self.names.cluster(), &s.spec.name, &s.repository);
                route.containers = vec![s.container.clone()];
                route.tags = s.spec.tags.clone();
                route.untagged = s.spec.untagged;
                route
            })
            .collect();
        AppConfig {
            version: CONFIG_VERSION,
            app: self.name.clone(),
            services,
        }
    }

    /// The services with defaults resolved.
    pub fn services(&self) -> Vec<AppService> {
        self.file
            .services
            .iter()
            .map(|s| AppService {
                repository: s
                    .repository
                    .clone()
                    .unwrap_or_else(|| self.names.default_repository(&s.name)),
                container: s.container.clone().unwrap_or_else(|| s.name.clone()),
                spec: s.clone(),
            })
            .collect()
    }

    /// The service named `name`, or an error that lists the app's services.
    pub fn service(&self, name: &str) -> Result<AppService, crate::error::CliError> {
        (self.services().into_iter())
            .find(|s| s.spec.name == name)
            .ok_or_else(|| crate::error::CliError::UnknownService {
                app: self.name.clone(),
                service: name.to_string(),
                services: (self.file.services.iter())
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The app with the first target groups of services that switched strategy in place
    /// ([`App::kept_groups`]).
    pub fn with_kept_groups(&self, groups: BTreeMap<String, String>) -> App {
        App {
            kept_groups: groups,
            ..self.clone()
        }
    }

    /// The app with services found in AWS but no longer in the file added (defaults but for the
    /// name), so that `down` deletes what they left behind too.
    pub fn with_removed_services(&self, names: &[String]) -> App {
        let mut app = self.clone();
        for name in names {
            if !app.file.services.iter().any(|s| &s.name == name) {
                app.file.services.push(ServiceSpec {
                    name: name.clone(),
                    ..ServiceSpec::default()
                });
            }
        }
        app
    }
}

/// ECS's most tasks per service (service quotas, "Tasks per service").
pub const MAX_TASKS: u32 = 5000;

/// A problem with one field of the file (of its `service`-th service, when it is a service's).
struct Problem {
    key: &'static str,
    service: Option<usize>,
    message: String,
    /// Other fields of the same table the problem is about (a cross-field rule).
    also: Vec<&'static str>,
}

impl Problem {
    fn app(key: &'static str, message: String) -> Problem {
        Problem {
            key,
            service: None,
            message,
            also: Vec::new(),
        }
    }

    fn service(key: &'static str, service: usize, message: String) -> Problem {
        Problem {
            key,
            service: Some(service),
            message,
            also: Vec::new(),
        }
    }

    /// The problem is about `keys` too.
    fn with(mut self, keys: &[&'static str]) -> Problem {
        self.also.extend_from_slice(keys);
        self
    }
}

/// The app's name: `--app`, else the file's `name`, else `demo`; the two must agree.
fn resolved_name(file: &AppFile, app_flag: Option<&str>) -> Result<String, Problem> {
    let name = match (app_flag, &file.name) {
        (Some(flag), Some(name)) if flag != name => {
            return Err(Problem::app(
                "name",
                format!("the file is for app {name:?}, but --app is {flag:?}"),
            ))
        }
        (Some(flag), _) => flag.to_string(),
        (None, Some(name)) => name.clone(),
        (None, None) => "demo".to_string(),
    };
    check_app_name(&name).map_err(|m| Problem::app("name", m))?;
    Ok(name)
}

fn check_instances(file: &AppFile) -> Result<(), Problem> {
    if file.min_instances <= file.desired_instances && file.desired_instances <= file.max_instances {
        return Ok(());
    }
    Err(Problem::app(
        "desired_instances",
        format!(
            "need min_instances <= desired_instances <= max_instances, got {} <= {} <= {}",
            file.min_instances, file.desired_instances, file.max_instances
        ),
    )
    .with(&["min_instances", "max_instances"]))
}

fn check_services(file: &AppFile, app: &str) -> Result<(), Problem> {
    if file.services.is_empty() {
        return Err(Problem::app(
            "services",
            "an app needs at least one [[services]]".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, s) in file.services.iter().enumerate() {
        if !seen.insert(&s.name) {
            return Err(Problem::service(
                "name",
                i,
                format!("service {:?} appears twice", s.name),
            ));
        }
        let names = Names::new(app);
        if s.capacity != Capacity::Ec2 {
            check_fargate_size(s.cpu, s.memory).map_err(|m| Problem::service("cpu", i, m).with(&["memory"]))?;
        }
        let tg = if s.deployment.is_staged() {
            names.alternate_target_group(&s.name)
        } else {
            names.target_group(&s.name)
        };
        if tg.len() > 32 {
            return Err(Problem::service(
                "name",
                i,
                format!("target group name {tg:?} is longer than 32 characters: shorten the app or service name"),
            ));
        }
        if i > 0 && s.path.is_none() && s.host.is_none() {
            return Err(Problem::service(
                "path",
                i,
                format!(
                    "service {:?} needs `path` or `host`: the first service takes the listener's default route",
                    s.name
                ),
            ));
        }
        if s.cpu == 0 {
            return Err(Problem::service("cpu", i, "must be at least 1".into()));
        }
        if let Some(both) = s.secrets.keys().find(|k| s.environment.contains_key(*k)) {
            return Err(Problem::service(
                "secrets",
                i,
                format!("{both:?} is both in `environment` and in `secrets`: keep one"),
            ));
        }
        check_deployment(&s.deployment).map_err(|(key, m)| Problem::service(key, i, m).with(&["strategy"]))?;
        check_test_port(file, i).map_err(|m| Problem::service("test_port", i, m))?;
        if let Some(scaling) = &s.autoscaling {
            check_autoscaling(scaling).map_err(|m| Problem::service("min_count", i, m).with(&["max_count"]))?;
        }
    }
    Ok(())
}

/// A test listener's port: not one of the production listeners' (80, 443), nor another
/// service's test port (a listener has one default rule, which ECS moves for one service).
fn check_test_port(file: &AppFile, i: usize) -> Result<(), String> {
    let Some(port) = file.services[i].deployment.test_port else {
        return Ok(());
    };
    if port == 80 || port == 443 {
        return Err(format!(
            "test_port {port} is a production listener's port (80, 443): choose another, like 8080"
        ));
    }
    match (file.services[..i].iter()).find(|o| o.deployment.test_port == Some(port)) {
        Some(other) => Err(format!(
            "test_port {port} is service {:?}'s test listener already: give each service its own",
            other.name
        )),
        None => Ok(()),
    }
}

/// A Fargate task's size must be one Fargate offers.
fn check_fargate_size(cpu: u32, memory: u32) -> Result<(), String> {
    let allowed = fargate_memory(cpu);
    if allowed.is_empty() {
        return Err(format!(
            "Fargate runs tasks of 256, 512, 1024, 2048, 4096, 8192 or 16384 CPU units, not {cpu}"
        ));
    }
    if !allowed.contains(&memory) {
        let list: Vec<String> = allowed.iter().map(u32::to_string).collect();
        return Err(format!(
            "Fargate gives a task of {cpu} CPU units {} MiB of memory, not {memory}",
            list.join(", ")
        ));
    }
    Ok(())
}

/// A strategy's settings given for another strategy: the field and what to do.
fn check_deployment(spec: &DeploymentSpec) -> Result<(), (&'static str, String)> {
    let strategy = spec.strategy;
    let belongs: [(&'static str, bool, &[Strategy]); 7] = [
        (
            "bake_minutes",
            spec.bake_minutes.is_some(),
            &[Strategy::BlueGreen, Strategy::Canary, Strategy::Linear],
        ),
        ("canary_percent", spec.canary_percent.is_some(), &[Strategy::Canary]),
        (
            "canary_bake_minutes",
            spec.canary_bake_minutes.is_some(),
            &[Strategy::Canary],
        ),
        ("step_percent", spec.step_percent.is_some(), &[Strategy::Linear]),
        (
            "step_bake_minutes",
            spec.step_bake_minutes.is_some(),
            &[Strategy::Linear],
        ),
        (
            "approve_before_production",
            spec.approve_before_production,
            &[Strategy::BlueGreen, Strategy::Canary, Strategy::Linear],
        ),
        (
            "test_port",
            spec.test_port.is_some(),
            &[Strategy::BlueGreen, Strategy::Canary, Strategy::Linear],
        ),
    ];
    for (key, given, strategies) in belongs {
        if given && !strategies.contains(&strategy) {
            let words: Vec<String> = strategies.iter().map(|s| format!("\"{}\"", s.word())).collect();
            return Err((
                key,
                format!(
                    "`{key}` applies to strategy = {}, not \"{}\": remove it or change the strategy",
                    words.join(" or "),
                    strategy.word()
                ),
            ));
        }
    }
    Ok(())
}

fn check_autoscaling(scaling: &AutoscalingSpec) -> Result<(), String> {
    if scaling.min_count > scaling.max_count {
        return Err(format!(
            "autoscaling needs min_count <= max_count, got {} > {}",
            scaling.min_count, scaling.max_count
        ));
    }
    if scaling.cpu_target.is_none() && scaling.requests_per_target.is_none() {
        return Err("autoscaling needs what to track: `cpu_target` (percent), `requests_per_target`, or both".into());
    }
    Ok(())
}

/// Longest routing config SSM holds (the advanced parameter tier; the standard tier holds 4096).
pub const MAX_CONFIG_LEN: usize = 8192;

fn parse(text: &str, shown: &str) -> Result<AppFile, AppFileError> {
    toml::from_str(text).map_err(|e| AppFileError {
        file: shown.to_string(),
        message: in_toml_words(e.to_string().trim_end()),
    })
}

/// serde's Rust words for a type (`expected i64`, `expected struct HealthCheckSpec`) said as what
/// to write in TOML instead. Only the message is rewritten, not the echoed line of the file
/// above it (the lines up to the last one of `|`).
fn in_toml_words(message: &str) -> String {
    const WHOLE_NUMBER: &str = "expected a whole number, 0 or more, without quotes (like 30)";
    const WORDS: &[(&str, &str)] = &[
        ("expected u8", WHOLE_NUMBER),
        ("expected u16", WHOLE_NUMBER),
        ("expected u32", WHOLE_NUMBER),
        ("expected u64", WHOLE_NUMBER),
        ("expected usize", WHOLE_NUMBER),
        ("expected i32", "expected a whole number without quotes (like 30)"),
        ("expected i64", "expected a whole number without quotes (like 30)"),
        ("expected f64", "expected a number without quotes (like 70 or 70.5)"),
        ("expected a boolean", "expected true or false, without quotes"),
        ("expected a string", "expected text in quotes (like \"web\")"),
        (
            "expected a sequence",
            "expected a list in brackets (like [\"a\", \"b\"])",
        ),
        (
            "expected a map",
            "expected a table (like { KEY = \"value\" }, or a [section] of its own)",
        ),
    ];
    let lines: Vec<&str> = message.lines().collect();
    let body_from = lines
        .iter()
        .rposition(|l| l.trim_start().starts_with('|'))
        .map_or(0, |i| i + 1);
    let mut text = lines[body_from..].join("\n");
    for (rust, toml) in WORDS {
        text = replace_words(&text, rust, toml);
    }
    while let Some(at) = text.find("expected struct ") {
        let rest = &text[at + "expected struct ".len()..];
        let name_len = rest.find(|c: char| !c.is_alphanumeric()).unwrap_or(rest.len());
        text.replace_range(
            at..at + "expected struct ".len() + name_len,
            "expected a table of settings (a [section] with `key = value` lines, see `pushdeploy init`)",
        );
    }
    let mut out: Vec<String> = lines[..body_from].iter().map(|l| l.to_string()).collect();
    out.push(text);
    out.join("\n")
}

/// `text` with every `word` (not followed by a letter or digit) replaced by `with`.
fn replace_words(text: &str, word: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let end = at + word.len();
        let whole = rest[end..].chars().next().is_none_or(|c| !c.is_alphanumeric());
        out.push_str(&rest[..at]);
        out.push_str(if whole { with } else { word });
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Line (1-based) of `key = ...`, in the `nth` `[[services]]` table when given.
fn line_of(text: &str, key: &str, nth_service: Option<usize>) -> Option<usize> {
    let mut table = None::<usize>;
    let mut count = 0;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with("[[services]]") {
            table = Some(count);
            count += 1;
            continue;
        }
        let in_scope = match nth_service {
            Some(n) => table == Some(n),
            None => table.is_none(),
        };
        if in_scope && trimmed.split('=').next().map(str::trim) == Some(key) {
            return Some(i + 1);
        }
    }
    None
}

/// Whether `name` can name an app (it names load balancers and target groups).
pub fn check_app_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 20
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "{name:?} is not a valid app name: 1 to 20 lowercase letters, digits and `-` (it names load balancers, which allow 32 characters)"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(format!("{name:?} may not start or end with `-`"));
    }
    Ok(())
}

fn custom<E: serde::de::Error>(message: String) -> E {
    E::custom(message)
}

fn app_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let name = String::deserialize(d)?;
    check_app_name(&name).map_err(custom)?;
    Ok(Some(name))
}

fn ecs_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let name = String::deserialize(d)?;
    // It also ends target group names, which may not end with `-` (ELBv2 API reference).
    if name.is_empty()
        || name.len() > 24
        || name.starts_with('-')
        || name.ends_with('-')
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(custom(format!(
            "{name:?} is not a valid service name: 1 to 24 lowercase letters, digits and `-`, not starting or ending with `-` (it ends the target group name)"
        )));
    }
    Ok(name)
}

fn repository<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let repo = String::deserialize(d)?;
    if !is_repository_name(&repo) || repo.len() > pushdeploy::config::MAX_REPOSITORY_LEN {
        return Err(custom(format!(
            "{repo:?} is not an ECR repository name: 2 to {} characters, path parts of lowercase letters and digits joined by `.`, `_`, `__` or `-`, separated by `/`",
            pushdeploy::config::MAX_REPOSITORY_LEN
        )));
    }
    Ok(Some(repo))
}

fn container_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let name = String::deserialize(d)?;
    // ECS API reference, ContainerDefinition.name.
    if name.is_empty() || name.len() > 255 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) {
        return Err(custom(format!(
            "{name:?} is not a container name: 1 to 255 letters, digits, `-` and `_`"
        )));
    }
    Ok(Some(name))
}

fn region<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let region = String::deserialize(d)?;
    check_region(&region).map_err(custom)?;
    Ok(Some(region))
}

/// Whether `region` has the shape of an AWS Region name (`eu-west-1`, `us-gov-east-1`).
pub fn check_region(region: &str) -> Result<(), String> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok();
    if ok {
        Ok(())
    } else {
        Err(format!("{region:?} is not an AWS region (like eu-west-1)"))
    }
}

fn instance_type<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let t = String::deserialize(d)?;
    let ok = t.split_once('.').is_some_and(|(family, size)| {
        !family.is_empty()
            && !size.is_empty()
            && format!("{family}{size}")
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    if !ok {
        return Err(custom(format!("{t:?} is not an EC2 instance type (like t3.small)")));
    }
    Ok(t)
}

fn aws_id(value: &str, prefix: &str) -> bool {
    value
        .strip_prefix(prefix)
        .is_some_and(|hex| (8..=17).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn vpc_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let id = String::deserialize(d)?;
    if !aws_id(&id, "vpc-") {
        return Err(custom(format!("{id:?} is not a VPC id (vpc- and hex digits)")));
    }
    Ok(Some(id))
}

fn subnet_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let ids = Vec::<String>::deserialize(d)?;
    if let Some(bad) = ids.iter().find(|id| !aws_id(id, "subnet-")) {
        return Err(custom(format!("{bad:?} is not a subnet id (subnet- and hex digits)")));
    }
    Ok(ids)
}

fn path_pattern<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let path = String::deserialize(d)?;
    // ELBv2 API reference, PathPatternConditionConfig: up to 128 characters; `*` and `?` wildcards.
    let ok = path.starts_with('/')
        && path.len() <= 128
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.$/~\"'@:+&*?".contains(&b));
    if !ok {
        return Err(custom(format!(
            "{path:?} is not a path pattern: starts with `/`, at most 128 characters of letters, digits and _-.$/~\"'@:+&*?"
        )));
    }
    Ok(Some(path))
}

fn host_header<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let host = String::deserialize(d)?;
    // ELBv2 API reference, HostHeaderConditionConfig: up to 128 characters, `*` and `?` wildcards.
    let ok = !host.is_empty()
        && host.len() <= 128
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.*?".contains(&b));
    if !ok {
        return Err(custom(format!(
            "{host:?} is not a host name pattern: at most 128 letters, digits, `-`, `.`, `*` and `?`"
        )));
    }
    Ok(Some(host.to_ascii_lowercase()))
}

fn placeholder_image<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let image = String::deserialize(d)?;
    ImageRef::parse(&image).map_err(|e| custom(e.to_string()))?;
    Ok(Some(image))
}

fn deregistration_delay<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let seconds = i64::deserialize(d)?;
    // ELBv2 API reference, TargetGroupAttribute: deregistration_delay.timeout_seconds, 0-3600.
    u32::try_from(seconds).ok().filter(|s| *s <= 3600).ok_or_else(|| {
        custom(format!(
            "deregistration_delay {seconds} is not between 0 and 3600 seconds"
        ))
    })
}

fn port<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let port = i64::deserialize(d)?;
    u16::try_from(port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| custom(format!("port {port} is not between 1 and 65535")))
}

fn test_port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    port(d).map(Some)
}

fn memory<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let mib = i64::deserialize(d)?;
    u32::try_from(mib)
        .ok()
        .filter(|m| *m >= 6)
        .ok_or_else(|| custom(format!("memory {mib} MiB: ECS needs at least 6 MiB")))
}

fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = i64::deserialize(d)?;
    u32::try_from(n)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| custom(format!("{n} must be at least 1")))
}

fn health_path<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let path = String::deserialize(d)?;
    if !path.starts_with('/') {
        return Err(custom(format!("{path:?} must start with `/`")));
    }
    Ok(path)
}

fn certificate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let arn = String::deserialize(d)?;
    if !arn.starts_with("arn:") || !arn.contains(":acm:") {
        return Err(custom(format!("{arn:?} is not an ACM certificate ARN")));
    }
    Ok(Some(arn))
}

fn globs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let patterns = Vec::<String>::deserialize(d)?;
    for p in &patterns {
        pushdeploy::tag_pattern::TagPattern::new(p).map_err(|e| custom(e.to_string()))?;
    }
    Ok(patterns)
}

/// The retention values CloudWatch Logs accepts (API reference, `PutRetentionPolicy`).
pub const RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

fn retention_days<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let days = i64::deserialize(d)?;
    u32::try_from(days)
        .ok()
        .filter(|d| RETENTION_DAYS.contains(d))
        .ok_or_else(|| {
            custom(format!(
                "log_retention_days {days} is not one CloudWatch Logs accepts: one of {RETENTION_DAYS:?}"
            ))
        })
}

/// A POSIX-style variable name: what every shell and runtime reads back.
fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn environment<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let vars = BTreeMap::<String, String>::deserialize(d)?;
    if let Some(bad) = vars.keys().find(|k| !is_variable_name(k)) {
        return Err(custom(format!(
            "{bad:?} is not an environment variable name: a letter or `_`, then letters, digits and `_`"
        )));
    }
    Ok(vars)
}

fn secrets<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let secrets = BTreeMap::<String, String>::deserialize(d)?;
    if let Some(bad) = secrets.keys().find(|k| !is_variable_name(k)) {
        return Err(custom(format!(
            "{bad:?} is not an environment variable name: a letter or `_`, then letters, digits and `_`"
        )));
    }
    if let Some((name, bad)) = secrets.iter().find(|(_, v)| !is_secret_arn(v)) {
        return Err(custom(format!(
            "secret {name} = {bad:?} is not the full ARN of an SSM parameter (arn:aws:ssm:<region>:<account>:parameter/<name>) or of a Secrets Manager secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>): the execution role is granted exactly that ARN"
        )));
    }
    Ok(secrets)
}

fn kms_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let key = String::deserialize(d)?;
    if !is_arn(&key, "kms", "key/", false) {
        return Err(custom(format!(
            "{key:?} is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>); an alias cannot be granted kms:Decrypt"
        )));
    }
    Ok(Some(key))
}

/// IAM's most managed policies on one role (its quota; the default is 10).
pub const MAX_ROLE_POLICIES: usize = 20;

fn policy_arns<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let arns = Vec::<String>::deserialize(d)?;
    if let Some(bad) = arns.iter().find(|a| !is_arn(a, "iam", "policy/", true)) {
        return Err(custom(format!(
            "{bad:?} is not a managed policy ARN (arn:aws:iam::aws:policy/<name> or arn:aws:iam::<account>:policy/<name>)"
        )));
    }
    if let Some(twice) = arns.iter().enumerate().find(|(i, a)| arns[..*i].contains(a)) {
        return Err(custom(format!("policy {:?} is listed twice", twice.1)));
    }
    if arns.len() > MAX_ROLE_POLICIES {
        return Err(custom(format!(
            "{} policies: IAM attaches at most {MAX_ROLE_POLICIES} managed policies to a role (10 unless the quota was raised)",
            arns.len()
        )));
    }
    Ok(arns)
}

fn max_count<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    in_range(d, "autoscaling max_count", 1, MAX_TASKS)
}

fn cpu_target<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    in_range(d, "autoscaling cpu_target", 1, 100).map(Some)
}

fn requests_per_target<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    in_range(d, "autoscaling requests_per_target", 1, 1_000_000).map(Some)
}

fn command<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let command = Vec::<String>::deserialize(d)?;
    if command.first().is_some_and(String::is_empty) {
        return Err(custom("the command's first word (the program) is empty".into()));
    }
    Ok(command)
}

/// A string is a shell command (`CMD-SHELL`); a list is the exec form and starts with `CMD` or
/// `CMD-SHELL`, as ECS requires.
fn health_command<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Shell(String),
        Exec(Vec<String>),
    }
    let command = match Form::deserialize(d)? {
        Form::Shell(line) => vec!["CMD-SHELL".to_string(), line],
        Form::Exec(words) => words,
    };
    let ok = matches!(command.first().map(String::as_str), Some("CMD" | "CMD-SHELL"))
        && command.len() >= 2
        && command[1..].iter().any(|w| !w.trim().is_empty());
    if !ok {
        return Err(custom(format!(
            "health check command {command:?}: give a shell command as a string, or a list starting with \"CMD\" or \"CMD-SHELL\" and then the command"
        )));
    }
    Ok(command)
}

fn in_range<'de, D: Deserializer<'de>>(d: D, what: &str, low: u32, high: u32) -> Result<u32, D::Error> {
    let n = i64::deserialize(d)?;
    u32::try_from(n)
        .ok()
        .filter(|n| (low..=high).contains(n))
        .ok_or_else(|| custom(format!("{what} {n} is not between {low} and {high}")))
}

fn max_5xx<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    in_range(d, "deployment max_5xx_per_minute", 0, 100_000)
}

fn max_unhealthy<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    in_range(d, "deployment max_unhealthy_tasks", 0, MAX_TASKS)
}

/// Most alarms of your own a service's deployments watch (pushdeploy's limit: ECS documents
/// none; a deployment is failed by any one of them).
pub const MAX_OWN_ALARMS: usize = 10;

fn bake_minutes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    // ECS API reference, DeploymentConfiguration / CanaryConfiguration / LinearConfiguration.
    in_range(d, "bake time (minutes)", 0, 1440).map(Some)
}

/// A number in steps of 0.1 between `low` and `high` tenths (ECS API reference,
/// CanaryConfiguration.canaryPercent and LinearConfiguration.stepPercent).
fn percent<'de, D: Deserializer<'de>>(d: D, what: &str, low: u32, high: u32) -> Result<Option<Percent>, D::Error> {
    let n = f64::deserialize(d)?;
    let tenths = (n * 10.0).round();
    let range = format!("{} to {}", Percent(low), Percent(high));
    if (n * 10.0 - tenths).abs() > 1e-6 {
        return Err(custom(format!("{what} {n} is not a multiple of 0.1 ({range})")));
    }
    if !(f64::from(low)..=f64::from(high)).contains(&tenths) {
        return Err(custom(format!("{what} {n} is not between {range}")));
    }
    Ok(Some(Percent(tenths as u32)))
}

fn canary_percent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Percent>, D::Error> {
    percent(d, "canary_percent", 1, 1000)
}

fn step_percent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Percent>, D::Error> {
    percent(d, "step_percent", 30, 1000)
}

fn alarm_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    if names.len() > MAX_OWN_ALARMS {
        return Err(custom(format!("at most {MAX_OWN_ALARMS} alarms, not {}", names.len())));
    }
    // CloudWatch API reference, PutMetricAlarm: AlarmName is 1-255 UTF-8 characters, no ASCII
    // control characters.
    if let Some(bad) = names
        .iter()
        .find(|n| n.is_empty() || n.chars().count() > 255 || n.chars().any(|c| c.is_ascii_control()))
    {
        return Err(custom(format!(
            "{bad:?} is not a CloudWatch alarm name: 1 to 255 characters, no control characters"
        )));
    }
    Ok(names)
}

fn interval<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    in_range(d, "health check interval", 5, 300)
}

fn check_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    in_range(d, "health check timeout", 2, 60)
}

fn retries<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    in_range(d, "health check retries", 1, 10)
}

fn start_period<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    in_range(d, "health check start_period", 0, 300)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam_policy::secret_resource;

    fn load(text: &str) -> Result<App, AppFileError> {
        let file = parse(text, "pushdeploy.toml")?;
        App::resolve(file, None, "pushdeploy.toml", Some(text))
    }

    #[test]
    fn no_file_means_one_web_service_on_port_80() {
        let app = App::resolve(AppFile::default(), Some("demo"), "defaults", None).unwrap();
        let services = app.services();
        assert_eq!(services.len(), 1);
        assert_eq!((services[0].spec.name.as_str(), services[0].spec.port), ("web", 80));
        assert_eq!(services[0].repository, "demo/web");
        assert_eq!(services[0].container, "web");
    }

    #[test]
    fn the_starter_file_is_valid_and_equals_the_defaults() {
        let app = load(STARTER).unwrap();
        assert_eq!(app.file, AppFile::default());
        assert_eq!(app.name, "demo");
    }

    #[test]
    fn a_wrong_type_is_said_in_toml_words_not_rust_types() {
        let err = load("min_instances = \"two\"\n").unwrap_err().to_string();
        assert!(
            err.contains("expected a whole number, 0 or more, without quotes"),
            "{err}"
        );
        assert!(!err.contains("u32"), "{err}");
        let err = load("[[services]]\nname = \"web\"\nhealth_check = \"yes\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected a table of settings") && !err.contains("HealthCheckSpec"),
            "{err}"
        );
        let err = load("subnets = \"subnet-1\"\n").unwrap_err().to_string();
        assert!(err.contains("expected a list in brackets"), "{err}");
        assert_eq!(in_toml_words("expected u32x"), "expected u32x");
        // The echoed line of the file is left as written.
        let echoed = "TOML parse error\n  |\n1 | x = \"expected u32\"\n  |     ^^^\ninvalid type: expected u32";
        let said = in_toml_words(echoed);
        assert!(
            said.contains("1 | x = \"expected u32\"") && said.ends_with("without quotes (like 30)"),
            "{said}"
        );
    }

    #[test]
    fn a_rule_across_fields_names_the_line_of_each() {
        let err = load("min_instances = 3\ndesired_instances = 2\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2, field `desired_instances`")
                && err.contains("`min_instances` on line 1")
                && err.contains("`max_instances` (the default)"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_field_is_named_with_its_line() {
        let err = load("name = \"shop\"\ninstance_typ = \"t3.micro\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("instance_typ"), "{err}");
    }

    #[test]
    fn a_bad_value_is_named_with_its_line() {
        let err = load("[[services]]\nname = \"web\"\nport = 70000\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains("70000"), "{err}");
        let err = load("[[services]]\nname = \"web\"\nmemory = \"lots\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
        let err = load("name = \"Shop_1\"\n").unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("not a valid app name"), "{err}");
    }

    #[test]
    fn cross_field_problems_name_the_line_and_field() {
        let err = load("min_instances = 3\ndesired_instances = 2\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2, field `desired_instances`"), "{err}");
        let err = load("[[services]]\nname = \"web\"\n[[services]]\nname = \"api\"\nport = 8080\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("field `path`") && err.contains("api"), "{err}");
        let err = load("[[services]]\nname = \"web\"\n[[services]]\nname = \"web\"\npath = \"/x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 4, field `name`") && err.contains("twice"), "{err}");
    }

    #[test]
    fn strategies_take_their_settings_within_what_ecs_accepts_and_default_to_ecs_own() {
        let base = "[[services]]\nname = \"web\"\n[services.deployment]\n";
        let shift = |extra: &str| {
            let file = load(&format!("{base}{extra}")).unwrap_or_else(|e| panic!("{extra}: {e}"));
            file.file.services[0].deployment.shift()
        };
        assert_eq!(shift(""), Shift::Rolling);
        assert_eq!(
            shift("strategy = \"canary\"\ncanary_percent = 12.5\n"),
            Shift::Canary {
                percent: Percent(125),
                canary_bake: 10,
                bake: DEFAULT_BAKE_MINUTES
            }
        );
        assert_eq!(
            shift("strategy = \"linear\"\nstep_percent = 20\nstep_bake_minutes = 0\nbake_minutes = 1440\n"),
            Shift::Linear {
                step: Percent(200),
                step_bake: 0,
                bake: 1440
            }
        );
        assert_eq!(shift("strategy = \"blue-green\"\n"), Shift::BlueGreen { bake: 5 });
        assert_eq!(Percent(125).to_string(), "12.5%");
        let refused = [
            (
                "strategy = \"canary\"\ncanary_percent = 0.05\n",
                "line 5",
                "not a multiple of 0.1",
            ),
            (
                "strategy = \"canary\"\ncanary_percent = 100.1\n",
                "line 5",
                "between 0.1% to 100%",
            ),
            (
                "strategy = \"linear\"\nstep_percent = 2.9\n",
                "line 5",
                "between 3% to 100%",
            ),
            (
                "strategy = \"canary\"\nbake_minutes = 1441\n",
                "line 5",
                "between 0 and 1440",
            ),
            ("strategy = \"cannary\"\n", "line 4", "blue-green"),
            (
                "strategy = \"linear\"\ncanary_percent = 10\n",
                "line 5, field `canary_percent`",
                "applies to strategy = \"canary\", not \"linear\"",
            ),
            ("bake_minutes = 3\n", "field `bake_minutes`", "not \"rolling\""),
            (
                "approve_before_production = true\n",
                "field `approve_before_production`",
                "not \"rolling\"",
            ),
            ("test_port = 8080\n", "line 4, field `test_port`", "not \"rolling\""),
            (
                "strategy = \"canary\"\ntest_port = 443\n",
                "line 5, field `test_port`",
                "a production listener's port",
            ),
            (
                "strategy = \"canary\"\ntest_port = 0\n",
                "line 5",
                "between 1 and 65535",
            ),
        ];
        for (extra, line, words) in refused {
            let err = load(&format!("{base}{extra}")).unwrap_err().to_string();
            assert!(err.contains(line) && err.contains(words), "{extra}: {err}");
        }
        let staged = "[services.deployment]\nstrategy = \"blue-green\"\ntest_port = 8080\n";
        let two = format!(
            "{base}strategy = \"canary\"\ntest_port = 8080\n[[services]]\nname = \"api\"\npath = \"/api\"\n{staged}"
        );
        let err = load(&two).unwrap_err().to_string();
        assert!(
            err.contains("line 11, field `test_port`") && err.contains("\"web\"'s test listener"),
            "{err}"
        );
        let ok = load(&format!("[[services]]\nname = \"web\"\n{staged}")).unwrap();
        assert_eq!(ok.file.services[0].deployment.test_port, Some(8080));
    }

    #[test]
    fn a_fargate_service_takes_a_size_fargate_offers() {
        let file = |size: &str| format!("[[services]]\nname = \"web\"\ncapacity = \"fargate\"\n{size}");
        let fargate = load(&file("cpu = 512\nmemory = 2048\n")).unwrap();
        assert!(fargate.file.services[0].is_awsvpc());
        assert_eq!(fargate.file.services[0].capacity.fargate_provider(), Some("FARGATE"));
        let err = load(&file("memory = 4096\n")).unwrap_err().to_string();
        assert!(
            err.contains("field `cpu`") && err.contains("256 CPU units 512, 1024, 2048 MiB of memory, not 4096"),
            "{err}"
        );
        let err = load(&file("cpu = 300\n")).unwrap_err().to_string();
        assert!(err.contains("not 300"), "{err}");
        let err = load("[[services]]\nname = \"web\"\ncapacity = \"lambda\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains("fargate-spot"), "{err}");
    }

    #[test]
    fn names_aws_refuses_are_rejected_with_their_line_and_field() {
        let cases = [
            ("[[services]]\nname = \"web-\"\n", "line 2", "name"),
            ("[[services]]\nname = \"-web\"\n", "line 2", "name"),
            (
                "[[services]]\nname = \"web\"\nrepository = \"a\"\n",
                "line 3",
                "repository",
            ),
            (
                "[[services]]\nname = \"web\"\nrepository = \"shop//web\"\n",
                "line 3",
                "repository",
            ),
            (
                "[[services]]\nname = \"web\"\nrepository = \"shop/web-\"\n",
                "line 3",
                "repository",
            ),
            (
                "[[services]]\nname = \"web\"\nrepository = \"shop/a..b\"\n",
                "line 3",
                "repository",
            ),
            (
                "[[services]]\nname = \"web\"\ncontainer = \"we b\"\n",
                "line 3",
                "container",
            ),
            (
                "[[services]]\nname = \"web\"\nimage = \"not an image\"\n",
                "line 3",
                "image",
            ),
            (
                "[[services]]\nname = \"web\"\nderegistration_delay = 4000\n",
                "line 3",
                "deregistration_delay",
            ),
            ("region = \"Europe\"\n", "line 1", "region"),
            ("instance_type = \"t3\"\n", "line 1", "instance_type"),
            ("vpc_id = \"vpc_1\"\n", "line 1", "vpc_id"),
            (
                "subnets = [\"subnet-0123456789abcdef0\", \"sub-1\"]\n",
                "line 1",
                "subnets",
            ),
            (
                "[[services]]\nname = \"web\"\n[[services]]\nname = \"api\"\npath = \"api/*\"\n",
                "line 5",
                "path",
            ),
        ];
        for (text, line, field) in cases {
            let err = load(text).unwrap_err().to_string();
            assert!(err.contains(line) && err.contains(field), "{text:?}: {err}");
        }
    }

    #[test]
    fn secrets_task_role_policies_and_autoscaling_are_read_and_checked() {
        let app = load(concat!(
            "[[services]]\nname = \"web\"\ndesired_count = 9\n",
            "secrets = { DB = \"arn:aws:ssm:eu-west-1:123456789012:parameter/shop/db\", ",
            "API = \"arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/api-AbCdEf:token::\" }\n",
            "secrets_kms_key = \"arn:aws:kms:eu-west-1:123456789012:key/k-1\"\n",
            "task_role_policies = [\"arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess\", \"arn:aws-cn:iam::123456789012:policy/team/q\"]\n",
            "[services.autoscaling]\nmin_count = 2\nmax_count = 6\ncpu_target = 60\n",
        ))
        .unwrap();
        let web = &app.services()[0].spec;
        assert_eq!(web.secrets.len(), 2);
        assert_eq!(web.task_role_policies.len(), 2);
        assert_eq!(
            web.autoscaling,
            Some(AutoscalingSpec {
                min_count: 2,
                max_count: 6,
                cpu_target: Some(60),
                requests_per_target: None,
            })
        );
        assert_eq!(
            secret_resource("arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/api-AbCdEf:token::"),
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/api-AbCdEf"
        );
        assert_eq!(
            secret_resource("arn:aws:ssm:eu-west-1:123456789012:parameter/a:b"),
            "arn:aws:ssm:eu-west-1:123456789012:parameter/a:b"
        );
        let web = "[[services]]\nname = \"web\"\n";
        let cases = [
            ("secrets = { DB = \"/shop/db\" }\n", "is not the full ARN"),
            ("secrets = { DB = \"arn:aws:ssm:eu-west-1:123:parameter/db\" }\n", "is not the full ARN"),
            ("secrets = { DB = \"arn:aws:ssm::123456789012:parameter/db\" }\n", "is not the full ARN"),
            ("secrets = { DB = \"arn:aws:s3:eu-west-1:123456789012:parameter/db\" }\n", "is not the full ARN"),
            ("secrets = { DB = \"arn:aws:ssm:eu-west-1:123456789012:parameter/\" }\n", "is not the full ARN"),
            ("secrets = { \"A-B\" = \"arn:aws:ssm:eu-west-1:123456789012:parameter/db\" }\n", "not an environment variable name"),
            (
                "environment = { DB = \"x\" }\nsecrets = { DB = \"arn:aws:ssm:eu-west-1:123456789012:parameter/db\" }\n",
                "\"DB\" is both in `environment` and in `secrets`",
            ),
            ("secrets_kms_key = \"alias/shop\"\n", "an alias cannot be granted"),
            ("task_role_policies = [\"AmazonS3ReadOnlyAccess\"]\n", "is not a managed policy ARN"),
            ("task_role_policies = [\"arn:aws:iam:us-east-1:aws:policy/X\"]\n", "is not a managed policy ARN"),
            ("task_role_policies = [\"arn:aws:iam::aws:role/X\"]\n", "is not a managed policy ARN"),
            (
                "task_role_policies = [\"arn:aws:iam::aws:policy/X\", \"arn:aws:iam::aws:policy/X\"]\n",
                "listed twice",
            ),
            ("[services.autoscaling]\nmin_count = 3\nmax_count = 2\ncpu_target = 50\n", "min_count <= max_count"),
            ("[services.autoscaling]\nmin_count = 1\nmax_count = 2\n", "needs what to track"),
            ("[services.autoscaling]\nmin_count = 0\nmax_count = 0\ncpu_target = 50\n", "max_count 0 is not between 1 and 5000"),
            ("[services.autoscaling]\nmin_count = 1\nmax_count = 2\ncpu_target = 101\n", "cpu_target 101"),
            ("[services.autoscaling]\nmin_count = 1\nmax_count = 2\nrequests_per_target = 0\n", "requests_per_target 0"),
            ("[services.autoscaling]\nmin_count = 1\nmax = 2\n", "unknown field `max`"),
        ];
        for (tail, expected) in cases {
            let text = format!("{web}{tail}");
            let err = load(&text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
        let many: Vec<String> = (0..=MAX_ROLE_POLICIES)
            .map(|i| format!("\"arn:aws:iam::aws:policy/P{i}\""))
            .collect();
        let err = load(&format!("{web}task_role_policies = [{}]\n", many.join(", ")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 20 managed policies"), "{err}");
        let huge: Vec<String> = (0..200)
            .map(|i| format!("S{i} = \"arn:aws:ssm:eu-west-1:123456789012:parameter/shop/a-long-parameter-name-{i}\""))
            .collect();
        let err = load(&format!("{web}secrets = {{ {} }}\n", huge.join(", ")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("over the 10240 IAM allows"), "{err}");
    }

    #[test]
    fn environment_command_health_check_and_retention_are_read_and_checked() {
        let app = load(
            "log_retention_days = 14\n[[services]]\nname = \"web\"\nenvironment = { LOG_LEVEL = \"info\", _X1 = \"\" }\ncommand = [\"serve\", \"--port=80\"]\n[services.health_check]\ncommand = \"curl -f localhost || exit 1\"\nretries = 5\n",
        )
        .unwrap();
        let web = &app.services()[0].spec;
        assert_eq!(app.file.log_retention_days, 14);
        assert_eq!(web.environment.get("LOG_LEVEL").map(String::as_str), Some("info"));
        assert_eq!(web.command, ["serve", "--port=80"]);
        assert_eq!(
            web.health_check,
            Some(HealthCheckSpec {
                command: vec!["CMD-SHELL".into(), "curl -f localhost || exit 1".into()],
                interval: 30,
                timeout: 5,
                retries: 5,
                start_period: 0,
            })
        );
        let exec = load("[[services]]\nname = \"web\"\n[services.health_check]\ncommand = [\"CMD\", \"/bin/check\"]\n")
            .unwrap();
        assert_eq!(
            exec.services()[0].spec.health_check.as_ref().map(|h| h.command.clone()),
            Some(vec!["CMD".to_string(), "/bin/check".to_string()])
        );
        let cases = [
            ("log_retention_days = 10\n", "log_retention_days 10"),
            ("log_retention_days = 0\n", "log_retention_days 0"),
            (
                "[[services]]\nname = \"web\"\nenvironment = { \"1A\" = \"x\" }\n",
                "\"1A\" is not an environment variable name",
            ),
            (
                "[[services]]\nname = \"web\"\nenvironment = { \"A-B\" = \"x\" }\n",
                "not an environment variable name",
            ),
            ("[[services]]\nname = \"web\"\nenvironment = { A = 1 }\n", "line 3"),
            ("[[services]]\nname = \"web\"\ncommand = [\"\", \"x\"]\n", "first word"),
            (
                "[[services]]\nname = \"web\"\n[services.health_check]\ninterval = 30\n",
                "missing field `command`",
            ),
            (
                "[[services]]\nname = \"web\"\n[services.health_check]\ncommand = [\"curl\", \"x\"]\n",
                "starting with \"CMD\"",
            ),
            (
                "[[services]]\nname = \"web\"\n[services.health_check]\ncommand = [\"CMD-SHELL\"]\n",
                "CMD-SHELL",
            ),
            (
                "[[services]]\nname = \"web\"\n[services.health_check]\ncommand = \"  \"\n",
                "health check command",
            ),
            (
                "[[services]]\nname = \"web\"\n[services.health_check]\ncommand = \"x\"\ninterval = 4\n",
                "interval 4 is not between 5 and 300",
            ),
            (
                "[[services]]\nname = \"web\"\n[services.health_check]\ncommand = \"x\"\ntimeout = 61\n",
                "timeout 61 is not between 2 and 60",
            ),
            (
                "[[services]]\nname = \"web\"\n[services.health_check]\ncommand = \"x\"\nretries = 0\n",
                "retries 0 is not between 1 and 10",
            ),
            (
                "[[services]]\nname = \"web\"\n[services.health_check]\ncommand = \"x\"\nstart_period = 301\n",
                "start_period 301",
            ),
            (
                "[[services]]\nname = \"web\"\n[services.health_check]\ncommand = \"x\"\nretry = 2\n",
                "unknown field `retry`",
            ),
        ];
        for (text, words) in cases {
            let err = load(text).unwrap_err().to_string();
            assert!(err.contains(words), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_second_service_may_route_on_host_and_path_together() {
        let app = load("[[services]]\nname = \"web\"\n[[services]]\nname = \"api\"\nhost = \"api.example.com\"\npath = \"/v1/*\"\n").unwrap();
        let api = &app.services()[1].spec;
        assert_eq!(
            (api.host.as_deref(), api.path.as_deref()),
            (Some("api.example.com"), Some("/v1/*"))
        );
    }

    #[test]
    fn a_routing_config_too_large_for_ssm_is_rejected_before_any_call() {
        let mut text = String::new();
        for i in 0..40 {
            let tags: Vec<String> = (0..12).map(|t| format!("\"release-{t}-*\"")).collect();
            text.push_str(&format!(
                "[[services]]\nname = \"service-{i}\"\npath = \"/s{i}/*\"\ntags = [{}]\n",
                tags.join(", ")
            ));
        }
        let err = load(&text).unwrap_err().to_string();
        assert!(err.contains("routing config would be") && err.contains("8192"), "{err}");
    }

    #[test]
    fn the_flag_and_the_file_must_agree_on_the_app() {
        let file = parse("name = \"shop\"\n", "f").unwrap();
        assert!(App::resolve(file.clone(), Some("other"), "f", None).is_err());
        assert_eq!(App::resolve(file, Some("shop"), "f", None).unwrap().name, "shop");
    }
}
