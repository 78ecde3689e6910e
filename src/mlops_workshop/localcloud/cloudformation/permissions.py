"""What CloudFormation calls to create, update and delete the resources moto provisions itself (moto's models write
to its backends directly), judged as the stack's principal before moto acts, so that a stack deployed with a role
the role does not let make them fails as on AWS, with the resource handler's AccessDenied.

The calls of the types the project's stacks deploy with a service role are spelled out from their properties, as
CloudFormation's handlers make them (AWS::IAM::Role, AWS::Lambda::Function); any other type is judged by one
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


def _role(name: str, p: dict[str, Any], verb: str) -> Needs:
    role = {"RoleName": name, "Path": p.get("Path") or "/"}
    policies = [str(policy.get("PolicyName")) for policy in p.get("Policies") or []]
    managed = [str(arn) for arn in p.get("ManagedPolicyArns") or []]
    if verb == "delete":
        return ([("iam:ListAttachedRolePolicies", role), ("iam:ListRolePolicies", role)]
                + [("iam:DetachRolePolicy", {**role, "PolicyArn": arn}) for arn in managed]
                + [("iam:DeleteRolePolicy", {**role, "PolicyName": policy}) for policy in policies]
                + [("iam:DeleteRole", role)])
    needs: Needs = [("iam:CreateRole", role)] if verb == "create" else [("iam:UpdateAssumeRolePolicy", role)]
    if p.get("Tags"):
        needs.append(("iam:TagRole", role))
    needs += [("iam:PutRolePolicy", {**role, "PolicyName": policy}) for policy in policies]
    needs += [("iam:AttachRolePolicy", {**role, "PolicyArn": arn}) for arn in managed]
    return needs + [("iam:GetRole", role)] if verb == "create" else needs


def _function(name: str, p: dict[str, Any], verb: str) -> Needs:
    function = {"FunctionName": name}
    if verb == "delete":
        return [("lambda:DeleteFunction", function)]
    needs: Needs = [("lambda:CreateFunction", function)] if verb == "create" else [
        ("lambda:UpdateFunctionConfiguration", function), ("lambda:UpdateFunctionCode", function)]
    if p.get("Role"):
        needs.append(("iam:PassRole", str(p["Role"]), "lambda.amazonaws.com"))
    code = p.get("Code") or {}
    if code.get("S3Bucket"):
        # Lambda reads the package with the caller's permissions.
        needs.append(("s3:GetObjectVersion" if code.get("S3ObjectVersion") else "s3:GetObject",
                      {"Bucket": code["S3Bucket"], "Key": code.get("S3Key", "")}))
    if p.get("Tags"):
        needs.append(("lambda:TagResource", function))
    return needs + [("lambda:GetFunction", function)]


CALLS = {"AWS::IAM::Role": _role, "AWS::Lambda::Function": _function}


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


def needs(kind: str, verb: str, name: str, properties: dict[str, Any], name_property: str | None) -> Needs:
    if kind in CALLS:
        return CALLS[kind](name, properties, verb)
    for permission in handler_permissions(kind, verb):
        if re.match(rf"^[a-z0-9-]+:({'|'.join(VERBS[verb])})", permission):
            return [(permission, {**properties, **({name_property: name} if name_property else {}), "Name": name})]
    return []


def check(service: "CloudFormationService", stack_id: str, kind: str, verb: str, name: str,
          properties: dict[str, Any], region: str, name_property: str | None = None) -> None:
    """HandlerDenied when the stack's principal may not make the calls of `verb` on this resource."""
    principal = service.principal(stack_id)
    if principal is None or principal.kind == "administrator":
        return
    iam = service.cloud.service("iam")
    for need in needs(kind, verb, name, properties, name_property):
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
