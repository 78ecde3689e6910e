"""CloudFormation's errors, and a resource that failed."""

from __future__ import annotations

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


class AccessDenied(AwsError):
    code = "AccessDenied"
    status = 403


class InvalidRequest(AwsError):
    code = "InvalidRequest"
