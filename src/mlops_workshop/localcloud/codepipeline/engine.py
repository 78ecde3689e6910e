"""CodePipeline's engine: it runs pipelines.

moto keeps the pipeline definitions (CreatePipeline, GetPipeline, UpdatePipeline); the engine runs them.
An execution runs its stages in order, and a stage's actions by run order (those sharing one in parallel),
in a background thread. Artifacts travel through the pipeline's artifact bucket as zips at
<pipeline>/<artifact>/<id>, as CodePipeline stores them. Lambda actions get the real job event and wait for
PutJobSuccessResult/PutJobFailureResult; manual approvals wait with a token for PutApprovalResult; CodeBuild,
CloudFormation and Step Functions actions run through the local cloud's own services. A failed action fails
its stage and the execution with the action's own message; an action that never reports fails after its
timeout. Executions share the stages as the pipeline's ExecutionMode says: SUPERSEDED (the default) locks each stage
to one execution, and a newer execution waiting for a stage supersedes an older one waiting there; QUEUED locks them
too, and the executions waiting for a stage enter it one by one in the order they started; PARALLEL locks nothing.

Settings (``cloud.settings["codepipeline"]``): ``timeouts`` (seconds per provider, e.g. {"Manual": 3600}),
``lambda_result_grace_seconds`` (how long after a Lambda returns a result may still come), ``poll_seconds``
(how often sources with PollForSourceChanges are checked for a new revision; 0 turns polling off).
"""

from __future__ import annotations

import io
import logging
import re
import secrets
import string
import threading
import time
import zipfile
from typing import TYPE_CHECKING, Any

from ..clients import DUMMY_CREDENTIALS
from ..server import ACCOUNT_ID
from .actions import PROVIDERS
from .exceptions import ActionFailed, ExecutionHalted, PipelineNotFoundException
from .models import ActionExecution, Artifact, Execution, PipelineState

if TYPE_CHECKING:
    from .service import CodePipelineService

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
DEFAULT_POLL_SECONDS = 30.0
VARIABLE = re.compile(r"#\{([A-Za-z0-9@_\-]+)\.([A-Za-z0-9@_\-]+)\}")


