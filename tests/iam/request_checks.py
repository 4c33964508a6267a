"""What AWS authorizes for one logged request: the action on every resource it touches, plus
the implicit authorizations (iam:PassRole for roles it passes, tag-on-create).

Resource ARNs are built from the SAR's ARN format of each resource type the action is
authorized against, with the variables taken from the request's parameters; ARNs the request
passes whole are classified by those formats. A part AWS assigns later (a task-definition
revision, a load balancer id) is UNKNOWN; a required resource the request does not name at all
is the UNKNOWN ARN, which only `Resource: "*"` covers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import sar
from iam_policy import UNKNOWN, UNKNOWN_VALUE, Check


@dataclass
class Request:
    """One line of the emulator's request log."""

    principal: str
    app: str | None
    cluster: str | None
    service: str
    operation: str
    region: str
    account: str
    params: dict
    line: int = 0

    @property
    def prefix(self) -> str:
        """The IAM action prefix."""
        return sar.action_prefix(self.service)

    @property
    def action(self) -> str:
        """The IAM action the request needs (as the SAR spells it when it lists it)."""
        info = sar.action_info(self.prefix, self.operation)
        return info.action if info else f"{self.prefix}:{self.operation}"

    @property
    def partition(self) -> str:
        """The partition of the request's region."""
        return (
            "aws-cn" if self.region.startswith("cn-") else "aws-us-gov" if self.region.startswith("us-gov-") else "aws"
        )


@dataclass
class LogFacts:
    """What earlier requests in the log tell about resources later ones name only by name."""

    role_paths: dict = field(default_factory=dict)
    profile_paths: dict = field(default_factory=dict)
    profile_roles: dict = field(default_factory=dict)
    template_profiles: dict = field(default_factory=dict)
    assumed: set = field(default_factory=set)


def load_requests(path: str) -> list[Request]:
    """The requests of a JSON Lines log."""
    requests = []
    with open(path, encoding="utf-8") as f:
        for number, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                d = json.loads(text)
                requests.append(
                    Request(
                        d["principal"],
                        d.get("app"),
                        d.get("cluster"),
                        d["service"],
                        d["operation"],
                        d["region"],
                        str(d["account"]),
                        d.get("params") or {},
                        number,
                    )
                )
            except (ValueError, KeyError) as e:
                raise ValueError(f"{path}:{number}: not a request log line ({e})") from e
    return requests


# Service-linked roles AWS makes at a path of its own (IAM user guide, "Using service-linked
# roles"): an account may have them before the log starts.
SERVICE_LINKED_ROLE_PATHS = {
    "AWSServiceRoleForECS": "/aws-service-role/ecs.amazonaws.com/",
    "AWSServiceRoleForAutoScaling": "/aws-service-role/autoscaling.amazonaws.com/",
    "AWSServiceRoleForElasticLoadBalancing": "/aws-service-role/elasticloadbalancing.amazonaws.com/",
    "AWSServiceRoleForApplicationAutoScaling_ECSService": "/aws-service-role/ecs.application-autoscaling.amazonaws.com/",
}


def learn_facts(requests: list[Request]) -> LogFacts:
    """Role and instance-profile paths, profile roles and launch-template profiles from the log."""
    facts = LogFacts()
    facts.role_paths.update(SERVICE_LINKED_ROLE_PATHS)
    for r in requests:
        p, op = r.params, (r.prefix, r.operation)
        if op == ("iam", "CreateRole") and p.get("RoleName"):
            facts.role_paths[p["RoleName"]] = p.get("Path") or "/"
        elif op == ("iam", "CreateInstanceProfile") and p.get("InstanceProfileName"):
            facts.profile_paths[p["InstanceProfileName"]] = p.get("Path") or "/"
        elif op == ("iam", "AddRoleToInstanceProfile"):
            facts.profile_roles[p.get("InstanceProfileName")] = p.get("RoleName")
        elif op in (("ec2", "CreateLaunchTemplate"), ("ec2", "CreateLaunchTemplateVersion")):
            profile = p.get("LaunchTemplateData.IamInstanceProfile.Name") or p.get(
                "LaunchTemplateData.IamInstanceProfile.Arn"
            )
            key = p.get("LaunchTemplateName") or p.get("LaunchTemplateId")
            if key and profile:
                facts.template_profiles[key] = profile
    return facts


