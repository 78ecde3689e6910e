"""CloudFormation's errors, and a resource that failed."""

from __future__ import annotations

import functools

from moto.cloudformation.exceptions import CloudFormationError

from ..protocol import AwsError


class InsufficientCapabilities(CloudFormationError):
    code = "InsufficientCapabilitiesException"


class ResourceFailed(Exception):
    def __init__(self, logical_id: str, reason: str, stack_reason: str | None = None):
        super().__init__(reason)
        self.logical_id = logical_id
        self.reason = reason
        self.stack_reason = stack_reason


class HandlerDenied(Exception):
    """IAM refused a call CloudFormation makes for a resource, as its resource handler reports it: the event's reason
    is `Resource handler returned message: "<IAM's message> (Service: ..., Status Code: ...)"`."""

    def __init__(self, message: str, service: str | None = None, status: int = 403):
        super().__init__(message)
        self.message = message
        self.service = service
        self.status = status

    def reason(self) -> str:
        return handler_reason(self.message, self.service, self.status)


def handler_reason(message: str, service: str | None, status: int, resource_type: str | None = None) -> str:
    """CloudFormation's event reason for a handler's AccessDenied (`service`: botocore's service id, by default that
    of the refused action's prefix, else that of the resource type: a service's own refusal names no action)."""
    import re
    import uuid
    if service is None:
        found = re.search(r"perform: ([a-z0-9-]+):", message)
        service = (_service_id(found.group(1)) if found else
                   _service_id(resource_type.split("::")[1].lower()) if resource_type else "Unknown")
    return (f'Resource handler returned message: "{message} (Service: {service}, Status Code: {status}, Request ID: '
            f'{uuid.uuid4()})" (RequestToken: {uuid.uuid4()}, HandlerErrorCode: AccessDenied)')


class AccessDenied(AwsError):
    code = "AccessDenied"
    status = 403


class InvalidRequest(AwsError):
    code = "InvalidRequest"


@functools.lru_cache(maxsize=64)
def _service_id(prefix: str) -> str:
    import botocore.session
    try:
        return str(botocore.session.get_session().get_service_model(prefix).service_id)
    except Exception:   # a prefix that is not a botocore service's name
        return prefix
