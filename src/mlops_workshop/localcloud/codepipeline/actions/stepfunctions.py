"""Step Functions invoke actions: an execution of the state machine with a literal or file input, waited for; started
and described as the pipeline's role."""

from __future__ import annotations

import io
import time
import zipfile
from typing import TYPE_CHECKING

from ..exceptions import DENIED, ActionFailed
from ..models import ActionExecution, ActionResult

if TYPE_CHECKING:
    from ..engine import PipelineEngine


def stepfunctions_invoke(rt: "PipelineEngine", run: ActionExecution) -> ActionResult:
    config = run.resolved_configuration
    arn = config.get("StateMachineArn")
    if not arn:
        raise ActionFailed("A Step Functions action needs StateMachineArn", "ConfigurationError")
    input_type = config.get("InputType", "Literal")
    inputs = rt.inputs(run)
    if input_type == "FilePath":
        if not inputs:
            raise ActionFailed("InputType FilePath needs an input artifact", "ConfigurationError")
        raw = rt.artifact_file(run, f"{inputs[0].name}::{config.get('Input', '')}", "Input").decode()
    else:
        raw = config.get("Input") or "{}"
    prefix = config.get("ExecutionNamePrefix")
    name = f"{prefix}-{run.action_execution_id}" if prefix else run.action_execution_id
    from botocore.exceptions import ClientError
    sfn = rt.client("stepfunctions", run.execution.pipeline, run.execution.region)
    try:
        # As CodePipeline does (its role needs states:DescribeStateMachine), the state machine is read first.
        sfn.describe_state_machine(stateMachineArn=arn)
        execution_arn = sfn.start_execution(stateMachineArn=arn, name=name[:80], input=raw)["executionArn"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in DENIED:
            raise
        raise ActionFailed(f"Could not start state machine {arn}: {exc.response['Error'].get('Message', exc)}",
                           "ConfigurationError") from None
    run.external_id = execution_arn
    timeout = rt.timeout_for(run.action)
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            break
        rt.wait_quietly(run, 0.5, deadline)
        if time.monotonic() >= deadline:
            raise ActionFailed(f"The action timed out: execution {execution_arn} did not finish within its timeout "
                               f"of {timeout:g} seconds", "TimeoutError", execution_arn)
    if described["status"] != "SUCCEEDED":
        detail = ": ".join(x for x in (described.get("error"), described.get("cause")) if x)
        raise ActionFailed(f"Execution {execution_arn} {described['status']}" + (f": {detail}" if detail else ""),
                           "JobFailed", execution_arn)
    for item in run.action.get("outputArtifacts") or []:
        artifact = rt.new_artifact(run, item["name"])
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("output.json", described.get("output") or "{}")
        rt.put_artifact(run, artifact, buffer.getvalue())
    return ActionResult(summary=f"Execution {name} succeeded", external_id=execution_arn,
                        variables={"StateMachineArn": arn, "ExecutionArn": execution_arn})
