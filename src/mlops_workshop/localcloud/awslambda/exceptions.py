"""Lambda's errors, named by AWS's error codes."""

from __future__ import annotations

from ..protocol import AwsError


class LambdaSetupError(Exception):
    """The function cannot run here (no code package, an image package); the message says why."""


class InvalidRequestContentException(AwsError):
    code = "InvalidRequestContentException"


class InvalidParameterValueException(AwsError):
    code = "InvalidParameterValueException"


class AccessDeniedException(AwsError):
    code = "AccessDeniedException"
    status = 403