def param_values(params: dict, *names: str) -> list[str]:
    """The string values of parameters: JSON scalars or lists, or query-protocol `Name.member.N`/`Name.N`."""
    out = []
    for name in names:
        value = params.get(name)
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list):
            out += [v for v in value if isinstance(v, str)]
        flat = [
            (int(m[1]), v)
            for k, v in params.items()
            if (m := re.fullmatch(re.escape(name) + r"\.(?:member\.)?(\d+)", k))
        ]
        out += [v for _, v in sorted(flat)]
    return out


def request_tags(req: Request) -> dict:
    """The tags a request applies: `tags`/`Tags` as a map or key/value list, or query-protocol tags."""
    tags = {}
    for raw in (req.params.get("tags"), req.params.get("Tags")):
        if isinstance(raw, dict):
            tags.update({str(k): str(v) for k, v in raw.items()})
        elif isinstance(raw, list):
            for t in raw:
                if isinstance(t, dict) and (t.get("key") or t.get("Key")):
                    tags[t.get("key") or t.get("Key")] = str(t.get("value", t.get("Value", "")))
    for k, v in req.params.items():
        if m := re.fullmatch(r"((?:Tags|TagSpecification\.\d+\.Tag)\.(?:member\.)?\d+\.)Key", k):
            tags[v] = str(req.params.get(m[1] + "Value", ""))
    return tags


def build_arn(req: Request, arn_format: str, variables: dict) -> str:
    """An ARN of a SAR format; variables the request does not give are UNKNOWN."""
    values = {"Partition": req.partition, "Region": req.region, "Account": req.account, **variables}
    return re.sub(r"\$\{([^}]+)\}", lambda m: str(values.get(m[1], UNKNOWN)), arn_format)


def _last_variable(arn_format: str) -> str:
    """The name of the last ${Variable} of an ARN format (the resource's id)."""
    return re.findall(r"\$\{([^}]+)\}", arn_format)[-1]


def _with_path(path: str, name: str) -> str:
    """An IAM name with its path, as the ARN carries it."""
    return (path or "/").lstrip("/") + name


# Resource-type rules: (prefix, resource type) -> function(request, facts, resource type) giving
# ARNs or dicts of ARN-format variables. ARNs passed whole are found by format anyway.


def ecs_cluster_name(params: dict) -> str:
    """The ECS cluster a request names (its default is `default`)."""
    c = params.get("cluster") or "default"
    return c.rsplit("/", 1)[-1] if c.startswith("arn:") else c


def ecs_service(req, facts, rtype):
    """ECS services: `service`/`serviceName`/`services` in `cluster`, and the services of revision/deployment ARNs."""
    cluster, out = ecs_cluster_name(req.params), []
    for s in param_values(req.params, "service", "serviceName", "services"):
        out.append(s if s.startswith("arn:") else {"ClusterName": cluster, "ServiceName": s})
    for arn in param_values(req.params, "serviceRevisionArns", "serviceDeploymentArns"):
        if m := re.fullmatch(r"(arn:[^:]*:ecs:[^:]*:[^:]*:)service-(?:revision|deployment)/([^/]+)/([^/]+)/.+", arn):
            out.append(f"{m[1]}service/{m[2]}/{m[3]}")
    return out


