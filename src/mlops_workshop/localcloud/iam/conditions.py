"""IAM's condition operators, as the IAM User Guide defines them ("IAM JSON policy elements: Condition operators").

A condition block is decided against a request context: {lower-cased key: list of values}. A key absent from the
context makes a positive operator false and a negated one true; `...IfExists` is true on an absent key, `Null` tests
presence, `ForAllValues:` is true on an absent key and `ForAnyValue:` false. Several values of one key in the policy
are ORed (NORed for a negated operator); several keys and several operators are ANDed.

A key the context marks UNKNOWN (the local cloud cannot tell its value for this request) makes the whole block
UNKNOWN: the evaluator then refuses to let the statement allow, and lets a Deny apply, saying which key it was.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import operator as compare
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

UNKNOWN = object()   # a context value the local cloud cannot fill


class ConditionError(ValueError):
    """A condition block that is not IAM's grammar (an unknown operator)."""


@lru_cache(maxsize=4096)
def _like(pattern: str) -> re.Pattern[str]:
    """A StringLike/ArnLike pattern: `*` any run, `?` one character, everything else literal (case-sensitive)."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + r"\Z",
                      re.DOTALL)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> float | None:
    """An ISO 8601 date or an epoch number, as seconds since the epoch."""
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    number = _number(value)
    if number is not None:
        return number
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def _bool(value: Any) -> str:
    return str(value).lower()


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: the six ARN fields are matched one by one, each with wildcards (a `*` does not cross a colon
    except in the last field, the resource)."""
    p_parts, v_parts = pattern.split(":", 5), value.split(":", 5)
    if len(p_parts) != 6 or len(v_parts) != 6:
        return bool(_like(pattern).match(value))
    return all(_like(p).match(v) for p, v in zip(p_parts, v_parts))


def _ip(pattern: str, value: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        return False


def _compare(parse: Callable[[Any], float | None], test: Callable[[float, float], bool], p: str, v: Any) -> bool:
    left, right = parse(v), parse(p)
    return left is not None and right is not None and test(left, right)


Matcher = Callable[[str, Any], bool]

# Each positive operator: how one policy value matches one context value. The negated ones are their NOR.
MATCHERS: dict[str, Matcher] = {
    "stringequals": lambda p, v: str(v) == p,
    "stringequalsignorecase": lambda p, v: str(v).lower() == p.lower(),
    "stringlike": lambda p, v: bool(_like(p).match(str(v))),
    "numericequals": lambda p, v: _compare(_number, compare.eq, p, v),
    "numericlessthan": lambda p, v: _compare(_number, compare.lt, p, v),
    "numericlessthanequals": lambda p, v: _compare(_number, compare.le, p, v),
    "numericgreaterthan": lambda p, v: _compare(_number, compare.gt, p, v),
    "numericgreaterthanequals": lambda p, v: _compare(_number, compare.ge, p, v),
    "dateequals": lambda p, v: _compare(_date, compare.eq, p, v),
    "datelessthan": lambda p, v: _compare(_date, compare.lt, p, v),
    "datelessthanequals": lambda p, v: _compare(_date, compare.le, p, v),
    "dategreaterthan": lambda p, v: _compare(_date, compare.gt, p, v),
    "dategreaterthanequals": lambda p, v: _compare(_date, compare.ge, p, v),
    "bool": lambda p, v: _bool(v) == _bool(p),
    "binaryequals": lambda p, v: (v if isinstance(v, bytes) else str(v).encode()) == base64.b64decode(p),
    "ipaddress": lambda p, v: _ip(p, str(v)),
    "arnequals": lambda p, v: str(v) == p,
    "arnlike": lambda p, v: _arn_like(p, str(v)),
}
NEGATED = {
    "stringnotequals": "stringequals", "stringnotequalsignorecase": "stringequalsignorecase",
    "stringnotlike": "stringlike", "numericnotequals": "numericequals", "datenotequals": "dateequals",
    "notipaddress": "ipaddress", "arnnotequals": "arnequals", "arnnotlike": "arnlike",
}


class Operator:
    """One parsed operator of a condition block: `ForAnyValue:StringLikeIfExists` -> (set, base, negated, ifexists)."""

    __slots__ = ("name", "qualifier", "base", "negated", "if_exists", "null")

    def __init__(self, name: str):
        self.name = name
        lowered = name.lower()
        self.qualifier = ""
        for prefix in ("forallvalues:", "foranyvalue:"):
            if lowered.startswith(prefix):
                self.qualifier, lowered = prefix[:-1], lowered[len(prefix):]
        self.if_exists = lowered.endswith("ifexists") and lowered != "ifexists"
        if self.if_exists:
            lowered = lowered[: -len("ifexists")]
        self.null = lowered == "null"
        self.negated = lowered in NEGATED
        self.base = NEGATED.get(lowered, lowered)
        if not self.null and self.base not in MATCHERS:
            raise ConditionError(f"unknown condition operator {name}")

    def holds(self, policy_values: Sequence[str], context_values: Any) -> bool:
        if self.null:
            present = context_values is not None and len(context_values) > 0
            return any(_bool(p) == ("false" if present else "true") for p in policy_values)
        if context_values is None or len(context_values) == 0:
            if self.if_exists:
                return True
            if self.qualifier == "forallvalues":
                return True
            if self.qualifier == "foranyvalue":
                return False
            return self.negated
        match = MATCHERS[self.base]
        if self.qualifier == "forallvalues":
            # Every value of the request matches at least one of the policy (for a negated operator: none).
            return all(any(match(p, v) for p in policy_values) != self.negated for v in context_values)
        # A single-valued key, or ForAnyValue: some value of the request matches some value of the policy.
        return any(match(p, v) for p in policy_values for v in context_values) != self.negated


@lru_cache(maxsize=1024)
def operator(name: str) -> Operator:
    return Operator(name)


def evaluate(block: Mapping[str, Mapping[str, Any]], context: Mapping[str, Any],
             substitute: Callable[[str], str | None] | None = None) -> tuple[bool | None, str | None]:
    """(True/False, None) when the block is decided, (None, key) when key's value is UNKNOWN to the local cloud."""
    for op_name, keys in block.items():
        op = operator(op_name)
        for key, values in keys.items():
            wanted = values if isinstance(values, list) else [values]
            wanted = [v if isinstance(v, str) else _bool(v) if isinstance(v, bool) else str(v) for v in wanted]
            if substitute is not None and any("${" in v for v in wanted):
                resolved = [substitute(v) for v in wanted]
                wanted = [v for v in resolved if v is not None]
            value = context.get(key.lower())
            if value is UNKNOWN:
                return None, key
            if value is not None and not isinstance(value, (list, tuple)):
                value = [value]
            if not op.holds(wanted, value):
                return False, None
    return True, None

