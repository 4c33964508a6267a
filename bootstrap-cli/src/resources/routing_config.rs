//! The routing config at `/pushdeploy/<app>/config`, written in exactly the format the function
//! reads (the engine's own type serializes it). Documents over SSM's 4 KB standard tier go to
//! the advanced tier (8 KB; the app file is refused above that before any call). `down` deletes
//! every parameter under `/pushdeploy/<app>/` (the config and any deploy lock).

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_ssm::types::{ParameterTier, ParameterType, Tag};
use pushdeploy::config::{AppConfig, ServiceRoute};

use super::facts::Facts;
use super::model::{Resource, APP_TAG};
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::output::plural;
use crate::progress::Step;

/// Largest value of a standard-tier parameter (SSM user guide, "Managing parameter tiers").
pub const STANDARD_TIER_LEN: usize = 4096;

/// The tier for a document of `len` characters: advanced above the standard tier's 4 KB, else
/// intelligent tiering, which keeps a parameter advanced once it is (SSM refuses to downgrade).
pub fn tier(len: usize) -> ParameterTier {
    if len > STANDARD_TIER_LEN {
        ParameterTier::Advanced
    } else {
        ParameterTier::IntelligentTiering
    }
}

/// How the stored routes differ from the app file's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// A route the file adds.
    Added(String),
    /// A route the file no longer has.
    Removed(String),
    /// A route whose containers or tag filter changed.
    Changed(String),
    /// The stored document is not a routing config this build reads.
    Unreadable(String),
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Added(r) => write!(f, "add route {r}"),
            Drift::Removed(r) => write!(f, "remove route {r}"),
            Drift::Changed(r) => write!(f, "change route {r}"),
            Drift::Unreadable(problem) => write!(f, "rewrite: {problem}"),
        }
    }
}

fn key(r: &ServiceRoute) -> String {
    format!("{}/{}<-{}", r.cluster, r.service, r.repository)
}

/// Route by route, how `have` (the stored document) differs from `want`.
pub fn diff_routes(have: &str, want: &AppConfig, parameter: &str) -> Vec<Drift> {
    let have = match AppConfig::parse(have, parameter) {
        Ok(config) => config,
        Err(e) => return vec![Drift::Unreadable(e.to_string())],
    };
    let routes = |c: &AppConfig| -> BTreeMap<String, serde_json::Value> {
        c.services
            .iter()
            .map(|r| (key(r), serde_json::to_value(r).expect("routes serialize")))
            .collect()
    };
    let (have_routes, want_routes) = (routes(&have), routes(want));
    let mut drift = Vec::new();
    for (k, v) in &want_routes {
        match have_routes.get(k) {
            None => drift.push(Drift::Added(k.clone())),
            Some(h) if h != v => drift.push(Drift::Changed(k.clone())),
            Some(_) => {}
        }
    }
    drift.extend(
        have_routes
            .keys()
            .filter(|k| !want_routes.contains_key(*k))
            .map(|k| Drift::Removed(k.clone())),
    );
    if drift.is_empty() && have.app != want.app {
        drift.push(Drift::Unreadable(format!("it is app {}'s", have.app)));
    }
    drift
}

/// The app's routing config.
#[derive(Debug, Clone)]
pub struct RoutingConfig {
    parameter: String,
    path: String,
    config: AppConfig,
    app: String,
}

impl RoutingConfig {
    /// The config of `app`.
    pub fn new(app: &App) -> RoutingConfig {
        RoutingConfig {
            parameter: app.names.config_parameter(),
            path: app.names.parameter_path(),
            config: app.routing_config(),
            app: app.name.clone(),
        }
    }

