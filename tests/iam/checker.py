"""Checks every logged request against the policy of its principal and collects the denials."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import cfn_template
from iam_policy import Statement, display, evaluate, parse_policy
from request_checks import LogFacts, Request, learn_facts, request_checks

FUNCTION_ROLE = "FunctionRole"


@dataclass
class Denial:
    """One distinct denied (principal, action, resource), with what was expected to allow it."""

    principal: str
    action: str
    resource: str
    origin: str
    request: str
    explanation: str
    line: int = 0
    count: int = 0


@dataclass
class Report:
    """The outcome of checking a log."""

    checked: Counter = field(default_factory=Counter)
    denied_requests: int = 0
    denials: dict = field(default_factory=dict)
    notes: set = field(default_factory=set)

    @property
    def denied(self) -> bool:
        """Whether any request was denied."""
        return self.denied_requests > 0


def summarize(req: Request, limit: int = 160) -> str:
    """The request's operation and a short summary of its parameters."""

    def short(v) -> str:
        if isinstance(v, list):
            return f"[{short(v[0])}{', ...' if len(v) > 1 else ''}]" if v else "[]"
        if isinstance(v, dict):
            return "{...}"
        return str(v)

    text = ", ".join(f"{k}={short(v)}" for k, v in req.params.items())
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{req.service}:{req.operation}({text})"


def load_laptop_policy(path: str) -> list[Statement]:
    """The statements of the laptop's IAM policy."""
    with open(path, encoding="utf-8") as f:
        return parse_policy(json.load(f), "bootstrap-policy")


class Policies:
    """The policy of each principal: the template's function role per app, the laptop policy."""

    def __init__(
        self, template: dict, laptop: list[Statement], overrides: dict | None = None, removed: str | None = None
    ):
        """Policies from a parsed template and the laptop policy, less the statement `removed`."""
        self.template, self.laptop, self.overrides, self.removed = template, laptop, overrides or {}, removed
        self.notes: set = set()
        self._cache: dict = {}

    def function_statements(self, app: str | None, cluster: str | None, region: str, account: str) -> list[Statement]:
        """The function role's statements for one app (AppName, ClusterName, ExecutionRoleArn from it)."""
        key = (app, cluster, region, account)
        if key not in self._cache:
            if not app or not cluster:
                raise ValueError("a function request needs its app and cluster to instantiate the template")
            params = {
                "AppName": app,
                "ClusterName": cluster,
                "ExecutionRoleArn": f"arn:aws:iam::{account}:role/pushdeploy-{app}-execution",
                **self.overrides,
            }
            stack = cfn_template.instantiate(self.template, params, region, account)
            self._cache[key] = cfn_template.role_policies(stack, FUNCTION_ROLE)
            self.notes |= stack.notes
        return self._cache[key]

    def for_request(self, req: Request) -> list[Statement]:
        """The statements a request is checked against (without a removed Sid)."""
        if req.principal == "function":
            statements = self.function_statements(req.app, req.cluster, req.region, req.account)
        elif req.principal == "cli":
            statements = self.laptop
        else:
            raise ValueError(f"unknown principal {req.principal!r}")
        return [s for s in statements if s.sid != self.removed]

    def sids(self) -> set[str]:
        """Every Sid of the laptop policy and of the template instantiated for a sample app."""
        sample = self.function_statements("app", "cluster", "us-east-1", "123456789012")
        return {s.sid for s in self.laptop + sample}


def record(report: Report, req: Request, action: str, resource: str, origin: str, explanation: str) -> None:
    """Count one denied check under its distinct (principal, action, resource)."""
    key = (req.principal, action, resource)
    if key not in report.denials:
        report.denials[key] = Denial(
            req.principal, action, display(resource), origin, summarize(req), explanation, req.line
        )
    report.denials[key].count += 1


def check_request(
    report: Report, req: Request, policies_for: Callable[[Request], list[Statement]], facts: LogFacts
) -> None:
    """Check one request and record its denials."""
    report.checked[req.principal] += 1
    try:
        statements = policies_for(req)
    except ValueError as e:
        record(report, req, req.action, "*", "request", f"cannot build the policy: {e}")
        report.denied_requests += 1
        return
    denied = False
    for check in request_checks(req, facts, report.notes):
        decision = evaluate(statements, check)
        report.notes.update(f"{check.action}: {u}" for u in decision.uncomputed)
        if not decision.allowed:
            record(report, req, check.action, check.resource, check.origin, decision.explanation)
            denied = True
    report.denied_requests += denied


def check_log(requests: list[Request], policies_for: Callable[[Request], list[Statement]]) -> Report:
    """Check every request of principal function or cli (set-up requests, "other", only teach facts)."""
    report, facts = Report(), learn_facts(requests)
    for req in requests:
        if req.principal != "other":
            check_request(report, req, policies_for, facts)
    report.notes |= facts.assumed
    return report
