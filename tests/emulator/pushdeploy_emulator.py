"""pushdeploy's strict AWS emulator: moto 5.2.5, imported and patched where moto fakes what real
AWS enforces, served like `moto_server`.

    python tests/emulator/pushdeploy_emulator.py -H 127.0.0.1 -p PORT

Tests, `scripts/demo` and `scripts/bench` run this, never bare `moto_server`. Each behaviour below
names the AWS documentation it follows. What is still faked is listed in docs/emulator.md
("Still faked").

Timing knobs (environment, seconds; the defaults suit the tests):
    PUSHDEPLOY_EMULATOR_DRAIN_SECONDS        DRAINING -> INACTIVE after DeleteService (2)
    PUSHDEPLOY_EMULATOR_DEPLOYMENT_SECONDS   a deployment IN_PROGRESS -> COMPLETED or FAILED (2);
                                             a blue/green, canary or linear one's SCALE_UP stage
    PUSHDEPLOY_EMULATOR_MINUTE_SECONDS       one minute of bakeTimeInMinutes,
                                             canaryBakeTimeInMinutes, stepBakeTimeInMinutes and
                                             a lifecycle hook's timeoutInMinutes (1)
    PUSHDEPLOY_EMULATOR_STAGE_SECONDS        each other lifecycle stage of a blue/green, canary
                                             or linear deployment; ROLLBACK_REQUESTED after
                                             StopServiceDeployment (0.3)
    PUSHDEPLOY_EMULATOR_CAPACITY_PROVIDER_DELETE_SECONDS   DELETE_IN_PROGRESS -> INACTIVE (1)
    PUSHDEPLOY_EMULATOR_SLR_PROPAGATION_SECONDS  a new ECS service-linked role unusable (1)
    PUSHDEPLOY_EMULATOR_INVISIBLE_CALLS      calls that do not see a new security group,
                                             instance profile or launch template yet (1)
    PUSHDEPLOY_EMULATOR_TABLE_CREATE_SECONDS a new DynamoDB table CREATING -> ACTIVE (1)
    PUSHDEPLOY_EMULATOR_LATENCY_SECONDS      every AWS request answered this much later, waited
                                             outside the one-request-at-a-time lock, as AWS serves
                                             requests side by side (0)
    PUSHDEPLOY_EMULATOR_LOAD_BALANCER_SECONDS  a new load balancer `provisioning` -> `active` (0)
    PUSHDEPLOY_EMULATOR_INSTANCE_PROFILE_SECONDS  a new instance profile refused by
                                             CreateAutoScalingGroup, beside the invisible calls (0)
    PUSHDEPLOY_EMULATOR_INSTANCE_JOIN_SECONDS  an Auto Scaling group's new instance launched ->
                                             its ECS agent registered with the cluster (0)
    PUSHDEPLOY_EMULATOR_DELAYS=aws           every delay above as AWS takes it (AWS_DELAYS below,
                                             each with its source; over the variables above,
                                             under /_pushdeploy/settings), times
    PUSHDEPLOY_EMULATOR_TIME_SCALE           (1; 0.1 runs AWS's waits ten times faster)
    PUSHDEPLOY_EMULATOR_REQUEST_LOG          append every AWS request (principal, service,
                                             operation, parameters) to this file, one JSON
                                             line each, for the IAM proof (tests/iam)
    PUSHDEPLOY_EMULATOR_TIMING_LOG           append one JSON line per AWS request handled:
                                             t0 (time.time() at its start), seconds (to the
                                             answer's body produced), waited (of those, for the
                                             one-request-at-a-time lock), service, operation,
                                             principal (as in the request log), status,
                                             error (code, when 4xx/5xx), client
                                             (host:port of the connection), tls (bool)

HTTPS: `--tls-cert PEM --tls-key PEM` serves TLS (every SDK connection makes a real handshake);
the client must trust the certificate's issuer (SSL_CERT_FILE for rustls-native-certs, `verify=`
for boto3).

Control API (JSON over HTTP on the same port, for tests):
    POST /_pushdeploy/bad-images  {"images": ["<image reference or sha256 digest>", ...]}
        deployments whose task definition runs one of them fail the circuit breaker
    POST /_pushdeploy/capacity-provider-deletion-failure  {"name": "...", "reason": "..."}
        DeleteCapacityProvider of that provider ends in DELETE_FAILED with the reason
    POST /_pushdeploy/ecs-ami  {"account": "...", "region": "...", "architecture": "x86_64", "image_id": "ami-..."}
        publishes a new ECS-optimized AMI in the public SSM parameter, as an AMI release does
    POST /_pushdeploy/throttle  {"service": "dynamodb", "operation": "PutItem", "count": 3}
        the next `count` such requests (JSON protocols) are refused with ThrottlingException
        ("code" may name another error, "status" another HTTP status, e.g. 503)
    POST /_pushdeploy/settings  {"drain_seconds": 0.5, ...}   change the knobs
    GET  /_pushdeploy/settings

Accounts: an access key `PDACCT<12 digits>XX` (20 characters) acts in that account, so a test
can use a fresh account (no service-linked role, nothing created) in the shared emulator.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import fnmatch
import io
import json
import os
import re
import sys
import threading
import time
import uuid
from typing import Any

import moto.backends  # noqa: F401  (loads every backend before patching)
from moto.applicationautoscaling import models as aas_models
from moto.applicationautoscaling.exceptions import AWSValidationException as AasValidation
from moto.autoscaling import models as asg_models
from moto.autoscaling import responses as asg_responses
from moto.autoscaling.exceptions import AutoscalingClientError
from moto.autoscaling.exceptions import ValidationError as AsgValidationError
from moto.autoscaling.models import autoscaling_backends
from moto.core import responses as core_responses
from moto.core.exceptions import JsonRESTError
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import ec2_backends
from moto.ec2.models import launch_templates as ec2_launch_templates
from moto.ec2.models import security_groups as ec2_security_groups
from moto.ecr import responses as ecr_responses
from moto.ecr.exceptions import InvalidParameterException as EcrInvalidParameter
from moto.ecr.models import ecr_backends
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.elbv2 import models as elbv2_models
from moto.elbv2.models import elbv2_backends
from moto.iam import models as iam_models
from moto.logs import models as logs_models
from moto.logs.exceptions import InvalidParameterException as LogsInvalidParameter
from moto.logs.models import logs_backends
from moto.iam.exceptions import InvalidInput
from moto.iam.models import iam_backends
from moto.ssm import models as ssm_models
from moto.ssm.exceptions import ValidationException as SsmValidationException
from moto.secretsmanager.models import secretsmanager_backends
from moto.ssm.models import ssm_backends

# ---------------------------------------------------------------------------------------------
# Settings and shared state
# ---------------------------------------------------------------------------------------------


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


SETTINGS: dict[str, float] = {
    "drain_seconds": _env_float("PUSHDEPLOY_EMULATOR_DRAIN_SECONDS", 2.0),
    "deployment_seconds": _env_float("PUSHDEPLOY_EMULATOR_DEPLOYMENT_SECONDS", 2.0),
    "minute_seconds": _env_float("PUSHDEPLOY_EMULATOR_MINUTE_SECONDS", 1.0),
    "stage_seconds": _env_float("PUSHDEPLOY_EMULATOR_STAGE_SECONDS", 0.3),
    "capacity_provider_delete_seconds": _env_float(
        "PUSHDEPLOY_EMULATOR_CAPACITY_PROVIDER_DELETE_SECONDS", 1.0
    ),
    "slr_propagation_seconds": _env_float("PUSHDEPLOY_EMULATOR_SLR_PROPAGATION_SECONDS", 5.0),
    "invisible_calls": _env_float("PUSHDEPLOY_EMULATOR_INVISIBLE_CALLS", 1),
    "table_create_seconds": _env_float("PUSHDEPLOY_EMULATOR_TABLE_CREATE_SECONDS", 1.0),
    "latency_seconds": _env_float("PUSHDEPLOY_EMULATOR_LATENCY_SECONDS", 0.0),
    "load_balancer_seconds": _env_float("PUSHDEPLOY_EMULATOR_LOAD_BALANCER_SECONDS", 0.0),
    "instance_profile_seconds": _env_float("PUSHDEPLOY_EMULATOR_INSTANCE_PROFILE_SECONDS", 0.0),
    "instance_join_seconds": _env_float("PUSHDEPLOY_EMULATOR_INSTANCE_JOIN_SECONDS", 0.0),
}

# The waits a fresh `up` meets on AWS (PUSHDEPLOY_EMULATOR_DELAYS=aws), in seconds. AWS documents
# none of these figures; each is the public measurement named beside it (single runs, mostly
# us-east-1: typical, not bounds). docs/benchmarks.md ("`up` on its critical path") quotes them.
AWS_DELAYS: dict[str, float] = {
    # One control-plane call, client in the region: an EKS DescribeCluster in the 114-171 ms
    # bucket (aws/karpenter-provider-aws#5302); SSM GetParameters 50 ms, PutParameter 80 ms in
    # X-Ray traces (github-aws-runners/terraform-aws-github-runner#5327).
    "latency_seconds": 0.1,
    # ALB provisioning -> active: Terraform's aws_lb (which waits for `active`) "Creation
    # complete after 2m19s" (turbot/steampipe-plugin-aws#792); "no more than 5" minutes on most
    # runs (hashicorp/terraform#24799).
    "load_balancer_seconds": 140.0,
    # Instance profile unusable by Auto Scaling: created 08:13:06, "Invalid IAM Instance Profile
    # name" at 08:13:09, accepted at 08:13:40 (eksctl-io/eksctl#8039): 3-34 s.
    "instance_profile_seconds": 15.0,
    # Instance launched -> ECS agent connected: 11:48:41 -> 11:49:22 (aws/amazon-ecs-agent#2309).
    "instance_join_seconds": 41.0,
    # ECS service-linked role: a fix "works within ~10-20 seconds when the service-linked role has
    # to be created" (gravitational/teleport#44194).
    "slr_propagation_seconds": 15.0,
    # DynamoDB CreateTable: the API reference gives no time ("DynamoDB immediately returns a
    # response with a TableStatus of CREATING"); no public measurement found. An assumption.
    "table_create_seconds": 10.0,
}
if os.environ.get("PUSHDEPLOY_EMULATOR_DELAYS") == "aws":
    _scale = _env_float("PUSHDEPLOY_EMULATOR_TIME_SCALE", 1.0)
    SETTINGS.update({name: seconds * _scale for name, seconds in AWS_DELAYS.items()})

BAD_IMAGES: set[str] = set()
CAPACITY_PROVIDER_FAILURES: dict[str, str] = {}
# One request at a time: moto is not thread-safe, and the timed state below is advanced per request.
LOCK = threading.RLock()


class Invisible:
    """Resources AWS does not show to every API right after creating them.

    EC2 API reference, "Eventual consistency": "a resource that you create might not be
    immediately available to subsequent API calls ... you might get an InvalidGroup.NotFound
    error"; IAM user guide, "Changes that I make are not always immediately visible": an instance
    profile is usable by EC2 and Auto Scaling only after it propagates.
    """

    def __init__(self) -> None:
        self.pending: dict[tuple[str, str], int] = {}

    def created(self, api: str, key: str) -> None:
        self.pending[(api, key)] = int(SETTINGS["invisible_calls"])

    def hidden(self, api: str, key: str) -> bool:
        """True (and one fewer call to go) while `key` is not yet visible to `api`."""
        left = self.pending.get((api, key), 0)
        if left <= 0:
            return False
        self.pending[(api, key)] = left - 1
        return True


INVISIBLE = Invisible()

# ---------------------------------------------------------------------------------------------
# Accounts: an access key names a fresh account
# ---------------------------------------------------------------------------------------------

_ACCOUNT_KEY = re.compile(r"^PDACCT(\d{12})[A-Z0-9]{2}$")
_original_account_from = iam_models.get_account_id_from


def _account_from(access_key: str) -> str:
    match = _ACCOUNT_KEY.match(access_key or "")
    if match:
        return match.group(1)
    return _original_account_from(access_key)


iam_models.get_account_id_from = _account_from

# ---------------------------------------------------------------------------------------------
# Errors as AWS sends them
# ---------------------------------------------------------------------------------------------


class EcsError(ServiceException):
    def __init__(self, code: str, message: str):
        super().__init__(code, message)


def invalid_parameter(message: str) -> EcsError:
    return EcsError("InvalidParameterException", message)


class AsgAlreadyExists(AutoscalingClientError):
    code = "AlreadyExists"


# ---------------------------------------------------------------------------------------------
# IAM: the ECS service-linked role
# ---------------------------------------------------------------------------------------------

SLR_NAME = "AWSServiceRoleForECS"
SLR_CREATED: dict[str, float] = {}
_original_create_slr = iam_models.IAMBackend.create_service_linked_role


def _create_service_linked_role(self: Any, service_name: str, description: str, suffix: str) -> Any:
    # IAM API reference, CreateServiceLinkedRole; ECS developer guide, "Using service-linked roles
    # for Amazon ECS": the role is AWSServiceRoleForECS, and creating it again fails with
    # InvalidInput "Service role name AWSServiceRoleForECS has been taken in this account".
    if service_name == "ecs.amazonaws.com":
        name = SLR_NAME + (f"_{suffix}" if suffix else "")
        if name in self.roles_by_name():
            raise InvalidInput(
                f"Service role name {name} has been taken in this account, please try a different suffix."
            )
        role = self.create_role(
            name,
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Action": ["sts:AssumeRole"],
                            "Effect": "Allow",
                            "Principal": {"Service": [service_name]},
                        }
                    ],
                }
            ),
            f"/aws-service-role/{service_name}/",
            permissions_boundary=None,
            description=description,
            tags=[],
            max_session_duration="3600",
            linked_service=service_name,
        )
        SLR_CREATED[self.account_id] = time.time()
        return role
    return _original_create_slr(self, service_name, description, suffix)


def _roles_by_name(self: Any) -> dict[str, Any]:
    return {role.name: role for role in self.roles.values()}


iam_models.IAMBackend.create_service_linked_role = _create_service_linked_role
iam_models.IAMBackend.roles_by_name = _roles_by_name


def require_ecs_service_linked_role(account_id: str) -> None:
    """ECS developer guide, "Service-linked role for Amazon ECS": without AWSServiceRoleForECS
    (and until a new one propagates) CreateCluster and CreateService fail with
    InvalidParameterException "Unable to assume the service linked role. Please verify that the
    ECS service linked role exists."
    """
    backend = iam_backends[account_id]["aws"]
    created = SLR_CREATED.get(account_id)
    exists = SLR_NAME in backend.roles_by_name()
    if exists and created is None:
        created = 0.0  # created before this process started watching (e.g. by CloudFormation)
    if not exists or time.time() - created < SETTINGS["slr_propagation_seconds"]:
        raise invalid_parameter(
            "Unable to assume the service linked role. Please verify that the ECS service linked role exists."
        )


# Instance profiles: the IAM user guide's propagation delay, seen by EC2 and Auto Scaling.
_original_create_profile = iam_models.IAMBackend.create_instance_profile


def _create_instance_profile(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    profile = _original_create_profile(self, name, *args, **kwargs)
    INVISIBLE.created("autoscaling:CreateAutoScalingGroup", f"{self.account_id}:{name}")
    PROFILES_CREATED[f"{self.account_id}:{name}"] = time.time()
    return profile


PROFILES_CREATED: dict[str, float] = {}


def _profile_propagating(key: str) -> bool:
    """Whether the instance profile `account:name` is younger than instance_profile_seconds."""
    return time.time() - PROFILES_CREATED.get(key, 0.0) < SETTINGS["instance_profile_seconds"]


iam_models.IAMBackend.create_instance_profile = _create_instance_profile

# ---------------------------------------------------------------------------------------------
# EC2: security groups and launch templates are not visible to the next call at once
# ---------------------------------------------------------------------------------------------

_original_create_sg = ec2_security_groups.SecurityGroupBackend.create_security_group
_original_authorize = ec2_security_groups.SecurityGroupBackend.authorize_security_group_ingress
_original_describe_sgs = ec2_security_groups.SecurityGroupBackend.describe_security_groups


def _create_security_group(self: Any, *args: Any, **kwargs: Any) -> Any:
    group = _original_create_sg(self, *args, **kwargs)
    # A VPC's `default` group comes with the VPC (the default VPC's long before any request).
    if group.name != "default":
        INVISIBLE.created("ec2", group.id)
    return group


def _not_found(group_id: str) -> EC2ClientError:
    # EC2 API reference, "Error codes": InvalidGroup.NotFound, "The security group '{id}' does not
    # exist", also for a group created a moment ago (eventual consistency).
    return EC2ClientError("InvalidGroup.NotFound", f"The security group '{group_id}' does not exist")


def _authorize_security_group_ingress(self: Any, group_name_or_id: str, *args: Any, **kwargs: Any) -> Any:
    referenced = [group_name_or_id]
    for pair in kwargs.get("source_groups") or []:
        if isinstance(pair, dict) and pair.get("GroupId"):
            referenced.append(pair["GroupId"])
    for group_id in referenced:
        if INVISIBLE.hidden("ec2", group_id):
            raise _not_found(group_id)
    return _original_authorize(self, group_name_or_id, *args, **kwargs)


def _describe_security_groups(self: Any, group_ids: Any = None, *args: Any, **kwargs: Any) -> Any:
    for group_id in group_ids or []:
        if INVISIBLE.hidden("ec2", group_id):
            raise _not_found(group_id)
    return _original_describe_sgs(self, group_ids, *args, **kwargs)


ec2_security_groups.SecurityGroupBackend.create_security_group = _create_security_group
ec2_security_groups.SecurityGroupBackend.authorize_security_group_ingress = _authorize_security_group_ingress
ec2_security_groups.SecurityGroupBackend.describe_security_groups = _describe_security_groups

_original_create_lt = ec2_launch_templates.LaunchTemplateBackend.create_launch_template


def _profile_name(template_data: dict[str, Any]) -> str | None:
    profile = template_data.get("IamInstanceProfile") or {}
    if isinstance(profile, dict):
        return profile.get("Name") or (profile.get("Arn") or "").split("/")[-1] or None
    return None


def _create_launch_template(self: Any, name: str, description: str, template_data: dict[str, Any], tag_spec: Any) -> Any:
    # EC2 does not check the instance profile here (it does at launch, and Auto Scaling does on
    # CreateAutoScalingGroup); the template itself is briefly invisible to Auto Scaling.
    template = _original_create_lt(self, name, description, template_data, tag_spec)
    INVISIBLE.created("autoscaling:launch-template", f"{self.account_id}:{name}")
    return template


ec2_launch_templates.LaunchTemplateBackend.create_launch_template = _create_launch_template

# ---------------------------------------------------------------------------------------------
# Auto Scaling
# ---------------------------------------------------------------------------------------------

_original_create_asg = asg_models.AutoScalingBackend.create_auto_scaling_group


def _create_auto_scaling_group(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    # Auto Scaling API reference, CreateAutoScalingGroup: AlreadyExists "AutoScalingGroup by this
    # name already exists" (moto replaces the group).
    if name in self.autoscaling_groups:
        raise AsgAlreadyExists(f"AutoScalingGroup by this name already exists - A group with the name {name} already exists")
    template = kwargs.get("launch_template") or {}
    template_name = template.get("launch_template_name") or template.get("LaunchTemplateName")
    template_id = template.get("launch_template_id") or template.get("LaunchTemplateId")
    ec2 = self.ec2_backend
    if template_id and not template_name:
        found = ec2.launch_templates.get(template_id)
        template_name = found.name if found else None
    if template_name and INVISIBLE.hidden("autoscaling:launch-template", f"{self.account_id}:{template_name}"):
        # Seen on AWS right after CreateLaunchTemplate (eventual consistency).
        raise AsgValidationError(
            f"You must use a valid fully-formed launch template. The specified launch template, with template name {template_name}, does not exist."
        )
    if template_name and template_name in ec2.launch_template_name_to_ids:
        lt = ec2.launch_templates[ec2.launch_template_name_to_ids[template_name]]
        data = lt.latest_version().data if hasattr(lt, "latest_version") else {}
        profile = _profile_name(data or {})
        key = f"{self.account_id}:{profile}"
        if profile and (INVISIBLE.hidden("autoscaling:CreateAutoScalingGroup", key) or _profile_propagating(key)):
            # Auto Scaling checks the template's instance profile; a new one is not visible yet
            # (seen on AWS: terraform-provider-aws #5633, eksctl #8039).
            raise AsgValidationError(
                f"You must use a valid fully-formed launch template. Value ({profile}) for parameter "
                "iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"
            )
    return _original_create_asg(self, name, *args, **kwargs)


asg_models.AutoScalingBackend.create_auto_scaling_group = _create_auto_scaling_group


def _resolved_image_id(self: Any) -> str:
    # EC2 user guide, "Use a Systems Manager parameter instead of an AMI ID": a launch template's
    # `resolve:ssm:<parameter>` is resolved when an instance launches.
    if self.ec2_launch_template:
        image = self.ec2_launch_template.get_version(self.launch_template_version).image_id
    else:
        image = self.launch_config.image_id
    if image and image.startswith("resolve:ssm:"):
        name = image[len("resolve:ssm:") :]
        ssm = ssm_backends[self.account_id][self.region]
        return ssm.get_parameter(name).value
    return image


asg_models.FakeAutoScalingGroup.image_id = property(_resolved_image_id)


def _start_instance_refresh(self: Any) -> ActionResult:
    # Auto Scaling API reference, StartInstanceRefresh: replaces the group's instances so they
    # launch from the current launch template (here at once: instances are fakes).
    name = self._get_param("AutoScalingGroupName")
    backend = self.autoscaling_backend
    group = backend.autoscaling_groups.get(name)
    if group is None:
        raise AsgValidationError(f"AutoScalingGroup name not found - AutoScalingGroup '{name}' not found")
    old = [state.instance.id for state in group.instance_states]
    count = len(old)
    if old:
        backend.ec2_backend.terminate_instances(old)
    group.instance_states = []
    if count:
        group.replace_autoscaling_group_instances(count, group.get_propagated_tags())
    return ActionResult({"InstanceRefreshId": str(uuid.uuid4())})


asg_responses.AutoScalingResponse.start_instance_refresh = _start_instance_refresh

# ---------------------------------------------------------------------------------------------
# SSM: parameter tiers
# ---------------------------------------------------------------------------------------------

_original_put_parameter = ssm_models.SimpleSystemManagerBackend.put_parameter


def _put_parameter(self: Any, name: str, description: str, value: str, parameter_type: str, allowed_pattern: str,
                   keyid: str, overwrite: bool, tags: Any, data_type: str, tier: str | None, policies: Any) -> Any:
    # SSM user guide, "Managing parameter tiers": standard parameters hold 4 KB, advanced 8 KB; an
    # advanced parameter cannot go back to the standard tier.
    existing = self._parameters.get(name) or []
    current_tier = existing[-1].tier if existing else None
    effective = tier or "Standard"
    if effective == "Intelligent-Tiering":
        # SSM user guide, "Specifying a default parameter tier": intelligent tiering picks the
        # advanced tier for values over 4 KB, and a parameter once advanced stays advanced.
        advanced = current_tier == "Advanced" or (value is not None and len(value) > 4096)
        effective = "Advanced" if advanced else "Standard"
    if current_tier == "Advanced" and effective == "Standard":
        raise SsmValidationException(
            "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the "
            "advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the "
            "advanced parameter and recreate it as a standard parameter."
        )
    if value is not None and effective == "Standard" and len(value) > 4096:
        raise SsmValidationException(
            "Standard tier parameters support a maximum parameter value of 4096 characters. To create a "
            "larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more "
            "information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html"
        )
    if value is not None and len(value) > 8192:
        raise SsmValidationException(
            "The specified parameter value is too large. Advanced-tier parameters support a maximum parameter value of 8192 characters."
        )
    return _original_put_parameter(self, name, description, value, parameter_type, allowed_pattern, keyid,
                                   overwrite, tags, data_type, effective, policies)


ssm_models.SimpleSystemManagerBackend.put_parameter = _put_parameter

# ---------------------------------------------------------------------------------------------
# ELBv2: listeners are unique per port, load balancers per name
# ---------------------------------------------------------------------------------------------

_original_create_listener = elbv2_models.ELBv2Backend.create_listener
_original_create_lb = elbv2_models.ELBv2Backend.create_load_balancer


def _create_listener(self: Any, load_balancer_arn: str, protocol: str, port: str, *args: Any, **kwargs: Any) -> Any:
    # ELBv2 API reference, CreateListener: DuplicateListener "A listener already exists on this
    # port for this load balancer" (moto keys listeners by ARN and adds a second one).
    balancer = self.load_balancers.get(load_balancer_arn)
    if balancer is not None and any(str(l.port) == str(port) for l in balancer.listeners.values()):
        raise ServiceException("DuplicateListener", f"A listener already exists on this port for this load balancer '{load_balancer_arn}'")
    return _original_create_listener(self, load_balancer_arn, protocol, port, *args, **kwargs)


def _create_load_balancer(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    # ELBv2 API reference, CreateLoadBalancer: "This operation is idempotent, which means that it
    # completes at most one time. If you attempt to create multiple load balancers with the same
    # settings, each call succeeds." (moto creates a second one with a new ARN.)
    for lb in self.load_balancers.values():
        if lb.name == name:
            return lb
    balancer = _original_create_lb(self, name, *args, **kwargs)
    balancer.pushdeploy_created = time.time()
    return balancer


elbv2_models.ELBv2Backend.create_listener = _create_listener
elbv2_models.ELBv2Backend.create_load_balancer = _create_load_balancer
_original_activate = elbv2_models.FakeLoadBalancer.activate


def _activate(self: Any) -> None:
    # ELB user guide, "Load balancer state": `provisioning`, "The load balancer is being set up",
    # for load_balancer_seconds after CreateLoadBalancer (moto: active at the first describe).
    created = getattr(self, "pushdeploy_created", None)
    if created is not None and time.time() - created < SETTINGS["load_balancer_seconds"]:
        return
    _original_activate(self)


elbv2_models.FakeLoadBalancer.activate = _activate

# ---------------------------------------------------------------------------------------------
# ECS
# ---------------------------------------------------------------------------------------------

# CloudWatch Logs API reference, PutRetentionPolicy: "Possible values are: 1, 3, 5, 7, 14, 30, 60,
# 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, and 3653." moto stores
# any number.
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
_original_put_retention_policy = logs_models.LogsBackend.put_retention_policy


def _put_retention_policy(self: Any, log_group_name: str, retention_in_days: Any) -> None:
    if int(retention_in_days) not in RETENTION_DAYS:
        raise LogsInvalidParameter(
            constraint=f"Member must satisfy enum value set: {list(RETENTION_DAYS)}",
            parameter="retentionInDays",
            value=retention_in_days,
        )
    _original_put_retention_policy(self, log_group_name, retention_in_days)


logs_models.LogsBackend.put_retention_policy = _put_retention_policy


# ---------------------------------------------------------------------------------------------
# CloudWatch alarms: what PutMetricAlarm and DeleteAlarms refuse, and the state AWS keeps
from moto.cloudwatch import models as cw_models
from moto.cloudwatch.exceptions import InvalidParameterValue as CwInvalidParameterValue
from moto.cloudwatch.exceptions import ValidationError as CwValidationError

_original_put_metric_alarm = cw_models.CloudWatchBackend.put_metric_alarm
_original_delete_alarms = cw_models.CloudWatchBackend.delete_alarms


def _put_metric_alarm(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    # CloudWatch API reference, PutMetricAlarm: AlarmName 1-255; Period 10, 20, 30 or a
    # multiple of 60; EvaluationPeriods at least 1, and times Period at most one day; Tags at
    # most 50. "When you update an existing alarm, its state is left unchanged"; a new one
    # starts in INSUFFICIENT_DATA (moto: OK).
    params = dict(zip(["namespace", "metric_name", "comparison_operator", "evaluation_periods", "period"], args))
    params.update(kwargs)
    if not 1 <= len(name or "") <= 255:
        raise CwValidationError("1 validation error detected: Value at 'alarmName' failed to satisfy constraint: Member must have length between 1 and 255")
    period = int(params.get("period") or 0)
    evaluations = int(params.get("evaluation_periods") or 0)
    if params.get("metric_name") and not (period in (10, 20, 30) or (period >= 60 and period % 60 == 0)):
        raise CwInvalidParameterValue(f"The parameter Period must be 10, 20, 30 or a multiple of 60, not {period}.")
    if params.get("metric_name") and evaluations < 1:
        raise CwValidationError("1 validation error detected: Value at 'evaluationPeriods' failed to satisfy constraint: Member must have value greater than or equal to 1")
    if period and period < 3600 and period * evaluations > 86400:
        raise CwValidationError("Metrics cannot be checked across more than a day (EvaluationPeriods * Period must be <= 86400).")
    if len(params.get("tags") or []) > 50:
        raise CwValidationError("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50")
    before = self.alarms.get(name)
    alarm = _original_put_metric_alarm(self, name, *args, **kwargs)
    if before is not None:
        alarm.state_value, alarm.state_reason = before.state_value, before.state_reason
        alarm.state_updated_timestamp = before.state_updated_timestamp
    else:
        alarm.state_value = "INSUFFICIENT_DATA"
        alarm.state_reason = "Unchecked: Initial alarm creation"
    return alarm


def _delete_alarms(self: Any, alarm_names: list[str]) -> None:
    # CloudWatch API reference, DeleteAlarms: "You can specify up to 100 alarms".
    if len(alarm_names) > 100:
        raise CwValidationError("1 validation error detected: Value at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to 100")
    _original_delete_alarms(self, alarm_names)


cw_models.CloudWatchBackend.put_metric_alarm = _put_metric_alarm
cw_models.CloudWatchBackend.delete_alarms = _delete_alarms


def _alarm_states(service: Any) -> dict[str, str]:
    """The state of each alarm the service's deployment configuration names, when enabled."""
    alarms = (getattr(service, "deployment_configuration", None) or {}).get("alarms") or {}
    if not alarms.get("enable"):
        return {}
    backend = cw_models.cloudwatch_backends[service._account_id][service.region_name]
    return {
        name: (backend.alarms[name].state_value if name in backend.alarms else "MISSING")
        for name in alarms.get("alarmNames") or []
    }


