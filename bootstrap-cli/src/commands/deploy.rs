//! `pushdeploy deploy`: the Lambda's redeploy for one service, driven from a laptop. It resolves
//! the image in ECR (digest and push time) and runs the engine's very code path, so the same
//! rules hold: digest pinning, never a downgrade, paused services skipped, the deploy lock.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_ecr::types::ImageIdentifier;
use chrono::{DateTime, Utc};
use pushdeploy::config::parameter_for_app;
use pushdeploy::error::aws_error;
use pushdeploy::event::Push;
use pushdeploy::image::{ecr_registry, ImageRef};
use pushdeploy::routing::Routed;
use pushdeploy::{Action, Engine, Outcome};

use crate::cli::{DeployArgs, OutputFormat};
use crate::context::Context;
use crate::error::CliError;

/// Runs the command and prints the outcome.
pub async fn run(args: DeployArgs, ctx: &Context) -> Result<ExitCode, CliError> {
    let outcomes = deploy(&args, ctx).await?;
    print_outcomes(ctx.output, &outcomes)?;
    Ok(ExitCode::SUCCESS)
}

/// Redeploys the service and returns its outcome.
///
/// IAM: `ssm:GetParameter` on the config, `ecr:DescribeImages` on the repository, and what the
/// engine needs (README, "Permissions").
pub async fn deploy(args: &DeployArgs, ctx: &Context) -> Result<Vec<Outcome>, CliError> {
    let parameter = parameter_for_app(&args.app).map_err(pushdeploy::Error::from)?;
    let image = ImageRef::parse(&args.image)?;
    let engine = Engine::from_clients(ctx.ecs(), ctx.ssm(), parameter.clone(), Duration::ZERO);
    let config = engine.config().get().await?;
    let route = config
        .services
        .iter()
        .find(|r| {
            r.service == args.service
                && r.repository == image.repository
                && args.cluster.as_ref().is_none_or(|c| *c == r.cluster)
        })
        .ok_or_else(|| CliError::NoRoute {
            app: args.app.clone(),
            service: args.service.clone(),
            repository: image.repository.clone(),
            parameter: parameter.clone(),
            routes: config
                .services
                .iter()
                .map(|r| format!("{}/{}<-{}", r.cluster, r.service, r.repository))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let push = resolve(ctx, &image).await?;
    // An explicit deploy names its service, so the route's tag filter does not apply.
    let owner = format!("pushdeploy-cli pid {}", std::process::id());
    Ok(engine.redeploy(&push, &[Routed::Accepted(route)], &owner).await?)
}

/// Looks the image up in ECR: its digest, readable tag, registry account and push time.
async fn resolve(ctx: &Context, image: &ImageRef) -> Result<Push, CliError> {
    let tag = match (&image.tag, &image.digest) {
        (None, None) => Some("latest".to_string()),
        (tag, _) => tag.clone(),
    };
    let id = match (&tag, &image.digest) {
        (Some(tag), _) => ImageIdentifier::builder().image_tag(tag).build(),
        (None, Some(digest)) => ImageIdentifier::builder().image_digest(digest).build(),
        (None, None) => unreachable!("a tag defaults to latest"),
    };
    let registry_account = image
        .registry
        .as_deref()
        .and_then(|r| r.split('.').next())
        .filter(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string);
    let shown = image.to_string();
    // IAM: ecr:DescribeImages on arn:aws:ecr:<region>:<account>:repository/<repository>
    let out = ctx
        .ecr()
        .describe_images()
        .repository_name(&image.repository)
        .set_registry_id(registry_account)
        .image_ids(id)
        .send()
        .await
        .map_err(|e| match e.as_service_error() {
            Some(s) if s.is_repository_not_found_exception() => CliError::RepositoryNotFound {
                repository: image.repository.clone(),
            },
            Some(s) if s.is_image_not_found_exception() => CliError::ImageNotFound { image: shown.clone() },
            _ => CliError::Engine(aws_error("ecr:DescribeImages", e)),
        })?;
    let detail = out.image_details.unwrap_or_default().into_iter().next();
    let detail = detail.ok_or_else(|| CliError::ImageNotFound { image: shown.clone() })?;
    let digest = detail
        .image_digest
        .clone()
        .ok_or_else(|| CliError::ImageNotFound { image: shown.clone() })?;
    if let (Some(tag), Some(wanted)) = (&tag, &image.digest) {
        if *wanted != digest {
            return Err(CliError::TagDigestMismatch {
                repository: image.repository.clone(),
                tag: tag.clone(),
                digest: wanted.clone(),
                actual: digest,
            });
        }
    }
    let region = ctx.region();
    let account = detail.registry_id.clone().unwrap_or_default();
    if let Some(registry) = &image.registry {
        let expected = ecr_registry(&account, &region);
        if !registry.eq_ignore_ascii_case(&expected) {
            return Err(CliError::ImageNotFound {
                image: format!("{shown} (this account and region's registry is {expected}: use --region)"),
            });
        }
    }
    let pushed_at = detail
        .image_pushed_at
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), 0))
        .unwrap_or_else(Utc::now);
    Ok(Push {
        account,
        region,
        repository: image.repository.clone(),
        digest,
        tag: tag.or_else(|| detail.image_tags.unwrap_or_default().into_iter().next()),
        pushed_at,
    })
}

/// Prints outcomes as a table (text) or a JSON array.
pub fn print_outcomes(format: OutputFormat, outcomes: &[Outcome]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Json => crate::commands::print_json(outcomes)?,
        OutputFormat::Text => {
            for o in outcomes {
                let action = match o.action {
                    Action::Deployed => "deployed",
                    Action::Skipped => "skipped",
                };
                let service = match (&o.cluster, &o.service) {
                    (Some(c), Some(s)) => format!("{c}/{s}"),
                    _ => "-".into(),
                };
                writeln!(out, "{action:<9} {service}  ({})", o.reason)?;
                if let Some(td) = &o.task_definition {
                    writeln!(out, "          task definition  {td}")?;
                }
                if let Some(image) = &o.image {
                    writeln!(out, "          image            {image}")?;
                }
            }
        }
    }
    Ok(())
}
