//! The CLI's one error type; every message says what to do next.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use pushdeploy::image::ImageRefError;

use crate::app_file::AppFileError;

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The engine failed (config, ECS, lock ...).
    #[error(transparent)]
    Engine(#[from] pushdeploy::Error),
    /// `--image` is not an image reference.
    #[error(transparent)]
    Image(#[from] ImageRefError),
    /// The routing config has no such service for that repository.
    #[error("app {app} has no service {service} running repository {repository} in {parameter} (routes: {routes}): check --service and --image, or run `pushdeploy up`")]
    NoRoute {
        /// App name.
        app: String,
        /// Service asked for.
        service: String,
        /// Repository asked for.
        repository: String,
        /// Config parameter.
        parameter: String,
        /// The routes that exist, `cluster/service<-repository`.
        routes: String,
    },
    /// The repository does not exist in ECR.
    #[error("ECR repository {repository} not found: check the name, or create it with `pushdeploy up`")]
    RepositoryNotFound {
        /// Repository name.
        repository: String,
    },
    /// The tag or digest is not in the repository.
    #[error("image {image} not found in ECR: push it first (`docker push`), or check the tag or digest")]
    ImageNotFound {
        /// The image asked for.
        image: String,
    },
    /// Tag and digest were both given but do not name the same image.
    #[error("tag {tag} of {repository} is {actual}, not {digest}: give either the tag or the digest, or both of the same image")]
    TagDigestMismatch {
        /// Repository name.
        repository: String,
        /// Tag given.
        tag: String,
        /// Digest given.
        digest: String,
        /// Digest the tag points at.
        actual: String,
    },
    /// The app file is invalid.
    #[error(transparent)]
    AppFile(#[from] AppFileError),
    /// Something `up` needs is missing from the account, with what to do.
    #[error("{0}")]
    Setup(String),
    /// A wait ran out.
    #[error("timed out after {waited_secs}s waiting for {what}: {hint}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        waited_secs: u64,
        /// What to check.
        hint: String,
    },
    /// `down` without a terminal and without `--yes`.
    #[error("refusing to delete app {app} without confirmation: pass --yes (there is no terminal to ask on)")]
    NeedsConfirmation {
        /// App name.
        app: String,
    },
    /// The user answered no.
    #[error("nothing deleted")]
    Aborted,
    /// Writing the output failed (closed pipe ...).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

/// An AWS SDK error as [`CliError::Engine`], classified like the engine's.
pub fn aws<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> CliError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    CliError::Engine(pushdeploy::error::aws_error(operation, err))
}
