"""A pipeline execution: found or started, followed stage by stage to its end, and its approvals answered by the
monitors or by a person."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from .. import pipeline_jobs
from ..config import WorkshopNames
from . import PipelineError, Progress

STAGES = ("Source", "Build", "ETL", "ETLApproval", "Train", "TrainApproval", "DeployDev", "SystemTest", "DeployPrd")
APPROVALS = {"ETLApproval": "ApproveETL", "TrainApproval": "ApproveTrain"}


def execution_ids(cp, pipeline: str) -> list[str]:
    """The pipeline's executions, newest first; none when it does not exist yet."""
    try:
        summaries = cp.list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "PipelineNotFoundException":
            return []
        raise
    return [s["pipelineExecutionId"] for s in summaries]


def new_execution(cp, pipeline: str, known: set[str], wait: float = 3.0) -> tuple[str, str]:
    """The execution that started after `known` was taken (creating the pipeline starts one), else a new one
    started now. Returns (execution id, how it started)."""
    deadline = time.monotonic() + wait
    while True:
        fresh = [e for e in execution_ids(cp, pipeline) if e not in known]
        if fresh:
            trigger = cp.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=fresh[-1])
            return fresh[-1], trigger["pipelineExecution"].get("trigger", {}).get("triggerType", "")
        if time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    return cp.start_pipeline_execution(name=pipeline)["pipelineExecutionId"], "StartPipelineExecution"


@dataclass
class StageResult:
    name: str
    status: str = "NotRun"
    seconds: float | None = None
    message: str = ""


@dataclass
class PipelineRun:
    pipeline: str
    execution_id: str
    status: str = "InProgress"
    summary: str = ""
    seconds: float = 0.0
    stages: dict[str, StageResult] = field(default_factory=dict)

    @property
    def failed_stage(self) -> StageResult | None:
        return next((s for s in self.stages.values() if s.status == "Failed"), None)

    @property
    def succeeded(self) -> bool:
        return self.status == "Succeeded"


def _message(latest: dict[str, Any]) -> str:
    return (latest.get("errorDetails") or {}).get("message") or latest.get("summary") or ""


def action_details(cp, pipeline: str, execution_id: str) -> list[dict[str, Any]]:
    details, token = [], None
    while True:
        page = cp.list_action_executions(pipelineName=pipeline, filter={"pipelineExecutionId": execution_id},
                                         **({"nextToken": token} if token else {}))
        details += page["actionExecutionDetails"]
        token = page.get("nextToken")
        if not token:
            return details


def stage_results(cp, pipeline: str, execution_id: str, stage_names: list[str]) -> dict[str, StageResult]:
    """Each stage's outcome and time in one execution, from its action executions."""
    results = {name: StageResult(name) for name in stage_names}
    spans: dict[str, list[tuple[float, float]]] = {}
    rank = {"Failed": 4, "InProgress": 3, "Abandoned": 2, "Succeeded": 1}
    for detail in action_details(cp, pipeline, execution_id):
        result = results.setdefault(detail["stageName"], StageResult(detail["stageName"]))
        spans.setdefault(result.name, []).append((epoch_seconds(detail["startTime"]), epoch_seconds(detail["lastUpdateTime"])))
        status = detail["status"]
        if rank.get(status, 0) > rank.get(result.status, 0):
            result.status = status
            if status == "Failed":
                outcome = detail.get("output", {}).get("executionResult", {})
                result.message = ((outcome.get("errorDetails") or {}).get("message")
                                  or outcome.get("externalExecutionSummary") or "")
    for name, times in spans.items():
        results[name].seconds = max(end for _, end in times) - min(start for start, _ in times)
    return results


def epoch_seconds(value: Any) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def pipeline_stages(cp, pipeline: str) -> list[str]:
    return [stage["name"] for stage in cp.get_pipeline(name=pipeline)["pipeline"]["stages"]]


def waiting_approvals(cp, pipeline: str, execution_id: str | None = None) -> list[tuple[str, str, str]]:
    """(stage, action, token) of each manual approval that waits, in `execution_id` when given."""
    waiting = []
    for stage in cp.get_pipeline_state(name=pipeline)["stageStates"]:
        latest = stage.get("latestExecution") or {}
        if execution_id and latest.get("pipelineExecutionId") != execution_id:
            continue
        for action in stage.get("actionStates", []):
            state = action.get("latestExecution") or {}
            if state.get("status") == "InProgress" and state.get("token"):
                waiting.append((stage["stageName"], action["actionName"], state["token"]))
    return waiting


