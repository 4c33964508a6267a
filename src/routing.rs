//! Routing policy: which services a push concerns, and which of them its tag rules admit.

use crate::config::{AppConfig, ServiceRoute};
use crate::event::Push;
use crate::outcome::Reason;

/// A service the pushed repository feeds, with the route's verdict.
#[derive(Debug, Clone)]
pub enum Routed<'a> {
    /// The push passes the route's rules: redeploy.
    Accepted(&'a ServiceRoute),
    /// The service runs the repository but the route turns the push away
    /// ([`Reason::Untagged`] or [`Reason::TagFiltered`]).
    Skipped(&'a ServiceRoute, Reason),
}

/// Every route whose repository is the pushed one, in config order.
pub fn route<'a>(config: &'a AppConfig, push: &Push) -> Vec<Routed<'a>> {
    config
        .services
        .iter()
        .filter(|r| r.repository == push.repository)
        .map(|r| match push.tag.as_deref() {
            None if !r.untagged => Routed::Skipped(r, Reason::Untagged),
            tag if !r.accepts_tag(tag) => Routed::Skipped(r, Reason::TagFiltered),
            _ => Routed::Accepted(r),
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
                {"cluster":"c","service":"worker","repository":"web","untagged":true},
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
                Routed::Skipped(r, reason) => format!("-{}({reason})", r.service),
            })
            .collect()
    }

    #[test]
    fn one_repository_feeds_every_service_that_runs_it() {
        assert_eq!(names(&route(&config(), &push("web", Some("v2")))), ["+web", "+worker"]);
    }

    #[test]
    fn the_tag_filter_applies_per_service() {
        assert_eq!(
            names(&route(&config(), &push("web", Some("dev")))),
            ["-web(tag-filtered)", "+worker"]
        );
    }

    #[test]
    fn an_untagged_push_deploys_only_where_the_route_opts_in() {
        assert_eq!(
            names(&route(&config(), &push("web", None))),
            ["-web(untagged)", "+worker"]
        );
        assert_eq!(names(&route(&config(), &push("proxy", None))), ["-web(untagged)"]);
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
