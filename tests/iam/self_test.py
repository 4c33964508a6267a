"""Built-in checks proving the checker can fail: small synthetic logs and policies, each with a
request that must be allowed and one that must be denied."""

from __future__ import annotations

import os

import cfn_template
import sar
from checker import Policies, Report, check_log
from iam_policy import UNKNOWN, covers, may_match, parse_policy
from request_checks import Request

ACCOUNT, REGION = "123456789012", "us-east-1"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def request(
    principal: str, service: str, operation: str, params: dict, app: str = "shop", cluster: str = "shop"
) -> Request:
    """A synthetic log line."""
    return Request(principal, app, cluster, service, operation, REGION, ACCOUNT, params)


def policy(*statements: dict) -> list:
    """A synthetic policy's statements."""
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)}, "synthetic")


def check(statements: list, *requests: Request) -> Report:
    """Check synthetic requests against one policy."""
    return check_log(list(requests), lambda r: statements)


def explanations(report: Report) -> str:
    """All denial explanations of a report, for assertions and display."""
    return " | ".join(f"{d.action} on {d.resource}: {d.explanation}" for d in report.denials.values())


def test_removed_statement_denies() -> list[str]:
    """(a) A request allowed by a statement is denied once --remove-statement drops it."""
    laptop = policy(
        {
            "Sid": "Config",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": "arn:aws:ssm:*:*:parameter/pushdeploy/*",
        },
        {"Sid": "Other", "Effect": "Allow", "Action": "ecs:ListServices", "Resource": "*"},
    )
    get = request("cli", "ssm", "GetParameter", {"Name": "/pushdeploy/shop/config"})
    kept = check_log([get], Policies({}, laptop).for_request)
    removed = check_log([get], Policies({}, laptop, removed="Config").for_request)
    failures = [] if not kept.denied else [f"allowed request denied: {explanations(kept)}"]
    if not removed.denied or "no statement grants ssm:GetParameter" not in explanations(removed):
        failures.append(f"removing Config did not deny: {explanations(removed)}")
    print(f"    without Config: {explanations(removed)}")
    return failures


def test_service_revisions_need_the_service() -> list[str]:
    """(b) ecs:DescribeServiceRevisions is authorized against service* and service-revision* (SAR)."""
    print("    " + sar.describe("ecs", "DescribeServiceRevisions").replace("\n", "\n    "))
    info = sar.action_info("ecs", "DescribeServiceRevisions")
    required = {t.name for t in info.resource_types if t.required}
    failures = [] if required == {"service", "service-revision"} else [f"SAR required types are {required}"]
    revisions_only = {
        "Sid": "Revisions",
        "Effect": "Allow",
        "Action": "ecs:DescribeServiceRevisions",
        "Resource": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/shop/*",
    }
    describe = request(
        "function",
        "ecs",
        "DescribeServiceRevisions",
        {"serviceRevisionArns": [f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/shop/web/4417853526402543122"]},
    )
    denied = check(policy(revisions_only), describe)
    if not denied.denied or ":service/shop/web" not in explanations(denied) or "Revisions" not in explanations(denied):
        failures.append(f"service ARN not denied: {explanations(denied)}")
    services = {
        "Sid": "Services",
        "Effect": "Allow",
        "Action": "ecs:DescribeServiceRevisions",
        "Resource": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/shop/*",
    }
    allowed = check(policy(revisions_only, services), describe)
    failures += [f"both granted, still denied: {explanations(allowed)}"] if allowed.denied else []
    print(f"    service-revision only: {explanations(denied)}")
    return failures


def test_prefix_wildcard_crosses_apps() -> list[str]:
    """(c) role/pushdeploy-shop-*-task also matches app shop-admin's roles; a per-app path does not.

    App names may contain `-`, so app shop's wildcard covers pushdeploy-shop-admin-web-task, the
    task role of service web of app shop-admin; role/pushdeploy/shop/* cannot reach another app."""

    def pass_role(resource: str) -> list:
        return policy(
            {"Sid": "Register", "Effect": "Allow", "Action": "ecs:RegisterTaskDefinition", "Resource": "*"},
            {
                "Sid": "PassTaskRoles",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": resource,
                "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            },
        )

    def register(role: str) -> Request:
        return request(
            "function",
            "ecs",
            "RegisterTaskDefinition",
            {"family": "shop-admin-web", "taskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/{role}"},
        )

    by_prefix = check(
        pass_role(f"arn:aws:iam::{ACCOUNT}:role/pushdeploy-shop-*-task"), register("pushdeploy-shop-admin-web-task")
    )
    by_path = check(
        pass_role(f"arn:aws:iam::{ACCOUNT}:role/pushdeploy/shop/*"), register("pushdeploy/shop-admin/web-task")
    )
    own = check(pass_role(f"arn:aws:iam::{ACCOUNT}:role/pushdeploy/shop/*"), register("pushdeploy/shop/web-task"))
    failures = []
    if by_prefix.denied:
        failures.append("the prefix wildcard did not match the other app's role")
    if not by_path.denied or own.denied:
        failures.append(f"per-app path: other app {explanations(by_path)!r}, own app {explanations(own)!r}")
    print("    role/pushdeploy-shop-*-task matches role/pushdeploy-shop-admin-web-task (app shop-admin): allowed")
    print(f"    role/pushdeploy/shop/* vs role/pushdeploy/shop-admin/web-task: {explanations(by_path)}")
    return failures


def test_passed_to_service() -> list[str]:
    """(d) iam:PassRole conditioned on iam:PassedToService: ecs-tasks passes, ecs.amazonaws.com does not."""
    statements = policy(
        {
            "Sid": "Create",
            "Effect": "Allow",
            "Action": ["ecs:RegisterTaskDefinition", "ecs:CreateService"],
            "Resource": "*",
        },
        {
            "Sid": "PassToTasks",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": f"arn:aws:iam::{ACCOUNT}:role/pushdeploy-shop-*",
            "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        },
    )
    role = f"arn:aws:iam::{ACCOUNT}:role/pushdeploy-shop-execution"
    tasks = check(
        statements, request("cli", "ecs", "RegisterTaskDefinition", {"family": "shop-web", "executionRoleArn": role})
    )
    service = check(
        statements, request("cli", "ecs", "CreateService", {"cluster": "shop", "serviceName": "web", "role": role})
    )
    failures = [f"ecs-tasks denied: {explanations(tasks)}"] if tasks.denied else []
    if not service.denied or "iam:PassedToService" not in explanations(service):
        failures.append(f"ecs.amazonaws.com not denied: {explanations(service)}")
    print(f"    CreateService role: {explanations(service)}")
    return failures


def test_unknown_condition_key() -> list[str]:
    """(e) A condition on a key the checker cannot compute: an Allow does not apply, a Deny does."""
    get = request("function", "ssm", "GetParameter", {"Name": "/pushdeploy/shop/config"})
    allow = {
        "Sid": "Tagged",
        "Effect": "Allow",
        "Action": "ssm:GetParameter",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalTag/team": "web"}},
    }
    unknown_allow = check(policy(allow), get)
    plain = {"Sid": "Plain", "Effect": "Allow", "Action": "ssm:*", "Resource": "*"}
    deny = {
        "Sid": "NotTeamWeb",
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalTag/team": "web"}},
    }
    unknown_deny = check(policy(plain, deny), get)
    failures = []
    if not unknown_allow.denied or "cannot compute" not in explanations(unknown_allow):
        failures.append(f"unknown key allowed: {explanations(unknown_allow)}")
    if not unknown_deny.denied or "NotTeamWeb" not in explanations(unknown_deny):
        failures.append(f"unknown-key Deny not applied: {explanations(unknown_deny)}")
    if check(policy(plain), get).denied:
        failures.append("the plain Allow did not allow")
    print(f"    {explanations(unknown_allow)}")
    return failures


SYNTHETIC_TEMPLATE = """
Parameters:
  AppName: {Type: String}
  ClusterName: {Type: String}
  ExecutionRoleArn: {Type: String}
  Extra: {Type: CommaDelimitedList, Default: ""}
Conditions:
  HasExtra: !Not [!Equals [!Join ["", !Ref Extra], ""]]
Resources:
  Logs: {Type: AWS::Logs::LogGroup, Properties: {LogGroupName: !Sub "/aws/lambda/${AppName}"}}
  FunctionRole:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyName: main
          PolicyDocument:
            Statement:
              - Sid: Services
                Effect: Allow
                Action: ecs:UpdateService
                Resource: !Sub arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:service/${ClusterName}/*
              - Sid: Pass
                Effect: Allow
                Action: iam:PassRole
                Resource: !If [HasExtra, [!Ref ExecutionRoleArn, "x"], [!Ref ExecutionRoleArn]]
              - Sid: OwnLogs
                Effect: Allow
                Action: logs:PutLogEvents
                Resource: !GetAtt Logs.Arn
  ExtraPolicy:
    Type: AWS::IAM::RolePolicy
    Condition: HasExtra
    Properties:
      RoleName: !Ref FunctionRole
      PolicyDocument:
        Statement:
          - Sid: ExtraImages
            Effect: Allow
            Action: ecr:DescribeImages
            Resource: !Split
              - ","
              - !Sub ["arn:*:ecr:*:*:repository/${Names}", {Names: !Join [",arn:*:ecr:*:*:repository/", !Ref Extra]}]
"""


def test_template_instantiation() -> list[str]:
    """(f) Short-form intrinsics, conditions and attached policies resolve per app."""
    import yaml

    template = yaml.load(SYNTHETIC_TEMPLATE, Loader=cfn_template.CfnLoader)  # noqa: S506
    update = request("function", "ecs", "UpdateService", {"cluster": "shop", "service": "web"})
    images = request("function", "ecr", "DescribeImages", {"repositoryName": "base/runtime"})
    plain, extra = Policies(template, []), Policies(template, [], {"Extra": "base/runtime,tools"})
    failures = []
    if check_log([update], plain.for_request).denied:
        failures.append("the app's service was denied")
    if not check_log(
        [request("function", "ecs", "UpdateService", {"cluster": "other", "service": "web"})], plain.for_request
    ).denied:
        failures.append("another cluster's service was allowed")
    if not check_log([images], plain.for_request).denied or check_log([images], extra.for_request).denied:
        failures.append("the conditional RolePolicy was not applied per its Condition")
    logs = [s for s in plain.function_statements("shop", "shop", REGION, ACCOUNT) if s.sid == "OwnLogs"]
    if not logs or logs[0].resources != [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/shop:*"]:
        failures.append(f"GetAtt LogGroup.Arn resolved to {logs and logs[0].resources}")
    return failures


def test_unknown_arn_parts() -> list[str]:
    """(g) Unknown ARN parts must be covered whatever they are; underivable ARNs need Resource "*".

    A new task-definition revision is assigned by ECS; a scalable target's ARN is not in the request."""
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/shop-web:{UNKNOWN}"
    base = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/"
    failures = []
    if not (covers(base + "*", arn) and covers(base + "shop-web:*", arn)) or covers(base + "shop-web:1", arn):
        failures.append("covers() is wrong for an unknown revision")
    if not may_match(base + "shop-web:1", arn) or may_match(base + "other:*", arn):
        failures.append("may_match() is wrong for an unknown revision")
    put = request(
        "cli",
        "application-autoscaling",
        "PutScalingPolicy",
        {"ServiceNamespace": "ecs", "ResourceId": "service/shop/web", "PolicyName": "cpu"},
    )
    scoped = policy(
        {
            "Sid": "Targets",
            "Effect": "Allow",
            "Action": "application-autoscaling:PutScalingPolicy",
            "Resource": "arn:aws:application-autoscaling:*:*:scalable-target/*",
        }
    )
    anything = policy(
        {"Sid": "Targets", "Effect": "Allow", "Action": "application-autoscaling:PutScalingPolicy", "Resource": "*"}
    )
    if not check(scoped, put).denied or check(anything, put).denied:
        failures.append("an underivable scalable target was not held to Resource *")
    return failures


def test_real_template_parses() -> list[str]:
    """(h) The project's template.yaml instantiates and its FunctionRole has statements."""
    path = os.path.join(ROOT, "template.yaml")
    if not os.path.exists(path):
        return []
    statements = Policies(cfn_template.parse_template(path), []).function_statements("shop", "shop", REGION, ACCOUNT)
    return [] if statements else ["template.yaml's FunctionRole has no statements"]


TESTS = [
    test_removed_statement_denies,
    test_service_revisions_need_the_service,
    test_prefix_wildcard_crosses_apps,
    test_passed_to_service,
    test_unknown_condition_key,
    test_template_instantiation,
    test_unknown_arn_parts,
    test_real_template_parses,
]


def run_self_test() -> int:
    """Run every built-in check; 1 if any failed."""
    failed = 0
    for test in TESTS:
        print(f"{test.__name__}: {test.__doc__.splitlines()[0]}")
        try:
            failures = test()
        except Exception as e:  # a crash is a failure, reported like one
            failures = [f"raised {type(e).__name__}: {e}"]
        for f in failures:
            print(f"    FAIL: {f}")
        print(f"  {'FAIL' if failures else 'ok'}")
        failed += bool(failures)
    print(f"self-test: {len(TESTS) - failed} passed, {failed} failed")
    return 1 if failed else 0
