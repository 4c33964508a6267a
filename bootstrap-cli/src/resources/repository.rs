//! ECR repositories, one per service, created when absent (scan on push, mutable tags by
//! default). Whether each already holds an image decides the first task definition's image.

use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability, Tag};

use super::{change_for, Mode, Report, APP_TAG};
use crate::app_file::{App, Service};
use crate::context::Context;
use crate::error::{aws, CliError};

/// A repository as later steps need it.
#[derive(Debug, Clone)]
pub struct Repository {
    /// Name.
    pub name: String,
    /// `<registry>/<name>`.
    pub uri: String,
    /// Whether `latest` exists (else services wait for a first push).
    pub has_latest: bool,
}

/// Ensures the service's repository.
///
/// IAM: `ecr:DescribeRepositories`, `ecr:CreateRepository`, `ecr:TagResource`,
/// `ecr:PutImageScanningConfiguration`, `ecr:PutImageTagMutability`, `ecr:DescribeImages`.
pub async fn ensure(ctx: &Context, app: &App, service: &Service, mode: Mode) -> Result<(Report, Repository), CliError> {
    let ecr = ctx.ecr();
    let name = &service.repository;
    let found = match ecr.describe_repositories().repository_names(name).send().await {
        Ok(out) => out.repositories().first().cloned(),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_repository_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(aws("ecr:DescribeRepositories", e)),
    };
    let scan = service.spec.scan_on_push;
    let mutability = if service.spec.immutable_tags {
        ImageTagMutability::Immutable
    } else {
        ImageTagMutability::Mutable
    };
    let mut diffs = Vec::new();
    if let Some(repo) = &found {
        let have_scan = repo.image_scanning_configuration().is_some_and(|c| c.scan_on_push());
        if have_scan != scan {
            diffs.push(format!("scan on push {have_scan} -> {scan}"));
        }
        let have_mut = repo
            .image_tag_mutability()
            .cloned()
            .unwrap_or(ImageTagMutability::Mutable);
        if have_mut != mutability {
            diffs.push(format!(
                "tag mutability {} -> {}",
                have_mut.as_str(),
                mutability.as_str()
            ));
        }
    }
    let mut uri = found
        .as_ref()
        .and_then(|r| r.repository_uri.clone())
        .unwrap_or_default();
    if mode == Mode::Apply {
        match &found {
            None => {
                let out = ecr
                    .create_repository()
                    .repository_name(name)
                    .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(scan).build())
                    .image_tag_mutability(mutability.clone())
                    .tags(
                        Tag::builder()
                            .key(APP_TAG)
                            .value(&app.name)
                            .build()
                            .map_err(|e| CliError::Setup(e.to_string()))?,
                    )
                    .send()
                    .await;
                uri = match out {
                    Ok(out) => out.repository.and_then(|r| r.repository_uri).unwrap_or_default(),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_repository_already_exists_exception()) =>
                    {
                        let again = ecr
                            .describe_repositories()
                            .repository_names(name)
                            .send()
                            .await
                            .map_err(|e| aws("ecr:DescribeRepositories", e))?;
                        again
                            .repositories()
                            .first()
                            .and_then(|r| r.repository_uri.clone())
                            .unwrap_or_default()
                    }
                    Err(e) => return Err(aws("ecr:CreateRepository", e)),
                };
            }
            Some(_) => {
                if diffs.iter().any(|d| d.starts_with("scan")) {
                    ecr.put_image_scanning_configuration()
                        .repository_name(name)
                        .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(scan).build())
                        .send()
                        .await
                        .map_err(|e| aws("ecr:PutImageScanningConfiguration", e))?;
                }
                if diffs.iter().any(|d| d.starts_with("tag mutability")) {
                    ecr.put_image_tag_mutability()
                        .repository_name(name)
                        .image_tag_mutability(mutability)
                        .send()
                        .await
                        .map_err(|e| aws("ecr:PutImageTagMutability", e))?;
                }
            }
        }
    }
    let (images, has_latest) = if found.is_some() {
        image_summary(ctx, name).await?
    } else {
        (0, false)
    };
    let state = match (images, has_latest) {
        (0, _) => "empty: waiting for a first push".to_string(),
        (n, true) => format!("{n} image(s), latest among them"),
        (n, false) => format!("{n} image(s), no latest"),
    };
    let report = Report::new("ecr repository", name, change_for(found.is_some(), diffs)).with_state(state);
    Ok((
        report,
        Repository {
            name: name.clone(),
            uri,
            has_latest,
        },
    ))
}

/// How many images the repository holds, and whether one is tagged `latest`, in one listing.
async fn image_summary(ctx: &Context, repository: &str) -> Result<(usize, bool), CliError> {
    let (mut count, mut latest) = (0, false);
    let mut pages = ctx
        .ecr()
        .describe_images()
        .repository_name(repository)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws("ecr:DescribeImages", e))?;
        count += page.image_details().len();
        latest |= page
            .image_details()
            .iter()
            .any(|d| d.image_tags().iter().any(|t| t == "latest"));
    }
    Ok((count, latest))
}
