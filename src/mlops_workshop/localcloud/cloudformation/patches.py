"""What the CloudFormation service replaces in moto, all in one place.

moto parses templates and keeps stacks, but creates every resource inside the CreateStack call, skips the resource
types it lacks, reports no resource events, never rolls back, and only handles the Create request of a custom
resource. Here moto's stacks and parser stay; its stack operations go to the engine (engine.py), its model map gains
the resource types of resources/ (bound to this service), and a stack's outputs are the ones the engine resolved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.models import CloudFormationBackend, Stack
from moto.logs.models import LogGroup

from .resources import RESOURCE_TYPES, CustomResource

if TYPE_CHECKING:
    from .service import CloudFormationService

# moto's own, kept to delegate to: its parser's maps are lru_cached, so they are cleared when ours come and go.
MOTO_STACK_OUTPUTS = Stack.outputs
MOTO_STACK_EXPORTS = Stack.exports
MOTO_GET_MODEL_LIST = parsing.get_model_list
MOTO_GET_MODEL_MAP = parsing.get_model_map
MOTO_GET_NAME_TYPE_MAP = parsing.get_name_type_map
MOTO_RESPONSE_CREATE = cfn_responses.CloudFormationResponse.create_stack
MOTO_RESPONSE_UPDATE = cfn_responses.CloudFormationResponse.update_stack
MOTO_RESOURCE_DTO = cfn_responses.StackResourceDTO.__init__
MOTO_LOG_GROUP_ATTRIBUTE = LogGroup.get_cfn_attribute


def _clear_caches() -> None:
    for cached in (MOTO_GET_MODEL_LIST, MOTO_GET_MODEL_MAP, MOTO_GET_NAME_TYPE_MAP):
        cached.cache_clear()


def apply(service: "CloudFormationService") -> None:
    bound = {kind: type(cls.__name__, (cls,), {"service": service}) for kind, cls in RESOURCE_TYPES.items()}
    service.resource_types = bound

    def get_model_list() -> list[Any]:
        return list(bound.values()) + [m for m in MOTO_GET_MODEL_LIST() if m.cloudformation_type() not in bound]

    # moto's own map functions call get_model_list() by its module name, so they are not called while it is patched:
    # their caches would keep this service's types after the local cloud stops.
    def get_model_map() -> dict[str, Any]:
        return {**{m.cloudformation_type(): m for m in MOTO_GET_MODEL_LIST()}, **bound}

    def get_name_type_map() -> dict[str, str]:
        return {**{m.cloudformation_type(): m.cloudformation_name_type() for m in MOTO_GET_MODEL_LIST()},
                **{k: v.cloudformation_name_type() for k, v in bound.items()}}

    def outputs(self: Stack) -> Any:
        if hasattr(self, "_lc_outputs"):
            return self._lc_outputs
        if hasattr(self, "_lc_props"):
            return None
        return MOTO_STACK_OUTPUTS.fget(self)

    def exports(self: Stack) -> Any:
        if hasattr(self, "_lc_props"):
            return getattr(self, "_lc_exports", [])
        return MOTO_STACK_EXPORTS.fget(self)

    def stack_resources(self: Stack) -> list[Any]:
        parsed = self.resource_map._parsed_resources
        return [parsed[name] for name in self.resource_map._resource_json_map
                if name in parsed and parsed[name] is not None]

    # CreateStack's Capabilities and OnFailure reach the backend's create_stack, which moto does not pass them to.
    def response_create(self: Any) -> Any:
        with service.request({"capabilities": self._get_param("Capabilities", []) or [],
                              "on_failure": self._get_param("OnFailure")
                              or ("DO_NOTHING" if self._get_bool_param("DisableRollback", False) else "ROLLBACK")}):
            return MOTO_RESPONSE_CREATE(self)

    def response_update(self: Any) -> Any:
        with service.request({"capabilities": self._get_param("Capabilities", []) or []}):
            return MOTO_RESPONSE_UPDATE(self)

    # DescribeStackResource(s): a resource's status and times are its last event's (moto answers the stack's status,
    # a fixed 2010 Timestamp and no LastUpdatedTimestamp, which StackResourceDetail always has).
    def resource_dto(self: Any, stack: Stack, resource: Any) -> None:
        MOTO_RESOURCE_DTO(self, stack, resource)
        last = next((e for e in reversed(stack.events) if e.logical_resource_id == self.logical_resource_id), None)
        self.timestamp = self.last_updated_timestamp = last.timestamp if last else stack.creation_time
        if last is not None:
            self.resource_status = last.resource_status

    # A log group's Arn attribute ends with ":*" in AWS (it covers the group's streams); moto's has no suffix.
    def log_group_attribute(self: Any, attribute_name: str) -> str:
        value = MOTO_LOG_GROUP_ATTRIBUTE(self, attribute_name)
        return f"{value}:*" if attribute_name == "Arn" else value

    engine = service.engine
    _clear_caches()
    for owner, name, replacement in (
            (parsing, "get_model_list", get_model_list),
            (parsing, "get_model_map", get_model_map),
            (parsing, "get_name_type_map", get_name_type_map),
            (parsing, "CustomModel", bound[CustomResource.type_name]),
            (Stack, "outputs", property(outputs)),
            (Stack, "exports", property(exports)),
            (Stack, "stack_resources", property(stack_resources)),
            (CloudFormationBackend, "create_stack", lambda self, *a, **k: engine.create_stack(self, *a, **k)),
            (CloudFormationBackend, "update_stack", lambda self, *a, **k: engine.update_stack(self, *a, **k)),
            (CloudFormationBackend, "delete_stack", lambda self, *a, **k: engine.delete_stack(self, *a, **k)),
            (CloudFormationBackend, "execute_change_set",
             lambda self, *a, **k: engine.execute_change_set(self, *a, **k)),
            (cfn_responses.CloudFormationResponse, "create_stack", response_create),
            (cfn_responses.CloudFormationResponse, "update_stack", response_update),
            (cfn_responses.StackResourceDTO, "__init__", resource_dto),
            (LogGroup, "get_cfn_attribute", log_group_attribute)):
        service.patches.replace(owner, name, replacement)


def undo(service: "CloudFormationService") -> None:
    service.patches.undo()
    _clear_caches()
