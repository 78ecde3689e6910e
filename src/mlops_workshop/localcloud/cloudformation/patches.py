"""What the CloudFormation service replaces in moto, all in one place.

moto parses templates and keeps stacks, but creates every resource inside the CreateStack call, skips the resource
types it lacks, reports no resource events, never rolls back, and only handles the Create request of a custom
resource. Here moto's stacks and parser stay; its stack operations go to the engine (engine.py), its model map gains
the resource types of resources/ (bound to this service), and a stack's outputs are the ones the engine resolved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import ChangeSet, CloudFormationBackend, Stack
from moto.core.responses import ActionResult
from moto.logs.models import LogGroup

from . import templates, transforms
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
MOTO_RESPONSE_CREATE_CHANGE_SET = cfn_responses.CloudFormationResponse.create_change_set
MOTO_CREATE_CHANGE_SET = CloudFormationBackend.create_change_set
MOTO_TEMPLATE_FROM_S3 = cfn_models.get_stack_from_s3_url
MOTO_LOG_GROUP_ATTRIBUTE = LogGroup.get_cfn_attribute


def check_stack_name(name: str | None) -> None:
    """A stack name as CloudFormation's API takes it (moto's own stack sets name their stacks otherwise)."""
    if not templates.STACK_NAME.match(name or ""):
        raise ValidationError(message=f"1 validation error detected: Value '{name}' at 'stackName' failed to "
                                      f"satisfy constraint: Member must satisfy regular expression pattern: "
                                      f"[a-zA-Z][-a-zA-Z0-9]*")


def validation(template_body: str) -> dict[str, Any]:
    """ValidateTemplate's answer: the template's parameters, description, the capabilities it needs and why, its
    transforms (a template with transforms needs CAPABILITY_AUTO_EXPAND to be created directly)."""
    template = templates.parse(template_body)
    declared = transforms.declared(template)
    if declared:
        capability, needing = "CAPABILITY_AUTO_EXPAND", declared
    else:
        capability, needing = templates.iam_capability(template)
    parameters = [{"ParameterKey": name, "NoEcho": str(spec.get("NoEcho", "false")).lower() == "true",
                   **({"DefaultValue": templates._text(spec["Default"])} if "Default" in spec else {}),
                   **({"Description": spec["Description"]} if "Description" in spec else {})}
                  for name, spec in (template.get("Parameters") or {}).items() if isinstance(spec, dict)]
    result: dict[str, Any] = {"Parameters": parameters, "Description": template.get("Description"),
                              "Capabilities": [capability] if capability else [], "DeclaredTransforms": declared}
    if capability:
        result["CapabilitiesReason"] = f"The following resource(s) require capabilities: [{', '.join(needing)}]"
    return result


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
        check_stack_name(self._get_param("StackName"))
        with service.request({"capabilities": self._get_param("Capabilities", []) or [],
                              "on_failure": self._get_param("OnFailure")
                              or ("DO_NOTHING" if self._get_bool_param("DisableRollback", False) else "ROLLBACK")}):
            return MOTO_RESPONSE_CREATE(self)

    def response_update(self: Any) -> Any:
        with service.request({"capabilities": self._get_param("Capabilities", []) or []}):
            return MOTO_RESPONSE_UPDATE(self)

    def response_create_change_set(self: Any) -> Any:
        if self._get_param("ChangeSetType", "CREATE") == "CREATE":
            check_stack_name(self._get_param("StackName"))
        with service.request({"capabilities": self._get_param("Capabilities", []) or []}):
            return MOTO_RESPONSE_CREATE_CHANGE_SET(self)

    # GetTemplate: the template as given, or as the transforms made it (TemplateStage Processed).
    def response_get_template(self: Any) -> Any:
        stage = self._get_param("TemplateStage") or "Original"
        if stage not in ("Original", "Processed"):
            raise ValidationError(message=f"1 validation error detected: Value '{stage}' at 'templateStage' failed "
                                          f"to satisfy constraint: Member must satisfy enum value set: "
                                          f"[Original, Processed]")
        name = self._get_param("StackName")
        stack = self.cloudformation_backend.get_stack(name) if name else None
        if stack is None:
            change_set = self.cloudformation_backend.describe_change_set(self._get_param("ChangeSetName"))
            stack = change_set.stack
        body = (getattr(stack, "_lc_processed", None) if stage == "Processed" else None) or stack.template
        return ActionResult({"TemplateBody": body, "StagesAvailable": ["Original", "Processed"]})

    def response_validate_template(self: Any) -> Any:
        body = self._get_param("TemplateBody")
        if self._get_param("TemplateURL"):
            body = self._get_stack_from_s3_url(self._get_param("TemplateURL"))
        template = templates.parse(body)
        if not transforms.declared(template):
            templates.check_template(template, None)  # AWS's messages for what cfn-lint would say its own way
        lint = self.cloudformation_backend.validate_template(body)
        if lint:
            raise ValidationError(message=lint[0].message)
        return ActionResult(validation(body))

    # Two kinds of stacks compare templates: moto's re-parse of its own would drop the processed one.
    def has_template(self: Stack, other_template: str) -> bool:
        return self.template_dict == self.parse_template(other_template)

    # A TemplateURL on this cloud's own endpoint (a presigned URL boto3 made for it) names the bucket in its path.
    def template_from_s3(template_url: str, account_id: str, partition: str) -> str:
        parts = urlparse(template_url)
        if parts.netloc == urlparse(service.cloud.endpoint_url).netloc:
            bucket, key = parts.path.lstrip("/").split("/", 1)
            template_url = f"https://s3.amazonaws.com/{bucket}/{key}"
        return MOTO_TEMPLATE_FROM_S3(template_url, account_id, partition)

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

    def change_set_template(self: ChangeSet) -> None:
        self.template_dict = templates.parse(self.template)

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
            (cfn_responses.CloudFormationResponse, "create_change_set", response_create_change_set),
            (cfn_responses.CloudFormationResponse, "get_template", response_get_template),
            (cfn_responses.CloudFormationResponse, "validate_template", response_validate_template),
            (CloudFormationBackend, "create_change_set",
             lambda self, *a, **k: engine.create_change_set(self, *a, **k)),
            (Stack, "has_template", has_template),
            # Stacks and change sets read their templates as the checks did (CloudFormation's YAML, not moto's).
            (Stack, "parse_template", staticmethod(templates.parse)),
            (ChangeSet, "_parse_template", change_set_template),
            (cfn_models, "get_stack_from_s3_url", template_from_s3),
            (cfn_responses, "get_stack_from_s3_url", template_from_s3),
            (LogGroup, "get_cfn_attribute", log_group_attribute)):
        service.patches.replace(owner, name, replacement)


def undo(service: "CloudFormationService") -> None:
    service.patches.undo()
    _clear_caches()
