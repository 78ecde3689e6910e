"""`mlops-workshop iam-report`: for each IAM role of the stacks on the local cloud, what the runs recorded in its
decision log (<state>/localcloud/iam/decisions/) show: the actions the role used, the grants it never used (per
statement and action of its policies, as IAM Access Analyzer reports unused access), and the calls it was denied.

    mlops-workshop iam-report                     # the demo's state folder, as text
    mlops-workshop iam-report --json              # the same as JSON
    mlops-workshop iam-report --role MLOps-Pipeline-us-east-1 --state-dir .state

A grant counts as used when a call the role was allowed matches its action and resource (its conditions are not
re-evaluated). An unused grant whose statement the stack's template notes (`# In an account only: <why>`, `# Not in
every run: <when>`, template_roles.py) shows the note; any other is a candidate for removal. The local cloud must be
running on the state folder, or is started to read the roles and stopped again.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import template_roles
from .cli import BAD_INPUT, CommandError
from .localcloud import lifecycle
from .localcloud.iam.decisions import DecisionLog
from .localcloud.iam.policy import Statement
from .modelserver import free_port
from .target import DEFAULT_STATE_DIR, CloudSession, cloud_dir, state_dir_option

LIVE_STACKS = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "ROLLBACK_COMPLETE",
               "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "CREATE_FAILED", "UPDATE_ROLLBACK_FAILED")


@dataclass
class Grant:
    """One action (or NotAction) of one Allow statement of one of the role's policies."""

    policy: str
    statement: str
    action: str
    resources: list[str]
    calls: int = 0
    note: str = ""             # why the template says no run may use it (`# In an account only: ...`)


@dataclass
class RoleReport:
    role: str
    arn: str
    stack: str
    logical_id: str
    decisions: int = 0
    used: dict[str, int] = field(default_factory=dict)
    unused: list[Grant] = field(default_factory=list)
    denied: list[dict[str, Any]] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)


def stack_roles(session: Any) -> list[tuple[str, str, str, dict[str, str]]]:
    """(stack, logical id, role name, {statement id: account-only note}) of every role the stacks made."""
    cfn = session.client("cloudformation")
    found = []
    for summary in cfn.list_stacks(StackStatusFilter=list(LIVE_STACKS))["StackSummaries"]:
        name = summary["StackName"]
        resources = cfn.describe_stack_resources(StackName=name)["StackResources"]
        roles = [r for r in resources if r["ResourceType"] == "AWS::IAM::Role" and r.get("PhysicalResourceId")]
        if not roles:
            continue
        notes: dict[str, str] = {}
        try:
            body = cfn.get_template(StackName=name)["TemplateBody"]
            text = body if isinstance(body, str) else json.dumps(body)
            notes = {f"{s.role}/{s.policy}/{s.sid}": f"{s.note_kind}: {s.note}"
                     for s in template_roles.statements(text, name) if s.note_kind}
        except Exception:   # a template the reader cannot parse: no notes
            notes = {}
        for role in roles:
            found.append((name, role["LogicalResourceId"], role["PhysicalResourceId"], notes))
    return found


def role_policies(iam: Any, name: str) -> list[tuple[str, dict[str, Any]]]:
    """(policy name or ARN, document) of the role's inline and attached managed policies."""
    policies = []
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
        policies.append((policy, json.loads(document) if isinstance(document, str) else document))
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        meta = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=meta["DefaultVersionId"])
        document = version["PolicyVersion"]["Document"]
        policies.append((attached["PolicyArn"], json.loads(document) if isinstance(document, str) else document))
    return policies


