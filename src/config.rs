//! The app's routing config: one versioned JSON document per app in SSM Parameter Store,
//! validated on load and cached across warm invocations with a short time-to-live.

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::image::is_repository_name;
use crate::tag_pattern::TagPattern;

/// The config document version this build reads and writes.
pub const CONFIG_VERSION: u32 = 1;
/// Env var naming the app; the document is then `/pushdeploy/<app>/config`.
pub const ENV_APP: &str = "PUSHDEPLOY_APP";
/// Env var giving the full parameter name instead (takes precedence over `PUSHDEPLOY_APP`).
pub const ENV_PARAMETER: &str = "PUSHDEPLOY_CONFIG_PARAMETER";
/// Env var naming the deploy lock table when it is not the app's own `pushdeploy-<app>-locks`.
pub const ENV_LOCK_TABLE: &str = "PUSHDEPLOY_LOCK_TABLE";
/// Env var overriding the cache time-to-live, in seconds.
pub const ENV_TTL: &str = "PUSHDEPLOY_CONFIG_TTL_SECONDS";
/// Default cache time-to-live: short enough that a config change reaches warm functions quickly.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// Longest repository name the revision tags can carry (ECS tag keys are at most 128 characters).
pub const MAX_REPOSITORY_LEN: usize = 100;

/// The routing config of one app.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// Document format version; always [`CONFIG_VERSION`] for this build.
    pub version: u32,
    /// App name, as given to `pushdeploy up --app`.
    pub app: String,
    /// One entry per (service, repository) pair: a service running two repositories has two.
    pub services: Vec<ServiceRoute>,
}

/// Which service a repository feeds, and which tags it accepts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceRoute {
    /// ECS cluster name.
    pub cluster: String,
    /// ECS service name.
    pub service: String,
    /// ECR repository name (no registry host).
    pub repository: String,
    /// Container names that run the repository; empty means every container whose image
    /// comes from the repository.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
    /// Glob patterns a pushed tag must match; empty means every tag.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Whether pushes without a tag deploy. Off by default: `docker buildx` pushes untagged
    /// per-platform and attestation manifests beside the tagged index, and only the tagged push
    /// should decide what runs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub untagged: bool,
    #[serde(skip)]
    tag_matcher: Option<Vec<TagPattern>>,
}

/// A routing config that cannot be used, saying which parameter and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Neither env var names the config.
    #[error("no routing config named: set {ENV_APP} to the app name (the function reads /pushdeploy/<app>/config) or {ENV_PARAMETER} to a full parameter name")]
    NotNamed,
    /// The app name cannot form a parameter name.
    #[error("{ENV_APP}={app:?} is not a valid app name: use letters, digits, `-` and `_`")]
    BadAppName {
        /// The value given.
        app: String,
    },
    /// The parameter does not exist.
    #[error("routing config parameter {parameter} not found: run `pushdeploy up --app <app>` to write it, or fix {ENV_APP}/{ENV_PARAMETER}")]
    Missing {
        /// Parameter name.
        parameter: String,
    },
    /// The app's deploy lock table does not exist (an app bootstrapped before the lock moved to
    /// DynamoDB, or one whose table was deleted).
    #[error("deploy lock table {table} not found: run `pushdeploy up` for the app (it creates the table), then retry")]
    LockTableMissing {
        /// Table name.
        table: String,
    },
    /// The document is not valid.
    #[error("routing config parameter {parameter} is invalid: {problem}")]
    Invalid {
        /// Parameter name.
        parameter: String,
        /// What is wrong, with the JSON path where it helps.
        problem: String,
    },
}

impl ServiceRoute {
    /// Builds a route (used by the CLI and tests); call [`AppConfig::validate`] before use.
    pub fn new(cluster: &str, service: &str, repository: &str) -> ServiceRoute {
        ServiceRoute {
            cluster: cluster.into(),
            service: service.into(),
            repository: repository.into(),
            containers: Vec::new(),
            tags: Vec::new(),
            untagged: false,
            tag_matcher: None,
        }
    }

    /// Whether a push with this tag (or without one) passes the route's tag filter; whether an
    /// untagged push may deploy at all is [`ServiceRoute::untagged`].
    pub fn accepts_tag(&self, tag: Option<&str>) -> bool {
        if self.tags.is_empty() {
            return true;
        }
        let Some(tag) = tag else { return false };
        match &self.tag_matcher {
            Some(patterns) => patterns.iter().any(|p| p.is_match(tag)),
            None => (self.tags.iter()).any(|p| TagPattern::new(p).is_ok_and(|p| p.is_match(tag))),
        }
    }

    /// Whether the container with this name may have its image swapped.
    pub fn covers_container(&self, name: Option<&str>) -> bool {
        self.containers.is_empty() || name.is_some_and(|n| self.containers.iter().any(|c| c == n))
    }
}

