"""The function's IAM policy, read from the SAM template and instantiated for one app.

Parses CloudFormation YAML with its short-form intrinsics (!Sub, !Ref, !GetAtt, !If, !Split,
!Join, !Select, !Not, !Equals, !And, !Or, !Condition), resolves them for given parameter
values, and returns the statements of the role's inline policies plus those of every
AWS::IAM::RolePolicy / AWS::IAM::Policy / AWS::IAM::ManagedPolicy attached to it whose
Condition holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from iam_policy import Statement, as_list, parse_policy

NO_VALUE = object()  # AWS::NoValue: the element is dropped


class CfnLoader(yaml.SafeLoader):
    """A YAML loader that turns short-form intrinsics into their long form."""


def _intrinsic(loader: CfnLoader, suffix: str, node: yaml.Node):
    """`!Name value` as `{"Fn::Name": value}` (`!Ref`/`!Condition` keep their names)."""
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def parse_template(path: str) -> dict:
    """The template at `path` as plain data with long-form intrinsics."""
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader


@dataclass
class Stack:
    """A template instantiated with parameter values in one account and region."""

    template: dict
    parameters: dict
    region: str
    account: str
    notes: set = field(default_factory=set)

    @property
    def partition(self) -> str:
        """The partition of the region."""
        return (
            "aws-cn" if self.region.startswith("cn-") else "aws-us-gov" if self.region.startswith("us-gov-") else "aws"
        )

    @property
    def resources(self) -> dict:
        """The template's Resources."""
        return self.template.get("Resources") or {}

    def pseudo(self, name: str):
        """A pseudo parameter's value."""
        return {
            "AWS::Partition": self.partition,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": f"pushdeploy-{self.parameters.get('AppName', 'app')}",
            "AWS::NoValue": NO_VALUE,
        }.get(name)


def instantiate(template: dict, overrides: dict, region: str, account: str) -> Stack:
    """The template with parameters at their Default unless overridden."""
    values, missing = {}, []
    for name, spec in (template.get("Parameters") or {}).items():
        raw = overrides.get(name, spec.get("Default"))
        if raw is None:
            missing.append(name)
            continue
        raw = str(raw)
        values[name] = raw.split(",") if spec.get("Type") == "CommaDelimitedList" else raw
    if missing:
        raise ValueError(f"template parameters without a value: {', '.join(missing)}")
    return Stack(template, values, region, account)


def condition(stack: Stack, name: str) -> bool:
    """The value of a named condition."""
    spec = (stack.template.get("Conditions") or {}).get(name)
    if spec is None:
        raise ValueError(f"unknown condition {name}")
    return bool(resolve(stack, spec))


def ref(stack: Stack, name: str):
    """`Ref name`: a parameter, a pseudo parameter, or a resource's plausible physical id."""
    if name in stack.parameters:
        return stack.parameters[name]
    if name.startswith("AWS::"):
        return stack.pseudo(name)
    resource = stack.resources.get(name)
    if resource is None:
        raise ValueError(f"Ref to unknown {name}")
    kind, props = resource.get("Type", ""), resource.get("Properties") or {}
    named = {
        "AWS::IAM::Role": "RoleName",
        "AWS::Logs::LogGroup": "LogGroupName",
        "AWS::Serverless::Function": "FunctionName",
        "AWS::Lambda::Function": "FunctionName",
        "AWS::Events::Rule": "Name",
    }
    if kind in named:
        return resolve(stack, props.get(named[kind])) or f"{stack.pseudo('AWS::StackName')}-{name}"
    if kind in ("AWS::SNS::Topic", "AWS::SQS::Queue"):
        return get_att(stack, name, "Arn" if kind == "AWS::SNS::Topic" else "QueueUrl")
    return f"{name}-physical-id"


def get_att(stack: Stack, name: str, attribute: str):
    """`GetAtt name.attribute`: a plausible value (only ARNs of logs/sqs/lambda/iam/sns/events are real)."""
    resource = stack.resources.get(name) or {}
    kind, props = resource.get("Type", ""), resource.get("Properties") or {}
    prefix = f"arn:{stack.partition}"
    where = f"{stack.region}:{stack.account}"
    default = f"{stack.pseudo('AWS::StackName')}-{name}"

    def prop(key):  # a resolved property, or the name CloudFormation would generate
        return resolve(stack, props.get(key)) or default

    arns = {
        "AWS::Logs::LogGroup": lambda: f"{prefix}:logs:{where}:log-group:{prop('LogGroupName')}:*",
        "AWS::SQS::Queue": lambda: f"{prefix}:sqs:{where}:{prop('QueueName')}",
        "AWS::SNS::Topic": lambda: f"{prefix}:sns:{where}:{prop('TopicName')}",
        "AWS::IAM::Role": lambda: f"{prefix}:iam::{stack.account}:role/{prop('RoleName')}",
        "AWS::Serverless::Function": lambda: f"{prefix}:lambda:{where}:function:{prop('FunctionName')}",
        "AWS::Lambda::Function": lambda: f"{prefix}:lambda:{where}:function:{prop('FunctionName')}",
        "AWS::Events::Rule": lambda: f"{prefix}:events:{where}:rule/{prop('Name')}",
    }
    if attribute == "Arn" and kind in arns:
        return arns[kind]()
    if kind == "AWS::SQS::Queue" and attribute == "QueueName":
        return prop("QueueName")
    if kind == "AWS::SQS::Queue" and attribute == "QueueUrl":
        return f"https://sqs.{stack.region}.amazonaws.com/{stack.account}/{prop('QueueName')}"
    stack.notes.add(f"template: GetAtt {name}.{attribute} is a placeholder")
    return f"{prefix}:placeholder:{where}:{name}.{attribute}"


