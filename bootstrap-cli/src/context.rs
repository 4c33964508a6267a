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
    /// `-v` count: 1 adds a progress line per step without a terminal.
    pub verbose: u8,
    region: String,
    account: std::sync::Arc<std::sync::OnceLock<String>>,
    interceptors: Vec<SharedInterceptor>,
}

/// Fails when `profile` is in neither AWS config file (the SDK would fall through silently to
/// other credentials).
fn check_profile(profile: &str) -> Result<(), CliError> {
    let home = std::env::var("HOME").unwrap_or_default();
    let path = |var: &str, default: &str| std::env::var(var).unwrap_or_else(|_| format!("{home}/.aws/{default}"));
    let config = path("AWS_CONFIG_FILE", "config");
    let credentials = path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let has = |file: &str, names: &[String]| {
        std::fs::read_to_string(file).is_ok_and(|text| {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix('[')?.strip_suffix(']'))
                .any(|section| names.iter().any(|n| n == section.trim()))
        })
    };
    let in_config = [format!("profile {profile}"), profile.to_string()];
    if has(&config, &in_config) || has(&credentials, &[profile.to_string()]) {
        return Ok(());
    }
    Err(CliError::NoSuchProfile {
        profile: profile.to_string(),
        files: format!("{config}, {credentials}"),
    })
}

impl Context {
    /// From the command line's global options, the app file's region and the standard AWS chain
    /// (`AWS_ENDPOINT_URL` included). Fails in one line when there is no region or no
    /// credentials, before any AWS call.
    pub async fn connect(global: &GlobalArgs, file_region: Option<&str>) -> Result<Context, CliError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(profile) = &global.profile {
            // As with the aws CLI, a profile named on the command line wins over keys in the
            // environment (the default chain would take those first).
            check_profile(profile)?;
            let credentials = aws_config::profile::ProfileFileCredentialsProvider::builder()
                .profile_name(profile)
                .build();
            loader = loader.profile_name(profile).credentials_provider(credentials);
        }
        if let Some(region) = global.region.as_deref().or(file_region) {
            loader = loader.region(Region::new(region.to_string()));
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(CliError::NoRegion);
        }
        let profile = (global.profile.clone()).or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
        let no_credentials = |detail: Option<String>| CliError::NoCredentials {
            profile: profile.clone(),
            detail,
        };
        let provider = sdk.credentials_provider().ok_or_else(|| no_credentials(None))?;
        match provider.provide_credentials().await {
            Ok(_) => {}
            Err(CredentialsError::CredentialsNotLoaded(_)) => return Err(no_credentials(None)),
            Err(e) => return Err(no_credentials(Some(crate::error::error_chain(&e)))),
        }
        let mut ctx = Context::new(sdk, global.output);
        ctx.verbose = global.verbose;
        Ok(ctx)
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
            verbose: 0,
            region,
            account: std::sync::Arc::new(std::sync::OnceLock::new()),
            interceptors: Vec::new(),
        }
    }

    /// The account the credentials act in (`sts:GetCallerIdentity`, asked once).
    ///
    /// IAM: `sts:GetCallerIdentity` (allowed to every principal).
    pub async fn account(&self) -> Result<String, CliError> {
        if let Some(account) = self.account.get() {
            return Ok(account.clone());
        }
        let me = (self.sts().get_caller_identity().send().await)
            .map_err(|e| crate::error::aws("sts:GetCallerIdentity", e))?;
        let account = me
            .account
            .ok_or_else(|| crate::error::missing("sts:GetCallerIdentity", "Account"))?;
        Ok(self.account.get_or_init(|| account).clone())
    }

    /// Says first, on stderr, what the command acts on: the app, the Region, the account and the
    /// file it read (or that there was none).
    pub async fn announce(&self, app: &crate::app_file::App) -> Result<(), CliError> {
        let account = self.account().await?;
        let file = match &app.source {
            Some(path) => format!("file {path}"),
            None => "no file: defaults".to_string(),
        };
        eprintln!("app {} in {} (account {account}, {file})", app.name, self.region);
        Ok(())
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
    /// CloudWatch client (deployment alarms).
    cloudwatch => aws_sdk_cloudwatch,
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
