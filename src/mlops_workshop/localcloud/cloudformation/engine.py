"""CloudFormation's stack operations, as CloudFormation runs them: in the background, resource by resource in
dependency order, with the events CloudFormation writes (CREATE_IN_PROGRESS, CREATE_COMPLETE, CREATE_FAILED with the
resource's own reason, ROLLBACK_*, UPDATE_*, DELETE_*). A failed create rolls back (or stops, with OnFailure
DO_NOTHING); a failed update rolls back. Updates compare each resource's resolved properties with the ones it was
built from: unchanged resources are kept, changed ones are updated in place or replaced, removed ones deleted in the
cleanup phase.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from moto.cloudformation import parsing
from moto.cloudformation.exceptions import AlreadyExistsException, ValidationError
from moto.cloudformation.models import CloudFormationBackend, Event, Stack
from moto.cloudformation.utils import generate_stack_id
from moto.core.utils import utcnow

from . import patches, templates, transforms
from .exceptions import ResourceFailed
from .resources import LocalResource

if TYPE_CHECKING:
    from .service import CloudFormationService

log = logging.getLogger("mlops_workshop.localcloud.cloudformation")


def _reason(exc: BaseException) -> str:
    """The message a failed resource shows in its event, from whichever layer raised."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Message') or error.get('Code')} (Service: {error.get('Code', 'Error')})"
    message = getattr(exc, "message", None) or getattr(exc, "description", None) or str(exc)
    return str(message) or type(exc).__name__


def _event(stack: Stack, logical_id: str, kind: str, status: str, reason: str | None = None,
           physical_id: str | None = None, properties: Any = None) -> None:
    event = Event(stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
                  physical_resource_id=physical_id or "", resource_type=kind, resource_status=status,
                  resource_status_reason=reason,
                  resource_properties=json.dumps(properties, default=str) if properties is not None else None)
    stack.events.append(event)
    if stack.notification_arns:
        _notify(stack, event)


def _notify(stack: Stack, event: Event) -> None:
    """A stack event to the stack's SNS topics, in the message CloudFormation publishes."""
    from moto.core.utils import iso_8601_datetime_with_milliseconds
    from moto.sns.models import sns_backends

    fields = {"StackId": event.stack_id, "Timestamp": iso_8601_datetime_with_milliseconds(event.timestamp),
              "EventId": str(event.event_id), "LogicalResourceId": event.logical_resource_id,
              "Namespace": stack.account_id, "PhysicalResourceId": event.physical_resource_id,
              "PrincipalId": stack.account_id, "ResourceProperties": event.resource_properties or "null",
              "ResourceStatus": event.resource_status, "ResourceStatusReason": event.resource_status_reason or "",
              "ResourceType": event.resource_type, "StackName": event.stack_name,
              "ClientRequestToken": event.client_request_token or "null"}
    message = "\n".join(f"{key}='{value}'" for key, value in fields.items()) + "\n"
    for topic in stack.notification_arns:
        try:
            region = topic.split(":")[3]
            sns_backends[stack.account_id][region].publish(message, subject="AWS CloudFormation Notification",
                                                           arn=topic)
        except Exception as exc:
            log.info("stack %s: notifying %s failed: %s", stack.name, topic, _reason(exc))


def _keep_original(stack: Stack, template: str, processed: str | None) -> None:
    """The stack made from a processed template keeps the one it was given (GetTemplate's Original stage)."""
    stack.template = template
    stack._lc_processed = processed


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
        return
    if spec["Type"] == "AWS::IAM::Role":
        _detach_policies(stack, instance)
    resource_map._delete_resource(instance, spec)


def _detach_policies(stack: Stack, role: Any) -> None:
    """CloudFormation detaches a role's managed policies and deletes its inline ones before it deletes the role."""
    from moto.iam.models import iam_backends

    backend = iam_backends[stack.account_id]["aws"]
    for arn in list(getattr(role, "managed_policies", {})):
        backend.detach_role_policy(arn, role.name)
    for name in list(getattr(role, "policies", {})):
        backend.delete_role_policy(role.name, name)


def _delete_all(stack: Stack, resource_map: Any, template: dict[str, Any], instances: dict[str, Any],
                status_prefix: str = "DELETE") -> list[str]:
    """Delete the given resources in reverse dependency order; the logical ids that failed."""
    failed: list[str] = []
    blocked: set[str] = set()
    resources = template.get("Resources", {})
    retained = {n for n, s in resources.items() if (s or {}).get("DeletionPolicy") == "Retain"}
    for logical_id in reversed(templates.order(template)):
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
            blocked |= templates.dependencies(resources, logical_id)
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
    stack._lc_exports = stack.output_map.exports
    stack._lc_outputs = patches.MOTO_STACK_OUTPUTS.fget(stack)
    for export in stack._lc_exports:
        backend.exports[export.name] = export


def _run_create(backend: CloudFormationBackend, stack: Stack, on_failure: str) -> None:
    with _lock(stack):
        template = stack.template_dict
        resource_map = stack.resource_map
        stack._lc_props = {}
        try:
            for logical_id in templates.order(template):
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
            for logical_id in templates.order(template):
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
        stack._lc_processed = getattr(stack, "_lc_next_processed", None)
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