impl AppConfig {
    /// Parses and validates a document read from `parameter`.
    pub fn parse(json: &str, parameter: &str) -> Result<AppConfig, ConfigError> {
        let invalid = |problem: String| ConfigError::Invalid {
            parameter: parameter.to_string(),
            problem,
        };
        #[derive(Deserialize)]
        struct Versioned {
            version: Option<serde_json::Value>,
        }
        let versioned: Versioned =
            serde_json::from_str(json).map_err(|e| invalid(format!("not a JSON object: {e}")))?;
        match versioned.version {
            None => return Err(invalid("missing field `version`".into())),
            Some(v) if v.as_u64() == Some(u64::from(CONFIG_VERSION)) => {}
            Some(v) if v.as_u64().is_some_and(|n| n > u64::from(CONFIG_VERSION)) => {
                return Err(invalid(format!(
                "version {v} is newer than this build understands ({CONFIG_VERSION}): upgrade the function and the CLI"
            )))
            }
            Some(v) => return Err(invalid(format!("unsupported version {v}: expected {CONFIG_VERSION}"))),
        }
        let mut de = serde_json::Deserializer::from_str(json);
        let mut config: AppConfig = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| invalid(format!("field `{}`: {}", e.path(), e.inner())))?;
        config.validate().map_err(invalid)?;
        Ok(config)
    }

    /// Checks every route and compiles the tag filters; the error says which entry is wrong.
    pub fn validate(&mut self) -> Result<(), String> {
        let mut seen = HashSet::new();
        for (i, route) in self.services.iter_mut().enumerate() {
            let at = format!("services[{i}]");
            for (field, value) in [("cluster", &route.cluster), ("service", &route.service)] {
                if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                    return Err(format!(
                        "{at}.{field} {value:?} is not an ECS name (letters, digits, `-`, `_`)"
                    ));
                }
            }
            let repo = &route.repository;
            if !is_repository_name(repo) {
                return Err(format!(
                    "{at}.repository {repo:?} is not an ECR repository name (2 or more lowercase letters and digits, joined by `.`, `_`, `-` or `/`; no registry host)"
                ));
            }
            if repo.len() > MAX_REPOSITORY_LEN {
                return Err(format!(
                    "{at}.repository is longer than {MAX_REPOSITORY_LEN} characters, which revision tags cannot record"
                ));
            }
            if !seen.insert((route.cluster.clone(), route.service.clone(), repo.clone())) {
                return Err(format!(
                    "{at} repeats cluster {}, service {}, repository {repo}",
                    route.cluster, route.service
                ));
            }
            if route.containers.iter().any(String::is_empty) {
                return Err(format!("{at}.containers has an empty name"));
            }
            let patterns = (route.tags.iter())
                .map(|pattern| TagPattern::new(pattern).map_err(|e| format!("{at}.tags: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            route.tag_matcher = Some(patterns);
        }
        Ok(())
    }

    /// The document as written to SSM.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("config serializes")
    }
}

/// Where the config lives: the parameter name from `PUSHDEPLOY_CONFIG_PARAMETER` or `PUSHDEPLOY_APP`.
pub fn parameter_from_env() -> Result<String, ConfigError> {
    let get = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
    if let Some(parameter) = get(ENV_PARAMETER) {
        return Ok(parameter);
    }
    let app = get(ENV_APP).ok_or(ConfigError::NotNamed)?;
    parameter_for_app(&app)
}

/// `/pushdeploy/<app>/config`, after checking the app name.
pub fn parameter_for_app(app: &str) -> Result<String, ConfigError> {
    if app.is_empty() || !app.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ConfigError::BadAppName { app: app.to_string() });
    }
    Ok(format!("/pushdeploy/{app}/config"))
}

