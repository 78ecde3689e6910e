"""CodePipeline's errors, named by AWS's error codes, and how an action ends other than with success."""

from __future__ import annotations

from ..protocol import AwsError


class ActionFailed(Exception):
    """An action ends Failed with this message (and error code)."""

    def __init__(self, message: str, code: str = "JobFailed", external_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.external_id = external_id


class ExecutionHalted(Exception):
    """The execution was stopped or superseded while an action waited."""



class PipelineNotFoundException(AwsError):
    code = "PipelineNotFoundException"


class PipelineExecutionNotFoundException(AwsError):
    code = "PipelineExecutionNotFoundException"


class PipelineExecutionNotStoppableException(AwsError):
    code = "PipelineExecutionNotStoppableException"


class StageNotFoundException(AwsError):
    code = "StageNotFoundException"


class ActionNotFoundException(AwsError):
    code = "ActionNotFoundException"


class ValidationException(AwsError):
    code = "ValidationException"


class StageNotRetryableException(AwsError):
    code = "StageNotRetryableException"


class NotLatestPipelineExecutionException(AwsError):
    code = "NotLatestPipelineExecutionException"


class ConflictException(AwsError):
    code = "ConflictException"


class JobNotFoundException(AwsError):
    code = "JobNotFoundException"


class InvalidJobStateException(AwsError):
    code = "InvalidJobStateException"


class InvalidApprovalTokenException(AwsError):
    code = "InvalidApprovalTokenException"


class ApprovalAlreadyCompletedException(AwsError):
    code = "ApprovalAlreadyCompletedException"