def ecs_task_definition(req, facts, rtype):
    """Task definitions: `family` of a registration (revision assigned by ECS), `taskDefinition`."""
    out = []
    if req.operation == "RegisterTaskDefinition" and req.params.get("family"):
        out.append({"TaskDefinitionFamilyName": req.params["family"]})
    for td in param_values(req.params, "taskDefinition"):
        family, _, revision = td.partition(":")
        out.append(
            td
            if td.startswith("arn:")
            else {
                "TaskDefinitionFamilyName": family,
                **({"TaskDefinitionRevisionNumber": revision} if revision else {}),
            }
        )
    return out


def ecs_cluster(req, facts, rtype):
    """Clusters: `clusterName`, `clusters`, `cluster`, else `default` where the cluster is required."""
    names = param_values(req.params, "clusterName", "clusters", "cluster")
    if not names and rtype.required:
        names = ["default"]
    return [n if n.startswith("arn:") else {"ClusterName": n} for n in names]


def ecs_capacity_provider(req, facts, rtype):
    """Capacity providers by name."""
    names = param_values(req.params, "capacityProvider", "capacityProviders")
    if req.operation in ("CreateCapacityProvider", "UpdateCapacityProvider"):
        names += param_values(req.params, "name")
    return [n if n.startswith("arn:") else {"CapacityProviderName": n} for n in names]


def ssm_parameter(req, facts, rtype):
    """SSM parameters: `Name`, `Names`, `Path`, tagging's `ResourceId` (AWS's public ones have no account)."""
    names = param_values(req.params, "Name", "Names", "Path")
    if req.params.get("ResourceType") == "Parameter":
        names += param_values(req.params, "ResourceId")
    out = []
    for name in names:
        if name.startswith("arn:"):
            out.append(name)
            continue
        bare = name.split(":", 1)[0]  # without a version or label selector
        variables = {"ParameterNameWithoutLeadingSlash": bare.removeprefix("/")}
        out.append({**variables, "Account": ""} if bare.startswith("/aws/service/") else variables)
    return out


def dynamodb_table(req, facts, rtype):
    """DynamoDB tables: `TableName`, `RequestItems` keys, `TransactItems` tables."""
    names = param_values(req.params, "TableName") + list((req.params.get("RequestItems") or {}).keys())
    for item in req.params.get("TransactItems") or []:
        names += [op["TableName"] for op in item.values() if isinstance(op, dict) and op.get("TableName")]
    return [n if n.startswith("arn:") else {"TableName": n} for n in names]


def dynamodb_index(req, facts, rtype):
    """DynamoDB indexes: `TableName` + `IndexName`."""
    p = req.params
    return (
        [{"TableName": p["TableName"], "IndexName": p["IndexName"]}]
        if p.get("TableName") and p.get("IndexName")
        else []
    )


def ecr_repository(req, facts, rtype):
    """ECR repositories: `repositoryName(s)` in `registryId`'s account."""
    account = {"Account": req.params["registryId"]} if req.params.get("registryId") else {}
    return [{"RepositoryName": n, **account} for n in param_values(req.params, "repositoryName", "repositoryNames")]


def iam_role(req, facts, rtype):
    """IAM roles by `RoleName`, with the path of CreateRole (this request's or an earlier one's)."""
    p = req.params
    if req.operation == "CreateServiceLinkedRole":
        return [{"RoleNameWithPath": f"aws-service-role/{p.get('AWSServiceName', UNKNOWN)}/{UNKNOWN}"}]
    out = []
    for name in param_values(p, "RoleName"):
        path = (p.get("Path") or "/") if req.operation == "CreateRole" else facts.role_paths.get(name)
        if path is None:
            facts.assumed.add(f"iam role {name}: path not in the log, assumed /")
        out.append({"RoleNameWithPath": _with_path(path or "/", name)})
    return out


