"""What the Step Functions service replaces in moto's interpreter (moto.stepfunctions.parser, LocalStack's):

- an execution started without a name gets a generated one (moto names it "None": a second one is a duplicate), and
  a name Step Functions refuses (over 80 characters, or with a character it forbids) is refused;
- every boto3 client the interpreter makes for a task is the cloud's, as the role the task runs as;
- SageMaker's optimized integration (integrations.py) instead of moto's blind forward;
- parameters and answers as Step Functions handles them: the API's member names, a field the API lacks or an
  integration pattern the service does not offer refused, answers capitalised with timestamps in milliseconds;
- errors as Step Functions names them, and matched as it matches them: `States.ALL` catches neither `States.Runtime`
  nor `States.DataLimitExceeded`, `States.TaskFailed` catches everything else but `States.Timeout`; an integration the
  local cloud cannot run to its end fails its task with `States.TaskFailed`, which a Catch can route, instead of
  ending the execution outside any Catch.
"""

from __future__ import annotations

import importlib
import sys
import uuid
from typing import TYPE_CHECKING, Any

from . import integrations
from .exceptions import InvalidDefinition
from .integrations import TaskCredentials, UnrecognizedResource

if TYPE_CHECKING:
    from .service import StepFunctionsService

PARSER = "moto.stepfunctions.parser"
TASKS = f"{PARSER}.asl.component.state.exec.state_task"
# The modules that make the interpreter's clients (each imported boto_client_for by name).
CLIENT_MODULES = (f"{TASKS}.service.state_task_service_factory", f"{TASKS}.lambda_eval_utils",
                  f"{PARSER}.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3",
                  f"{PARSER}.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3")
TERMINAL = ("States.Runtime", "States.DataLimitExceeded")


def apply(service: "StepFunctionsService") -> None:
    _name_executions(service)
    _task_clients(service)
    _integrations(service)
    _errors(service)


def _name_executions(service: "StepFunctionsService") -> None:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    original = StepFunctionsParserBackend.__dict__["start_execution"]

    def start_execution(self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any) -> Any:
        if name:
            self._validate_name(name)  # InvalidName or over 80 characters, as Step Functions refuses (moto's plain one)
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    service.patches.replace(StepFunctionsParserBackend, "start_execution", start_execution)


def _task_clients(service: "StepFunctionsService") -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
    from moto.stepfunctions.parser.asl.utils import boto_client
    for name in CLIENT_MODULES:
        importlib.import_module(name)
    original = boto_client.boto_client_for
    owner = service

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        task = state_credentials if isinstance(state_credentials, TaskCredentials) else None
        client = owner.task_client(service, region, getattr(state_credentials, "role_arn", None),
                                   task.state_machine_arn if task else "", task.execution_role_arn if task else "")
        return integrations.TaskClient(client)
    for module in [m for name, m in list(sys.modules.items()) if name.startswith(PARSER) and m is not None]:
        if module.__dict__.get("boto_client_for") is original:
            service.patches.replace(module, "boto_client_for", boto_client_for)

    original_credentials = StateTask.__dict__["_eval_state_credentials"]

    def eval_state_credentials(self: Any, env: Any) -> TaskCredentials:
        found = original_credentials(self, env)
        context = env.states.context_object.context_object_data
        return TaskCredentials(role_arn=found.role_arn, state_machine_arn=context["StateMachine"]["Id"],
                               execution_role_arn=env.aws_execution_details.role_arn)

    service.patches.replace(StateTask, "_eval_state_credentials", eval_state_credentials)


