//! The full-fidelity copy: a revision that sets every field RegisterTaskDefinition accepts comes
//! back from a redeploy identical except for the swapped image and pushdeploy's own tags.

use aws_sdk_ecs::types::*;
use pushdeploy::Action;
use serde_json::json;

use crate::fixture::{digest, image, push_event, App, REGISTRY};

fn kv(name: &str, value: &str) -> KeyValuePair {
    KeyValuePair::builder().name(name).value(value).build()
}

fn rich_container(name: &str, image: &str) -> ContainerDefinition {
    ContainerDefinition::builder()
        .name(name)
        .image(image)
        .repository_credentials(
            RepositoryCredentials::builder()
                .credentials_parameter("arn:aws:secretsmanager:us-east-1:123456789012:secret:creds")
                .build()
                .unwrap(),
        )
        .cpu(128)
        .memory(256)
        .memory_reservation(128)
        .port_mappings(
            PortMapping::builder()
                .container_port(8080)
                .host_port(8080)
                .protocol(TransportProtocol::Tcp)
                .name("http")
                .app_protocol(ApplicationProtocol::Http)
                .build(),
        )
        .essential(true)
        .restart_policy(
            ContainerRestartPolicy::builder()
                .enabled(true)
                .restart_attempt_period(60)
                .ignored_exit_codes(0)
                .build()
                .unwrap(),
        )
        .entry_point("/bin/sh")
        .command("-c")
        .command("exec web")
        .environment(kv("MODE", "production"))
        .environment_files(
            EnvironmentFile::builder()
                .value("arn:aws:s3:::bucket/app.env")
                .r#type(EnvironmentFileType::S3)
                .build()
                .unwrap(),
        )
        .mount_points(
            MountPoint::builder()
                .source_volume("data")
                .container_path("/data")
                .read_only(false)
                .build(),
        )
        .linux_parameters(
            LinuxParameters::builder()
                .capabilities(KernelCapabilities::builder().add("NET_ADMIN").drop("MKNOD").build())
                .init_process_enabled(true)
                .shared_memory_size(64)
                .tmpfs(
                    Tmpfs::builder()
                        .container_path("/tmp")
                        .size(64)
                        .mount_options("rw")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .secrets(
            Secret::builder()
                .name("DB_PASSWORD")
                .value_from("arn:aws:ssm:us-east-1:123456789012:parameter/db")
                .build()
                .unwrap(),
        )
        .start_timeout(30)
        .stop_timeout(20)
        .version_consistency(VersionConsistency::Disabled)
        .user("1000:1000")
        .working_directory("/srv")
        .disable_networking(false)
        .privileged(false)
        .readonly_root_filesystem(true)
        .dns_servers("10.0.0.2")
        .dns_search_domains("internal")
        .docker_security_options("no-new-privileges")
        .interactive(false)
        .pseudo_terminal(false)
        .docker_labels("team", "shop")
        .ulimits(
            Ulimit::builder()
                .name(UlimitName::Nofile)
                .soft_limit(65536)
                .hard_limit(65536)
                .build()
                .unwrap(),
        )
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", "/ecs/shop")
                .options("awslogs-region", "us-east-1")
                .secret_options(
                    Secret::builder()
                        .name("token")
                        .value_from("arn:aws:ssm:us-east-1:123456789012:parameter/t")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .health_check(
            HealthCheck::builder()
                .command("CMD-SHELL")
                .command("curl -f http://localhost:8080/health || exit 1")
                .interval(30)
                .timeout(5)
                .retries(3)
                .start_period(10)
                .build()
                .unwrap(),
        )
        .system_controls(
            SystemControl::builder()
                .namespace("net.core.somaxconn")
                .value("1024")
                .build(),
        )
        .resource_requirements(
            ResourceRequirement::builder()
                .value("1")
                .r#type(ResourceType::Gpu)
                .build()
                .unwrap(),
        )
        .credential_specs("credentialspec:arn:aws:s3:::bucket/spec.json")
        .build()
}

fn sidecar(image: &str) -> ContainerDefinition {
    ContainerDefinition::builder()
        .name("log-router")
        .image(image)
        .memory(64)
        .essential(false)
        .firelens_configuration(
            FirelensConfiguration::builder()
                .r#type(FirelensConfigurationType::Fluentbit)
                .options("enable-ecs-log-metadata", "true")
                .build()
                .unwrap(),
        )
        .depends_on(
            ContainerDependency::builder()
                .container_name("web")
                .condition(ContainerCondition::Start)
                .build()
                .unwrap(),
        )
        .build()
}

#[allow(deprecated)]
async fn register_every_field(app: &App, family: &str) -> String {
    let out = app
        .ecs
        .register_task_definition()
        .family(family)
        // Roles on the app's IAM path, which the function's role may pass.
        .task_role_arn(format!(
            "arn:aws:iam::123456789012:role/pushdeploy/{}/shop-task",
            app.name
        ))
        .execution_role_arn(format!(
            "arn:aws:iam::123456789012:role/pushdeploy/{}/shop-execution",
            app.name
        ))
        .network_mode(NetworkMode::Awsvpc)
        .container_definitions(rich_container("web", &image("copy/web", "v1")))
        .container_definitions(sidecar("public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"))
        .volumes(
            Volume::builder()
                .name("data")
                .host(HostVolumeProperties::builder().source_path("/ecs/data").build())
                .build(),
        )
        .volumes(
            Volume::builder()
                .name("docker")
                .docker_volume_configuration(
                    DockerVolumeConfiguration::builder()
                        .scope(Scope::Shared)
                        .autoprovision(true)
                        .driver("local")
                        .driver_opts("type", "tmpfs")
                        .labels("k", "v")
                        .build(),
                )
                .build(),
        )
        .volumes(
            Volume::builder()
                .name("efs")
                .efs_volume_configuration(
                    EfsVolumeConfiguration::builder()
                        .file_system_id("fs-12345678")
                        .root_directory("/")
                        .transit_encryption(EfsTransitEncryption::Enabled)
                        .authorization_config(
                            EfsAuthorizationConfig::builder()
                                .access_point_id("fsap-1234")
                                .iam(EfsAuthorizationConfigIam::Enabled)
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .placement_constraints(
            TaskDefinitionPlacementConstraint::builder()
                .r#type(TaskDefinitionPlacementConstraintType::MemberOf)
                .expression("attribute:ecs.instance-type =~ t3.*")
                .build(),
        )
        .requires_compatibilities(Compatibility::Ec2)
        .cpu("512")
        .memory("1024")
        .tags(Tag::builder().key("team").value("shop").build())
        .tags(Tag::builder().key("cost-centre").value("42").build())
        .pid_mode(PidMode::Task)
        .ipc_mode(IpcMode::Task)
        .proxy_configuration(
            ProxyConfiguration::builder()
                .r#type(ProxyConfigurationType::Appmesh)
                .container_name("web")
                .properties(kv("AppPorts", "8080"))
                .properties(kv("ProxyIngressPort", "15000"))
                .build()
                .unwrap(),
        )
        .inference_accelerators(
            InferenceAccelerator::builder()
                .device_name("device1")
                .device_type("eia2.medium")
                .build()
                .unwrap(),
        )
        .ephemeral_storage(EphemeralStorage::builder().size_in_gib(30).build())
        .runtime_platform(
            RuntimePlatform::builder()
                .cpu_architecture(CpuArchitecture::Arm64)
                .operating_system_family(OsFamily::Linux)
                .build(),
        )
        .enable_fault_injection(true)
        .send()
        .await
        .expect("register the every-field task definition");
    out.task_definition.unwrap().task_definition_arn.unwrap()
}

/// The definition without what ECS assigns per revision.
fn comparable(mut td: TaskDefinition) -> TaskDefinition {
    td.task_definition_arn = None;
    td.revision = 0;
    td.registered_at = None;
    td.registered_by = None;
    td
}

#[tokio::test]
async fn a_redeploy_copies_every_field_and_changes_only_the_image() {
    let app = App::new("copy").await;
    let family = format!("{}-web", app.name);
    let first = register_every_field(&app, &family).await;
    // An `awsvpc` task needs the service's network configuration (ECS refuses it without).
    let subnets = aws_sdk_ec2::Client::new(&app.sdk)
        .describe_subnets()
        .send()
        .await
        .unwrap();
    let subnet = subnets.subnets()[0].subnet_id().unwrap().to_string();
    let awsvpc = aws_sdk_ecs::types::AwsVpcConfiguration::builder()
        .subnets(subnet)
        .build()
        .unwrap();
    app.ecs
        .create_service()
        .cluster(&app.cluster)
        .service_name("web")
        .task_definition(&first)
        .desired_count(1)
        .network_configuration(
            aws_sdk_ecs::types::NetworkConfiguration::builder()
                .awsvpc_configuration(awsvpc)
                .build(),
        )
        .send()
        .await
        .unwrap();
    app.config(json!([app.route("web", "copy/web")])).await;

    let d = digest(42);
    let outcome = app
        .handle(&push_event("copy/web", Some("v2"), &d, "2026-11-26T10:00:00Z"))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(outcome.action, Action::Deployed);

    let (before, before_tags) = app.task_definition(&first).await;
    let (after, after_tags) = app.task_definition(outcome.task_definition.as_deref().unwrap()).await;
    // The fixture really sets the rich fields (so the comparison below has something to lose).
    let web = &before.container_definitions.as_ref().unwrap()[0];
    assert!(web.health_check.is_some() && web.linux_parameters.is_some() && web.log_configuration.is_some());
    assert!(
        before.ephemeral_storage.is_some() && before.runtime_platform.is_some() && before.proxy_configuration.is_some()
    );

    let mut expected = comparable(before);
    expected.container_definitions.as_mut().unwrap()[0].image = Some(format!("{REGISTRY}/copy/web@{d}"));
    let after = comparable(after);
    assert_eq!(after, expected);

    let user_tags = |tags: Vec<Tag>| {
        let mut t: Vec<_> = tags
            .into_iter()
            .filter(|t| !t.key.as_deref().unwrap().starts_with("pushdeploy:"))
            .collect();
        t.sort_by(|a, b| a.key.cmp(&b.key));
        t
    };
    assert_eq!(user_tags(after_tags), user_tags(before_tags));
}
