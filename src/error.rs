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
            format!(": grant {operation} to the caller's role (docs/permissions.md lists every permission)")
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
    "ProvisionedThroughputExceededException",
    "TransactionConflictException",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_mocks::failure;
    use aws_sdk_ecs::operation::describe_services::DescribeServicesError;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    /// What `aws_error` makes of one DescribeServices answered with `status` and `code`.
    async fn answered(status: u16, code: &'static str) -> Error {
        let rule = mock!(aws_sdk_ecs::Client::describe_services).then_http_response(move || failure(status, code));
        let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&rule]);
        let err = ecs
            .describe_services()
            .cluster("c")
            .services("s")
            .send()
            .await
            .unwrap_err();
        aws_error("ecs:DescribeServices", err)
    }

    #[tokio::test]
    async fn aws_errors_are_retryable_by_status_or_code_never_by_text() {
        for (status, code, retryable) in [
            (500, "InternalFailure", true),
            (503, "Whatever", true),
            (429, "Whatever", true),
            (400, "ThrottlingException", true),
            (400, "ConflictException", true),
            (400, "InvalidParameterException", false),
            (499, "ClientException", false),
        ] {
            let e = answered(status, code).await;
            assert_eq!(e.is_retryable(), retryable, "{status} {code}: {e}");
            let class = if retryable { "Retryable" } else { "Fatal" };
            assert_eq!(e.error_type(), format!("{class}.AwsError"));
        }
    }

    #[tokio::test]
    async fn denied_and_bad_credentials_say_what_to_do() {
        let denied = answered(400, "AccessDeniedException").await.to_string();
        assert_eq!(
            denied,
            "ecs:DescribeServices failed (AccessDeniedException): AccessDeniedException: grant ecs:DescribeServices to the caller's role (docs/permissions.md lists every permission)"
        );
        for code in ["UnauthorizedOperation", "AccessDenied"] {
            assert!(
                answered(403, code)
                    .await
                    .to_string()
                    .contains("grant ecs:DescribeServices"),
                "{code}"
            );
        }
        for code in [
            "UnrecognizedClientException",
            "InvalidClientTokenId",
            "ExpiredTokenException",
            "ExpiredToken",
        ] {
            let said = answered(403, code).await.to_string();
            assert!(
                said.ends_with(": check the AWS credentials (profile, SSO session or env vars)"),
                "{said}"
            );
        }
        let plain = answered(400, "InvalidParameterException").await.to_string();
        assert_eq!(
            plain,
            "ecs:DescribeServices failed (InvalidParameterException): InvalidParameterException"
        );
    }

    #[test]
    fn transport_failures_are_retryable() {
        let timeout: SdkError<DescribeServicesError, HttpResponse> = SdkError::timeout_error("operation timed out");
        let e = aws_error("ecs:DescribeServices", timeout);
        assert!(e.is_retryable(), "{e}");
        assert!(e.to_string().contains("operation timed out"), "the cause is kept: {e}");
        let construction: SdkError<DescribeServicesError, HttpResponse> =
            SdkError::construction_failure("missing cluster");
        assert!(!aws_error("ecs:DescribeServices", construction).is_retryable());
    }

    #[test]
    fn a_partial_failure_is_retryable_when_any_part_is_and_names_its_kind() {
        let busy = Error::Busy {
            cluster: "c".into(),
            service: "s".into(),
            holder: "h".into(),
            waited_secs: 2,
        };
        let gone = Error::ServiceNotFound {
            cluster: "c".into(),
            service: "s".into(),
        };
        assert_eq!(busy.error_type(), "Retryable.ServiceBusy");
        assert_eq!(gone.error_type(), "Fatal.ServiceNotFound");
        let partial = |failures: Vec<Error>| Error::Partial {
            failures,
            outcomes: Vec::new(),
        };
        assert_eq!(
            partial(vec![gone.clone(), busy.clone()]).error_type(),
            "Retryable.PartialFailure"
        );
        assert_eq!(partial(vec![gone.clone()]).error_type(), "Fatal.PartialFailure");
        let diagnostic = lambda_runtime::Diagnostic::from(busy.clone());
        assert_eq!(
            (diagnostic.error_type.as_str(), diagnostic.error_message),
            ("Retryable.ServiceBusy", busy.to_string())
        );
        let missing = missing_field("ecs:DescribeServices", "services[].serviceArn");
        assert!(missing.is_retryable());
        assert_eq!(
            missing.to_string(),
            "ecs:DescribeServices failed: the response has no services[].serviceArn"
        );
    }
}
