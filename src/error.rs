//! The engine's one error type: every failure says what to do next, and tells Lambda whether
//! a retry can help (its `errorType` starts with `Retryable.` or `Fatal.`).

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::config::ConfigError;
use crate::event::EventError;
use crate::outcome::Outcome;

/// Everything that can go wrong while redeploying.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The event cannot be read.
    #[error(transparent)]
    InvalidEvent(#[from] EventError),
    /// The routing config is missing or wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The cluster named by the routing config does not exist.
    #[error("ECS cluster {cluster} not found: run `pushdeploy up` first, or fix the cluster in the routing config")]
    ClusterNotFound {
        /// Cluster name.
        cluster: String,
    },
    /// The service named by the routing config does not exist (or was deleted).
    #[error("ECS service {service} not found in cluster {cluster}: run `pushdeploy up` first, or remove it from the routing config")]
    ServiceNotFound {
        /// Cluster name.
        cluster: String,
        /// Service name.
        service: String,
    },
    /// The running task definition has no container the pushed repository may update.
    #[error("task definition {task_definition} of service {service} has no container running repository {repository} (containers: {containers}): fix the routing config or the task definition")]
    NoMatchingContainer {
        /// Service name.
        service: String,
        /// Running task definition ARN.
        task_definition: String,
        /// Pushed repository.
        repository: String,
        /// Names and images of the containers found.
        containers: String,
    },
    /// An AWS call failed after the SDK's own retries.
    #[error("{operation} failed{}: {message}{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(), hint(code.as_deref(), operation))]
    Aws {
        /// IAM action of the call (`ecs:UpdateService`).
        operation: &'static str,
        /// AWS error code, when the service sent one.
        code: Option<String>,
        /// The service's message, or the transport failure.
        message: String,
        /// Throttling, 5xx, timeouts, conflicts and dropped connections.
        retryable: bool,
    },
    /// Another deploy of the same service held its lock for longer than this one waits.
    #[error("service {service} in cluster {cluster} is being deployed by {holder}; gave up after {waited_secs}s, retry later (Lambda retries the event)")]
    Busy {
        /// Cluster name.
        cluster: String,
        /// Service name.
        service: String,
        /// Lock holder as recorded in the lock.
        holder: String,
        /// How long this deploy waited.
        waited_secs: u64,
    },
    /// Some services failed; the others' outcomes are kept so they can be reported.
    #[error("{} of {} services failed: {}", failures.len(), failures.len() + outcomes.len(), failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Partial {
        /// The failures.
        failures: Vec<Error>,
        /// Outcomes of the services that did not fail.
        outcomes: Vec<Outcome>,
    },
}

fn hint(code: Option<&str>, operation: &str) -> String {
    match code {
        Some("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation") => {
            format!(": grant {operation} to the caller's role (README lists every permission)")
        }
        Some("UnrecognizedClientException" | "InvalidClientTokenId" | "ExpiredTokenException" | "ExpiredToken") => {
            ": check the AWS credentials (profile, SSO session or env vars)".to_string()
        }
        _ => String::new(),
    }
}

impl Error {
    /// Whether retrying the same event later can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Aws { retryable, .. } => *retryable,
            Error::Busy { .. } => true,
            Error::Partial { failures, .. } => failures.iter().any(Error::is_retryable),
            _ => false,
        }
    }

    /// Lambda `errorType`, for alarms and dead-letter triage.
    pub fn error_type(&self) -> String {
        let kind = match self {
            Error::InvalidEvent(_) => "InvalidEvent",
            Error::Config(_) => "ConfigError",
            Error::ClusterNotFound { .. } => "ClusterNotFound",
            Error::ServiceNotFound { .. } => "ServiceNotFound",
            Error::NoMatchingContainer { .. } => "NoMatchingContainer",
            Error::Aws { .. } => "AwsError",
            Error::Busy { .. } => "ServiceBusy",
            Error::Partial { .. } => "PartialFailure",
        };
        let class = if self.is_retryable() { "Retryable" } else { "Fatal" };
        format!("{class}.{kind}")
    }
}

impl From<Error> for lambda_runtime::Diagnostic {
    fn from(e: Error) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type(),
            error_message: e.to_string(),
        }
    }
}

/// An AWS response without a field it always carries: never read as an empty value.
pub fn missing_field(operation: &'static str, field: &str) -> Error {
    Error::Aws {
        operation,
        code: None,
        message: format!("the response has no {field}"),
        retryable: true,
    }
}

/// Error codes that mean "try again later", whatever the HTTP status.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "ServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServerError",
    "InternalServerErrorException",
    "ConflictException",
    "UpdateInProgressException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Turns an SDK error into [`Error::Aws`], classified by its code and HTTP status, never its text.
pub fn aws_error<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_string);
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(_) => {
            status.is_some_and(|s| s >= 500 || s == 429)
                || code.as_deref().is_some_and(|c| RETRYABLE_CODES.contains(&c))
        }
        _ => false,
    };
    let message = match err.message() {
        Some(m) => m.to_string(),
        None => {
            let mut text = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    };
    Error::Aws {
        operation,
        code,
        message,
        retryable,
    }
}
