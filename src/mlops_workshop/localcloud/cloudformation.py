"""CloudFormation: stacks that build what their templates declare, the way CloudFormation reports it.

moto parses templates and keeps stacks, but creates every resource inside the CreateStack call, skips the
resource types it lacks, reports no resource events, never rolls back, and only handles the Create request
of a custom resource. This module keeps moto's stacks and parser and replaces the operations on them:

- CreateStack, UpdateStack, DeleteStack and ExecuteChangeSet answer at once and work in the background,
  resource by resource in dependency order, with the events CloudFormation writes (CREATE_IN_PROGRESS,
  CREATE_COMPLETE, CREATE_FAILED with the resource's own reason, ROLLBACK_*, UPDATE_*, DELETE_*).
  A failed create rolls back (or stops, with OnFailure DO_NOTHING); a failed update rolls back.
- Updates compare each resource's resolved properties with the ones it was built from: unchanged resources
  are kept, changed ones are updated in place or replaced, removed ones deleted in the cleanup phase.
- Parameters are checked against their constraints, resource types and IAM capabilities as CloudFormation
  checks them, so a template that would fail on AWS fails here with the same message.
- Resource types moto lacks or gets wrong for the project's templates are provided here:
  AWS::CodeBuild::Project, AWS::CodePipeline::Pipeline (an execution starts on create, as on AWS),
  AWS::SageMaker::Model / EndpointConfig / Endpoint (names honoured, endpoints waited for and updated in
  place), AWS::ApplicationAutoScaling::ScalableTarget / ScalingPolicy, and Lambda-backed custom resources
  (Create, Update and Delete requests with a working ResponseURL; a FAILED answer fails the resource).

Settings (``cloud.settings["cloudformation"]``): ``custom_resource_timeout_seconds`` (default 3600, as AWS),
``resource_timeout_seconds`` (how long to wait for an endpoint, default 3600).
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import AlreadyExistsException, CloudFormationError, ValidationError
from moto.cloudformation.models import CloudFormationBackend, Event, Stack
from moto.cloudformation.utils import generate_stack_id
from moto.core.utils import utcnow

from . import server
from .server import DUMMY_CREDENTIALS, AwsRequest, AwsResponse, LocalCloud, json_error

log = logging.getLogger("mlops_workshop.localcloud.cloudformation")

DEFAULT_CUSTOM_RESOURCE_TIMEOUT = 3600.0
DEFAULT_RESOURCE_TIMEOUT = 3600.0
# After a custom resource's function failed, how long an answer it sent just before may take to arrive.
CUSTOM_RESOURCE_ERROR_GRACE = 1.0
STACK_NAME = re.compile(r"^[a-zA-Z][-a-zA-Z0-9]{0,127}$")
IAM_TYPES = {"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::User", "AWS::IAM::Group",
             "AWS::IAM::InstanceProfile", "AWS::IAM::AccessKey", "AWS::IAM::UserToGroupAddition"}
IAM_NAME_PROPERTIES = ("RoleName", "UserName", "GroupName", "ManagedPolicyName", "InstanceProfileName")
RESPONSE_PATH = re.compile(r"^/_localcloud/cloudformation/response/(?P<request_id>[0-9a-f-]{36})$")

_clouds: list[LocalCloud] = []
_request = threading.local()
_pending: dict[str, dict[str, Any]] = {}
_pending_lock = threading.Lock()
_clients: dict[tuple[str, str, str, float], Any] = {}
_clients_lock = threading.Lock()


class InsufficientCapabilities(CloudFormationError):
    code = "InsufficientCapabilitiesException"


class ResourceFailed(Exception):
    def __init__(self, logical_id: str, reason: str, stack_reason: str | None = None):
        super().__init__(reason)
        self.logical_id = logical_id
        self.reason = reason
        self.stack_reason = stack_reason


def _cloud() -> LocalCloud:
    if not _clouds:
        raise RuntimeError("no local cloud is running in this process")
    return _clouds[-1]


def _settings() -> dict[str, Any]:
    return dict(_cloud().settings.get("cloudformation") or {}) if _clouds else {}


def _client(service: str, region: str, read_timeout: float = 120) -> Any:
    """A boto3 client on the running cloud; kept, since building one costs far more than a call."""
    import boto3
    from botocore.config import Config
    key = (_cloud().endpoint_url, service, region, read_timeout)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = boto3.session.Session().client(
                service, region_name=region, endpoint_url=key[0],
                aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                config=Config(retries={"max_attempts": 2, "mode": "standard"}, read_timeout=read_timeout))
        return _clients[key]


def _reason(exc: BaseException) -> str:
    """The message a failed resource shows in its event, from whichever layer raised."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Message') or error.get('Code')} (Service: {error.get('Code', 'Error')})"
    message = getattr(exc, "message", None) or getattr(exc, "description", None) or str(exc)
    return str(message) or type(exc).__name__