def iam_instance_profile(req, facts, rtype):
    """IAM instance profiles by `InstanceProfileName`, with their path as for roles."""
    out = []
    for name in param_values(req.params, "InstanceProfileName"):
        creates = req.operation == "CreateInstanceProfile"
        path = (req.params.get("Path") or "/") if creates else facts.profile_paths.get(name)
        if path is None:
            facts.assumed.add(f"iam instance profile {name}: path not in the log, assumed /")
        out.append({"InstanceProfileNameWithPath": _with_path(path or "/", name)})
    return out


def logs_log_group(req, facts, rtype):
    """Log groups: `logGroupName`, `logGroupIdentifier` (a name or an ARN)."""
    return [
        n.removesuffix(":*") if n.startswith("arn:") else {"LogGroupName": n}
        for n in param_values(req.params, "logGroupName", "logGroupIdentifier")
    ]


def logs_log_stream(req, facts, rtype):
    """Log streams: `logGroupName` + `logStreamName`."""
    p = req.params
    return (
        [{"LogGroupName": p["logGroupName"], "LogStreamName": p["logStreamName"]}]
        if p.get("logGroupName") and p.get("logStreamName")
        else []
    )


ELB_TYPES = {"application": "loadbalancer/app/", "network": "loadbalancer/net/", "gateway": "loadbalancer/gwy/"}


def elb_new_load_balancer(req, facts, rtype):
    """The load balancer CreateLoadBalancer makes (its id assigned by AWS), of the request's Type."""
    p = req.params
    if req.operation != "CreateLoadBalancer" or ELB_TYPES.get(p.get("Type", "application")) != rtype.name:
        return []
    return [{"LoadBalancerName": p["Name"]}] if p.get("Name") else []


def elb_new_target_group(req, facts, rtype):
    """The target group CreateTargetGroup makes."""
    name = req.params.get("Name")
    return [{"TargetGroupName": name}] if req.operation == "CreateTargetGroup" and name else []


EC2_ID_PREFIXES = {
    "sg": "security-group",
    "i": "instance",
    "lt": "launch-template",
    "vpc": "vpc",
    "subnet": "subnet",
    "vol": "volume",
    "eni": "network-interface",
    "ami": "image",
}
EC2_CREATES = {
    "CreateSecurityGroup": {"security-group"},
    "CreateLaunchTemplate": {"launch-template"},
    "RunInstances": {"instance", "network-interface", "volume"},
}


def ec2_resource(req, facts, rtype):
    """EC2 resources by id (`GroupId`, `VpcId`, `SubnetId`, `LaunchTemplateId`, `ImageId`, ...), or
    the one the request creates / names only by name (id UNKNOWN)."""
    ids = param_values(
        req.params,
        "GroupId",
        "GroupIds",
        "SecurityGroupId",
        "SecurityGroupIds",
        "VpcId",
        "SubnetId",
        "SubnetIds",
        "LaunchTemplateId",
        "ImageId",
        "InstanceId",
        "InstanceIds",
        "ResourceId",
    )
    var = _last_variable(rtype.arn_format)
    out = [{var: i} for i in ids if EC2_ID_PREFIXES.get(i.split("-")[0]) == rtype.name]
    created = rtype.name in EC2_CREATES.get(req.operation, ())
    by_name = rtype.name == "launch-template" and req.params.get("LaunchTemplateName") and not out
    return out or ([{}] if created or by_name else [])


def autoscaling_group(req, facts, rtype):
    """Auto Scaling groups by name (the group id in their ARN is AWS's)."""
    names = param_values(req.params, "AutoScalingGroupName", "AutoScalingGroupNames")
    names += [v for k, v in req.params.items() if re.fullmatch(r"Tags\.member\.\d+\.ResourceId", k)]
    return [{"GroupFriendlyName": n} for n in dict.fromkeys(names)]


def sns_topic(req, facts, rtype):
    """The topic CreateTopic makes."""
    name = req.params.get("Name")
    return [{"TopicName": name}] if req.operation == "CreateTopic" and name else []


