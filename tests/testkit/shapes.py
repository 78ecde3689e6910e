"""What AWS always returns, read from the service models botocore ships: the members an answer lacks that the
operation's output shape marks required, however deep. The SageMaker SDK's pydantic models and the AWS CLI are
generated from the same models, so an answer that has them all is one they read.

A few members the models call required are left out by the service itself in the cases named in `AWS_OMITS`.
"""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore import xform_name

# (service, shape, member): why AWS answers without it.
AWS_OMITS = {
    ("sagemaker", "DataCaptureConfigSummary", "KmsKeyId"):
        "SageMaker sends it only when the endpoint configuration names a key (the SageMaker Python SDK's model of "
        "this shape, sagemaker.core.shapes.DataCaptureConfigSummary, has it optional)",
}

_session = botocore.session.get_session()


def operation_name(service: str, command: str) -> str:
    """The operation a CLI command (`describe-endpoint`) or a boto3 method (`describe_endpoint`) calls."""
    model = _session.get_service_model(service)
    names = {xform_name(name, "-"): name for name in model.operation_names}
    return names[command.replace("_", "-")]


def missing_members(service: str, operation: str, answer: dict[str, Any]) -> list[str]:
    """`Operation.Member.Member[0].Member` for each required member `answer` lacks."""
    shape = _session.get_service_model(service).operation_model(operation).output_shape
    found: list[str] = []
    _walk(service, shape, {k: v for k, v in answer.items() if k != "ResponseMetadata"}, operation, found)
    return found


def _walk(service: str, shape: Any, value: Any, path: str, found: list[str]) -> None:
    if shape is None or value is None:
        return
    if shape.type_name == "structure":
        if not isinstance(value, dict):
            found.append(f"{path} (not a structure: {type(value).__name__})")
            return
        for name in shape.required_members:
            if name not in value and (service, shape.name, name) not in AWS_OMITS:
                found.append(f"{path}.{name}")
        for name, member in shape.members.items():
            if name in value:
                _walk(service, member, value[name], f"{path}.{name}", found)
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            _walk(service, shape.member, item, f"{path}[{index}]", found)
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            _walk(service, shape.value, item, f"{path}[{key}]", found)
