"""What the IAM service changes in moto:
- AWS managed policies (moto ships their documents) can be attached and read without loading all 1,500 of them
  into every account (moto's `load_aws_managed_policies`, ~0.7 s per reset): one is added to the account the first
  time a call names its ARN;
- an AWS::IAM::Role of a template gets its ManagedPolicyArns attached (moto's CloudFormation drops them), keeps its
  inline policies as JSON text (GetRolePolicy answers them as AWS does, not as Python's repr), and a stack update
  changes its trust policy, inline policies and managed policies (moto's changes only its description)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from moto.iam.models import IAMBackend, Role

if TYPE_CHECKING:
    from .service import IamService

AWS_MANAGED_PREFIX = "arn:aws:iam::aws:policy/"


@lru_cache(maxsize=1)
def _shipped() -> dict[str, dict[str, Any]]:
    """moto's copy of the AWS managed policies, by ARN."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    found = {}
    for name, data in json.loads(aws_managed_policies_data).items():
        found[f"{AWS_MANAGED_PREFIX}{data.get('Path', '/').lstrip('/')}{name}"] = {"name": name, **data}
    return found


def ensure_aws_managed(backend: Any, arn: str) -> None:
    """Add the AWS managed policy `arn` to the account if moto ships it and the account does not have it yet."""
    if not isinstance(arn, str) or not arn.startswith(AWS_MANAGED_PREFIX) or arn in backend.managed_policies:
        return
    data = _shipped().get(arn)
    if data is None:
        return
    from moto.iam.models import AWSManagedPolicy
    policy = AWSManagedPolicy.from_data(data["name"], backend.account_id, backend.region_name, data)
    backend.managed_policies[policy.arn] = policy


def apply(service: "IamService") -> None:
    for name in ("attach_role_policy", "attach_user_policy", "attach_group_policy", "get_policy",
                 "get_policy_version", "put_role_permissions_boundary", "put_user_permissions_boundary"):
        original = IAMBackend.__dict__.get(name)
        if original is None:
            continue
        service.patches.replace(IAMBackend, name, _ensuring(original))


    original = Role.__dict__["create_from_cloudformation_json"].__func__
    original_update = Role.__dict__["update_from_cloudformation_json"].__func__

    def create_from_cloudformation_json(cls: Any, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> Any:
        role = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        _template_policies(role, cloudformation_json.get("Properties") or {}, account_id)
        return role

    def update_from_cloudformation_json(cls: Any, original_resource: Any, new_resource_name: str,
                                        cloudformation_json: dict[str, Any], account_id: str,
                                        region_name: str) -> Any:
        role = original_update(cls, original_resource, new_resource_name, cloudformation_json, account_id,
                               region_name)
        properties = cloudformation_json.get("Properties") or {}
        trust = properties.get("AssumeRolePolicyDocument")
        if trust is not None:
            role.assume_role_policy_document = trust if isinstance(trust, str) else json.dumps(trust)
        _template_policies(role, properties, account_id)
        return role
    service.patches.replace(Role, "create_from_cloudformation_json", classmethod(create_from_cloudformation_json))
    service.patches.replace(Role, "update_from_cloudformation_json", classmethod(update_from_cloudformation_json))


def _template_policies(role: Any, properties: dict[str, Any], account_id: str) -> None:
    """The role's inline and managed policies made what the template says."""
    from moto.iam.models import iam_backends
    backend = iam_backends[account_id]["aws"]
    inline = {str(p["PolicyName"]): p["PolicyDocument"] for p in properties.get("Policies") or []}
    for name in [n for n in role.policies if n not in inline]:
        role.delete_policy(name)
    for name, document in inline.items():
        role.put_policy(name, document if isinstance(document, str) else json.dumps(document))
    managed = [str(arn) for arn in properties.get("ManagedPolicyArns") or []]
    for arn in [a for a in role.managed_policies if a not in managed]:
        backend.detach_role_policy(arn, role.name)
    for arn in managed:
        if arn not in role.managed_policies:
            ensure_aws_managed(backend, arn)
            backend.attach_role_policy(arn, role.name)


def _ensuring(original: Any) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        for value in list(args) + list(kwargs.values()):
            ensure_aws_managed(self, value)
        return original(self, *args, **kwargs)
    method.__name__ = original.__name__
    method.__doc__ = original.__doc__
    return method
