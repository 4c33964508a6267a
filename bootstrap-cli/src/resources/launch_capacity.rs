//! EC2 capacity for the cluster: a launch template (ECS-optimized Amazon Linux 2023, the
//! instance profile and security group, user data joining the cluster, IMDSv2 required with hop
//! limit 1, encrypted root volume), an Auto Scaling group across the subnets with scale-in
//! protection, and an ECS capacity provider with managed scaling attached to the cluster as its
//! default strategy.

use std::time::{Duration, Instant};

use aws_sdk_autoscaling::types::{LaunchTemplateSpecification, Tag as AsgTag};
use aws_sdk_ec2::types::{
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest, LaunchTemplateHttpTokensState,
    LaunchTemplateIamInstanceProfileSpecificationRequest, LaunchTemplateInstanceMetadataEndpointState,
    LaunchTemplateInstanceMetadataOptionsRequest, LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData,
    ResourceType, Tag as Ec2Tag, VolumeType,
};
use aws_sdk_ecs::types::{
    AutoScalingGroupProvider, CapacityProviderStrategyItem, ManagedScaling, ManagedScalingStatus,
    ManagedTerminationProtection, Tag as EcsTag,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use base64::Engine as _;

use super::iam::Roles;
use super::network::Network;
use super::{change_for, planned, Change, Mode, Report, APP_TAG};
use crate::app_file::App;
use crate::context::Context;
use crate::error::{aws, CliError};

/// Public SSM parameters naming the current ECS-optimized AMIs.
pub const AMI_PARAMETER_X86: &str = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";
/// Same, for Graviton instance types.
pub const AMI_PARAMETER_ARM: &str = "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id";
/// How long a new instance profile may take to become usable.
pub const IAM_PROPAGATION: Duration = Duration::from_secs(90);

/// Whether an instance type is Graviton (arm64): `t4g.small`, `m7gd.large`, `c6gn.xlarge`.
pub fn is_graviton(instance_type: &str) -> bool {
    let family = instance_type.split('.').next().unwrap_or_default();
    let digits = family.find(|c: char| c.is_ascii_digit());
    digits.is_some_and(|i| {
        family[i..]
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .starts_with('g')
    })
}

/// User data that joins the instance to the cluster.
pub fn user_data(cluster: &str) -> String {
    let script = format!("#!/bin/bash\ncat >> /etc/ecs/ecs.config <<'EOF'\nECS_CLUSTER={cluster}\nECS_ENABLE_CONTAINER_METADATA=true\nEOF\n");
    base64::engine::general_purpose::STANDARD.encode(script)
}

/// Whether an error is IAM's eventual consistency: a new instance profile not yet visible.
/// EC2 and Auto Scaling model no error for it, so the code and the message decide.
pub fn is_iam_propagation<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    let code_fits = matches!(
        err.code(),
        Some("ValidationError" | "InvalidParameterValue" | "InvalidParameterValueException")
    );
    let message = err.message().unwrap_or_default().to_ascii_lowercase();
    code_fits && (message.contains("instance profile") || message.contains("iaminstanceprofile"))
}

/// Runs `call` until it stops failing with an IAM propagation error, for at most `limit`.
pub async fn retry_iam_propagation<T, E, F, Fut>(limit: Duration, mut call: F) -> Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(500);
    loop {
        match call().await {
            Err(e) if is_iam_propagation(&e) && started.elapsed() < limit => {
                tracing::info!("instance profile not visible yet; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(8));
            }
            other => return other,
        }
    }
}

/// Ensures launch template, Auto Scaling group, capacity provider and its attachment.
pub async fn ensure(
    ctx: &Context,
    app: &App,
    net: &Network,
    roles: &Roles,
    mode: Mode,
) -> Result<Vec<Report>, CliError> {
    let mut reports = vec![launch_template(ctx, app, net, roles, mode).await?];
    let (report, asg_arn) = auto_scaling_group(ctx, app, net, mode).await?;
    reports.push(report);
    reports.extend(capacity_provider(ctx, app, &asg_arn, mode).await?);
    Ok(reports)
}

/// Name of the launch template, Auto Scaling group and capacity provider.
pub fn capacity_name(app: &App) -> String {
    app.prefix()
}