def _integrations(service: "StepFunctionsService") -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService)
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk)
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback)
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported import (
        StateTaskServiceUnsupported)
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    original_factory = state_task_factory.state_task_service_for

    def state_task_service_for(service_name: str) -> Any:
        if service_name == "sagemaker":
            return integrations.StateTaskServiceSageMaker()
        return original_factory(service_name)

    service.patches.replace(state_task_factory, "state_task_service_for", state_task_service_for)

    original_validate = StateTaskService.__dict__["_validate_service_integration_is_supported"]

    def validate(self: Any) -> None:
        try:
            original_validate(self)
        except ValueError:
            raise UnrecognizedResource(self.name, self.resource.resource_arn) from None
        _check_pattern(self)

    service.patches.replace(StateTaskService, "_validate_service_integration_is_supported", validate)
    service.patches.replace(StateTaskServiceAwsSdk, "_validate_service_integration_is_supported", _check_pattern)

    original_definition = StepFunctionsParserBackend.__dict__["_validate_definition"]

    def validate_definition(definition: str) -> None:
        from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
        try:
            AmazonStateLanguageParser.parse(definition)
        except UnrecognizedResource as error:
            raise InvalidDefinition(error.definition_error()) from None
        except Exception:
            try:
                original_definition.__func__(definition)
            except Exception as error:
                raise InvalidDefinition(getattr(error, "message", str(error))) from None

    service.patches.replace(StepFunctionsParserBackend, "_validate_definition", staticmethod(validate_definition))

    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_lambda
    bindings = state_task_service_lambda._SUPPORTED_API_PARAM_BINDINGS
    service.patches.replace_item(bindings, "invoke", bindings["invoke"] | {"InvocationType"})

    def eval_parameters(self: Any, env: Any) -> dict:
        parameters: dict = {}
        if self.parargs is not None:
            self.parargs.eval(env=env)
            parameters = env.stack.pop()
        supported = self._get_supported_parameters()
        if supported:
            unknown = [name for name in parameters if name not in supported]
            if unknown:
                raise integrations.runtime_error(env, parameters, [
                    f'The field "{name}" is not supported by Step Functions' for name in unknown])
        return parameters

    service.patches.replace(StateTaskService, "_eval_parameters", eval_parameters)

    def normalise_parameters(self: Any, parameters: dict, boto_service_name: str | None = None,
                             service_action_name: str | None = None) -> None:
        model = _operation(self, boto_service_name, service_action_name)
        if model is not None and model.input_shape is not None:
            self._to_boto_request(parameters, model.input_shape)

    def normalise_response(self: Any, response: Any, boto_service_name: str | None = None,
                           service_action_name: str | None = None) -> None:
        model = _operation(self, boto_service_name, service_action_name)
        if model is not None and isinstance(response, dict):
            answer = integrations.capitalised(response, model.output_shape)
            response.clear()
            response.update(answer)

    service.patches.replace(StateTaskService, "_normalise_parameters", normalise_parameters)
    service.patches.replace(StateTaskService, "_normalise_response", normalise_response)

    original_pattern = StateTaskServiceCallback.__dict__["_eval_integration_pattern"]

    def eval_integration_pattern(self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict,
                                 state_credentials: Any) -> None:
        if ResourceCondition.WaitForTaskToken in self._supported_integration_patterns:
            return original_pattern(self, env, resource_runtime_part, normalised_parameters, state_credentials)
        # moto's ends by interrupting a task token's callback, which a service without task tokens lacks (Glue,
        # SageMaker): their .sync fails there. The same wait, without a callback.
        self.timeout.eval(env=env)
        timeout_seconds = env.stack.pop()
        build = self._build_sync_resolver if self.resource.condition == ResourceCondition.Sync else \
            self._build_sync2_resolver
        resolver = build(env, resource_runtime_part, normalised_parameters, state_credentials)
        env.stack.append(self._eval_sync(env=env, sync_resolver=resolver, timeout_seconds=timeout_seconds,
                                         callback_endpoint=None, heartbeat_endpoint=None))

    service.patches.replace(StateTaskServiceCallback, "_eval_integration_pattern", eval_integration_pattern)

    original_unsupported = StateTaskServiceUnsupported.__dict__["_eval_service_task"]

    def unsupported_task(self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict,
                         state_credentials: Any) -> None:
        if self.resource.condition not in (None, ResourceCondition.WaitForTaskToken):
            raise integrations.FailureEventException(integrations.states_error(
                env, integrations.StatesErrorNameType.StatesTaskFailed,
                f"The local cloud does not run the .{self.resource.condition} integration of "
                f"{self.resource.service_name}:{self.resource.api_action}; run it in an AWS account",
                self._get_sfn_resource(), self._get_sfn_resource_type()))
        original_unsupported(self, env, resource_runtime_part, normalised_parameters, state_credentials)

    service.patches.replace(StateTaskServiceUnsupported, "_eval_service_task", unsupported_task)
    # Its pattern is judged when the task runs (above), inside the state's Retry and Catch.
    service.patches.replace(StateTaskServiceUnsupported, "_assert_integration_pattern_is_supported", lambda self: None)


def _check_pattern(task: Any) -> None:
    """A `.sync` or `.waitForTaskToken` the service does not offer is not a resource Step Functions knows."""
    condition = task.resource.condition
    if condition is not None and condition not in getattr(task, "_supported_integration_patterns", ()):
        raise UnrecognizedResource(task.name, task.resource.resource_arn)


def _operation(task: Any, boto_service_name: str | None, service_action_name: str | None) -> Any:
    try:
        return integrations.operation(task._get_boto_service_name(boto_service_name),
                                      task._get_boto_service_action(service_action_name))
    except Exception:  # a service or an action botocore does not know: Step Functions' own answer, kept as it is
        return None


def _errors(service: "StepFunctionsService") -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported import (
        StateTaskServiceUnsupported)
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_glue import (
        StateTaskServiceGlue)
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
        StateTaskServiceLambda)
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
        StateTaskServiceSfn)
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda

    def matches(self: Any, env: Any) -> None:
        error = env.stack.pop()
        name = getattr(error, "error_name", None)
        names = {getattr(each, "error_name", None) for each in self.error_names}
        if name == "States.Runtime":
            found = False
        elif "States.ALL" in names:
            found = name not in TERMINAL
        elif "States.TaskFailed" in names and name not in (*TERMINAL, "States.Timeout", "States.HeartbeatTimeout"):
            found = True
        else:
            found = name in names
        env.stack.append(found)

    service.patches.replace(ErrorEqualsDecl, "_eval_body", matches)

    for task_class in (StateTaskServiceLambda, StateTaskServiceGlue, StateTaskServiceSfn, StateTaskServiceUnsupported):
        _name_service_errors(service, task_class)

    original_any = ExecutionState.__dict__["_from_error"]

    def any_from_error(self: Any, env: Any, ex: Exception) -> Any:
        return integrations.known_failure(env, ex, None) or original_any(self, env, ex)

    service.patches.replace(ExecutionState, "_from_error", any_from_error)

    original_legacy = StateTaskLambda.__dict__["_from_error"]

    def legacy_from_error(self: Any, env: Any, ex: Exception) -> Any:
        return integrations.known_failure(env, ex, "lambda", legacy_lambda=True) or original_legacy(self, env, ex)

    service.patches.replace(StateTaskLambda, "_from_error", legacy_from_error)


def _name_service_errors(service: "StepFunctionsService", task_class: type) -> None:
    original = task_class._from_error  # type: ignore[attr-defined]

    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        return integrations.known_failure(env, ex, self._get_boto_service_name(), self._get_sfn_resource(),
                                          self._get_sfn_resource_type()) or original(self, env, ex)

    service.patches.replace(task_class, "_from_error", from_error)