# ---------------------------------------------------------------------------------------------
# Application Auto Scaling: what PutScalingPolicy refuses
# ---------------------------------------------------------------------------------------------

class AasObjectNotFound(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("ObjectNotFoundException", message)


_original_put_scaling_policy = aas_models.ApplicationAutoscalingBackend.put_scaling_policy
_LABEL = re.compile(r"^app/([^/]+)/([0-9a-f]+)/targetgroup/([^/]+)/([0-9a-f]+)$")


def _put_scaling_policy(self: Any, policy_name: str, service_namespace: str, resource_id: str,
                        scalable_dimension: str, policy_body: dict[str, Any], policy_type: str | None) -> Any:
    # API reference, PutScalingPolicy: ObjectNotFoundException, "The specified object could not be
    # found. For any operation that depends on the existence of a scalable target, this exception
    # is thrown if the scalable target with the specified service namespace, resource ID, and
    # scalable dimension does not exist." moto stores the policy anyway.
    if not self._scalable_target_exists(resource_id, scalable_dimension):
        raise AasObjectNotFound(
            f"No scalable target registered for service namespace: {service_namespace}, resource ID: "
            f"{resource_id}, scalable dimension: {scalable_dimension}"
        )
    # moto's responses pass the policy's configuration itself as the body.
    config = policy_body or {}
    config = config.get("TargetTrackingScalingPolicyConfiguration", config)
    metric = config.get("PredefinedMetricSpecification") or {}
    if metric.get("PredefinedMetricType") == "ALBRequestCountPerTarget":
        # PredefinedMetricSpecification reference: the label is the final portions of the load
        # balancer's and the target group's ARNs, and the target group must be attached to the
        # ECS service. AWS answers a wrong one with a ValidationException.
        label = metric.get("ResourceLabel") or ""
        match = _LABEL.match(label)
        elb = elbv2_backends[self.account_id][self.region_name]
        tg = next((t for t in elb.target_groups.values() if t.arn.endswith(":" + "/".join(label.split("/")[3:]))), None) if match else None
        lb = next((b for b in elb.load_balancers.values() if b.arn.endswith(":loadbalancer/" + "/".join(label.split("/")[:3]))), None) if match else None
        service = None
        if tg is not None and lb is not None:
            _, cluster, name = resource_id.split("/", 2)
            found, _ = self.ecs_backend.describe_services(cluster, [name])
            service = next((s for s in found if any(l.get("targetGroupArn") == tg.arn for l in s.load_balancers)), None)
        if service is None or lb.arn not in tg.load_balancer_arns:
            raise AasValidation(
                f"Invalid resource label {label!r} for ALBRequestCountPerTarget: it must name the load balancer "
                f"and a target group attached to {resource_id} (app/<lb-name>/<lb-id>/targetgroup/<tg-name>/<tg-id>)."
            )
    return _original_put_scaling_policy(self, policy_name, service_namespace, resource_id, scalable_dimension,
                                        policy_body, policy_type)


aas_models.ApplicationAutoscalingBackend.put_scaling_policy = _put_scaling_policy


Service = ecs_models.Service


def _now() -> float:
    return time.time()


def _image_is_bad(image: str) -> bool:
    if image in BAD_IMAGES:
        return True
    digest = image.split("@", 1)[1] if "@" in image else None
    return digest is not None and digest in BAD_IMAGES


def _missing_log_groups(backend: Any, arn: str) -> list[str]:
    """The awslogs groups of a revision that do not exist. ECS developer guide, "Send Amazon ECS logs
    to CloudWatch": without `awslogs-create-group` the group must exist, else the container cannot
    start ("failed to initialize logging driver ... The specified log group does not exist")."""
    try:
        td = backend.describe_task_definition(arn)
    except Exception:  # noqa: BLE001 - a deregistered revision starts nothing
        return []
    groups = logs_backends[backend.account_id][backend.region_name].groups
    missing = []
    for c in td.container_definitions:
        config = c.get("logConfiguration") or {}
        options = config.get("options") or {}
        if config.get("logDriver") != "awslogs" or options.get("awslogs-create-group") == "true":
            continue
        group = options.get("awslogs-group")
        if group not in groups:
            missing.append(group)
    return missing


def _allows(document: str, action: str, resource: str) -> bool:
    """Whether a policy document has an Allow of `action` on `resource` (exact names or `*`
    globs, as IAM matches them; Deny and conditions are not used by the app's policies)."""
    try:
        statements = json.loads(document).get("Statement", [])
    except (ValueError, AttributeError):
        return False
    if isinstance(statements, dict):
        statements = [statements]
    for st in statements:
        if st.get("Effect") != "Allow":
            continue
        actions = st.get("Action", [])
        resources = st.get("Resource", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        if any(fnmatch.fnmatchcase(action, a) for a in actions) and any(
            fnmatch.fnmatchcase(resource, r) for r in resources
        ):
            return True
    return False


def _secret_exists(account: str, value_from: str) -> bool:
    parts = value_from.split(":")  # arn:aws:ssm:<region>:<account>:parameter/<name>, or 7 parts
    if len(parts) < 6:
        return False
    region = parts[3]
    if parts[2] == "ssm":
        name = value_from.split(":parameter", 1)[1]
        return ssm_backends[account][region].get_parameter(name) is not None
    if parts[2] == "secretsmanager":
        try:
            secretsmanager_backends[account][region].describe_secret(":".join(parts[:7]))
            return True
        except Exception:  # noqa: BLE001 - ResourceNotFoundException
            return False
    return False


def _full_secret_arn(account: str, value_from: str) -> str:
    """The secret's full ARN (with the six characters Secrets Manager appends), which IAM matches a
    policy's Resource against, even when `valueFrom` names it by a partial ARN (Secrets Manager user
    guide, "Secrets Manager ARNs": grant a partial ARN with `-??????`)."""
    parts = value_from.split(":")
    try:
        return secretsmanager_backends[account][parts[3]].describe_secret(":".join(parts[:7])).arn
    except Exception:  # noqa: BLE001 - missing: _secret_exists says so
        return ":".join(parts[:7])


def _unreadable_secrets(backend: Any, arn: str) -> list[str]:
    """The secrets of a revision its tasks cannot get. ECS developer guide, "Pass sensitive data to
    an Amazon ECS container": the execution role needs ssm:GetParameters or
    secretsmanager:GetSecretValue on each one (and kms:Decrypt with a customer key), else the task
    stops with "ResourceInitializationError: unable to pull secrets or registry auth". moto starts
    it anyway."""
    try:
        td = backend.describe_task_definition(arn)
    except Exception:  # noqa: BLE001 - a deregistered revision starts nothing
        return []
    wanted = [s.get("valueFrom", "") for c in td.container_definitions for s in (c.get("secrets") or [])]
    if not wanted:
        return []
    iam = iam_backends[backend.account_id]["aws"]
    documents: list[str] = []
    try:
        role = iam.get_role_by_arn(td.execution_role_arn or "")
        documents.extend(role.policies.values())
        for managed in role.managed_policies.values():
            documents.extend(v.document for v in managed.versions if v.is_default)
    except Exception:  # noqa: BLE001 - no execution role: nothing can be read
        pass
    unreadable = []
    for value_from in wanted:
        service = value_from.split(":")[2] if value_from.count(":") >= 5 else ""
        action = {"ssm": "ssm:GetParameters", "secretsmanager": "secretsmanager:GetSecretValue"}.get(service)
        resource = _full_secret_arn(backend.account_id, value_from) if service == "secretsmanager" else value_from
        if action is None or not _secret_exists(backend.account_id, value_from) or not any(
            _allows(d, action, resource) for d in documents
        ):
            unreadable.append(value_from)
    return unreadable


def _task_definition_images(backend: Any, arn: str) -> list[dict[str, Any]]:
    try:
        td = backend.describe_task_definition(arn)
    except Exception:  # noqa: BLE001 - a deregistered revision has no images to show
        return []
    return [
        {"name": c.get("name"), "image": c.get("image", "")}
        for c in td.container_definitions
    ]


def _digest_of(backend: Any, image: str) -> str | None:
    """The digest ECS records for a container image: the pinned one, or the tag's in ECR."""
    if "@" in image:
        return image.split("@", 1)[1]
    match = re.match(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+):(.+)$", image)
    if not match:
        return None
    account, region, repo, tag = match.groups()
    try:
        repository = ecr_backends[account][region].repositories.get(repo)
        for img in repository.images if repository else []:
            if tag in (img.image_tags or []) or img.image_tag == tag:
                return img.image_digest
    except Exception:  # noqa: BLE001 - no such registry: no digest
        return None
    return None


# ---------------------------------------------------------------------------------------------
# ECS blue/green, canary and linear deployments with an Application Load Balancer
# ---------------------------------------------------------------------------------------------

# DeploymentConfiguration.strategy (ECS API reference): the strategies that shift traffic in
# lifecycle stages rather than replacing tasks in place.
STAGED = ("BLUE_GREEN", "CANARY", "LINEAR")
# ECS developer guide, "Application Load Balancer resources for blue/green, linear, and canary
# deployments": what a deployment fails with when the production (or test) rule does not forward
# to both target groups, or mixes forward with other action types.
BOTH_GROUPS = "Both targetGroup and alternateTargetGroup must be associated with the productionListenerRule or testListenerRule."
NON_FORWARD = "blue/green is not supported when using ALB listeners that have multiple action types configured with non-forward actions"


def _deployment_config(service: Any) -> dict[str, Any]:
    return getattr(service, "deployment_configuration", None) or {}


def _multiple_of_tenth(value: float) -> bool:
    return abs(value * 10 - round(value * 10)) < 1e-6


def _check_percent(name: str, value: Any, low: float) -> None:
    # ECS API reference, CanaryConfiguration.canaryPercent ("multiples of 0.1 from 0.1 to
    # 100.0") and LinearConfiguration.stepPercent ("multiples of 0.1 from 3.0 to 100.0").
    if value is not None and not (low <= float(value) <= 100 and _multiple_of_tenth(float(value))):
        raise invalid_parameter(f"{name} must be a multiple of 0.1 from {low} to 100.0, not {value}.")


def _check_bake(name: str, value: Any) -> None:
    # ECS API reference, CanaryConfiguration / LinearConfiguration: "Valid values are 0 to 1440
    # minutes (24 hours)"; bakeTimeInMinutes likewise.
    if value is not None and not 0 <= int(value) <= 1440:
        raise invalid_parameter(f"{name} must be between 0 and 1440 minutes, not {value}.")


def _check_strategy(config: dict[str, Any], controller: dict[str, Any]) -> None:
    """What DeploymentConfiguration allows (ECS API reference, DeploymentConfiguration,
    CanaryConfiguration, LinearConfiguration, DeploymentController)."""
    strategy = config.get("strategy") or "ROLLING"
    if strategy != "ROLLING" and (controller.get("type") or "ECS") != "ECS":
        # DeploymentController.type: the strategies are choices of the ECS deployment controller.
        raise invalid_parameter(f"The {strategy} deployment strategy requires the ECS deployment controller, not {controller.get('type')}.")
    canary, linear = config.get("canaryConfiguration"), config.get("linearConfiguration")
    # "Only valid when the deployment strategy is CANARY" (LINEAR).
    if canary is not None and strategy != "CANARY":
        raise invalid_parameter("canaryConfiguration is only valid when the deployment strategy is CANARY.")
    if linear is not None and strategy != "LINEAR":
        raise invalid_parameter("linearConfiguration is only valid when the deployment strategy is LINEAR.")
    # bakeTimeInMinutes: "You must provide this parameter when you use the BLUE_GREEN deployment strategy."
    if strategy == "BLUE_GREEN" and config.get("bakeTimeInMinutes") is None:
        raise invalid_parameter("bakeTimeInMinutes must be provided for the BLUE_GREEN deployment strategy.")
    _check_bake("bakeTimeInMinutes", config.get("bakeTimeInMinutes"))
    _check_bake("canaryBakeTimeInMinutes", (canary or {}).get("canaryBakeTimeInMinutes"))
    _check_bake("stepBakeTimeInMinutes", (linear or {}).get("stepBakeTimeInMinutes"))
    _check_percent("canaryPercent", (canary or {}).get("canaryPercent"), 0.1)
    _check_percent("stepPercent", (linear or {}).get("stepPercent"), 3.0)
    _check_hooks(config.get("lifecycleHooks") or [], strategy)


# DeploymentLifecycleHook.lifecycleStages (ECS API reference; botocore's DeploymentLifecycleHookStage
# enum): the stages a hook may run at. SCALE_UP, BAKE_TIME and CLEAN_UP take no hook.
HOOK_STAGES = ("RECONCILE_SERVICE", "PRE_SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT",
               "PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT")
# Same field, and ECS developer guide, "Pause hooks for Amazon ECS service deployments": "PAUSE hooks
# cannot be configured at TEST_TRAFFIC_SHIFT or PRODUCTION_TRAFFIC_SHIFT stages" (they also run
# during a rollback).
NO_PAUSE_STAGES = ("TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT")


def _check_hooks(hooks: list[dict[str, Any]], strategy: str) -> None:
    """What deploymentConfiguration.lifecycleHooks allows (ECS API reference,
    DeploymentLifecycleHook and DeploymentLifecycleHookTimeoutConfiguration; ECS developer guide,
    "Lifecycle hooks for Amazon ECS service deployments": hooks belong to the blue/green, linear
    and canary strategies)."""
    if not hooks:
        return
    if strategy not in STAGED:
        raise invalid_parameter(
            f"lifecycleHooks are only supported with the BLUE_GREEN, CANARY or LINEAR deployment strategy, not {strategy}."
        )
    for hook in hooks:
        # targetType: "If not specified, the default value is AWS_LAMBDA."
        kind = hook.get("targetType") or "AWS_LAMBDA"
        if kind not in ("AWS_LAMBDA", "PAUSE"):
            raise invalid_parameter(f"Invalid lifecycle hook targetType {kind}: valid values are AWS_LAMBDA and PAUSE.")
        stages = hook.get("lifecycleStages") or []
        # lifecycleStages: "You must provide this parameter when configuring a deployment lifecycle hook."
        if not stages:
            raise invalid_parameter("lifecycleStages must be provided (at least one stage) for each lifecycle hook.")
        for stage in stages:
            if stage not in HOOK_STAGES:
                raise invalid_parameter(
                    f"Invalid lifecycle stage {stage} for a lifecycle hook: valid stages are {', '.join(HOOK_STAGES)}."
                )
            if kind == "PAUSE" and stage in NO_PAUSE_STAGES:
                raise invalid_parameter(
                    f"PAUSE hooks cannot be configured at the {stage} lifecycle stage: TEST_TRAFFIC_SHIFT and "
                    "PRODUCTION_TRAFFIC_SHIFT are only valid for AWS_LAMBDA hooks."
                )
        # hookTargetArn: "not applicable for PAUSE hooks"; "You must provide this parameter when
        # configuring an AWS_LAMBDA lifecycle hook."
        if kind == "PAUSE" and hook.get("hookTargetArn"):
            raise invalid_parameter("hookTargetArn is not applicable to a PAUSE lifecycle hook.")
        if kind == "AWS_LAMBDA" and not hook.get("hookTargetArn"):
            raise invalid_parameter("hookTargetArn must be provided for an AWS_LAMBDA lifecycle hook.")
        timeout = hook.get("timeoutConfiguration") or {}
        # timeoutInMinutes: "Valid Range: Minimum value of 1. Maximum value of 20160."
        minutes = timeout.get("timeoutInMinutes")
        if minutes is not None and not 1 <= int(minutes) <= 20160:
            raise invalid_parameter(f"timeoutInMinutes must be between 1 and 20160, not {minutes}.")
        if timeout.get("action") not in (None, "CONTINUE", "ROLLBACK"):
            raise invalid_parameter(f"Invalid timeout action {timeout.get('action')}: valid values are CONTINUE and ROLLBACK.")


def _find_rule(elb: Any, arn: str | None) -> tuple[Any, Any]:
    """(listener, rule) of a listener rule ARN, the listener's default rule included; a listener
    ARN (a Network Load Balancer's "rule", AdvancedConfiguration.productionListenerRule) gives its
    default rule. moto keeps the default rule in `listener._default_rule`."""
    for balancer in elb.load_balancers.values():
        for listener in balancer.listeners.values():
            if listener.arn == arn:
                return listener, listener._default_rule[0]
            for rule in listener.rules.values():
                if rule.arn == arn:
                    return listener, rule
    return None, None


def _check_advanced(account: str, region: str, load_balancers: list[dict[str, Any]], strategy: str) -> None:
    """ECS developer guide, "Application Load Balancer resources for blue/green, linear, and
    canary deployments": each load balancer of the service names an alternate target group (not
    the primary), the production listener rule (and optionally a test one) and the role ECS moves
    traffic with (AdvancedConfiguration)."""
    elb = elbv2_backends[account][region]
    roles = {role.arn for role in iam_backends[account]["aws"].roles.values()}
    for lb in load_balancers:
        advanced = lb.get("advancedConfiguration")
        if not advanced:
            raise invalid_parameter(f"advancedConfiguration is required for each load balancer of a service with the {strategy} deployment strategy.")
        alternate = advanced.get("alternateTargetGroupArn")
        if alternate not in elb.target_groups:
            raise invalid_parameter(f"The alternate target group {alternate} does not exist.")
        if alternate == lb.get("targetGroupArn"):
            raise invalid_parameter("alternateTargetGroupArn must be a different target group from targetGroupArn.")
        for key in ("productionListenerRule", "testListenerRule"):
            arn = advanced.get(key)
            if (arn or key == "productionListenerRule") and _find_rule(elb, arn)[1] is None:
                raise invalid_parameter(f"The {key} {arn} does not exist.")
        if advanced.get("roleArn") not in roles:
            raise invalid_parameter(f"The role {advanced.get('roleArn')} in advancedConfiguration does not exist.")


def _check_networking(backend: Any, task_definition: str | None, load_balancers: list[dict[str, Any]],
                      network: dict[str, Any], account: str, region: str) -> None:
    """ECS developer guide, "Amazon ECS task networking options" and "Troubleshooting service load
    balancers": an `awsvpc` task needs the service's awsvpcConfiguration and registers by IP; any
    other mode registers by instance. The target groups (primary and alternate) must match."""
    if not task_definition:
        return
    mode = backend.describe_task_definition(task_definition).network_mode or "bridge"
    if mode == "awsvpc" and not (network or {}).get("awsvpcConfiguration"):
        raise invalid_parameter("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
    elb = elbv2_backends[account][region]
    for lb in load_balancers:
        for arn in (lb.get("targetGroupArn"), (lb.get("advancedConfiguration") or {}).get("alternateTargetGroupArn")):
            group = elb.target_groups.get(arn) if arn else None
            if group is None:
                continue
            if (group.target_type == "ip" and mode != "awsvpc") or (group.target_type == "instance" and mode == "awsvpc"):
                raise invalid_parameter(
                    f"The provided target group {arn} has target type {group.target_type}, which is incompatible "
                    f"with the {mode} network mode specified in the task definition."
                )


def _check_deployment_request(self: Any, service: Any = None) -> None:
    """CreateService, or UpdateService of `service` (what it does not give, the service keeps)."""

    def given(name: str, attribute: str) -> Any:
        value = self._get_param(name)
        return value if value is not None else getattr(service, attribute, None)

    config = given("deploymentConfiguration", "deployment_configuration") or {}
    controller = given("deploymentController", "deployment_controller") or {"type": "ECS"}
    load_balancers = given("loadBalancers", "load_balancers") or []
    _check_strategy(config, controller)
    if config.get("strategy") in STAGED:
        _check_advanced(self.current_account, self.region, load_balancers, config["strategy"])
    task_definition = given("taskDefinition", "task_definition")
    network = given("networkConfiguration", "network_configuration") or {}
    _check_networking(self.ecs_backend, task_definition, load_balancers, network, self.current_account, self.region)


def _traffic_steps(config: dict[str, Any]) -> list[tuple[float, int]]:
    """(green's share of production traffic, minutes to wait after the shift), in order. ECS
    developer guide: "Amazon ECS canary deployments" (canaryPercent, then the rest after
    canaryBakeTimeInMinutes; defaults 5.0 and 10), "Amazon ECS linear deployments" (stepPercent
    more each step, stepBakeTimeInMinutes between steps but "not applied after reaching 100
    percent"; defaults 10.0 and 6), blue/green (everything at once)."""
    strategy = config.get("strategy")
    if strategy == "CANARY":
        canary = config.get("canaryConfiguration") or {}
        return [(float(canary.get("canaryPercent", 5.0)), int(canary.get("canaryBakeTimeInMinutes", 10))), (100.0, 0)]
    if strategy == "LINEAR":
        linear = config.get("linearConfiguration") or {}
        step, wait = float(linear.get("stepPercent", 10.0)), int(linear.get("stepBakeTimeInMinutes", 6))
        shares = [round(step * k, 1) for k in range(1, int(100 // step) + 1) if round(step * k, 1) < 100]
        return [(share, wait) for share in shares] + [(100.0, 0)]
    return [(100.0, 0)]


def _schedule(config: dict[str, Any], reconcile: bool) -> list[tuple[str, float, float]]:
    """The lifecycle stages of a blue/green, canary or linear deployment as (stage, wall seconds,
    green's share of production traffic during it). ECS developer guide, "How Amazon ECS
    blue/green deployments work": RECONCILE_SERVICE (only with more than one revision ACTIVE),
    PRE_SCALE_UP, SCALE_UP, POST_SCALE_UP, TEST_TRAFFIC_SHIFT, POST_TEST_TRAFFIC_SHIFT,
    PRODUCTION_TRAFFIC_SHIFT (once per step for canary and linear), POST_PRODUCTION_TRAFFIC_SHIFT,
    BAKE_TIME (bakeTimeInMinutes), CLEAN_UP. DeploymentLifecycleHook.lifecycleStages (ECS API
    reference) adds PRE_PRODUCTION_TRAFFIC_SHIFT, "invoked before every traffic shift step" for
    canary and linear: here a stage of no length before each PRODUCTION_TRAFFIC_SHIFT, which only
    a hook (a pause) makes last."""
    stage, minute = SETTINGS["stage_seconds"], SETTINGS["minute_seconds"]
    out = [("RECONCILE_SERVICE", stage, 0.0)] if reconcile else []
    out += [("PRE_SCALE_UP", stage, 0.0), ("SCALE_UP", SETTINGS["deployment_seconds"], 0.0), ("POST_SCALE_UP", stage, 0.0),
            ("TEST_TRAFFIC_SHIFT", stage, 0.0), ("POST_TEST_TRAFFIC_SHIFT", stage, 0.0)]
    before = 0.0
    for share, wait in _traffic_steps(config):
        out += [("PRE_PRODUCTION_TRAFFIC_SHIFT", 0.0, before), ("PRODUCTION_TRAFFIC_SHIFT", stage + wait * minute, share)]
        before = share
    bake = int(config.get("bakeTimeInMinutes") or 0) * minute
    return out + [("POST_PRODUCTION_TRAFFIC_SHIFT", stage, 100.0), ("BAKE_TIME", bake, 100.0), ("CLEAN_UP", stage, 100.0)]


def _forward_weights(rule: Any) -> dict[str, int]:
    """Target group ARN -> weight of the rule's forward actions (a plain forward: 1)."""
    weights: dict[str, int] = {}
    for action in rule.actions:
        if action.type != "forward":
            continue
        groups = (action.data.get("ForwardConfig") or {}).get("TargetGroups") or []
        weights.update({g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups})
        if not groups and action.data.get("TargetGroupArn"):
            weights[action.data["TargetGroupArn"]] = 1
    return weights


def _write_weights(service: Any, rule_arn: str, weights: dict[str, int]) -> None:
    """Sets the rule's forward weights as ECS does through ModifyRule/ModifyListener, keeping the
    listener's DefaultActions and its default rule the same."""
    listener, rule = _find_rule(elbv2_backends[service._account_id][service.region_name], rule_arn)
    if rule is None:
        return
    for action in (a for a in rule.actions if a.type == "forward"):
        for group in (action.data.get("ForwardConfig") or {}).get("TargetGroups") or []:
            if group["TargetGroupArn"] in weights:
                group["Weight"] = weights[group["TargetGroupArn"]]
    if rule.is_default:
        listener.default_actions = rule.actions


def _rule_problem(elb: Any, arn: str, groups: tuple[str, str]) -> str | None:
    _, rule = _find_rule(elb, arn)
    types = {action.type for action in rule.actions} if rule is not None else set()
    if len(types) > 1 and "forward" in types:
        return NON_FORWARD
    if rule is None or not set(groups) <= set(_forward_weights(rule)):
        return BOTH_GROUPS
    return None


def _begin_traffic(rollout: Any) -> str | None:
    """At the start of a staged deployment: checks its listener rules and picks green, the target
    group not carrying production traffic (the lower weight; the alternate when even). Returns why
    the deployment cannot go on, or None. Without advancedConfiguration nothing is shifted."""
    service = rollout.service
    lb = next((l for l in service.load_balancers or [] if l.get("advancedConfiguration")), None)
    if lb is None:
        return None
    advanced = lb["advancedConfiguration"]
    primary, alternate = lb.get("targetGroupArn"), advanced.get("alternateTargetGroupArn")
    rules = [(arn, test) for arn, test in ((advanced.get("productionListenerRule"), False), (advanced.get("testListenerRule"), True)) if arn]
    elb = elbv2_backends[service._account_id][service.region_name]
    if not advanced.get("productionListenerRule"):
        return BOTH_GROUPS
    for arn, _ in rules:
        problem = _rule_problem(elb, arn, (primary, alternate))
        if problem:
            return problem
    weights = _forward_weights(_find_rule(elb, rules[0][0])[1])
    rollout.green = primary if weights.get(primary, 0) < weights.get(alternate, 0) else alternate
    rollout.blue = alternate if rollout.green == primary else primary
    rollout.rules = rules
    return None


def _shift(rollout: Any, share: float, test: bool) -> None:
    """Green gets `share` percent of production traffic (ELB weights are integers: round(share)),
    and all test traffic once `test` (TEST_TRAFFIC_SHIFT on)."""
    if rollout.green is None:
        return
    green = round(share)
    for arn, is_test in rollout.rules:
        if not is_test:
            _write_weights(rollout.service, arn, {rollout.green: green, rollout.blue: 100 - green})
        elif test:
            _write_weights(rollout.service, arn, {rollout.green: 100, rollout.blue: 0})
    rollout.share, rollout.test_shifted = share, test


def _restore_blue(rollout: Any) -> None:
    """A rollback or a superseded staged deployment: traffic back on blue at once."""
    if getattr(rollout, "green", None) is None:
        return
    for arn, _ in rollout.rules:
        _write_weights(rollout.service, arn, {rollout.green: 0, rollout.blue: 100})
    rollout.share, rollout.test_shifted = 0.0, False


class Rollout:
    """One ECS deployment of a service, with its service-deployment and service-revision records
    (ECS developer guide, "View service history using Amazon ECS service deployments")."""

    def __init__(self, service: Any, task_definition: str, rollback_of: "Rollout | None" = None):
        backend = service._backend
        self.service = service
        self.number = backend._next_revision = getattr(backend, "_next_revision", 0) + 1
        self.id = f"ecs-svc/{uuid.uuid4().int % 10**19:019d}"
        suffix = self.id.split("/", 1)[1]
        base = f"arn:aws:ecs:{service.region_name}:{service._account_id}"
        self.arn = f"{base}:service-deployment/{service.cluster_name}/{service.name}/{suffix}"
        self.revision_arn = f"{base}:service-revision/{service.cluster_name}/{service.name}/{self.number}{suffix[:6]}"
        self.task_definition = task_definition
        self.created = utcnow()
        self.started = _now()
        self.finish_at = self.started + SETTINGS["deployment_seconds"]
        self.rollout_state = "IN_PROGRESS"
        self.reason = f"ECS deployment {self.id} in progress."
        self.status = "IN_PROGRESS"  # the service deployment's status
        self.status_reason: str | None = None
        self.finished: Any = None
        self.rollback_of = rollback_of
        self.rollback: dict[str, Any] | None = None
        self.breaker_triggered = False
        # ECS developer guide, "How CloudWatch alarms detect Amazon ECS deployment failures": an
        # alarm already in ALARM when the deployment starts is not watched by it.
        self.alarms_ignored = {n for n, state in _alarm_states(service).items() if state == "ALARM"}
        self.triggered_alarms: list[str] = []
        self.failed_tasks = 0
        self.source_revisions: list[str] = []
        images = _task_definition_images(backend, task_definition)
        self.bad = (
            any(_image_is_bad(i["image"]) for i in images)
            or bool(_missing_log_groups(backend, task_definition))
            or bool(_unreadable_secrets(backend, task_definition))
        )
        self.container_images = [
            {"containerName": i["name"], "image": i["image"], **({"imageDigest": d} if (d := _digest_of(backend, i["image"])) else {})}
            for i in images
        ]
        self.capacity_provider_strategy = list(getattr(service, "capacity_provider_strategy", None) or [])
        self.launch_type = None if self.capacity_provider_strategy else service.launch_type
        # Deployment.platformVersion: the version the tasks run on, LATEST resolved (DescribeServices
        # shows a Fargate deployment's "1.4.0" where the service says "LATEST"); Fargate only.
        version = getattr(service, "platform_version", None)
        self.platform_version = (FARGATE_LATEST if version == "LATEST" else version) if _on_fargate(
            self.capacity_provider_strategy, self.launch_type) else None
        self.platform_family = "Linux" if self.platform_version else None
        self.network_configuration = copy.deepcopy(getattr(service, "network_configuration", None) or None)
        # Blue/green, canary and linear deployments walk lifecycle stages from `clock` (a rollback
        # is a plain deployment back to the last good revision); traffic is set up at the first tick.
        config = _deployment_config(service)
        self.staged = rollback_of is None and config.get("strategy") in STAGED
        # More than one revision ACTIVE: another deployment still running or draining.
        busy = any(getattr(r, "draining", False) or (r.rollout_state == "IN_PROGRESS" and not getattr(r, "superseded", False))
                   for r in _rollouts(service))
        self.schedule = _schedule(config, reconcile=busy) if self.staged else []
        self.clock = self.started
        self.stage: str | None = None
        self.green: str | None = None
        self.blue: str | None = None
        self.rules: list[tuple[str, bool]] = []  # (listener rule ARN, is the test rule)
        self.share: float | None = None  # green's share of production traffic, as last written
        self.test_shifted = False
        # Lifecycle hooks, as configured when the deployment started (a rollback runs none here).
        self.hooks = copy.deepcopy(config.get("lifecycleHooks") or []) if self.staged else []
        self.entered = -1  # the last stage whose hooks were run
        self.stage_began = self.started  # when the current stage began (wall seconds)
        self.hook_queue: list[dict[str, Any]] = []  # hooks of the current stage still to run
        self.hook_details: list[dict[str, Any]] = []  # DeploymentLifecycleHookDetail, in order
        self.pause: dict[str, Any] | None = None  # the detail AWAITING_ACTION
        self.pause_since = 0.0
        self.pause_expires = 0.0
        self.stop_at: float | None = None  # StopServiceDeployment: when the rollback starts
        self.stop_requested: Any = None

    def deployment(self, status: str) -> dict[str, Any]:
        desired = self.service.desired_count
        done = self.rollout_state == "COMPLETED"
        return {
            "id": self.id,
            "status": status,
            "taskDefinition": self.task_definition,
            "desiredCount": desired,
            "pendingCount": 0 if done else desired,
            "runningCount": desired if done else 0,
            "failedTasks": self.failed_tasks,
            "createdAt": self.created,
            "updatedAt": utcnow(),
            "launchType": self.launch_type,
            "capacityProviderStrategy": self.capacity_provider_strategy or None,
            "platformVersion": self.platform_version,
            "platformFamily": self.platform_family,
            "networkConfiguration": self.network_configuration,
            "rolloutState": self.rollout_state,
            "rolloutStateReason": self.reason,
        }

    def brief(self) -> dict[str, Any]:
        svc = self.service
        return {
            "serviceDeploymentArn": self.arn,
            "serviceArn": svc.arn,
            "clusterArn": svc.cluster_arn,
            "startedAt": self.created,
            "createdAt": self.created,
            "finishedAt": self.finished,
            "targetServiceRevisionArn": self.revision_arn,
            "status": self.status,
            "statusReason": self.status_reason,
        }

    def full(self) -> dict[str, Any]:
        svc = self.service
        breaker = (getattr(svc, "deployment_configuration", None) or {}).get("deploymentCircuitBreaker") or {}
        out = {
            "serviceDeploymentArn": self.arn,
            "serviceArn": svc.arn,
            "clusterArn": svc.cluster_arn,
            "createdAt": self.created,
            "startedAt": self.created,
            "finishedAt": self.finished if self.status != "STOPPED" else None,
            # ServiceDeployment.stoppedAt: "A user manually stops the deployment" (the stop
            # request), or a failure detection without rollback stopped it; not a deployment a
            # newer one superseded.
            "stoppedAt": self.stop_requested
            or (self.finished if self.status == "STOPPED" and not getattr(self, "superseded", False) else None),
            # The last change of state: finished, rolling back, rollback requested, the current
            # stage of a staged deployment begun (a client counts the bake time left from it), or
            # created.
            "updatedAt": self.finished or (self.rollback or {}).get("startedAt") or self.stop_requested
            or (_from_epoch(self.stage_began) if self.staged and self.stage and self.status == "IN_PROGRESS" else None)
            or self.created,
            "sourceServiceRevisions": [
                {"arn": arn, "requestedTaskCount": 0, "runningTaskCount": 0, "pendingTaskCount": 0}
                for arn in self.source_revisions
            ],
            "targetServiceRevision": {
                "arn": self.revision_arn,
                "requestedTaskCount": svc.desired_count,
                "runningTaskCount": svc.desired_count if self.rollout_state == "COMPLETED" else 0,
                "pendingTaskCount": 0,
            },
            "status": self.status,
            "statusReason": self.status_reason,
            "deploymentConfiguration": getattr(svc, "deployment_configuration", None),
            "deploymentCircuitBreaker": {
                "status": "TRIGGERED" if self.breaker_triggered else ("MONITORING" if breaker.get("enable") else "DISABLED"),
                "failureCount": self.failed_tasks,
                "threshold": 10,
            },
            "alarms": self.alarms(),
        }
        if self.rollback:
            out["rollback"] = self.rollback
        if self.staged and self.stage:
            # ServiceDeployment.lifecycleStage: the current stage (the last one once finished).
            # PRE_PRODUCTION_TRAFFIC_SHIFT is a hook stage (DeploymentLifecycleHookStage) missing
            # from ServiceDeploymentLifecycleStage, which the SDKs parse lifecycleStage with: a
            # pause there is reported as the stage before it (POST_TEST_TRAFFIC_SHIFT before the
            # first traffic step, PRODUCTION_TRAFFIC_SHIFT between canary or linear steps).
            stage = self.stage
            if stage == "PRE_PRODUCTION_TRAFFIC_SHIFT":
                names = [name for name, _, _ in self.schedule]
                stage = names[max(self.entered, 1) - 1]
            out["lifecycleStage"] = stage
        if self.hook_details:
            # ServiceDeployment.lifecycleHookDetails: every hook the deployment ran, in order.
            out["lifecycleHookDetails"] = [dict(d) for d in self.hook_details]
        return out

    def alarms(self) -> dict[str, Any]:
        """ServiceDeploymentAlarms: TRIGGERED, MONITORING while it runs (and bakes), then
        MONITORING_COMPLETE; DISABLED without alarms."""
        names = sorted(_alarm_states(self.service))
        if not names:
            status = "DISABLED"
        elif self.triggered_alarms:
            status = "TRIGGERED"
        elif self.rollout_state == "IN_PROGRESS":
            status = "MONITORING"
        else:
            status = "MONITORING_COMPLETE"
        return {"status": status, "alarmNames": names, "triggeredAlarmNames": list(self.triggered_alarms)}

    def revision(self) -> dict[str, Any]:
        svc = self.service
        return {
            "serviceRevisionArn": self.revision_arn,
            "serviceArn": svc.arn,
            "clusterArn": svc.cluster_arn,
            "taskDefinition": self.task_definition,
            "capacityProviderStrategy": self.capacity_provider_strategy or None,
            "launchType": self.launch_type,
            "platformVersion": self.platform_version,
            "platformFamily": self.platform_family,
            "networkConfiguration": self.network_configuration,
            "loadBalancers": svc.load_balancers or None,
            "containerImages": self.container_images,
            "createdAt": self.created,
        }


def _event(service: Any, message: str) -> None:
    service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": utcnow(), "message": f"(service {service.name}) {message}"})
    del service.events[100:]


def _rollouts(service: Any) -> list[Rollout]:
    if not hasattr(service, "_rollouts"):
        service._rollouts = []
    return service._rollouts


def _start_rollout(service: Any, task_definition: str, rollback_of: Rollout | None = None) -> Rollout:
    rollouts = _rollouts(service)
    # A deployment superseded before is already on its way out: it is not superseded again.
    active = [r for r in rollouts if r.rollout_state == "IN_PROGRESS" and not getattr(r, "superseded", False)]
    rollout = Rollout(service, task_definition, rollback_of)
    rollout.source_revisions = [r.revision_arn for r in rollouts if r.rollout_state == "COMPLETED"][-1:]
    for r in active:
        if r is not rollback_of:
            # ECS developer guide, "Deployment circuit breaker": a newer deployment supersedes an
            # in-progress one; its service deployment is STOPPED.
            r.superseded = True
            r.draining = True
            r.status = "STOPPED"
            r.status_reason = "Superseded by a newer deployment."
            r.finished = utcnow()
            _end_pause(r)
            # The new deployment starts from blue: the superseded one's green takes no traffic.
            _restore_blue(r)
    rollouts.append(rollout)
    service.task_definition = task_definition
    if rollback_of is None:
        service.current_service_deployment = rollout.arn
    _publish(service)
    return rollout


def _publish(service: Any) -> None:
    """service.deployments as DescribeServices shows it: PRIMARY first, then still-running ones."""
    rollouts = _rollouts(service)
    if not rollouts:
        return
    primary = rollouts[-1]
    shown = [primary.deployment("PRIMARY")]
    for r in reversed(rollouts[:-1]):
        if getattr(r, "draining", False):
            shown.append(r.deployment("ACTIVE"))
    service.deployments = shown
    done = primary.rollout_state == "COMPLETED"
    service.running_count = service.desired_count if done else min(service.running_count, service.desired_count)
    service.pending_count = 0 if done else service.desired_count


def _breaker(service: Any) -> dict[str, Any]:
    return (getattr(service, "deployment_configuration", None) or {}).get("deploymentCircuitBreaker") or {}


def _fail(service: Any, rollout: Rollout, previous: list[Rollout], reason: str, rollback: bool) -> None:
    """A failed deployment rolled back to the last one that completed, or stopped."""
    _end_pause(rollout)
    if rollback and previous:
        target = previous[-1]
        # ECS developer guide, "How CloudWatch alarms detect Amazon ECS deployment failures": a
        # blue/green, canary or linear rollback puts production traffic back on blue at once.
        _restore_blue(rollout)
        rollout.status = "ROLLBACK_IN_PROGRESS"
        rollout.status_reason = reason
        back = _start_rollout(service, target.task_definition, rollback_of=rollout)
        # Seen in describe-services output: the rollback PRIMARY takes the id and revision of the
        # deployment it returns to.
        back.id = target.id
        back.revision_arn = target.revision_arn
        back.reason = f"{reason.split(':')[0]}: rolling back to deploymentId {target.id}."
        rollout.rollback = {"reason": reason, "startedAt": utcnow(), "serviceRevisionArn": target.revision_arn}
        rollout.draining = True
        _event(service, f"rolling back to deployment {target.id}.")
    else:
        rollout.status = "STOPPED"
        rollout.status_reason = reason
        rollout.finished = utcnow()
    _publish(service)


def _alarm_failure(service: Any, rollout: Rollout, fired: list[str], previous: list[Rollout]) -> None:
    # ECS developer guide, "How CloudWatch alarms detect Amazon ECS deployment failures": an
    # alarm in ALARM during the deployment or its bake time fails it; with rollback on, ECS
    # deploys the last deployment that completed.
    rollout.triggered_alarms = sorted(fired)
    reason = f"ECS deployment {rollout.id} failed: alarm(s) {', '.join(rollout.triggered_alarms)} in ALARM state."
    rollout.rollout_state = "FAILED"
    rollout.reason = reason
    _event(service, f"(deployment {rollout.id}) deployment failed: alarm detected.")
    rollback = bool((_deployment_config(service).get("alarms") or {}).get("rollback"))
    _fail(service, rollout, previous, reason, rollback)


def _breaker_failure(service: Any, rollout: Rollout, previous: list[Rollout]) -> None:
    # ECS developer guide, "How the Amazon ECS deployment circuit breaker detects failures":
    # the deployment moves to FAILED; with rollback on, ECS deploys the last deployment that
    # completed.
    reason = "ECS deployment circuit breaker: tasks failed to start."
    rollout.rollout_state = "FAILED"
    rollout.reason = reason
    rollout.failed_tasks = 10
    rollout.breaker_triggered = True
    _event(service, f"(deployment {rollout.id}) deployment failed: tasks failed to start.")
    _fail(service, rollout, previous, reason, bool(_breaker(service).get("rollback")))


def _complete(service: Any, rollout: Rollout) -> None:
    rollout.rollout_state = "COMPLETED"
    rollout.reason = f"ECS deployment {rollout.id} completed."
    rollout.status = "SUCCESSFUL"
    rollout.finished = utcnow()
    if rollout.rollback_of is not None:
        failed = rollout.rollback_of
        failed.status = "ROLLBACK_SUCCESSFUL"
        failed.finished = utcnow()
        failed.draining = False
    for r in _rollouts(service):
        r.draining = False
    _event(service, f"(deployment {rollout.id}) deployment completed.")
    _event(service, "has reached a steady state.")
    _publish(service)


def _finish_rolling(service: Any, rollout: Rollout, now: float, previous: list[Rollout]) -> None:
    if rollout.bad and _breaker(service).get("enable"):
        _breaker_failure(service, rollout, previous)
    elif rollout.bad:
        rollout.failed_tasks += 1  # without the breaker ECS keeps trying
        rollout.finish_at = now + SETTINGS["deployment_seconds"]
    else:
        _complete(service, rollout)


def _stage_index(rollout: Rollout, now: float) -> int:
    """The index of the current stage in the schedule; its length once every stage is over."""
    elapsed = now - rollout.clock
    for index, (_, seconds, _) in enumerate(rollout.schedule):
        if elapsed < seconds:
            return index
        elapsed -= seconds
    return len(rollout.schedule)


def _stage_start(rollout: Rollout, index: int) -> float:
    """When stage `index` of the schedule begins (wall seconds), on the rollout's clock."""
    return rollout.clock + sum(seconds for _, seconds, _ in rollout.schedule[:index])


def _from_epoch(seconds: float) -> Any:
    """Wall seconds as the naive UTC datetime moto's utcnow() gives."""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).replace(tzinfo=None)


def _hook_id(kind: str) -> str:
    # ECS developer guide, "Pause hooks for Amazon ECS service deployments": "Amazon ECS generates
    # a unique hookId", e.g. "ecs-pause-e7tK9G_WRJqNF_EOMjztDXfKenlJuEUVjsNStf4WLKw" (43
    # URL-safe base64 characters). A Lambda hook's id is not documented: "ecs-lambda-" alike.
    return f"ecs-{kind}-" + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def _run_hooks(rollout: Rollout, at: float) -> bool:
    """Runs the queued hooks of the current stage from wall time `at`, in the order configured;
    True when a pause hook stops the deployment there. ECS developer guide, "Lifecycle hooks for
    Amazon ECS service deployments": hooks at one stage "must complete before the deployment"
    goes on. A Lambda hook is not invoked (no Lambda here): it SUCCEEDS at once."""
    while rollout.hook_queue:
        hook = rollout.hook_queue.pop(0)
        kind = hook.get("targetType") or "AWS_LAMBDA"
        timeout = hook.get("timeoutConfiguration") or {}
        # DeploymentLifecycleHookTimeoutConfiguration: timeoutInMinutes "Default: 1440 (24
        # hours)", action "Default: ROLLBACK".
        expires = at + int(timeout.get("timeoutInMinutes") or 1440) * SETTINGS["minute_seconds"]
        detail: dict[str, Any] = {
            "hookId": _hook_id("pause" if kind == "PAUSE" else "lambda"),
            "targetType": kind,
            "status": "SUCCEEDED",
            "expiresAt": _from_epoch(expires),
            "timeoutAction": timeout.get("action") or "ROLLBACK",
        }
        rollout.hook_details.append(detail)
        if kind != "PAUSE":
            # DeploymentLifecycleHookDetail.targetArn: the Lambda function ARN (not set for PAUSE).
            detail["targetArn"] = hook.get("hookTargetArn")
            continue
        # "Pause hooks for Amazon ECS service deployments": the deployment "remains paused until you
        # call ContinueServiceDeployment ... or until the configured timeout is reached";
        # DescribeServiceDeployments shows the hook AWAITING_ACTION.
        detail["status"] = "AWAITING_ACTION"
        rollout.pause, rollout.pause_since, rollout.pause_expires = detail, at, expires
        _event(rollout.service, f"(service deployment {rollout.id}) paused at lifecycle hook {detail['hookId']}.")
        return True
    return False


def _enter_stage(rollout: Rollout, index: int) -> bool:
    """The deployment enters stage `index` (at the time the schedule says): its hooks run. True
    when one pauses it."""
    rollout.entered = index
    stage = rollout.schedule[index][0]
    rollout.hook_queue = [h for h in rollout.hooks if stage in (h.get("lifecycleStages") or [])]
    return _run_hooks(rollout, _stage_start(rollout, index))


def _resume(rollout: Rollout, at: float) -> None:
    """The pause is over at wall time `at`: the stage goes on from there (the clock does not count
    the pause), after the stage's other hooks."""
    rollout.clock += at - rollout.pause_since
    rollout.pause = None
    rollout.stage_began = at
    _run_hooks(rollout, at)


def _end_pause(rollout: Rollout) -> None:
    """A deployment that fails, is rolled back or superseded while paused: the hook no longer
    awaits action. The guide does not say what it shows then: FAILED here."""
    if rollout.pause is not None and rollout.pause["status"] == "AWAITING_ACTION":
        rollout.pause["status"] = "FAILED"
    rollout.pause = None
    rollout.hook_queue = []


def _roll_back(service: Any, rollout: Rollout, previous: list[Rollout], why: str) -> None:
    """A pause hook answered (or timed out) with ROLLBACK, or StopServiceDeployment: "Rolls back the
    deployment to the previous service revision" (DeploymentLifecycleHookAction,
    StopServiceDeployment), production traffic back on blue at once as after an alarm (ECS
    developer guide, "How CloudWatch alarms detect Amazon ECS deployment failures"); stopped when
    no deployment completed before."""
    reason = f"ECS deployment {rollout.id} failed: {why}."
    rollout.rollout_state = "FAILED"
    rollout.reason = reason
    _event(service, f"(deployment {rollout.id}) deployment failed: {why}.")
    _fail(service, rollout, previous, reason, rollback=True)


def _tick_staged(service: Any, rollout: Rollout, now: float, previous: list[Rollout]) -> None:
    """Walks a blue/green, canary or linear deployment through its lifecycle stages (ECS developer
    guide, "How Amazon ECS blue/green deployments work"), moving production traffic as it goes;
    IN_PROGRESS until CLEAN_UP ends, green then keeps 100% (the groups swap roles). The hooks of
    each stage entered run, in the order of the stages, even when requests are sparse: a pause
    holds the deployment (and its weights) at its stage."""
    stages = [name for name, _, _ in rollout.schedule]
    if rollout.stage is None:
        rollout.stage = stages[0]
        problem = _begin_traffic(rollout)
        if problem:
            # "Application Load Balancer resources for blue/green, linear, and canary deployments".
            rollout.rollout_state = "FAILED"
            rollout.reason = problem
            _event(service, f"(deployment {rollout.id}) deployment failed: {problem}")
            _fail(service, rollout, previous, problem, rollback=True)
            return
    while rollout.pause is not None:
        if now < rollout.pause_expires:
            return
        # DeploymentLifecycleHookTimeoutConfiguration: past timeoutInMinutes ECS takes the timeout
        # action; DeploymentLifecycleHookDetail.status TIMED_OUT.
        detail = rollout.pause
        detail["status"] = "TIMED_OUT"
        if detail["timeoutAction"] == "ROLLBACK":
            rollout.pause = None
            _roll_back(service, rollout, previous, f"lifecycle hook {detail['hookId']} timed out at {rollout.stage}")
            return
        _resume(rollout, rollout.pause_expires)
    index = _stage_index(rollout, now)
    scale_up = stages.index("SCALE_UP")
    if rollout.bad and index > scale_up:
        if _breaker(service).get("enable"):
            _breaker_failure(service, rollout, previous)
            return
        # Without the breaker ECS keeps launching tasks: SCALE_UP starts over.
        rollout.failed_tasks += 1
        rollout.clock = now - sum(seconds for _, seconds, _ in rollout.schedule[:scale_up])
        index = scale_up
    while rollout.entered < min(index, len(stages) - 1):
        if _enter_stage(rollout, rollout.entered + 1):
            index = rollout.entered
            break
    if index >= len(rollout.schedule):
        _complete(service, rollout)
        return
    rollout.stage, _, share = rollout.schedule[index]
    rollout.stage_began = rollout.pause_since if rollout.pause is not None else _stage_start(rollout, index)
    test = index >= stages.index("TEST_TRAFFIC_SHIFT")
    if share != rollout.share or test != rollout.test_shifted:
        _shift(rollout, share, test)


def _tick_service(service: Any) -> None:
    now = _now()
    if service.status == "DRAINING" and now >= getattr(service, "_inactive_at", now):
        # ECS API reference, DeleteService: "the service status moves from ACTIVE to DRAINING, and
        # the service is no longer visible in the console or in ListServices. After all tasks have
        # transitioned to either STOPPING or STOPPED status, the service status moves from DRAINING
        # to INACTIVE."
        service.status = "INACTIVE"
        service.running_count = 0
        service.pending_count = 0
        service.deployments = []
        return
    if service.status != "ACTIVE":
        return
    for rollout in list(_rollouts(service)):
        if rollout.rollout_state != "IN_PROGRESS" or getattr(rollout, "superseded", False):
            continue
        previous = [r for r in _rollouts(service) if r.rollout_state == "COMPLETED" and r is not rollout]
        if rollout.status == "ROLLBACK_REQUESTED":
            # StopServiceDeployment: the rollback starts after ROLLBACK_REQUESTED.
            if now >= (rollout.stop_at or now):
                _roll_back(service, rollout, previous, "rollback requested with StopServiceDeployment")
            continue
        # Alarms are watched on every tick while the deployment runs (bake time included).
        fired = [n for n, state in _alarm_states(service).items() if state == "ALARM" and n not in rollout.alarms_ignored]
        if fired:
            _alarm_failure(service, rollout, fired, previous)
        elif rollout.staged:
            _tick_staged(service, rollout, now, previous)
        elif now >= rollout.finish_at:
            _finish_rolling(service, rollout, now, previous)


def _tick_capacity_provider(backend: Any, provider: Any) -> None:
    due = getattr(provider, "_deleted_at", None)
    if due is None or provider.update_status != "DELETE_IN_PROGRESS" or _now() < due:
        return
    reason = CAPACITY_PROVIDER_FAILURES.get(provider.name)
    if reason:
        # ECS API reference, CapacityProvider.updateStatus / updateStatusReason.
        provider.update_status = "DELETE_FAILED"
        provider.update_status_reason = reason
        provider.status = "ACTIVE"
    else:
        provider.update_status = "DELETE_COMPLETE"
        provider.status = "INACTIVE"


def tick(backend: Any) -> None:
    for service in list(backend.services.values()):
        _tick_service(service)
    for provider in list(backend.capacity_providers.values()):
        _tick_capacity_provider(backend, provider)


def _ticking(original: Any) -> Any:
    """ECS moves listener weights on its own schedule: DescribeRules and DescribeListeners see the
    weights of the deployments' current stages."""

    def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        tick(ecs_models.ecs_backends[self.account_id][self.region_name])
        return original(self, *args, **kwargs)

    return patched


elbv2_models.ELBv2Backend.describe_rules = _ticking(elbv2_models.ELBv2Backend.describe_rules)
elbv2_models.ELBv2Backend.describe_listeners = _ticking(elbv2_models.ELBv2Backend.describe_listeners)


def _services_in(backend: Any, cluster_name: str, statuses: tuple[str, ...]) -> list[Any]:
    return [s for s in backend.services.values() if s.cluster_name == cluster_name and s.status in statuses]


def _uses_provider(backend: Any, service: Any, provider: str) -> bool:
    """Whether `service` or a task of its uses `provider`: its strategy names it, or a deployment
    whose tasks still run (the PRIMARY one, or an older one still draining: after a move to other
    capacity, the old revision's tasks stay until the new deployment ends) was placed on it."""
    strategy = getattr(service, "capacity_provider_strategy", None) or []
    if any(item.get("capacityProvider") == provider for item in strategy):
        return True
    if service.status == "ACTIVE":
        _tick_service(service)
    rollouts = _rollouts(service)
    running = rollouts[-1:] + [r for r in rollouts[:-1] if getattr(r, "draining", False)]
    if rollouts and rollouts[-1].rollout_state == "IN_PROGRESS":
        # The last deployment that completed runs its tasks until the new one ends (blue, or the
        # old tasks of a rolling update).
        running += [r for r in rollouts[:-1] if r.rollout_state == "COMPLETED"][-1:]
    if any(item.get("capacityProvider") == provider for r in running for item in r.capacity_provider_strategy):
        return True
    if not strategy and not service.launch_type:
        cluster = backend.clusters.get(service.cluster_name)
        default = getattr(cluster, "default_capacity_provider_strategy", None) or []
        return any(item.get("capacityProvider") == provider for item in default)
    return False


# ---------------------------------------------------------------------------------------------
# ECS on AWS Fargate
# ---------------------------------------------------------------------------------------------

# ECS developer guide, "Amazon ECS clusters for Fargate": the FARGATE and FARGATE_SPOT capacity
# providers "are available to all accounts" and only need associating with a cluster (no
# CreateCapacityProvider; the API reference, DeleteCapacityProvider: "reserved and can't be deleted").
FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")
# ECS developer guide, "Task CPU and memory": the memory (MiB) Fargate runs with each task cpu (units).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}
# ECS developer guide, "Fargate Linux platform versions": LATEST is platform version 1.4.0.
FARGATE_LATEST = "1.4.0"
# What ECS answers (InvalidParameterException) for a provider that does not exist, a strategy
# naming one the cluster does not have, and a strategy mixing Fargate with Auto Scaling groups
# (ECS developer guide, "Capacity provider strategies": "you can't mix Fargate capacity providers
# with Auto Scaling group capacity providers in a capacity provider strategy").
PROVIDER_NOT_FOUND = "The specified capacity provider was not found. Specify a valid capacity provider and try again."
NOT_ASSOCIATED = (
    "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the "
    "cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again."
)
MIXED_PROVIDERS = (
    "The specified capacity provider strategy cannot contain a mix of capacity providers using Auto Scaling groups "
    "and Fargate providers. Specify one or the other and try again."
)


def _fargate_arn(backend: Any, name: str) -> str:
    return f"arn:aws:ecs:{backend.region_name}:{backend.account_id}:capacity-provider/{name}"


def _fargate_named(backend: Any, name_or_arn: str | None) -> str | None:
    """FARGATE or FARGATE_SPOT, when `name_or_arn` names one of them."""
    for name in FARGATE_PROVIDERS:
        if name_or_arn in (name, _fargate_arn(backend, name)):
            return name
    return None


def _fargate_provider(backend: Any, name: str) -> dict[str, Any]:
    # ECS API reference, CapacityProvider: no autoScalingGroupProvider; `type` FARGATE/FARGATE_SPOT.
    return {"capacityProviderArn": _fargate_arn(backend, name), "name": name, "status": "ACTIVE", "type": name, "tags": []}


def _check_mix(strategy: list[dict[str, Any]]) -> None:
    names = [item.get("capacityProvider") for item in strategy]
    if any(n in FARGATE_PROVIDERS for n in names) and any(n not in FARGATE_PROVIDERS for n in names):
        raise invalid_parameter(MIXED_PROVIDERS)


def _check_cluster_providers(backend: Any, providers: list[str] | None, default: list[dict[str, Any]] | None) -> None:
    """CreateCluster/PutClusterCapacityProviders: each provider is FARGATE, FARGATE_SPOT or one the
    account created (ACTIVE); the default strategy names only those and does not mix (ECS API
    reference, PutClusterCapacityProviders: "The capacity provider must already be created";
    moto takes any name)."""
    for name in providers or []:
        if name in FARGATE_PROVIDERS:
            continue
        provider = backend._get_provider(name)
        if provider is None or provider.status != "ACTIVE":
            raise invalid_parameter(PROVIDER_NOT_FOUND)
    for item in default or []:
        if item.get("capacityProvider") not in (providers or []):
            raise invalid_parameter(NOT_ASSOCIATED)
    _check_mix(default or [])


def _check_service_strategy(cluster: Any, strategy: list[dict[str, Any]]) -> None:
    """CreateService/UpdateService capacityProviderStrategy (ECS API reference: "The capacity
    provider must be associated with the cluster to be used in a capacity provider strategy")."""
    for item in strategy:
        if item.get("capacityProvider") not in (cluster.capacity_providers or []):
            raise invalid_parameter(NOT_ASSOCIATED)
    _check_mix(strategy)


def _on_fargate(strategy: list[dict[str, Any]] | None, launch_type: str | None) -> bool:
    if strategy:
        return any(item.get("capacityProvider") in FARGATE_PROVIDERS for item in strategy)
    return launch_type == "FARGATE"


def _check_fargate_task_definition(backend: Any, task_definition: str | None) -> None:
    """ECS developer guide, "Amazon ECS task definition parameters for Fargate": a task on Fargate
    needs a task definition that requires FARGATE compatibility (`requiresCompatibilities`)."""
    if not task_definition:
        return
    td = backend.describe_task_definition(task_definition)
    if "FARGATE" not in (td.requires_compatibilities or []):
        raise invalid_parameter("Task definition does not support launch_type FARGATE.")


def _check_public_ip(network: dict[str, Any] | None, fargate: bool) -> None:
    """A public address is for tasks on Fargate: an awsvpc task on an instance gets none (ECS
    answers InvalidParameterException "Assign public IP is not supported for this launch type",
    as AWS's own tools met it: aws/aws-cdk#13348, hashicorp/waypoint#643; the containers roadmap
    asks for it, aws/containers-roadmap#450). On UpdateService the service's stored network
    counts when none is given, so moving a service to the instances must send one."""
    awsvpc = (network or {}).get("awsvpcConfiguration") or {}
    if not fargate and awsvpc.get("assignPublicIp") == "ENABLED":
        raise invalid_parameter("Assign public IP is not supported for this launch type.")


def _set_platform(service: Any, given: str | None, fargate: bool) -> None:
    # ECS API reference, CreateService platformVersion: "only specified for tasks that are hosted
    # on Fargate. If one isn't specified, the LATEST platform version is used."
    if fargate:
        service.platform_version = given or getattr(service, "platform_version", None) or "LATEST"
        service.platform_family = "Linux"
    else:
        service.platform_version = None
        service.platform_family = None


def _units(value: Any, unit: str) -> int | None:
    """A task cpu or memory value as ECS stores it (ECS developer guide, "Task CPU and memory": given
    in units or as "1 vCPU" / "2 GB", "converted to an integer ... when the task definition is
    registered")."""
    text = str(value).strip().lower()
    match = re.fullmatch(r"(\d+(?:\.\d+)?|\.\d+)\s*" + unit, text)
    if match:
        return int(float(match.group(1)) * 1024)
    return int(text) if text.isdigit() else None


ECR_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/")
_original_register_task_definition = ecs_models.EC2ContainerServiceBackend.register_task_definition


def _register_task_definition(self: Any, family: str, container_definitions: list[dict[str, Any]], *args: Any,
                              **kwargs: Any) -> Any:
    """RegisterTaskDefinition as ECS checks it (ClientException); moto checks only pidMode."""
    for key in ("cpu", "memory"):
        if kwargs.get(key) is not None and (units := _units(kwargs[key], "vcpu" if key == "cpu" else "gb")) is not None:
            kwargs[key] = str(units)
    mode = kwargs.get("network_mode")
    fargate = "FARGATE" in (kwargs.get("requires_compatibilities") or [])
    if fargate:
        # ECS developer guide, "Amazon ECS task definition parameters for Fargate": network mode
        # awsvpc only (moto picks it when none is given; ECS refuses that too), task-level cpu and
        # memory, a pair from "Task CPU and memory".
        if mode != "awsvpc":
            raise EcsError("ClientException", "Fargate only supports network mode 'awsvpc'.")
        cpu, memory = kwargs.get("cpu"), kwargs.get("memory")
        if cpu is None:
            raise EcsError("ClientException", "Fargate requires that 'cpu' be defined at the task level.")
        if memory is None:
            raise EcsError("ClientException", "Fargate requires that 'memory' be defined at the task level.")
        if not str(cpu).isdigit() or not str(memory).isdigit() or int(memory) not in FARGATE_SIZES.get(int(cpu), ()):
            raise EcsError(
                "ClientException",
                f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. "
                "See the Amazon ECS documentation for the valid values.",
            )
    # ECS developer guide, task definition parameters, container memory and cpu: "the total amount
    # of memory reserved for all containers within a task must be lower than the task memory
    # value, if one is specified" (the same of cpu units and the task-level cpu).
    for key, label in (("memory", "memory"), ("cpu", "CPU units")):
        total = sum(int(c.get(key) or 0) for c in container_definitions)
        limit = kwargs.get(key)
        if limit is not None and str(limit).isdigit() and total > int(limit):
            raise EcsError(
                "ClientException",
                f"Invalid setting: the containers reserve {total} {label}, more than the task's {limit}.",
            )
    if mode == "awsvpc":
        # ECS developer guide, task definition parameters, portMappings hostPort: "If you use
        # containers in a task with the awsvpc or host network mode, the hostPort can either be left
        # blank or set to the same value as the containerPort."
        for container in container_definitions:
            for mapping in container.get("portMappings") or []:
                if mapping.get("hostPort") is not None and mapping.get("hostPort") != mapping.get("containerPort"):
                    raise EcsError(
                        "ClientException",
                        "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
                    )
    if fargate and not kwargs.get("execution_role_arn"):
        # ECS developer guide, "Amazon ECS task execution IAM role": on Fargate the execution role
        # pulls private ECR images and sends awslogs logs (EC2 uses the instance role instead).
        if any(ECR_IMAGE.match(c.get("image") or "") for c in container_definitions):
            raise EcsError("ClientException", "Fargate requires task definition to have execution role ARN to support ECR images.")
        if any((c.get("logConfiguration") or {}).get("logDriver") == "awslogs" for c in container_definitions):
            raise EcsError(
                "ClientException", "Fargate requires task definition to have execution role ARN to support log driver awslogs."
            )
    return _original_register_task_definition(self, family, container_definitions, *args, **kwargs)


ecs_models.EC2ContainerServiceBackend.register_task_definition = _register_task_definition


R = ecs_responses.EC2ContainerServiceResponse
_original_call_action = R.call_action


def _call_action(self: Any) -> Any:
    tick(self.ecs_backend)
    return _original_call_action(self)


R.call_action = _call_action


def _create_cluster(self: Any) -> ActionResult:
    require_ecs_service_linked_role(self.current_account)
    _check_cluster_providers(
        self.ecs_backend, self._get_param("capacityProviders"), self._get_param("defaultCapacityProviderStrategy")
    )
    name = self._get_param("clusterName") or "default"
    existing = self.ecs_backend.clusters.get(name)
    if existing is not None and existing.status == "ACTIVE":
        # ECS API reference, CreateCluster: creating an existing ACTIVE cluster returns it
        # unchanged (moto replaces it, dropping its capacity providers).
        return ActionResult({"cluster": existing})
    return _original_create_cluster(self)


_original_create_cluster = R.create_cluster
R.create_cluster = _create_cluster


def _target_group_attached(account: str, region: str, arn: str) -> bool:
    tg = elbv2_backends[account][region].target_groups.get(arn)
    return tg is not None and bool(tg.load_balancer_arns)


def _create_service(self: Any) -> ActionResult:
    backend = self.ecs_backend
    cluster_name = (self._get_param("cluster") or "default").split("/")[-1]
    name = self._get_param("serviceName")
    cluster = backend._get_cluster(cluster_name)
    require_ecs_service_linked_role(self.current_account)
    existing = backend.services.get(f"{cluster_name}:{name}")
    if existing is not None and existing.status == "ACTIVE":
        # ECS API reference, CreateService (and AWS re:Post): the same name again while ACTIVE.
        raise invalid_parameter("Creation of service was not idempotent.")
    if existing is not None and existing.status == "DRAINING":
        raise invalid_parameter("Unable to Start a service that is still Draining.")
    strategy = self._get_param("capacityProviderStrategy") or []
    launch_type = self._get_param("launchType")
    if strategy and launch_type:
        # ECS API reference, CreateService capacityProviderStrategy: "If a
        # capacityProviderStrategy is specified, the launchType parameter must be omitted."
        raise invalid_parameter("Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
    if not strategy and not launch_type:
        # Same: "If no capacityProviderStrategy or launchType is specified, the
        # defaultCapacityProviderStrategy for the cluster is used." (moto takes EC2)
        strategy = copy.deepcopy(cluster.default_capacity_provider_strategy or [])
    _check_service_strategy(cluster, strategy)
    fargate = _on_fargate(strategy, launch_type)
    if fargate:
        _check_fargate_task_definition(backend, self._get_param("taskDefinition"))
    _check_public_ip(self._get_param("networkConfiguration"), fargate)
    _check_container_ports(backend, self._get_param("taskDefinition"), self._get_param("loadBalancers"))
    for lb in self._get_param("loadBalancers") or []:
        arn = lb.get("targetGroupArn")
        if arn and not _target_group_attached(self.current_account, self.region, arn):
            # ECS developer guide, "Troubleshooting service load balancers".
            raise invalid_parameter(f"The target group with targetGroupArn {arn} does not have an associated load balancer.")
    _check_deployment_request(self)
    result = _original_create_service(self)
    service = backend.services[f"{cluster_name}:{name}"]
    # moto drops these on create (docs/emulator.md); ECS stores them.
    service.capacity_provider_strategy = strategy
    if service.capacity_provider_strategy:
        service.launch_type = None
    _set_platform(service, self._get_param("platformVersion"), fargate)
    service.deployment_configuration = self._get_param("deploymentConfiguration") or {
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    }
    grace = self._get_param("healthCheckGracePeriodSeconds")
    if grace is not None:
        service.health_check_grace_period_seconds = grace
    service.enable_ecs_managed_tags = bool(self._get_param("enableECSManagedTags"))
    service.events = []
    service.running_count = 0
    if service.task_definition:
        _start_rollout(service, service.task_definition)
    return result


_original_create_service = R.create_service


def _validate_network(self: Any, nc: dict[str, Any]) -> Any:
    # ECS API reference, AwsVpcConfiguration.securityGroups: "If you don't specify a security
    # group, the default security group for the VPC is used." (moto fails with a KeyError.)
    config = nc.get("awsvpcConfiguration") or {}
    if config.get("subnets") and not config.get("securityGroups"):
        ec2 = ec2_backends[self._account_id][self.region_name]
        subnet = ec2.describe_subnets(subnet_ids=config["subnets"][:1])[0]
        default = ec2.get_security_group_from_name("default", vpc_id=subnet.vpc_id)
        nc = {**nc, "awsvpcConfiguration": {**config, "securityGroups": [default.id] if default else []}}
    return _original_validate_network(self, nc)


_original_validate_network = ecs_models.Service._validate_network
ecs_models.Service._validate_network = _validate_network
R.create_service = _create_service


def _active_service(self: Any) -> Any:
    backend = self.ecs_backend
    cluster = self._get_param("cluster") or "default"
    service = backend._get_service(cluster, self._get_param("service").split("/")[-1])
    if service.status != "ACTIVE":
        # ECS API reference, UpdateService/DeleteService: ServiceNotActiveException.
        raise EcsError("ServiceNotActiveException", "Service was not ACTIVE.")
    return service


def _strategy_key(strategy: list[dict[str, Any]] | None) -> list[tuple[Any, ...]]:
    return sorted((s.get("capacityProvider"), s.get("weight", 0), s.get("base", 0)) for s in strategy or [])


def _check_container_ports(backend: Any, task_definition: str | None, load_balancers: list[dict[str, Any]] | None) -> None:
    """ECS refuses a service whose load balancer names a container port the task definition does
    not map (CreateService, and UpdateService with a new taskDefinition or loadBalancers): "The
    container web did not have a container port 8080 defined." moto takes any pair."""
    if not task_definition or not load_balancers:
        return
    definition = backend.describe_task_definition(task_definition)
    for lb in load_balancers:
        name, port = lb.get("containerName"), lb.get("containerPort")
        container = next((c for c in definition.container_definitions if c.get("name") == name), None)
        if container is None:
            raise invalid_parameter(f"The container {name} does not exist in the task definition.")
        if not any(m.get("containerPort") == port for m in container.get("portMappings") or []):
            raise invalid_parameter(f"The container {name} did not have a container port {port} defined.")


# UpdateService parameters that the deployment checks (_check_deployment_request) look at; an
# update of anything else (desiredCount, ...) is not checked again.
DEPLOYMENT_PARAMS = ("taskDefinition", "deploymentConfiguration", "deploymentController", "loadBalancers", "networkConfiguration")


def _check_strategy_change(service: Any, config: dict[str, Any] | None) -> None:
    """ECS developer guide, "Update the deployment strategy from rolling update to Amazon ECS
    blue/green" ("Wait for current deployments to complete") and "... from Amazon ECS blue/green to
    rolling update" ("If your service has an in-progress deployment, you cannot migrate it"): a
    service moves between rolling and the strategies that shift traffic only between deployments.
    (Moving to one of those also needs the load balancers' advancedConfiguration, given with a
    rolling deployment first: _check_advanced refuses the strategy without it.)"""
    if config is None:
        return
    have = (_deployment_config(service).get("strategy") or "ROLLING") in STAGED
    want = (config.get("strategy") or "ROLLING") in STAGED
    if have == want:
        return
    _tick_service(service)
    if any(r.rollout_state == "IN_PROGRESS" and not getattr(r, "superseded", False) for r in _rollouts(service)):
        raise invalid_parameter(
            "The deployment strategy of a service with a deployment in progress cannot be changed. "
            "Wait for the deployment to complete."
        )


def _update_service(self: Any) -> ActionResult:
    service = _active_service(self)
    _check_strategy_change(service, self._get_param("deploymentConfiguration"))
    # ECS API reference, UpdateService (loadBalancers): a rolling-update service's load balancers
    # may be added, changed or removed; the change starts a new deployment. moto ignores them.
    load_balancers = self._get_param("loadBalancers")
    _check_container_ports(
        self.ecs_backend,
        self._get_param("taskDefinition") or service.task_definition,
        load_balancers if load_balancers is not None else service.load_balancers,
    )
    strategy = self._get_param("capacityProviderStrategy")
    force = bool(self._get_param("forceNewDeployment"))
    cluster = self.ecs_backend._get_cluster(service.cluster_name)
    if strategy:
        _check_service_strategy(cluster, strategy)
    fargate = _on_fargate(strategy if strategy else getattr(service, "capacity_provider_strategy", None),
                          None if strategy else service.launch_type)
    if fargate and (strategy or self._get_param("taskDefinition") is not None):
        _check_fargate_task_definition(self.ecs_backend, self._get_param("taskDefinition") or service.task_definition)
    network = self._get_param("networkConfiguration")
    _check_public_ip(network if network is not None else getattr(service, "network_configuration", None), fargate)
    if force or any(self._get_param(p) is not None for p in DEPLOYMENT_PARAMS):
        _check_deployment_request(self, service)
    if strategy is not None and _strategy_key(strategy) != _strategy_key(getattr(service, "capacity_provider_strategy", None)) and not force:
        # ECS API reference, UpdateService (capacityProviderStrategy).
        raise invalid_parameter(
            "When switching from launch type to capacity provider strategy on an existing service, or making a "
            "change to a capacity provider strategy on a service that is already using one, you must force a new deployment."
        )
    before = service.task_definition
    # moto copies loadBalancers onto the service itself: compare with what it had before.
    load_balancers_before = list(service.load_balancers or [])
    desired_before = service.desired_count
    running_before = service.running_count
    result = _original_update_service(self)
    if strategy is not None:
        service.capacity_provider_strategy = strategy
        if strategy:
            service.launch_type = None
    _set_platform(service, self._get_param("platformVersion"), fargate)
    td = self._get_param("taskDefinition")
    if td is not None:
        # Store the full ARN as ECS does, whatever form the caller named it in.
        service.task_definition = self.ecs_backend.describe_task_definition(td).arn
    rewired = load_balancers is not None and load_balancers != load_balancers_before
    if load_balancers is not None:
        service.load_balancers = load_balancers
    if (td is not None and service.task_definition != before) or force or rewired:
        _start_rollout(service, service.task_definition)
    else:
        service.task_definition = before
        service.running_count = running_before if service.desired_count == desired_before else service.desired_count
        _publish(service)
    return result


_original_update_service = R.update_service
R.update_service = _update_service


def _delete_service(self: Any) -> ActionResult:
    service = _active_service(self)
    force = bool(self._get_param("force"))
    if service.desired_count > 0 and not force:
        raise invalid_parameter("The service cannot be stopped while it is scaled above 0.")
    service.status = "DRAINING"
    service.desired_count = 0
    service._inactive_at = _now() + SETTINGS["drain_seconds"]
    _event(service, "has begun draining connections on its tasks.")
    return ActionResult({"service": service})


R.delete_service = _delete_service


def _list_services(self: Any) -> ActionResult:
    # ECS API reference, ListServices: INACTIVE services are not listed; maxResults defaults to 10.
    backend = self.ecs_backend
    cluster = backend._get_cluster(self._get_param("cluster") or "default")
    arns = sorted(s.arn for s in backend.services.values() if s.cluster_name == cluster.name and s.status != "INACTIVE")
    limit = int(self._get_param("maxResults") or 10)
    start = int(self._get_param("nextToken") or 0)
    page = arns[start : start + limit]
    out: dict[str, Any] = {"serviceArns": page}
    if start + limit < len(arns):
        out["nextToken"] = str(start + limit)
    return ActionResult(out)


R.list_services = _list_services


def _put_cluster_capacity_providers(self: Any) -> ActionResult:
    backend = self.ecs_backend
    cluster = backend._get_cluster(self._get_param("cluster"))
    wanted = self._get_param("capacityProviders") or []
    _check_cluster_providers(backend, wanted, self._get_param("defaultCapacityProviderStrategy"))
    for removed in set(cluster.capacity_providers or []) - set(wanted):
        users = [s for s in _services_in(backend, cluster.name, ("ACTIVE", "DRAINING")) if _uses_provider(backend, s, removed)]
        if users:
            # ECS API reference, PutClusterCapacityProviders: "When a capacity provider is in use by
            # a service or task, it can't be removed" (ResourceInUseException).
            raise EcsError(
                "ResourceInUseException",
                f"The specified capacity provider {removed} is in use and cannot be removed.",
            )
    return _original_put_cluster_capacity_providers(self)


_original_put_cluster_capacity_providers = R.put_cluster_capacity_providers
R.put_cluster_capacity_providers = _put_cluster_capacity_providers


def _delete_cluster(self: Any) -> ActionResult:
    backend = self.ecs_backend
    cluster = backend._get_cluster(self._get_param("cluster"))
    if _services_in(backend, cluster.name, ("ACTIVE", "DRAINING")):
        # ECS API reference, DeleteCluster: ClusterContainsServicesException.
        raise EcsError(
            "ClusterContainsServicesException",
            "The Cluster cannot be deleted while Services are active.",
        )
    return _original_delete_cluster(self)


_original_delete_cluster = R.delete_cluster
R.delete_cluster = _delete_cluster


def _create_capacity_provider(self: Any) -> ActionResult:
    name = self._get_param("name")
    if re.match(r"^(aws|ecs|fargate)", name or "", re.I):
        # ECS API reference, CreateCapacityProvider name: "The name can't be prefixed with "aws",
        # "ecs", or "fargate"." (FARGATE and FARGATE_SPOT are AWS's.)
        raise invalid_parameter('The capacity provider name can\'t be prefixed with "aws", "ecs", or "fargate".')
    existing = self.ecs_backend._get_provider(name)
    if existing is not None and existing.status == "ACTIVE":
        # ECS API reference, CreateCapacityProvider (moto replaces the provider).
        raise EcsError(
            "ClientException",
            "The specified capacity provider already exists. To change the configuration of an existing capacity provider, update the capacity provider.",
        )
    if existing is not None:
        self.ecs_backend.capacity_providers.pop(existing.name, None)
    answer = _original_create_capacity_provider(self)
    # ECS API reference, CapacityProvider.type.
    self.ecs_backend.capacity_providers[name].type = "EC2_AUTOSCALING"
    return answer


_original_create_capacity_provider = R.create_capacity_provider
R.create_capacity_provider = _create_capacity_provider


def _delete_capacity_provider(self: Any) -> ActionResult:
    backend = self.ecs_backend
    name = self._get_param("capacityProvider")
    if _fargate_named(backend, name):
        # ECS API reference, DeleteCapacityProvider: "The FARGATE and FARGATE_SPOT capacity
        # providers are reserved and can't be deleted."
        raise invalid_parameter(
            "The FARGATE and FARGATE_SPOT capacity providers are reserved and can't be deleted. You can disassociate "
            "them from a cluster using either PutClusterCapacityProviders or by deleting the cluster."
        )
    provider = backend._get_provider(name)
    if provider is None or provider.status != "ACTIVE":
        raise EcsError("ClientException", "The specified capacity provider does not exist.")
    for cluster in backend.clusters.values():
        if cluster.status == "ACTIVE" and provider.name in (cluster.capacity_providers or []):
            # ECS API reference, DeleteCapacityProvider: disassociate it from the cluster first.
            raise EcsError(
                "ResourceInUseException",
                f"The specified capacity provider is in use and cannot be removed. It is associated with cluster {cluster.name}.",
            )
    # ECS API reference, DeleteCapacityProvider: "the capacity provider transitions to
    # DELETE_IN_PROGRESS ... then INACTIVE"; failures show as updateStatus DELETE_FAILED.
    provider.update_status = "DELETE_IN_PROGRESS"
    provider.update_status_reason = None
    provider._deleted_at = _now() + SETTINGS["capacity_provider_delete_seconds"]
    return ActionResult({"capacityProvider": provider})


R.delete_capacity_provider = _delete_capacity_provider


def _describe_capacity_providers(self: Any) -> ActionResult:
    """ECS API reference, DescribeCapacityProviders: FARGATE and FARGATE_SPOT are described like the
    account's own (moto: MISSING), and no names describes them all (moto fails)."""
    backend = self.ecs_backend
    names = self._get_param("capacityProviders")
    if not names:
        found = [_fargate_provider(backend, n) for n in FARGATE_PROVIDERS] + list(backend.capacity_providers.values())
        return ActionResult({"capacityProviders": found, "failures": []})
    found, failures = [], []
    for name in names:
        fargate = _fargate_named(backend, name)
        if fargate:
            found.append(_fargate_provider(backend, fargate))
            continue
        providers, missing = backend.describe_capacity_providers([name])
        found.extend(providers)
        failures.extend(missing)
    return ActionResult({"capacityProviders": found, "failures": failures})


R.describe_capacity_providers = _describe_capacity_providers


def _service_of(backend: Any, cluster: str, service: str) -> Any:
    svc = backend._get_service(cluster, service.split("/")[-1])
    return svc


def _list_service_deployments(self: Any) -> ActionResult:
    # ECS API reference, ListServiceDeployments: filtered by status, `maxResults` (1-100, "If this
    # parameter isn't used, then ListServiceDeployments returns up to 20 results") and `nextToken`.
    # It documents no order: this one answers oldest first, so a caller that assumes the newest
    # comes first is caught.
    backend = self.ecs_backend
    cluster = (self._get_param("cluster") or "default").split("/")[-1]
    service = _service_of(backend, cluster, self._get_param("service"))
    statuses = self._get_param("status") or []
    # A circuit-breaker rollback is part of the failed service deployment (ROLLBACK_IN_PROGRESS,
    # then ROLLBACK_SUCCESSFUL), not a service deployment of its own.
    briefs = [r.brief() for r in _rollouts(service) if r.rollback_of is None and (not statuses or r.status in statuses)]
    size = int(self._get_param("maxResults") or 20)
    if not 1 <= size <= 100:
        raise invalid_parameter("maxResults must be between 1 and 100.")
    start = int(self._get_param("nextToken") or 0)
    page = {"serviceDeployments": briefs[start : start + size]}
    if start + size < len(briefs):
        page["nextToken"] = str(start + size)
    return ActionResult(page)


def _describe_service_deployments(self: Any) -> ActionResult:
    backend = self.ecs_backend
    wanted = self._get_param("serviceDeploymentArns") or []
    found, failures = [], []
    for arn in wanted:
        rollout = next((r for s in backend.services.values() for r in _rollouts(s) if r.arn == arn), None)
        if rollout is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(rollout.full())
    return ActionResult({"serviceDeployments": found, "failures": failures})


def _describe_service_revisions(self: Any) -> ActionResult:
    backend = self.ecs_backend
    wanted = self._get_param("serviceRevisionArns") or []
    found, failures = [], []
    for arn in wanted:
        rollout = next((r for s in backend.services.values() for r in _rollouts(s) if r.revision_arn == arn), None)
        if rollout is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(rollout.revision())
    return ActionResult({"serviceRevisions": found, "failures": failures})


R.list_service_deployments = _list_service_deployments


def _deployment_named(self: Any) -> tuple[Any, Rollout]:
    """The service and deployment `serviceDeploymentArn` names (a rollback's own record is part of
    the failed deployment, not a service deployment of its own); ServiceDeploymentNotFoundException
    otherwise (ECS API reference: "The service deploy ARN that you specified ... doesn't exist")."""
    arn = self._get_param("serviceDeploymentArn")
    for service in self.ecs_backend.services.values():
        for rollout in _rollouts(service):
            if rollout.arn == arn and rollout.rollback_of is None:
                return service, rollout
    raise EcsError("ServiceDeploymentNotFoundException", f"The service deployment {arn} does not exist.")


def _continue_service_deployment(self: Any) -> ActionResult:
    """ECS API reference, ContinueServiceDeployment, and developer guide, "Continuing Amazon ECS
    service deployments": the hook "must be in AWAITING_ACTION status" and the deployment "must be
    in the IN_PROGRESS state"; CONTINUE (the default) goes on to the next stage, ROLLBACK rolls
    back. Otherwise InvalidParameterException ("The specified parameter isn't valid"; the API
    lists no ConflictException for this operation)."""
    service, rollout = _deployment_named(self)
    hook_id = self._get_param("hookId")
    action = self._get_param("action") or "CONTINUE"
    if action not in ("CONTINUE", "ROLLBACK"):
        raise invalid_parameter(f"Invalid action {action}: valid values are CONTINUE and ROLLBACK.")
    detail = rollout.pause
    if detail is None or detail["hookId"] != hook_id or rollout.status != "IN_PROGRESS":
        known = next((d for d in rollout.hook_details if d["hookId"] == hook_id), None)
        if known is None:
            raise invalid_parameter(f"The lifecycle hook {hook_id} does not exist for service deployment {rollout.arn}.")
        raise invalid_parameter(
            f"The lifecycle hook {hook_id} is {known['status']}, not AWAITING_ACTION, and the service deployment is "
            f"{rollout.status}: only a hook awaiting action of an IN_PROGRESS service deployment can be continued."
        )
    if action == "CONTINUE":
        detail["status"] = "SUCCEEDED"
        _event(service, f"(service deployment {rollout.id}) lifecycle hook {hook_id} continued.")
        _resume(rollout, _now())
    else:
        # The hook's verdict is a failure, as a Lambda hook's FAILED ("Amazon ECS rolls back the
        # deployment", ECS developer guide, "Lambda hooks for Amazon ECS service deployments").
        detail["status"] = "FAILED"
        rollout.pause = None
        previous = [r for r in _rollouts(service) if r.rollout_state == "COMPLETED" and r is not rollout]
        _roll_back(service, rollout, previous, f"rolled back at lifecycle hook {hook_id} ({rollout.stage}) with ContinueServiceDeployment")
    _publish(service)
    return ActionResult({"serviceDeploymentArn": rollout.arn})


def _stop_service_deployment(self: Any) -> ActionResult:
    """ECS API reference, StopServiceDeployment, and developer guide, "Stopping Amazon ECS service
    deployments": ROLLBACK ("The valid values are ROLLBACK"; "You can use this option even if you
    didn't configure the service deployment for the rollback option"): an IN_PROGRESS (or PENDING)
    deployment "moves to the ROLLBACK_REQUESTED state, and then the rollback operation starts";
    one already ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS or STOP_REQUESTED goes on as it was. Any
    other (finished) one: ConflictException, "conflict in the current state of the resource"."""
    service, rollout = _deployment_named(self)
    stop_type = self._get_param("stopType") or "ROLLBACK"
    if stop_type != "ROLLBACK":
        raise invalid_parameter(f"Invalid stopType {stop_type}: the valid values are ROLLBACK.")
    if rollout.status in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "STOP_REQUESTED"):
        return ActionResult({"serviceDeploymentArn": rollout.arn})
    if rollout.status not in ("IN_PROGRESS", "PENDING"):
        raise EcsError(
            "ConflictException",
            f"The service deployment {rollout.arn} is {rollout.status} and cannot be stopped.",
        )
    _end_pause(rollout)
    rollout.status = "ROLLBACK_REQUESTED"
    rollout.stop_requested = utcnow()
    rollout.stop_at = _now() + SETTINGS["stage_seconds"]
    _event(service, f"(service deployment {rollout.id}) rollback requested.")
    _publish(service)
    return ActionResult({"serviceDeploymentArn": rollout.arn})


R.continue_service_deployment = _continue_service_deployment
R.stop_service_deployment = _stop_service_deployment


def _cluster_of_user_data(data: Any) -> str | None:
    """The `ECS_CLUSTER=` an instance's user data writes to /etc/ecs/ecs.config."""
    if data is None:
        return None
    if isinstance(data, str):
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            text = data
    else:  # moto's Base64EncodedString
        text = data.decode()
    match = re.search(r"^ECS_CLUSTER=(\S+)$", text, re.M)
    return match.group(1) if match else None


def _agent_instances(account: str, region: str, cluster: str) -> list[str]:
    # The ECS agent: an instance launched by an Auto Scaling group whose launch template's user
    # data names the cluster registers with it once it runs (instance_join_seconds after its launch,
    # 0 by default), and is gone when the
    # instance is (moto's instances never register).
    arns = []
    for group in autoscaling_backends[account][region].autoscaling_groups.values():
        template = group.ec2_launch_template
        if template is None:
            continue
        version = template.get_version(group.launch_template_version or "$Default")
        if _cluster_of_user_data(version.data.get("UserData")) != cluster:
            continue
        for state in group.instance_states:
            launched = getattr(state.instance, "launch_time", None)
            age = (utcnow() - launched).total_seconds() if isinstance(launched, datetime.datetime) else None
            if age is not None and age < SETTINGS["instance_join_seconds"]:
                continue  # still booting: the agent has not connected yet
            if state.lifecycle_state == "InService":
                suffix = uuid.uuid5(uuid.NAMESPACE_URL, state.instance.id).hex
                arns.append(f"arn:aws:ecs:{region}:{account}:container-instance/{cluster}/{suffix}")
    return arns


_list_container_instances = R.list_container_instances


def _list_container_instances_with_agents(self: Any) -> ActionResult:
    answer = _list_container_instances(self)
    cluster = (self._get_param("cluster") or "default").split("/")[-1]
    status = self._get_param("status")
    if status in (None, "ACTIVE"):
        answer.result["containerInstanceArns"] = list(answer.result["containerInstanceArns"]) + _agent_instances(
            self.current_account, self.region, cluster
        )
    return answer


R.list_container_instances = _list_container_instances_with_agents
R.describe_service_deployments = _describe_service_deployments
R.describe_service_revisions = _describe_service_revisions

# ---------------------------------------------------------------------------------------------
# ECR: DescribeImages pages and filters
# ---------------------------------------------------------------------------------------------

_ecr_describe_images = ecr_responses.ECRResponse.describe_images


def _describe_images(self: Any) -> ActionResult:
    # ECR API reference, DescribeImages: `maxResults` "can be between 1 and 1000. If this
    # parameter is not used, then DescribeImages returns up to 100 results and a nextToken";
    # neither it nor `nextToken` "can be used when you specify images with imageIds"; `filter`
    # `tagStatus` TAGGED, UNTAGGED or ANY. moto answers every image in one page, unfiltered.
    size, token = self._get_param("maxResults"), self._get_param("nextToken")
    if self._get_param("imageIds"):
        if size is not None or token is not None:
            raise EcrInvalidParameter("maxResults and nextToken cannot be used with imageIds")
        return _ecr_describe_images(self)
    if size is not None and not 1 <= int(size) <= 1000:
        raise EcrInvalidParameter(f"Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value between 1 and 1000', got {size}")
    wanted = ((self._get_param("filter") or {}).get("tagStatus") or "ANY").upper()
    if wanted not in ("TAGGED", "UNTAGGED", "ANY"):
        raise EcrInvalidParameter(f"Invalid parameter at 'filter.tagStatus': {wanted} is not TAGGED, UNTAGGED or ANY")
    details = _ecr_describe_images(self).result["imageDetails"]
    if wanted != "ANY":
        details = [d for d in details if bool(getattr(d, "image_tags", None)) == (wanted == "TAGGED")]
    start = int(token or 0)
    end = start + int(size or 100)
    page: dict[str, Any] = {"imageDetails": details[start:end]}
    if end < len(details):
        page["nextToken"] = str(end)
    return ActionResult(page)


ecr_responses.ECRResponse.describe_images = _describe_images

# ---------------------------------------------------------------------------------------------
# The server: moto's app behind a lock, with the control API in front
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# CloudWatch Logs: FilterLogEvents interleaves streams
# ---------------------------------------------------------------------------------------------

_filter_log_events = logs_models.LogGroup.filter_log_events


def _interleaved(self: Any, *args: Any, **kwargs: Any) -> Any:
    # CloudWatch Logs API reference, FilterLogEvents, `interleaved`: "As of June 17, 2019, this
    # parameter is ignored and the value is assumed to be true" (moto sorts only when asked).
    if "interleaved" in kwargs:
        kwargs["interleaved"] = True
        return _filter_log_events(self, *args, **kwargs)
    args = list(args)
    args[-1] = True
    return _filter_log_events(self, *args)


logs_models.LogGroup.filter_log_events = _interleaved


# ---------------------------------------------------------------------------------------------
# DynamoDB: the deploy lock table
# ---------------------------------------------------------------------------------------------

from moto.dynamodb.exceptions import ResourceNotFoundException as DdbResourceNotFound  # noqa: E402
from moto.dynamodb.models import DynamoDBBackend  # noqa: E402
from moto.dynamodb.models import table as ddb_table  # noqa: E402

_ddb_create_table = DynamoDBBackend.create_table
_ddb_describe = ddb_table.Table.describe


def _creating(table: Any) -> bool:
    return _now() < getattr(table, "_active_at", 0.0)


def _create_table(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    # DynamoDB API reference, CreateTable: "CreateTable is an asynchronous operation. Upon
    # receiving a CreateTable request, DynamoDB immediately returns a response with a TableStatus
    # of CREATING. After the table is created, DynamoDB sets the TableStatus to ACTIVE. You can
    # perform read and write operations only on an ACTIVE table." (moto: ACTIVE at once.)
    table = _ddb_create_table(self, name, *args, **kwargs)
    table._active_at = _now() + SETTINGS["table_create_seconds"]
    return table


def _table_describe(self: Any, base_key: str = "TableDescription") -> dict[str, Any]:
    described = _ddb_describe(self, base_key)
    if _creating(self):
        described[base_key]["TableStatus"] = "CREATING"
    return described


def _active_table(original: Any) -> Any:
    """Item operations on a table still CREATING fail as on a missing one (ResourceNotFoundException
    reference: "The operation tried to access a nonexistent table or index. The resource might not
    be specified correctly, or its status might not be ACTIVE.")."""

    def patched(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        table = self.tables.get(table_name)
        if table is not None and _creating(table):
            raise DdbResourceNotFound(table_name=table_name)
        return original(self, table_name, *args, **kwargs)

    return patched


def _ttl_on_missing_table(original: Any) -> Any:
    """UpdateTimeToLive / DescribeTimeToLive on a missing table: AWS's code is
    ResourceNotFoundException (moto says ResourceNotFound, which no SDK models)."""

    def patched(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        if table_name not in self.tables:
            raise DdbResourceNotFound(table_name=table_name)
        return original(self, table_name, *args, **kwargs)

    return patched


DynamoDBBackend.create_table = _create_table
ddb_table.Table.describe = _table_describe
for _op in ("put_item", "delete_item", "get_item", "update_item"):
    setattr(DynamoDBBackend, _op, _active_table(getattr(DynamoDBBackend, _op)))
for _op in ("update_time_to_live", "describe_time_to_live"):
    setattr(DynamoDBBackend, _op, _ttl_on_missing_table(getattr(DynamoDBBackend, _op)))


# ---------------------------------------------------------------------------------------------
# Faults on request, and the request log for the IAM proof
# ---------------------------------------------------------------------------------------------

# (service signing name, operation) -> [count left, error code, HTTP status]
THROTTLES: dict[tuple[str, str], list[Any]] = {}
REQUEST_LOG = os.environ.get("PUSHDEPLOY_EMULATOR_REQUEST_LOG")
# Per-request timings for benchmarks (scripts/bench_lambda.py); nothing is measured when unset.
TIMING_LOG = os.environ.get("PUSHDEPLOY_EMULATOR_TIMING_LOG")
TIMING_LOCK = threading.Lock()
_TIMING_FILE: list[Any] = []
ERROR_CODE = re.compile(rb'"__type"\s*:\s*"(?:[^"#]*#)?([^"]+)"|<Code>([^<]+)</Code>')


def _log_timing(t0: float, environ: dict[str, Any], request: bytes, status: str, payload: bytes) -> None:
    """One line of PUSHDEPLOY_EMULATOR_TIMING_LOG for a request that started at `t0`."""
    seconds = time.time() - t0
    locked_at = environ.get("pushdeploy.locked_at")
    _, _, service = _signing_scope(environ)
    operation, _ = _operation_and_params(environ, request)
    code = int(status.split()[0]) if status[:3].isdigit() else 0
    error = None
    if code >= 400:
        match = ERROR_CODE.search(payload[:4096])
        if match:
            error = (match.group(1) or match.group(2)).decode("utf-8", "replace")
    line = {
        "t0": t0,
        "seconds": seconds,
        "waited": (locked_at - t0) if locked_at else 0.0,
        "service": service,
        "operation": operation,
        "principal": _principal(environ)[0],
        "status": code,
        "error": error,
        "client": f"{environ.get('REMOTE_ADDR', '')}:{environ.get('REMOTE_PORT', '')}",
        "tls": environ.get("wsgi.url_scheme") == "https",
    }
    text = json.dumps(line, separators=(",", ":")) + "\n"
    with TIMING_LOCK:
        if not _TIMING_FILE:
            _TIMING_FILE.append(open(TIMING_LOG, "a", encoding="utf-8", buffering=1))
        _TIMING_FILE[0].write(text)


def _signing_scope(environ: dict[str, Any]) -> tuple[str, str, str]:
    """(access key, region, service) from the SigV4 Authorization header."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = re.search(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/aws4_request", auth)
    return match.groups() if match else ("", "", "")


def _operation_and_params(environ: dict[str, Any], body: bytes) -> tuple[str, dict[str, Any]]:
    """The API operation and its parameters: X-Amz-Target and a JSON body, or a query form."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = {}
        return target.rsplit(".", 1)[-1], params if isinstance(params, dict) else {}
    from urllib.parse import parse_qsl

    form = dict(parse_qsl(body.decode("utf-8", "replace"))) if body else {}
    form.update(dict(parse_qsl(environ.get("QUERY_STRING", ""))))
    operation = form.pop("Action", "")
    form.pop("Version", None)
    if not operation:
        # REST protocols (none of the calls pushdeploy makes): the method and path.
        operation = f"{environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}"
    return operation, form


def _principal(environ: dict[str, Any]) -> tuple[str, str | None]:
    """Who sent it, from the SDK's user agent `app/...`: the function of an app
    (`pushdeploy-function.<app>`), the CLI (`pushdeploy-cli`), or anything else (test set-up)."""
    agent = environ.get("HTTP_USER_AGENT", "") + " " + environ.get("HTTP_X_AMZ_USER_AGENT", "")
    match = re.search(r"\bapp/(pushdeploy-function(?:\.([A-Za-z0-9_-]+))?|pushdeploy-cli)\b", agent)
    if not match:
        return "other", None
    if match.group(1).startswith("pushdeploy-function"):
        return "function", match.group(2)
    return "cli", None


def _log_request(environ: dict[str, Any], body: bytes) -> None:
    access_key, region, service = _signing_scope(environ)
    if not REQUEST_LOG or not service:
        return
    operation, params = _operation_and_params(environ, body)
    principal, app = _principal(environ)
    line = {
        "principal": principal,
        "app": app,
        "cluster": app,
        "service": service,
        "operation": operation,
        "region": region,
        "account": _account_from(access_key),
        "params": params,
    }
    with open(REQUEST_LOG, "a", encoding="utf-8") as log:
        log.write(json.dumps(line, separators=(",", ":")) + "\n")


def _throttled(environ: dict[str, Any], body: bytes, start_response: Any) -> list[bytes] | None:
    """A fault asked for with /_pushdeploy/throttle, as the service would send it (JSON protocols)."""
    if not THROTTLES:
        return None
    _, _, service = _signing_scope(environ)
    operation, _ = _operation_and_params(environ, body)
    fault = THROTTLES.get((service, operation))
    if not fault or fault[0] <= 0:
        return None
    fault[0] -= 1
    code, status = fault[1], int(fault[2])
    reason = "Rate exceeded" if "Throttl" in code else "We encountered an internal error. Please try again."
    payload = json.dumps({"__type": code, "message": reason}).encode()
    phrase = {400: "Bad Request", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
    start_response(
        f"{status} {phrase.get(status, 'Error')}",
        [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(payload)))],
    )
    return [payload]


def _control(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    path = environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD", "GET")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
    if path == "/_pushdeploy/bad-images" and method == "POST":
        BAD_IMAGES.update(body.get("images", []))
        answer: Any = {"bad_images": sorted(BAD_IMAGES)}
    elif path == "/_pushdeploy/capacity-provider-deletion-failure" and method == "POST":
        CAPACITY_PROVIDER_FAILURES[body["name"]] = body.get("reason", "DELETE_FAILED")
        answer = {"capacity_provider_failures": CAPACITY_PROVIDER_FAILURES}
    elif path == "/_pushdeploy/ecs-ami" and method == "POST":
        arch = "/arm64" if body.get("architecture") == "arm64" else ""
        name = f"/aws/service/ecs/optimized-ami/amazon-linux-2023{arch}/recommended/image_id"
        params = ssm_backends[body["account"]][body["region"]]._parameters
        params._check_loading_status(name)
        release = copy.copy(params[name][-1])
        release.value = body["image_id"]
        release.version += 1
        params[name].append(release)
        answer = {"name": name, "value": release.value}
    elif path == "/_pushdeploy/throttle" and method == "POST":
        key = (body["service"], body["operation"])
        THROTTLES[key] = [int(body.get("count", 1)), body.get("code", "ThrottlingException"), body.get("status", 400)]
        answer = {"throttled": f"{key[0]}:{key[1]}", "count": THROTTLES[key][0]}
    elif path == "/_pushdeploy/settings":
        if method == "POST":
            for key, value in body.items():
                if key not in SETTINGS:
                    return _answer(start_response, "400 Bad Request", {"error": f"unknown setting {key}"})
                SETTINGS[key] = float(value)
        answer = SETTINGS
    else:
        return _answer(start_response, "404 Not Found", {"error": f"no control endpoint {method} {path}"})
    return _answer(start_response, "200 OK", answer)


def _answer(start_response: Any, status: str, answer: Any) -> list[bytes]:
    """A JSON answer with a Content-Length, so that simple clients need not decode chunks."""
    body = json.dumps(answer).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


# Smithy RPC v2 CBOR (aws-sdk-cloudwatch 1.100 and later speaks it; moto does not): the request is
# decoded with the service's model, handed to moto in the service's JSON protocol, and the answer
# encoded back, errors as `{"__type", "message"}` maps (Smithy, "RPC v2 CBOR protocol").
CBOR_PATH = re.compile(r"^/service/([A-Za-z0-9]+)/operation/([A-Za-z0-9]+)$")
CBOR_MODELS: dict[str, Any] = {}


def _cbor_model(target: str) -> Any:
    if not CBOR_MODELS:
        import botocore.session

        session = botocore.session.get_session()
        for name in ("cloudwatch",):
            model = session.get_service_model(name)
            CBOR_MODELS[model.metadata["targetPrefix"]] = model
    return CBOR_MODELS[target]


def _json_default(value: Any) -> Any:
    if hasattr(value, "timestamp"):
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value)} is not JSON")


def _cbor_head(out: bytearray, major: int, n: int) -> None:
    if n < 24:
        out.append(major << 5 | n)
    elif n < 256:
        out += bytes([major << 5 | 24, n])
    elif n < 65536:
        out += bytes([major << 5 | 25]) + n.to_bytes(2, "big")
    else:
        out += bytes([major << 5 | 26]) + n.to_bytes(4, "big")


def _cbor_text_map(fields: dict[str, str]) -> bytes:
    out = bytearray()
    _cbor_head(out, 5, len(fields))
    for key, value in fields.items():
        for text in (key, value):
            data = text.encode()
            _cbor_head(out, 3, len(data))
            out += data
    return bytes(out)


def _from_cbor(environ: dict[str, Any], request: bytes) -> tuple[dict[str, Any], bytes, Any] | None:
    """A CBOR request as its JSON twin: (environ, body, operation model), or None."""
    if environ.get("CONTENT_TYPE", "").split(";")[0].strip() != "application/cbor":
        return None
    match = CBOR_PATH.match(environ.get("PATH_INFO", ""))
    if not match:
        return None
    from botocore.parsers import RpcV2CBORParser

    target, operation = match.groups()
    op = _cbor_model(target).operation_model(operation)
    params: dict[str, Any] = {}
    if request and op.input_shape is not None:
        params = RpcV2CBORParser().parse({"body": request, "headers": {}, "status_code": 200}, op.input_shape)
        params.pop("ResponseMetadata", None)
    body = json.dumps(params, default=_json_default).encode()
    twin = dict(environ)
    twin.update(
        {
            "PATH_INFO": "/",
            "CONTENT_TYPE": "application/x-amz-json-1.0",
            "HTTP_X_AMZ_TARGET": f"{target}.{operation}",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
    )
    return twin, body, op


def _to_cbor(op: Any, status: str, payload: bytes) -> bytes:
    """moto's JSON answer to `op` in CBOR."""
    from botocore.parsers import JSONParser
    from botocore.serialize import RpcV2CBORSerializer

    if int(status.split()[0]) >= 300:
        try:
            error = json.loads(payload or b"{}")
        except ValueError:
            error = {}
        if not isinstance(error, dict):
            error = {}
        code = str(error.get("__type") or error.get("code") or "InternalFailure").rsplit("#", 1)[-1]
        return _cbor_text_map({"__type": code, "message": str(error.get("message") or error.get("Message") or "")})
    out = bytearray()
    if op.output_shape is None:
        _cbor_head(out, 5, 0)
        return bytes(out)
    value = JSONParser().parse({"body": payload or b"{}", "headers": {}, "status_code": 200}, op.output_shape)
    value.pop("ResponseMetadata", None)
    RpcV2CBORSerializer()._serialize_data_item(out, value, op.output_shape)
    return bytes(out)


class StrictApp:
    def __init__(self, app: Any):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").startswith("/_pushdeploy/"):
            with LOCK:
                return _control(environ, start_response)
        if not TIMING_LOG:
            return self._serve(environ, start_response)
        t0 = time.time()
        seen: list[str] = []

        def timed_start(status: str, headers: Any, exc_info: Any = None) -> Any:
            seen.append(status)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        answer = self._serve(environ, timed_start)
        payload = b"".join(answer)
        # The environ and body moto saw (a CBOR request's JSON twin names the operation).
        seen_environ = environ.get("pushdeploy.environ", environ)
        _log_timing(t0, seen_environ, environ.get("pushdeploy.request", b""), seen[-1] if seen else "500", payload)
        return [payload]

    def _serve(self, environ: dict[str, Any], start_response: Any) -> Any:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        request = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(request)
        cbor = _from_cbor(environ, request)
        if TIMING_LOG:
            environ["pushdeploy.request"] = request
        if cbor is not None:
            if TIMING_LOG:
                environ["pushdeploy.environ"], environ["pushdeploy.request"] = cbor[0], cbor[1]
            environ, request, op = cbor
            answered: list[Any] = []

            def capture(status: str, headers: Any, exc_info: Any = None) -> Any:
                answered.append(status)
                return lambda _data: None

            payload = b"".join(self._handle(environ, request, capture))
            status = answered[0] if answered else "500 Internal Server Error"
            encoded = _to_cbor(op, status, payload)
            start_response(
                status,
                [
                    ("Content-Type", "application/cbor"),
                    ("smithy-protocol", "rpc-v2-cbor"),
                    ("Content-Length", str(len(encoded))),
                ],
            )
            return [encoded]
        return self._handle(environ, request, start_response)

    def _handle(self, environ: dict[str, Any], request: bytes, start_response: Any) -> Any:
        if SETTINGS["latency_seconds"] > 0:
            time.sleep(SETTINGS["latency_seconds"])
        with LOCK:
            if TIMING_LOG:
                environ["pushdeploy.locked_at"] = time.time()
            fault = _throttled(environ, request, start_response)
            if fault is not None:
                return fault
            _log_request(environ, request)
            environ["wsgi.input"].seek(0)
            body = self.app(environ, start_response)
            try:
                return [b"".join(body)]
            finally:
                if hasattr(body, "close"):
                    body.close()


def main(argv: list[str] | None = None) -> None:
    import argparse

    from werkzeug.serving import run_simple

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    parser.add_argument(
        "--ecs-service-linked-role",
        metavar="ACCOUNT",
        action="append",
        default=[],
        help="start with AWSServiceRoleForECS present (long since propagated) in this account",
    )
    parser.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate (chain) ...")
    parser.add_argument("--tls-key", metavar="PEM", help="... and this private key")
    parser.add_argument(
        "--keep-alive",
        action="store_true",
        help="keep HTTP/1.1 connections open between requests, as AWS endpoints do (werkzeug closes each)",
    )
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    os.environ.setdefault("MOTO_PORT", str(args.port))
    # Attaching the AWS-managed policies (AmazonEC2ContainerServiceforEC2Role, ...) needs them loaded.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    for account in args.ecs_service_linked_role:
        iam_backends[account]["aws"].create_service_linked_role("ecs.amazonaws.com", "", "")
        SLR_CREATED[account] = 0.0
    app = StrictApp(DomainDispatcherApplication(create_backend_app))
    scheme = "https" if args.tls_cert else "http"
    print(f"pushdeploy strict emulator (moto) on {scheme}://{args.host}:{args.port}", file=sys.stderr, flush=True)
    ssl_context = (args.tls_cert, args.tls_key) if args.tls_cert else None
    handler = MotoRequestHandler
    if args.keep_alive:

        class KeepAliveHandler(MotoRequestHandler):
            """werkzeug closes every connection (and, after each answer, drains the socket, which
            would swallow the next request): for a request whose body was sized by Content-Length
            (StrictApp reads exactly that much) and whose client did not ask to close, skip both."""

            keep = False

            def setup(self) -> None:
                super().setup()
                # werkzeug writes the head and the body apart: without this, Nagle holds the body
                # back for the client's delayed ACK (~40 ms) on every reused connection.
                import socket

                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def handle_one_request(self) -> None:
                self.keep, rfile = False, self.rfile
                try:
                    super().handle_one_request()
                finally:
                    self.rfile = rfile

            def make_environ(self) -> dict[str, Any]:
                environ = super().make_environ()  # its wsgi.input is the real stream
                self.keep = (
                    self.request_version == "HTTP/1.1"
                    and "Transfer-Encoding" not in self.headers
                    and self.headers.get("Connection", "").lower() != "close"
                    and not self.path.startswith("/_pushdeploy/")
                )
                if self.keep:
                    self.rfile = io.BytesIO()  # what werkzeug's drain reads
                return environ

            def send_header(self, keyword: str, value: str) -> None:
                if self.keep and keyword.lower() == "connection" and value.lower() == "close":
                    return
                super().send_header(keyword, value)

        handler = KeepAliveHandler
    run_simple(args.host, args.port, app, threaded=True, request_handler=handler, ssl_context=ssl_context)


if __name__ == "__main__":
    main()
