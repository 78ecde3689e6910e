"""Lambda invoke actions: the function gets the job event and reports with PutJobSuccessResult/PutJobFailureResult
(continuation tokens run it again); a function that crashed or never reports fails the action. CodePipeline invokes
as the pipeline's role: its identity policy, or the function's resource-based policy, must allow
lambda:InvokeFunction."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from ..exceptions import DENIED, ActionFailed, ExecutionHalted
from ..models import ActionExecution, ActionResult

if TYPE_CHECKING:
    from ..engine import PipelineEngine


# How long after a function returned its result may still come (setting lambda_result_grace_seconds).
DEFAULT_GRACE_SECONDS = 60.0


def invoke_lambda(rt: "PipelineEngine", run: ActionExecution) -> ActionResult:
    config = run.resolved_configuration
    function = config.get("FunctionName")
    if not function:
        raise ActionFailed("A Lambda invoke action needs FunctionName", "ConfigurationError")
    rt.inputs(run)
    timeout = rt.timeout_for(run.action)
    grace = float(rt.settings.get("lambda_result_grace_seconds", DEFAULT_GRACE_SECONDS))
    deadline = time.monotonic() + timeout
    continuation: str | None = None
    while True:
        job_id = str(uuid.uuid4())
        run.settled.clear()
        run.outcome = None
        event = rt.job_event(run, job_id, continuation)
        with rt.cond:
            rt.jobs[job_id] = (run, event["CodePipeline.job"])
        invoked = threading.Event()
        invocation: dict[str, Any] = {}
        rt.cloud.spawn(f"codepipeline-invoke-{function}", _invoke, rt, run, function, event, invocation, invoked)
        returned_at: float | None = None
        while not run.settled.wait(0.2):
            if run.execution.halted or rt.stopped.is_set():
                raise ExecutionHalted()
            now = time.monotonic()
            if now >= deadline:
                raise ActionFailed(f"The action timed out: the Lambda function {function} reported no result within "
                                   f"its timeout of {timeout:g} seconds", "TimeoutError")
            if not invoked.is_set():
                continue
            if invocation.get("missing"):
                raise ActionFailed(f"The AWS Lambda function {function} could not be invoked: "
                                   f"{invocation['missing']}", "ConfigurationError")
            if invocation.get("denied"):
                raise rt.refused(invocation["denied"])
            returned_at = returned_at or now
            # A function that crashed will not report; one that returned may still have a report in flight.
            if invocation.get("error") and now - returned_at >= min(2.0, grace):
                raise ActionFailed(f"The AWS Lambda function {function} failed before reporting a result: "
                                   f"{invocation['error']}")
            if not invocation.get("error") and now - returned_at >= grace:
                raise ActionFailed(
                    f"The AWS Lambda function {function} failed to return a result. Check the function to verify "
                    f"that it has permission to call the PutJobSuccessResult action and that it made a call to "
                    f"PutJobSuccessResult.")
        status, value = run.outcome  # type: ignore[misc]
        with rt.cond:
            rt.jobs.pop(job_id, None)
        if status == "Failed":
            details = value.get("failureDetails") or {}
            raise ActionFailed(details.get("message") or "The Lambda function reported a failure",
                               details.get("type") or "JobFailed", details.get("externalExecutionId"))
        execution_details = value.get("executionDetails") or {}
        run.summary = execution_details.get("summary") or run.summary
        run.external_id = execution_details.get("externalExecutionId") or run.external_id
        run.output_variables.update(value.get("outputVariables") or {})
        if value.get("continuationToken"):
            continuation = value["continuationToken"]
            continue
        for artifact in rt.outputs_planned(run):
            rt.record_output(run, artifact)
        return ActionResult(summary=run.summary, external_id=run.external_id)


def _invoke(rt: "PipelineEngine", run: ActionExecution, function: str, event: dict[str, Any],
            invocation: dict[str, Any], invoked: threading.Event) -> None:
    from botocore.exceptions import ClientError
    try:
        response = rt.client("lambda", run.execution.pipeline, run.execution.region, read_timeout=960).invoke(
            FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event).encode())
        payload = response["Payload"].read()
        if response.get("FunctionError"):
            try:
                body = json.loads(payload)
                invocation["error"] = f"{body.get('errorType', 'Error')}: {body.get('errorMessage', payload)}"
            except ValueError:
                invocation["error"] = payload.decode(errors="replace")
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code == "ResourceNotFoundException":
            invocation["missing"] = f"no function named {function} ({exc.response['Error'].get('Message', '')})"
        elif code in DENIED:
            invocation["denied"] = exc.response["Error"].get("Message", str(exc))
        else:
            invocation["error"] = f"{code}: {exc.response['Error'].get('Message', '')}"
    except ActionFailed as exc:
        invocation["error"] = exc.message
    except Exception as exc:
        invocation["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        invoked.set()
