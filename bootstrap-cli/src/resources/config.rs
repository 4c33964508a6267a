//! The routing config at `/pushdeploy/<app>/config`, written in exactly the format the Lambda
//! reads (the engine's own type serializes it).

use aws_sdk_ssm::types::{ParameterType, Tag};
use pushdeploy::config::{parameter_for_app, AppConfig, ServiceRoute, CONFIG_VERSION};

use super::{change_for, Mode, Report, APP_TAG};
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, CliError};

/// The document `up` writes for `app`.
pub fn routing_config(app: &App) -> AppConfig {
    let services = app
        .services()
        .into_iter()
        .map(|s| {
            let mut route = ServiceRoute::new(&app.cluster(), &s.spec.name, &s.repository);
            route.containers = vec![s.container.clone()];
            route.tags = s.spec.tags.clone();
            route
        })
        .collect();
    AppConfig {
        version: CONFIG_VERSION,
        app: app.name.clone(),
        services,
    }
}

/// Ensures the parameter holds the document.
///
/// IAM: `ssm:GetParameter`, `ssm:PutParameter`, `ssm:AddTagsToResource` on
/// `parameter/pushdeploy/<app>/config`.
pub async fn ensure(ctx: &Context, app: &App, mode: Mode) -> Result<Report, CliError> {
    let ssm = ctx.ssm();
    let name = parameter_for_app(&app.name).map_err(pushdeploy::Error::from)?;
    let want = routing_config(app).to_json();
    let existing = match ssm.get_parameter().name(&name).send().await {
        Ok(out) => out.parameter.and_then(|p| p.value),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => None,
        Err(e) => return Err(aws("ssm:GetParameter", e)),
    };
    let same = existing.as_deref().is_some_and(|have| {
        serde_json::from_str::<serde_json::Value>(have).ok() == serde_json::from_str::<serde_json::Value>(&want).ok()
    });
    let diffs = if existing.is_some() && !same {
        vec!["routes differ from the app file".to_string()]
    } else {
        Vec::new()
    };
    if mode == Mode::Apply && !same {
        let put = || {
            ssm.put_parameter()
                .name(&name)
                .value(&want)
                .r#type(ParameterType::String)
        };
        let tag = Tag::builder()
            .key(APP_TAG)
            .value(&app.name)
            .build()
            .map_err(|e| CliError::Setup(e.to_string()))?;
        let created = if existing.is_some() {
            put().overwrite(true).send().await
        } else {
            put().tags(tag).send().await
        };
        match created {
            Ok(_) => {}
            // Written meanwhile by another run: ours is the file's truth, so overwrite it.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_already_exists()) => {
                put()
                    .overwrite(true)
                    .send()
                    .await
                    .map_err(|e| aws("ssm:PutParameter", e))?;
            }
            Err(e) => return Err(aws("ssm:PutParameter", e)),
        }
    }
    Ok(Report::new(
        "routing config",
        name,
        change_for(existing.is_some(), diffs),
    ))
}
