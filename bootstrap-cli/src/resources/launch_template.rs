//! The launch template of the cluster's instances: the current ECS-optimized Amazon Linux 2023
//! AMI through `resolve:ssm:` (EC2 resolves the public parameter at each launch, so a new AMI
//! release needs no new template version), the instance profile and security group, user data
//! joining the cluster, IMDSv2 required with hop limit 1, an encrypted gp3 root volume.

use std::fmt;

use aws_sdk_ec2::types::{
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest, LaunchTemplateHttpTokensState,
    LaunchTemplateIamInstanceProfileSpecificationRequest, LaunchTemplateInstanceMetadataEndpointState,
    LaunchTemplateInstanceMetadataOptionsRequest, LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData,
    ResourceType, ResponseLaunchTemplateData, Tag, TagSpecification, VolumeType,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use base64::Engine as _;

use super::facts::Architecture;
use super::facts::{need, Facts, GroupRole};
use super::model::{After, Resource, APP_TAG};
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::progress::Step;

/// User data that joins the instance to the cluster.
pub fn user_data(cluster: &str) -> String {
    let script = format!("#!/bin/bash\ncat >> /etc/ecs/ecs.config <<'EOF'\nECS_CLUSTER={cluster}\nECS_ENABLE_CONTAINER_METADATA=true\nEOF\n");
    base64::engine::general_purpose::STANDARD.encode(script)
}

/// The template's image: the ECS-optimized AMI parameter, resolved by EC2 at launch.
pub fn image(architecture: Architecture) -> String {
    format!("resolve:ssm:{}", architecture.ami_parameter())
}

/// The settings `up` owns, comparable between a request and what EC2 returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `resolve:ssm:...` (or an AMI id an older release wrote).
    pub image: Option<String>,
    /// Instance type.
    pub instance_type: Option<String>,
    /// Instance profile name.
    pub instance_profile: Option<String>,
    /// Security group ids.
    pub security_groups: Vec<String>,
    /// Base64 user data.
    pub user_data: Option<String>,
    /// `required` for IMDSv2.
    pub http_tokens: Option<String>,
    /// IMDS hop limit.
    pub hop_limit: Option<i32>,
}

impl Settings {
    fn of(data: &ResponseLaunchTemplateData) -> Settings {
        Settings {
            image: data.image_id.clone(),
            instance_type: data.instance_type().map(|t| t.as_str().to_string()),
            instance_profile: data.iam_instance_profile().and_then(|p| p.name.clone()),
            security_groups: data.security_group_ids().to_vec(),
            user_data: data.user_data.clone(),
            http_tokens: data
                .metadata_options()
                .and_then(|m| m.http_tokens())
                .map(|t| t.as_str().to_string()),
            hop_limit: data.metadata_options().and_then(|m| m.http_put_response_hop_limit()),
        }
    }
}

/// One setting that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// A setting, by name, with what it is and what it should be.
    Setting {
        /// Which.
        what: &'static str,
        /// Now.
        have: String,
        /// Wanted.
        want: String,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Setting { what, have, want } => write!(f, "{what} {have} -> {want}"),
        }
    }
}

/// Compares settings field by field (`None` in `want`: not facts yet, a new resource's id).
pub fn diff_settings(have: &Settings, want: &Settings) -> Vec<Drift> {
    let mut drift = Vec::new();
    let mut check = |what: &'static str, have: Option<String>, want: Option<String>| {
        if have != want {
            drift.push(Drift::Setting {
                what,
                have: have.unwrap_or_else(|| "none".into()),
                want: want.unwrap_or_else(|| "(new)".into()),
            });
        }
    };
    check("image", have.image.clone(), want.image.clone());
    check("instance type", have.instance_type.clone(), want.instance_type.clone());
    check(
        "instance profile",
        have.instance_profile.clone(),
        want.instance_profile.clone(),
    );
    check(
        "security groups",
        Some(have.security_groups.join(",")).filter(|s| !s.is_empty()),
        Some(want.security_groups.join(",")).filter(|s| !s.is_empty()),
    );
    check("user data", have.user_data.clone(), want.user_data.clone());
    check("http tokens", have.http_tokens.clone(), want.http_tokens.clone());
    check(
        "hop limit",
        have.hop_limit.map(|h| h.to_string()),
        want.hop_limit.map(|h| h.to_string()),
    );
    drift
}

/// The app's launch template.
#[derive(Debug, Clone)]
pub struct LaunchTemplate {
    name: String,
    instance_type: String,
    cluster: String,
    instance_name: String,
    app: String,
}

