//! `pushdeploy event`: prints a real-shaped ECR push event, for `cargo lambda invoke --data-file`.

use std::process::ExitCode;

use aws_sdk_ecr::types::ImageIdentifier;
use chrono::{DateTime, Utc};
use pushdeploy::event::{push_event, Push};
use pushdeploy::image::is_digest;

use crate::cli::EventArgs;
use crate::context::Context;
use crate::error::{aws, CliError};

/// Prints the event.
///
/// IAM: `ecr:DescribeImages` (to find the digest), or `sts:GetCallerIdentity` (for the account
/// when the digest is given).
pub async fn run(args: EventArgs, ctx: &Context) -> Result<ExitCode, CliError> {
    let push = build(&args, ctx).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&push_event(&push)).map_err(std::io::Error::from)?
    );
    Ok(ExitCode::SUCCESS)
}

/// The push the event describes.
pub async fn build(args: &EventArgs, ctx: &Context) -> Result<Push, CliError> {
    let region = ctx.region();
    if let Some(digest) = &args.digest {
        if !is_digest(digest) {
            return Err(CliError::Setup(format!(
                "--digest {digest:?} is not `sha256:` followed by 64 hex digits"
            )));
        }
        let who = ctx
            .sts()
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| aws("sts:GetCallerIdentity", e))?;
        return Ok(Push {
            account: who.account().unwrap_or_default().to_string(),
            region,
            repository: args.repository.clone(),
            digest: digest.clone(),
            tag: args.tag.clone(),
            pushed_at: Utc::now(),
        });
    }
    let tag = args.tag.clone().unwrap_or_else(|| "latest".into());
    let out = ctx
        .ecr()
        .describe_images()
        .repository_name(&args.repository)
        .image_ids(ImageIdentifier::builder().image_tag(&tag).build())
        .send()
        .await
        .map_err(|e| match e.as_service_error() {
            Some(s) if s.is_repository_not_found_exception() => CliError::RepositoryNotFound {
                repository: args.repository.clone(),
            },
            Some(s) if s.is_image_not_found_exception() => CliError::ImageNotFound {
                image: format!("{}:{tag}", args.repository),
            },
            _ => aws("ecr:DescribeImages", e),
        })?;
    let detail = out.image_details().first().ok_or_else(|| CliError::ImageNotFound {
        image: format!("{}:{tag}", args.repository),
    })?;
    Ok(Push {
        account: detail.registry_id().unwrap_or_default().to_string(),
        region,
        repository: args.repository.clone(),
        digest: detail.image_digest().unwrap_or_default().to_string(),
        tag: Some(tag),
        pushed_at: detail
            .image_pushed_at()
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), 0))
            .unwrap_or_else(Utc::now),
    })
}
