"""Who signed a call: the access key's principal, and the policies that principal carries (read from moto's IAM and
STS backends on every call, so a policy put a moment ago counts; compiled policies are cached by their text).

- The administrator's keys (`clients.DUMMY_CREDENTIALS`, and `administrator_keys` in the setting) are the account's
  administrator: allowed everything, as before IAM was enforced.
- A session's key (moto's STS keeps them: AssumeRole, and `IamService.credentials_for`) is that role's session: the
  session token must match, the session must not have expired.
- An IAM user's access key (CreateAccessKey) is that user, while the key is Active.
- Any other key: one in AWS's format (AKIA/ASIA and 16 more) is refused as unknown; another one ("testing", "ak":
  what tests and moto's own Step Functions sign with) is the administrator unless `unknown_keys` is "refuse".
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any

from .policy import Policy, Principal

AWS_KEY = re.compile(r"^A(KIA|SIA|IDA|ROA)[A-Z0-9]{16}$")
ADMINISTRATOR_NAME = "localcloud"


class CredentialError(Exception):
    """The call's credentials are refused: `code` is "invalid" or "expired"."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(detail or code)
        self.code = code


@dataclass
class Policies:
    """What a principal's calls are judged by."""

    identity: list[Policy]
    boundary: list[Policy] | None = None
    session: list[Policy] | None = None


def administrator(account: str, key: str = ADMINISTRATOR_NAME) -> Principal:
    return Principal("administrator", f"arn:aws:iam::{account}:user/{ADMINISTRATOR_NAME}", account,
                     name=ADMINISTRATOR_NAME, access_key=key, user_id=f"AIDA{ADMINISTRATOR_NAME.upper()}")


def anonymous(account: str) -> Principal:
    return Principal("anonymous", "anonymous", account, name="anonymous")


def service(name: str, account: str) -> Principal:
    """A service principal (events.amazonaws.com): judged by resource-based policies only."""
    return Principal("service", name, account, name=name, service=name)


def _iam(account: str, partition: str = "aws") -> Any:
    from moto.iam.models import iam_backends
    return iam_backends[account][partition]


def _partitions(account: str) -> list[str]:
    """The partitions whose IAM holds something in this account ("aws" first: the one the workshop runs in)."""
    from moto.iam.models import iam_backends
    return ["aws", *(p for p in dict.keys(iam_backends[account]) if p != "aws")]


def _partition(arn: str) -> str:
    return arn.split(":", 2)[1] if arn.startswith("arn:") else "aws"


def _sts(account: str) -> Any:
    from moto.sts.models import sts_backends
    return sts_backends[account]["aws"]


def role(account: str, arn_or_name: str) -> Any | None:
    backend = _iam(account)
    name = arn_or_name.rsplit("/", 1)[-1]
    return backend.roles.get(next((rid for rid, r in backend.roles.items() if r.name == name), ""), None)


def session_for_key(account: str, key: str) -> Any | None:
    for assumed in reversed(_sts(account).assumed_roles):
        if assumed.access_key_id == key:
            return assumed
    return None


def resolve(account: str, key: str, token: str | None, administrator_keys: set[str], unknown_keys: str,
            now: datetime.datetime | None = None) -> Principal:
    """The principal of a signed call, or CredentialError."""
    if key in administrator_keys:
        return administrator(account, key)
    assumed = session_for_key(account, key)
    if assumed is not None:
        if not token or token != assumed.session_token:
            raise CredentialError("invalid", "the session token does not belong to this access key")
        from moto.core.utils import utcnow
        if (now or utcnow()) >= assumed.expiration:
            raise CredentialError("expired")
        role_arn = assumed.role_arn
        found = role(account, role_arn)
        if found is not None:
            role_arn = found.arn
        tags = {t["Key"]: t["Value"] for t in (found.tags or [])} if found is not None else {}
        role_id = found.id if found is not None else "AROA"
        return Principal("role-session", assumed.arn, account, name=role_arn.rsplit("/", 1)[-1], role_arn=role_arn,
                         session_name=assumed.session_name, access_key=key,
                         user_id=f"{role_id}:{assumed.session_name}", tags=tags)
    user = next((found for partition in _partitions(account)
                 if (found := _iam(account, partition).get_user_from_access_key_id(key)) is not None),
                None) if AWS_KEY.match(key) else None
    if user is not None:
        access = next((k for k in user.access_keys if k.access_key_id == key), None)
        if access is None or access.status != "Active":
            raise CredentialError("invalid", "the access key is not active")
        if token:
            raise CredentialError("invalid", "a user's access key carries no session token")
        return Principal("user", user.arn, account, name=user.name, access_key=key, user_id=user.id)
    if AWS_KEY.match(key) or unknown_keys == "refuse":
        raise CredentialError("invalid", "no such access key")
    return administrator(account, key)


def policies_of(principal: Principal, session_policy: str | None = None) -> Policies:
    """The identity policies, permissions boundary and session policy the principal's calls are judged by."""
    backend = _iam(principal.account, _partition(principal.arn))
    if principal.kind == "role-session":
        found = role(principal.account, principal.role_arn or "")
        if found is None:
            return Policies([])
        identity = [Policy.compile(doc, f"{found.name}/{name}") for name, doc in found.policies.items()]
        identity += [_managed(p) for p in found.managed_policies.values()]
        boundary = _boundary(backend, found.permissions_boundary_arn)
        session = [Policy.compile(session_policy, "session policy")] if session_policy else None
        return Policies(identity, boundary, session)
    if principal.kind == "user":
        user = backend.get_user(principal.name)
        identity = [Policy.compile(doc, f"{user.name}/{name}") for name, doc in user.policies.items()]
        identity += [_managed(p) for p in user.managed_policies.values()]
        for group in backend.get_groups_for_user(user.name):
            for name, doc in group.policies.items():
                identity.append(Policy.compile(doc, f"{group.name}/{name}"))
            identity += [_managed(p) for p in group.managed_policies.values()]
        return Policies(identity, _boundary(backend, getattr(user, "permissions_boundary", None)))
    return Policies([])


def _managed(policy: Any) -> Policy:
    version = next((v for v in policy.versions if v.is_default), policy.versions[0])
    return Policy.compile(version.document, policy.arn)


def _boundary(backend: Any, arn: str | None) -> list[Policy] | None:
    if not arn:
        return None
    policy = backend.managed_policies.get(arn)
    return [_managed(policy)] if policy is not None else []


def session_policy(account: str, key: str) -> str | None:
    assumed = session_for_key(account, key)
    return getattr(assumed, "policy", None) if assumed is not None else None
