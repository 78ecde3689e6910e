"""CodeCommit's errors: the code CodeCommit reports, and its message."""

from __future__ import annotations

from ..protocol import AwsError


class CodeCommitError(AwsError):
    def __init__(self, code: str, message: str):
        super().__init__(message, code)