def substitute(stack: Stack, text: str, variables: dict) -> str:
    """`Fn::Sub`: ${Name}, ${Resource.Attribute} and ${!Literal}."""

    def one(match: re.Match) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in variables:
            value = resolve(stack, variables[name])
        elif "." in name and name.split(".", 1)[0] in stack.resources:
            value = get_att(stack, *name.split(".", 1))
        else:
            value = ref(stack, name)
        return ",".join(value) if isinstance(value, list) else str(value)

    return re.sub(r"\$\{([^}]+)\}", one, text)


def _fn_sub(stack: Stack, v):
    """`Fn::Sub` in its string or [string, variables] form."""
    text, variables = (v[0], v[1]) if isinstance(v, list) else (v, {})
    return substitute(stack, text, variables)


def _fn_join(stack: Stack, v):
    """`Fn::Join` [delimiter, list]."""
    items = resolve(stack, v[1])
    return str(v[0]).join(str(x) for x in as_list(items))


def _fn_split(stack: Stack, v):
    """`Fn::Split` [delimiter, string]."""
    return str(resolve(stack, v[1])).split(v[0])


def _fn_if(stack: Stack, v):
    """`Fn::If` [condition, then, else]."""
    return resolve(stack, v[1] if condition(stack, v[0]) else v[2])


def _fn_select(stack: Stack, v):
    """`Fn::Select` [index, list]."""
    return as_list(resolve(stack, v[1]))[int(resolve(stack, v[0]))]


INTRINSICS = {
    "Ref": ref,
    "Condition": condition,
    "Fn::Sub": _fn_sub,
    "Fn::Join": _fn_join,
    "Fn::Split": _fn_split,
    "Fn::If": _fn_if,
    "Fn::Select": _fn_select,
    "Fn::GetAtt": lambda stack, v: get_att(stack, *(v if isinstance(v, list) else v.split(".", 1))),
    "Fn::Equals": lambda stack, v: str(resolve(stack, v[0])) == str(resolve(stack, v[1])),
    "Fn::Not": lambda stack, v: not resolve(stack, v[0]),
    "Fn::And": lambda stack, v: all(resolve(stack, x) for x in v),
    "Fn::Or": lambda stack, v: any(resolve(stack, x) for x in v),
}


def resolve(stack: Stack, node):
    """A template value with every intrinsic function resolved (AWS::NoValue dropped)."""
    if isinstance(node, dict):
        if len(node) == 1:
            ((key, value),) = node.items()
            if key in INTRINSICS:
                return INTRINSICS[key](stack, value)
            if key.startswith("Fn::"):
                stack.notes.add(f"template: {key} is not supported; its value is a placeholder")
                return f"<{key}>"
        resolved = {k: resolve(stack, v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}
    if isinstance(node, list):
        return [x for x in (resolve(stack, v) for v in node) if x is not NO_VALUE]
    return node


def _attached_to(resource: dict, role: str) -> bool:
    """Whether an IAM policy resource names the role (by Ref) among its roles."""
    props = resource.get("Properties") or {}
    names = as_list(props.get("RoleName")) + as_list(props.get("Roles"))
    return any(n in ({"Ref": role}, role) for n in names)


def role_policies(stack: Stack, role: str) -> list[Statement]:
    """The statements of the role's inline policies and of the policy resources attached to it."""
    resource = stack.resources.get(role)
    if resource is None:
        raise ValueError(f"template has no resource {role}")
    props = resolve(stack, resource.get("Properties") or {})
    statements = []
    for policy in props.get("Policies") or []:
        statements += parse_policy(policy.get("PolicyDocument") or {}, policy.get("PolicyName", role))
    for arn in props.get("ManagedPolicyArns") or []:
        stack.notes.add(
            f"template: managed policy {arn} on {role} is not evaluated (its content is not in the template)"
        )
    for name, other in stack.resources.items():
        kind = other.get("Type")
        if kind not in ("AWS::IAM::RolePolicy", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            continue
        if not _attached_to(other, role) or ("Condition" in other and not condition(stack, other["Condition"])):
            continue
        document = resolve(stack, (other.get("Properties") or {}).get("PolicyDocument") or {})
        statements += parse_policy(document, name)
    return statements
