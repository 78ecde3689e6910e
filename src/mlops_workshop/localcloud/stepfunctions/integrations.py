"""Step Functions' optimized service integrations as AWS runs them, on top of moto's interpreter (LocalStack's):

- SageMaker's (moto forwards them blindly and has no `.sync`): request-response for CreateModel, CreateEndpointConfig,
  CreateEndpoint, UpdateEndpoint and the jobs; `.sync` for the jobs, waiting on the job's status whatever runs it
  and stopping it when the execution is stopped or aborted;
- a service's error as Step Functions names it: `<Service>.<exception>`, the exception named as AWS's Java SDK names
  it (the modelled error, "Exception" appended; the service's base exception for an unmodelled one, as
  `Lambda.AWSLambdaException` for AccessDeniedException), the Cause AWS's message with the SDK's details;
- outputs as Step Functions gives them: the API's member names capitalised (`ExecutionArn`), timestamps in epoch
  milliseconds;
- parameters checked as Step Functions checks them: a field the API does not have, or of the wrong type, is a
  `States.Runtime` error ("... could not be used to start the Task").
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable

import botocore.session
from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape
from botocore.response import StreamingBody
from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (FailureEvent,
                                                                                      FailureEventException)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (ResourceCondition,
                                                                                             ResourceRuntimePart)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramStopped
from moto.stepfunctions.parser.asl.utils import boto_client
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

log = logging.getLogger("mlops_workshop.localcloud.stepfunctions")

# boto3's name: (the error names' prefix, the SDK's exception for an unmodelled error, the service in a Cause);
# another service's are made the same way from its model (naming()).
SERVICES = {
    "lambda": ("Lambda", "AWSLambdaException", "AWSLambda"),
    "sagemaker": ("SageMaker", "AmazonSageMakerException", "AmazonSageMaker"),
    "glue": ("Glue", "AWSGlueException", "AWSGlue"),
    "stepfunctions": ("StepFunctions", "AWSStepFunctionsException", "AWSStepFunctions"),
}
# SageMaker's jobs, which `.sync` waits for: (the describe call, its name field, its status field, the stop call).
SAGEMAKER_JOBS = {
    "createtrainingjob": ("DescribeTrainingJob", "TrainingJobName", "TrainingJobStatus", "StopTrainingJob"),
    "createprocessingjob": ("DescribeProcessingJob", "ProcessingJobName", "ProcessingJobStatus", "StopProcessingJob"),
    "createtransformjob": ("DescribeTransformJob", "TransformJobName", "TransformJobStatus", "StopTransformJob"),
    "createhyperparametertuningjob": ("DescribeHyperParameterTuningJob", "HyperParameterTuningJobName",
                                      "HyperParameterTuningJobStatus", "StopHyperParameterTuningJob"),
    "createlabelingjob": ("DescribeLabelingJob", "LabelingJobName", "LabelingJobStatus", "StopLabelingJob"),
}
# SageMaker's optimized APIs (connect-sagemaker in the Step Functions guide); the jobs alone have `.sync`.
SAGEMAKER_APIS = {"createendpoint", "createendpointconfig", "createmodel", "updateendpoint", *SAGEMAKER_JOBS}
RUNNING = ("Initializing", "InProgress", "Stopping")


@dataclass
class TaskCredentials(StateCredentials):
    """The role a task runs as, with the state machine it runs for (the trust policy's aws:SourceArn)."""

    state_machine_arn: str = ""
    execution_role_arn: str = ""


class TaskRoleRefused(Exception):
    """Step Functions could not assume the role a task runs as: the task fails with States.Permissions."""


class InvalidParameters(Exception):
    """Parameters the API's model refuses (a wrong type): Step Functions fails the task with States.Runtime."""

    def __init__(self, parameters: dict[str, Any], report: str):
        super().__init__(report)
        self.parameters = parameters
        self.report = " ".join(report.split())


class UnrecognizedResource(ValueError):
    """A Task's Resource that Step Functions does not offer; CreateStateMachine refuses the definition."""

    def __init__(self, state: str, resource: str):
        super().__init__(f"The resource provided {resource} is not recognized. The value is not a valid resource "
                         f"ARN, or the resource is not available in this region.")
        self.state = state
        self.resource = resource

    def definition_error(self) -> str:
        return f"Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: {self} at /States/{self.state}/Resource'"


@functools.lru_cache(maxsize=None)
def service_model(service: str) -> ServiceModel:
    """botocore's model of `service` (boto3's name), read once."""
    return botocore.session.get_session().get_service_model(service)


@functools.lru_cache(maxsize=None)
def operation(service: str, action: str) -> OperationModel:
    """The model of `action` (moto's snake_case name or the API's) of `service`."""
    model = service_model(service)
    names = {xform_name(name): name for name in model.operation_names}
    return model.operation_model(names.get(action, action))


@functools.lru_cache(maxsize=None)
def _modelled_errors(service: str) -> frozenset[str]:
    return frozenset(shape.name for shape in service_model(service).error_shapes)


@functools.lru_cache(maxsize=None)
def naming(service: str) -> tuple[str, str, str]:
    """The error names' prefix, the base exception and the Cause's service name of `service`: "AWS CodeBuild" is
    CodeBuild, AWSCodeBuildException, AWSCodeBuild, as the Java SDK names its client."""
    if service in SERVICES:
        return SERVICES[service]
    metadata = service_model(service).metadata
    client = metadata.get("serviceFullName", service).removesuffix(" Service").replace(" ", "")
    return metadata.get("serviceId", service).replace(" ", ""), f"{client}Exception", client


def error_name(service: str, code: str) -> str:
    """`SageMaker.ResourceLimitExceededException`, `SageMaker.AmazonSageMakerException` (ValidationException)."""
    prefix, base, _ = naming(service)
    if code in _modelled_errors(service):
        return f"{prefix}.{code if code.endswith('Exception') else code + 'Exception'}"
    return f"{prefix}.{base}"


def error_and_cause(service: str | None, ex: Exception) -> tuple[str, str] | None:
    """What Step Functions reports for a call to `service` that raised `ex` (None: not a call's error)."""
    if service is None:
        return None
    if isinstance(ex, ClientError):
        code = ex.response.get("Error", {}).get("Code", "")
        meta = ex.response.get("ResponseMetadata", {})
        details = [f"Service: {naming(service)[2]}", f"Status Code: {meta.get('HTTPStatusCode')}",
                   f"Error Code: {code}", f"Request ID: {meta.get('RequestId')}", "Proxy: null"]
        return error_name(service, code), f"{ex.response.get('Error', {}).get('Message', '')} ({'; '.join(details)})"
    if isinstance(ex, BotoCoreError) and not isinstance(ex, ParamValidationError):
        return f"{naming(service)[0]}.SdkClientException", f"Unable to execute HTTP request: {ex}"
    return None


def task_failure(env: Environment, error: str, cause: str, resource: str | None = None,
                 resource_type: str | None = None, legacy_lambda: bool = False,
                 error_type: StatesErrorNameType | None = None) -> FailureEvent:
    """A task's failure: TaskFailed (LambdaFunctionFailed for a function-ARN Resource) with this error and cause."""
    name = StatesErrorName(typ=error_type) if error_type is not None else CustomErrorName(error_name=error)
    if legacy_lambda:
        lambda_details = LambdaFunctionFailedEventDetails(error=error, cause=cause)
        return FailureEvent(env=env, error_name=name, event_type=HistoryEventType.LambdaFunctionFailed,
                            event_details=EventDetails(lambdaFunctionFailedEventDetails=lambda_details))
    details = TaskFailedEventDetails(error=error, cause=cause)
    if resource is not None:
        details.update(resource=resource, resourceType=resource_type)
    return FailureEvent(env=env, error_name=name, event_type=HistoryEventType.TaskFailed,
                        event_details=EventDetails(taskFailedEventDetails=details))


def states_error(env: Environment, typ: StatesErrorNameType, cause: str, resource: str | None = None,
                 resource_type: str | None = None, legacy_lambda: bool = False) -> FailureEvent:
    return task_failure(env, typ.to_name(), cause, resource, resource_type, legacy_lambda, typ)


def runtime_error(env: Environment, parameters: Any, problems: list[str]) -> FailureEventException:
    """AWS's States.Runtime for parameters the task cannot start with (the execution's failure names the state)."""
    cause = f"The Parameters '{to_json_str(parameters)}' could not be used to start the Task: [{', '.join(problems)}]"
    return FailureEventException(states_error(env, StatesErrorNameType.StatesRuntime, cause))


def known_failure(env: Environment, ex: Exception, service: str | None, resource: str | None = None,
                  resource_type: str | None = None, legacy_lambda: bool = False) -> FailureEvent | None:
    """What Step Functions reports for a task's call to `service` (boto3's name; None: errors of any task) that
    raised `ex`; None for an exception the interpreter names itself."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils import (
        LambdaFunctionErrorException)
    if isinstance(ex, InvalidParameters):
        return runtime_error(env, ex.parameters, [ex.report]).failure_event
    if isinstance(ex, TaskRoleRefused):
        return states_error(env, StatesErrorNameType.StatesPermissions, str(ex), resource, resource_type,
                            legacy_lambda)
    found = error_and_cause(service, ex)
    if found is not None:
        return task_failure(env, *found, resource, resource_type, legacy_lambda)
    if isinstance(ex, LambdaFunctionErrorException) and not _error_type(ex.payload):
        # A function's failure without an errorType (out of memory, a crash): Lambda.Unknown.
        return task_failure(env, "Lambda.Unknown", ex.payload, resource, resource_type, legacy_lambda)
    return None


def _error_type(payload: str) -> str | None:
    try:
        found = json.loads(payload)
    except ValueError:
        return None
    return found.get("errorType") if isinstance(found, dict) else None


# Outputs.
def epoch_millis(value: Any) -> Any:
    """Timestamps anywhere in a botocore answer as epoch milliseconds, as Step Functions gives them."""
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
        return int(moment.timestamp() * 1000)
    if isinstance(value, dict):
        return {key: epoch_millis(item) for key, item in value.items()}
    if isinstance(value, list):
        return [epoch_millis(item) for item in value]
    return value


def capitalised(value: Any, shape: Shape | None) -> Any:
    """An answer with the API's member names capitalised (`executionArn` -> `ExecutionArn`), maps' keys kept."""
    if isinstance(value, StreamingBody):
        return value.read().decode("utf-8", "replace")
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        return {key[:1].upper() + key[1:]: capitalised(item, shape.members.get(key)) for key, item in value.items()}
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [capitalised(item, shape.member) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {key: capitalised(item, shape.value) for key, item in value.items()}
    return value


class TaskClient:
    """A task's boto3 client whose answers carry timestamps as Step Functions gives them (epoch milliseconds)."""

    def __init__(self, client: Any):
        self._client = client

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        if not callable(found) or name.startswith("_") or name not in self._client.meta.method_to_api_mapping:
            return found

        def call(**kwargs: Any) -> Any:
            try:
                return epoch_millis(found(**kwargs))
            except ParamValidationError as error:
                raise InvalidParameters(kwargs, str(error)) from None
        return call


def without_metadata(answer: dict[str, Any]) -> dict[str, Any]:
    answer.pop("ResponseMetadata", None)
    return answer


class StateTaskServiceSageMaker(StateTaskServiceCallback):
    """`arn:aws:states:::sagemaker:<api>[.sync]`: the call with the task's parameters, as the API names them; with
    `.sync` the task waits for the job and its output is the job's description (States.TaskFailed, the description
    as the Cause, when the job fails or is stopped)."""

    def __init__(self) -> None:
        super().__init__(supported_integration_patterns={ResourceCondition.Sync})

    def _api(self) -> str:
        return self.resource.api_action.lower()

    def _validate_service_integration_is_supported(self) -> None:
        condition = self.resource.condition
        if self._api() not in SAGEMAKER_APIS or (condition is not None and (
                condition != ResourceCondition.Sync or self._api() not in SAGEMAKER_JOBS)):
            raise UnrecognizedResource(self.name, self.resource.resource_arn)

    def _get_supported_parameters(self) -> set[str] | None:
        shape = operation("sagemaker", self._get_boto_service_action()).input_shape
        return set(shape.members) if shape is not None else set()

    def _client(self, region: str, credentials: StateCredentials) -> Any:
        return boto_client.boto_client_for(region=region, service="sagemaker", state_credentials=credentials)

    def _from_error(self, env: Environment, ex: Exception) -> FailureEvent:
        return known_failure(env, ex, "sagemaker", self._get_sfn_resource(), self._get_sfn_resource_type()) or \
            super()._from_error(env=env, ex=ex)

    def _eval_service_task(self, env: Environment, resource_runtime_part: ResourceRuntimePart,
                           normalised_parameters: dict, state_credentials: StateCredentials) -> None:
        client = self._client(resource_runtime_part.region, state_credentials)
        answer = getattr(client, self._get_boto_service_action())(**normalised_parameters)
        env.stack.append(without_metadata(answer))

    def _build_sync_resolver(self, env: Environment, resource_runtime_part: ResourceRuntimePart,
                             normalised_parameters: dict, state_credentials: StateCredentials) -> Callable[[], Any]:
        env.stack.pop()   # the create call's answer: the job's description replaces it
        describe, name_field, status_field, stop = SAGEMAKER_JOBS[self._api()]
        client = self._client(resource_runtime_part.region, state_credentials)
        job_name = {name_field: normalised_parameters[name_field]}

        def resolve() -> Any:
            job = without_metadata(getattr(client, xform_name(describe))(**job_name))
            if job.get(status_field) in RUNNING:
                return None
            output = capitalised(job, operation("sagemaker", describe).output_shape)
            if job.get(status_field) == "Completed":
                return output
            raise FailureEventException(states_error(env, StatesErrorNameType.StatesTaskFailed, to_json_str(output),
                                                     self._get_sfn_resource(), self._get_sfn_resource_type()))

        def stop_job() -> None:
            try:
                getattr(client, xform_name(stop))(**job_name)
            except Exception as ex:  # the job may have ended meanwhile; AWS gives up the same way
                log.info("stopping SageMaker job %s after its task was aborted: %s", job_name[name_field], ex)
        resolve.stop_job = stop_job  # type: ignore[attr-defined]
        return resolve

    def _eval_sync(self, env: Environment, sync_resolver: Callable[[], Any] | None, timeout_seconds: int | None,
                   callback_endpoint: Any, heartbeat_endpoint: Any) -> Any:
        outcome = super()._eval_sync(env, sync_resolver, timeout_seconds, callback_endpoint, heartbeat_endpoint)
        if not outcome and isinstance(env.program_state(), (ProgramStopped, ProgramError)):
            # A task aborted by a stopped execution or a failed branch: AWS makes a best effort to stop its job.
            getattr(sync_resolver, "stop_job")()
        return outcome