def follow(cp, pipeline: str, execution_id: str, timeout: float = 1800, poll: float = 0.5,
           progress: Progress = print, on_approval: Callable[[str, str], None] | None = None,
           started: float | None = None) -> PipelineRun:
    """Watch one execution until it ends, printing each stage's status as it changes (with the time since
    `started`); `on_approval(stage, action)` is called once for each approval that waits in it."""
    started = started if started is not None else time.monotonic()
    deadline = time.monotonic() + timeout
    stage_names = pipeline_stages(cp, pipeline)
    seen: dict[str, str] = {}
    announced: set[tuple[str, str]] = set()
    while True:
        execution = cp.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution_id)
        status = execution["pipelineExecution"]["status"]
        for stage in cp.get_pipeline_state(name=pipeline)["stageStates"]:
            latest = stage.get("latestExecution") or {}
            if latest.get("pipelineExecutionId") != execution_id:
                continue
            name, stage_status = stage["stageName"], latest.get("status", "")
            if seen.get(name) != stage_status:
                seen[name] = stage_status
                note = ""
                if stage_status == "Failed":
                    note = next((_message(a.get("latestExecution") or {}) for a in stage.get("actionStates", [])
                                 if (a.get("latestExecution") or {}).get("status") == "Failed"), "")
                progress(f"  {clock(time.monotonic() - started)}  {name:<14} {stage_status}"
                         + (f": {note}" if note else ""))
            for action in stage.get("actionStates", []):
                state = action.get("latestExecution") or {}
                key = (name, action["actionName"])
                if state.get("status") == "InProgress" and state.get("token") and key not in announced:
                    announced.add(key)
                    if on_approval:
                        on_approval(*key)
        if status not in ("InProgress", "Stopping"):
            break
        if time.monotonic() > deadline:
            raise PipelineError(f"Execution {execution_id} of {pipeline} is still {status} after {timeout:.0f} s; "
                                f"it goes on in the background")
        time.sleep(poll)
    run = PipelineRun(pipeline, execution_id, status, execution["pipelineExecution"].get("statusSummary", ""),
                      time.monotonic() - started)
    run.stages = stage_results(cp, pipeline, execution_id, stage_names)
    return run


def clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def monitor_rules(names: WorkshopNames) -> list[str]:
    """The EventBridge rules that send the Glue and training job ends to the monitors (the stack's names)."""
    return [f"etl-job-state-{names.model_name}", f"training-job-state-{names.model_name}"]


def set_monitors(session, names: WorkshopNames, enabled: bool) -> None:
    """Let the monitors answer the approvals (enabled), or leave them to a person (the rules disabled)."""
    events = session.client("events")
    for rule in monitor_rules(names):
        (events.enable_rule if enabled else events.disable_rule)(Name=rule)


def answer_approval(session, names: WorkshopNames, stage: str, approve: bool, summary: str = "",
                    execution_id: str | None = None) -> str:
    """Approve or reject the approval that waits in `stage` (of `execution_id`, else whichever execution).

    Approving checks what the monitor would: for ETLApproval that the execution's Glue run succeeded; for
    TrainApproval that its training job completed, and then it registers the model, pending approval, as
    TrainingJobMonitor does (the deployment stages deploy that package). Returns what was done."""
    cp = session.client("codepipeline")
    pipeline = names.pipeline_stack_name
    action = APPROVALS.get(stage)
    if action is None:
        raise PipelineError(f"{stage} is not an approval stage: use one of {', '.join(APPROVALS)}")
    waiting = [w for w in waiting_approvals(cp, pipeline) if w[0] == stage]
    if not waiting:
        raise PipelineError(f"No approval waits in {pipeline}/{stage} now")
    state = next(s for s in cp.get_pipeline_state(name=pipeline)["stageStates"] if s["stageName"] == stage)
    execution = state["latestExecution"]["pipelineExecutionId"]
    if execution_id and execution != execution_id:
        raise PipelineError(f"The approval in {stage} waits for execution {execution}, not {execution_id}")
    note = summary or f"{'Approved' if approve else 'Rejected'} from the command line"
    if approve and stage == "ETLApproval":
        note = f"{etl_run_succeeded(session, names, execution)}; {note}"
    if approve and stage == "TrainApproval":
        note = f"{register_trained_model(session, names, execution)}; {note}"
    cp.put_approval_result(pipelineName=pipeline, stageName=stage, actionName=action, token=waiting[0][2],
                           result={"status": "Approved" if approve else "Rejected", "summary": note[:512]})
    return note


def etl_run_succeeded(session, names: WorkshopNames, execution_id: str) -> str:
    """What a person checks before approving the ETL: this execution's Glue run succeeded (Train reads its output)."""
    job = f"{names.model_name}-preprocess"
    try:
        runs = session.client("glue").get_job_runs(JobName=job)["JobRuns"]
    except ClientError as error:
        raise PipelineError(f"The ETL job {job} cannot be read: {error}") from None
    run = next((r for r in runs if (r.get("Arguments") or {}).get("--PIPELINE_EXECUTION_ID") == execution_id), None)
    if run is None:
        raise PipelineError(f"No run of the ETL job {job} belongs to execution {execution_id}; wait for the ETL "
                            f"stage to start it")
    if run["JobRunState"] != "SUCCEEDED":
        reason = f": {run['ErrorMessage']}" if run.get("ErrorMessage") else ""
        advice = ("wait for it to end" if run["JobRunState"] in ("STARTING", "RUNNING", "STOPPING", "WAITING")
                  else "there is no data to train on (reject it instead)")
        raise PipelineError(f"Run {run['Id']} of the ETL job {job} is {run['JobRunState']}{reason}; {advice}")
    return f"Glue run {run['Id']} of {job} succeeded"


def register_trained_model(session, names: WorkshopNames, execution_id: str) -> str:
    sm = session.client("sagemaker")
    job_name = f"mlops-{names.model_name}-{execution_id}"
    try:
        job = sm.describe_training_job(TrainingJobName=job_name)
    except ClientError as error:
        raise PipelineError(f"Training job {job_name} of this execution cannot be read: {error}") from None
    if job["TrainingJobStatus"] != "Completed":
        raise PipelineError(f"Training job {job_name} is {job['TrainingJobStatus']}"
                            f"{': ' + job['FailureReason'] if job.get('FailureReason') else ''}; there is no model "
                            f"to approve (reject it instead, or wait for it to complete)")
    arn = pipeline_jobs.register_model_package(sm, names.model_name, job, execution_id)
    return f"model package {arn} registered"