def sqs_queue(req, facts, rtype):
    """The queue of a `QueueUrl`."""
    m = re.search(r"/(\d{12})/([^/?]+)$", req.params.get("QueueUrl") or "")
    return [{"Account": m[1], "QueueName": m[2]}] if m else []


def cloudwatch_alarm(req, facts, rtype):
    """Alarms by `AlarmName(s)`."""
    return [{"AlarmName": n} for n in param_values(req.params, "AlarmName", "AlarmNames")]


RESOURCE_RULES = {
    ("ecs", "service"): ecs_service,
    ("ecs", "service-revision"): lambda r, f, t: param_values(r.params, "serviceRevisionArns"),
    ("ecs", "service-deployment"): lambda r, f, t: param_values(r.params, "serviceDeploymentArns"),
    ("ecs", "task-definition"): ecs_task_definition,
    ("ecs", "cluster"): ecs_cluster,
    ("ecs", "capacity-provider"): ecs_capacity_provider,
    ("ssm", "parameter"): ssm_parameter,
    ("dynamodb", "table"): dynamodb_table,
    ("dynamodb", "index"): dynamodb_index,
    ("ecr", "repository"): ecr_repository,
    ("iam", "role"): iam_role,
    ("iam", "instance-profile"): iam_instance_profile,
    ("logs", "log-group"): logs_log_group,
    ("logs", "log-stream"): logs_log_stream,
    ("elasticloadbalancing", "targetgroup"): elb_new_target_group,
    ("autoscaling", "autoScalingGroup"): autoscaling_group,
    ("sns", "topic"): sns_topic,
    ("sqs", "queue"): sqs_queue,
    ("cloudwatch", "alarm"): cloudwatch_alarm,
    # A scalable target's ARN holds an id Application Auto Scaling assigns; requests name only
    # the ResourceId (service/<cluster>/<service>), so it is never derivable.
    ("application-autoscaling", "ScalableTarget"): lambda r, f, t: [],
    **{("elasticloadbalancing", t): elb_new_load_balancer for t in ELB_TYPES.values()},
    **{("ec2", t): ec2_resource for t in set(EC2_ID_PREFIXES.values())},
}


def arns_in(value) -> list[str]:
    """Every ARN string anywhere in a request's parameters."""
    if isinstance(value, str):
        return [value] if value.startswith("arn:") else []
    if isinstance(value, dict):
        return [a for v in value.values() for a in arns_in(v)]
    if isinstance(value, list):
        return [a for v in value for a in arns_in(v)]
    return []


def resource_arns(req: Request, rtype: sar.ResourceType, facts: LogFacts) -> tuple[list[str], bool]:
    """The ARNs of one resource type a request touches, and whether the checker has a rule for the type."""
    rule = RESOURCE_RULES.get((req.prefix, rtype.name))
    found = [
        a if isinstance(a, str) else build_arn(req, rtype.arn_format, a)
        for a in (rule(req, facts, rtype) if rule else [])
    ]
    pattern = sar.format_regex(rtype.arn_format)
    found += [a for a in arns_in(req.params) if pattern.fullmatch(a)]
    return list(dict.fromkeys(found)), rule is not None


def arn_account(arn: str):
    """The account component of an ARN, as aws:ResourceAccount; UNKNOWN_VALUE when not known."""
    parts = arn.split(":")
    account = parts[4] if len(parts) > 5 else ""
    return [account] if account and UNKNOWN not in account else UNKNOWN_VALUE