/// The cache time-to-live from `PUSHDEPLOY_CONFIG_TTL_SECONDS`, or the default.
pub fn ttl_from_env() -> Duration {
    std::env::var(ENV_TTL)
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(DEFAULT_TTL, Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/pushdeploy/demo/config";

    fn parse(json: &str) -> Result<AppConfig, ConfigError> {
        AppConfig::parse(json, P)
    }

    fn problem(json: &str) -> String {
        match parse(json).unwrap_err() {
            ConfigError::Invalid { parameter, problem } => {
                assert_eq!(parameter, P);
                problem
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_full_document_parses() {
        let c = parse(
            r#"{"version":1,"app":"demo","services":[
            {"cluster":"demo","service":"web","repository":"demo/web","containers":["web"],"tags":["v*","latest"]},
            {"cluster":"demo","service":"web","repository":"demo/proxy"}]}"#,
        )
        .unwrap();
        assert_eq!(c.services.len(), 2);
        assert!(c.services[0].accepts_tag(Some("v1.2")));
        assert!(c.services[0].accepts_tag(Some("latest")));
        assert!(!c.services[0].accepts_tag(Some("dev-1")));
        assert!(
            !c.services[0].accepts_tag(None),
            "a filter rejects pushes without a tag"
        );
        assert!(c.services[1].accepts_tag(None), "no filter accepts every push");
        assert!(c.services[0].covers_container(Some("web")));
        assert!(!c.services[0].covers_container(Some("sidecar")));
        assert!(c.services[1].covers_container(Some("anything")));
    }

    #[test]
    fn the_document_round_trips() {
        let c = parse(
            r#"{"version":1,"app":"demo","services":[{"cluster":"c","service":"s","repository":"re","tags":["v*"]}]}"#,
        )
        .unwrap();
        let again = parse(&c.to_json()).unwrap();
        assert_eq!(again.services[0].tags, vec!["v*"]);
    }

    #[test]
    fn invalid_documents_say_what_is_wrong() {
        assert!(problem("not json").contains("not a JSON object"));
        assert!(problem(r#"{"app":"demo","services":[]}"#).contains("missing field `version`"));
        assert!(problem(r#"{"version":2,"app":"demo","services":[]}"#).contains("newer than this build"));
        assert!(problem(r#"{"version":"1","app":"demo","services":[]}"#).contains("unsupported version"));
        assert!(problem(r#"{"version":1,"app":"demo"}"#).contains("services"));
        let p = problem(
            r#"{"version":1,"app":"demo","services":[{"cluster":"c","service":"s","repository":"re","tag":["v*"]}]}"#,
        );
        assert!(p.contains("services[0]") && p.contains("tag"), "{p}");
        let p =
            problem(r#"{"version":1,"app":"demo","services":[{"cluster":"c","service":"s","repository":"R/Web"}]}"#);
        assert!(p.contains("services[0].repository"), "{p}");
        let p = problem(r#"{"version":1,"app":"demo","services":[{"cluster":"c","service":"","repository":"re"}]}"#);
        assert!(p.contains("services[0].service"), "{p}");
        let p = problem(
            r#"{"version":1,"app":"demo","services":[{"cluster":"c","service":"s","repository":"re","tags":["v[1"]}]}"#,
        );
        assert!(p.contains("services[0].tags"), "{p}");
        let p = problem(
            r#"{"version":1,"app":"demo","services":[{"cluster":"c","service":"s","repository":"re"},{"cluster":"c","service":"s","repository":"re"}]}"#,
        );
        assert!(p.contains("services[1] repeats"), "{p}");
    }

    #[test]
    fn names_with_hyphens_and_underscores_and_repositories_of_the_longest_length_are_routes() {
        let route = |cluster: &str, service: &str, repository: &str| {
            format!(
                r#"{{"version":1,"app":"demo","services":[{{"cluster":"{cluster}","service":"{service}","repository":"{repository}"}}]}}"#
            )
        };
        assert!(parse(&route("shop-prod", "web_api", "re")).is_ok());
        assert!(parse(&route("shop_prod", "web-api", "re")).is_ok());
        assert!(problem(&route("shop.prod", "web", "re")).contains("services[0].cluster"));
        assert!(problem(&route("shop", "web api", "re")).contains("services[0].service"));
        let longest = format!("a/{}", "b".repeat(MAX_REPOSITORY_LEN - 2));
        assert!(
            parse(&route("c", "s", &longest)).is_ok(),
            "{MAX_REPOSITORY_LEN} characters fit"
        );
        let over = format!("{longest}b");
        assert!(problem(&route("c", "s", &over)).contains("longer than 100"));
    }

    /// The only test that touches these variables; no other test of the engine reads them.
    #[test]
    fn the_parameter_and_the_ttl_come_from_the_environment() {
        let clear = || {
            for k in [ENV_PARAMETER, ENV_APP, ENV_TTL] {
                std::env::remove_var(k);
            }
        };
        clear();
        assert_eq!(parameter_from_env(), Err(ConfigError::NotNamed));
        assert_eq!(ttl_from_env(), DEFAULT_TTL);
        std::env::set_var(ENV_APP, "shop");
        assert_eq!(parameter_from_env().unwrap(), "/pushdeploy/shop/config");
        std::env::set_var(ENV_PARAMETER, "");
        assert_eq!(
            parameter_from_env().unwrap(),
            "/pushdeploy/shop/config",
            "empty is unset"
        );
        std::env::set_var(ENV_PARAMETER, "/teams/shop/routes");
        assert_eq!(
            parameter_from_env().unwrap(),
            "/teams/shop/routes",
            "the full name wins"
        );
        std::env::set_var(ENV_TTL, "7");
        assert_eq!(ttl_from_env(), Duration::from_secs(7));
        std::env::set_var(ENV_TTL, "soon");
        assert_eq!(ttl_from_env(), DEFAULT_TTL);
        clear();
    }

    #[test]
    fn app_names_become_parameter_names() {
        assert_eq!(parameter_for_app("demo-1").unwrap(), "/pushdeploy/demo-1/config");
        assert_eq!(
            parameter_for_app("a/b"),
            Err(ConfigError::BadAppName { app: "a/b".into() })
        );
        assert!(ConfigError::NotNamed.to_string().contains("PUSHDEPLOY_APP"));
    }
}
