"""The base of the resource types the local cloud provides, and the conversions between CloudFormation's
properties and the service APIs' requests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from moto.cloudformation.parsing import generate_resource_name

if TYPE_CHECKING:
    from ..service import CloudFormationService


class LocalResource:
    """A resource type provided by the local cloud, in the shape moto's parser expects of a CloudFormationModel
    (it finds these through the patched model map; they are not CloudFormationModel subclasses, so moto without
    a local cloud never sees them). Subclasses implement create, update and remove."""

    type_name = ""
    name_property: str | None = None
    attributes: tuple[str, ...] = ()
    # Set on the subclass the service binds when it installs (patches.py): whose cloud the resource lives in.
    service: ClassVar["CloudFormationService"]

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

    def client(self, service: str, read_timeout: float = 120) -> Any:
        """A client for the calls CloudFormation makes for this resource, as the stack's principal."""
        return self.service.cloud.client(service, self.region, read_timeout,
                                         credentials=self.service.credentials(self.stack_id))

    def judged(self, service: str, operation: str, params: dict[str, Any]) -> None:
        """A call this resource makes without the API (to moto's backend), judged as the stack's principal."""
        from ..exceptions import HandlerDenied
        principal = self.service.principal(self.stack_id)
        if principal is None or principal.kind == "administrator":
            return
        verdict = self.service.cloud.service("iam").judge_call(principal, service, operation, params, self.region)
        if not verdict.allowed:
            raise HandlerDenied(verdict.message)

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> Any:
        resource = cls(resource_name, cloudformation_json.get("Properties") or {}, region_name,
                       kwargs.get("LogicalId", ""), kwargs.get("StackId", ""))
        resource.build()
        return resource

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                        cloudformation_json: dict[str, Any], account_id: str,
                                        region_name: str) -> Any:
        properties = cloudformation_json.get("Properties") or {}
        name = cls.name_property
        if not name or not (properties.get(name) or original_resource.properties.get(name)):
            # moto draws a new name on every update; a name CloudFormation generated stays the resource's
            new_resource_name = original_resource.name
        return original_resource.update(new_resource_name, properties)

    def delete(self, account_id: str, region_name: str) -> None:
        self.remove()

    def build(self) -> None:
        """create(), with the resource known to the service while it is made: a restart in the middle deletes it."""
        with self.service.building(self):
            self.create()

    def create(self) -> None:
        raise NotImplementedError

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        """Update in place (return self) or build a replacement (return a new, created instance)."""
        if not (self.name_property and properties.get(self.name_property)) and new_name == self.name:
            # A replacement of a resource CloudFormation named gets a new name, as CloudFormation draws one
            stack_name = self.stack_id.split("/")[1] if self.stack_id.count("/") >= 2 else self.name
            new_name = generate_resource_name(self.type_name, stack_name, self.logical_id or "Resource")
        replacement = type(self)(new_name, properties, self.region, self.logical_id, self.stack_id)
        replacement.build()
        return replacement

    def remove(self) -> None:
        raise NotImplementedError


def camel(value: Any, special: dict[str, str] | None = None) -> Any:
    """CloudFormation's PascalCase property names to the camelCase of the JSON APIs."""
    special = special or {}
    if isinstance(value, dict):
        return {special.get(k, k[:1].lower() + k[1:]): camel(v, special) for k, v in value.items()}
    if isinstance(value, list):
        return [camel(v, special) for v in value]
    return value


def as_bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"


def tag_list(value: Any, key: str = "Key", val: str = "Value") -> list[dict[str, str]]:
    return [{key: str(t["Key"]), val: str(t["Value"])} for t in value or []]


def sagemaker_request(properties: dict[str, Any], base: dict[str, Any],
                       optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """`base`, each optional property that is set, and the tags: a SageMaker Create call's request."""
    request = {**base, **{key: properties[key] for key in optional if properties.get(key)}}
    if properties.get("Tags"):
        request["Tags"] = tag_list(properties["Tags"])
    return request


def stringify(value: Any) -> Any:
    """Custom resources receive every property value as a string, as CloudFormation sends them."""
    if isinstance(value, dict):
        return {k: stringify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stringify(v) for v in value]
    if isinstance(value, bool):
        return str(value).lower()
    return value if value is None or isinstance(value, str) else str(value)
