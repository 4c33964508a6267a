"""IAM identity-policy evaluation, as far as this checker needs it.

Explicit Deny wins over Allow; Action/NotAction match case-insensitively with `*` and `?`;
Resource/NotResource match case-sensitively with `*` and `?`; Condition supports the String,
Arn, Bool and Null operators with `ForAnyValue:`/`ForAllValues:` and `...IfExists`.

A resource ARN may hold UNKNOWN parts (an id AWS assigns later, or a whole ARN the request does
not name). An Allow must match it whatever the unknown part is (checked with two probe values
no policy can contain); a Deny applies when it could match some value. A condition key the
checker cannot compute makes an Allow not apply and a Deny apply (both conservative).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

UNKNOWN = "\x00"  # stands for a part of an ARN the request does not tell
UNKNOWN_VALUE = object()  # a condition key whose value the checker cannot compute
_PROBES = ("\x01", "\x01" * 13)

# Condition keys the checker computes for every request; absent from a request's context they
# are known to be absent (AWS would not set them either), any other key is unknown.
COMPUTED_KEYS = {
    "aws:requestedregion",
    "aws:resourceaccount",
    "iam:passedtoservice",
    "iam:policyarn",
    "iam:awsservicename",
    "aws:tagkeys",
    "iam:permissionsboundary",
}


@dataclass
class Statement:
    """One policy statement, with where it came from."""

    sid: str
    policy: str
    effect: str
    actions: list[str] | None
    not_actions: list[str] | None
    resources: list[str] | None
    not_resources: list[str] | None
    condition: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How reports name the statement."""
        return self.sid or f"{self.policy}[unnamed]"


@dataclass
class Check:
    """One authorization AWS performs for a request: an action on a resource in a context."""

    action: str
    resource: str
    context: dict
    resource_type: str = ""
    origin: str = ""


@dataclass
class Decision:
    """The outcome of evaluating a check against a policy."""

    allowed: bool
    explanation: str = ""
    uncomputed: list[str] = field(default_factory=list)


def as_list(value) -> list:
    """A policy element as a flat list (strings stay whole)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in as_list(v)]
    return [value]


def _element(statement: dict, key: str) -> list[str] | None:
    """A statement element as a list of strings, None when the statement lacks it."""
    return [str(x) for x in as_list(statement[key])] if key in statement else None


def parse_policy(document: dict, policy_name: str) -> list[Statement]:
    """The statements of a policy document (unnamed ones get `<policy>#<index>`)."""
    statements = []
    for i, s in enumerate(as_list(document.get("Statement"))):
        statements.append(
            Statement(
                str(s.get("Sid") or ""),
                policy_name,
                s.get("Effect", "Allow"),
                _element(s, "Action"),
                _element(s, "NotAction"),
                _element(s, "Resource"),
                _element(s, "NotResource"),
                dict(s.get("Condition") or {}),
            )
        )
        if not statements[-1].sid:
            statements[-1].sid = f"{policy_name}#{i}"
    return statements


@functools.cache
def _glob_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """The regex of an IAM wildcard pattern; policy variables other than ${*} ${?} ${$} never match."""
    out = []
    for token in re.split(r"(\$\{[^}]*\}|\*|\?)", pattern):
        if token == "*":
            out.append(".*")
        elif token == "?":
            out.append(".")
        elif token in ("${*}", "${?}", "${$}"):
            out.append(re.escape(token[2]))
        elif token.startswith("${"):
            out.append("(?!)")
        else:
            out.append(re.escape(token))
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """Whether an IAM wildcard pattern (`*`, `?`) matches a whole value."""
    return _glob_regex(pattern, ignore_case).fullmatch(value) is not None


def arn_match(pattern: str, arn: str) -> bool:
    """IAM ARN matching: each of the six colon-separated components on its own, so a wildcard
    does not span components (the resource part keeps its own colons); `*` alone matches all."""
    p_parts, a_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(p_parts) != 6 or len(a_parts) != 6:
        return glob_match(pattern, arn)
    return all(glob_match(p, a) for p, a in zip(p_parts, a_parts, strict=True))


def covers(pattern: str, arn: str) -> bool:
    """Whether a pattern matches the ARN whatever its unknown parts are."""
    if UNKNOWN not in arn:
        return arn_match(pattern, arn)
    return all(arn_match(pattern, arn.replace(UNKNOWN, p)) for p in _PROBES)


def may_match(pattern: str, arn: str) -> bool:
    """Whether a pattern matches the ARN for some value of its unknown parts (whole-string
    glob intersection: wider than arn_match, which suits a Deny)."""
    if UNKNOWN not in arn:
        return arn_match(pattern, arn)
    # meets[i][j]: pattern[i:] and arn[j:] can match the same string (`*` in the pattern and
    # UNKNOWN in the ARN each stand for any string).
    n, m = len(pattern), len(arn)
    meets = [[False] * (m + 1) for _ in range(n + 1)]
    meets[n][m] = True
    for i in range(n, -1, -1):
        for j in range(m, -1, -1):
            p, a = pattern[i] if i < n else None, arn[j] if j < m else None
            if p == "*":
                meets[i][j] = meets[i + 1][j] or (a is not None and meets[i][j + 1])
            elif a == UNKNOWN:
                meets[i][j] = meets[i][j + 1] or (p is not None and meets[i + 1][j])
            elif p is not None and a is not None:
                meets[i][j] = (p in ("?", a)) and meets[i + 1][j + 1]
    return meets[0][0]


def display(arn: str) -> str:
    """An ARN as reports show it: unknown parts as {?}."""
    return "*(not derivable)" if arn == UNKNOWN else arn.replace(UNKNOWN, "{?}")


def action_matches(statement: Statement, action: str) -> bool:
    """Whether the statement's Action/NotAction covers the action."""
    if statement.actions is not None:
        return any(glob_match(p, action, ignore_case=True) for p in statement.actions)
    if statement.not_actions is not None:
        return not any(glob_match(p, action, ignore_case=True) for p in statement.not_actions)
    return False


