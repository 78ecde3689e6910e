"""CodePipeline's state on the local cloud: executions, the runs of their actions, artifacts, and each pipeline's
stage locks, in the shapes GetPipelineState, GetPipelineExecution and ListActionExecutions answer with."""

from __future__ import annotations

import copy
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .exceptions import ActionFailed


@dataclass
class ActionResult:
    summary: str | None = None
    external_id: str | None = None
    external_url: str | None = None
    variables: dict[str, str] = field(default_factory=dict)


@dataclass
class ActionExecution:
    """One run of one action in one execution, as ListActionExecutions and GetPipelineState show it."""

    execution: "Execution"
    stage: str
    action: dict[str, Any]
    action_execution_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = "InProgress"
    summary: str | None = None
    token: str | None = None
    external_id: str | None = None
    external_url: str | None = None
    error: dict[str, str] | None = None
    start_time: float = field(default_factory=time.time)
    last_update: float = field(default_factory=time.time)
    resolved_configuration: dict[str, str] = field(default_factory=dict)
    input_artifacts: list[dict[str, Any]] = field(default_factory=list)
    output_artifacts: list[dict[str, Any]] = field(default_factory=list)
    output_variables: dict[str, str] = field(default_factory=dict)
    settled: threading.Event = field(default_factory=threading.Event)
    outcome: tuple[str, Any] | None = None
    planned_outputs: list["Artifact"] | None = None

    @property
    def name(self) -> str:
        return self.action["name"]

    def settle(self, status: str, value: Any) -> bool:
        """Deliver an outside answer (a job result, an approval); False when the action took one already."""
        if self.settled.is_set():
            return False
        self.outcome = (status, value)
        self.settled.set()
        return True

    def latest(self) -> dict[str, Any]:
        latest: dict[str, Any] = {"actionExecutionId": self.action_execution_id, "status": self.status,
                                  "lastStatusChange": self.last_update}
        if self.summary:
            latest["summary"] = self.summary
        if self.token and self.status == "InProgress":
            latest["token"] = self.token
        if self.external_id:
            latest["externalExecutionId"] = self.external_id
        if self.external_url:
            latest["externalExecutionUrl"] = self.external_url
        if self.error:
            latest["errorDetails"] = self.error
        return latest

    def details(self) -> dict[str, Any]:
        type_id = self.action["actionTypeId"]
        output: dict[str, Any] = {"outputArtifacts": self.output_artifacts,
                                  "executionResult": {}, "outputVariables": self.output_variables}
        if self.external_id:
            output["executionResult"]["externalExecutionId"] = self.external_id
        if self.summary:
            output["executionResult"]["externalExecutionSummary"] = self.summary
        if self.external_url:
            output["executionResult"]["externalExecutionUrl"] = self.external_url
        if self.error:
            output["executionResult"]["errorDetails"] = self.error
        return {
            "pipelineExecutionId": self.execution.execution_id,
            "actionExecutionId": self.action_execution_id,
            "pipelineVersion": self.execution.version,
            "stageName": self.stage,
            "actionName": self.name,
            "startTime": self.start_time,
            "lastUpdateTime": self.last_update,
            "status": self.status,
            "input": {
                "actionTypeId": type_id,
                "configuration": self.action.get("configuration", {}),
                "resolvedConfiguration": self.resolved_configuration,
                "region": self.action.get("region") or self.execution.region,
                "inputArtifacts": self.input_artifacts,
                **({"namespace": self.action["namespace"]} if self.action.get("namespace") else {}),
            },
            "output": output,
        }


@dataclass
class Artifact:
    name: str
    bucket: str
    key: str
    revision: str | None = None