def request_context(req: Request, info: sar.ActionInfo | None, arn: str) -> dict:
    """The condition keys the checker computes for a request on one resource (lower-case names)."""
    p = req.params
    ctx = {"aws:requestedregion": [req.region], "aws:resourceaccount": arn_account(arn)}
    tags = request_tags(req)
    if tags:
        ctx["aws:tagkeys"] = list(tags)
        ctx.update({f"aws:requesttag/{k.lower()}": [v] for k, v in tags.items()})
    if req.prefix == "iam" and req.operation in ("AttachRolePolicy", "DetachRolePolicy") and p.get("PolicyArn"):
        ctx["iam:policyarn"] = [p["PolicyArn"]]
    if req.prefix == "iam" and req.operation == "CreateServiceLinkedRole" and p.get("AWSServiceName"):
        ctx["iam:awsservicename"] = [p["AWSServiceName"]]
    if req.prefix == "iam" and req.operation in ("CreateRole", "PutRolePermissionsBoundary"):
        if p.get("PermissionsBoundary"):
            ctx["iam:permissionsboundary"] = [p["PermissionsBoundary"]]
    elif info and "iam:PermissionsBoundary" in info.condition_keys:
        ctx["iam:permissionsboundary"] = UNKNOWN_VALUE  # the role's current boundary
    return ctx


def _resource_head(arn_format: str) -> str:
    """The resource kind of an ARN format (`listener` of `listener/app/...`)."""
    return re.split(r"[/:]", arn_format.split(":", 5)[-1])[0]


def resource_checks(req: Request, info: sar.ActionInfo, facts: LogFacts, notes: set) -> list[Check]:
    """The action on every resource the request touches, per the SAR's resource types."""
    derived, had_rule = {}, {}
    for rt in info.resource_types:
        derived[rt.name], had_rule[rt.name] = resource_arns(req, rt, facts)
    checks = [
        Check(info.action, arn, request_context(req, info, arn), rt.name, "request")
        for rt in info.resource_types
        for arn in derived[rt.name]
    ]
    for rt in info.resource_types:
        if derived[rt.name] or not rt.required:
            continue
        head = _resource_head(rt.arn_format)
        if any(derived[o.name] and _resource_head(o.arn_format) == head for o in info.resource_types):
            continue  # a required "one of": the request names a sibling variant (listener/app vs listener/net)
        why = "not derivable from the request" if had_rule[rt.name] else "no rule derives it"
        notes.add(f'{info.action} {rt.name}*: {why}; needs Resource "*"')
        checks.append(Check(info.action, UNKNOWN, request_context(req, info, UNKNOWN), rt.name, "request"))
    if not checks:
        if info.resource_types:
            names = [t.name for t in info.resource_types]
            notes.add(f'{info.action}: the request names none of its resource types {names}; needs Resource "*"')
        resource = UNKNOWN if info.resource_types else "*"
        checks.append(Check(info.action, resource, request_context(req, info, resource), "", "request"))
    return checks


def role_arn(req: Request, value: str, facts: LogFacts) -> str:
    """A role ARN from a role ARN or name."""
    if value.startswith("arn:"):
        return value
    path = facts.role_paths.get(value, "/")
    return f"arn:{req.partition}:iam::{req.account}:role/{_with_path(path, value)}"


# Roles passed by a parameter: (prefix, operation) -> [(parameter path, iam:PassedToService)].
PASSED_ROLES = {
    ("ecs", "RegisterTaskDefinition"): [
        ("taskRoleArn", "ecs-tasks.amazonaws.com"),
        ("executionRoleArn", "ecs-tasks.amazonaws.com"),
    ],
    ("ecs", "RunTask"): [
        ("overrides.taskRoleArn", "ecs-tasks.amazonaws.com"),
        ("overrides.executionRoleArn", "ecs-tasks.amazonaws.com"),
    ],
    ("ecs", "StartTask"): [
        ("overrides.taskRoleArn", "ecs-tasks.amazonaws.com"),
        ("overrides.executionRoleArn", "ecs-tasks.amazonaws.com"),
    ],
    ("ecs", "CreateService"): [("role", "ecs.amazonaws.com")],
}


