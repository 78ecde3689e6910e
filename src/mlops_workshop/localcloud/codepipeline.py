"""CodePipeline: an engine that runs pipelines, and the API calls moto lacks for it.

moto keeps the pipeline definitions (CreatePipeline, GetPipeline, UpdatePipeline); this module runs them.
An execution runs its stages in order, and a stage's actions by run order (those sharing one in parallel),
in a background thread. Artifacts travel through the pipeline's artifact bucket as zips at
<pipeline>/<artifact>/<id>, as CodePipeline stores them. Lambda actions get the real job event and wait for
PutJobSuccessResult/PutJobFailureResult; manual approvals wait with a token for PutApprovalResult; CodeBuild,
CloudFormation and Step Functions actions run through the local cloud's own services. A failed action fails
its stage and the execution with the action's own message; an action that never reports fails after its
timeout. Stages are locked as in CodePipeline's SUPERSEDED mode: one execution per stage, and a newer
execution waiting for a stage supersedes an older one waiting there.

Settings (``cloud.settings["codepipeline"]``): ``timeouts`` (seconds per provider, e.g. {"Manual": 3600}),
``lambda_result_grace_seconds`` (how long after a Lambda returns a result may still come), ``poll_seconds``
(how often sources with PollForSourceChanges are checked for a new revision; 0 turns polling off).
"""

from __future__ import annotations

import copy
import io
import json
import logging
import re
import secrets
import string
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any

from .server import ACCOUNT_ID, DUMMY_CREDENTIALS, AwsError, AwsRequest, AwsResponse, LocalCloud, json_error

log = logging.getLogger("mlops_workshop.localcloud.codepipeline")

# Seconds an action may take before it is failed; CodePipeline's own limits where they are short enough to matter.
DEFAULT_TIMEOUTS = {
    "Manual": 3600.0,
    "Lambda": 3600.0,
    "CodeBuild": 8 * 3600.0,
    "CloudFormation": 3 * 3600.0,
    "StepFunctions": 3600.0,
    "S3": 600.0,
    "CodeCommit": 600.0,
}
DEFAULT_LAMBDA_GRACE = 60.0
DEFAULT_POLL_SECONDS = 30.0
CLOUDFORMATION_FAILED = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED",
                         "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED"}
VARIABLE = re.compile(r"#\{([A-Za-z0-9@_\-]+)\.([A-Za-z0-9@_\-]+)\}")

_runtimes: list["PipelineRuntime"] = []