class PipelineEngine:
    """Runs the pipelines of one local cloud."""

    def __init__(self, service: "CodePipelineService"):
        self.service = service
        self.cloud = cloud = service.cloud
        self.settings: dict[str, Any] = dict(cloud.settings.get("codepipeline") or {})
        self.pipelines: dict[tuple[str, str], PipelineState] = {}
        self.jobs: dict[str, tuple[ActionExecution, dict[str, Any]]] = {}
        self.cond = threading.Condition(threading.RLock())
        self.stopped = threading.Event()

    # Helpers.
    def client(self, service: str, region: str, read_timeout: float = 120) -> Any:
        """A client for the calls CodePipeline makes itself (artifacts, starting builds, invoking functions)."""
        return self.cloud.client(service, region, read_timeout)

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
        from moto.codepipeline.exceptions import PipelineNotFoundException as MotoPipelineNotFound
        try:
            return self.cloud.backend("codepipeline", region).get_pipeline(name)
        except MotoPipelineNotFound:
            raise PipelineNotFoundException(
                f"Account '{ACCOUNT_ID}' does not have a pipeline with name '{name}'") from None

    # Executions.
    def start(self, region: str, name: str, trigger: dict[str, str],
              variables: list[dict[str, str]] | None = None) -> Execution:
        """A new execution, which records `trigger` ({triggerType, triggerDetail}) as how it started."""
        pipeline, _ = self.definition(region, name)
        execution = Execution(region, pipeline, trigger, variables)
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

    def retry(self, execution: Execution, stage: str, mode: str) -> None:
        """RetryStageExecution: the stage again (its failed actions, or all of them), then the stages after it."""
        kept = set()
        if mode == "FAILED_ACTIONS":
            latest = {run.name: run for run in execution.actions if run.stage == stage}
            kept = {name for name, run in latest.items() if run.status == "Succeeded"}
        with execution.lock:
            execution.status, execution.summary = "InProgress", None
            execution.touch()
        log.info("pipeline %s: execution %s retries stage %s (%s)", execution.name, execution.execution_id, stage,
                 mode)
        self.cloud.spawn(f"codepipeline-{execution.name}-retry", self._run, execution, stage, kept)

    def _run(self, execution: Execution, first: str | None = None, kept: set[str] | None = None) -> None:
        state = self.state(execution.region, execution.name)
        held: str | None = None
        stages = execution.pipeline["stages"]
        if first is not None:
            stages = stages[[s["name"] for s in stages].index(first):]
        try:
            for stage in stages:
                if not self._enter(state, execution, stage["name"], held):
                    break
                held = stage["name"]
                with self.cond:
                    state.stage_latest[stage["name"]] = execution
                if not self._run_stage(state, execution, stage, kept if stage["name"] == first else None):
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
        mode = execution.pipeline.get("executionMode") or "SUPERSEDED"
        if mode == "PARALLEL":
            return self._halt(execution) if execution.stop_requested or self.stopped.is_set() else True
        with self.cond:
            if held and state.occupant.get(held) is execution:
                del state.occupant[held]
                self.cond.notify_all()
            if mode == "QUEUED":
                return self._enter_in_turn(state, execution, stage)
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

    def _enter_in_turn(self, state: PipelineState, execution: Execution, stage: str) -> bool:
        """QUEUED: enter when the stage is free and no execution that started earlier waits for it."""
        execution.waiting_for = stage
        try:
            while True:
                earlier = any(other.waiting_for == stage for other in
                              state.executions[:state.executions.index(execution)])
                if not earlier and state.occupant.get(stage) in (None, execution):
                    break
                if execution.stop_requested or self.stopped.is_set():
                    return self._halt(execution)
                self.cond.wait(0.5)
        finally:
            execution.waiting_for = None
            self.cond.notify_all()
        if execution.stop_requested:
            return self._halt(execution)
        state.occupant[stage] = execution
        return True

    def _halt(self, execution: Execution) -> bool:
        self._finish(execution, "Stopped", (execution.stop_requested or {}).get("reason"))
        return False

    def _run_stage(self, state: PipelineState, execution: Execution, stage: dict[str, Any],
                   kept: set[str] | None = None) -> bool:
        """Run the stage's actions by run order; `kept`: actions of a retried stage that succeeded and stay."""
        orders = sorted({int(a.get("runOrder", 1)) for a in stage["actions"]})
        for order in orders:
            group = [a for a in stage["actions"]
                     if int(a.get("runOrder", 1)) == order and a["name"] not in (kept or ())]
            if not group:
                continue
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
            handler = PROVIDERS.get((category, provider))
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
        from moto.codepipeline.models import codepipeline_backends
        for region, backend in codepipeline_backends[ACCOUNT_ID].items():
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

    def interrupted(self, reason: str) -> None:
        """Executions that ran when the local cloud stopped end: Failed (Stopped if they were being stopped), and
        their actions that ran with them; no stage stays held."""
        with self.cond:
            for state in self.pipelines.values():
                state.occupant.clear()
                state.waiting.clear()
                for execution in state.executions:
                    if execution.status not in ("InProgress", "Stopping"):
                        continue
                    for run in execution.actions:
                        if run.status == "InProgress":
                            run.status, run.token = "Failed", None
                            run.error = {"code": "JobFailed", "message": reason}
                            run.last_update = time.time()
                            run.settled.set()
                    stopped = execution.status == "Stopping"
                    execution.status = "Stopped" if stopped else "Failed"
                    execution.summary = (execution.stop_requested or {}).get("reason") if stopped else reason
                    execution.touch()
            self.jobs.clear()

    def reset(self) -> None:
        """moto's reset: what runs ends Failed for the threads that still hold it, and every pipeline's history goes."""
        self.interrupted("The local cloud was reset (moto's /moto-api/reset) while this execution ran")
        with self.cond:
            self.pipelines.clear()
            self.cond.notify_all()

    def shutdown(self) -> None:
        self.stopped.set()
        with self.cond:
            self.cond.notify_all()


def settle_stop(execution: Execution) -> None:
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