async fn ami(ctx: &Context, instance_type: &str) -> Result<String, CliError> {
    let name = if is_graviton(instance_type) {
        AMI_PARAMETER_ARM
    } else {
        AMI_PARAMETER_X86
    };
    // IAM: ssm:GetParameter on arn:aws:ssm:<region>::parameter/aws/service/ecs/*
    let out = ctx
        .ssm()
        .get_parameter()
        .name(name)
        .send()
        .await
        .map_err(|e| aws("ssm:GetParameter", e))?;
    out.parameter
        .and_then(|p| p.value)
        .ok_or_else(|| CliError::Setup(format!("public parameter {name} has no value")))
}

fn template_data(app: &App, ami: &str, net: &Network, roles: &Roles) -> RequestLaunchTemplateData {
    RequestLaunchTemplateData::builder()
        .image_id(ami)
        .instance_type(app.file.instance_type.as_str().into())
        .iam_instance_profile(
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .name(&roles.instance_profile)
                .build(),
        )
        .security_group_ids(&net.instance_sg)
        .user_data(user_data(&app.cluster()))
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
                .tags(Ec2Tag::builder().key(APP_TAG).value(&app.name).build())
                .tags(
                    Ec2Tag::builder()
                        .key("Name")
                        .value(format!("{} ecs", app.prefix()))
                        .build(),
                )
                .build(),
        )
        .build()
}

/// IAM: `ec2:DescribeLaunchTemplates`, `ec2:DescribeLaunchTemplateVersions`,
/// `ec2:CreateLaunchTemplate`, `ec2:CreateLaunchTemplateVersion`, `ec2:ModifyLaunchTemplate`,
/// `ec2:CreateTags`, `iam:PassRole` (instance role), `ssm:GetParameter` (public AMI parameter).
async fn launch_template(
    ctx: &Context,
    app: &App,
    net: &Network,
    roles: &Roles,
    mode: Mode,
) -> Result<Report, CliError> {
    let ec2 = ctx.ec2();
    let name = capacity_name(app);
    let found = find_launch_template(ctx, &name).await?;
    let ami = ami(ctx, &app.file.instance_type).await?;
    let want = template_data(app, &ami, net, roles);
    let mut diffs = Vec::new();
    if let Some(id) = &found {
        let out = ec2
            .describe_launch_template_versions()
            .launch_template_id(id)
            .versions("$Latest")
            .send()
            .await
            .map_err(|e| aws("ec2:DescribeLaunchTemplateVersions", e))?;
        let have = out
            .launch_template_versions()
            .first()
            .and_then(|v| v.launch_template_data())
            .cloned()
            .unwrap_or_else(|| aws_sdk_ec2::types::ResponseLaunchTemplateData::builder().build());
        let mut check = |what: &str, have: Option<String>, want: Option<String>| {
            if have != want {
                diffs.push(format!(
                    "{what} {} -> {}",
                    have.unwrap_or_default(),
                    want.unwrap_or_default()
                ));
            }
        };
        check("image", have.image_id.clone(), want.image_id.clone());
        check(
            "instance type",
            have.instance_type().map(|t| t.as_str().to_string()),
            Some(app.file.instance_type.clone()),
        );
        check(
            "instance profile",
            have.iam_instance_profile().and_then(|p| p.name.clone()),
            Some(roles.instance_profile.clone()),
        );
        check(
            "security groups",
            Some(have.security_group_ids().join(",")),
            Some(net.instance_sg.clone()),
        );
        check("user data", have.user_data.clone(), want.user_data.clone());
        check(
            "http tokens",
            have.metadata_options()
                .and_then(|m| m.http_tokens())
                .map(|t| t.as_str().to_string()),
            Some("required".into()),
        );
    }
    if mode == Mode::Apply {
        match &found {
            None => {
                ec2.create_launch_template()
                    .launch_template_name(&name)
                    .launch_template_data(want)
                    .tag_specifications(
                        aws_sdk_ec2::types::TagSpecification::builder()
                            .resource_type(ResourceType::LaunchTemplate)
                            .tags(Ec2Tag::builder().key(APP_TAG).value(&app.name).build())
                            .build(),
                    )
                    .send()
                    .await
                    .map(|_| ())
                    .or_else(|e| match e.code() {
                        Some("InvalidLaunchTemplateName.AlreadyExistsException") => Ok(()),
                        _ => Err(aws("ec2:CreateLaunchTemplate", e)),
                    })?;
            }
            Some(id) if !diffs.is_empty() => {
                let out = ec2
                    .create_launch_template_version()
                    .launch_template_id(id)
                    .launch_template_data(want)
                    .send()
                    .await
                    .map_err(|e| aws("ec2:CreateLaunchTemplateVersion", e))?;
                let version = out
                    .launch_template_version()
                    .and_then(|v| v.version_number())
                    .unwrap_or_default();
                ec2.modify_launch_template()
                    .launch_template_id(id)
                    .default_version(version.to_string())
                    .send()
                    .await
                    .map_err(|e| aws("ec2:ModifyLaunchTemplate", e))?;
            }
            Some(_) => {}
        }
    }
    Ok(Report::new("launch template", &name, change_for(found.is_some(), diffs)).with_state(ami))
}