def grants_of(policies: list[tuple[str, dict[str, Any]]], logical_id: str,
              notes: dict[str, str]) -> list[tuple[Grant, Statement]]:
    """Each action (or the NotAction) of each Allow statement, with a statement that matches it alone."""
    found = []
    for source, document in policies:
        raw = document.get("Statement", [])
        for index, spec in enumerate(raw if isinstance(raw, list) else [raw]):
            if spec.get("Effect") != "Allow":
                continue
            sid = str(spec.get("Sid") or f"#{index}")
            bare = {k: v for k, v in spec.items() if k not in ("Action", "NotAction", "Condition")}
            resources = _listed(spec.get("Resource")) or [f"NotResource {r}" for r in _listed(spec.get("NotResource"))]
            note = notes.get(f"{logical_id}/{source}/{spec.get('Sid', '')}", "")
            if "NotAction" in spec:
                grant = Grant(source, sid, "NotAction " + ", ".join(_listed(spec["NotAction"])), resources,
                              note=note)
                found.append((grant, Statement({**bare, "NotAction": spec["NotAction"]}, source)))
                continue
            for action in _listed(spec.get("Action")):
                found.append((Grant(source, sid, action, resources, note=note),
                              Statement({**bare, "Action": action}, source)))
    return found


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [] if value is None else [str(value)]


def report_role(role: RoleReport, grants: list[tuple[Grant, Statement]], decisions: list[dict[str, Any]]
                ) -> RoleReport:
    role.decisions = len(decisions)
    allowed = [d for d in decisions if d.get("allowed") and d.get("kind") == "role-session"]
    role.used = dict(sorted(Counter(d["action"] for d in allowed).items()))
    for grant, matcher in grants:
        grant.calls = sum(1 for d in allowed if matcher.action_matches(d["action"])
                          and matcher.resource_matches(d.get("resource", "*"), {}))
        role.grants.append(grant)
    role.unused = [g for g in role.grants if not g.calls]
    denied = Counter((d["action"], d.get("resource", "*"), d.get("why") or "") for d in decisions
                     if not d.get("allowed"))
    role.denied = [{"action": a, "resource": r, "why": w, "calls": n} for (a, r, w), n in sorted(denied.items())]
    return role


def build_report(session: Any, state_dir: Path) -> list[RoleReport]:
    iam = session.client("iam")
    log = DecisionLog(cloud_dir(state_dir) / "iam" / "decisions")
    reports = []
    for stack, logical, name, notes in stack_roles(session):
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
        role = RoleReport(name, arn, stack, logical)
        reports.append(report_role(role, grants_of(role_policies(iam, name), logical, notes), log.read(arn)))
    return reports


def text(reports: list[RoleReport]) -> str:
    lines = []
    for role in reports:
        lines.append(f"Role {role.role} (stack {role.stack}, {role.logical_id}): {role.decisions} decisions, "
                     f"{len(role.used)} actions used, {len(role.unused)} of {len(role.grants)} grants never used, "
                     f"{sum(d['calls'] for d in role.denied)} calls denied")
        for action, calls in role.used.items():
            lines.append(f"  used    {action:<44} {calls:>5} call(s)")
        for grant in role.unused:
            where = ", ".join(grant.resources)
            why = f"  ({grant.note})" if grant.note else ""
            lines.append(f"  unused  {grant.policy}/{grant.statement}: {grant.action} on {where}{why}")
        for denial in role.denied:
            lines.append(f"  denied  {denial['action']} on {denial['resource']} ({denial['calls']} call(s))")
        lines.append("")
    if not reports:
        lines.append("No stack on this local cloud made an IAM role (run `mlops-workshop demo` first).")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-workshop iam-report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="the demo's state folder")
    parser.add_argument("--role", help="only this role (its name)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)
    folder = cloud_dir(args.state_dir)
    if not (folder / "iam" / "decisions").is_dir():
        raise CommandError(f"no decision log in {folder / 'iam' / 'decisions'}: run `mlops-workshop demo"
                           f"{state_dir_option(args.state_dir)}` first", BAD_INPUT)
    status = lifecycle.status(folder)
    started = not status["running"]
    if started:
        print(f"starting the local cloud on {folder} to read its roles (stopped again after)", file=sys.stderr)
        status = lifecycle.start(folder, port=free_port())
    try:
        reports = build_report(CloudSession(status["endpoint"]), args.state_dir)
    finally:
        if started:
            lifecycle.stop(folder)
    if args.role:
        reports = [r for r in reports if r.role == args.role]
        if not reports:
            raise CommandError(f"no role {args.role} in the stacks' roles", BAD_INPUT)
    if args.json:
        print(json.dumps([{k: v for k, v in asdict(r).items() if k != "grants"} for r in reports], indent=2))
    else:
        print(text(reports), end="")
    return 0
