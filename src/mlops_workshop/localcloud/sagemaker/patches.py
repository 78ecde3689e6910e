"""What the SageMaker service replaces in moto: creating and deleting an endpoint in the backend starts and stops its
server, so endpoints that CloudFormation creates and deletes run too."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend

if TYPE_CHECKING:
    from .service import SageMakerService


def apply(service: "SageMakerService") -> None:
    original_create = SageMakerModelBackend.__dict__["create_endpoint"]
    original_delete = SageMakerModelBackend.__dict__["delete_endpoint"]

    def create_endpoint(self: Any, endpoint_name: str, endpoint_config_name: str, tags: Any) -> Any:
        if endpoint_name in self.endpoints:
            raise ValidationError(
                message=f'Cannot create already existing endpoint "{self.endpoints[endpoint_name].arn}".')
        endpoint = original_create(self, endpoint_name, endpoint_config_name, tags)
        service.endpoints.created(self, endpoint)
        return endpoint

    def delete_endpoint(self: Any, endpoint_name: str) -> None:
        original_delete(self, endpoint_name)
        service.endpoints.deleted(self, endpoint_name)

    service.patches.replace(SageMakerModelBackend, "create_endpoint", create_endpoint)
    service.patches.replace(SageMakerModelBackend, "delete_endpoint", delete_endpoint)