/// IAM: `autoscaling:DescribeAutoScalingGroups`, `autoscaling:CreateAutoScalingGroup`,
/// `autoscaling:UpdateAutoScalingGroup`, `autoscaling:CreateOrUpdateTags`,
/// `ec2:RunInstances` (through the launch template), `iam:CreateServiceLinkedRole`.
async fn auto_scaling_group(ctx: &Context, app: &App, net: &Network, mode: Mode) -> Result<(Report, String), CliError> {
    let asg = ctx.autoscaling();
    let name = capacity_name(app);
    let found = find_auto_scaling_group(ctx, &name).await?;
    let (min, max, desired) = (
        app.file.min_instances as i32,
        app.file.max_instances as i32,
        app.file.desired_instances as i32,
    );
    let mut diffs = Vec::new();
    if let Some(g) = &found {
        if g.min_size() != Some(min) || g.max_size() != Some(max) {
            diffs.push(format!(
                "size {}..{} -> {min}..{max}",
                g.min_size().unwrap_or_default(),
                g.max_size().unwrap_or_default()
            ));
        }
    }
    let arn = match (&found, mode) {
        (Some(g), _) => {
            if mode == Mode::Apply && !diffs.is_empty() {
                asg.update_auto_scaling_group()
                    .auto_scaling_group_name(&name)
                    .min_size(min)
                    .max_size(max)
                    .send()
                    .await
                    .map_err(|e| aws("autoscaling:UpdateAutoScalingGroup", e))?;
            }
            g.auto_scaling_group_arn().unwrap_or_default().to_string()
        }
        (None, Mode::Plan) => planned("auto scaling group"),
        (None, Mode::Apply) => {
            let tag = |k: &str, v: &str| {
                AsgTag::builder()
                    .key(k)
                    .value(v)
                    .propagate_at_launch(true)
                    .resource_id(&name)
                    .resource_type("auto-scaling-group")
                    .build()
            };
            retry_iam_propagation(IAM_PROPAGATION, || {
                asg.create_auto_scaling_group()
                    .auto_scaling_group_name(&name)
                    .launch_template(
                        LaunchTemplateSpecification::builder()
                            .launch_template_name(&name)
                            .version("$Latest")
                            .build(),
                    )
                    .min_size(min)
                    .max_size(max)
                    .desired_capacity(desired)
                    .vpc_zone_identifier(net.subnets.join(","))
                    .new_instances_protected_from_scale_in(true)
                    .tags(tag(APP_TAG, &app.name))
                    .tags(tag("Name", &format!("{} ecs", app.prefix())))
                    .send()
            })
            .await
            .map(|_| ())
            .or_else(|e| match e.as_service_error() {
                Some(s) if s.is_already_exists_fault() => Ok(()),
                _ => Err(aws("autoscaling:CreateAutoScalingGroup", e)),
            })?;
            find_auto_scaling_group(ctx, &name)
                .await?
                .and_then(|g| g.auto_scaling_group_arn)
                .unwrap_or_default()
        }
    };
    let state = found
        .as_ref()
        .map(|g| format!("{} instances", g.instances().len()))
        .unwrap_or_else(|| "launching".into());
    Ok((
        Report::new("auto scaling group", &name, change_for(found.is_some(), diffs)).with_state(state),
        arn,
    ))
}

