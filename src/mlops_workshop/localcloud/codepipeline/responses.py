"""CodePipeline's protocol beyond moto: executions that run (start, stop, state, history), job results of Lambda
actions, and approvals."""

from __future__ import annotations

import re
import time
from typing import Any

from ..protocol import AwsRequest, AwsResponse, BaseResponses
from ..server import ACCOUNT_ID
from .engine import settle_stop
from .exceptions import (ActionNotFoundException, ApprovalAlreadyCompletedException, ConflictException,
                         InvalidApprovalTokenException, InvalidJobStateException, JobNotFoundException,
                         NotLatestPipelineExecutionException, PipelineExecutionNotFoundException,
                         PipelineExecutionNotStoppableException, StageNotFoundException, StageNotRetryableException,
                         ValidationException)
from .models import epoch, stage_status

CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


class CodePipelineResponses(BaseResponses):
    @property
    def engine(self) -> Any:
        return self.service.engine

    def _caller(self, req: AwsRequest) -> tuple[str | None, str]:
        """The access key that signed the call and its principal's ARN (the user ARN AWS records)."""
        found = CREDENTIAL.search(req.headers.get("authorization", ""))
        if not found:
            return None, "anonymous"
        key = found.group(1)
        try:
            principal = self.cloud.service("iam").principal_for_credentials(
                {"AWS_ACCESS_KEY_ID": key, "AWS_SESSION_TOKEN": req.headers.get("x-amz-security-token")})
        except Exception:  # a key IAM did not judge (IAM off): the caller is unknown, the call stands
            return key, "unknown"
        return key, principal.arn

    def _trigger(self, req: AwsRequest, kind: str) -> dict[str, str]:
        """How an execution started, as ListPipelineExecutions shows it: by an EventBridge rule (the rule's ARN), or
        by this call (the caller's ARN)."""
        key, caller = self._caller(req)
        rule = self.cloud.service("events").rule_of_session(key)
        if rule is not None:
            return {"triggerType": "CloudWatchEvent", "triggerDetail": rule}
        return {"triggerType": kind, "triggerDetail": caller}

    def after_create_pipeline(self, req: AwsRequest, status: int, body: bytes) -> None:
        if status == 200:
            self.engine.start(req.region, req.json()["pipeline"]["name"], self._trigger(req, "CreatePipeline"))
        return None

    def after_delete_pipeline(self, req: AwsRequest, status: int, body: bytes) -> None:
        name = req.json().get("name")
        with self.engine.cond:
            state = self.engine.pipelines.pop((req.region, name), None)
        for execution in state.executions if state else []:
            execution.stop_requested = {"abandon": True, "reason": "pipeline deleted"}
        return None

    def start_pipeline_execution(self, req: AwsRequest) -> AwsResponse:
        body = req.json()
        execution = self.engine.start(req.region, body.get("name", ""), self._trigger(req, "StartPipelineExecution"),
                                      body.get("variables"))
        return AwsResponse(200, {"pipelineExecutionId": execution.execution_id})

    def get_pipeline_state(self, req: AwsRequest) -> AwsResponse:
        name = req.json().get("name", "")
        pipeline, metadata = self.engine.definition(req.region, name)
        state = self.engine.state(req.region, name)
        stages = []
        with self.engine.cond:
            for stage in pipeline["stages"]:
                entry: dict[str, Any] = {"stageName": stage["name"], "inboundTransitionState": {"enabled": True},
                                         "actionStates": []}
                latest = state.stage_latest.get(stage["name"])
                if latest is not None:
                    entry["latestExecution"] = {"pipelineExecutionId": latest.execution_id,
                                                "status": stage_status(latest, stage["name"])}
                for action in stage["actions"]:
                    action_state: dict[str, Any] = {"actionName": action["name"]}
                    run = state.action_latest.get((stage["name"], action["name"]))
                    if run is not None:
                        action_state["latestExecution"] = run.latest()
                        if action["actionTypeId"]["category"] == "Source":
                            mine = [r for r in run.execution.revisions if r["actionName"] == action["name"]]
                            if mine:
                                # ActionRevision's three members are all required: the change is the revision.
                                action_state["currentRevision"] = {"revisionId": mine[-1]["revisionId"],
                                                                   "revisionChangeId": mine[-1]["revisionId"],
                                                                   "created": epoch(mine[-1].get("created"))}
                    entry["actionStates"].append(action_state)
                stages.append(entry)
        return AwsResponse(200, {"pipelineName": name, "pipelineVersion": pipeline.get("version", 1),
                                 "stageStates": stages, "created": epoch(metadata.get("created")),
                                 "updated": epoch(metadata.get("updated"))})

    def get_pipeline_execution(self, req: AwsRequest) -> AwsResponse:
        body = req.json()
        name, execution_id = body.get("pipelineName", ""), body.get("pipelineExecutionId", "")
        self.engine.definition(req.region, name)
        execution = self.engine.find(req.region, name, execution_id)
        if execution is None:
            raise PipelineExecutionNotFoundException(f"Account '{ACCOUNT_ID}' does not have an execution with id "
                                                     f"'{execution_id}' for pipeline '{name}'")
        return AwsResponse(200, {"pipelineExecution": execution.to_dict()})

    def list_pipeline_executions(self, req: AwsRequest) -> AwsResponse:
        body = req.json()
        name = body.get("pipelineName", "")
        self.engine.definition(req.region, name)
        with self.engine.cond:
            executions = list(reversed(self.engine.state(req.region, name).executions))
        start = int(body.get("nextToken") or 0)
        size = int(body.get("maxResults") or 100)
        result: dict[str, Any] = {"pipelineExecutionSummaries": [e.summary_dict()
                                                                 for e in executions[start:start + size]]}
        if start + size < len(executions):
            result["nextToken"] = str(start + size)
        return AwsResponse(200, result)

    def list_action_executions(self, req: AwsRequest) -> AwsResponse:
        body = req.json()
        name = body.get("pipelineName", "")
        self.engine.definition(req.region, name)
        wanted = (body.get("filter") or {}).get("pipelineExecutionId")
        with self.engine.cond:
            runs = [run for execution in self.engine.state(req.region, name).executions
                    if not wanted or execution.execution_id == wanted for run in execution.actions]
        runs.sort(key=lambda r: r.start_time, reverse=True)
        return AwsResponse(200, {"actionExecutionDetails": [r.details() for r in runs]})

    def stop_pipeline_execution(self, req: AwsRequest) -> AwsResponse:
        body = req.json()
        name, execution_id = body.get("pipelineName", ""), body.get("pipelineExecutionId", "")
        execution = self.engine.find(req.region, name, execution_id)
        if execution is None:
            raise PipelineExecutionNotFoundException(f"Pipeline {name} has no execution with id '{execution_id}'")
        if execution.status != "InProgress":
            raise PipelineExecutionNotStoppableException(
                f"Execution {execution_id} is {execution.status} and cannot be stopped")
        execution.stop_requested = {"abandon": bool(body.get("abandon")), "reason": body.get("reason", "")}
        with execution.lock:
            execution.status = "Stopping"
        with self.engine.cond:
            self.engine.cond.notify_all()
        self.cloud.spawn("codepipeline-stop", settle_stop, execution)
        return AwsResponse(200, {"pipelineExecutionId": execution_id})

    def retry_stage_execution(self, req: AwsRequest) -> AwsResponse:
        body = req.json()
        name, stage = body.get("pipelineName", ""), body.get("stageName", "")
        execution_id, mode = body.get("pipelineExecutionId", ""), body.get("retryMode", "")
        if mode not in ("FAILED_ACTIONS", "ALL_ACTIONS"):
            raise ValidationException(f"1 validation error detected: Value '{mode}' at 'retryMode' failed to satisfy "
                                      "constraint: Member must satisfy enum value set: [ALL_ACTIONS, FAILED_ACTIONS]")
        pipeline, _ = self.engine.definition(req.region, name)
        if stage not in [s["name"] for s in pipeline["stages"]]:
            raise StageNotFoundException(f"Stage {stage} not found in pipeline {name}")
        state = self.engine.state(req.region, name)
        with self.engine.cond:
            execution = self.engine.find(req.region, name, execution_id)
            if execution is None or state.stage_latest.get(stage) is not execution:
                raise NotLatestPipelineExecutionException(
                    f"Execution {execution_id} is not the latest execution of stage {stage} in pipeline {name}: the "
                    "stage has run in a later execution, or never in this one")
            if execution.status in ("InProgress", "Stopping"):
                raise ConflictException(f"Execution {execution_id} of pipeline {name} is {execution.status}; a stage "
                                        "can be retried once its execution has ended")
            status = stage_status(execution, stage)
            if status != "Failed":
                raise StageNotRetryableException(f"Stage {stage} of execution {execution_id} is {status}: only a "
                                                 "failed stage can be retried")
            self.engine.retry(execution, stage, mode)
        return AwsResponse(200, {"pipelineExecutionId": execution_id})

    def put_job_success_result(self, req: AwsRequest) -> AwsResponse:
        body = req.json()
        return self._settle_job(body.get("jobId", ""), "Succeeded", body)

    def put_job_failure_result(self, req: AwsRequest) -> AwsResponse:
        body = req.json()
        if not (body.get("failureDetails") or {}).get("message"):
            raise ValidationException("failureDetails with a type and a message is required")
        return self._settle_job(body.get("jobId", ""), "Failed", body)

    def _settle_job(self, job_id: str, status: str, body: dict[str, Any]) -> AwsResponse:
        error = self.engine.settle_job(job_id, status, body)
        if error == "JobNotFoundException":
            raise JobNotFoundException(f"The job {job_id} could not be found")
        if error:
            raise InvalidJobStateException(f"The job {job_id} is no longer in progress and cannot take a result")
        return AwsResponse(200, {})

    def get_job_details(self, req: AwsRequest) -> AwsResponse:
        job_id = req.json().get("jobId", "")
        with self.engine.cond:
            entry = self.engine.jobs.get(job_id)
        if entry is None:
            raise JobNotFoundException(f"The job {job_id} could not be found")
        return AwsResponse(200, {"jobDetails": entry[1]})

    def put_approval_result(self, req: AwsRequest) -> AwsResponse:
        body = req.json()
        name, stage, action = body.get("pipelineName", ""), body.get("stageName", ""), body.get("actionName", "")
        result, token = body.get("result") or {}, body.get("token", "")
        pipeline, _ = self.engine.definition(req.region, name)
        stages = {s["name"]: s for s in pipeline["stages"]}
        if stage not in stages:
            raise StageNotFoundException(f"Stage {stage} not found in pipeline {name}")
        if action not in [a["name"] for a in stages[stage]["actions"]]:
            raise ActionNotFoundException(f"Action {action} not found in stage {stage} of {name}")
        if result.get("status") not in ("Approved", "Rejected"):
            raise ValidationException("result.status must be Approved or Rejected")
        run = self.engine.approval(req.region, name, stage, action)
        if run is None or run.action["actionTypeId"]["provider"] != "Manual":
            raise InvalidApprovalTokenException(
                f"No approval request with token {token} is waiting in {name}/{stage}/{action}")
        if run.token != token:
            if run.status != "InProgress" or run.settled.is_set():
                raise ApprovalAlreadyCompletedException(
                    f"The approval request {name}/{stage}/{action} was already {run.status}")
            raise InvalidApprovalTokenException(
                f"The token {token} does not match the approval waiting in {name}/{stage}/{action}")
        if not run.settle(result["status"], result):
            raise ApprovalAlreadyCompletedException(
                f"The approval request {name}/{stage}/{action} was already answered")
        return AwsResponse(200, {"approvedAt": time.time()})
