//! `pushdeploy.toml`: the app file. Every field has a default, so no file at all means one
//! service `web` on port 80. Errors name the line and the field.

use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

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
# Tag filter: glob patterns a pushed tag must match to redeploy; none = every push.
# tags = ["v*", "latest"]
# Listener routing for a second and later service: a path pattern or a host name.
# path = "/api/*"
# host = "api.example.com"
# Image for the first task definition while the repository is still empty.
# image = "public.ecr.aws/nginx/nginx:stable"
scan_on_push = true
immutable_tags = false
"#;

/// The app file, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppFile {
    /// App name.
    #[serde(deserialize_with = "app_name")]
    pub name: Option<String>,
    /// AWS region.
    pub region: Option<String>,
    /// EC2 instance type of the cluster's instances.
    pub instance_type: String,
    /// Auto Scaling group minimum.
    pub min_instances: u32,
    /// Auto Scaling group desired capacity.
    pub desired_instances: u32,
    /// Auto Scaling group maximum.
    #[serde(deserialize_with = "at_least_one")]
    pub max_instances: u32,
    /// VPC; default the default VPC.
    pub vpc_id: Option<String>,
    /// Subnets; default the VPC's default subnets.
    pub subnets: Vec<String>,
    /// ACM certificate for HTTPS.
    #[serde(deserialize_with = "certificate")]
    pub certificate_arn: Option<String>,
    /// Container Insights.
    pub container_insights: bool,
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
    /// Listener path pattern.
    pub path: Option<String>,
    /// Listener host header.
    pub host: Option<String>,
    /// Placeholder image while the repository is empty.
    pub image: Option<String>,
    /// ECR scan on push.
    pub scan_on_push: bool,
    /// ECR immutable tags.
    pub immutable_tags: bool,
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
            path: None,
            host: None,
            image: None,
            scan_on_push: true,
            immutable_tags: false,
        }
    }
}

/// A bad app file: where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct AppFileError {
    /// The file (or "defaults").
    pub file: String,
    /// Line, field and problem.
    pub message: String,
}

/// The app with every default resolved: what `up` provisions.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    /// App name.
    pub name: String,
    /// The file's settings.
    pub file: AppFile,
}

/// A service with its defaults resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
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
        let fail = |key: &str, nth_service: Option<usize>, message: String| AppFileError {
            file: shown.to_string(),
            message: match text.and_then(|t| line_of(t, key, nth_service)) {
                Some(line) => format!("line {line}, field `{key}`: {message}"),
                None => format!("field `{key}`: {message}"),
            },
        };
        let name = match (app_flag, &file.name) {
            (Some(flag), Some(name)) if flag != name => {
                return Err(fail(
                    "name",
                    None,
                    format!("the file is for app {name:?}, but --app is {flag:?}"),
                ))
            }
            (Some(flag), _) => flag.to_string(),
            (None, Some(name)) => name.clone(),
            (None, None) => "demo".to_string(),
        };
        check_app_name(&name).map_err(|m| fail("name", None, m))?;
        if !(file.min_instances <= file.desired_instances && file.desired_instances <= file.max_instances) {
            return Err(fail(
                "desired_instances",
                None,
                format!(
                    "need min_instances <= desired_instances <= max_instances, got {} <= {} <= {}",
                    file.min_instances, file.desired_instances, file.max_instances
                ),
            ));
        }
        if file.services.is_empty() {
            return Err(fail("services", None, "an app needs at least one [[services]]".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, s) in file.services.iter().enumerate() {
            if !seen.insert(&s.name) {
                return Err(fail("name", Some(i), format!("service {:?} appears twice", s.name)));
            }
            let tg = target_group_name(&name, &s.name);
            if tg.len() > 32 {
                return Err(fail(
                    "name",
                    Some(i),
                    format!("target group name {tg:?} is longer than 32 characters: shorten the app or service name"),
                ));
            }
            if i > 0 && s.path.is_none() && s.host.is_none() {
                return Err(fail(
                    "path",
                    Some(i),
                    format!(
                        "service {:?} needs `path` or `host`: the first service takes the listener's default route",
                        s.name
                    ),
                ));
            }
            if s.cpu == 0 {
                return Err(fail("cpu", Some(i), "must be at least 1".into()));
            }
        }
        Ok(App { name, file })
    }

    /// The services with defaults resolved.
    pub fn services(&self) -> Vec<Service> {
        self.file
            .services
            .iter()
            .map(|s| Service {
                repository: s
                    .repository
                    .clone()
                    .unwrap_or_else(|| format!("{}/{}", self.name, s.name)),
                container: s.container.clone().unwrap_or_else(|| s.name.clone()),
                spec: s.clone(),
            })
            .collect()
    }

    /// ECS cluster name.
    pub fn cluster(&self) -> String {
        self.name.clone()
    }

    /// The prefix of every other resource name.
    pub fn prefix(&self) -> String {
        format!("pushdeploy-{}", self.name)
    }
}

/// Target group name of a service (32 characters at most, checked on load).
pub fn target_group_name(app: &str, service: &str) -> String {
    format!("pd-{app}-{service}")
}

/// Load balancer name of an app.
pub fn load_balancer_name(app: &str) -> String {
    format!("pd-{app}")
}

fn parse(text: &str, shown: &str) -> Result<AppFile, AppFileError> {
    toml::from_str(text).map_err(|e| AppFileError {
        file: shown.to_string(),
        message: e.to_string().trim_end().to_string(),
    })
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

fn check_app_name(name: &str) -> Result<(), String> {
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
    if name.is_empty()
        || name.len() > 24
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(custom(format!(
            "{name:?} is not a valid service name: 1 to 24 lowercase letters, digits and `-`"
        )));
    }
    Ok(name)
}

fn repository<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let repo = String::deserialize(d)?;
    let ok = repo.split('/').all(|p| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    });
    if !ok || repo.len() > pushdeploy::config::MAX_REPOSITORY_LEN {
        return Err(custom(format!(
            "{repo:?} is not an ECR repository name: lowercase letters, digits, `.`, `_`, `-` and `/`, at most {} characters",
            pushdeploy::config::MAX_REPOSITORY_LEN
        )));
    }
    Ok(Some(repo))
}

fn port<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let port = i64::deserialize(d)?;
    u16::try_from(port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| custom(format!("port {port} is not between 1 and 65535")))
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
        globset::Glob::new(p).map_err(|e| custom(format!("tag pattern {p:?}: {e}")))?;
    }
    Ok(patterns)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_flag_and_the_file_must_agree_on_the_app() {
        let file = parse("name = \"shop\"\n", "f").unwrap();
        assert!(App::resolve(file.clone(), Some("other"), "f", None).is_err());
        assert_eq!(App::resolve(file, Some("shop"), "f", None).unwrap().name, "shop");
    }
}
