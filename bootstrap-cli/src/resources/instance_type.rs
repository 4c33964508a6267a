//! The instance type of the cluster's instances, and its CPU architecture as EC2 reports it
//! (not guessed from the name): Graviton types need the arm64 ECS-optimized AMI. Its network
//! interfaces bound the `awsvpc` tasks on EC2 (blue-green, canary and linear services): each
//! takes an interface of its own and the instance keeps its primary one (ECS developer guide,
//! "Amazon ECS task networking options for EC2"), so `plan` and `status` say how many fit on an
//! instance and how many instances those services need, a deployment's second set included.
//! ENI trunking (the `awsvpcTrunking` account setting, on supported Nitro types) raises the
//! limit; pushdeploy neither needs nor turns it on.

use aws_sdk_ec2::types::InstanceType as Ec2InstanceType;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::facts::{Architecture, Facts};
use super::model::{After, Lifetime, NoDrift, Resource};
use crate::app_file::{App, Capacity};
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::progress::Step;

/// The app's instance type.
#[derive(Debug, Clone)]
pub struct InstanceType {
    name: String,
    /// The most `awsvpc` tasks on EC2 at once: during a deployment both sets of a staged service.
    awsvpc_tasks: u32,
    max_instances: u32,
}

/// What EC2 says of the type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// CPU architecture.
    pub architecture: Architecture,
    /// `NetworkInfo.MaximumNetworkInterfaces`.
    pub interfaces: Option<i32>,
}

impl InstanceType {
    /// The app file's `instance_type`.
    pub fn new(app: &App) -> InstanceType {
        let awsvpc_tasks = (app.file.services.iter())
            .filter(|s| s.capacity == Capacity::Ec2 && s.is_awsvpc())
            .map(|s| {
                let most = s.autoscaling.as_ref().map_or(s.desired_count, |a| a.max_count);
                // Blue and green run side by side until the bake time ends.
                most.saturating_mul(2)
            })
            .fold(0u32, u32::saturating_add);
        InstanceType {
            name: app.file.instance_type.clone(),
            awsvpc_tasks,
            max_instances: app.file.max_instances,
        }
    }

    /// `awsvpc` tasks an instance holds, and what the app's need in instances, in words.
    fn capacity_words(&self, interfaces: i32) -> String {
        let per_instance = (interfaces - 1).max(0) as u32;
        let mut words = format!(
            "{interfaces} network interfaces: {} an instance",
            crate::output::plural(per_instance as usize, "awsvpc task")
        );
        if self.awsvpc_tasks > 0 && per_instance == 0 {
            words.push_str("; no interface left for awsvpc tasks: choose a type with more interfaces");
        } else if self.awsvpc_tasks > 0 {
            let needed = self.awsvpc_tasks.div_ceil(per_instance.max(1));
            words.push_str(&format!(
                "; {} at most in a deployment need {}",
                self.awsvpc_tasks,
                crate::output::plural(needed as usize, "instance")
            ));
            if needed > self.max_instances {
                words.push_str(&format!(
                    " (max_instances is {}: raise it, or choose a type with more interfaces)",
                    self.max_instances
                ));
            }
        }
        words
    }
}

impl Resource for InstanceType {
    type Observed = Observed;
    type Drift = NoDrift;

    fn kind(&self) -> &'static str {
        "instance type"
    }

    /// What it is converged after. Nothing: it is read, never made.
    fn after(&self) -> After {
        After::Kinds(&[])
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn lifetime(&self) -> Lifetime {
        Lifetime::Account
    }

    /// IAM: `ec2:DescribeInstanceTypes`.
    async fn observe(&self, ctx: &Context, _facts: &Facts) -> Result<Option<Observed>, CliError> {
        let unknown = || CliError::UnknownInstanceType {
            instance_type: self.name.clone(),
            region: ctx.region().to_string(),
        };
        let out = ctx
            .ec2()
            .describe_instance_types()
            .instance_types(Ec2InstanceType::from(self.name.as_str()))
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            // EC2 models no error type for it: the code is the contract.
            Err(e) if e.code() == Some("InvalidInstanceType") => return Err(unknown()),
            Err(e) => return Err(aws("ec2:DescribeInstanceTypes", e)),
        };
        let info = out.instance_types().first().ok_or_else(unknown)?;
        let supported = info
            .processor_info()
            .map(|p| p.supported_architectures().to_vec())
            .ok_or_else(|| missing("ec2:DescribeInstanceTypes", "ProcessorInfo.SupportedArchitectures"))?;
        Ok(Some(Observed {
            architecture: Architecture::from_supported(&supported),
            interfaces: info.network_info().and_then(|n| n.maximum_network_interfaces()),
        }))
    }

    fn diff(&self, _observed: &Observed, _facts: &Facts) -> Vec<NoDrift> {
        Vec::new()
    }

    async fn create(&self, ctx: &Context, _facts: &Facts, _step: &Step) -> Result<Observed, CliError> {
        Err(CliError::UnknownInstanceType {
            instance_type: self.name.clone(),
            region: ctx.region().to_string(),
        })
    }

    async fn apply(&self, _: &Context, _: &Observed, _: &[NoDrift], _: &Facts, _: &Step) -> Result<(), CliError> {
        Ok(())
    }

    async fn delete(&self, _: &Context, _: &Observed, _: &Step) -> Result<(), CliError> {
        Ok(())
    }

    fn record(&self, observed: &Observed, facts: &mut Facts) {
        facts.architecture = Some(observed.architecture);
    }

    fn state(&self, observed: &Observed, _facts: &Facts) -> Option<String> {
        let architecture = match observed.architecture {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64 (Graviton)",
        };
        // Only an app with `awsvpc` tasks on its instances is bound by the interfaces.
        Some(match observed.interfaces.filter(|_| self.awsvpc_tasks > 0) {
            Some(interfaces) => format!("{architecture}, {}", self.capacity_words(interfaces)),
            None => architecture.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::ArchitectureType;

    #[test]
    fn arm64_only_types_get_the_arm64_ami_and_the_rest_the_x86_64_one() {
        assert_eq!(
            Architecture::from_supported(&[ArchitectureType::Arm64]),
            Architecture::Arm64
        );
        assert_eq!(
            Architecture::from_supported(&[ArchitectureType::I386, ArchitectureType::X8664]),
            Architecture::X86_64
        );
        assert!(Architecture::Arm64.ami_parameter().contains("/arm64/"));
        assert!(!Architecture::X86_64.ami_parameter().contains("arm64"));
    }

    #[test]
    fn each_awsvpc_task_takes_an_interface_and_a_deployment_runs_two_sets() {
        let file = |extra: &str| {
            let text = format!("max_instances = 2\n[[services]]\nname = \"web\"\ndesired_count = 2\n{extra}");
            let file: crate::app_file::AppFile = toml::from_str(&text).unwrap();
            InstanceType::new(&App::resolve(file, Some("demo"), "test", None).unwrap())
        };
        // A rolling service on EC2 is bridge: no interface of its own.
        assert_eq!(file("").awsvpc_tasks, 0);
        let staged = file("[services.deployment]\nstrategy = \"canary\"\n");
        assert_eq!(
            staged.capacity_words(3),
            "3 network interfaces: 2 awsvpc tasks an instance; 4 at most in a deployment need 2 instances"
        );
        assert!(staged
            .capacity_words(2)
            .contains("need 4 instances (max_instances is 2: raise it"));
        assert!(staged
            .capacity_words(1)
            .ends_with("no interface left for awsvpc tasks: choose a type with more interfaces"));
    }
}