class StackEngine:
    """CreateStack, UpdateStack, DeleteStack and ExecuteChangeSet on moto's backend, run in the background."""

    def __init__(self, service: "CloudFormationService"):
        self.service = service

    def spawn(self, name: str, target: Any, *args: Any) -> None:
        self.service.cloud.spawn(name, target, *args)

    def recover(self, backend: CloudFormationBackend, stack: Stack, in_flight: list[Any]) -> None:
        """An operation the local cloud stopped in the middle of: a create (or its rollback) is rolled back and the
        stack removed, so that the next deployment creates it again; a delete is finished; an update keeps what
        it had updated in place, loses what it had begun to make, and ends UPDATE_ROLLBACK_COMPLETE."""
        status = stack.status
        reason = f"The local cloud stopped while the stack was {status}"
        made = _created(stack)

        def discard(resources: list[Any]) -> None:
            for resource in resources:
                try:
                    resource.remove()
                except Exception as exc:
                    log.info("stack %s: %s left by the interrupted operation not deleted: %s", stack.name,
                             resource.logical_id, _reason(exc))

        if status in ("CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "DELETE_IN_PROGRESS"):
            _stack_status(stack, "ROLLBACK_IN_PROGRESS" if status != "DELETE_IN_PROGRESS" else status,
                          f"{reason}; deleting what it had made")
            failed = _delete_all(stack, stack.resource_map, stack.template_dict, made)
            discard([r for r in in_flight if r not in made.values()])
            if failed:
                _stack_status(stack, "DELETE_FAILED" if status == "DELETE_IN_PROGRESS" else "ROLLBACK_FAILED",
                              f"The following resource(s) failed to delete: [{', '.join(failed)}]. ")
                return
            _remove_stack(backend, stack)
            return
        discard([r for r in in_flight if r not in made.values()])
        if status in ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"):
            _stack_status(stack, status.replace("_CLEANUP_IN_PROGRESS", ""))
        else:
            _stack_status(stack, "UPDATE_ROLLBACK_COMPLETE", f"{reason}; what it had begun to make was deleted")

    def create_stack(self, backend: CloudFormationBackend, name: str, template: str, parameters: dict[str, Any],
                     notification_arns: list[str] | None = None, tags: dict[str, str] | None = None,
                     role_arn: str | None = None, enable_termination_protection: bool | None = False,
                     timeout_in_mins: int | None = None, stack_policy_body: str | None = None) -> Stack:
        if name in [stack.name for stack in backend.stacks.values()]:
            raise AlreadyExistsException(f"Stack [{name}] already exists")
        extras = self.service.request_extras()
        stack_id = generate_stack_id(name, backend.region_name, backend.account_id)
        template_dict, processed = self.processed(backend, template, name, stack_id, parameters,
                                                  extras.get("capabilities"))
        stack = Stack(stack_id=stack_id, name=name, template=processed or template, parameters=parameters,
                      account_id=backend.account_id,
                      region_name=backend.region_name, notification_arns=notification_arns, tags=tags,
                      role_arn=role_arn, cross_stack_resources=backend.exports,
                      enable_termination_protection=enable_termination_protection, timeout_in_mins=timeout_in_mins,
                      stack_policy_body=stack_policy_body)
        _keep_original(stack, template, processed)
        stack._lc_props = {}
        stack.disable_rollback = extras.get("on_failure") == "DO_NOTHING"
        backend.stacks[stack.stack_id] = stack
        _stack_status(stack, "CREATE_IN_PROGRESS", "User Initiated")
        self.spawn(f"cloudformation-create-{name}", _run_create, backend, stack,
                   extras.get("on_failure") or "ROLLBACK")
        return stack

    def update_stack(self, backend: CloudFormationBackend, name: str, template: str, role_arn: str | None,
                     parameters: list[dict[str, Any]], tags: dict[str, str] | None) -> Stack:
        stack = backend.get_stack(name)
        if stack.status.endswith("_IN_PROGRESS") or stack.status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED",
                                                                     "CREATE_FAILED", "DELETE_FAILED",
                                                                     "UPDATE_ROLLBACK_FAILED"):
            raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")
        # Compared and reused with the template's defaults filled in, as CloudFormation keeps a stack's parameters.
        previous = templates.effective_parameters(stack.template_dict, stack.parameters)
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
        template_dict, processed = self.processed(backend, template, stack.name, stack.stack_id, resolved,
                                                  self.service.request_extras().get("capabilities"))
        if (template_dict == stack.template_dict and templates.effective_parameters(template_dict, resolved) == previous
                and (tags is None or tags == stack.tags)):
            raise ValidationError(message="No updates are to be performed.")
        new_map = parsing.ResourceMap(stack.stack_id, stack.name, resolved, tags if tags is not None else stack.tags,
                                      region_name=stack.region_name, account_id=stack.account_id,
                                      template=template_dict, cross_stack_resources=backend.exports)
        new_map.load()
        if role_arn:
            stack.role_arn = role_arn
        stack.status = "UPDATE_IN_PROGRESS"
        stack._lc_next_processed = processed
        self.spawn(f"cloudformation-update-{stack.name}", _run_update, backend, stack, template, template_dict,
                   new_map, resolved, tags)
        return stack

    def processed(self, backend: CloudFormationBackend, template: str, name: str, stack_id: str,
                  parameters: dict[str, Any], capabilities: list[str] | None,
                  change_set: bool = False) -> tuple[dict[str, Any], str | None]:
        """The template as the stack will use it, checked as CloudFormation checks it: with its transforms
        applied (the processed template's JSON, else None), parameters, resource types and IAM capabilities."""
        template_dict = templates.parse(template)
        if not change_set:
            transforms.check_auto_expand(template_dict, capabilities)
        templates.check_parameters(template_dict, parameters)
        processed = None
        if transforms.declared(template_dict):
            context = transforms.StackContext(name, stack_id, backend.region_name, backend.account_id,
                                              {k: str(v) for k, v in parameters.items()})
            template_dict = transforms.process(template_dict, context, self.managed_policies())
            processed = json.dumps(template_dict)
        templates.check_template(template_dict, capabilities)
        templates.check_references(template_dict, backend.exports)
        templates.order(template_dict)
        return template_dict, processed

    def managed_policies(self) -> Any:
        """Where the SAM translator looks up the AWS managed policies it does not carry: this cloud's IAM."""
        if getattr(self, "_managed_policies", None) is None:
            from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
            self._managed_policies = ManagedPolicyLoader(self.service.cloud.client("iam"))
        return self._managed_policies

    def create_change_set(self, backend: CloudFormationBackend, stack_name: str, change_set_name: str,
                          template: str, parameters: dict[str, str], description: str, change_set_type: str,
                          notification_arns: list[str] | None = None, tags: dict[str, str] | None = None,
                          role_arn: str | None = None) -> tuple[str, str]:
        existing = next((s for s in backend.stacks.values() if s.name == stack_name), None)
        stack_id = existing.stack_id if existing else generate_stack_id(stack_name, backend.region_name,
                                                                        backend.account_id)
        resolved = {**(existing.parameters if existing else {}), **parameters}
        _, processed = self.processed(backend, template, stack_name, stack_id, resolved,
                                      self.service.request_extras().get("capabilities"), change_set=True)
        change_set_id, stack_id = patches.MOTO_CREATE_CHANGE_SET(
            backend, stack_name=stack_name, change_set_name=change_set_name, template=processed or template,
            parameters=parameters, description=description, change_set_type=change_set_type,
            notification_arns=notification_arns, tags=tags, role_arn=role_arn)
        change_set = backend.change_sets[change_set_id]
        change_set._lc_original = template
        change_set._lc_processed = processed
        if change_set_type == "CREATE":
            _keep_original(backend.stacks[stack_id], template, processed)
        return change_set_id, stack_id

    def delete_stack(self, backend: CloudFormationBackend, name_or_stack_id: str) -> None:
        stack = backend.stacks.get(name_or_stack_id) or next(
            (s for s in backend.stacks.values() if s.name == name_or_stack_id), None)
        if stack is None or stack.status in ("DELETE_IN_PROGRESS", "DELETE_COMPLETE"):
            return
        stack.status = "DELETE_IN_PROGRESS"
        self.spawn(f"cloudformation-delete-{stack.name}", _run_delete, backend, stack)

    def execute_change_set(self, backend: CloudFormationBackend, change_set_name: str,
                           stack_name: str | None = None) -> None:
        change_set = backend.describe_change_set(change_set_name)
        stack = backend.stacks[change_set.stack_id]
        change_set.execution_status = "EXECUTE_IN_PROGRESS"
        original = getattr(change_set, "_lc_original", change_set.template)
        if change_set.change_set_type == "CREATE":
            templates.check_parameters(change_set.template_dict, change_set.parameters)
            stack.template = original
            stack._lc_processed = getattr(change_set, "_lc_processed", None)
            stack.template_dict = change_set.template_dict
            stack.parameters = change_set.parameters
            stack.resource_map = stack._create_resource_map()
            stack.output_map = stack._create_output_map()
            stack._lc_props = {}
            _stack_status(stack, "CREATE_IN_PROGRESS", "User Initiated")
            self.spawn(f"cloudformation-create-{stack.name}", _run_create, backend, stack, "ROLLBACK")
        else:
            resolved = {**stack.parameters, **change_set.parameters}
            templates.check_parameters(change_set.template_dict, resolved)
            new_map = parsing.ResourceMap(stack.stack_id, stack.name, resolved, stack.tags,
                                          region_name=stack.region_name, account_id=stack.account_id,
                                          template=change_set.template_dict, cross_stack_resources=backend.exports)
            new_map.load()
            stack.status = "UPDATE_IN_PROGRESS"
            stack._lc_next_processed = getattr(change_set, "_lc_processed", None)
            self.spawn(f"cloudformation-update-{stack.name}", _run_update, backend, stack, original,
                       change_set.template_dict, new_map, resolved, None)
        change_set.execution_status = "EXECUTE_COMPLETE"
