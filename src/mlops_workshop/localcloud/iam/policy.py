"""IAM policy documents, compiled once and evaluated as AWS's policy evaluation logic does within one account.

`Policy.compile(document)` (cached by the document's text) turns the JSON into statements whose Action/NotAction
and Resource/NotResource are regular expressions: `*` matches any run of characters (colons and slashes too), `?`
one, actions are case-insensitive and resources case-sensitive. `evaluate()` decides one request:

1. an explicit Deny in any policy that applies (identity, resource-based, permissions boundary, session) denies;
2. a resource-based policy that names the principal (its session, role or user ARN, or the service) allows;
   one that names only the account delegates to the identity policies, as AWS does for the same account;
3. otherwise an identity-based policy must allow, and so must the permissions boundary and the session policy
   when the principal has them.

A resource ARN may carry `UNKNOWN_PART` where the local cloud could not tell a part of it from the request: an
Allow then applies only if a `*` of its Resource covers that part, and a Deny applies if it could match any value.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from . import conditions

UNKNOWN_PART = "\x00"
_VARIABLE = re.compile(r"\$\{([^}]+)\}")
_SPECIAL_VARIABLES = {"*": "*", "?": "?", "$": "$"}


def _glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append("[^" + UNKNOWN_PART + "]")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts) + r"\Z", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _union(patterns: Sequence[str], ignore_case: bool) -> re.Pattern[str]:
    if any(p == "*" for p in patterns):
        return re.compile(r".*\Z", re.DOTALL)
    return re.compile("|".join(f"(?:{_glob(p, ignore_case).pattern})" for p in patterns),
                      re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def could_match(pattern: str, resource: str) -> bool:
    """Whether glob `pattern` matches some value of `resource` whose UNKNOWN_PARTs may be any string."""
    a, b = pattern, resource
    seen: dict[tuple[int, int], bool] = {}

    def step(i: int, j: int) -> bool:
        key = (i, j)
        if key in seen:
            return seen[key]
        if i == len(a) and j == len(b):
            result = True
        elif i < len(a) and a[i] == "*":
            result = step(i + 1, j) or (j < len(b) and step(i, j + 1))
        elif j < len(b) and b[j] == UNKNOWN_PART:
            result = step(i, j + 1) or (i < len(a) and step(i + 1, j))
        elif i < len(a) and j < len(b):
            result = (a[i] == "?" or a[i] == b[j]) and step(i + 1, j + 1)
        else:
            result = False
        seen[key] = result
        return result
    return step(0, 0)


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


class PolicyError(ValueError):
    """A document that is not an IAM policy."""


@dataclass
class Principal:
    """Who makes a call, as the evaluator and the policies' Principal elements see it."""

    kind: str                    # administrator, role-session, user, service, anonymous
    arn: str                     # as AWS names the caller in errors and CloudTrail
    account: str
    name: str = ""               # the role, user or service name
    role_arn: str | None = None  # a session's role (with its path)
    session_name: str | None = None
    service: str | None = None   # a service principal's name (events.amazonaws.com)
    access_key: str | None = None
    user_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def identity(self) -> str:
        """The principal the decision log files its decisions under: a role for all of its sessions."""
        return self.role_arn or self.arn

    def names(self) -> set[str]:
        """The ARNs a resource-based policy may name this principal by (besides its account)."""
        found = {self.arn}
        if self.role_arn:
            found.add(self.role_arn)
            # Policies name roles without their path; AWS matches the role's unique identity either way.
            name = self.role_arn.rsplit("/", 1)[-1]
            found.add(f"arn:aws:iam::{self.account}:role/{name}")
        return found