impl LaunchTemplate {
    /// The app's template.
    pub fn new(app: &App) -> LaunchTemplate {
        LaunchTemplate {
            name: app.names.capacity(),
            instance_type: app.file.instance_type.clone(),
            cluster: app.names.cluster(),
            instance_name: app.names.instance_name(),
            app: app.name.clone(),
        }
    }

    fn wanted(&self, facts: &Facts) -> Settings {
        Settings {
            image: facts.architecture.map(image),
            instance_type: Some(self.instance_type.clone()),
            instance_profile: facts.instance_profile.clone(),
            security_groups: facts
                .security_groups
                .get(&GroupRole::Instances)
                .cloned()
                .into_iter()
                .collect(),
            user_data: Some(user_data(&self.cluster)),
            http_tokens: Some("required".into()),
            hop_limit: Some(1),
        }
    }

    fn data(&self, facts: &Facts) -> Result<RequestLaunchTemplateData, CliError> {
        let architecture = need(facts.architecture.as_ref(), "the instance type")?;
        let profile = need(facts.instance_profile.as_ref(), "the instance profile")?;
        let group = need(
            facts.security_groups.get(&GroupRole::Instances),
            "the instances' security group",
        )?;
        Ok(RequestLaunchTemplateData::builder()
            .image_id(image(*architecture))
            .instance_type(self.instance_type.as_str().into())
            .iam_instance_profile(
                LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                    .name(profile)
                    .build(),
            )
            .security_group_ids(group)
            .user_data(user_data(&self.cluster))
            .metadata_options(
                LaunchTemplateInstanceMetadataOptionsRequest::builder()
                    .http_tokens(LaunchTemplateHttpTokensState::Required)
                    .http_put_response_hop_limit(1)
                    .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                    .build(),
            )
            .block_device_mappings(
                LaunchTemplateBlockDeviceMappingRequest::builder()
                    .device_name("/dev/xvda")
                    .ebs(
                        LaunchTemplateEbsBlockDeviceRequest::builder()
                            .encrypted(true)
                            .volume_size(30)
                            .volume_type(VolumeType::Gp3)
                            .delete_on_termination(true)
                            .build(),
                    )
                    .build(),
            )
            .tag_specifications(
                LaunchTemplateTagSpecificationRequest::builder()
                    .resource_type(ResourceType::Instance)
                    .tags(Tag::builder().key(APP_TAG).value(&self.app).build())
                    .tags(Tag::builder().key("Name").value(&self.instance_name).build())
                    .build(),
            )
            .build())
    }
}

/// A launch template as it exists: its id and latest version's data.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Template id.
    pub id: String,
    /// When EC2 created it (Auto Scaling sees a new one only after a while).
    pub created: Option<aws_smithy_types::DateTime>,
    /// `$Latest`'s data.
    pub latest: ResponseLaunchTemplateData,
}

/// The template named `name`.
///
/// IAM: `ec2:DescribeLaunchTemplates`, `ec2:DescribeLaunchTemplateVersions`.
pub async fn find(ctx: &Context, name: &str) -> Result<Option<Observed>, CliError> {
    let ec2 = ctx.ec2();
    let template = match ec2.describe_launch_templates().launch_template_names(name).send().await {
        Ok(out) => out.launch_templates.unwrap_or_default().into_iter().next(),
        // EC2 models no error type for it: the code is the contract.
        Err(e) if e.code() == Some("InvalidLaunchTemplateName.NotFoundException") => None,
        Err(e) => return Err(aws("ec2:DescribeLaunchTemplates", e)),
    };
    let Some(template) = template else { return Ok(None) };
    let id = template
        .launch_template_id
        .clone()
        .ok_or_else(|| missing("ec2:DescribeLaunchTemplates", "LaunchTemplateId"))?;
    let out = ec2
        .describe_launch_template_versions()
        .launch_template_id(&id)
        .versions("$Latest")
        .send()
        .await
        .map_err(|e| aws("ec2:DescribeLaunchTemplateVersions", e))?;
    let latest = out
        .launch_template_versions()
        .first()
        .and_then(|v| v.launch_template_data())
        .cloned()
        .ok_or_else(|| missing("ec2:DescribeLaunchTemplateVersions", "LaunchTemplateData"))?;
    Ok(Some(Observed {
        id,
        created: template.create_time,
        latest,
    }))
}

impl Resource for LaunchTemplate {
    type Observed = Observed;
    type Drift = Drift;