/// IAM: `ecs:DescribeCapacityProviders`, `ecs:CreateCapacityProvider`, `ecs:DescribeClusters`,
/// `ecs:PutClusterCapacityProviders`, `ecs:TagResource`.
async fn capacity_provider(ctx: &Context, app: &App, asg_arn: &str, mode: Mode) -> Result<Vec<Report>, CliError> {
    let ecs = ctx.ecs();
    let name = capacity_name(app);
    let found = capacity_provider_active(ctx, &name).await?;
    if !found && mode == Mode::Apply {
        let provider = AutoScalingGroupProvider::builder()
            .auto_scaling_group_arn(asg_arn)
            .managed_scaling(
                ManagedScaling::builder()
                    .status(ManagedScalingStatus::Enabled)
                    .target_capacity(100)
                    .minimum_scaling_step_size(1)
                    .maximum_scaling_step_size(10)
                    .build(),
            )
            .managed_termination_protection(ManagedTerminationProtection::Enabled)
            .build()
            .map_err(|e| CliError::Setup(e.to_string()))?;
        ecs.create_capacity_provider()
            .name(&name)
            .auto_scaling_group_provider(provider)
            .tags(EcsTag::builder().key(APP_TAG).value(&app.name).build())
            .send()
            .await
            .map_err(|e| aws("ecs:CreateCapacityProvider", e))?;
    }
    let mut reports =
        vec![Report::new("capacity provider", &name, change_for(found, Vec::new())).with_state("managed scaling")];

    let cluster = super::cluster::find_cluster(ctx, &app.cluster()).await?;
    let attached = cluster.as_ref().is_some_and(|c| {
        c.capacity_providers().contains(&name)
            && c.default_capacity_provider_strategy()
                .iter()
                .any(|s| s.capacity_provider() == name)
    });
    let change = if attached {
        Change::NoChange
    } else if cluster.as_ref().is_some_and(|c| !c.capacity_providers().is_empty()) {
        Change::Update(vec![format!("attach {name} as the default strategy")])
    } else {
        Change::Create
    };
    if !attached && mode == Mode::Apply {
        ecs.put_cluster_capacity_providers()
            .cluster(app.cluster())
            .capacity_providers(&name)
            .default_capacity_provider_strategy(
                CapacityProviderStrategyItem::builder()
                    .capacity_provider(&name)
                    .weight(1)
                    .base(0)
                    .build()
                    .map_err(|e| CliError::Setup(e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| aws("ecs:PutClusterCapacityProviders", e))?;
    }
    reports.push(Report::new(
        "cluster capacity",
        format!("{} -> {name}", app.cluster()),
        change,
    ));
    Ok(reports)
}

/// The launch template named `name`, by id.
///
/// IAM: `ec2:DescribeLaunchTemplates`.
pub async fn find_launch_template(ctx: &Context, name: &str) -> Result<Option<String>, CliError> {
    match ctx
        .ec2()
        .describe_launch_templates()
        .launch_template_names(name)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .launch_templates()
            .first()
            .and_then(|t| t.launch_template_id.clone())),
        // EC2 models no error type for it: the code is the contract.
        Err(e) if e.code() == Some("InvalidLaunchTemplateName.NotFoundException") => Ok(None),
        Err(e) => Err(aws("ec2:DescribeLaunchTemplates", e)),
    }
}

/// The Auto Scaling group named `name`.
///
/// IAM: `autoscaling:DescribeAutoScalingGroups`.
pub async fn find_auto_scaling_group(
    ctx: &Context,
    name: &str,
) -> Result<Option<aws_sdk_autoscaling::types::AutoScalingGroup>, CliError> {
    let out = ctx
        .autoscaling()
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(|e| aws("autoscaling:DescribeAutoScalingGroups", e))?;
    Ok(out.auto_scaling_groups().first().cloned())
}

/// Whether the capacity provider `name` exists and is ACTIVE.
///
/// IAM: `ecs:DescribeCapacityProviders`.
pub async fn capacity_provider_active(ctx: &Context, name: &str) -> Result<bool, CliError> {
    let out = ctx
        .ecs()
        .describe_capacity_providers()
        .capacity_providers(name)
        .send()
        .await
        .map_err(|e| aws("ecs:DescribeCapacityProviders", e))?;
    Ok(out
        .capacity_providers()
        .iter()
        .any(|c| c.status().map(|s| s.as_str()) == Some("ACTIVE")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graviton_types_are_recognised() {
        for t in ["t4g.small", "m7gd.large", "c6gn.xlarge", "r8g.medium"] {
            assert!(is_graviton(t), "{t}");
        }
        for t in ["t3.small", "m5.large", "g5.xlarge", "c6i.large", "inf2.xlarge"] {
            assert!(!is_graviton(t), "{t}");
        }
    }

    #[test]
    fn user_data_joins_the_cluster() {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(user_data("demo"))
            .unwrap();
        assert!(String::from_utf8(decoded).unwrap().contains("ECS_CLUSTER=demo\n"));
    }
}
