//! The instance type of the cluster's instances, and its CPU architecture as EC2 reports it
//! (not guessed from the name): Graviton types need the arm64 ECS-optimized AMI.

use aws_sdk_ec2::types::{ArchitectureType, InstanceType as Ec2InstanceType};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{Known, Lifetime, NoDrift, Resource};
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::progress::Step;

/// CPU architecture of an instance type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// Intel and AMD.
    X86_64,
    /// Graviton.
    Arm64,
}

impl Architecture {
    /// From the architectures EC2 says a type supports: arm64 only when it cannot run x86_64.
    pub fn from_supported(supported: &[ArchitectureType]) -> Architecture {
        if supported.contains(&ArchitectureType::Arm64) && !supported.contains(&ArchitectureType::X8664) {
            Architecture::Arm64
        } else {
            Architecture::X86_64
        }
    }

    /// The public SSM parameter naming the current ECS-optimized Amazon Linux 2023 AMI.
    pub fn ami_parameter(self) -> &'static str {
        match self {
            Architecture::X86_64 => "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
            Architecture::Arm64 => "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id",
        }
    }
}

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
    async fn observe(&self, ctx: &Context, _known: &Known) -> Result<Option<Architecture>, CliError> {
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

    fn diff(&self, _observed: &Architecture, _known: &Known) -> Vec<NoDrift> {
        Vec::new()
    }

    async fn create(&self, ctx: &Context, _known: &Known, _step: &Step) -> Result<Architecture, CliError> {
        Err(CliError::UnknownInstanceType {
            instance_type: self.name.clone(),
            region: ctx.region().to_string(),
        })
    }

    async fn apply(&self, _: &Context, _: &Architecture, _: &[NoDrift], _: &Known, _: &Step) -> Result<(), CliError> {
        Ok(())
    }

    async fn delete(&self, _: &Context, _: &Architecture, _: &Step) -> Result<(), CliError> {
        Ok(())
    }

    fn record(&self, observed: &Architecture, known: &mut Known) {
        known.architecture = Some(*observed);
    }

    fn state(&self, observed: &Architecture, _known: &Known) -> Option<String> {
        Some(match observed {
            Architecture::X86_64 => "x86_64".into(),
            Architecture::Arm64 => "arm64 (Graviton)".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