    fn kind(&self) -> &'static str {
        "launch template"
    }

    /// What it is converged after. The instances' security group and instance profile (and the instance type's architecture).
    fn after(&self) -> After {
        After::Kinds(&["security group", "instance profile"])
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    async fn observe(&self, ctx: &Context, _facts: &Facts) -> Result<Option<Observed>, CliError> {
        find(ctx, &self.name).await
    }

    fn diff(&self, observed: &Observed, facts: &Facts) -> Vec<Drift> {
        diff_settings(&Settings::of(&observed.latest), &self.wanted(facts))
    }

    /// IAM: `ec2:CreateLaunchTemplate`, `ec2:CreateTags`, `iam:PassRole` (the instance role),
    /// `ssm:GetParameters` (EC2 checks the `resolve:ssm:` parameter with the caller's rights).
    async fn create(&self, ctx: &Context, facts: &Facts, _step: &Step) -> Result<Observed, CliError> {
        let data = self.data(facts)?;
        let created = ctx
            .ec2()
            .create_launch_template()
            .launch_template_name(&self.name)
            .launch_template_data(data)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::LaunchTemplate)
                    .tags(Tag::builder().key(APP_TAG).value(&self.app).build())
                    .build(),
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            // Created by a run that was cut short after sending.
            Err(e) if e.code() == Some("InvalidLaunchTemplateName.AlreadyExistsException") => {}
            Err(e) => return Err(aws("ec2:CreateLaunchTemplate", e)),
        }
        find(ctx, &self.name)
            .await?
            .ok_or_else(|| missing("ec2:DescribeLaunchTemplates", "the template just created"))
    }

    /// IAM: `ec2:CreateLaunchTemplateVersion`, `ec2:ModifyLaunchTemplate`, `iam:PassRole`.
    async fn apply(
        &self,
        ctx: &Context,
        observed: &Observed,
        _: &[Drift],
        facts: &Facts,
        _: &Step,
    ) -> Result<(), CliError> {
        let ec2 = ctx.ec2();
        let out = ec2
            .create_launch_template_version()
            .launch_template_id(&observed.id)
            .launch_template_data(self.data(facts)?)
            .send()
            .await
            .map_err(|e| aws("ec2:CreateLaunchTemplateVersion", e))?;
        let version = out
            .launch_template_version()
            .and_then(|v| v.version_number())
            .ok_or_else(|| missing("ec2:CreateLaunchTemplateVersion", "VersionNumber"))?;
        ec2.modify_launch_template()
            .launch_template_id(&observed.id)
            .default_version(version.to_string())
            .send()
            .await
            .map_err(|e| aws("ec2:ModifyLaunchTemplate", e))?;
        Ok(())
    }

    /// IAM: `ec2:DeleteLaunchTemplate`.
    async fn delete(&self, ctx: &Context, observed: &Observed, _step: &Step) -> Result<(), CliError> {
        match ctx
            .ec2()
            .delete_launch_template()
            .launch_template_id(&observed.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("InvalidLaunchTemplateId.NotFound") => Ok(()),
            Err(e) => Err(aws("ec2:DeleteLaunchTemplate", e)),
        }
    }

    fn record(&self, observed: &Observed, facts: &mut Facts) {
        facts.launch_template = Some(observed.id.clone());
        if let Some(created) = &observed.created {
            facts.created_at(self.kind(), &self.name, created);
        }
    }

    fn state(&self, observed: &Observed, _facts: &Facts) -> Option<String> {
        observed.latest.image_id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_joins_the_cluster() {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(user_data("demo"))
            .unwrap();
        assert!(String::from_utf8(decoded).unwrap().contains("ECS_CLUSTER=demo\n"));
    }

    #[test]
    fn the_image_follows_the_public_parameter_so_a_new_ami_is_no_drift() {
        assert_eq!(
            image(Architecture::Arm64),
            "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id"
        );
        let want = Settings {
            image: Some(image(Architecture::X86_64)),
            instance_type: Some("t3.small".into()),
            instance_profile: Some("p".into()),
            security_groups: vec!["sg-1".into()],
            user_data: Some(user_data("demo")),
            http_tokens: Some("required".into()),
            hop_limit: Some(1),
        };
        assert!(diff_settings(&want, &want).is_empty());
        // An older release pinned the AMI id itself: that is drift, and only that.
        let pinned = Settings {
            image: Some("ami-0123456789abcdef0".into()),
            ..want.clone()
        };
        let drift = diff_settings(&pinned, &want);
        assert_eq!(drift.len(), 1);
        assert!(
            drift[0]
                .to_string()
                .starts_with("image ami-0123456789abcdef0 -> resolve:ssm:"),
            "{}",
            drift[0]
        );
        let unknown_group = Settings {
            security_groups: vec![],
            ..want.clone()
        };
        assert_eq!(
            diff_settings(&want, &unknown_group)[0].to_string(),
            "security groups sg-1 -> (new)"
        );
    }
}
