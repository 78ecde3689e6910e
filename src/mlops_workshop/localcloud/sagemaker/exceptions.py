"""SageMaker's errors, named by AWS's error codes, and why a job or an endpoint cannot go on."""

from __future__ import annotations

from ..protocol import AwsError, AwsResponse


class JobError(Exception):
    """The job cannot go on; the message is its FailureReason."""


class DeployError(Exception):
    """The endpoint cannot serve; the message is its FailureReason."""


class ValidationError(AwsError):
    code = "ValidationError"


class ValidationException(AwsError):
    code = "ValidationException"


class ResourceInUse(AwsError):
    code = "ResourceInUse"


class ResourceNotFound(AwsError):
    code = "ResourceNotFound"


class ConflictException(AwsError):
    code = "ConflictException"


class ModelError(AwsError):
    """The model's container answered an error (SageMaker Runtime's HTTP 424, with the container's own answer)."""

    code = "ModelError"
    status = 424

    def __init__(self, message: str, original_status: int, original_message: str, log_stream_arn: str):
        super().__init__(message)
        self.original_status, self.original_message, self.log_stream_arn = (original_status, original_message,
                                                                            log_stream_arn)

    def response(self) -> AwsResponse:
        return AwsResponse(self.status, {"__type": self.code, "Message": self.message, "message": self.message,
                                         "OriginalStatusCode": self.original_status,
                                         "OriginalMessage": self.original_message,
                                         "LogStreamArn": self.log_stream_arn},
                           {"x-amzn-ErrorType": self.code})
