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

    /// Whether progress and colour go to a terminal (never in JSON mode or under `NO_COLOR`).
    pub fn interactive(&self) -> bool {
        use std::io::IsTerminal;
        self.output == OutputFormat::Text && std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
    }
}

/// One client constructor per service, each carrying the context's interceptors.
macro_rules! clients {
    ($($(#[$doc:meta])* $method:ident => $krate:ident),* $(,)?) => {
        impl Context {
            $(
                $(#[$doc])*
                pub fn $method(&self) -> $krate::Client {
                    let mut b = $krate::config::Builder::from(&self.sdk);
                    for i in &self.interceptors {
                        b.push_interceptor(i.clone());
                    }
                    $krate::Client::from_conf(b.build())
                }
            )*
        }
    };
}

clients! {
    /// Auto Scaling client.
    autoscaling => aws_sdk_autoscaling,
    /// EC2 client.
    ec2 => aws_sdk_ec2,
    /// ECR client.
    ecr => aws_sdk_ecr,
    /// ECS client.
    ecs => aws_sdk_ecs,
    /// ELBv2 client.
    elbv2 => aws_sdk_elasticloadbalancingv2,
    /// IAM client.
    iam => aws_sdk_iam,
    /// SSM client.
    ssm => aws_sdk_ssm,
    /// STS client.
    sts => aws_sdk_sts,
}