class Execution:
    """One pipeline execution: the definition it started with, its status and its actions."""

    def __init__(self, region: str, pipeline: dict[str, Any], trigger: dict[str, str],
                 variables: list[dict[str, str]] | None = None):
        self.region = region
        self.pipeline = copy.deepcopy(pipeline)
        self.name: str = pipeline["name"]
        self.version: int = pipeline.get("version", 1)
        self.execution_id = str(uuid.uuid4())
        self.status = "InProgress"
        self.summary: str | None = None
        self.trigger = trigger
        self.start_time = self.last_update = time.time()
        self.artifacts: dict[str, Artifact] = {}
        self.revisions: list[dict[str, Any]] = []
        self.actions: list[ActionExecution] = []
        self.stop_requested: dict[str, Any] | None = None
        self.superseded = False
        self.waiting_for: str | None = None   # QUEUED: the stage it waits its turn for
        self.pipeline_variables = {v["name"]: v.get("defaultValue", "") for v in pipeline.get("variables", [])}
        for item in variables or []:
            self.pipeline_variables[item["name"]] = item["value"]
        self.namespaces: dict[str, dict[str, str]] = {
            "codepipeline": {"PipelineExecutionId": self.execution_id, "PipelineName": self.name},
            "variables": dict(self.pipeline_variables),
        }
        self.lock = threading.Lock()

    @property
    def halted(self) -> bool:
        return self.superseded or bool(self.stop_requested and self.stop_requested.get("abandon"))

    def touch(self) -> None:
        self.last_update = time.time()

    def artifact_store(self, region: str | None = None) -> str:
        stores = self.pipeline.get("artifactStores") or {}
        if region and region in stores:
            return stores[region]["location"]
        store = self.pipeline.get("artifactStore") or (next(iter(stores.values())) if stores else None)
        if not store:
            raise ActionFailed("The pipeline has no artifact store", "ConfigurationError")
        return store["location"]

    def to_dict(self) -> dict[str, Any]:
        result = {
            "pipelineName": self.name,
            "pipelineVersion": self.version,
            "pipelineExecutionId": self.execution_id,
            "status": self.status,
            "artifactRevisions": self.revisions,
            "trigger": self.trigger,
            "variables": [{"name": k, "resolvedValue": v} for k, v in self.pipeline_variables.items()],
            "executionMode": self.pipeline.get("executionMode", "SUPERSEDED"),
            "executionType": "STANDARD",
        }
        if self.summary:
            result["statusSummary"] = self.summary
        return result

    def summary_dict(self) -> dict[str, Any]:
        result = {
            "pipelineExecutionId": self.execution_id,
            "status": self.status,
            "startTime": self.start_time,
            "lastUpdateTime": self.last_update,
            "sourceRevisions": [{"actionName": r["actionName"], "revisionId": r.get("revisionId"),
                                 "revisionSummary": r.get("revisionSummary")} for r in self.revisions],
            "trigger": self.trigger,
            "executionMode": self.pipeline.get("executionMode", "SUPERSEDED"),
            "executionType": "STANDARD",
        }
        if self.summary:
            result["statusSummary"] = self.summary
        if self.stop_requested:
            result["stopTrigger"] = {"reason": self.stop_requested.get("reason", "")}
        return result


class PipelineState:
    """What GetPipelineState shows for one pipeline, and its stage locks."""

    def __init__(self) -> None:
        self.executions: list[Execution] = []
        self.stage_latest: dict[str, Execution] = {}
        self.action_latest: dict[tuple[str, str], ActionExecution] = {}
        self.occupant: dict[str, Execution] = {}
        self.waiting: dict[str, Execution] = {}
        self.seen_revisions: dict[str, str] = {}


def stage_status(execution: Execution, stage: str) -> str:
    """A stage's status in one execution, as GetPipelineState shows it."""
    runs = list({r.name: r for r in execution.actions if r.stage == stage}.values())   # each action's latest run
    if any(r.status == "InProgress" for r in runs):
        return "Stopping" if execution.status == "Stopping" else "InProgress"
    if any(r.status == "Failed" for r in runs):
        return "Failed"
    actions = next((s["actions"] for s in execution.pipeline["stages"] if s["name"] == stage), [])
    if runs and all(r.status == "Succeeded" for r in runs) and len(runs) >= len(actions):
        return "Succeeded"
    if execution.status in ("InProgress", "Stopping"):
        return "InProgress"
    return "Cancelled" if execution.status == "Superseded" else "Stopped"


def epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