# ---- Template checks: what CloudFormation refuses before it starts ----
def _check_parameters(template: dict[str, Any], given: dict[str, Any]) -> None:
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
        values = [str(v) for v in value] if isinstance(value, list) else (
            [v.strip() for v in str(value).split(",")] if kind.startswith("List<") or kind == "CommaDelimitedList"
            else [str(value)])
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
    if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
        fail(f"Parameter '{name}' must be one of AllowedValues")
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        fail(f"Parameter '{name}' must match pattern {spec['AllowedPattern']}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        fail(f"Parameter '{name}' must contain at least {spec['MinLength']} characters")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        fail(f"Parameter '{name}' must contain at most {spec['MaxLength']} characters")


def _check_template(template: dict[str, Any], capabilities: list[str] | None) -> None:
    resources = template.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise ValidationError(message="Template format error: At least one Resources member must be defined.")
    unknown = sorted({spec.get("Type", "") for spec in resources.values()
                      if not _supported(spec.get("Type", ""))})
    if unknown:
        raise ValidationError(message=f"Template format error: Unrecognized resource types: [{', '.join(unknown)}] "
                                      f"(the local cloud provisions the types moto supports and those in "
                                      f"mlops_workshop.localcloud.cloudformation)")
    if capabilities is None:
        return
    iam = [spec for spec in resources.values() if spec.get("Type") in IAM_TYPES]
    named = [spec for spec in iam if any(p in (spec.get("Properties") or {}) for p in IAM_NAME_PROPERTIES)]
    needed = "CAPABILITY_NAMED_IAM" if named else "CAPABILITY_IAM" if iam else None
    if needed and needed not in capabilities and not (needed == "CAPABILITY_IAM"
                                                        and "CAPABILITY_NAMED_IAM" in capabilities):
        raise InsufficientCapabilities(f"Requires capabilities : [{needed}]")


def _supported(kind: str) -> bool:
    return kind.startswith("Custom::") or kind in parsing.NULL_MODELS or kind in parsing.get_model_map()


def _references(value: Any, names: set[str]) -> set[str]:
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


def _order(template: dict[str, Any]) -> list[str]:
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
        needs[name] = (set(depends) | _references(spec, names)) - {name}
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


def _dependencies(resources: dict[str, Any], logical_id: str) -> set[str]:
    """Every resource the given one depends on, directly or through others."""
    names = set(resources)
    found: set[str] = set()
    pending = [logical_id]
    while pending:
        spec = resources.get(pending.pop()) or {}
        depends = spec.get("DependsOn") or []
        depends = [depends] if isinstance(depends, str) else list(depends)
        for name in (set(depends) | _references(spec, names)) - found:
            found.add(name)
            pending.append(name)
    return found - {logical_id}


# ---- Stack operations, run in the background ----
def _event(stack: Stack, logical_id: str, kind: str, status: str, reason: str | None = None,
           physical_id: str | None = None, properties: Any = None) -> None:
    event = Event(stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
                  physical_resource_id=physical_id or "", resource_type=kind, resource_status=status,
                  resource_status_reason=reason,
                  resource_properties=json.dumps(properties, default=str) if properties is not None else None)
    stack.events.append(event)


def _stack_status(stack: Stack, status: str, reason: str | None = None) -> None:
    stack.status = status
    stack.stack_status_reason = reason
    if not status.startswith("CREATE") and not status.startswith("DELETE"):
        stack.last_updated_time = utcnow()
    if status.startswith("DELETE_COMPLETE"):
        stack.deletion_time = utcnow()
    _event(stack, stack.name, "AWS::CloudFormation::Stack", status, reason, stack.stack_id)
    log.info("stack %s: %s%s", stack.name, status, f" ({reason})" if reason else "")


def _lock(stack: Stack) -> threading.Lock:
    if not hasattr(stack, "_lc_lock"):
        stack._lc_lock = threading.Lock()
    return stack._lc_lock


def _active(resource_map: Any, template: dict[str, Any], logical_id: str) -> bool:
    condition = (template["Resources"][logical_id] or {}).get("Condition")
    return not condition or bool(resource_map.lazy_condition_map[condition])


def _physical_id(instance: Any) -> str | None:
    try:
        value = getattr(instance, "physical_resource_id", None)
    except Exception:
        return None
    return str(value) if value is not None else None


def _resolved(resource_map: Any, spec: dict[str, Any]) -> Any:
    try:
        return parsing.clean_json(copy.deepcopy(spec.get("Properties") or {}), resource_map)
    except Exception:
        return None


def _created(stack: Stack) -> dict[str, Any]:
    """Logical id -> instance, for the resources this stack holds now."""
    parsed = stack.resource_map._parsed_resources
    return {name: parsed[name] for name in stack.resource_map._resource_json_map
            if name in parsed and parsed[name] is not None}


def _delete_resource(stack: Stack, resource_map: Any, logical_id: str, instance: Any, spec: dict[str, Any]) -> None:
    if isinstance(instance, LocalResource):
        instance.delete(stack.account_id, stack.region_name)
    else:
        resource_map._delete_resource(instance, spec)


def _delete_all(stack: Stack, resource_map: Any, template: dict[str, Any], instances: dict[str, Any],
                status_prefix: str = "DELETE") -> list[str]:
    """Delete the given resources in reverse dependency order; the logical ids that failed."""
    failed: list[str] = []
    blocked: set[str] = set()
    resources = template.get("Resources", {})
    retained = {n for n, s in resources.items() if (s or {}).get("DeletionPolicy") == "Retain"}
    for logical_id in reversed(_order(template)):
        if logical_id not in instances or logical_id in blocked:
            continue
        spec = template["Resources"][logical_id]
        instance = instances[logical_id]
        if logical_id in retained:
            _event(stack, logical_id, spec["Type"], "DELETE_SKIPPED", None, _physical_id(instance))
            continue
        _event(stack, logical_id, spec["Type"], "DELETE_IN_PROGRESS", None, _physical_id(instance))
        try:
            _delete_resource(stack, resource_map, logical_id, instance, spec)
        except Exception as exc:
            log.info("stack %s: deleting %s failed: %s", stack.name, logical_id, _reason(exc))
            _event(stack, logical_id, spec["Type"], "DELETE_FAILED", _reason(exc), _physical_id(instance))
            failed.append(logical_id)
            # What the failed resource depends on stays, as CloudFormation leaves it.
            blocked |= _dependencies(resources, logical_id)
            continue
        resource_map._parsed_resources.pop(logical_id, None)
        _event(stack, logical_id, spec["Type"], "DELETE_COMPLETE", None, _physical_id(instance))
    return failed


def _build(stack: Stack, resource_map: Any, template: dict[str, Any], logical_id: str, verb: str) -> Any:
    spec = template["Resources"][logical_id]
    kind = spec["Type"]
    _event(stack, logical_id, kind, f"{verb}_IN_PROGRESS", None, None, _resolved(resource_map, spec))
    try:
        instance = resource_map[logical_id]
    except Exception as exc:
        log.info("stack %s: %s failed: %s", stack.name, logical_id, _reason(exc))
        _event(stack, logical_id, kind, f"{verb}_FAILED", _reason(exc))
        raise ResourceFailed(logical_id, _reason(exc)) from exc
    _event(stack, logical_id, kind, f"{verb}_COMPLETE", None, _physical_id(instance))
    return instance


def _finish_outputs(backend: CloudFormationBackend, stack: Stack) -> None:
    stack.output_map = stack._create_output_map()
    for name in [e.name for e in getattr(stack, "_lc_exports", [])]:
        backend.exports.pop(name, None)
    stack._lc_outputs = _ORIGINAL_OUTPUTS.fget(stack)
    stack._lc_exports = stack.output_map.exports
    for export in stack._lc_exports:
        backend.exports[export.name] = export


def _run_create(backend: CloudFormationBackend, stack: Stack, on_failure: str) -> None:
    with _lock(stack):
        template = stack.template_dict
        resource_map = stack.resource_map
        stack._lc_props = {}
        try:
            for logical_id in _order(template):
                if not _active(resource_map, template, logical_id):
                    continue
                _build(stack, resource_map, template, logical_id, "CREATE")
                stack._lc_props[logical_id] = _resolved(resource_map, template["Resources"][logical_id])
            try:
                _finish_outputs(backend, stack)
            except Exception as exc:
                raise ResourceFailed("Outputs", _reason(exc), f"Template error in Outputs: {_reason(exc)}. ") from exc
            _stack_status(stack, "CREATE_COMPLETE")
        except ResourceFailed as failure:
            reason = failure.stack_reason or f"The following resource(s) failed to create: [{failure.logical_id}]. "
            if on_failure == "DO_NOTHING":
                _stack_status(stack, "CREATE_FAILED", reason)
                return
            _stack_status(stack, "ROLLBACK_IN_PROGRESS", reason + "Rollback requested by user.")
            failed = _delete_all(stack, resource_map, template, _created(stack))
            if failed:
                _stack_status(stack, "ROLLBACK_FAILED",
                              f"The following resource(s) failed to delete: [{', '.join(failed)}]. ")
                return
            _stack_status(stack, "ROLLBACK_COMPLETE")
            if on_failure == "DELETE":
                _remove_stack(backend, stack)
        except Exception as exc:
            log.exception("creating stack %s failed", stack.name)
            _stack_status(stack, "CREATE_FAILED", f"The local cloud failed to create the stack: {_reason(exc)}")


def _remove_stack(backend: CloudFormationBackend, stack: Stack) -> None:
    _stack_status(stack, "DELETE_COMPLETE")
    backend.stacks.pop(stack.stack_id, None)
    backend.deleted_stacks[stack.stack_id] = stack
    for export in getattr(stack, "_lc_exports", []):
        backend.exports.pop(export.name, None)


def _run_delete(backend: CloudFormationBackend, stack: Stack) -> None:
    with _lock(stack):
        if stack.status == "DELETE_COMPLETE":
            return
        _stack_status(stack, "DELETE_IN_PROGRESS", "User Initiated")
        failed = _delete_all(stack, stack.resource_map, stack.template_dict, _created(stack))
        if failed:
            _stack_status(stack, "DELETE_FAILED",
                          f"The following resource(s) failed to delete: [{', '.join(failed)}]. ")
            return
        _remove_stack(backend, stack)


def _run_update(backend: CloudFormationBackend, stack: Stack, template_body: str, template: dict[str, Any],
                new_map: Any, parameters: dict[str, Any], tags: dict[str, str] | None) -> None:
    with _lock(stack):
        old_map, old_template = stack.resource_map, stack.template_dict
        old_instances = _created(stack)
        old_props: dict[str, Any] = getattr(stack, "_lc_props", {})
        new_props: dict[str, Any] = {}
        created: dict[str, Any] = {}
        replaced: dict[str, Any] = {}
        in_place: list[str] = []
        _stack_status(stack, "UPDATE_IN_PROGRESS", "User Initiated")
        try:
            for logical_id in _order(template):
                if not _active(new_map, template, logical_id):
                    continue
                spec = template["Resources"][logical_id]
                old = old_instances.get(logical_id)
                if old is None or old_template["Resources"].get(logical_id, {}).get("Type") != spec["Type"]:
                    if old is not None:
                        replaced[logical_id] = old
                    created[logical_id] = _build(stack, new_map, template, logical_id, "CREATE")
                    new_props[logical_id] = _resolved(new_map, spec)
                    continue
                props = _resolved(new_map, spec)
                new_props[logical_id] = props
                if props == old_props.get(logical_id):
                    new_map._parsed_resources[logical_id] = old
                    continue
                new_map._parsed_resources[logical_id] = old
                _event(stack, logical_id, spec["Type"], "UPDATE_IN_PROGRESS", None, _physical_id(old), props)
                try:
                    updated = parsing.parse_and_update_resource(logical_id, copy.deepcopy(spec), new_map,
                                                                stack.account_id, stack.region_name)
                    if updated is None:
                        # No in-place update for this type: build a replacement, delete the old one in cleanup.
                        new_map._parsed_resources.pop(logical_id, None)
                        updated = new_map[logical_id]
                except Exception as exc:
                    _event(stack, logical_id, spec["Type"], "UPDATE_FAILED", _reason(exc), _physical_id(old))
                    raise ResourceFailed(logical_id, _reason(exc)) from exc
                new_map._parsed_resources[logical_id] = updated
                if _physical_id(updated) != _physical_id(old):
                    replaced[logical_id] = old
                    created[logical_id] = updated
                else:
                    in_place.append(logical_id)
                _event(stack, logical_id, spec["Type"], "UPDATE_COMPLETE", None, _physical_id(updated))
        except ResourceFailed as failure:
            _stack_status(stack, "UPDATE_ROLLBACK_IN_PROGRESS",
                          f"The following resource(s) failed to update: [{failure.logical_id}]. ")
            for logical_id in reversed(in_place):
                # Updated in place: put the old properties back.
                instance = old_instances[logical_id]
                spec = old_template["Resources"][logical_id]
                try:
                    restored = parsing.parse_and_update_resource(logical_id, copy.deepcopy(spec), old_map,
                                                                 stack.account_id, stack.region_name)
                    old_map._parsed_resources[logical_id] = restored or instance
                    _event(stack, logical_id, spec["Type"], "UPDATE_COMPLETE", None, _physical_id(instance))
                except Exception as exc:
                    log.info("stack %s: rolling back %s failed: %s", stack.name, logical_id, _reason(exc))
                    _event(stack, logical_id, spec["Type"], "UPDATE_FAILED", _reason(exc), _physical_id(instance))
            _stack_status(stack, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
            _delete_all(stack, new_map, template, created)
            _stack_status(stack, "UPDATE_ROLLBACK_COMPLETE")
            return
        except Exception as exc:
            log.exception("updating stack %s failed", stack.name)
            _stack_status(stack, "UPDATE_ROLLBACK_FAILED",
                          f"The local cloud failed to update the stack: {_reason(exc)}")
            return
        removed = {n: i for n, i in old_instances.items() if n not in new_map._parsed_resources
                   or new_map._parsed_resources.get(n) is None}
        stack.resource_map = new_map
        stack.template = template_body
        stack.template_dict = template
        stack.description = template.get("Description")
        stack.parameters = parameters
        if tags is not None:
            stack.tags = tags
        stack._lc_props = new_props
        _finish_outputs(backend, stack)
        _stack_status(stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
        _delete_all(stack, old_map, old_template, {**replaced, **removed})
        _stack_status(stack, "UPDATE_COMPLETE")


def _spawn(name: str, target: Callable[..., Any], *args: Any) -> None:
    if _clouds:
        _cloud().spawn(name, target, *args)
    else:
        threading.Thread(target=target, args=args, daemon=True, name=name).start()


# ---- moto's backend and responses, patched ----
_ORIGINAL_OUTPUTS = Stack.outputs
_ORIGINAL_EXPORTS = Stack.exports
_ORIGINAL_RESPONSE_CREATE = cfn_responses.CloudFormationResponse.create_stack
_ORIGINAL_RESPONSE_UPDATE = cfn_responses.CloudFormationResponse.update_stack
_ORIGINAL_GET_MODEL_LIST = parsing.get_model_list
_ORIGINAL_GET_MODEL_MAP = parsing.get_model_map
_ORIGINAL_GET_NAME_TYPE_MAP = parsing.get_name_type_map


def _outputs(self: Stack) -> Any:
    if hasattr(self, "_lc_outputs"):
        return self._lc_outputs
    if hasattr(self, "_lc_props"):
        return None
    return _ORIGINAL_OUTPUTS.fget(self)


def _exports(self: Stack) -> Any:
    if hasattr(self, "_lc_props"):
        return getattr(self, "_lc_exports", [])
    return _ORIGINAL_EXPORTS.fget(self)


def _stack_resources(self: Stack) -> list[Any]:
    return list(_created(self).values())


def _response_create(self: Any) -> Any:
    _request.extras = {"capabilities": self._get_param("Capabilities", []) or [],
                       "on_failure": self._get_param("OnFailure")
                       or ("DO_NOTHING" if self._get_bool_param("DisableRollback", False) else "ROLLBACK")}
    try:
        return _ORIGINAL_RESPONSE_CREATE(self)
    finally:
        _request.extras = None


def _response_update(self: Any) -> Any:
    _request.extras = {"capabilities": self._get_param("Capabilities", []) or []}
    try:
        return _ORIGINAL_RESPONSE_UPDATE(self)
    finally:
        _request.extras = None


def _extras() -> dict[str, Any]:
    return getattr(_request, "extras", None) or {}


def _create_stack(self: CloudFormationBackend, name: str, template: str, parameters: dict[str, Any],
                  notification_arns: list[str] | None = None, tags: dict[str, str] | None = None,
                  role_arn: str | None = None, enable_termination_protection: bool | None = False,
                  timeout_in_mins: int | None = None, stack_policy_body: str | None = None) -> Stack:
    if not STACK_NAME.match(name or ""):
        raise ValidationError(message=f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy "
                                      f"constraint: Member must satisfy regular expression pattern: "
                                      f"[a-zA-Z][-a-zA-Z0-9]*")
    if name in [stack.name for stack in self.stacks.values()]:
        raise AlreadyExistsException(f"Stack [{name}] already exists")
    template_dict = _parse(template)
    extras = _extras()
    _check_template(template_dict, extras.get("capabilities") if extras else None)
    _check_parameters(template_dict, parameters)
    _order(template_dict)
    stack = Stack(stack_id=generate_stack_id(name, self.region_name, self.account_id), name=name, template=template,
                  parameters=parameters, account_id=self.account_id, region_name=self.region_name,
                  notification_arns=notification_arns, tags=tags, role_arn=role_arn,
                  cross_stack_resources=self.exports, enable_termination_protection=enable_termination_protection,
                  timeout_in_mins=timeout_in_mins, stack_policy_body=stack_policy_body)
    stack._lc_props = {}
    stack.disable_rollback = extras.get("on_failure") == "DO_NOTHING"
    self.stacks[stack.stack_id] = stack
    _stack_status(stack, "CREATE_IN_PROGRESS", "User Initiated")
    _spawn(f"cloudformation-create-{name}", _run_create, self, stack, extras.get("on_failure") or "ROLLBACK")
    return stack


def _update_stack(self: CloudFormationBackend, name: str, template: str, role_arn: str | None,
                  parameters: list[dict[str, Any]], tags: dict[str, str] | None) -> Stack:
    stack = self.get_stack(name)
    if stack.status.endswith("_IN_PROGRESS") or stack.status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED",
                                                                 "CREATE_FAILED", "DELETE_FAILED",
                                                                 "UPDATE_ROLLBACK_FAILED"):
        raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")
    # Compared and reused with the template's defaults filled in, as CloudFormation keeps a stack's parameters.
    previous = _effective_parameters(stack.template_dict, stack.parameters)
    resolved = {p["ParameterKey"]: p["ParameterValue"] for p in parameters if "ParameterValue" in p}
    for parameter in parameters:
        if parameter.get("UsePreviousValue"):
            key = parameter["ParameterKey"]
            if key not in previous:
                raise ValidationError(message=f"Invalid input for parameter key {key}. Cannot specify "
                                              f"usePreviousValue as true for a parameter key not in the previous "
                                              f"template")
            resolved[key] = previous[key]
    template = template or stack.template
    template_dict = _parse(template)
    _check_template(template_dict, _extras().get("capabilities") if _extras() else None)
    _check_parameters(template_dict, resolved)
    _order(template_dict)
    if (template_dict == stack.template_dict and _effective_parameters(template_dict, resolved) == previous
            and (tags is None or tags == stack.tags)):
        raise ValidationError(message="No updates are to be performed.")
    new_map = parsing.ResourceMap(stack.stack_id, stack.name, resolved, tags if tags is not None else stack.tags,
                                  region_name=stack.region_name, account_id=stack.account_id,
                                  template=template_dict, cross_stack_resources=self.exports)
    new_map.load()
    if role_arn:
        stack.role_arn = role_arn
    stack.status = "UPDATE_IN_PROGRESS"
    _spawn(f"cloudformation-update-{stack.name}", _run_update, self, stack, template, template_dict, new_map,
           resolved, tags)
    return stack


def _effective_parameters(template: dict[str, Any], given: dict[str, Any]) -> dict[str, str]:
    """The stack's parameter values: those given, else the template's defaults."""
    values = {name: str(spec["Default"]) for name, spec in (template.get("Parameters") or {}).items()
              if isinstance(spec, dict) and "Default" in spec}
    values.update({name: str(value) for name, value in given.items()})
    return values


def _delete_stack(self: CloudFormationBackend, name_or_stack_id: str) -> None:
    stack = self.stacks.get(name_or_stack_id) or next(
        (s for s in self.stacks.values() if s.name == name_or_stack_id), None)
    if stack is None or stack.status in ("DELETE_IN_PROGRESS", "DELETE_COMPLETE"):
        return
    stack.status = "DELETE_IN_PROGRESS"
    _spawn(f"cloudformation-delete-{stack.name}", _run_delete, self, stack)


def _execute_change_set(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None) -> None:
    change_set = self.describe_change_set(change_set_name)
    stack = self.stacks[change_set.stack_id]
    change_set.execution_status = "EXECUTE_IN_PROGRESS"
    if change_set.change_set_type == "CREATE":
        _check_parameters(change_set.template_dict, change_set.parameters)
        stack.template = change_set.template
        stack.template_dict = change_set.template_dict
        stack.parameters = change_set.parameters
        stack.resource_map = stack._create_resource_map()
        stack.output_map = stack._create_output_map()
        stack._lc_props = {}
        _stack_status(stack, "CREATE_IN_PROGRESS", "User Initiated")
        _spawn(f"cloudformation-create-{stack.name}", _run_create, self, stack, "ROLLBACK")
    else:
        resolved = {**stack.parameters, **change_set.parameters}
        _check_parameters(change_set.template_dict, resolved)
        new_map = parsing.ResourceMap(stack.stack_id, stack.name, resolved, stack.tags,
                                      region_name=stack.region_name, account_id=stack.account_id,
                                      template=change_set.template_dict, cross_stack_resources=self.exports)
        new_map.load()
        stack.status = "UPDATE_IN_PROGRESS"
        _spawn(f"cloudformation-update-{stack.name}", _run_update, self, stack, change_set.template,
               change_set.template_dict, new_map, resolved, None)
    change_set.execution_status = "EXECUTE_COMPLETE"


def _parse(template: str) -> dict[str, Any]:
    try:
        parsed = Stack.parse_template(template)
    except Exception as exc:
        raise ValidationError(message=f"Template format error: {exc}") from None
    if not isinstance(parsed, dict):
        raise ValidationError(message="Template format error: the template is not a JSON or YAML object")
    return parsed


# ---- Resource types ----
class LocalResource:
    """A resource type provided by the local cloud, in the shape moto's parser expects of a CloudFormationModel
    (it finds these through the patched model map; they are not CloudFormationModel subclasses, so moto without
    a local cloud never sees them). Subclasses implement create, update and remove."""

    type_name = ""
    name_property: str | None = None
    attributes: tuple[str, ...] = ()

    def __init__(self, name: str, properties: dict[str, Any], region: str, logical_id: str = "",
                 stack_id: str = ""):
        self.name = name
        self.properties = properties
        self.region = region
        self.logical_id = logical_id
        self.stack_id = stack_id
        self.physical_id = name
        self.values: dict[str, Any] = {}

    @property
    def physical_resource_id(self) -> str:
        return self.physical_id

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.type_name

    @classmethod
    def cloudformation_name_type(cls) -> str | None:
        return cls.name_property

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.attributes

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self.values:
            from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
            raise UnformattedGetAttTemplateException()
        return self.values[attribute_name]

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> Any:
        resource = cls(resource_name, cloudformation_json.get("Properties") or {}, region_name,
                       kwargs.get("LogicalId", ""), kwargs.get("StackId", ""))
        resource.create()
        return resource

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                        cloudformation_json: dict[str, Any], account_id: str,
                                        region_name: str) -> Any:
        return original_resource.update(new_resource_name, cloudformation_json.get("Properties") or {})

    def delete(self, account_id: str, region_name: str) -> None:
        self.remove()

    def create(self) -> None:
        raise NotImplementedError

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        """Update in place (return self) or build a replacement (return a new, created instance)."""
        replacement = type(self)(new_name, properties, self.region, self.logical_id, self.stack_id)
        replacement.create()
        return replacement

    def remove(self) -> None:
        raise NotImplementedError


def _camel(value: Any, special: dict[str, str] | None = None) -> Any:
    """CloudFormation's PascalCase property names to the camelCase of the JSON APIs."""
    special = special or {}
    if isinstance(value, dict):
        return {special.get(k, k[:1].lower() + k[1:]): _camel(v, special) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v, special) for v in value]
    return value