class Statement:
    __slots__ = ("sid", "effect", "actions", "not_actions", "resources", "not_resources", "resource_patterns",
                 "not_resource_patterns", "principal", "not_principal", "condition", "has_variables", "source")

    def __init__(self, raw: Mapping[str, Any], source: str):
        self.source = source
        self.sid = str(raw.get("Sid", ""))
        self.effect = raw.get("Effect")
        if self.effect not in ("Allow", "Deny"):
            raise PolicyError(f"statement {self.sid or '?'} of {source} has Effect {self.effect!r}")
        self.actions = _union(_listed(raw["Action"]), True) if "Action" in raw else None
        self.not_actions = _union(_listed(raw["NotAction"]), True) if "NotAction" in raw else None
        if self.actions is None and self.not_actions is None:
            raise PolicyError(f"statement {self.sid or '?'} of {source} has neither Action nor NotAction")
        self.resource_patterns = _listed(raw["Resource"]) if "Resource" in raw else None
        self.not_resource_patterns = _listed(raw["NotResource"]) if "NotResource" in raw else None
        self.has_variables = any("${" in p for p in (self.resource_patterns or []) + (self.not_resource_patterns or []))
        self.resources = (_union(self.resource_patterns, False)
                          if self.resource_patterns is not None and not self.has_variables else None)
        self.not_resources = (_union(self.not_resource_patterns, False)
                              if self.not_resource_patterns is not None and not self.has_variables else None)
        self.principal = raw.get("Principal")
        self.not_principal = raw.get("NotPrincipal")
        self.condition = raw.get("Condition") or {}
        for op in self.condition:
            conditions.operator(op)  # an unknown operator is an invalid policy, as IAM says on PutRolePolicy

    # Matching.
    def action_matches(self, action: str) -> bool:
        if self.actions is not None:
            return bool(self.actions.match(action))
        return not self.not_actions.match(action)  # type: ignore[union-attr]

    def _resource_patterns(self, context: Mapping[str, Any], negated: bool) -> list[str] | None:
        patterns = self.not_resource_patterns if negated else self.resource_patterns
        if patterns is None:
            return None
        return [p for p in (substitute(p, context) for p in patterns) if p is not None]

    def resource_matches(self, resource: str, context: Mapping[str, Any]) -> bool:
        """For an Allow: the Resource covers `resource` (UNKNOWN_PARTs only under a `*`)."""
        if self.resource_patterns is None and self.not_resource_patterns is None:
            return True   # trust policies and resource-based policies may leave Resource out
        if self.resource_patterns is not None:
            regex = self.resources or _union(self._resource_patterns(context, False) or ["\x01"], False)
            return bool(regex.match(resource))
        if UNKNOWN_PART in resource:  # only a value known to be outside NotResource is covered
            return not any(could_match(p, resource) for p in self._resource_patterns(context, True) or [])
        regex = self.not_resources or _union(self._resource_patterns(context, True) or ["\x01"], False)
        return not regex.match(resource)

    def resource_could_match(self, resource: str, context: Mapping[str, Any]) -> bool:
        """For a Deny: some value of `resource` is in the statement's resources."""
        if UNKNOWN_PART not in resource:
            if self.resource_patterns is None and self.not_resource_patterns is None:
                return True
            if self.resource_patterns is not None:
                regex = self.resources or _union(self._resource_patterns(context, False) or ["\x01"], False)
                return bool(regex.match(resource))
            regex = self.not_resources or _union(self._resource_patterns(context, True) or ["\x01"], False)
            return not regex.match(resource)
        if self.resource_patterns is not None:
            return any(could_match(p, resource) for p in self._resource_patterns(context, False) or [])
        if self.not_resource_patterns is not None:
            # Outside NotResource unless every value of the resource is inside one of its patterns.
            return not bool(_union(self._resource_patterns(context, True) or ["\x01"], False).match(resource))
        return True

    def principal_match(self, principal: Principal) -> str | None:
        """How the statement's Principal names this principal: "named", "account" (delegation), or None."""
        if self.principal is None and self.not_principal is None:
            return "named"   # identity-based policies have no Principal: they belong to the principal
        if self.not_principal is not None:
            return None if _principal_in(self.not_principal, principal) else "named"
        return _principal_in(self.principal, principal)

    def condition_result(self, context: Mapping[str, Any]) -> tuple[bool | None, str | None]:
        if not self.condition:
            return True, None
        return conditions.evaluate(self.condition, context, lambda v: substitute(v, context))


