"""What the Lambda service replaces in moto: the one method every invocation moto makes itself goes through
(CloudFormation custom resources, its own Invoke), so those run the function's real code too; the function's
LoggingConfig, which moto drops: kept from CreateFunction, UpdateFunctionConfiguration and CloudFormation, answered
in GetFunction(Configuration) as Lambda does (its default group /aws/lambda/<name>, format Text), and where the
invocations' logs go; and the runtimes AWS no longer allows (models.runtime_refusal), refused by CreateFunction,
UpdateFunctionConfiguration and UpdateFunctionCode with Lambda's InvalidParameterValueException (a stack's
AWS::Lambda::Function is made through CreateFunction, so it fails with that message)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import LambdaBackend, LambdaFunction
from moto.core.config import default_user_config

from ..protocol import AwsError
from .models import runtime_refusal

if TYPE_CHECKING:
    from .service import LambdaService


def default_log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def logging_config(function_name: str, given: dict[str, Any] | None) -> dict[str, Any]:
    """LoggingConfig as GetFunctionConfiguration answers it: the given one with Lambda's defaults filled in."""
    given = dict(given or {})
    config = {"LogFormat": given.get("LogFormat") or "Text",
              "LogGroup": given.get("LogGroup") or default_log_group(function_name)}
    if config["LogFormat"] == "JSON":
        config["ApplicationLogLevel"] = given.get("ApplicationLogLevel") or "INFO"
        config["SystemLogLevel"] = given.get("SystemLogLevel") or "INFO"
    return config


def set_logging_config(fn: Any, given: dict[str, Any] | None) -> None:
    fn.logging_config = logging_config(fn.function_name, given)
    fn.logs_group_name = fn.logging_config["LogGroup"]


def refuse_runtime(runtime: str | None, change: str) -> None:
    refusal = runtime_refusal(runtime, change)
    if refusal:
        raise InvalidParameterValueException(refusal)


def apply(service: "LambdaService") -> None:
    def invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        try:
            result = service.executor.invoke(self, json.dumps({} if event is None else event).encode())
        except AwsError as exc:
            return json.dumps({"errorType": exc.code, "errorMessage": exc.message}), True, exc.message
        return result.payload.decode(errors="replace"), result.error, result.logs

    service.patches.replace(LambdaFunction, "_invoke_lambda", invoke_lambda)
    # moto's "simple" Lambda backend echoes the payload and never reaches _invoke_lambda; the other one does.
    service.patches.replace_item(default_user_config["lambda"], "use_docker", True)

    original_init = LambdaFunction.__dict__["__init__"]
    original_configuration = LambdaFunction.__dict__["get_configuration"]
    original_update = LambdaFunction.__dict__["update_configuration"]
    original_from_cloudformation = LambdaFunction.__dict__["create_from_cloudformation_json"].__func__
    original_create = LambdaBackend.__dict__["create_function"]
    original_update_code = LambdaBackend.__dict__["update_function_code"]

    def create_function(self: Any, spec: dict[str, Any]) -> Any:
        refuse_runtime(spec.get("Runtime"), "create")
        return original_create(self, spec)

    def update_function_code(self: Any, function_name: str, qualifier: str, body: dict[str, Any]) -> Any:
        refuse_runtime(self.get_function(function_name, qualifier).run_time, "update")
        return original_update_code(self, function_name, qualifier, body)

    def init(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        set_logging_config(self, spec.get("LoggingConfig"))

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config = original_configuration(self, *args, **kwargs)
        config["LoggingConfig"] = dict(getattr(self, "logging_config", None)
                                       or logging_config(self.function_name, None))
        return config

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        runtime = config_updates.get("Runtime") or self.run_time
        refuse_runtime(runtime, "update")
        if runtime != self.run_time:
            refuse_runtime(runtime, "create")
        if "LoggingConfig" in config_updates:
            set_logging_config(self, {**getattr(self, "logging_config", {}), **(config_updates["LoggingConfig"] or {})})
        return original_update(self, config_updates)

    def create_from_cloudformation_json(cls: Any, resource_name: str, cloudformation_json: Any, *args: Any,
                                        **kwargs: Any) -> Any:
        fn = original_from_cloudformation(cls, resource_name, cloudformation_json, *args, **kwargs)
        given = (cloudformation_json.get("Properties") or {}).get("LoggingConfig")
        if given:
            set_logging_config(fn, given)
        return fn

    service.patches.replace(LambdaBackend, "create_function", create_function)
    service.patches.replace(LambdaBackend, "update_function_code", update_function_code)
    service.patches.replace(LambdaFunction, "__init__", init)
    service.patches.replace(LambdaFunction, "get_configuration", get_configuration)
    service.patches.replace(LambdaFunction, "update_configuration", update_configuration)
    service.patches.replace(LambdaFunction, "create_from_cloudformation_json",
                            classmethod(create_from_cloudformation_json))