def _as_bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"


def _tags(value: Any, key: str = "Key", val: str = "Value") -> list[dict[str, str]]:
    return [{key: str(t["Key"]), val: str(t["Value"])} for t in value or []]


def _sagemaker_request(properties: dict[str, Any], base: dict[str, Any],
                       optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """`base`, each optional property that is set, and the tags: a SageMaker Create call's request."""
    request = {**base, **{key: properties[key] for key in optional if properties.get(key)}}
    if properties.get("Tags"):
        request["Tags"] = _tags(properties["Tags"])
    return request


class CodeBuildProject(LocalResource):
    type_name = "AWS::CodeBuild::Project"
    name_property = "Name"
    attributes = ("Arn",)

    def _request(self) -> dict[str, Any]:
        p = self.properties
        special = {"BuildSpec": "buildspec", "CloudWatchLogs": "cloudWatchLogs", "S3Logs": "s3Logs"}
        environment = _camel(p.get("Environment") or {}, special)
        if "privilegedMode" in environment:
            environment["privilegedMode"] = _as_bool(environment["privilegedMode"])
        for variable in environment.get("environmentVariables") or []:
            variable["value"] = str(variable.get("value", ""))
        request: dict[str, Any] = {
            "name": self.name,
            "source": _camel(p.get("Source") or {}, special),
            "artifacts": _camel(p.get("Artifacts") or {"Type": "NO_ARTIFACTS"}, special),
            "environment": environment,
            "serviceRole": p.get("ServiceRole", ""),
        }
        for key, target in (("Description", "description"), ("TimeoutInMinutes", "timeoutInMinutes"),
                            ("QueuedTimeoutInMinutes", "queuedTimeoutInMinutes"), ("SourceVersion", "sourceVersion"),
                            ("EncryptionKey", "encryptionKey")):
            if p.get(key) is not None:
                request[target] = int(p[key]) if target.endswith("Minutes") else p[key]
        if p.get("LogsConfig"):
            request["logsConfig"] = _camel(p["LogsConfig"], special)
        if p.get("Cache"):
            request["cache"] = _camel(p["Cache"], special)
        if p.get("SecondarySources"):
            request["secondarySources"] = _camel(p["SecondarySources"], special)
        if p.get("SecondaryArtifacts"):
            request["secondaryArtifacts"] = _camel(p["SecondaryArtifacts"], special)
        if p.get("Tags"):
            request["tags"] = _tags(p["Tags"], "key", "value")
        return request

    # moto's CreateProject wrongly wants a location for CODEPIPELINE sources and has no UpdateProject,
    # so projects go to its backend directly.
    def _save(self) -> None:
        request = self._request()
        backend = _cloud().backend("codebuild", self.region)
        history = backend.build_history.get(self.name)
        metadata = backend.create_project(
            request["name"], request.get("description"), request["source"], request["artifacts"],
            request["environment"], request["serviceRole"], request.get("tags"), request.get("cache"),
            request.get("timeoutInMinutes"), request.get("queuedTimeoutInMinutes"), request.get("sourceVersion"),
            request.get("logsConfig"), None)
        if history:
            backend.build_history[self.name] = history
        self.values = {"Arn": metadata["arn"]}

    def create(self) -> None:
        if self.name in _cloud().backend("codebuild", self.region).codebuild_projects:
            raise ValueError(f"{self.name} already exists (Service: AWSCodeBuild; Error Code: "
                             f"ResourceAlreadyExistsException)")
        self._save()

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        if new_name != self.name:
            return super().update(new_name, properties)
        self.properties = properties
        self._save()
        return self

    def remove(self) -> None:
        _cloud().backend("codebuild", self.region).delete_project(self.name)


class CodePipelinePipeline(LocalResource):
    type_name = "AWS::CodePipeline::Pipeline"
    name_property = "Name"
    attributes = ("Version",)

    def _definition(self) -> dict[str, Any]:
        p = self.properties
        stages = []
        for stage in p.get("Stages") or []:
            actions = []
            for action in stage.get("Actions") or []:
                item: dict[str, Any] = {
                    "name": action["Name"],
                    "actionTypeId": _camel(action["ActionTypeId"]),
                    "runOrder": int(action.get("RunOrder", 1)),
                    "configuration": {k: (str(v).lower() if isinstance(v, bool) else
                                          v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list))
                                          else str(v)) for k, v in (action.get("Configuration") or {}).items()},
                    "inputArtifacts": [{"name": a["Name"]} for a in action.get("InputArtifacts") or []],
                    "outputArtifacts": [{"name": a["Name"]} for a in action.get("OutputArtifacts") or []],
                }
                for key in ("RoleArn", "Region", "Namespace"):
                    if action.get(key):
                        item[key[:1].lower() + key[1:]] = action[key]
                if action.get("TimeoutInMinutes"):
                    item["timeoutInMinutes"] = int(action["TimeoutInMinutes"])
                actions.append(item)
            stages.append({"name": stage["Name"], "actions": actions})
        definition: dict[str, Any] = {"name": self.name, "roleArn": p.get("RoleArn", ""), "stages": stages}
        if p.get("ArtifactStore"):
            definition["artifactStore"] = _camel(p["ArtifactStore"])
        if p.get("ArtifactStores"):
            definition["artifactStores"] = {s["Region"]: _camel(s["ArtifactStore"]) for s in p["ArtifactStores"]}
        if p.get("PipelineType"):
            definition["pipelineType"] = p["PipelineType"]
        if p.get("ExecutionMode"):
            definition["executionMode"] = p["ExecutionMode"]
        if p.get("Variables"):
            definition["variables"] = _camel(p["Variables"])
        return definition

    def create(self) -> None:
        kwargs: dict[str, Any] = {"pipeline": self._definition()}
        if self.properties.get("Tags"):
            kwargs["tags"] = _tags(self.properties["Tags"], "key", "value")
        # CreatePipeline through the API starts the first execution, as on AWS.
        pipeline = _client("codepipeline", self.region).create_pipeline(**kwargs)["pipeline"]
        self.values = {"Version": str(pipeline.get("version", 1))}

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        if new_name != self.name:
            return super().update(new_name, properties)
        self.properties = properties
        client = _client("codepipeline", self.region)
        pipeline = client.update_pipeline(pipeline=self._definition())["pipeline"]
        self.values = {"Version": str(pipeline.get("version", 1))}
        if _as_bool(properties.get("RestartExecutionOnUpdate", False)):
            client.start_pipeline_execution(name=self.name)
        return self

    def remove(self) -> None:
        _client("codepipeline", self.region).delete_pipeline(name=self.name)