def _param_path(params: dict, path: str):
    """A nested parameter by dotted path (JSON protocols)."""
    value = params
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def instance_profile_role(req: Request, profile: str | None, facts: LogFacts, notes: set) -> str | None:
    """The role of an instance profile (by name or ARN) as AddRoleToInstanceProfile in the log set it."""
    if not profile:
        return None
    name = profile.rsplit("/", 1)[-1]
    role = facts.profile_roles.get(name)
    if role is None:
        notes.add(
            f"iam:PassRole for {req.prefix}:{req.operation}: role of instance profile {name} not in the log; skipped"
        )
    return role


def passed_roles(req: Request, facts: LogFacts, notes: set) -> list[tuple[str, object]]:
    """(role ARN, iam:PassedToService) for every role the request passes."""
    out = [
        (role_arn(req, v, facts), [svc])
        for path, svc in PASSED_ROLES.get((req.prefix, req.operation), [])
        if isinstance(v := _param_path(req.params, path), str) and v
    ]
    p = req.params
    if (req.prefix, req.operation) in (("ecs", "CreateService"), ("ecs", "UpdateService")):
        # ECS API reference, AdvancedConfiguration.roleArn: the role ECS assumes to move a
        # blue/green, canary or linear service's traffic (ECS developer guide, "Amazon ECS
        # infrastructure IAM role for load balancers": trusted by ecs.amazonaws.com).
        for lb in p.get("loadBalancers") or []:
            role = ((lb or {}).get("advancedConfiguration") or {}).get("roleArn")
            if isinstance(role, str) and role:
                out.append((role_arn(req, role, facts), ["ecs.amazonaws.com"]))
    if (req.prefix, req.operation) == ("iam", "AddRoleToInstanceProfile") and p.get("RoleName"):
        # IAM API reference: "The caller of this operation must be granted the PassRole permission
        # on the IAM role"; which service it is passed to is not documented.
        out.append((role_arn(req, p["RoleName"], facts), UNKNOWN_VALUE))
    profile = None
    if (req.prefix, req.operation) == ("ec2", "RunInstances"):
        profile = p.get("IamInstanceProfile.Name") or p.get("IamInstanceProfile.Arn")
    elif (req.prefix, req.operation) in (
        ("autoscaling", "CreateAutoScalingGroup"),
        ("autoscaling", "UpdateAutoScalingGroup"),
    ):
        template = next(
            (v for k, v in p.items() if re.search(r"LaunchTemplate(Specification)?\.LaunchTemplate(Name|Id)$", k)), None
        )
        profile = facts.template_profiles.get(template) if template else None
        if template and profile is None:
            notes.add(
                f"iam:PassRole for autoscaling:{req.operation}: instance profile of launch template "
                f"{template} not in the log; skipped"
            )
    role = instance_profile_role(req, profile, facts, notes)
    if role:
        out.append((role_arn(req, role, facts), ["ec2.amazonaws.com"]))
    return out


def pass_role_checks(req: Request, facts: LogFacts, notes: set) -> list[Check]:
    """iam:PassRole on every role the request passes, with iam:PassedToService."""
    checks = []
    for arn, service in passed_roles(req, facts, notes):
        ctx = {
            "aws:requestedregion": [req.region],
            "aws:resourceaccount": arn_account(arn),
            "iam:passedtoservice": service,
        }
        checks.append(Check("iam:PassRole", arn, ctx, "role", f"passed by {req.operation}"))
    return checks


# ECS Developer Guide, "Grant permission to tag resources on creation": a create/register request
# carrying tags is also authorized for ecs:TagResource with ecs:CreateAction = the operation.
ECS_TAG_ON_CREATE = {
    "CreateCluster": "cluster",
    "CreateService": "service",
    "CreateCapacityProvider": "capacity-provider",
    "RegisterTaskDefinition": "task-definition",
    "RunTask": "task",
    "StartTask": "task",
    "CreateTaskSet": "task-set",
    "RegisterContainerInstance": "container-instance",
}
TAG_ACTION = re.compile(r"^[a-z0-9-]+:(TagResource|AddTags|CreateTags|AddTagsToResource)$")


