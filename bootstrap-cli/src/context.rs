//! What every command shares: the AWS configuration and the output format. The configuration is
//! built after the app file is read, because the file may name the region: `--region` beats the
//! file, the file beats the environment and the profile.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;

use crate::cli::{GlobalArgs, OutputFormat};
use crate::error::CliError;

/// Shared state of one CLI run.
#[derive(Clone)]
pub struct Context {
    /// AWS configuration.
    pub sdk: SdkConfig,
    /// Output format.
    pub output: OutputFormat,
    region: String,
    interceptors: Vec<SharedInterceptor>,
}

impl Context {
    /// From the command line's global options, the app file's region and the standard AWS chain
    /// (`AWS_ENDPOINT_URL` included). Fails in one line when there is no region or no
    /// credentials, before any AWS call.
    pub async fn connect(global: &GlobalArgs, file_region: Option<&str>) -> Result<Context, CliError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(profile) = &global.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = global.region.as_deref().or(file_region) {
            loader = loader.region(Region::new(region.to_string()));
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(CliError::NoRegion);
        }
        let no_credentials = |detail: Option<String>| CliError::NoCredentials {
            profile: global.profile.clone(),
            detail,
        };
        let provider = sdk.credentials_provider().ok_or_else(|| no_credentials(None))?;
        match provider.provide_credentials().await {
            Ok(_) => {}
            Err(CredentialsError::CredentialsNotLoaded(_)) => return Err(no_credentials(None)),
            Err(e) => return Err(no_credentials(Some(crate::error::error_chain(&e)))),
        }
        Ok(Context::new(sdk, global.output))
    }

    /// Over a given configuration, which must name a region (tests aim it at the emulator).
    pub fn new(sdk: SdkConfig, output: OutputFormat) -> Context {
        // `app/pushdeploy-cli` in the user agent: CloudTrail (and the IAM proof over the tests'
        // requests) tells the CLI's calls from the function's.
        let sdk = (sdk.into_builder())
            .app_name(aws_config::AppName::new("pushdeploy-cli").expect("a valid app name"))
            .build();
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .expect("Context::new needs an SdkConfig with a region");
        Context {
            sdk,
            output,
            region,
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

    /// The region in use.
    pub fn region(&self) -> &str {
        &self.region
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

impl Context {
    /// The clients the engine calls through, with the context's interceptors.
    pub fn engine_clients(&self) -> pushdeploy::Clients {
        pushdeploy::Clients {
            ecs: self.ecs(),
            ssm: self.ssm(),
            ecr: self.ecr(),
            dynamodb: self.dynamodb(),
        }
    }
}

clients! {
    /// Application Auto Scaling client (service scaling).
    application_autoscaling => aws_sdk_applicationautoscaling,
    /// Auto Scaling client.
    autoscaling => aws_sdk_autoscaling,
    /// DynamoDB client (the deploy lock table).
    dynamodb => aws_sdk_dynamodb,
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
    /// CloudWatch Logs client.
    logs => aws_sdk_cloudwatchlogs,
    /// SSM client.
    ssm => aws_sdk_ssm,
    /// STS client.
    sts => aws_sdk_sts,
}
