//! The instance type of the cluster's instances, and its CPU architecture as EC2 reports it
//! (not guessed from the name): Graviton types need the arm64 ECS-optimized AMI.

use aws_sdk_ec2::types::InstanceType as Ec2InstanceType;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::facts::{Architecture, Facts};
use super::model::{Lifetime, NoDrift, Resource};
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::progress::Step;

/// The app's instance type.
#[derive(Debug, Clone)]
pub struct InstanceType {
    name: String,
}

impl InstanceType {
    /// The app file's `instance_type`.
    pub fn new(app: &App) -> InstanceType {
        InstanceType {
            name: app.file.instance_type.clone(),
        }
    }
}

impl Resource for InstanceType {
    type Observed = Architecture;
    type Drift = NoDrift;

    fn kind(&self) -> &'static str {
        "instance type"
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn lifetime(&self) -> Lifetime {
        Lifetime::Account
    }

    /// IAM: `ec2:DescribeInstanceTypes`.
    async fn observe(&self, ctx: &Context, _facts: &Facts) -> Result<Option<Architecture>, CliError> {
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
        Ok(Some(Architecture::from_supported(&supported)))
    }

    fn diff(&self, _observed: &Architecture, _facts: &Facts) -> Vec<NoDrift> {
        Vec::new()
    }

    async fn create(&self, ctx: &Context, _facts: &Facts, _step: &Step) -> Result<Architecture, CliError> {
        Err(CliError::UnknownInstanceType {
            instance_type: self.name.clone(),
            region: ctx.region().to_string(),
        })
    }

    async fn apply(&self, _: &Context, _: &Architecture, _: &[NoDrift], _: &Facts, _: &Step) -> Result<(), CliError> {
        Ok(())
    }

    async fn delete(&self, _: &Context, _: &Architecture, _: &Step) -> Result<(), CliError> {
        Ok(())
    }

    fn record(&self, observed: &Architecture, facts: &mut Facts) {
        facts.architecture = Some(*observed);
    }

    fn state(&self, observed: &Architecture, _facts: &Facts) -> Option<String> {
        Some(match observed {
            Architecture::X86_64 => "x86_64".into(),
            Architecture::Arm64 => "arm64 (Graviton)".into(),
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
}
