"""Templates as CloudFormation reads them: parsed, checked before a stack starts (parameters against their
constraints, resource types, IAM capabilities), and ordered so that each resource is built after those it needs."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from moto.cloudformation import parsing
from moto.cloudformation.exceptions import ValidationError

from .exceptions import InsufficientCapabilities

STACK_NAME = re.compile(r"^[a-zA-Z][-a-zA-Z0-9]{0,127}$")
IAM_TYPES = {"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::User", "AWS::IAM::Group",
             "AWS::IAM::InstanceProfile", "AWS::IAM::AccessKey", "AWS::IAM::UserToGroupAddition"}
IAM_NAME_PROPERTIES = ("RoleName", "UserName", "GroupName", "ManagedPolicyName", "InstanceProfileName")


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Ref, !GetAtt, !Sub, ...) as their long forms, whatever their node
    (moto's loader leaves a tagged mapping unparsed, as !ToJsonString takes one)."""


def _short_form(loader: yaml.SafeLoader, name: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.MappingNode):
        value: Any = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node)
    if name == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {name if name in ("Ref", "Condition") else f"Fn::{name}": value}


_Loader.add_multi_constructor("!", _short_form)
# CloudFormation reads an unquoted date (a policy's Version: 2012-10-17) as the string it is, not a timestamp.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def parse(template: str) -> dict[str, Any]:
    try:
        try:
            parsed = json.loads(template)
        except ValueError:
            parsed = yaml.load(template, Loader=_Loader)  # noqa: S506 - a SafeLoader with CloudFormation's tags
    except Exception as exc:
        raise ValidationError(message=f"Template format error: {exc}") from None
    if not isinstance(parsed, dict):
        raise ValidationError(message="Template format error: the template is not a JSON or YAML object")
    return parsed


