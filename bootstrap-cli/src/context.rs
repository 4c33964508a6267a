//! What every command shares: the AWS configuration (built once from the standard chain,
//! `AWS_ENDPOINT_URL` included) and the output format.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;

use crate::cli::{GlobalArgs, OutputFormat};

/// Shared state of one CLI run.
#[derive(Clone)]
pub struct Context {
    /// AWS configuration.
    pub sdk: SdkConfig,
    /// Output format.
    pub output: OutputFormat,
    interceptors: Vec<SharedInterceptor>,
}

impl Context {
    /// From the command line's global options and the standard AWS chain.
    pub async fn from_global(global: &GlobalArgs) -> Context {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &global.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &global.profile {
            loader = loader.profile_name(profile);
        }
        Context::new(loader.load().await, global.output)
    }

    /// Over a given configuration (tests aim it at the emulator).
    pub fn new(sdk: SdkConfig, output: OutputFormat) -> Context {
        Context {
            sdk,
            output,
            interceptors: Vec::new(),
        }
    }

    /// Adds an interceptor to every client (tests count calls with it).
    pub fn with_interceptor(
        mut self,
        interceptor: impl aws_smithy_runtime_api::client::interceptors::Intercept + 'static,
    ) -> Context {
        self.interceptors.push(SharedInterceptor::new(interceptor));
        self
    }

    /// Region in use, or an empty string when none is configured.
    pub fn region(&self) -> String {
        self.sdk.region().map(|r| r.to_string()).unwrap_or_default()
    }

    /// ECS client.
    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        let mut b = aws_sdk_ecs::config::Builder::from(&self.sdk);
        for i in &self.interceptors {
            b.push_interceptor(i.clone());
        }
        aws_sdk_ecs::Client::from_conf(b.build())
    }

    /// ECR client.
    pub fn ecr(&self) -> aws_sdk_ecr::Client {
        let mut b = aws_sdk_ecr::config::Builder::from(&self.sdk);
        for i in &self.interceptors {
            b.push_interceptor(i.clone());
        }
        aws_sdk_ecr::Client::from_conf(b.build())
    }

    /// SSM client.
    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        let mut b = aws_sdk_ssm::config::Builder::from(&self.sdk);
        for i in &self.interceptors {
            b.push_interceptor(i.clone());
        }
        aws_sdk_ssm::Client::from_conf(b.build())
    }
}
