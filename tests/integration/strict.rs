//! The strict emulator enforces what AWS enforces and moto fakes (`tests/emulator/`): these tests
//! pin each behaviour the other tests rely on, through the SDK.

use std::time::Duration;

use aws_sdk_ecs::types::{CapacityProviderStrategyItem, DeploymentCircuitBreaker, DeploymentConfiguration};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::json;

use crate::emulator::{control, fresh_account, sdk_config};
use crate::fixture::{container, digest, unique, REGISTRY};

async fn ecs() -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::new(&sdk_config().await)
}

async fn cluster_with_service(ecs: &aws_sdk_ecs::Client, image: &str) -> (String, String) {
    let name = unique("strict");
    ecs.create_cluster().cluster_name(&name).send().await.unwrap();
    let td = ecs
        .register_task_definition()
        .family(&name)
        .container_definitions(container("web", image))
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();
    ecs.create_service()
        .cluster(&name)
        .service_name("web")
        .task_definition(&td)
        .desired_count(1)
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .deployment_circuit_breaker(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    (name, td)
}

async fn service(ecs: &aws_sdk_ecs::Client, cluster: &str) -> aws_sdk_ecs::types::Service {
    ecs.describe_services()
        .cluster(cluster)
        .services("web")
        .send()
        .await
        .unwrap()
        .services()[0]
        .clone()
}

/// Looks every 200 ms until `done` or 20 s.
async fn eventually<F, Fut>(what: &str, done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    crate::fixture::eventually(what, Duration::from_secs(20), Duration::from_millis(200), done).await
}

#[tokio::test]
async fn a_deleted_service_drains_before_it_is_inactive_and_its_name_is_refused_meanwhile() {
    let ecs = ecs().await;
    let (cluster, td) = cluster_with_service(&ecs, &format!("{REGISTRY}/s/web:v1")).await;
    let again = ecs
        .create_service()
        .cluster(&cluster)
        .service_name("web")
        .task_definition(&td)
        .desired_count(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(again.message(), Some("Creation of service was not idempotent."));
    ecs.delete_service()
        .cluster(&cluster)
        .service("web")
        .force(true)
        .send()
        .await
        .unwrap();
    assert_eq!(service(&ecs, &cluster).await.status(), Some("DRAINING"));
    let draining = ecs
        .create_service()
        .cluster(&cluster)
        .service_name("web")
        .task_definition(&td)
        .desired_count(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        draining.message(),
        Some("Unable to Start a service that is still Draining.")
    );
    let cluster_delete = ecs.delete_cluster().cluster(&cluster).send().await.unwrap_err();
    assert!(
        cluster_delete
            .as_service_error()
            .is_some_and(|e| e.is_cluster_contains_services_exception()),
        "{cluster_delete:?}"
    );
    eventually("the service is INACTIVE", || async {
        service(&ecs, &cluster).await.status() == Some("INACTIVE")
    })
    .await;
    let listed = ecs.list_services().cluster(&cluster).send().await.unwrap();
    assert!(listed.service_arns().is_empty(), "ListServices omits INACTIVE services");
    ecs.create_service()
        .cluster(&cluster)
        .service_name("web")
        .task_definition(&td)
        .desired_count(0)
        .send()
        .await
        .expect("an INACTIVE name can be used again");
}

#[tokio::test]
async fn a_capacity_provider_in_use_cannot_be_detached_and_tasks_on_instances_get_no_public_address() {
    let ecs = ecs().await;
    let cluster = unique("strictcp");
    ecs.create_cluster().cluster_name(&cluster).send().await.unwrap();
    let provider = unique("strictprov");
    ecs.create_capacity_provider()
        .name(&provider)
        .auto_scaling_group_provider(
            aws_sdk_ecs::types::AutoScalingGroupProvider::builder()
                .auto_scaling_group_arn(
                    "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:1:autoScalingGroupName/x",
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    ecs.put_cluster_capacity_providers()
        .cluster(&cluster)
        .capacity_providers(&provider)
        .set_default_capacity_provider_strategy(Some(vec![]))
        .send()
        .await
        .unwrap();
    let td = ecs
        .register_task_definition()
        .family(&cluster)
        .container_definitions(container("web", "nginx"))
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();
    ecs.create_service()
        .cluster(&cluster)
        .service_name("web")
        .task_definition(td)
        .desired_count(1)
        .capacity_provider_strategy(
            CapacityProviderStrategyItem::builder()
                .capacity_provider(&provider)
                .weight(1)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let detach = ecs
        .put_cluster_capacity_providers()
        .cluster(&cluster)
        .set_capacity_providers(Some(vec![]))
        .set_default_capacity_provider_strategy(Some(vec![]))
        .send()
        .await
        .unwrap_err();
    assert!(
        detach
            .as_service_error()
            .is_some_and(|e| e.is_resource_in_use_exception()),
        "{detach:?}"
    );
    // And a changed strategy needs a new deployment.
    let changed = ecs
        .update_service()
        .cluster(&cluster)
        .service("web")
        .capacity_provider_strategy(
            CapacityProviderStrategyItem::builder()
                .capacity_provider(&provider)
                .weight(2)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        changed.message().unwrap_or_default().contains("force a new deployment"),
        "{changed:?}"
    );

    // A public address is for tasks on Fargate: refused on the instances, and a service moving
    // there from Fargate must say so (its stored network counts).
    use aws_sdk_ecs::types::{AssignPublicIp, AwsVpcConfiguration, Compatibility, NetworkConfiguration, NetworkMode};
    let subnets = aws_sdk_ec2::Client::new(&sdk_config().await)
        .describe_subnets()
        .send()
        .await
        .unwrap();
    let subnet = subnets.subnets()[0].subnet_id().unwrap().to_string();
    let network = |public: AssignPublicIp| {
        NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .subnets(&subnet)
                    .assign_public_ip(public)
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let on = |provider: &str| {
        CapacityProviderStrategyItem::builder()
            .capacity_provider(provider)
            .weight(1)
            .build()
            .unwrap()
    };
    let fargate_td = ecs
        .register_task_definition()
        .family(format!("{cluster}-api"))
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(container("api", "nginx"))
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();
    let public_on_instances = ecs
        .create_service()
        .cluster(&cluster)
        .service_name("api")
        .task_definition(&fargate_td)
        .desired_count(1)
        .capacity_provider_strategy(on(&provider))
        .network_configuration(network(AssignPublicIp::Enabled))
        .send()
        .await
        .unwrap_err();
    assert!(
        public_on_instances
            .message()
            .unwrap_or_default()
            .contains("Assign public IP is not supported"),
        "{public_on_instances:?}"
    );
    ecs.put_cluster_capacity_providers()
        .cluster(&cluster)
        .capacity_providers(&provider)
        .capacity_providers("FARGATE")
        .set_default_capacity_provider_strategy(Some(vec![]))
        .send()
        .await
        .unwrap();
    ecs.create_service()
        .cluster(&cluster)
        .service_name("api")
        .task_definition(&fargate_td)
        .desired_count(1)
        .capacity_provider_strategy(on("FARGATE"))
        .network_configuration(network(AssignPublicIp::Enabled))
        .send()
        .await
        .unwrap();
    let kept_public = ecs
        .update_service()
        .cluster(&cluster)
        .service("api")
        .capacity_provider_strategy(on(&provider))
        .force_new_deployment(true)
        .send()
        .await
        .unwrap_err();
    assert!(
        kept_public
            .message()
            .unwrap_or_default()
            .contains("Assign public IP is not supported"),
        "{kept_public:?}"
    );
    ecs.update_service()
        .cluster(&cluster)
        .service("api")
        .capacity_provider_strategy(on(&provider))
        .network_configuration(network(AssignPublicIp::Disabled))
        .force_new_deployment(true)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_bad_image_fails_the_circuit_breaker_and_ecs_rolls_back_to_the_last_completed_deployment() {
    let ecs = ecs().await;
    let (cluster, good) = cluster_with_service(&ecs, &format!("{REGISTRY}/s/web@{}", digest(900))).await;
    completes(&ecs, &cluster, &good, "the first deployment completes").await;
    let bad_digest = digest(901);
    control("bad-images", json!({"images": [bad_digest]}));
    let bad = roll_out(
        &ecs,
        &cluster,
        container("web", &format!("{REGISTRY}/s/web@{bad_digest}")),
        None,
    )
    .await;
    let svc = service(&ecs, &cluster).await;
    assert_eq!(svc.task_definition(), Some(bad.as_str()));
    assert_eq!(
        svc.deployments()[0].rollout_state().map(|r| r.as_str()),
        Some("IN_PROGRESS")
    );
    eventually("ECS rolls back and completes", || async {
        let s = service(&ecs, &cluster).await;
        s.task_definition() == Some(good.as_str())
            && s.deployments().len() == 1
            && s.deployments()[0].rollout_state().map(|r| r.as_str()) == Some("COMPLETED")
    })
    .await;
    let events: Vec<String> = service(&ecs, &cluster)
        .await
        .events()
        .iter()
        .filter_map(|e| e.message().map(String::from))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e.contains("deployment failed: tasks failed to start")),
        "{events:?}"
    );
    let history = ecs
        .list_service_deployments()
        .cluster(&cluster)
        .service("web")
        .send()
        .await
        .unwrap();
    let rolled = history
        .service_deployments()
        .iter()
        .find(|d| d.status().map(|s| s.as_str()) == Some("ROLLBACK_SUCCESSFUL"))
        .expect("the failed deployment is ROLLBACK_SUCCESSFUL");
    let full = ecs
        .describe_service_deployments()
        .service_deployment_arns(rolled.service_deployment_arn().unwrap())
        .send()
        .await
        .unwrap();
    let rollback = full.service_deployments()[0].rollback().unwrap();
    let revisions = ecs
        .describe_service_revisions()
        .service_revision_arns(rollback.service_revision_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(revisions.service_revisions()[0].task_definition(), Some(good.as_str()));
}

#[tokio::test]
async fn a_new_security_group_is_briefly_not_found_and_a_new_profile_briefly_refused() {
    let sdk = sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let name = unique("strictsg");
    let id = ec2
        .create_security_group()
        .group_name(&name)
        .description("t")
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let rule = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(80)
        .to_port(80)
        .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build();
    let first = ec2
        .authorize_security_group_ingress()
        .group_id(&id)
        .ip_permissions(rule.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(first.code(), Some("InvalidGroup.NotFound"));
    ec2.authorize_security_group_ingress()
        .group_id(&id)
        .ip_permissions(rule)
        .send()
        .await
        .expect("visible to the next call");

    let iam = aws_sdk_iam::Client::new(&sdk);
    let profile = unique("strictprof");
    iam.create_instance_profile()
        .instance_profile_name(&profile)
        .send()
        .await
        .unwrap();
    let template = unique("strictlt");
    ec2.create_launch_template()
        .launch_template_name(&template)
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id("ami-12345678")
                .iam_instance_profile(
                    aws_sdk_ec2::types::LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                        .name(&profile)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let asg = aws_sdk_autoscaling::Client::new(&sdk);
    let create = || {
        asg.create_auto_scaling_group()
            .auto_scaling_group_name(&template)
            .launch_template(
                aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                    .launch_template_name(&template)
                    .build(),
            )
            .min_size(0)
            .max_size(1)
            .availability_zones("us-east-1a")
            .send()
    };
    let template_unseen = create().await.unwrap_err();
    assert!(
        template_unseen.message().unwrap_or_default().contains("does not exist"),
        "{template_unseen:?}"
    );
    let profile_unseen = create().await.unwrap_err();
    assert!(
        profile_unseen
            .message()
            .unwrap_or_default()
            .contains("Invalid IAM Instance Profile"),
        "{profile_unseen:?}"
    );
    create().await.expect("both visible by now");
    let twice = create().await.unwrap_err();
    assert!(
        twice.as_service_error().is_some_and(|e| e.is_already_exists_fault()),
        "{twice:?}"
    );
}

#[tokio::test]
async fn a_fresh_account_has_no_ecs_service_linked_role_until_it_creates_one() {
    let sdk = fresh_account("210987654321").await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let refused = ecs.create_cluster().cluster_name("first").send().await.unwrap_err();
    assert_eq!(
        refused.message(),
        Some("Unable to assume the service linked role. Please verify that the ECS service linked role exists.")
    );
    let iam = aws_sdk_iam::Client::new(&sdk);
    let role = iam
        .create_service_linked_role()
        .aws_service_name("ecs.amazonaws.com")
        .send()
        .await
        .unwrap();
    assert_eq!(role.role().unwrap().role_name(), "AWSServiceRoleForECS");
    let taken = iam
        .create_service_linked_role()
        .aws_service_name("ecs.amazonaws.com")
        .send()
        .await
        .unwrap_err();
    assert!(
        taken.as_service_error().is_some_and(|e| e.is_invalid_input_exception()),
        "{taken:?}"
    );
    // Not usable at once: it propagates.
    assert!(ecs.create_cluster().cluster_name("first").send().await.is_err());
    // The emulator's propagation delay (`slr_propagation_seconds`, 5 s by default).
    tokio::time::sleep(Duration::from_millis(5100)).await;
    ecs.create_cluster()
        .cluster_name("first")
        .send()
        .await
        .expect("usable once propagated");
}

#[tokio::test]
async fn a_standard_parameter_holds_4_kb_and_an_advanced_one_8_kb() {
    let ssm = aws_sdk_ssm::Client::new(&sdk_config().await);
    let name = format!("/strict/{}", unique("tier"));
    let big = "x".repeat(5000);
    let standard = ssm
        .put_parameter()
        .name(&name)
        .value(&big)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap_err();
    assert!(standard.message().unwrap_or_default().contains("4096"), "{standard:?}");
    ssm.put_parameter()
        .name(&name)
        .value(&big)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .tier(aws_sdk_ssm::types::ParameterTier::Advanced)
        .send()
        .await
        .unwrap();
    let downgrade = ssm
        .put_parameter()
        .name(&name)
        .value("small")
        .overwrite(true)
        .tier(aws_sdk_ssm::types::ParameterTier::Standard)
        .send()
        .await
        .unwrap_err();
    assert!(
        downgrade.message().unwrap_or_default().contains("can't downgrade"),
        "{downgrade:?}"
    );
}

/// A container of `web` logging with awslogs to `group`.
/// Waits until the service runs `revision` and its newest deployment has COMPLETED.
async fn completes(ecs: &aws_sdk_ecs::Client, cluster: &str, revision: &str, what: &str) {
    eventually(what, || async {
        let s = service(ecs, cluster).await;
        s.task_definition() == Some(revision)
            && s.deployments()[0].rollout_state().map(|r| r.as_str()) == Some("COMPLETED")
    })
    .await
}

/// Registers `container` as a new revision of the cluster's family (with `execution_role`) and
/// points the service `web` at it; returns the revision's ARN.
async fn roll_out(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    container: aws_sdk_ecs::types::ContainerDefinition,
    execution_role: Option<&str>,
) -> String {
    let td = ecs
        .register_task_definition()
        .family(cluster)
        .set_execution_role_arn(execution_role.map(str::to_string))
        .container_definitions(container)
        .send()
        .await
        .unwrap()
        .task_definition
        .unwrap()
        .task_definition_arn
        .unwrap();
    ecs.update_service()
        .cluster(cluster)
        .service("web")
        .task_definition(&td)
        .send()
        .await
        .unwrap();
    td
}

fn logging_container(image: &str, group: &str) -> aws_sdk_ecs::types::ContainerDefinition {
    let mut c = container("web", image);
    c.log_configuration = Some(
        aws_sdk_ecs::types::LogConfiguration::builder()
            .log_driver(aws_sdk_ecs::types::LogDriver::Awslogs)
            .options("awslogs-group", group)
            .options("awslogs-region", "us-east-1")
            .options("awslogs-stream-prefix", "web")
            .build()
            .unwrap(),
    );
    c
}

#[tokio::test]
async fn a_revision_logging_to_a_missing_group_fails_to_start_and_is_rolled_back() {
    let ecs = ecs().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk_config().await);
    let (cluster, good) = cluster_with_service(&ecs, &format!("{REGISTRY}/s/web@{}", digest(910))).await;
    completes(&ecs, &cluster, &good, "the first deployment completes").await;
    let logging = |group: &str| logging_container(&format!("{REGISTRY}/s/web@{}", digest(911)), group);
    let group = format!("/pushdeploy/{cluster}/web");
    roll_out(&ecs, &cluster, logging(&group), None).await;
    completes(
        &ecs,
        &cluster,
        &good,
        "ECS rolls the revision without its log group back",
    )
    .await;

    logs.create_log_group().log_group_name(&group).send().await.unwrap();
    let logged = roll_out(&ecs, &cluster, logging(&group), None).await;
    completes(&ecs, &cluster, &logged, "the revision whose group exists completes").await;
}

#[tokio::test]
async fn a_retention_cloudwatch_logs_does_not_offer_is_refused() {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk_config().await);
    let group = format!("/pushdeploy/{}/web", unique("retention"));
    logs.create_log_group().log_group_name(&group).send().await.unwrap();
    let refused = logs
        .put_retention_policy()
        .log_group_name(&group)
        .retention_in_days(10)
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("InvalidParameterException"), "{refused:?}");
    logs.put_retention_policy()
        .log_group_name(&group)
        .retention_in_days(14)
        .send()
        .await
        .unwrap();
    let described = logs
        .describe_log_groups()
        .log_group_name_prefix(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(described.log_groups()[0].retention_in_days(), Some(14));
}

#[tokio::test]
async fn a_revision_whose_execution_role_cannot_read_its_secret_fails_to_start_and_is_rolled_back() {
    let sdk = sdk_config().await;
    let ecs = ecs().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let (cluster, good) = cluster_with_service(&ecs, &format!("{REGISTRY}/s/web@{}", digest(920))).await;
    let role = format!("{cluster}-execution");
    let role_arn = iam
        .create_role()
        .role_name(&role)
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
                .to_string(),
        )
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .arn;
    let parameter = format!("/{cluster}/db");
    ssm.put_parameter()
        .name(&parameter)
        .value("secret")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let secret = format!("arn:aws:ssm:us-east-1:123456789012:parameter{parameter}");
    let deploy_with_secret = || {
        let (ecs, cluster, role_arn, secret) = (ecs.clone(), cluster.clone(), role_arn.clone(), secret.clone());
        async move {
            let mut c = container("web", &format!("{REGISTRY}/s/web@{}", digest(921)));
            c.secrets = Some(vec![aws_sdk_ecs::types::Secret::builder()
                .name("DB")
                .value_from(secret)
                .build()
                .unwrap()]);
            roll_out(&ecs, &cluster, c, Some(&role_arn)).await
        }
    };
    completes(&ecs, &cluster, &good, "the first deployment completes").await;
    deploy_with_secret().await;
    completes(
        &ecs,
        &cluster,
        &good,
        "ECS rolls the revision whose secret it cannot read back",
    )
    .await;

    // Granted, the same secret starts. IAM hands the document back URL-encoded (RFC 3986), as
    // the code that reads it expects; moto does so too.
    let grant = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": [secret]}]});
    iam.put_role_policy()
        .role_name(&role)
        .policy_name("grant")
        .policy_document(grant.to_string())
        .send()
        .await
        .unwrap();
    let read = iam
        .get_role_policy()
        .role_name(&role)
        .policy_name("grant")
        .send()
        .await
        .unwrap();
    assert!(
        read.policy_document().starts_with("%7B%22"),
        "{}",
        read.policy_document()
    );
    let granted = deploy_with_secret().await;
    completes(
        &ecs,
        &cluster,
        &granted,
        "the revision whose secret is granted completes",
    )
    .await;
}

#[tokio::test]
async fn a_scaling_policy_needs_a_registered_target_and_a_request_label_of_an_attached_target_group() {
    use aws_sdk_applicationautoscaling::types::{
        MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
        TargetTrackingScalingPolicyConfiguration,
    };
    let ecs = ecs().await;
    let aas = aws_sdk_applicationautoscaling::Client::new(&sdk_config().await);
    let (cluster, _) = cluster_with_service(&ecs, &format!("{REGISTRY}/s/web@{}", digest(930))).await;
    let id = format!("service/{cluster}/web");
    let put = |metric: MetricType, label: Option<&str>| {
        aas.put_scaling_policy()
            .policy_name("p")
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(
                TargetTrackingScalingPolicyConfiguration::builder()
                    .target_value(50.0)
                    .predefined_metric_specification(
                        PredefinedMetricSpecification::builder()
                            .predefined_metric_type(metric)
                            .set_resource_label(label.map(str::to_string))
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
    };
    let unregistered = put(MetricType::EcsServiceAverageCpuUtilization, None)
        .await
        .unwrap_err();
    assert_eq!(unregistered.code(), Some("ObjectNotFoundException"), "{unregistered:?}");
    aas.register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(1)
        .max_capacity(2)
        .send()
        .await
        .unwrap();
    put(MetricType::EcsServiceAverageCpuUtilization, None).await.unwrap();
    // This service has no load balancer: no label can name its target group.
    for label in [None, Some("app/x/1/targetgroup/y/2"), Some("targetgroup/y/2")] {
        let refused = put(MetricType::AlbRequestCountPerTarget, label).await.unwrap_err();
        assert_eq!(refused.code(), Some("ValidationException"), "{label:?}: {refused:?}");
    }
}

#[tokio::test]
async fn a_service_moves_between_rolling_and_blue_green_only_between_deployments() {
    let ecs = ecs().await;
    let (cluster, first) = cluster_with_service(&ecs, &format!("{REGISTRY}/s/web@{}", digest(910))).await;
    completes(&ecs, &cluster, &first, "the first deployment completes").await;
    let second = roll_out(
        &ecs,
        &cluster,
        container("web", &format!("{REGISTRY}/s/web@{}", digest(911))),
        None,
    )
    .await;
    let blue_green = || {
        ecs.update_service()
            .cluster(&cluster)
            .service("web")
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .strategy(aws_sdk_ecs::types::DeploymentStrategy::BlueGreen)
                    .bake_time_in_minutes(0)
                    .build(),
            )
            .send()
    };
    let refused = blue_green().await.expect_err("a deployment is in progress");
    assert_eq!(refused.code(), Some("InvalidParameterException"));
    assert!(
        refused.message().unwrap_or_default().contains("deployment in progress"),
        "{refused:?}"
    );
    completes(&ecs, &cluster, &second, "the second deployment completes").await;
    blue_green().await.expect("between deployments the strategy changes");
    let svc = service(&ecs, &cluster).await;
    assert_eq!(
        svc.deployment_configuration()
            .and_then(|d| d.strategy())
            .map(|s| s.as_str()),
        Some("BLUE_GREEN")
    );
    assert_eq!(svc.deployments().len(), 1, "the change itself deploys nothing");
}