def _sagemaker_name(name: str) -> str:
    return name[:63].rstrip("-")


class SageMakerModel(LocalResource):
    type_name = "AWS::SageMaker::Model"
    name_property = "ModelName"
    attributes = ("ModelName",)

    def create(self) -> None:
        p = self.properties
        self.name = _sagemaker_name(self.name)
        request = _sagemaker_request(p, {"ModelName": self.name, "ExecutionRoleArn": p["ExecutionRoleArn"]},
                                     ("PrimaryContainer", "Containers", "VpcConfig", "InferenceExecutionConfig"))
        if p.get("EnableNetworkIsolation") is not None:
            request["EnableNetworkIsolation"] = _as_bool(p["EnableNetworkIsolation"])
        self.physical_id = _client("sagemaker", self.region).create_model(**request)["ModelArn"]
        self.values = {"ModelName": self.name}

    def remove(self) -> None:
        _client("sagemaker", self.region).delete_model(ModelName=self.name)


class SageMakerEndpointConfig(LocalResource):
    type_name = "AWS::SageMaker::EndpointConfig"
    name_property = "EndpointConfigName"
    attributes = ("EndpointConfigName",)

    def create(self) -> None:
        p = self.properties
        self.name = _sagemaker_name(self.name)
        variants = copy.deepcopy(p.get("ProductionVariants") or [])
        for variant in variants:
            if "InitialInstanceCount" in variant:
                variant["InitialInstanceCount"] = int(variant["InitialInstanceCount"])
            if "InitialVariantWeight" in variant:
                variant["InitialVariantWeight"] = float(variant["InitialVariantWeight"])
        request = _sagemaker_request(p, {"EndpointConfigName": self.name, "ProductionVariants": variants},
                                     ("KmsKeyId", "AsyncInferenceConfig"))
        if p.get("DataCaptureConfig"):
            capture = copy.deepcopy(p["DataCaptureConfig"])
            capture["EnableCapture"] = _as_bool(capture.get("EnableCapture", True))
            if "InitialSamplingPercentage" in capture:
                capture["InitialSamplingPercentage"] = int(capture["InitialSamplingPercentage"])
            request["DataCaptureConfig"] = capture
        self.physical_id = _client("sagemaker", self.region).create_endpoint_config(**request)["EndpointConfigArn"]
        self.values = {"EndpointConfigName": self.name}

    def remove(self) -> None:
        _client("sagemaker", self.region).delete_endpoint_config(EndpointConfigName=self.name)


