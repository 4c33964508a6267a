//! Finding an image in ECR by tag or digest: its digest, tags, registry account and push time.
//! `pushdeploy deploy` and `pushdeploy event` both resolve images here.

use aws_sdk_ecr::types::{ImageDetail, ImageIdentifier};
use chrono::{DateTime, Utc};
use pushdeploy::image::ImageRef;

use crate::context::Context;
use crate::error::{aws, missing, CliError};

/// An image found in ECR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundImage {
    /// The registry's account.
    pub account: String,
    /// `sha256:...`.
    pub digest: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// When it was pushed.
    pub pushed_at: DateTime<Utc>,
}

/// ECR's detail of `image` (by `tag` when there is one, else by digest), from the registry the
/// image names.
///
/// IAM: `ecr:DescribeImages` on the repository.
async fn describe_one(ctx: &Context, image: &ImageRef, tag: Option<&str>) -> Result<ImageDetail, CliError> {
    let id = match (tag, &image.digest) {
        (Some(tag), _) => ImageIdentifier::builder().image_tag(tag).build(),
        (None, digest) => ImageIdentifier::builder().set_image_digest(digest.clone()).build(),
    };
    // `<account>.dkr.ecr.<region>.amazonaws.com`: ask that account's registry.
    let registry_account = (image.registry.as_deref())
        .and_then(|r| r.split('.').next())
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string);
    let shown = image.to_string();
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
            _ => aws("ecr:DescribeImages", e),
        })?;
    (out.image_details.unwrap_or_default().into_iter().next()).ok_or(CliError::ImageNotFound { image: shown })
}

/// Looks `image` up in its repository: by tag when it has one (`latest` when it has neither tag
/// nor digest), else by digest. A tag and a digest that name different images are an error.
///
/// IAM: `ecr:DescribeImages` on the repository.
pub async fn resolve(ctx: &Context, image: &ImageRef) -> Result<FoundImage, CliError> {
    let tag = match (&image.tag, &image.digest) {
        (None, None) => Some("latest".to_string()),
        (tag, _) => tag.clone(),
    };
    let shown = image.to_string();
    let detail = describe_one(ctx, image, tag.as_deref()).await?;
    let digest = detail
        .image_digest
        .clone()
        .ok_or_else(|| missing("ecr:DescribeImages", "imageDigest"))?;
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
    let account = detail
        .registry_id
        .clone()
        .ok_or_else(|| missing("ecr:DescribeImages", "registryId"))?;
    if let Some(registry) = &image.registry {
        let expected = pushdeploy::image::ecr_registry(&account, ctx.region());
        if !registry.eq_ignore_ascii_case(&expected) {
            return Err(CliError::OtherRegistry {
                image: shown,
                registry: registry.clone(),
                expected,
            });
        }
    }
    let pushed_at = detail
        .image_pushed_at
        .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), 0))
        .ok_or_else(|| missing("ecr:DescribeImages", "imagePushedAt"))?;
    let mut tags = detail.image_tags.unwrap_or_default();
    // The tag asked for first: it is the readable one the revision records.
    if let Some(tag) = &tag {
        tags.retain(|t| t != tag);
        tags.insert(0, tag.clone());
    }
    Ok(FoundImage {
        account,
        digest,
        tags,
        pushed_at,
    })
}
