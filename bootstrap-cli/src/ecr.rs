//! Finding an image in ECR by tag or digest: its digest, tags, registry account and push time.
//! `pushdeploy deploy` and `pushdeploy event` both resolve images here.

use aws_sdk_ecr::types::{DescribeImagesFilter, ImageDetail, ImageIdentifier, TagStatus};
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
        .set_registry_id(registry_account.clone())
        .image_ids(id)
        .send()
        .await
        .map_err(|e| match e.as_service_error() {
            Some(s) if s.is_repository_not_found_exception() => CliError::RepositoryNotFound {
                repository: image.repository.clone(),
            },
            Some(s) if s.is_image_not_found_exception() => CliError::ImageNotFound {
                image: shown.clone(),
                there: String::new(),
            },
            _ => aws("ecr:DescribeImages", e),
        });
    let not_found = |image| CliError::ImageNotFound {
        image,
        there: String::new(),
    };
    let found = out.and_then(|out| (out.image_details.unwrap_or_default().into_iter().next()).ok_or(not_found(shown)));
    match found {
        Err(CliError::ImageNotFound { image: shown, .. }) => {
            let implied = (image.tag.is_none() && image.digest.is_none()).then_some(" (no tag means `latest`)");
            // What exists is a hint: if it cannot be read, the error stays "not found".
            let tags = newest_tags(ctx, &image.repository, registry_account)
                .await
                .unwrap_or_default();
            let there = match tags.as_slice() {
                [] => " (the repository holds no tagged image)".to_string(),
                tags => format!(" (tags there, newest first: {})", tags.join(", ")),
            };
            Err(CliError::ImageNotFound {
                image: format!("{shown}{}", implied.unwrap_or_default()),
                there,
            })
        }
        other => other,
    }
}

/// Up to [`SHOWN_TAGS`] tags of `repository`, newest push first, for an error that says what
/// exists.
///
/// IAM: `ecr:DescribeImages` on the repository.
async fn newest_tags(ctx: &Context, repository: &str, registry: Option<String>) -> Result<Vec<String>, CliError> {
    let mut images = Vec::new();
    let tagged = DescribeImagesFilter::builder().tag_status(TagStatus::Tagged).build();
    let mut pages = (ctx.ecr().describe_images())
        .repository_name(repository)
        .set_registry_id(registry)
        .filter(tagged)
        .max_results(1000)
        .into_paginator()
        .send();
    // Two pages at most: a hint, not an inventory.
    for _ in 0..2 {
        let Some(page) = pages.next().await else { break };
        let page = page.map_err(|e| aws("ecr:DescribeImages", e))?;
        images.extend(page.image_details.unwrap_or_default());
    }
    // Pushed in the same second: the later listed first (ECR lists in push order).
    images.reverse();
    images.sort_by_key(|i| std::cmp::Reverse(i.image_pushed_at.map(|t| (t.secs(), t.subsec_nanos()))));
    let tags = images.into_iter().flat_map(|i| i.image_tags.unwrap_or_default());
    Ok(tags.take(SHOWN_TAGS).collect())
}

/// How many tags an image-not-found error lists.
const SHOWN_TAGS: usize = 10;

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