class SageMakerEndpoint(LocalResource):
    type_name = "AWS::SageMaker::Endpoint"
    name_property = "EndpointName"
    attributes = ("EndpointName",)

    def _wait(self, action: str) -> None:
        timeout = float(_settings().get("resource_timeout_seconds", DEFAULT_RESOURCE_TIMEOUT))
        deadline = time.monotonic() + timeout
        client = _client("sagemaker", self.region)
        while True:
            described = client.describe_endpoint(EndpointName=self.name)
            status = described["EndpointStatus"]
            if status == "InService":
                return
            if status == "Failed" or (action == "update" and status not in ("Updating", "Creating", "SystemUpdating")):
                raise RuntimeError(f"Endpoint {self.name} is {status}: "
                                   f"{described.get('FailureReason') or 'no failure reason given'}")
            if time.monotonic() >= deadline:
                raise RuntimeError(f"Endpoint {self.name} did not become InService within {timeout:g} seconds "
                                   f"(it is {status})")
            time.sleep(0.25)

    def create(self) -> None:
        p = self.properties
        self.name = _sagemaker_name(self.name)
        request = _sagemaker_request(p, {"EndpointName": self.name, "EndpointConfigName": p["EndpointConfigName"]})
        client = _client("sagemaker", self.region)
        self.physical_id = client.create_endpoint(**request)["EndpointArn"]
        self.values = {"EndpointName": self.name}
        try:
            self._wait("create")
        except Exception:
            # A failed endpoint is removed, as CloudFormation's rollback would.
            try:
                client.delete_endpoint(EndpointName=self.name)
            except Exception:
                log.info("could not remove failed endpoint %s", self.name)
            raise

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        if _sagemaker_name(new_name) != self.name:
            return super().update(new_name, properties)
        self.properties = properties
        request: dict[str, Any] = {"EndpointName": self.name, "EndpointConfigName": properties["EndpointConfigName"]}
        if properties.get("RetainAllVariantProperties") is not None:
            request["RetainAllVariantProperties"] = _as_bool(properties["RetainAllVariantProperties"])
        if properties.get("ExcludeRetainedVariantProperties"):
            request["ExcludeRetainedVariantProperties"] = properties["ExcludeRetainedVariantProperties"]
        if properties.get("RetainDeploymentConfig") is not None:
            request["RetainDeploymentConfig"] = _as_bool(properties["RetainDeploymentConfig"])
        client = _client("sagemaker", self.region)
        current = client.describe_endpoint(EndpointName=self.name)
        if current.get("EndpointConfigName") != properties["EndpointConfigName"]:
            client.update_endpoint(**request)
            self._wait("update")
        return self

    def remove(self) -> None:
        _client("sagemaker", self.region).delete_endpoint(EndpointName=self.name)