def check_parameters(template: dict[str, Any], given: dict[str, Any]) -> None:
    declared = template.get("Parameters") or {}
    unknown = [name for name in given if name not in declared]
    if unknown:
        raise ValidationError(message=f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    missing = [name for name, spec in declared.items() if name not in given and "Default" not in spec]
    if missing:
        raise ValidationError(message=f"Parameters: [{', '.join(missing)}] must have values")
    for name, spec in declared.items():
        value = given.get(name, spec.get("Default"))
        if value is None:
            continue
        kind = spec.get("Type", "String")
        values = [_text(v) for v in value] if isinstance(value, list) else (
            [v.strip() for v in _text(value).split(",")] if kind.startswith("List<") or kind == "CommaDelimitedList"
            else [_text(value)])
        for item in values:
            _check_value(name, spec, kind, item)


def _check_value(name: str, spec: dict[str, Any], kind: str, value: str) -> None:
    constraint = spec.get("ConstraintDescription")

    def fail(message: str) -> None:
        raise ValidationError(message=f"Parameter '{name}' failed to satisfy constraint: {constraint}"
                              if constraint else message)
    if kind in ("Number", "List<Number>"):
        try:
            number = float(value)
        except ValueError:
            raise ValidationError(message=f"Parameter '{name}' must be a number.") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            fail(f"Parameter '{name}' must be a number not less than {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            fail(f"Parameter '{name}' must be a number not greater than {spec['MaxValue']}")
    if "AllowedValues" in spec and value not in [_text(v) for v in spec["AllowedValues"]]:
        fail(f"Parameter '{name}' must be one of AllowedValues")
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        fail(f"Parameter '{name}' must match pattern {spec['AllowedPattern']}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        fail(f"Parameter '{name}' must contain at least {spec['MinLength']} characters")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        fail(f"Parameter '{name}' must contain at most {spec['MaxLength']} characters")


def _text(value: Any) -> str:
    """A YAML value as the string CloudFormation compares parameters with (YAML's true is "true")."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def check_template(template: dict[str, Any], capabilities: list[str] | None) -> None:
    resources = template.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise ValidationError(message="Template format error: At least one Resources member must be defined.")
    unknown = sorted({spec.get("Type", "") for spec in resources.values()
                      if not supported(spec.get("Type", ""))})
    if unknown:
        raise ValidationError(message=f"Template format error: Unrecognized resource types: [{', '.join(unknown)}] "
                                      f"(the local cloud provisions the types moto supports and those in "
                                      f"mlops_workshop.localcloud.cloudformation.resources)")
    if capabilities is None:
        return
    needed, _ = iam_capability(template)
    if needed and needed not in capabilities and not (needed == "CAPABILITY_IAM"
                                                        and "CAPABILITY_NAMED_IAM" in capabilities):
        raise InsufficientCapabilities(f"Requires capabilities : [{needed}]")


def check_references(template: dict[str, Any], exports: Any = ()) -> None:
    """What CloudFormation refuses before it starts: a Ref to nothing the template declares, a Fn::GetAtt of an
    undeclared resource, a Fn::ImportValue of a name no stack exports."""
    resources = template.get("Resources") or {}
    declared = set(resources) | set(template.get("Parameters") or {})

    def walk(item: Any, block: str) -> None:
        if isinstance(item, dict):
            ref = item.get("Ref")
            if isinstance(ref, str) and not ref.startswith("AWS::") and ref not in declared:
                raise ValidationError(message=f"Template format error: Unresolved resource dependencies [{ref}] in "
                                              f"the {block} block of the template")
            if "Fn::GetAtt" in item:
                target = item["Fn::GetAtt"]
                name = target[0] if isinstance(target, list) and target else str(target).split(".")[0]
                if isinstance(name, str) and name not in resources:
                    raise ValidationError(message=f"Template error: instance of Fn::GetAtt references undefined "
                                                  f"resource {name}")
            imported = item.get("Fn::ImportValue")
            if isinstance(imported, str) and imported not in exports:
                raise ValidationError(message=f"No export named {imported} found.")
            for child in item.values():
                walk(child, block)
        elif isinstance(item, list):
            for child in item:
                walk(child, block)
    walk(resources, "Resources")
    walk(template.get("Outputs") or {}, "Outputs")


def iam_capability(template: dict[str, Any]) -> tuple[str | None, list[str]]:
    """The IAM capability the template's resources need, and the resource types that need it."""
    resources = template.get("Resources") or {}
    iam = [spec for spec in resources.values() if isinstance(spec, dict) and spec.get("Type") in IAM_TYPES]
    named = [spec for spec in iam if any(p in (spec.get("Properties") or {}) for p in IAM_NAME_PROPERTIES)]
    needed = "CAPABILITY_NAMED_IAM" if named else "CAPABILITY_IAM" if iam else None
    return needed, sorted({spec["Type"] for spec in (named or iam)})


def supported(kind: str) -> bool:
    return kind.startswith("Custom::") or kind in parsing.NULL_MODELS or kind in parsing.get_model_map()


def references(value: Any, names: set[str]) -> set[str]:
    """Logical ids a resource refers to (Ref, Fn::GetAtt, Fn::Sub), which must exist before it."""
    found: set[str] = set()

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            if isinstance(item.get("Ref"), str) and item["Ref"] in names:
                found.add(item["Ref"])
            if "Fn::GetAtt" in item:
                target = item["Fn::GetAtt"]
                target_name = target[0] if isinstance(target, list) else str(target).split(".")[0]
                if target_name in names:
                    found.add(target_name)
            if "Fn::Sub" in item:
                sub = item["Fn::Sub"]
                text = sub[0] if isinstance(sub, list) else sub
                local = set(sub[1]) if isinstance(sub, list) and len(sub) > 1 and isinstance(sub[1], dict) else set()
                for match in re.finditer(r"\$\{([^!}][^}]*)\}", str(text)):
                    target_name = match.group(1).split(".")[0]
                    if target_name in names and target_name not in local:
                        found.add(target_name)
            for child in item.values():
                walk(child)
        elif isinstance(item, list):
            for child in item:
                walk(child)
    walk(value)
    return found


def order(template: dict[str, Any]) -> list[str]:
    """Logical ids in an order that builds every resource after those it depends on (template order otherwise)."""
    resources = template.get("Resources") or {}
    names = set(resources)
    needs: dict[str, set[str]] = {}
    for name, spec in resources.items():
        depends = spec.get("DependsOn") or []
        depends = [depends] if isinstance(depends, str) else list(depends)
        unknown = [d for d in depends if d not in names]
        if unknown:
            raise ValidationError(message=f"Template format error: Unresolved resource dependencies "
                                          f"[{', '.join(unknown)}] in the Resources block of the template")
        needs[name] = (set(depends) | references(spec, names)) - {name}
    ordered: list[str] = []
    done: set[str] = set()
    while len(ordered) < len(resources):
        ready = [n for n in resources if n not in done and needs[n] <= done]
        if not ready:
            cycle = sorted(n for n in resources if n not in done)
            raise ValidationError(message=f"Circular dependency between resources: [{', '.join(cycle)}]")
        ordered.append(ready[0])
        done.add(ready[0])
    return ordered


def dependencies(resources: dict[str, Any], logical_id: str) -> set[str]:
    """Every resource the given one depends on, directly or through others."""
    names = set(resources)
    found: set[str] = set()
    pending = [logical_id]
    while pending:
        spec = resources.get(pending.pop()) or {}
        depends = spec.get("DependsOn") or []
        depends = [depends] if isinstance(depends, str) else list(depends)
        for name in (set(depends) | references(spec, names)) - found:
            found.add(name)
            pending.append(name)
    return found - {logical_id}


def effective_parameters(template: dict[str, Any], given: dict[str, Any]) -> dict[str, str]:
    """The stack's parameter values: those given, else the template's defaults."""
    values = {name: _text(spec["Default"]) for name, spec in (template.get("Parameters") or {}).items()
              if isinstance(spec, dict) and "Default" in spec}
    values.update({name: str(value) for name, value in given.items()})
    return values