def _principal_in(element: Any, principal: Principal) -> str | None:
    if element == "*":
        return "named"
    if not isinstance(element, Mapping):
        return None
    for kind, values in element.items():
        for value in _listed(values):
            if kind == "AWS":
                if value == "*":
                    return "named"
                if principal.kind == "anonymous":
                    continue
                if value in (principal.account, f"arn:aws:iam::{principal.account}:root"):
                    return "account"
                if value in principal.names():
                    return "named"
            elif kind == "Service" and principal.kind == "service" and value == principal.service:
                return "named"
    return None


def substitute(text: str, context: Mapping[str, Any]) -> str | None:
    """Policy variables (${aws:username}, ${*}) replaced from the request context; None if one has no value."""
    if "${" not in text:
        return text
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        if name in _SPECIAL_VARIABLES:
            return _SPECIAL_VARIABLES[name]
        name, _, default = name.partition(",")
        value = context.get(name.strip().lower())
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if value is None or value is conditions.UNKNOWN or isinstance(value, list):
            default = default.strip()
            if default.startswith("'") and default.endswith("'") and len(default) >= 2:
                return default[1:-1]
            missing = True
            return ""
        return str(value)
    result = _VARIABLE.sub(replace, text)
    return None if missing else result


class Policy:
    """A compiled policy document; `source` names it in decisions (the inline policy, the managed policy's ARN)."""

    def __init__(self, statements: list[Statement], source: str):
        self.statements = statements
        self.source = source

    @staticmethod
    def compile(document: str | bytes | Mapping[str, Any], source: str = "policy") -> "Policy":
        if isinstance(document, (str, bytes)):
            return _compile_text(document if isinstance(document, str) else document.decode(), source)
        # CloudFormation's roles keep their policies as the template's mappings: cached by identity, as moto
        # replaces a policy rather than changing it.
        key = (id(document), source)
        with _MAPPINGS_LOCK:
            found = _MAPPINGS.get(key)
            if found is not None and found[0] is document:
                _MAPPINGS.move_to_end(key)
                return found[1]
        compiled = _compile(document, source)
        with _MAPPINGS_LOCK:
            _MAPPINGS[key] = (document, compiled)
            while len(_MAPPINGS) > 4096:
                _MAPPINGS.popitem(last=False)
        return compiled


_MAPPINGS: "OrderedDict[tuple[int, str], tuple[Mapping[str, Any], Policy]]" = OrderedDict()
_MAPPINGS_LOCK = threading.Lock()


def _compile(document: Mapping[str, Any], source: str) -> Policy:
    raw = document.get("Statement", [])
    if isinstance(raw, Mapping):
        raw = [raw]
    return Policy([Statement(s, source) for s in raw], source)


@lru_cache(maxsize=4096)
def _compile_text(text: str, source: str) -> Policy:
    try:
        document = json.loads(text)
    except ValueError:
        from urllib.parse import unquote
        document = json.loads(unquote(text))
    return _compile(document, source)


@dataclass
class Request:
    """One authorization question: may `principal` do `action` on `resource`, in this context?"""

    principal: Principal
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class Decision:
    allowed: bool
    reason: str           # "allowed by ...", or AWS's "because no identity-based policy allows the X action"
    policy_type: str      # identity-based, resource-based, permissions boundary, session, trust, administrator
    statement: str = ""   # the source and Sid of the statement that decided, if one did
    unknown: str = ""     # what the local cloud could not tell (a condition key, a part of the ARN)
    explicit: bool = False