class ScalableTarget(LocalResource):
    type_name = "AWS::ApplicationAutoScaling::ScalableTarget"
    attributes = ("Id",)

    def _request(self) -> dict[str, Any]:
        p = self.properties
        request = {"ServiceNamespace": p["ServiceNamespace"], "ResourceId": p["ResourceId"],
                   "ScalableDimension": p["ScalableDimension"], "MinCapacity": int(p["MinCapacity"]),
                   "MaxCapacity": int(p["MaxCapacity"])}
        if p.get("RoleARN"):
            request["RoleARN"] = p["RoleARN"]
        return request

    def create(self) -> None:
        request = self._request()
        _client("application-autoscaling", self.region).register_scalable_target(**request)
        self.physical_id = f"{request['ResourceId']}|{request['ScalableDimension']}|{request['ServiceNamespace']}"
        self.values = {"Id": self.physical_id}

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        old = self._request()
        new = type(self)(new_name, properties, self.region, self.logical_id, self.stack_id)._request()
        if any(old[k] != new[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")):
            return super().update(new_name, properties)
        self.properties = properties
        _client("application-autoscaling", self.region).register_scalable_target(**new)
        return self

    def remove(self) -> None:
        request = self._request()
        _client("application-autoscaling", self.region).deregister_scalable_target(
            ServiceNamespace=request["ServiceNamespace"], ResourceId=request["ResourceId"],
            ScalableDimension=request["ScalableDimension"])


class ScalingPolicy(LocalResource):
    type_name = "AWS::ApplicationAutoScaling::ScalingPolicy"
    attributes = ("Arn",)

    def _target(self) -> dict[str, str]:
        p = self.properties
        if p.get("ScalingTargetId"):
            resource_id, dimension, namespace = str(p["ScalingTargetId"]).split("|")
            return {"ResourceId": resource_id, "ScalableDimension": dimension, "ServiceNamespace": namespace}
        return {"ResourceId": p["ResourceId"], "ScalableDimension": p["ScalableDimension"],
                "ServiceNamespace": p["ServiceNamespace"]}

    def create(self) -> None:
        p = self.properties
        request: dict[str, Any] = {"PolicyName": p["PolicyName"], "PolicyType": p.get("PolicyType"),
                                   **self._target()}
        if p.get("TargetTrackingScalingPolicyConfiguration"):
            config = copy.deepcopy(p["TargetTrackingScalingPolicyConfiguration"])
            config["TargetValue"] = float(config["TargetValue"])
            for key in ("ScaleInCooldown", "ScaleOutCooldown"):
                if key in config:
                    config[key] = int(config[key])
            if "DisableScaleIn" in config:
                config["DisableScaleIn"] = _as_bool(config["DisableScaleIn"])
            request["TargetTrackingScalingPolicyConfiguration"] = config
        if p.get("StepScalingPolicyConfiguration"):
            request["StepScalingPolicyConfiguration"] = p["StepScalingPolicyConfiguration"]
        response = _client("application-autoscaling", self.region).put_scaling_policy(**request)
        self.physical_id = response["PolicyARN"]
        self.values = {"Arn": self.physical_id}

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        if properties.get("PolicyName") != self.properties.get("PolicyName"):
            return super().update(new_name, properties)
        self.properties = properties
        self.create()
        return self

    def remove(self) -> None:
        _client("application-autoscaling", self.region).delete_scaling_policy(
            PolicyName=self.properties["PolicyName"], **self._target())


def _stringify(value: Any) -> Any:
    """Custom resources receive every property value as a string, as CloudFormation sends them."""
    if isinstance(value, dict):
        return {k: _stringify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify(v) for v in value]
    if isinstance(value, bool):
        return str(value).lower()
    return value if value is None or isinstance(value, str) else str(value)


class CustomResource(LocalResource):
    """A Lambda-backed custom resource: each request invokes the function and waits for its ResponseURL."""

    type_name = "AWS::CloudFormation::CustomResource"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.resource_type = "AWS::CloudFormation::CustomResource"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> Any:
        resource = cls(resource_name, cloudformation_json.get("Properties") or {}, region_name,
                       kwargs.get("LogicalId", ""), kwargs.get("StackId", ""))
        resource.resource_type = kwargs.get("ResourceType", cls.type_name)
        resource.create()
        return resource

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self.values:
            raise ValueError(f"CustomResource attribute error: Vendor response doesn't contain {attribute_name} key "
                             f"in object {self.stack_id}|{self.logical_id}|{self.physical_id}")
        return self.values[attribute_name]

    def _request(self, request_type: str, extra: dict[str, Any]) -> dict[str, Any]:
        token = self.properties.get("ServiceToken")
        if not token:
            raise ValueError("The custom resource has no ServiceToken property: give it the ARN of its Lambda function")
        if ":lambda:" not in str(token):
            raise ValueError(f"ServiceToken {token} is not a Lambda function ARN; the local cloud runs Lambda-backed "
                             f"custom resources only")
        request_id = str(uuid.uuid4())
        event = {
            "RequestType": request_type,
            "ServiceToken": token,
            "ResponseURL": f"{_cloud().endpoint_url}/_localcloud/cloudformation/response/{request_id}",
            "StackId": self.stack_id,
            "RequestId": request_id,
            "LogicalResourceId": self.logical_id,
            "ResourceType": self.resource_type,
            "ResourceProperties": _stringify(self.properties),
            **extra,
        }
        slot: dict[str, Any] = {"event": threading.Event(), "request": event}
        with _pending_lock:
            _pending[request_id] = slot
        invoked = threading.Event()
        invocation: dict[str, Any] = {}

        def invoke() -> None:
            from botocore.exceptions import ClientError
            try:
                response = _client("lambda", self.region, read_timeout=960).invoke(
                    FunctionName=token, InvocationType="RequestResponse", Payload=json.dumps(event).encode())
                payload = response["Payload"].read()
                if response.get("FunctionError"):
                    try:
                        body = json.loads(payload)
                        invocation["error"] = f"{body.get('errorType', 'Error')}: {body.get('errorMessage', '')}"
                    except ValueError:
                        invocation["error"] = payload.decode(errors="replace")
            except ClientError as exc:
                invocation["error"] = f"{exc.response['Error']['Code']}: {exc.response['Error'].get('Message', '')}"
            except Exception as exc:
                invocation["error"] = f"{type(exc).__name__}: {exc}"
            finally:
                invoked.set()

        threading.Thread(target=invoke, daemon=True, name=f"custom-resource-{self.logical_id}").start()
        timeout = float(_settings().get("custom_resource_timeout_seconds", DEFAULT_CUSTOM_RESOURCE_TIMEOUT))
        deadline = time.monotonic() + timeout
        failed_at: float | None = None
        try:
            while not slot["event"].wait(0.1):
                now = time.monotonic()
                if invoked.is_set() and invocation.get("error"):
                    failed_at = failed_at or now
                    if now - failed_at >= CUSTOM_RESOURCE_ERROR_GRACE:
                        raise RuntimeError(f"The custom resource's function {token} failed without sending a "
                                           f"response: {invocation['error']}")
                if now >= deadline:
                    raise RuntimeError(f"CloudFormation did not receive a response from your Custom Resource within "
                                       f"{timeout:g} seconds. Please check your logs for requestId [{request_id}].")
        finally:
            with _pending_lock:
                _pending.pop(request_id, None)
        answer = slot["answer"]
        if answer.get("Status") != "SUCCESS":
            raise RuntimeError(f"Received response status [{answer.get('Status')}] from custom resource. "
                               f"Message returned: {answer.get('Reason') or 'no reason given'}")
        return answer

    def create(self) -> None:
        answer = self._request("Create", {})
        self.physical_id = answer.get("PhysicalResourceId") or f"{self.logical_id}-{uuid.uuid4().hex[:12]}"
        self.values = dict(answer.get("Data") or {})

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        updated = type(self)(self.name, properties, self.region, self.logical_id, self.stack_id)
        updated.resource_type = self.resource_type
        answer = updated._request("Update", {"PhysicalResourceId": self.physical_id,
                                             "OldResourceProperties": _stringify(self.properties)})
        updated.physical_id = answer.get("PhysicalResourceId") or self.physical_id
        updated.values = dict(answer.get("Data") or {})
        return updated

    def remove(self) -> None:
        self._request("Delete", {"PhysicalResourceId": self.physical_id})


RESOURCE_TYPES: dict[str, Any] = {
    cls.type_name: cls for cls in (CodeBuildProject, CodePipelinePipeline, SageMakerModel, SageMakerEndpointConfig,
                                   SageMakerEndpoint, ScalableTarget, ScalingPolicy, CustomResource)
}


def _get_model_list() -> list[Any]:
    ours = list(RESOURCE_TYPES.values())
    return ours + [m for m in _ORIGINAL_GET_MODEL_LIST() if m.cloudformation_type() not in RESOURCE_TYPES]


# moto's own map functions call get_model_list() by its module name, so they are not called while it is patched:
# their caches would keep this module's types after the local cloud stops.
def _get_model_map() -> dict[str, Any]:
    return {**{m.cloudformation_type(): m for m in _ORIGINAL_GET_MODEL_LIST()}, **RESOURCE_TYPES}


def _get_name_type_map() -> dict[str, str]:
    return {**{m.cloudformation_type(): m.cloudformation_name_type() for m in _ORIGINAL_GET_MODEL_LIST()},
            **{k: v.cloudformation_name_type() for k, v in RESOURCE_TYPES.items()}}


_PATCHES: list[tuple[Any, str, Any]] = [
    (parsing, "get_model_list", _get_model_list),
    (parsing, "get_model_map", _get_model_map),
    (parsing, "get_name_type_map", _get_name_type_map),
    (parsing, "CustomModel", CustomResource),
    (Stack, "outputs", property(_outputs)),
    (Stack, "exports", property(_exports)),
    (Stack, "stack_resources", property(_stack_resources)),
    (CloudFormationBackend, "create_stack", _create_stack),
    (CloudFormationBackend, "update_stack", _update_stack),
    (CloudFormationBackend, "delete_stack", _delete_stack),
    (CloudFormationBackend, "execute_change_set", _execute_change_set),
    (cfn_responses.CloudFormationResponse, "create_stack", _response_create),
    (cfn_responses.CloudFormationResponse, "update_stack", _response_update),
]
_originals: list[tuple[Any, str, Any]] = []


def _patch_moto() -> None:
    """Put this module's stack operations and resource types into moto while a local cloud runs."""
    if _originals:
        return
    for cached in (_ORIGINAL_GET_MODEL_LIST, _ORIGINAL_GET_MODEL_MAP, _ORIGINAL_GET_NAME_TYPE_MAP):
        cached.cache_clear()
    for owner, name, replacement in _PATCHES:
        _originals.append((owner, name, owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)))
        setattr(owner, name, replacement)


def _unpatch_moto() -> None:
    """moto as it was, for code in this process that uses moto without a local cloud (mock_aws tests)."""
    while _originals:
        owner, name, original = _originals.pop()
        setattr(owner, name, original)
    for cached in (_ORIGINAL_GET_MODEL_LIST, _ORIGINAL_GET_MODEL_MAP, _ORIGINAL_GET_NAME_TYPE_MAP):
        cached.cache_clear()


def install(cloud: LocalCloud) -> None:
    _patch_moto()
    _clouds.append(cloud)
    def uninstall() -> None:
        if cloud in _clouds:
            _clouds.remove(cloud)
        with _clients_lock:
            for key in [k for k in _clients if k[0] == cloud.endpoint_url]:
                del _clients[key]
        if not _clouds:
            _unpatch_moto()
    cloud.on_shutdown(uninstall)
    entry = ("", "PUT", RESPONSE_PATH, "CustomResourceResponse")
    if entry not in server.REST_ACTIONS:
        server.REST_ACTIONS.append(entry)

    @cloud.route("", "CustomResourceResponse")
    def custom_resource_response(req: AwsRequest) -> AwsResponse:
        request_id = req.path_params["request_id"]
        with _pending_lock:
            slot = _pending.get(request_id)
        if slot is None:
            return json_error("AccessDenied", f"No custom resource request {request_id} is waiting for a response "
                                              f"(it was answered already or timed out)", 403)
        try:
            answer = json.loads(req.body or b"{}")
        except ValueError:
            return json_error("InvalidRequest", "The response body is not JSON", 400)
        if answer.get("RequestId") not in (None, request_id) or answer.get("Status") not in ("SUCCESS", "FAILED"):
            return json_error("InvalidRequest", "The response needs Status SUCCESS or FAILED and this RequestId", 400)
        slot["answer"] = answer
        slot["event"].set()
        return AwsResponse(200, b"")
