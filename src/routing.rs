//! Routing policy: which services a push concerns, and which of them its tag filter admits.

use crate::config::{AppConfig, ServiceRoute};
use crate::event::Push;

/// A service the pushed repository feeds, with the tag filter's verdict.
#[derive(Debug, Clone, Copy)]
pub enum Routed<'a> {
    /// The tag passes the route's filter: redeploy.
    Accepted(&'a ServiceRoute),
    /// The service runs the repository but its filter rejects the tag.
    TagFiltered(&'a ServiceRoute),
}

/// Every route whose repository is the pushed one, in config order.
pub fn route<'a>(config: &'a AppConfig, push: &Push) -> Vec<Routed<'a>> {
    config
        .services
        .iter()
        .filter(|r| r.repository == push.repository)
        .map(|r| {
            if r.accepts_tag(push.tag.as_deref()) {
                Routed::Accepted(r)
            } else {
                Routed::TagFiltered(r)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AppConfig {
        let mut c: AppConfig = serde_json::from_str(
            r#"{"version":1,"app":"demo","services":[
                {"cluster":"c","service":"web","repository":"web","tags":["v*"]},
                {"cluster":"c","service":"worker","repository":"web"},
                {"cluster":"c","service":"web","repository":"proxy"}]}"#,
        )
        .unwrap();
        c.validate().unwrap();
        c
    }

    fn push(repository: &str, tag: Option<&str>) -> Push {
        Push {
            account: "1".into(),
            region: "eu-west-1".into(),
            repository: repository.into(),
            digest: format!("sha256:{}", "a".repeat(64)),
            tag: tag.map(str::to_string),
            pushed_at: chrono::Utc::now(),
        }
    }

    fn names(routed: &[Routed]) -> Vec<String> {
        routed
            .iter()
            .map(|r| match r {
                Routed::Accepted(r) => format!("+{}", r.service),
                Routed::TagFiltered(r) => format!("-{}", r.service),
            })
            .collect()
    }

    #[test]
    fn one_repository_feeds_every_service_that_runs_it() {
        assert_eq!(names(&route(&config(), &push("web", Some("v2")))), ["+web", "+worker"]);
    }

    #[test]
    fn the_tag_filter_applies_per_service() {
        assert_eq!(names(&route(&config(), &push("web", Some("dev")))), ["-web", "+worker"]);
        assert_eq!(names(&route(&config(), &push("web", None))), ["-web", "+worker"]);
    }

    #[test]
    fn a_sidecar_repository_routes_to_the_service_it_runs_in() {
        assert_eq!(names(&route(&config(), &push("proxy", Some("x")))), ["+web"]);
    }

    #[test]
    fn an_unknown_repository_routes_nowhere_and_names_must_match_exactly() {
        assert!(route(&config(), &push("unknown", Some("v1"))).is_empty());
        assert!(route(&config(), &push("we", Some("v1"))).is_empty());
        assert!(route(&config(), &push("team/web", Some("v1"))).is_empty());
    }
}