    /// IAM: `ssm:PutParameter`, `ssm:AddTagsToResource` (tags on create).
    async fn put(&self, ctx: &Context, overwrite: bool) -> Result<(), CliError> {
        let document = self.config.to_json();
        let put = || {
            ctx.ssm()
                .put_parameter()
                .name(&self.parameter)
                .value(&document)
                .r#type(ParameterType::String)
                .tier(tier(document.len()))
        };
        let tag = Tag::builder()
            .key(APP_TAG)
            .value(&self.app)
            .build()
            .expect("key and value are set");
        let result = if overwrite {
            put().overwrite(true).send().await
        } else {
            put().tags(tag).send().await
        };
        match result {
            Ok(_) => Ok(()),
            // Written meanwhile by another run: the file is the truth, so overwrite it.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_already_exists()) => {
                put()
                    .overwrite(true)
                    .send()
                    .await
                    .map_err(|e| aws("ssm:PutParameter", e))?;
                Ok(())
            }
            Err(e) => Err(aws("ssm:PutParameter", e)),
        }
    }
}

impl Resource for RoutingConfig {
    type Observed = String;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "routing config"
    }

    fn name(&self) -> String {
        self.parameter.clone()
    }

    /// IAM: `ssm:GetParameter`.
    async fn observe(&self, ctx: &Context, _facts: &Facts) -> Result<Option<String>, CliError> {
        match ctx.ssm().get_parameter().name(&self.parameter).send().await {
            Ok(out) => out
                .parameter
                .and_then(|p| p.value)
                .map(Some)
                .ok_or_else(|| missing("ssm:GetParameter", "Parameter.Value")),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => Ok(None),
            Err(e) => Err(aws("ssm:GetParameter", e)),
        }
    }

    fn diff(&self, stored: &String, _facts: &Facts) -> Vec<Drift> {
        diff_routes(stored, &self.config, &self.parameter)
    }

    async fn create(&self, ctx: &Context, _facts: &Facts, _step: &Step) -> Result<String, CliError> {
        self.put(ctx, false).await?;
        Ok(self.config.to_json())
    }

    async fn apply(&self, ctx: &Context, _: &String, _: &[Drift], _: &Facts, _: &Step) -> Result<(), CliError> {
        self.put(ctx, true).await
    }

    /// IAM: `ssm:GetParametersByPath`, `ssm:DeleteParameters` on `parameter/pushdeploy/<app>/*`.
    async fn delete(&self, ctx: &Context, _: &String, _step: &Step) -> Result<(), CliError> {
        let ssm = ctx.ssm();
        let mut names = Vec::new();
        let mut pages = ssm
            .get_parameters_by_path()
            .path(&self.path)
            .recursive(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws("ssm:GetParametersByPath", e))?;
            names.extend(page.parameters().iter().filter_map(|p| p.name.clone()));
        }
        // DeleteParameters takes ten names at a time.
        for chunk in names.chunks(10) {
            ssm.delete_parameters()
                .set_names(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| aws("ssm:DeleteParameters", e))?;
        }
        Ok(())
    }

    fn record(&self, _stored: &String, _facts: &mut Facts) {}

    fn state(&self, _stored: &String, _facts: &Facts) -> Option<String> {
        let len = self.config.to_json().len();
        Some(format!(
            "{}, {len} characters{}",
            plural(self.config.services.len(), "route"),
            if len > STANDARD_TIER_LEN {
                " (advanced tier)"
            } else {
                ""
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_file::AppFile;

    #[test]
    fn route_changes_are_named_route_by_route() {
        let app = App::resolve(AppFile::default(), Some("demo"), "defaults", None).unwrap();
        let want = app.routing_config();
        assert!(diff_routes(&want.to_json(), &want, "p").is_empty());
        let mut filtered = want.clone();
        filtered.services[0].tags = vec!["v*".into()];
        assert_eq!(
            diff_routes(&filtered.to_json(), &want, "p"),
            [Drift::Changed("demo/web<-demo/web".into())]
        );
        let mut other = want.clone();
        other.services[0].service = "api".into();
        assert_eq!(
            diff_routes(&other.to_json(), &want, "p"),
            [
                Drift::Added("demo/web<-demo/web".into()),
                Drift::Removed("demo/api<-demo/web".into())
            ]
        );
        assert!(matches!(diff_routes("{}", &want, "p")[0], Drift::Unreadable(_)));
    }

    #[test]
    fn documents_over_4_kb_use_the_advanced_tier() {
        assert_eq!(tier(4096), ParameterTier::IntelligentTiering);
        assert_eq!(tier(4097), ParameterTier::Advanced);
    }
}
