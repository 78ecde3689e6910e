"""The AWS::LanguageExtensions transform, as CloudFormation runs it on a template before the stack uses it:
Fn::ForEach (in Resources, Conditions, Outputs and a resource's Properties), Fn::Length, Fn::ToJsonString,
Fn::FindInMap with DefaultValue (and intrinsic functions in its keys), and intrinsic functions in DeletionPolicy and
UpdateReplacePolicy. What the transform can resolve from parameters, pseudo parameters, mappings and conditions it
resolves; the rest (a resource's Ref or GetAtt) is left for the stack to resolve.

SAM CLI carries a port of CloudFormation's own implementation (samcli.lib.cfn_language_extensions), but SAM CLI pins
boto3, click and cfn-lint to versions this project cannot share, so it cannot be installed beside it.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from typing import Any

NAME = "AWS::LanguageExtensions"
FOREACH = re.compile(r"^Fn::ForEach::[A-Za-z0-9]+$")
IDENTIFIER = re.compile(r"^[A-Za-z0-9]+$")
NESTING_LIMIT = 5
POLICIES = ("DeletionPolicy", "UpdateReplacePolicy")
POLICY_VALUES = {"DeletionPolicy": ("Delete", "Retain", "RetainExceptOnCreate", "Snapshot"),
                 "UpdateReplacePolicy": ("Delete", "Retain", "Snapshot")}


class TransformError(Exception):
    """The template cannot be transformed; the message is the one CloudFormation gives after 'failed with: '."""


class Unresolvable(Exception):
    """A value that only the stack can resolve (a resource's Ref or GetAtt, an import)."""


def transform(template: dict[str, Any], parameters: dict[str, Any], pseudo: dict[str, str]) -> dict[str, Any]:
    """The template with the language extensions applied. `parameters` are the stack's values (defaults applied),
    `pseudo` the pseudo parameters' values (AWS::Region, AWS::AccountId, AWS::StackName, ...)."""
    return _Transform(copy.deepcopy(template), parameters, pseudo).run()


class _Transform:
    def __init__(self, template: dict[str, Any], parameters: dict[str, Any], pseudo: dict[str, str]):
        self.template = template
        self.declared = template.get("Parameters") or {}
        self.values = {name: self._typed(name, value) for name, value in parameters.items()}
        self.pseudo = pseudo
        self.mappings = template.get("Mappings") or {}
        self.conditions: dict[str, Any] = {}

    def _typed(self, name: str, value: Any) -> Any:
        kind = str((self.declared.get(name) or {}).get("Type", "String"))
        if isinstance(value, str) and (kind == "CommaDelimitedList" or kind.startswith("List<")
                                       or kind.startswith("AWS::SSM::Parameter::Value<List<")):
            return [item.strip() for item in value.split(",")] if value else []
        return value

    def run(self) -> dict[str, Any]:
        template = self.template
        for section in ("Resources", "Outputs"):
            if section in template and not (isinstance(template[section], dict) and all(
                    isinstance(v, (dict, list)) for v in template[section].values())):
                raise TransformError(f"Invalid input passed to the AWS::LanguageExtensions Transform: the {section} "
                                     f"section must be an object of objects")
        for section in ("Conditions", "Resources", "Outputs"):
            if isinstance(template.get(section), dict):
                template[section] = self._expand(template[section], {}, section, 0)
                if not template[section] and section != "Resources":
                    del template[section]
        self.conditions = template.get("Conditions") or {}
        for name in self.conditions:
            try:
                self._condition(name)
            except Unresolvable:
                pass  # a condition on what only the stack knows is the stack's to evaluate
        for logical_id, resource in (template.get("Resources") or {}).items():
            condition = resource.get("Condition") if isinstance(resource, dict) else None
            if condition is not None and condition not in self.conditions:
                raise TransformError(f"Condition {condition} of resource {logical_id} is not defined in the "
                                     f"Conditions section")
        for section in ("Conditions", "Resources", "Outputs"):
            if isinstance(template.get(section), dict):
                template[section] = {key: self._functions(value) for key, value in template[section].items()}
        for logical_id, resource in (template.get("Resources") or {}).items():
            if isinstance(resource, dict):
                for policy in POLICIES:
                    if policy in resource:
                        resource[policy] = self._policy(logical_id, policy, resource[policy])
        return template

    # Fn::ForEach: each collection item gives a copy of the fragment with the identifier replaced.
    def _expand(self, mapping: dict[str, Any], loop: dict[str, str], section: str, depth: int) -> dict[str, Any]:
        expanded: dict[str, Any] = {}
        for key, value in mapping.items():
            if FOREACH.match(key):
                for new_key, new_value in self._foreach(key, value, loop, section, depth).items():
                    if new_key in expanded or new_key in mapping:
                        raise TransformError(f"{section} section has duplicate key {new_key} after Fn::ForEach "
                                             f"expansion")
                    expanded[new_key] = new_value
            else:
                expanded[key] = self._expand_inner(value, loop, section, depth)
        return expanded

    def _expand_inner(self, value: Any, loop: dict[str, str], section: str, depth: int) -> Any:
        if isinstance(value, dict):
            return self._expand(value, loop, section, depth)
        if isinstance(value, list):
            return [self._expand_inner(item, loop, section, depth) for item in value]
        return value

    def _foreach(self, key: str, value: Any, loop: dict[str, str], section: str, depth: int) -> dict[str, Any]:
        if depth >= NESTING_LIMIT:
            raise TransformError(f"{key} is nested deeper than {NESTING_LIMIT} levels of Fn::ForEach")
        if not isinstance(value, list) or len(value) != 3 or not isinstance(value[2], dict):
            raise TransformError(f"{key} layout is incorrect: it takes [Identifier, Collection, "
                                 f"{{OutputKey: OutputValue}}]")
        identifier, collection, fragment = value
        if not isinstance(identifier, str) or not IDENTIFIER.match(identifier):
            raise TransformError(f"{key}: the identifier must be a non-empty alphanumeric string")
        if identifier in loop or identifier in self.declared or identifier == key.rsplit("::", 1)[1]:
            raise TransformError(f"{key}: the identifier {identifier} conflicts with a parameter or another loop")
        try:
            items = self._resolve(self._substitute(collection, loop))
        except Unresolvable:
            raise TransformError(f"{key}: the collection must resolve to a list of strings from parameters, "
                                 f"mappings or literals") from None
        if not isinstance(items, list) or not all(isinstance(i, (str, int, float)) for i in items):
            raise TransformError(f"{key}: the collection must be a list of strings")
        result: dict[str, Any] = {}
        for item in items:
            scope = {**loop, identifier: str(_scalar(item))}
            for fragment_key, fragment_value in fragment.items():
                if FOREACH.match(fragment_key):
                    produced = self._foreach(fragment_key, fragment_value, scope, section, depth + 1)
                else:
                    new_key = self._key(fragment_key, scope)
                    if not IDENTIFIER.match(new_key):
                        raise TransformError(f"{key}: the output key {new_key} is not alphanumeric")
                    produced = {new_key: self._expand_inner(self._substitute(fragment_value, scope), scope,
                                                            section, depth + 1)}
                for new_key, new_value in produced.items():
                    if new_key in result:
                        raise TransformError(f"{section} section has duplicate key {new_key} after Fn::ForEach "
                                             f"expansion")
                    result[new_key] = new_value
        return result

    @staticmethod
    def _key(key: str, loop: dict[str, str]) -> str:
        for name, item in loop.items():
            key = key.replace("${" + name + "}", item).replace("&{" + name + "}", re.sub(r"[^A-Za-z0-9]", "", item))
        return key

    def _substitute(self, value: Any, loop: dict[str, str]) -> Any:
        """The loop's identifiers replaced in a fragment: Ref to them, ${...} in Fn::Sub, keys."""
        if not loop:
            return value
        if isinstance(value, list):
            return [self._substitute(v, loop) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1 and isinstance(value.get("Ref"), str) and value["Ref"] in loop:
            return loop[value["Ref"]]
        if len(value) == 1 and "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            if isinstance(sub, str):
                return self._simplify_sub(self._key(sub, loop))
            if isinstance(sub, list) and sub and isinstance(sub[0], str):
                return {"Fn::Sub": [self._key(sub[0], loop), *self._substitute(sub[1:], loop)]}
        return {self._key(k, loop): self._substitute(v, loop) for k, v in value.items()}

    @staticmethod
    def _simplify_sub(text: str) -> Any:
        return text.replace("${!", "${") if not re.search(r"\$\{[^!]", text) else {"Fn::Sub": text}

    # The functions of the extension, resolved wherever they appear.
    def _functions(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self._functions(v) for v in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (name, argument), = value.items()
            if name == "Fn::If" and isinstance(argument, list) and argument and argument[0] not in self.conditions:
                raise TransformError(f"Condition {argument[0]} is not defined in the Conditions section")
            if name == "Fn::Length":
                return self._length(argument)
            if name == "Fn::ToJsonString":
                return self._to_json_string(argument)
            if name == "Fn::FindInMap":
                return self._find_in_map_or_keep(argument)
        done = {k: self._functions(v) for k, v in value.items()}
        return {k: v for k, v in done.items() if v is not NO_VALUE}

    def _length(self, argument: Any) -> int:
        try:
            items = self._resolve(self._functions(argument))
        except Unresolvable:
            raise TransformError("Fn::Length can only take a list, or a function that resolves to a list from "
                                 "parameters") from None
        if not isinstance(items, list):
            raise TransformError("Fn::Length layout is incorrect: it takes a list")
        return len(items)

    def _to_json_string(self, argument: Any) -> str:
        if not isinstance(argument, (dict, list)):
            raise TransformError("Fn::ToJsonString layout is incorrect: it takes an object or an array")
        try:
            return _json(self._resolve(self._functions(argument)))
        except Unresolvable as exc:
            raise TransformError(f"Fn::ToJsonString does not support {exc.args[0]!r}: it takes what resolves from "
                                 f"parameters, pseudo parameters, mappings and conditions") from None

    def _find_in_map_or_keep(self, argument: Any) -> Any:
        try:
            return self._find_in_map(self._functions(argument))
        except Unresolvable as exc:
            raise TransformError(f"Fn::FindInMap does not support {exc.args[0]!r} in its keys") from None

    def _policy(self, logical_id: str, policy: str, value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and value.get("Ref") == "AWS::NoValue":
            raise TransformError(f"AWS::NoValue is not supported for {policy} or UpdateReplacePolicy")
        try:
            resolved = self._resolve(self._functions(value))
        except Unresolvable:
            raise TransformError(f"Unsupported expression for {policy} in resource {logical_id}") from None
        if not isinstance(resolved, str):
            raise TransformError(f"Every {policy} member must be a string")
        return resolved

    # What the transform can resolve on its own, as CloudFormation's language extensions resolve it.
    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (name, argument), = value.items()
            handler = FUNCTIONS.get(name)
            if handler is not None:
                return handler(self, argument)
        return {k: self._resolve(v) for k, v in value.items()}

    def _ref(self, name: Any) -> Any:
        if name in self.values:
            return self.values[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        raise Unresolvable(name)

    def _find_in_map(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) not in (3, 4):
            raise TransformError("Fn::FindInMap layout is incorrect: it takes [MapName, TopLevelKey, "
                                 "SecondLevelKey] and optionally {DefaultValue: value}")
        default = argument[3] if len(argument) == 4 else None
        if default is not None and (not isinstance(default, dict) or set(default) != {"DefaultValue"}):
            raise TransformError("Fn::FindInMap's fourth argument must be {DefaultValue: value}")
        keys = [self._resolve(key) for key in argument[:3]]
        if not all(isinstance(key, str) for key in keys):
            raise TransformError("Fn::FindInMap's map name and keys must resolve to strings")
        found = ((self.mappings.get(keys[0]) or {}).get(keys[1]) or {}).get(keys[2]) \
            if isinstance((self.mappings.get(keys[0]) or {}).get(keys[1]), dict) else None
        if found is not None:
            return found
        if default is not None:
            try:
                return self._resolve(default["DefaultValue"])
            except Unresolvable:
                return default["DefaultValue"]  # a resource's Ref or GetAtt: the stack resolves it
        raise TransformError(f"Fn::FindInMap: the mapping {keys[0]} has no value for {keys[1]}/{keys[2]}")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        resolved = {name: self._resolve(v) for name, v in (variables or {}).items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            value = resolved[name] if name in resolved else self._ref(name)
            if isinstance(value, list):
                return ",".join(str(v) for v in value)
            return str(value)
        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def _if(self, argument: Any) -> Any:
        return self._resolve(argument[1] if self._condition(argument[0]) else argument[2])

    def _condition(self, name: str, seen: tuple[str, ...] = ()) -> bool:
        if name in seen:
            raise TransformError(f"Circular condition dependency on {name}")
        if name not in self.conditions:
            raise TransformError(f"Condition {name} is not defined in the Conditions section")
        return bool(self._evaluate(self.conditions[name], (*seen, name)))

    def _evaluate(self, value: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            (name, argument), = value.items()
            if name == "Condition":
                return self._condition(argument, seen)
            if name == "Fn::Equals":
                left, right = (self._evaluate(a, seen) for a in argument)
                return _scalar(left) == _scalar(right)
            if name == "Fn::Not":
                return not self._evaluate(argument[0], seen)
            if name == "Fn::And":
                return all(self._evaluate(a, seen) for a in argument)
            if name == "Fn::Or":
                return any(self._evaluate(a, seen) for a in argument)
        return self._resolve(value)


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


def _scalar(value: Any) -> Any:
    return str(value).lower() if isinstance(value, bool) else str(value) if isinstance(value, (int, float)) else value


def _json(value: Any) -> str:
    return json.dumps(_drop_no_value(value), separators=(",", ":"))


def _drop_no_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_no_value(v) for k, v in value.items() if v is not NO_VALUE}
    if isinstance(value, list):
        return [_drop_no_value(v) for v in value if v is not NO_VALUE]
    return value


def _split(separator: str, text: str) -> list[str]:
    if not separator:
        raise TransformError("Fn::Split's delimiter must not be empty")
    return text.split(separator)


def _select(index: int, items: Any) -> Any:
    if not isinstance(items, list) or not 0 <= index < len(items):
        raise TransformError(f"Fn::Select's index {index} is out of the list's bounds")
    return items[index]


def _unresolvable(_transform: _Transform, argument: Any) -> Any:
    raise Unresolvable(argument)


FUNCTIONS: dict[str, Any] = {
    "Ref": _Transform._ref,
    "Fn::FindInMap": _Transform._find_in_map,
    "Fn::Sub": _Transform._sub,
    "Fn::If": _Transform._if,
    "Fn::Join": lambda t, a: str(t._resolve(a[0])).join(str(_scalar(v)) for v in t._resolve(a[1])
                                                          if v is not NO_VALUE),
    "Fn::Split": lambda t, a: _split(str(t._resolve(a[0])), str(t._resolve(a[1]))),
    "Fn::Select": lambda t, a: _select(int(t._resolve(a[0])), t._resolve(a[1])),
    "Fn::Length": lambda t, a: len(t._resolve(a)),
    "Fn::ToJsonString": lambda t, a: _json(t._resolve(a)),
    "Fn::Base64": lambda t, a: base64.b64encode(str(t._resolve(a)).encode()).decode(),
    "Fn::GetAtt": _unresolvable,
    "Fn::ImportValue": _unresolvable,
    "Fn::GetAZs": _unresolvable,
    "Fn::Cidr": _unresolvable,
    "Fn::Transform": _unresolvable,
    "Condition": lambda t, a: t._condition(a),
    "Fn::Equals": lambda t, a: t._evaluate({"Fn::Equals": a}, ()),
    "Fn::And": lambda t, a: t._evaluate({"Fn::And": a}, ()),
    "Fn::Or": lambda t, a: t._evaluate({"Fn::Or": a}, ()),
    "Fn::Not": lambda t, a: t._evaluate({"Fn::Not": a}, ()),
}