def tagged_resources(req: Request, checks: list[Check], rtype_name: str) -> list[str]:
    """The ARNs of the resources a create request makes and tags."""
    p = req.params
    if req.prefix == "ec2":
        kinds = [v for k, v in p.items() if re.fullmatch(r"TagSpecification\.\d+\.ResourceType", k)]
        if kinds:
            return [f"arn:{req.partition}:ec2:{req.region}:{req.account}:{k}/{UNKNOWN}" for k in kinds]
    if req.prefix == "elasticloadbalancing" and req.operation in ("CreateListener", "CreateRule"):
        if req.operation == "CreateListener":
            parent = (p.get("LoadBalancerArn") or UNKNOWN).replace(":loadbalancer/", ":listener/")
        else:
            parent = (p.get("ListenerArn") or UNKNOWN).replace(":listener/", ":listener-rule/")
        return [f"{parent}/{UNKNOWN}"]
    return [c.resource for c in checks if c.resource_type == rtype_name] or [UNKNOWN]


def tag_on_create_checks(req: Request, info: sar.ActionInfo, checks: list[Check]) -> list[Check]:
    """The tagging action a create request carrying tags is also authorized for (ECS guide; SAR dependents)."""
    if not request_tags(req):
        return []
    pairs = []  # (tag action, resource type whose ARNs are tagged)
    if req.prefix == "ecs" and req.operation in ECS_TAG_ON_CREATE:
        pairs.append(("ecs:TagResource", ECS_TAG_ON_CREATE[req.operation]))
    # CloudWatch API reference, PutMetricAlarm: "To create an alarm with tags, you must also
    # have the cloudwatch:TagResource permission" (the SAR lists no dependent action for it).
    if req.prefix == "cloudwatch" and req.operation == "PutMetricAlarm":
        pairs.append(("cloudwatch:TagResource", "alarm"))
    for rt in info.resource_types:
        pairs += [(d, rt.name) for d in rt.dependent_actions if TAG_ACTION.match(d) and d != "ecs:TagResource"]
    out = []
    for action, rtype_name in dict.fromkeys(pairs):
        tag_info = sar.action_info(*action.split(":"))
        key = f"{action.split(':')[0]}:createaction"
        for arn in tagged_resources(req, checks, rtype_name):
            ctx = request_context(req, tag_info, arn)
            if tag_info and any(k.lower() == key for k in tag_info.condition_keys):
                ctx[key] = [req.operation]
            out.append(
                Check(
                    tag_info.action if tag_info else action, arn, ctx, rtype_name, f"tag-on-create by {req.operation}"
                )
            )
    return out


def dependent_action_notes(req: Request, info: sar.ActionInfo, notes: set) -> None:
    """Notes for the SAR's dependent actions the checker does not model."""
    for d in info.dependent_actions:
        if TAG_ACTION.match(d) or d == "iam:PassRole":
            continue
        notes.add(f"{info.action}: SAR dependent action {d} not checked (needed only in some cases)")
    if (
        "iam:PassRole" in info.dependent_actions
        and (req.prefix, req.operation) not in PASSED_ROLES
        and req.operation
        not in ("AddRoleToInstanceProfile", "RunInstances", "CreateAutoScalingGroup", "UpdateAutoScalingGroup")
    ):
        notes.add(f"{info.action}: SAR dependent action iam:PassRole not modeled")


def request_checks(req: Request, facts: LogFacts, notes: set) -> list[Check]:
    """Every authorization AWS performs for a request."""
    info = sar.action_info(req.prefix, req.operation)
    if info is None:
        notes.add(f'{req.action}: not in the SAR; needs Resource "*"')
        return [Check(req.action, UNKNOWN, {"aws:requestedregion": [req.region]}, "", "request")]
    checks = resource_checks(req, info, facts, notes)
    dependent_action_notes(req, info, notes)
    return checks + pass_role_checks(req, facts, notes) + tag_on_create_checks(req, info, checks)
