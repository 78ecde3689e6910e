"""What CloudFormation calls to create, update and delete the resources moto provisions itself (moto's models write
to its backends directly), judged as the stack's principal before moto acts, so that a stack deployed with a role
the role does not let make them fails as on AWS, with the resource handler's AccessDenied.

The calls of the moto-made type the project's stacks deploy with a service role are spelled out from its properties,
as CloudFormation's handler makes them (AWS::IAM::Role; an update calls only for what changed); any other type is
judged by one
permission of its handler in CloudFormation's resource schema (cfn-lint ships the schemas): the first of its
Create/Put/Add actions to create, Update/Put to update, Delete/Remove to delete. The IAM actions' resources come from
the Service Authorization Reference, built from these parameters, as for any call.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .exceptions import HandlerDenied

if TYPE_CHECKING:
    from .service import CloudFormationService

# What a handler needs: (IAM action, the parameters naming its resource), or ("iam:PassRole", role, service).
Needs = list[tuple[Any, ...]]
VERBS = {"create": ("Create", "Put", "Add"), "update": ("Update", "Put"), "delete": ("Delete", "Remove")}


def _role(name: str, p: dict[str, Any], verb: str, current: Any = None) -> Needs:
    role = {"RoleName": name, "Path": p.get("Path") or "/"}
    policies = {str(policy.get("PolicyName")): policy.get("PolicyDocument") for policy in p.get("Policies") or []}
    managed = [str(arn) for arn in p.get("ManagedPolicyArns") or []]
    if verb == "delete":
        return ([("iam:ListAttachedRolePolicies", role), ("iam:ListRolePolicies", role)]
                + [("iam:DetachRolePolicy", {**role, "PolicyArn": arn}) for arn in managed]
                + [("iam:DeleteRolePolicy", {**role, "PolicyName": policy}) for policy in policies]
                + [("iam:DeleteRole", role)])
    if verb == "update" and current is not None:
        return _role_changes(role, p, policies, managed, current)
    needs: Needs = [("iam:CreateRole", role)] if verb == "create" else [("iam:UpdateAssumeRolePolicy", role)]
    if p.get("Tags"):
        needs.append(("iam:TagRole", role))
    needs += [("iam:PutRolePolicy", {**role, "PolicyName": policy}) for policy in policies]
    needs += [("iam:AttachRolePolicy", {**role, "PolicyArn": arn}) for arn in managed]
    return needs + [("iam:GetRole", role)] if verb == "create" else needs


def _role_changes(role: dict[str, Any], p: dict[str, Any], policies: dict[str, Any], managed: list[str],
                  current: Any) -> Needs:
    """The calls the role's update handler makes: only for what differs from the role as it is."""
    def document(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value
    needs: Needs = []
    if document(p.get("AssumeRolePolicyDocument")) != document(current.assume_role_policy_document):
        needs.append(("iam:UpdateAssumeRolePolicy", role))
    needs += [("iam:PutRolePolicy", {**role, "PolicyName": name}) for name, policy in policies.items()
              if name not in current.policies or document(current.policies[name]) != document(policy)]
    needs += [("iam:DeleteRolePolicy", {**role, "PolicyName": name}) for name in current.policies
              if name not in policies]
    needs += [("iam:AttachRolePolicy", {**role, "PolicyArn": arn}) for arn in managed
              if arn not in current.managed_policies]
    needs += [("iam:DetachRolePolicy", {**role, "PolicyArn": arn}) for arn in current.managed_policies
              if arn not in managed]
    return needs


CALLS = {"AWS::IAM::Role": _role}


@functools.lru_cache(maxsize=1)
def _schemas() -> tuple[Path, dict[str, str]]:
    import cfnlint.data.schemas
    folder = Path(cfnlint.data.schemas.__file__).parent
    return folder, json.loads((folder / "providers" / "us-east-1.json").read_text())


@functools.lru_cache(maxsize=256)
def handler_permissions(kind: str, verb: str) -> tuple[str, ...]:
    """The permissions CloudFormation's resource schema lists for a type's handler (create, update, delete, read)."""
    folder, types = _schemas()
    if kind not in types:
        return ()
    schema = json.loads((folder / "resources" / f"{types[kind]}.json").read_text())
    return tuple(((schema.get("handlers") or {}).get(verb) or {}).get("permissions") or ())


def needs(kind: str, verb: str, name: str, properties: dict[str, Any], name_property: str | None,
          current: Any = None) -> Needs:
    """What the handler calls (`current`: the resource as it is, for an update of a type in CALLS)."""
    if kind in CALLS:
        return CALLS[kind](name, properties, verb, current)
    for permission in handler_permissions(kind, verb):
        if re.match(rf"^[a-z0-9-]+:({'|'.join(VERBS[verb])})", permission):
            return [(permission, {**properties, **({name_property: name} if name_property else {}), "Name": name})]
    return []


def check(service: "CloudFormationService", stack_id: str, kind: str, verb: str, name: str,
          properties: dict[str, Any], region: str, name_property: str | None = None, current: Any = None) -> None:
    """HandlerDenied when the stack's principal may not make the calls of `verb` on this resource."""
    principal = service.principal(stack_id)
    if principal is None or principal.kind == "administrator":
        return
    iam = service.cloud.service("iam")
    for need in needs(kind, verb, name, properties, name_property, current):
        if need[0] == "iam:PassRole":
            verdict = iam.check_pass_role(principal, need[1], need[2])
            if not verdict.allowed:
                raise HandlerDenied(verdict.message)
            continue
        action = iam.catalog.action(need[0])
        if action is None:
            continue
        for resource in iam.describer.needs_of(action, need[1], region, None):
            verdict = iam.judge(principal, need[0], resource.resource)
            if not verdict.allowed:
                raise HandlerDenied(verdict.message)
