//! The routing config as the function reads it: from SSM Parameter Store, kept for a time so
//! warm invocations make no SSM call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::config::{AppConfig, ConfigError};
use crate::error::{aws_error, Error};

/// Loads the config from SSM and keeps it for `ttl`, so warm invocations make no SSM call.
pub struct ConfigCache {
    ssm: aws_sdk_ssm::Client,
    parameter: String,
    ttl: Duration,
    cached: Mutex<Option<(Instant, Arc<AppConfig>)>>,
}

impl ConfigCache {
    /// A cache over `parameter`.
    pub fn new(ssm: aws_sdk_ssm::Client, parameter: String, ttl: Duration) -> ConfigCache {
        ConfigCache {
            ssm,
            parameter,
            ttl,
            cached: Mutex::new(None),
        }
    }

    /// The parameter this cache reads.
    pub fn parameter(&self) -> &str {
        &self.parameter
    }

    /// The config, from the cache when fresh, else from SSM.
    ///
    /// IAM: `ssm:GetParameter` on `arn:aws:ssm:<region>:<account>:parameter/pushdeploy/<app>/config`.
    pub async fn get(&self) -> Result<Arc<AppConfig>, Error> {
        // Held across the fetch so concurrent invocations on one instance fetch once.
        let mut cached = self.cached.lock().await;
        if let Some((at, config)) = cached.as_ref() {
            if at.elapsed() < self.ttl {
                return Ok(config.clone());
            }
        }
        let out = match self.ssm.get_parameter().name(&self.parameter).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => {
                return Err(ConfigError::Missing {
                    parameter: self.parameter.clone(),
                }
                .into())
            }
            Err(e) => return Err(aws_error("ssm:GetParameter", e)),
        };
        let value = out.parameter.and_then(|p| p.value).unwrap_or_default();
        let config = Arc::new(AppConfig::parse(&value, &self.parameter)?);
        *cached = Some((Instant::now(), config.clone()));
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/pushdeploy/demo/config";

    fn cache(ttl: Duration, answer: aws_smithy_mocks::Rule) -> (ConfigCache, aws_smithy_mocks::Rule) {
        let ssm = aws_smithy_mocks::mock_client!(aws_sdk_ssm, aws_smithy_mocks::RuleMode::MatchAny, [&answer]);
        (ConfigCache::new(ssm, P.into(), ttl), answer)
    }

    fn config_answer() -> aws_smithy_mocks::Rule {
        let value = r#"{"version":1,"app":"demo","services":[]}"#;
        let body = serde_json::json!({"Parameter": {"Name": P, "Value": value, "Type": "String", "Version": 1}});
        aws_smithy_mocks::mock!(aws_sdk_ssm::Client::get_parameter)
            .match_requests(|r| r.name() == Some(P))
            .then_http_response(move || crate::test_mocks::ok(body.clone()))
    }

    #[tokio::test]
    async fn the_cache_reads_ssm_once_per_ttl_and_says_when_the_parameter_is_missing() {
        let (warm, answer) = cache(Duration::from_secs(60), config_answer());
        assert_eq!(warm.parameter(), P);
        warm.get().await.unwrap();
        warm.get().await.unwrap();
        assert_eq!(answer.num_calls(), 1, "a warm cache makes no call");
        let (cold, answer) = cache(Duration::ZERO, config_answer());
        cold.get().await.unwrap();
        cold.get().await.unwrap();
        assert_eq!(answer.num_calls(), 2, "an expired entry is read again");

        let not_found = aws_smithy_mocks::mock!(aws_sdk_ssm::Client::get_parameter)
            .then_http_response(|| crate::test_mocks::failure(400, "ParameterNotFound"));
        let (missing, _) = cache(Duration::ZERO, not_found);
        assert!(matches!(
            missing.get().await,
            Err(Error::Config(ConfigError::Missing { ref parameter })) if parameter == P
        ));
        let throttled = aws_smithy_mocks::mock!(aws_sdk_ssm::Client::get_parameter)
            .then_http_response(|| crate::test_mocks::failure(400, "ThrottlingException"));
        let (busy, _) = cache(Duration::ZERO, throttled);
        let err = busy.get().await.unwrap_err();
        assert!(
            !matches!(err, Error::Config(_)),
            "a throttled read is not a missing config: {err:?}"
        );
    }
}
