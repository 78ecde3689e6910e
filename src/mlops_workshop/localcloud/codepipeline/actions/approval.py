"""Manual approval actions: a token waits for PutApprovalResult; a rejection fails the action with its summary. With
a NotificationArn, the pipeline's role publishes the approval request to that SNS topic first, in the JSON shape
CodePipeline's manual approval notifications have."""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING

from ..exceptions import ActionFailed
from ..models import ActionExecution, ActionResult

if TYPE_CHECKING:
    from ..engine import PipelineEngine


def manual_approval(rt: "PipelineEngine", run: ActionExecution) -> ActionResult:
    run.token = str(uuid.uuid4())
    run.last_update = time.time()
    timeout = rt.timeout_for(run.action)
    config = run.resolved_configuration
    if config.get("NotificationArn"):
        region = run.action.get("region") or run.execution.region
        console = f"https://console.aws.amazon.com/codepipeline/home?region={region}#/view/{run.execution.name}"
        approval = {"pipelineName": run.execution.name, "stageName": run.stage, "actionName": run.name,
                    "token": run.token, "expires": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(time.time() + timeout)),
                    "externalEntityLink": config.get("ExternalEntityLink"),
                    "approvalReviewLink": f"{console}/{run.stage}/{run.name}/approve/{run.token}",
                    "customData": config.get("CustomData")}
        rt.client("sns", run.execution.pipeline, region).publish(
            TopicArn=config["NotificationArn"], Subject=f"APPROVAL NEEDED: {run.execution.name} {run.stage}",
            Message=json.dumps({"region": region, "consoleLink": console, "approval": approval}))
    rt.wait(run, timeout, "no one approved or rejected it")
    status, value = run.outcome  # type: ignore[misc]
    summary = value.get("summary") or ""
    if status == "Rejected":
        run.summary = summary
        raise ActionFailed(summary or "Rejected", "Rejected")
    return ActionResult(summary=summary or "Approved")
