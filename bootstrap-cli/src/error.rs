//! The CLI's one error type; every message says what to do next.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use pushdeploy::image::ImageRefError;

/// A bad app file: where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct AppFileError {
    /// The file (or "defaults").
    pub file: String,
    /// Line, field and problem.
    pub message: String,
}

impl CliError {
    /// The engine's errors that speak to the function's operator (its environment variables,
    /// Lambda's retries) in the words of a CLI user instead.
    pub fn for_people(self) -> CliError {
        use pushdeploy::config::ConfigError;
        match self {
            CliError::Engine(pushdeploy::Error::Config(ConfigError::Missing { parameter })) => CliError::NotCreated {
                what: format!("the routing config {parameter}"),
            },
            CliError::Engine(pushdeploy::Error::Busy {
                cluster,
                service,
                holder,
                waited_secs,
            }) => CliError::Busy {
                cluster,
                service,
                holder,
                waited_secs,
            },
            other => other,
        }
    }
}

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The engine failed (config, ECS, lock ...), or an AWS call did.
    #[error(transparent)]
    Engine(#[from] pushdeploy::Error),
    /// `--image` is not an image reference.
    #[error(transparent)]
    Image(#[from] ImageRefError),
    /// The app file is invalid.
    #[error(transparent)]
    AppFile(#[from] AppFileError),
    /// No region anywhere: flag, app file or environment.
    #[error("no AWS region: pass --region, set `region` in pushdeploy.toml, or export AWS_REGION")]
    NoRegion,
    /// The standard chain found no usable credentials.
    #[error("no AWS credentials{}{}: run `aws sso login{}`, pass --profile, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        profile.as_deref().map(|p| format!(" for profile {p}")).unwrap_or_default(),
        detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(),
        profile.as_deref().map(|p| format!(" --profile {p}")).unwrap_or_default())]
    NoCredentials {
        /// The profile in use, if one was named.
        profile: Option<String>,
        /// What the provider said, when it said more than "none found".
        detail: Option<String>,
    },
    /// `--profile` names a profile the config files do not have.
    #[error("profile {profile} is not in the AWS config files ({files}): `aws configure list-profiles` lists the ones there are, `aws configure sso --profile {profile}` adds it")]
    NoSuchProfile {
        /// The profile asked for.
        profile: String,
        /// Where it was looked for.
        files: String,
    },
    /// Neither the app's cluster nor its routing config exists in this Region and account.
    #[error("no app {app} in {region} (account {account}): neither its cluster nor its routing config {parameter} is there; check --region (or `region` in the app file, AWS_REGION) and --profile")]
    NoAppHere {
        /// App name.
        app: String,
        /// Region.
        region: String,
        /// Account.
        account: String,
        /// The routing config's parameter name.
        parameter: String,
    },
    /// `up` without an app file would change an app that exists.
    #[error("no {looked_for} here: app {app} exists in {region} and `up` with the defaults would change it ({changes}); run in the app's folder or pass -f FILE (`pushdeploy plan -f FILE` shows what a file would change)")]
    NoFileOverExistingApp {
        /// App name.
        app: String,
        /// Region.
        region: String,
        /// The file looked for.
        looked_for: String,
        /// What the defaults would change.
        changes: String,
    },
    /// An explicit `deploy` deployed nothing.
    #[error("{service} was not deployed: {why}")]
    NotDeployed {
        /// `cluster/service`.
        service: String,
        /// Why, and what to do.
        why: String,
    },
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
    #[error("image {image} not found in ECR{there}: push it first (`docker push`), or check the tag or digest")]
    ImageNotFound {
        /// The image asked for.
        image: String,
        /// What the repository holds, in words (` (tags there, newest first: v2, v1)`), or empty.
        there: String,
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
    /// The image's registry is another account's or region's.
    #[error("image {image} is in registry {registry}, but this account and region's registry is {expected}: use --region, or the right credentials")]
    OtherRegistry {
        /// The image asked for.
        image: String,
        /// Its registry host.
        registry: String,
        /// The registry of the credentials' account in the region.
        expected: String,
    },
    /// `--digest` is not a digest.
    #[error("--digest {digest:?} is not `sha256:` followed by 64 hex digits")]
    BadDigest {
        /// What was given.
        digest: String,
    },
    /// `init` would overwrite a file.
    #[error("{path} exists: pass --force to overwrite it")]
    FileExists {
        /// The file.
        path: String,
    },
    /// The region has no default VPC and the app file names none.
    #[error("no default VPC in region {region}: name one with `vpc_id` and `subnets` in pushdeploy.toml")]
    NoDefaultVpc {
        /// Region.
        region: String,
    },
    /// The VPC has fewer than the two subnets a load balancer needs.
    #[error("VPC {vpc} has {count} default subnet(s); a load balancer needs two availability zones: list `subnets` in pushdeploy.toml")]
    TooFewSubnets {
        /// VPC id.
        vpc: String,
        /// Subnets found.
        count: usize,
    },
    /// EC2 does not know the instance type in this region.
    #[error("instance type {instance_type} is not offered in region {region}: pick another `instance_type` in pushdeploy.toml")]
    UnknownInstanceType {
        /// The type.
        instance_type: String,
        /// Region.
        region: String,
    },
    /// The load balancer ended in the `failed` state.
    #[error("load balancer {name} failed to provision ({reason}): run `pushdeploy down`, then `pushdeploy up` again")]
    LoadBalancerFailed {
        /// Name.
        name: String,
        /// ELB's reason.
        reason: String,
    },
    /// ECS could not delete the capacity provider.
    #[error("capacity provider {name} could not be deleted (DELETE_FAILED): {reason}; fix that, then run `pushdeploy down` again")]
    CapacityProviderDeleteFailed {
        /// Name.
        name: String,
        /// ECS's `updateStatusReason`.
        reason: String,
    },
    /// `rollback` found nothing to roll back to.
    #[error("cannot roll back service {service}: {problem}")]
    NoRollbackTarget {
        /// Service.
        service: String,
        /// Why.
        problem: String,
    },
    /// Another deploy of the service held its lock longer than the command waited.
    #[error("service {service} in cluster {cluster} is being deployed by {holder}; gave up after {waited_secs}s: run the command again once that deploy is done (`pushdeploy status` shows it)")]
    Busy {
        /// Cluster name.
        cluster: String,
        /// Service name.
        service: String,
        /// Lock holder as recorded in the lock.
        holder: String,
        /// How long the command waited.
        waited_secs: u64,
    },
    /// A service cannot change in place as the file asks (`check_switches` of the services).
    #[error("service {service} now has {have}; the file asks for {want}: {how}; nothing was changed")]
    StrategySwitch {
        /// Service.
        service: String,
        /// What it has, in words.
        have: String,
        /// What the file asks for.
        want: String,
        /// Why not, and what to do.
        how: String,
    },
    /// A service to move between rolling and the other strategies, or between the instances and
    /// Fargate, is being deployed: ECS changes a strategy only between deployments, and a move is
    /// a deployment of its own.
    #[error("service {service} is being deployed, and ECS changes a service's deployment strategy, and `up` moves its tasks between the instances and Fargate, only between deployments; nothing was changed: run `pushdeploy up` again once the deployment is done (`pushdeploy status` shows it; one paused for approval ends with `pushdeploy approve` or `reject`)")]
    SwitchDuringDeployment {
        /// Service.
        service: String,
    },
    /// The app's instances that no service uses any more were not all removed (everything else
    /// `up` does is unaffected).
    #[error("the app's instances that no service runs on were not all removed: {reason}; the app's services are not affected: run `pushdeploy up` again to finish (it resumes where this stopped; not `down`, which deletes the whole app)")]
    UnusedInstances {
        /// Why.
        reason: String,
    },
    /// The rolling deployment that precedes a switch from rolling failed.
    #[error("service {service}: the rolling deployment that gives ECS its second target group failed ({reason}), so its strategy was not changed; fix what `pushdeploy status` shows, then run `pushdeploy up` again")]
    SwitchFailed {
        /// Service.
        service: String,
        /// ECS's reason.
        reason: String,
    },
    /// `approve` or `reject` of a service whose deployment waits for nobody.
    #[error(
        "service {service} has no deployment waiting for approval: {why}; `pushdeploy status` shows its deployments"
    )]
    NotAwaitingApproval {
        /// Service.
        service: String,
        /// What its deployment does instead.
        why: String,
    },
    /// A resource another one needs does not exist.
    #[error("{what} does not exist yet: run `pushdeploy up` first")]
    NotCreated {
        /// The missing resource.
        what: String,
    },
    /// The app file has no such service.
    #[error(
        "app {app} has no service {service} (services: {services}): check --service, or add it to pushdeploy.toml"
    )]
    UnknownService {
        /// App name.
        app: String,
        /// Service asked for.
        service: String,
        /// The file's services.
        services: String,
    },
    /// `--since` is neither a duration nor a time.
    #[error("--since {given:?} is neither a duration (30s, 10m, 2h, 1d) nor a time (2026-11-27T10:00:00Z)")]
    BadSince {
        /// What was given.
        given: String,
    },
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
    /// An SDK waiter reached a failure state.
    #[error("stopped waiting for {what}: AWS reports a state it cannot leave ({detail}): {hint}")]
    WaitFailed {
        /// What was awaited.
        what: String,
        /// The final state.
        detail: String,
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

/// An error and its causes on one line: `a: b: c`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

impl CliError {
    /// Whether AWS refused the call for its request rate (its error code says so).
    pub fn is_throttling(&self) -> bool {
        let CliError::Engine(pushdeploy::Error::Aws { code: Some(code), .. }) = self else {
            return false;
        };
        matches!(
            code.as_str(),
            "ThrottlingException" | "Throttling" | "TooManyRequestsException" | "RequestLimitExceeded"
        )
    }
}

/// An AWS SDK error as [`CliError::Engine`], classified like the engine's.
pub fn aws<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> CliError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    CliError::Engine(pushdeploy::error::aws_error(operation, err))
}

/// An AWS response without a field it always carries.
pub fn missing(operation: &'static str, field: &str) -> CliError {
    CliError::Engine(pushdeploy::error::missing_field(operation, field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_errors_a_cli_user_meets_name_no_function_variables() {
        let missing = CliError::Engine(pushdeploy::Error::Config(pushdeploy::config::ConfigError::Missing {
            parameter: "/pushdeploy/shop/config".into(),
        }))
        .for_people()
        .to_string();
        assert!(
            missing.contains("/pushdeploy/shop/config") && missing.contains("pushdeploy up"),
            "{missing}"
        );
        assert!(
            !missing.contains("PUSHDEPLOY_") && !missing.contains("<app>"),
            "{missing}"
        );
        let busy = CliError::Engine(pushdeploy::Error::Busy {
            cluster: "shop".into(),
            service: "web".into(),
            holder: "lambda".into(),
            waited_secs: 30,
        })
        .for_people()
        .to_string();
        assert!(
            busy.contains("run the command again") && !busy.contains("Lambda"),
            "{busy}"
        );
    }
}