@dataclass
class Scan:
    allow: Statement | None = None
    allow_kind: str | None = None
    deny: Statement | None = None
    unknown: str | None = None


def scan(policies: Iterable[Policy], request: Request, resource_policy: bool = False) -> Scan:
    found = Scan()
    for policy in policies:
        for statement in policy.statements:
            if not statement.action_matches(request.action):
                continue
            match = statement.principal_match(request.principal)
            if match is None:
                continue
            if statement.effect == "Deny":
                if found.deny is not None or not statement.resource_could_match(request.resource, request.context):
                    continue
                result, key = statement.condition_result(request.context)
                if result is None:
                    found.unknown = found.unknown or f"condition key {key}"
                if result is not False:
                    found.deny = statement
                continue
            if found.allow is not None and found.allow_kind == "named":
                continue
            if not statement.resource_matches(request.resource, request.context):
                continue
            result, key = statement.condition_result(request.context)
            if result is None:
                found.unknown = found.unknown or f"condition key {key}"
                continue
            if result:
                if found.allow is None or match == "named":
                    found.allow, found.allow_kind = statement, (match if resource_policy else "named")
    return found


def _label(statement: Statement) -> str:
    return f"{statement.source}{'/' + statement.sid if statement.sid else ''}"


def evaluate(request: Request, identity: Sequence[Policy] = (), resource: Sequence[Policy] = (),
             boundary: Sequence[Policy] | None = None, session: Sequence[Policy] | None = None,
             trust: bool = False) -> Decision:
    """AWS's decision for one request within one account (`trust`: the resource policy is a role's trust policy,
    which must allow the principal whatever its identity policies say)."""
    action = request.action
    scans = {
        "identity-based policy": scan(identity, request),
        "resource-based policy": scan(resource, request, resource_policy=True),
        "permissions boundary": scan(boundary or (), request),
        "session policy": scan(session or (), request),
    }
    unknown = next((s.unknown for s in scans.values() if s.unknown), "")
    for kind, found in scans.items():
        if found.deny is not None:
            article = "an" if kind.startswith("identity") else "a"
            return Decision(False, f"with an explicit deny in {article} {kind}", kind, _label(found.deny),
                            unknown if found.unknown else "", explicit=True)
    resource_scan, identity_scan = scans["resource-based policy"], scans["identity-based policy"]
    boundary_ok = boundary is None or scans["permissions boundary"].allow is not None
    session_ok = session is None or scans["session policy"].allow is not None
    named = resource_scan.allow is not None and resource_scan.allow_kind == "named"
    if named:
        # A grant to the session itself (or to a service) is not limited by the session's boundary or policy.
        direct = request.principal.kind in ("service", "anonymous") or (
            request.principal.arn in _listed_principals(resource_scan.allow))
        if direct or (boundary_ok and session_ok):
            return Decision(True, "allowed", "resource-based policy", _label(resource_scan.allow))
    if request.principal.kind in ("service", "anonymous"):
        return Decision(False, f"because no resource-based policy allows the {action} action",
                        "resource-based policy", unknown=unknown)
    if trust:
        account_trusted = resource_scan.allow is not None
        if not account_trusted:
            return Decision(False, "", "trust policy", unknown=unknown)
    if identity_scan.allow is None:
        return Decision(False, f"because no identity-based policy allows the {action} action",
                        "identity-based policy", unknown=unknown)
    if not boundary_ok:
        return Decision(False, f"because no permissions boundary allows the {action} action",
                        "permissions boundary", unknown=unknown)
    if not session_ok:
        return Decision(False, f"because no session policy allows the {action} action", "session policy",
                        unknown=unknown)
    return Decision(True, "allowed", "identity-based policy", _label(identity_scan.allow))


def _listed_principals(statement: Statement) -> set[str]:
    element = statement.principal
    if not isinstance(element, Mapping):
        return set()
    return set(_listed(element.get("AWS")))
