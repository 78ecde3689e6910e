"""CodeBuild's errors."""

from __future__ import annotations

from ..protocol import AwsError


class BuildError(Exception):
    """A phase cannot go on: status code and message for the phase's contexts."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class CodeBuildError(AwsError):
    """A call CodeBuild would refuse: an AWS error code and message."""

    def __init__(self, code: str, message: str):
        super().__init__(message, code)