class ActionFailed(Exception):
    """An action ends Failed with this message (and error code)."""

    def __init__(self, message: str, code: str = "JobFailed", external_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.external_id = external_id


class ExecutionHalted(Exception):
    """The execution was stopped or superseded while an action waited."""


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

    def __init__(self, runtime: "PipelineRuntime", region: str, pipeline: dict[str, Any], trigger: dict[str, str],
                 variables: list[dict[str, str]] | None = None):
        self.runtime = runtime
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


class PipelineRuntime:
    """Runs the pipelines of one local cloud."""

    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud
        self.settings: dict[str, Any] = dict(cloud.settings.get("codepipeline") or {})
        self.pipelines: dict[tuple[str, str], PipelineState] = {}
        self.jobs: dict[str, tuple[ActionExecution, dict[str, Any]]] = {}
        self.cond = threading.Condition(threading.RLock())
        self._clients: dict[tuple[str, str, float], Any] = {}
        self._clients_lock = threading.Lock()
        self.stopped = threading.Event()

    # Helpers.
    def client(self, service: str, region: str, read_timeout: float = 120) -> Any:
        import boto3
        from botocore.config import Config
        key = (service, region, read_timeout)
        with self._clients_lock:
            if key not in self._clients:
                self._clients[key] = boto3.session.Session().client(
                    service, region_name=region, endpoint_url=self.cloud.endpoint_url,
                    aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                    config=Config(retries={"max_attempts": 2, "mode": "standard"}, read_timeout=read_timeout,
                                  connect_timeout=10))
            return self._clients[key]

    def timeout_for(self, action: dict[str, Any]) -> float:
        if action.get("timeoutInMinutes"):
            return float(action["timeoutInMinutes"]) * 60
        provider = action["actionTypeId"]["provider"]
        timeouts = {**DEFAULT_TIMEOUTS, **(self.settings.get("timeouts") or {})}
        return float(timeouts.get(provider, timeouts.get("default", 3600.0)))

    def state(self, region: str, name: str) -> PipelineState:
        with self.cond:
            return self.pipelines.setdefault((region, name), PipelineState())

    def definition(self, region: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        from moto.codepipeline.exceptions import PipelineNotFoundException
        try:
            return self.cloud.backend("codepipeline", region).get_pipeline(name)
        except PipelineNotFoundException as exc:
            raise LookupError(exc.message) from exc

    # Executions.
    def start(self, region: str, name: str, trigger: dict[str, str] | None = None,
              variables: list[dict[str, str]] | None = None) -> Execution:
        pipeline, _ = self.definition(region, name)
        execution = Execution(self, region, pipeline, trigger or {"triggerType": "StartPipelineExecution",
                                                                    "triggerDetail": "local cloud"}, variables)
        state = self.state(region, name)
        with self.cond:
            state.executions.append(execution)
        self.cloud.spawn(f"codepipeline-{name}-{execution.execution_id[:8]}", self._run, execution)
        log.info("pipeline %s: execution %s started (%s)", name, execution.execution_id,
                 execution.trigger.get("triggerType"))
        return execution

    def find(self, region: str, name: str, execution_id: str) -> Execution | None:
        with self.cond:
            for execution in self.state(region, name).executions:
                if execution.execution_id == execution_id:
                    return execution
        return None

    def _run(self, execution: Execution) -> None:
        state = self.state(execution.region, execution.name)
        held: str | None = None
        try:
            for stage in execution.pipeline["stages"]:
                if not self._enter(state, execution, stage["name"], held):
                    break
                held = stage["name"]
                with self.cond:
                    state.stage_latest[stage["name"]] = execution
                if not self._run_stage(state, execution, stage):
                    break
            else:
                self._finish(execution, "Succeeded")
        except Exception as exc:  # an engine bug must end the execution visibly, not leave it InProgress
            log.exception("pipeline %s execution %s failed", execution.name, execution.execution_id)
            self._finish(execution, "Failed", f"The local cloud's pipeline engine failed: {exc}")
        finally:
            with self.cond:
                if held and state.occupant.get(held) is execution:
                    del state.occupant[held]
                for stage_name, waiting in list(state.waiting.items()):
                    if waiting is execution:
                        del state.waiting[stage_name]
                self.cond.notify_all()

    def _enter(self, state: PipelineState, execution: Execution, stage: str, held: str | None) -> bool:
        """Wait until the stage is free, giving up the stage just completed; False when superseded or stopped."""
        with self.cond:
            if held and state.occupant.get(held) is execution:
                del state.occupant[held]
                self.cond.notify_all()
            older = state.waiting.get(stage)
            if older is not None and older is not execution:
                older.superseded = True
                self.cond.notify_all()
            state.waiting[stage] = execution
            while state.occupant.get(stage) not in (None, execution):
                if execution.superseded:
                    state.waiting.pop(stage, None)
                    self._finish(execution, "Superseded",
                                 f"A newer execution of {execution.name} was waiting to enter stage {stage}")
                    return False
                if execution.stop_requested or self.stopped.is_set():
                    state.waiting.pop(stage, None)
                    self._finish(execution, "Stopped", (execution.stop_requested or {}).get("reason"))
                    return False
                self.cond.wait(0.5)
            state.waiting.pop(stage, None)
            if execution.stop_requested:
                self._finish(execution, "Stopped", execution.stop_requested.get("reason"))
                return False
            state.occupant[stage] = execution
            return True

    def _run_stage(self, state: PipelineState, execution: Execution, stage: dict[str, Any]) -> bool:
        orders = sorted({int(a.get("runOrder", 1)) for a in stage["actions"]})
        for order in orders:
            group = [a for a in stage["actions"] if int(a.get("runOrder", 1)) == order]
            runs = [ActionExecution(execution, stage["name"], action) for action in group]
            with self.cond:
                for run in runs:
                    execution.actions.append(run)
                    state.action_latest[(stage["name"], run.name)] = run
            execution.touch()
            threads = [threading.Thread(target=self._run_action, args=(run,), daemon=True,
                                        name=f"codepipeline-action-{run.name}") for run in runs]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            failed = [run for run in runs if run.status == "Failed"]
            if failed:
                first = failed[0]
                message = (first.error or {}).get("message") or first.summary or "failed"
                self._finish(execution, "Failed", f"Action {stage['name']}/{first.name} failed: {message}")
                return False
            if any(run.status == "Abandoned" for run in runs) or execution.halted:
                self._finish(execution, "Superseded" if execution.superseded else "Stopped",
                             (execution.stop_requested or {}).get("reason"))
                return False
            if execution.stop_requested:
                self._finish(execution, "Stopped", execution.stop_requested.get("reason"))
                return False
        return True

    def _finish(self, execution: Execution, status: str, summary: str | None = None) -> None:
        with execution.lock:
            if execution.status not in ("InProgress", "Stopping"):
                return
            execution.status = status
            if summary:
                execution.summary = summary
            execution.touch()
        log.info("pipeline %s: execution %s %s%s", execution.name, execution.execution_id, status,
                 f": {summary}" if summary else "")

    def _run_action(self, run: ActionExecution) -> None:
        provider = run.action["actionTypeId"]["provider"]
        category = run.action["actionTypeId"]["category"]
        try:
            run.resolved_configuration = self._resolve(run)
            handler = ACTION_HANDLERS.get((category, provider))
            if handler is None:
                raise ActionFailed(f"The local cloud does not run {category} actions of provider {provider}",
                                   "ConfigurationError")
            result = handler(self, run)
            run.summary = result.summary or run.summary
            run.external_id = result.external_id or run.external_id
            run.external_url = result.external_url or run.external_url
            run.output_variables.update(result.variables)
            if run.action.get("namespace"):
                run.execution.namespaces[run.action["namespace"]] = dict(run.output_variables)
            run.status = "Succeeded"
        except ExecutionHalted:
            run.status = "Abandoned"
        except ActionFailed as exc:
            run.status = "Failed"
            run.error = {"code": exc.code, "message": exc.message[:5000]}
            run.external_id = exc.external_id or run.external_id
            log.info("pipeline %s: action %s/%s failed: %s", run.execution.name, run.stage, run.name, exc.message)
        except Exception as exc:
            log.exception("action %s/%s failed in the engine", run.stage, run.name)
            run.status = "Failed"
            run.error = {"code": "JobFailed", "message": f"{type(exc).__name__}: {exc}"[:5000]}
        finally:
            run.token = None
            run.last_update = time.time()
            run.execution.touch()
            with self.cond:
                for job_id, (job_run, _) in list(self.jobs.items()):
                    if job_run is run:
                        del self.jobs[job_id]

    def _resolve(self, run: ActionExecution) -> dict[str, str]:
        namespaces = run.execution.namespaces

        def replace(match: re.Match[str]) -> str:
            namespace, name = match.group(1), match.group(2)
            if namespace in namespaces and name in namespaces[namespace]:
                return str(namespaces[namespace][name])
            raise ActionFailed(f"Unable to resolve the variable #{{{namespace}.{name}}} in the configuration of "
                               f"action {run.name}: no earlier action in this execution produced it",
                               "ConfigurationError")
        return {key: VARIABLE.sub(replace, value) if isinstance(value, str) else value
                for key, value in (run.action.get("configuration") or {}).items()}

    def wait(self, run: ActionExecution, timeout: float, what: str, until: threading.Event | None = None) -> None:
        """Block until the run is settled (or `until` is set); fail it after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        event = until or run.settled
        while not event.wait(0.2):
            if run.execution.halted or self.stopped.is_set():
                raise ExecutionHalted()
            if time.monotonic() >= deadline:
                raise ActionFailed(f"The action timed out: {what} within its timeout of {timeout:g} seconds",
                                   "TimeoutError")

    def wait_quietly(self, run: ActionExecution, seconds: float, deadline: float) -> bool:
        """Wait up to `seconds` (and no later than the deadline) for a result; True when one came."""
        end = min(time.monotonic() + seconds, deadline)
        while time.monotonic() < end:
            if run.settled.wait(0.1):
                return True
            if run.execution.halted or self.stopped.is_set():
                raise ExecutionHalted()
        return run.settled.is_set()

    # Artifacts.
    def new_artifact(self, run: ActionExecution, name: str) -> Artifact:
        bucket = run.execution.artifact_store(run.action.get("region"))
        alphabet = string.ascii_letters + string.digits
        key = f"{run.execution.name[:20]}/{name[:10]}/{''.join(secrets.choice(alphabet) for _ in range(7))}"
        return Artifact(name, bucket, key)

    def put_artifact(self, run: ActionExecution, artifact: Artifact, body: bytes) -> None:
        self.client("s3", run.execution.region).put_object(Bucket=artifact.bucket, Key=artifact.key, Body=body)
        self.record_output(run, artifact)

    def record_output(self, run: ActionExecution, artifact: Artifact) -> None:
        run.execution.artifacts[artifact.name] = artifact
        run.output_artifacts.append({"name": artifact.name,
                                     "s3location": {"bucket": artifact.bucket, "key": artifact.key}})

    def inputs(self, run: ActionExecution) -> list[Artifact]:
        found = []
        for item in run.action.get("inputArtifacts") or []:
            artifact = run.execution.artifacts.get(item["name"])
            if artifact is None:
                raise ActionFailed(f"Input artifact {item['name']} of action {run.name} was not produced by an "
                                   f"earlier action of this execution", "ConfigurationError")
            found.append(artifact)
            run.input_artifacts.append({"name": artifact.name,
                                        "s3location": {"bucket": artifact.bucket, "key": artifact.key}})
        return found

    def read_artifact(self, run: ActionExecution, artifact: Artifact) -> bytes:
        return self.client("s3", run.execution.region).get_object(
            Bucket=artifact.bucket, Key=artifact.key)["Body"].read()

    def artifact_file(self, run: ActionExecution, reference: str, setting: str) -> bytes:
        """The file named "ArtifactName::path/in/zip" from one of the action's input artifacts."""
        name, sep, path = reference.partition("::")
        if not sep or not path:
            raise ActionFailed(f"{setting} {reference!r} must be ArtifactName::path/to/file", "ConfigurationError")
        artifact = run.execution.artifacts.get(name)
        if artifact is None or name not in [a["name"] for a in run.action.get("inputArtifacts") or []]:
            raise ActionFailed(f"{setting} names artifact {name}, which is not an input artifact of action "
                               f"{run.name}", "ConfigurationError")
        try:
            with zipfile.ZipFile(io.BytesIO(self.read_artifact(run, artifact))) as archive:
                return archive.read(path)
        except KeyError:
            raise ActionFailed(f"{setting}: file {path} is not in artifact {name}", "ConfigurationError") from None
        except zipfile.BadZipFile:
            raise ActionFailed(f"{setting}: artifact {name} is not a zip archive", "ConfigurationError") from None

    # Outside answers.
    def job_event(self, run: ActionExecution, job_id: str, continuation: str | None) -> dict[str, Any]:
        def location(artifact: Artifact) -> dict[str, Any]:
            return {"type": "S3", "s3Location": {"bucketName": artifact.bucket, "objectKey": artifact.key}}
        inputs = [{"name": a.name, "revision": a.revision, "location": location(a)}
                  for a in (run.execution.artifacts[item["name"]] for item in run.input_artifacts)]
        outputs = [{"name": a.name, "revision": None, "location": location(a)} for a in self.outputs_planned(run)]
        data: dict[str, Any] = {
            "actionConfiguration": {"configuration": {k: v for k, v in run.resolved_configuration.items()
                                                      if k in ("FunctionName", "UserParameters")}},
            "inputArtifacts": inputs,
            "outputArtifacts": outputs,
            "artifactCredentials": {"accessKeyId": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                                    "secretAccessKey": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                                    "sessionToken": "localcloud", "expirationTime": int(time.time() + 3600)},
        }
        if continuation:
            data["continuationToken"] = continuation
        return {"CodePipeline.job": {"id": job_id, "accountId": ACCOUNT_ID, "data": data}}

    def outputs_planned(self, run: ActionExecution) -> list[Artifact]:
        """The output artifacts' locations, chosen once so that a job's retries see the same ones."""
        if run.planned_outputs is None:
            run.planned_outputs = [self.new_artifact(run, item["name"])
                                   for item in run.action.get("outputArtifacts") or []]
        return run.planned_outputs

    def settle_job(self, job_id: str, status: str, value: dict[str, Any]) -> str | None:
        """Deliver PutJobSuccessResult/PutJobFailureResult; an error code when the job cannot take it."""
        with self.cond:
            entry = self.jobs.get(job_id)
        if entry is None:
            return "JobNotFoundException"
        run, _ = entry
        if run.status != "InProgress" or not run.settle(status, value):
            return "InvalidJobStateException"
        return None

    def approval(self, region: str, pipeline: str, stage: str, action: str) -> ActionExecution | None:
        with self.cond:
            return self.state(region, pipeline).action_latest.get((stage, action))

    # Source polling.
    def poll_sources(self) -> None:
        interval = float(self.settings.get("poll_seconds", DEFAULT_POLL_SECONDS))
        if interval <= 0:
            return
        while not self.stopped.wait(interval):
            try:
                self._poll_once()
            except Exception:
                log.exception("polling the pipelines' sources failed")

    def _poll_once(self) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.codepipeline.models import codepipeline_backends
        for region, backend in codepipeline_backends[DEFAULT_ACCOUNT_ID].items():
            for name, pipeline in list(backend.pipelines.items()):
                state = self.state(region, name)
                changed = []
                for stage in pipeline.pipeline["stages"][:1]:
                    for action in stage["actions"]:
                        revision = self._current_revision(region, action)
                        if revision is None:
                            continue
                        key = f"{stage['name']}/{action['name']}"
                        if state.seen_revisions.get(key) not in (None, revision):
                            changed.append(action["name"])
                        state.seen_revisions.setdefault(key, revision)
                if changed:
                    with self.cond:
                        busy = any(e.status == "InProgress" and not e.revisions for e in state.executions)
                    if not busy:
                        self.start(region, name, {"triggerType": "PollForSourceChanges",
                                                  "triggerDetail": ", ".join(changed)})

    def _current_revision(self, region: str, action: dict[str, Any]) -> str | None:
        type_id, config = action["actionTypeId"], action.get("configuration") or {}
        if type_id["category"] != "Source" or str(config.get("PollForSourceChanges", "true")).lower() == "false":
            return None
        try:
            if type_id["provider"] == "S3":
                head = self.client("s3", region).head_object(Bucket=config["S3Bucket"], Key=config["S3ObjectKey"])
                return head.get("VersionId") or head.get("ETag")
            if type_id["provider"] == "CodeCommit":
                branch = self.client("codecommit", region).get_branch(
                    repositoryName=config["RepositoryName"], branchName=config["BranchName"])
                return branch["branch"]["commitId"]
        except Exception:
            return None
        return None

    def note_revision(self, run: ActionExecution, revision: str | None) -> None:
        if revision:
            state = self.state(run.execution.region, run.execution.name)
            with self.cond:
                state.seen_revisions[f"{run.stage}/{run.name}"] = revision

    def shutdown(self) -> None:
        self.stopped.set()
        with self.cond:
            self.cond.notify_all()
        if self in _runtimes:
            _runtimes.remove(self)


# Action handlers: each runs one action to its end, returns an ActionResult or raises ActionFailed.
def _source_s3(rt: PipelineRuntime, run: ActionExecution) -> ActionResult:
    config = run.resolved_configuration
    bucket, key = config.get("S3Bucket"), config.get("S3ObjectKey")
    if not bucket or not key:
        raise ActionFailed("An S3 source action needs S3Bucket and S3ObjectKey", "ConfigurationError")
    from botocore.exceptions import ClientError
    try:
        obj = rt.client("s3", run.execution.region).get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in ("NoSuchKey", "404", "NoSuchBucket"):
            raise ActionFailed(f"The object s3://{bucket}/{key} does not exist: upload it, then start the pipeline "
                               f"again ({code})", "ConfigurationError") from None
        raise ActionFailed(f"Could not read s3://{bucket}/{key}: {exc}") from None
    body = obj["Body"].read()
    revision = obj.get("VersionId") or obj.get("ETag", "").strip('"')
    outputs = run.action.get("outputArtifacts") or []
    for item in outputs:
        artifact = rt.new_artifact(run, item["name"])
        artifact.revision = revision
        rt.put_artifact(run, artifact, body)
    rt.note_revision(run, revision)
    run.execution.revisions.append({"name": outputs[0]["name"] if outputs else run.name, "actionName": run.name,
                                    "revisionId": revision, "revisionSummary": f"s3://{bucket}/{key}",
                                    "created": time.time()})
    variables = {"ETag": obj.get("ETag", "").strip('"')}
    if obj.get("VersionId"):
        variables["VersionId"] = obj["VersionId"]
    return ActionResult(summary=f"s3://{bucket}/{key} ({len(body)} bytes)", external_id=revision, variables=variables)


def _source_codecommit(rt: PipelineRuntime, run: ActionExecution) -> ActionResult:
    config = run.resolved_configuration
    repo, branch = config.get("RepositoryName"), config.get("BranchName")
    if not repo or not branch:
        raise ActionFailed("A CodeCommit source action needs RepositoryName and BranchName", "ConfigurationError")
    try:
        from . import codecommit
        archive_branch = codecommit.archive_branch
    except (ImportError, AttributeError):
        raise ActionFailed("CodeCommit sources need the local cloud's CodeCommit executor "
                           "(mlops_workshop.localcloud.codecommit.archive_branch)", "ConfigurationError") from None
    try:
        commit_id, body = archive_branch(rt.cloud, repo, branch)
    except Exception as exc:
        raise ActionFailed(f"Could not read branch {branch} of repository {repo}: {exc}") from None
    for item in run.action.get("outputArtifacts") or []:
        artifact = rt.new_artifact(run, item["name"])
        artifact.revision = commit_id
        rt.put_artifact(run, artifact, body)
    rt.note_revision(run, commit_id)
    variables = {"CommitId": commit_id, "BranchName": branch, "RepositoryName": repo}
    try:
        commit = codecommit.repository(rt.cloud, repo).commit(commit_id)
        variables["CommitMessage"] = commit.get("message", "").strip()
        for key, name in (("author", "AuthorDate"), ("committer", "CommitterDate")):
            if commit.get(key, {}).get("date"):
                variables[name] = commit[key]["date"]
    except Exception:
        log.debug("no commit details for %s in %s", commit_id, repo)
    outputs = run.action.get("outputArtifacts") or []
    run.execution.revisions.append({"name": outputs[0]["name"] if outputs else run.name, "actionName": run.name,
                                    "revisionId": commit_id,
                                    "revisionSummary": variables.get("CommitMessage") or f"{repo}@{branch}",
                                    "created": time.time()})
    return ActionResult(summary=f"{repo} branch {branch} at {commit_id[:12]}", external_id=commit_id,
                        variables=variables)


def _invoke_lambda(rt: PipelineRuntime, run: ActionExecution) -> ActionResult:
    config = run.resolved_configuration
    function = config.get("FunctionName")
    if not function:
        raise ActionFailed("A Lambda invoke action needs FunctionName", "ConfigurationError")
    rt.inputs(run)
    timeout = rt.timeout_for(run.action)
    grace = float(rt.settings.get("lambda_result_grace_seconds", DEFAULT_LAMBDA_GRACE))
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


def _invoke(rt: PipelineRuntime, run: ActionExecution, function: str, event: dict[str, Any],
            invocation: dict[str, Any], invoked: threading.Event) -> None:
    from botocore.exceptions import ClientError
    try:
        response = rt.client("lambda", run.execution.region, read_timeout=960).invoke(
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
        else:
            invocation["error"] = f"{code}: {exc.response['Error'].get('Message', '')}"
    except Exception as exc:
        invocation["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        invoked.set()


def _manual_approval(rt: PipelineRuntime, run: ActionExecution) -> ActionResult:
    run.token = str(uuid.uuid4())
    run.last_update = time.time()
    timeout = rt.timeout_for(run.action)
    rt.wait(run, timeout, "no one approved or rejected it")
    status, value = run.outcome  # type: ignore[misc]
    summary = value.get("summary") or ""
    if status == "Rejected":
        run.summary = summary
        raise ActionFailed(summary or "Rejected", "Rejected")
    return ActionResult(summary=summary or "Approved")


def _codebuild(rt: PipelineRuntime, run: ActionExecution) -> ActionResult:
    config = run.resolved_configuration
    project = config.get("ProjectName")
    if not project:
        raise ActionFailed("A CodeBuild action needs ProjectName", "ConfigurationError")
    inputs = rt.inputs(run)
    if not inputs:
        raise ActionFailed(f"CodeBuild action {run.name} has no input artifact", "ConfigurationError")
    primary = next((a for a in inputs if a.name == config.get("PrimarySource")), inputs[0])
    env: list[dict[str, str]] = []
    if config.get("EnvironmentVariables"):
        try:
            env = json.loads(config["EnvironmentVariables"])
            assert isinstance(env, list)
        except (ValueError, AssertionError):
            raise ActionFailed("EnvironmentVariables must be a JSON list of {name, value, type}",
                               "ConfigurationError") from None
    env = [{"name": e["name"], "value": str(e.get("value", "")), "type": e.get("type", "PLAINTEXT")} for e in env]
    outputs = [rt.new_artifact(run, item["name"]) for item in run.action.get("outputArtifacts") or []]
    try:
        from . import codebuild
        run_build = codebuild.run_build
    except (ImportError, AttributeError):
        raise ActionFailed("CodeBuild actions need the local cloud's CodeBuild executor "
                           "(mlops_workshop.localcloud.codebuild.run_build)", "ConfigurationError") from None
    source = rt.read_artifact(run, primary)
    output_location = f"s3://{outputs[0].bucket}/{outputs[0].key}" if outputs else None
    region = run.action.get("region") or run.execution.region
    build = _call_with_timeout(
        rt, run, lambda: run_build(rt.cloud, project, source, env, output_location, source_version=primary.revision,
                                   initiator=f"codepipeline/{run.execution.name}", region=region),
        rt.timeout_for(run.action), f"CodeBuild project {project} finished no build")
    build = build if isinstance(build, dict) else getattr(build, "__dict__", {})
    build_id = build.get("id") or build.get("buildId")
    run.external_id = build_id
    status = build.get("buildStatus") or build.get("status")
    if status != "SUCCEEDED":
        raise ActionFailed(_build_failure(project, build), "JobFailed", build_id)
    for artifact in outputs:
        rt.record_output(run, artifact)
    variables = {item["name"]: item.get("value", "") for item in build.get("exportedEnvironmentVariables") or []}
    return ActionResult(summary=f"Build {build_id} of {project} succeeded", external_id=build_id,
                        variables=variables)


def _build_failure(project: str, build: dict[str, Any]) -> str:
    status = build.get("buildStatus") or build.get("status") or "FAILED"
    for phase in build.get("phases") or []:
        if phase.get("phaseStatus") not in (None, "SUCCEEDED"):
            contexts = phase.get("contexts") or [{}]
            context = contexts[0] if contexts else {}
            return (f"Build terminated with state: {status}. Phase: {phase.get('phaseType')}, "
                    f"Code: {context.get('statusCode', status)}, Message: {context.get('message', '')}").strip()
    message = build.get("failureMessage") or build.get("message") or "no phase reported an error"
    return f"Build of {project} terminated with state: {status}: {message}"


def _call_with_timeout(rt: PipelineRuntime, run: ActionExecution, call: Any, timeout: float, what: str) -> Any:
    """Run a blocking executor call in a thread so that the action's timeout and a stop still apply."""
    done = threading.Event()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc
        finally:
            done.set()
    threading.Thread(target=target, daemon=True, name=f"codepipeline-{run.name}").start()
    rt.wait(run, timeout, what, until=done)
    if "error" in box:
        error = box["error"]
        if isinstance(error, ActionFailed):
            raise error
        raise ActionFailed(f"{type(error).__name__}: {error}")
    return box.get("value")


def _cloudformation(rt: PipelineRuntime, run: ActionExecution) -> ActionResult:
    from botocore.exceptions import ClientError
    config = run.resolved_configuration
    mode, stack = config.get("ActionMode"), config.get("StackName")
    if not stack or not mode:
        raise ActionFailed("A CloudFormation action needs ActionMode and StackName", "ConfigurationError")
    cfn = rt.client("cloudformation", run.action.get("region") or run.execution.region)
    rt.inputs(run)
    timeout = rt.timeout_for(run.action)
    deadline = time.monotonic() + timeout

    def describe() -> dict[str, Any] | None:
        try:
            return cfn.describe_stacks(StackName=stack)["Stacks"][0]
        except ClientError as exc:
            if "does not exist" in exc.response["Error"].get("Message", ""):
                return None
            raise

    def settle(operation: str) -> dict[str, Any] | None:
        while True:
            current = describe()
            if current is None or not current["StackStatus"].endswith("_IN_PROGRESS"):
                return current
            rt.wait_quietly(run, 0.5, deadline)
            if time.monotonic() >= deadline:
                raise ActionFailed(f"The action timed out: stack {stack} did not finish {operation} within its "
                                   f"timeout of {timeout:g} seconds", "TimeoutError")

    if mode not in ("CREATE_UPDATE", "REPLACE_ON_FAILURE", "DELETE_ONLY"):
        raise ActionFailed(f"ActionMode {mode} is not run by the local cloud: use CREATE_UPDATE, REPLACE_ON_FAILURE "
                           f"or DELETE_ONLY", "ConfigurationError")
    current = describe()
    if current and current["StackStatus"].endswith("_IN_PROGRESS"):
        current = settle("its current operation")
    if mode == "DELETE_ONLY" or (mode == "REPLACE_ON_FAILURE" and current
                                 and current["StackStatus"] in CLOUDFORMATION_FAILED):
        if current and current["StackStatus"] != "DELETE_COMPLETE":
            cfn.delete_stack(StackName=stack, **({"RoleARN": config["RoleArn"]} if config.get("RoleArn") else {}))
            after = settle("deleting")
            if after and after["StackStatus"] != "DELETE_COMPLETE":
                raise ActionFailed(f"Stack {stack} could not be deleted: {after['StackStatus']} "
                                   f"{_stack_reason(cfn, stack)}".strip())
        if mode == "DELETE_ONLY":
            return ActionResult(summary=f"Stack {stack} deleted")
        current = None
    template = rt.artifact_file(run, config.get("TemplatePath", ""), "TemplatePath").decode()
    parameters: dict[str, str] = {}
    tags: dict[str, str] = {}
    if config.get("TemplateConfiguration"):
        raw = rt.artifact_file(run, config["TemplateConfiguration"], "TemplateConfiguration")
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise ActionFailed(f"TemplateConfiguration {config['TemplateConfiguration']} is not JSON: {exc}",
                               "ConfigurationError") from None
        parameters.update({k: str(v) for k, v in (document.get("Parameters") or {}).items()})
        tags.update({k: str(v) for k, v in (document.get("Tags") or {}).items()})
    if config.get("ParameterOverrides"):
        try:
            overrides = json.loads(config["ParameterOverrides"])
        except ValueError as exc:
            raise ActionFailed(f"ParameterOverrides is not a JSON object: {exc}", "ConfigurationError") from None
        parameters.update({k: _parameter_value(rt, run, v) for k, v in overrides.items()})
    request: dict[str, Any] = {
        "StackName": stack, "TemplateBody": template,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }
    if config.get("Capabilities"):
        request["Capabilities"] = [c.strip() for c in config["Capabilities"].split(",") if c.strip()]
    if config.get("RoleArn"):
        request["RoleARN"] = config["RoleArn"]
    operation = "creating"
    try:
        if current is None or current["StackStatus"] == "DELETE_COMPLETE":
            cfn.create_stack(**request)
        elif current["StackStatus"] in CLOUDFORMATION_FAILED | {"REVIEW_IN_PROGRESS"}:
            raise ActionFailed(f"Stack {stack} is in {current['StackStatus']} state and can not be updated.")
        else:
            operation = "updating"
            cfn.update_stack(**request)
    except ClientError as exc:
        message = exc.response["Error"].get("Message", str(exc))
        if "No updates are to be performed" not in message:
            raise ActionFailed(f"Stack {stack}: {message}", "JobFailed") from None
        operation = "unchanged"
    final = settle(operation)
    status = final["StackStatus"] if final else "DELETE_COMPLETE"
    if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise ActionFailed(f"Stack {stack} {status}: {_stack_reason(cfn, stack)}".strip(), "JobFailed",
                           final.get("StackId") if final else None)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (final.get("Outputs") or [])}
    planned = [rt.new_artifact(run, item["name"]) for item in run.action.get("outputArtifacts") or []]
    if planned:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            if config.get("OutputFileName"):
                archive.writestr(config["OutputFileName"], json.dumps(outputs, indent=2))
        for artifact in planned:
            rt.put_artifact(run, artifact, buffer.getvalue())
    summary = f"Stack {stack} {'is unchanged' if operation == 'unchanged' else status}"
    return ActionResult(summary=summary, external_id=final.get("StackId"), variables=outputs)


def _parameter_value(rt: PipelineRuntime, run: ActionExecution, value: Any) -> str:
    """A ParameterOverrides value: a string, Fn::GetParam or Fn::GetArtifactAtt."""
    if isinstance(value, dict) and "Fn::GetParam" in value:
        name, path, key = value["Fn::GetParam"]
        document = json.loads(rt.artifact_file(run, f"{name}::{path}", "Fn::GetParam"))
        return str(document[key])
    if isinstance(value, dict) and "Fn::GetArtifactAtt" in value:
        name, attribute = value["Fn::GetArtifactAtt"]
        artifact = run.execution.artifacts.get(name)
        if artifact is None:
            raise ActionFailed(f"Fn::GetArtifactAtt names unknown artifact {name}", "ConfigurationError")
        return {"BucketName": artifact.bucket, "ObjectKey": artifact.key,
                "URL": f"{rt.cloud.endpoint_url}/{artifact.bucket}/{artifact.key}"}[attribute]
    return str(value)


def _stack_reason(cfn: Any, stack: str) -> str:
    """The first failure of the stack's latest operation, in the failed resource's own words."""
    try:
        events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    except Exception:
        return ""
    failures = []
    for event in events:  # newest first, back to the start of the latest operation
        if event.get("ResourceType") == "AWS::CloudFormation::Stack":
            if event.get("ResourceStatusReason") == "User Initiated":
                break
            continue
        if event.get("ResourceStatus", "").endswith("_FAILED") and event.get("ResourceStatusReason"):
            failures.append(event)
    if failures:
        first = failures[-1]
        return f"{first['LogicalResourceId']} ({first['ResourceType']}): {first['ResourceStatusReason']}"
    reasons = [e["ResourceStatusReason"] for e in events if e.get("ResourceStatusReason")]
    return reasons[0] if reasons else ""


def _stepfunctions(rt: PipelineRuntime, run: ActionExecution) -> ActionResult:
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
    sfn = rt.client("stepfunctions", run.execution.region)
    try:
        execution_arn = sfn.start_execution(stateMachineArn=arn, name=name[:80], input=raw)["executionArn"]
    except ClientError as exc:
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


ACTION_HANDLERS = {
    ("Source", "S3"): _source_s3,
    ("Source", "CodeCommit"): _source_codecommit,
    ("Invoke", "Lambda"): _invoke_lambda,
    ("Approval", "Manual"): _manual_approval,
    ("Build", "CodeBuild"): _codebuild,
    ("Test", "CodeBuild"): _codebuild,
    ("Deploy", "CloudFormation"): _cloudformation,
    ("Invoke", "StepFunctions"): _stepfunctions,
}


def _create_pipeline(self: Any, pipeline: dict[str, Any], tags: list[dict[str, str]]) -> Any:
    """moto's CreatePipeline, with a role trusting CodePipeline among a list of services accepted, as AWS does."""
    from moto.codepipeline.exceptions import InvalidStructureException
    from moto.codepipeline.models import CodePipeline
    from moto.iam.exceptions import NotFoundException
    if pipeline["name"] in self.pipelines:
        raise InvalidStructureException(
            f"A pipeline with the name '{pipeline['name']}' already exists in account '{self.account_id}'")
    try:
        role = self.iam_backend.get_role_by_arn(pipeline["roleArn"])
        services: list[str] = []
        for statement in json.loads(role.assume_role_policy_document)["Statement"]:
            service = (statement.get("Principal") or {}).get("Service", [])
            services += [service] if isinstance(service, str) else list(service)
        trusted = "codepipeline.amazonaws.com" in services
    except NotFoundException:
        trusted = False
    if not trusted:
        raise InvalidStructureException(
            f"CodePipeline is not authorized to perform AssumeRole on role {pipeline['roleArn']}")
    if len(pipeline["stages"]) < 2:
        raise InvalidStructureException(
            f"Pipeline has only {len(pipeline['stages'])} stage(s). There should be a minimum of 2 stages in a pipeline")
    created = CodePipeline(self.account_id, self.region_name, pipeline)
    if tags:
        created.validate_tags(tags)
        created.tags.update({tag["key"]: tag["value"] for tag in tags})
    self.pipelines[pipeline["name"]] = created
    return pipeline, sorted(tags or [], key=lambda i: i["key"])


def _event_target(cloud: LocalCloud, target: dict[str, Any], payload: Any) -> None:
    """An EventBridge rule whose target is a pipeline starts an execution of it, as on AWS."""
    runtime = next((r for r in reversed(_runtimes) if r.cloud is cloud), None)
    arn = target["Arn"]
    if runtime is None:
        log.warning("no pipeline runtime on this cloud; event for %s dropped", arn)
        return
    region, name = arn.split(":")[3], arn.split(":", 5)[5]
    try:
        runtime.start(region, name, {"triggerType": "CloudWatchEvent", "triggerDetail": arn})
    except LookupError:
        log.warning("an event targets pipeline %s, which does not exist", arn)


# The API: the calls moto lacks or records without running.
def install(cloud: LocalCloud) -> None:
    from moto.codepipeline.models import CodePipelineBackend
    original_create = CodePipelineBackend.__dict__["create_pipeline"]
    if original_create is not _create_pipeline:
        CodePipelineBackend.create_pipeline = _create_pipeline  # type: ignore[method-assign]
    runtime = PipelineRuntime(cloud)
    _runtimes.append(runtime)

    def uninstall() -> None:
        runtime.shutdown()
        if not _runtimes and original_create is not _create_pipeline:
            CodePipelineBackend.create_pipeline = original_create  # type: ignore[method-assign]
    cloud.on_shutdown(uninstall)
    cloud.spawn("codepipeline-poll", runtime.poll_sources)
    try:
        from . import events
        events.register_target("codepipeline", _event_target)
    except (ImportError, AttributeError):
        log.info("EventBridge rules cannot start pipelines: the events executor is missing")

    def pipeline_missing(name: str) -> AwsError:
        return AwsError("PipelineNotFoundException",
                        f"Account '{ACCOUNT_ID}' does not have a pipeline with name '{name}'")

    def known_pipeline(region: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The pipeline's definition and metadata; PipelineNotFoundException when there is none."""
        try:
            return runtime.definition(region, name)
        except LookupError:
            raise pipeline_missing(name) from None

    @cloud.after("codepipeline", "CreatePipeline")
    def created(req: AwsRequest, status: int, body: bytes) -> None:
        if status == 200:
            runtime.start(req.region, req.json()["pipeline"]["name"],
                          {"triggerType": "CreatePipeline", "triggerDetail": "pipeline created"})
        return None

    @cloud.after("codepipeline", "DeletePipeline")
    def deleted(req: AwsRequest, status: int, body: bytes) -> None:
        name = req.json().get("name")
        with runtime.cond:
            state = runtime.pipelines.pop((req.region, name), None)
        for execution in state.executions if state else []:
            execution.stop_requested = {"abandon": True, "reason": "pipeline deleted"}
        return None

    @cloud.route("codepipeline", "StartPipelineExecution")
    def start(req: AwsRequest) -> AwsResponse:
        body = req.json()
        try:
            execution = runtime.start(req.region, body.get("name", ""), None, body.get("variables"))
        except LookupError:
            raise pipeline_missing(body.get("name", "")) from None
        return AwsResponse(200, {"pipelineExecutionId": execution.execution_id})

    @cloud.route("codepipeline", "GetPipelineState")
    def get_state(req: AwsRequest) -> AwsResponse:
        name = req.json().get("name", "")
        pipeline, metadata = known_pipeline(req.region, name)
        state = runtime.state(req.region, name)
        stages = []
        with runtime.cond:
            for stage in pipeline["stages"]:
                entry: dict[str, Any] = {"stageName": stage["name"], "inboundTransitionState": {"enabled": True},
                                         "actionStates": []}
                latest = state.stage_latest.get(stage["name"])
                if latest is not None:
                    entry["latestExecution"] = {"pipelineExecutionId": latest.execution_id,
                                                "status": _stage_status(latest, stage["name"])}
                for action in stage["actions"]:
                    action_state: dict[str, Any] = {"actionName": action["name"]}
                    run = state.action_latest.get((stage["name"], action["name"]))
                    if run is not None:
                        action_state["latestExecution"] = run.latest()
                        revision = run.execution.revisions
                        if action["actionTypeId"]["category"] == "Source":
                            mine = [r for r in revision if r["actionName"] == action["name"]]
                            if mine:
                                action_state["currentRevision"] = {"revisionId": mine[-1]["revisionId"]}
                    entry["actionStates"].append(action_state)
                stages.append(entry)
        return AwsResponse(200, {"pipelineName": name, "pipelineVersion": pipeline.get("version", 1),
                                 "stageStates": stages, "created": _epoch(metadata.get("created")),
                                 "updated": _epoch(metadata.get("updated"))})

    @cloud.route("codepipeline", "GetPipelineExecution")
    def get_execution(req: AwsRequest) -> AwsResponse:
        body = req.json()
        name, execution_id = body.get("pipelineName", ""), body.get("pipelineExecutionId", "")
        known_pipeline(req.region, name)
        execution = runtime.find(req.region, name, execution_id)
        if execution is None:
            return json_error("PipelineExecutionNotFoundException",
                              f"Account '{ACCOUNT_ID}' does not have an execution with id '{execution_id}' for "
                              f"pipeline '{name}'")
        return AwsResponse(200, {"pipelineExecution": execution.to_dict()})

    @cloud.route("codepipeline", "ListPipelineExecutions")
    def list_executions(req: AwsRequest) -> AwsResponse:
        body = req.json()
        name = body.get("pipelineName", "")
        known_pipeline(req.region, name)
        with runtime.cond:
            executions = list(reversed(runtime.state(req.region, name).executions))
        start = int(body.get("nextToken") or 0)
        size = int(body.get("maxResults") or 100)
        page = executions[start:start + size]
        result: dict[str, Any] = {"pipelineExecutionSummaries": [e.summary_dict() for e in page]}
        if start + size < len(executions):
            result["nextToken"] = str(start + size)
        return AwsResponse(200, result)

    @cloud.route("codepipeline", "ListActionExecutions")
    def list_action_executions(req: AwsRequest) -> AwsResponse:
        body = req.json()
        name = body.get("pipelineName", "")
        known_pipeline(req.region, name)
        wanted = (body.get("filter") or {}).get("pipelineExecutionId")
        with runtime.cond:
            runs = [run for execution in runtime.state(req.region, name).executions
                    if not wanted or execution.execution_id == wanted for run in execution.actions]
        runs.sort(key=lambda r: r.start_time, reverse=True)
        return AwsResponse(200, {"actionExecutionDetails": [r.details() for r in runs]})

    @cloud.route("codepipeline", "StopPipelineExecution")
    def stop_execution(req: AwsRequest) -> AwsResponse:
        body = req.json()
        name, execution_id = body.get("pipelineName", ""), body.get("pipelineExecutionId", "")
        execution = runtime.find(req.region, name, execution_id)
        if execution is None:
            return json_error("PipelineExecutionNotFoundException",
                              f"Pipeline {name} has no execution with id '{execution_id}'")
        if execution.status != "InProgress":
            return json_error("PipelineExecutionNotStoppableException",
                              f"Execution {execution_id} is {execution.status} and cannot be stopped")
        execution.stop_requested = {"abandon": bool(body.get("abandon")), "reason": body.get("reason", "")}
        with execution.lock:
            execution.status = "Stopping"
        with runtime.cond:
            runtime.cond.notify_all()
        runtime.cloud.spawn("codepipeline-stop", _settle_stop, runtime, execution)
        return AwsResponse(200, {"pipelineExecutionId": execution_id})

    @cloud.route("codepipeline", "PutJobSuccessResult")
    def job_success(req: AwsRequest) -> AwsResponse:
        body = req.json()
        error = runtime.settle_job(body.get("jobId", ""), "Succeeded", body)
        return _job_answer(error, body.get("jobId", ""))

    @cloud.route("codepipeline", "PutJobFailureResult")
    def job_failure(req: AwsRequest) -> AwsResponse:
        body = req.json()
        if not (body.get("failureDetails") or {}).get("message"):
            return json_error("ValidationException", "failureDetails with a type and a message is required")
        error = runtime.settle_job(body.get("jobId", ""), "Failed", body)
        return _job_answer(error, body.get("jobId", ""))

    @cloud.route("codepipeline", "GetJobDetails")
    def job_details(req: AwsRequest) -> AwsResponse:
        job_id = req.json().get("jobId", "")
        with runtime.cond:
            entry = runtime.jobs.get(job_id)
        if entry is None:
            return json_error("JobNotFoundException", f"The job {job_id} could not be found")
        return AwsResponse(200, {"jobDetails": entry[1]})

    @cloud.route("codepipeline", "PutApprovalResult")
    def approval(req: AwsRequest) -> AwsResponse:
        body = req.json()
        name, stage, action = body.get("pipelineName", ""), body.get("stageName", ""), body.get("actionName", "")
        result, token = body.get("result") or {}, body.get("token", "")
        pipeline, _ = known_pipeline(req.region, name)
        stages = {s["name"]: s for s in pipeline["stages"]}
        if stage not in stages:
            return json_error("StageNotFoundException", f"Stage {stage} not found in pipeline {name}")
        if action not in [a["name"] for a in stages[stage]["actions"]]:
            return json_error("ActionNotFoundException", f"Action {action} not found in stage {stage} of {name}")
        if result.get("status") not in ("Approved", "Rejected"):
            return json_error("ValidationException",
                              "result.status must be Approved or Rejected")
        run = runtime.approval(req.region, name, stage, action)
        if run is None or run.action["actionTypeId"]["provider"] != "Manual":
            return json_error("InvalidApprovalTokenException",
                              f"No approval request with token {token} is waiting in {name}/{stage}/{action}")
        if run.token != token:
            if run.status != "InProgress" or run.settled.is_set():
                return json_error("ApprovalAlreadyCompletedException",
                                  f"The approval request {name}/{stage}/{action} was already {run.status}")
            return json_error("InvalidApprovalTokenException",
                              f"The token {token} does not match the approval waiting in {name}/{stage}/{action}")
        if not run.settle(result["status"], result):
            return json_error("ApprovalAlreadyCompletedException",
                              f"The approval request {name}/{stage}/{action} was already answered")
        return AwsResponse(200, {"approvedAt": time.time()})


def _job_answer(error: str | None, job_id: str) -> AwsResponse:
    if error == "JobNotFoundException":
        return json_error(error, f"The job {job_id} could not be found")
    if error:
        return json_error(error, f"The job {job_id} is no longer in progress and cannot take a result")
    return AwsResponse(200, {})


def _settle_stop(runtime: PipelineRuntime, execution: Execution) -> None:
    """A stopped execution without abandon ends Stopped once its running actions finish."""
    while execution.status == "Stopping":
        running = [r for r in execution.actions if r.status == "InProgress"]
        if not running:
            with execution.lock:
                if execution.status == "Stopping":
                    execution.status = "Stopped"
                    execution.summary = execution.stop_requested.get("reason") if execution.stop_requested else None
                    execution.touch()
            return
        time.sleep(0.2)


def _stage_status(execution: Execution, stage: str) -> str:
    runs = [r for r in execution.actions if r.stage == stage]
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


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    from datetime import datetime
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
