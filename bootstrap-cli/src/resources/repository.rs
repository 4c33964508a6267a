//! ECR repositories, one per repository the services run (scan on push, mutable tags by
//! default). What each already holds decides the first task definition's image. The app's data:
//! `down` deletes them only with `--delete-data`.

use std::fmt;

use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability, Repository as EcrRepository, Tag};

use super::facts::{Facts, RepositoryFacts};
use super::model::{After, Lifetime, Resource, APP_TAG};
use crate::app_file::{App, AppService};
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::progress::Step;

/// How a repository differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// Scan on push.
    ScanOnPush {
        /// Now.
        have: bool,
        /// Wanted.
        want: bool,
    },
    /// Tag mutability.
    TagMutability {
        /// Now.
        have: ImageTagMutability,
        /// Wanted.
        want: ImageTagMutability,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::ScanOnPush { have, want } => write!(f, "scan on push {have} -> {want}"),
            Drift::TagMutability { have, want } => {
                write!(f, "tag mutability {} -> {}", have.as_str(), want.as_str())
            }
        }
    }
}

/// One repository.
#[derive(Debug, Clone)]
pub struct Repository {
    name: String,
    scan: bool,
    mutability: ImageTagMutability,
    app: String,
}

impl Repository {
    /// The repository of `service` (services sharing one share its settings: the app file checks).
    pub fn new(app: &App, service: &AppService) -> Repository {
        Repository {
            name: service.repository.clone(),
            scan: service.spec.scan_on_push,
            mutability: if service.spec.immutable_tags {
                ImageTagMutability::Immutable
            } else {
                ImageTagMutability::Mutable
            },
            app: app.name.clone(),
        }
    }
}

/// A repository as it exists.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Its settings.
    pub repository: EcrRepository,
    /// What it holds.
    pub facts: RepositoryFacts,
}

/// The repository `name` with its image count, or `None`.
///
/// IAM: `ecr:DescribeRepositories`, `ecr:DescribeImages`.
async fn find(ctx: &Context, name: &str) -> Result<Option<Observed>, CliError> {
    let ecr = ctx.ecr();
    let repository = match ecr.describe_repositories().repository_names(name).send().await {
        Ok(out) => out.repositories.unwrap_or_default().into_iter().next(),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_repository_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(aws("ecr:DescribeRepositories", e)),
    };
    let Some(repository) = repository else {
        return Ok(None);
    };
    let uri = repository
        .repository_uri
        .clone()
        .ok_or_else(|| missing("ecr:DescribeRepositories", "repositoryUri"))?;
    let (mut images, mut has_latest) = (0, false);
    let mut pages = ecr.describe_images().repository_name(name).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws("ecr:DescribeImages", e))?;
        images += page.image_details().len();
        has_latest |= page
            .image_details()
            .iter()
            .any(|d| d.image_tags().iter().any(|t| t == "latest"));
    }
    Ok(Some(Observed {
        repository,
        facts: RepositoryFacts {
            uri,
            images,
            has_latest,
        },
    }))
}

impl Resource for Repository {
    type Observed = Observed;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "ecr repository"
    }

    /// What it is converged after. Nothing.
    fn after(&self) -> After {
        After::Kinds(&[])
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn lifetime(&self) -> Lifetime {
        Lifetime::Data
    }

    async fn observe(&self, ctx: &Context, _facts: &Facts) -> Result<Option<Observed>, CliError> {
        find(ctx, &self.name).await
    }

    fn diff(&self, observed: &Observed, _facts: &Facts) -> Vec<Drift> {
        let repo = &observed.repository;
        let mut drift = Vec::new();
        let have_scan = repo.image_scanning_configuration().is_some_and(|c| c.scan_on_push());
        if have_scan != self.scan {
            drift.push(Drift::ScanOnPush {
                have: have_scan,
                want: self.scan,
            });
        }
        let have_mutability = repo
            .image_tag_mutability()
            .cloned()
            .unwrap_or(ImageTagMutability::Mutable);
        if have_mutability != self.mutability {
            drift.push(Drift::TagMutability {
                have: have_mutability,
                want: self.mutability.clone(),
            });
        }
        drift
    }

    /// IAM: `ecr:CreateRepository`, `ecr:TagResource`.
    async fn create(&self, ctx: &Context, _facts: &Facts, _step: &Step) -> Result<Observed, CliError> {
        let tag = Tag::builder()
            .key(APP_TAG)
            .value(&self.app)
            .build()
            .expect("key and value are set");
        let created = ctx
            .ecr()
            .create_repository()
            .repository_name(&self.name)
            .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(self.scan).build())
            .image_tag_mutability(self.mutability.clone())
            .tags(tag)
            .send()
            .await;
        match created {
            Ok(out) => {
                let repository = out
                    .repository
                    .ok_or_else(|| missing("ecr:CreateRepository", "repository"))?;
                let uri = repository
                    .repository_uri
                    .clone()
                    .ok_or_else(|| missing("ecr:CreateRepository", "repositoryUri"))?;
                Ok(Observed {
                    repository,
                    facts: RepositoryFacts {
                        uri,
                        images: 0,
                        has_latest: false,
                    },
                })
            }
            // Created by a run that was cut short after sending.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_repository_already_exists_exception()) =>
            {
                find(ctx, &self.name)
                    .await?
                    .ok_or_else(|| aws("ecr:CreateRepository", e))
            }
            Err(e) => Err(aws("ecr:CreateRepository", e)),
        }
    }

    /// IAM: `ecr:PutImageScanningConfiguration`, `ecr:PutImageTagMutability`.
    async fn apply(&self, ctx: &Context, _: &Observed, drift: &[Drift], _: &Facts, _: &Step) -> Result<(), CliError> {
        let ecr = ctx.ecr();
        for d in drift {
            match d {
                Drift::ScanOnPush { want, .. } => {
                    ecr.put_image_scanning_configuration()
                        .repository_name(&self.name)
                        .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(*want).build())
                        .send()
                        .await
                        .map_err(|e| aws("ecr:PutImageScanningConfiguration", e))?;
                }
                Drift::TagMutability { want, .. } => {
                    ecr.put_image_tag_mutability()
                        .repository_name(&self.name)
                        .image_tag_mutability(want.clone())
                        .send()
                        .await
                        .map_err(|e| aws("ecr:PutImageTagMutability", e))?;
                }
            }
        }
        Ok(())
    }

    /// IAM: `ecr:DeleteRepository` (with its images).
    async fn delete(&self, ctx: &Context, _: &Observed, _step: &Step) -> Result<(), CliError> {
        match ctx
            .ecr()
            .delete_repository()
            .repository_name(&self.name)
            .force(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_repository_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(aws("ecr:DeleteRepository", e)),
        }
    }

    fn record(&self, observed: &Observed, facts: &mut Facts) {
        facts.repositories.insert(self.name.clone(), observed.facts.clone());
    }

    fn state(&self, observed: &Observed, _facts: &Facts) -> Option<String> {
        Some(match (observed.facts.images, observed.facts.has_latest) {
            (0, _) => "empty: waiting for a first push".to_string(),
            (n, true) => format!("{}, latest among them", crate::output::plural(n, "image")),
            (n, false) => format!("{}, no latest", crate::output::plural(n, "image")),
        })
    }
}