def resource_matches(statement: Statement, arn: str, for_deny: bool) -> bool:
    """Whether the statement's Resource/NotResource covers the ARN (an Allow for every value of
    its unknown parts, a Deny for some value)."""
    if statement.resources is not None:
        test = may_match if for_deny else covers
        return any(test(p, arn) for p in statement.resources)
    if statement.not_resources is not None:
        test = covers if for_deny else may_match
        return not any(test(p, arn) for p in statement.not_resources)
    return False


def context_value(context: dict, key: str):
    """A key's values in the request context: a list, None (absent) or UNKNOWN_VALUE."""
    k = key.lower()
    if k in context:
        return context[k]
    computed = k in COMPUTED_KEYS or k.startswith("aws:requesttag/") or k.endswith(":createaction")
    return None if computed else UNKNOWN_VALUE


def _string_test(base: str):
    """The comparison of one policy value with one context value for an operator family."""
    if base == "stringequals":
        return lambda p, v: p == v
    if base == "stringequalsignorecase":
        return lambda p, v: p.lower() == v.lower()
    if base == "stringlike":
        return glob_match
    if base in ("arnlike", "arnequals"):  # the same in IAM: both take wildcards
        return arn_match
    if base == "bool":
        return lambda p, v: p.lower() == v.lower()
    return None


def _split_operator(operator: str) -> tuple[str, str, bool, bool]:
    """(set qualifier, base operator, negated, if-exists) of a condition operator."""
    qualifier, _, op = operator.rpartition(":")
    op = op.lower()
    if_exists = op.endswith("ifexists") and op != "ifexists"
    op = op.removesuffix("ifexists")
    negated = "not" in op
    base = op.replace("not", "")
    return qualifier.lower(), base, negated, if_exists


def condition_holds(operator: str, key: str, policy_values, context: dict) -> bool | None:
    """Whether one condition (operator, key, values) holds; None when the key or operator is unknown."""
    qualifier, base, negated, if_exists = _split_operator(operator)
    values = context_value(context, key)
    if values is UNKNOWN_VALUE:
        return None
    wanted = [str(v) for v in as_list(policy_values)]
    if base == "null":
        return (values is None) == (wanted[0].lower() == "true")
    test = _string_test(base)
    if test is None:
        return None
    if values is None:
        return if_exists or qualifier == "forallvalues" or (negated and not qualifier)

    def one(v: str) -> bool:
        hit = any(test(p, v) for p in wanted)
        return not hit if negated else hit

    if qualifier == "forallvalues":
        return all(one(v) for v in values)
    return any(one(v) for v in values)


def conditions_hold(statement: Statement, context: dict) -> tuple[bool | None, str]:
    """Whether all of a statement's conditions hold (None if one cannot be computed), and why not."""
    unknown = None
    for operator, block in statement.condition.items():
        for key, wanted in (block or {}).items():
            base = _split_operator(operator)[1]
            if base != "null" and _string_test(base) is None:
                unknown = f"condition operator {operator} not supported"
                continue
            result = condition_holds(operator, key, wanted, context)
            if result is False:
                got = context_value(context, key)
                return False, f"{operator} {key} {as_list(wanted)} is false (request: {got or 'absent'})"
            if result is None:
                unknown = f"cannot compute condition {operator} {key}"
    return (None, unknown) if unknown else (True, "")


def evaluate(statements: list[Statement], check: Check) -> Decision:
    """Evaluate one check: explicit Deny wins, then any Allow; else explain the near misses."""
    uncomputed = []
    for s in statements:
        if s.effect == "Deny" and action_matches(s, check.action) and resource_matches(s, check.resource, True):
            holds, why = conditions_hold(s, check.context)
            if holds is not False:
                return Decision(False, f"explicit Deny by {s.label}" + (f" ({why}, assumed to apply)" if why else ""))
    misses = []
    for s in statements:
        if s.effect != "Allow" or not action_matches(s, check.action):
            continue
        if not resource_matches(s, check.resource, False):
            element = f"Resource {s.resources}" if s.resources is not None else f"NotResource {s.not_resources}"
            misses.append(f"{s.label} ({element} does not cover it)")
            continue
        holds, why = conditions_hold(s, check.context)
        if holds:
            return Decision(True)
        if holds is None:
            uncomputed.append(f"{s.label}: {why}")
        misses.append(f"{s.label} ({why}{'; statement not applied' if holds is None else ''})")
    if not misses:
        return Decision(False, f"no statement grants {check.action}")
    return Decision(False, "expected " + "; ".join(misses), uncomputed)
