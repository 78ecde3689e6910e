"""Glue: `StartJobRun` runs the job's Python-shell script; `GetJobRun`/`GetJobRuns` show the run's real states.

moto records the run (so its checks hold: an unknown job, MaxConcurrentRuns, the job's DefaultArguments
merged with the run's Arguments and NonOverridableArguments). `GlueJobRunner` then swaps moto's run record
for a `LocalJobRun` whose state is the child process's: STARTING -> RUNNING -> SUCCEEDED, FAILED (with the
last line of the script's stderr as ErrorMessage, as Glue shows the uncaught exception), TIMEOUT (the run's
Timeout, else the job's, in minutes; setting `glue_timeout_minute_s` sets how long a minute lasts, for tests),
or STOPPED after BatchStopJobRun. Each final state emits "Glue Job State Change" on the default bus.
UpdateJob (which moto lacks) overwrites the job's definition, as Glue does; its runs are kept.
The script runs with this environment's Python, not Glue's Python 3.9: keep Glue scripts 3.9-compatible.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from moto.core.utils import utcnow
from moto.glue.models import FakeJobRun

from .server import AwsRequest, AwsResponse, LocalCloud, json_error

log = logging.getLogger("mlops_workshop.localcloud.glue")

FINAL_STATES = {"SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR"}
DEFAULT_TIMEOUT_MINUTES = 2880
PYTHON_SHELL_LOG_GROUP = "/aws-glue/python-jobs"
# Arguments Glue sets itself; a job's own values for them are passed on in their place.
GLUE_SET_ARGUMENTS = ("--job-bookmark-option", "--scriptLocation", "--JOB_ID", "--JOB_RUN_ID", "--JOB_NAME")
EVENT_MESSAGES = {"SUCCEEDED": ("INFO", "Job run succeeded"), "TIMEOUT": ("WARN", "Job run timed out"),
                  "STOPPED": ("INFO", "Job run stopped")}


class LocalJobRun(FakeJobRun):
    """moto's job run record, with the state and times of the process that runs it."""

    error_message: str | None = None
    execution_time = 0
    finished_on: Any = None

    @property  # type: ignore[override]
    def status(self) -> str | None:
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        self._status = value
        self.modified_on = utcnow()

    def as_dict(self) -> dict[str, Any]:
        answer = super().as_dict()
        answer.update({"ExecutionTime": self.execution_time, "LogGroupName": PYTHON_SHELL_LOG_GROUP,
                       "GlueVersion": getattr(self, "glue_version", None) or "3.0",
                       "Timeout": self.timeout or DEFAULT_TIMEOUT_MINUTES})
        answer.pop("CompletedOn", None)
        if self.finished_on is not None:
            answer["CompletedOn"] = self.finished_on
        if self.error_message:
            answer["ErrorMessage"] = self.error_message
        return answer

    @classmethod
    def adopt(cls, run: FakeJobRun, glue_version: str | None) -> "LocalJobRun":
        local = cls.__new__(cls)
        local.__dict__.update(run.__dict__)
        local.glue_version = glue_version
        local._status = "STARTING"
        local.started_on = local.modified_on = utcnow()
        return local


class GlueJobRunner:
    """Runs job runs as child processes of the local cloud."""

    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud
        self.minute_s = float(cloud.settings.get("glue_timeout_minute_s", 60))
        self._procs: dict[str, subprocess.Popen[Any]] = {}
        self._stop_requested: set[str] = set()
        self._lock = threading.Lock()

    def start(self, job: Any, run: LocalJobRun, region: str) -> None:
        self.cloud.spawn(f"glue-{run.job_run_id}", self._run, job, run, region)

    def stop(self, run: LocalJobRun) -> None:
        with self._lock:
            self._stop_requested.add(run.job_run_id)
            proc = self._procs.get(run.job_run_id)
        run.status = "STOPPING"
        if proc is not None and proc.poll() is None:
            proc.terminate()

    def arguments(self, job: Any, run: LocalJobRun) -> list[str]:
        """The command line Glue gives a Python-shell script: its own arguments, then the run's `--NAME value`s."""
        given = dict(run.arguments or {})
        argv = ["--job-bookmark-option", given.pop("--job-bookmark-option", "job-bookmark-disable"),
                "--scriptLocation", given.pop("--scriptLocation", job.command.get("ScriptLocation", "")),
                "--JOB_ID", "j_" + hashlib.sha256(job.arn.encode()).hexdigest(), "--JOB_RUN_ID", run.job_run_id,
                "--JOB_NAME", job.name]
        for key, value in given.items():
            if key in GLUE_SET_ARGUMENTS:
                continue
            argv += [key if key.startswith("--") else f"--{key}", str(value)]
        return argv

    def _download(self, url: str, folder: Path) -> Path:
        match = re.match(r"^s3://([^/]+)/(.+)$", url or "")
        if not match:
            raise FileNotFoundError(f"ScriptLocation must be an s3://bucket/key URL, got {url!r}")
        bucket, key = match.groups()
        try:
            body = self.cloud.backend("s3", "aws").get_object(bucket, key).value
        except Exception as exc:
            raise FileNotFoundError(f"cannot read {url}: {type(exc).__name__} {exc}") from exc
        path = folder / Path(key).name
        path.write_bytes(body)
        return path

    def _run(self, job: Any, run: LocalJobRun, region: str) -> None:
        folder = self.cloud.work_dir("glue", run.job_run_id)
        log_path = self.cloud.log_path("glue", run.job_run_id)
        kind = job.command.get("Name", "pythonshell")
        if kind != "pythonshell":
            self._finish(run, region, "FAILED", f"The local cloud runs only Python shell jobs (Command.Name "
                         f"pythonshell); job {job.name} is {kind}", time.monotonic())
            return
        try:
            script = self._download(job.command.get("ScriptLocation", ""), folder)
            extra = [self._download(url.strip(), folder)
                     for url in (run.arguments or {}).get("--extra-py-files", "").split(",") if url.strip()]
        except FileNotFoundError as exc:
            self._finish(run, region, "FAILED", str(exc), time.monotonic())
            return
        env = self.cloud.child_env(region=region)
        if extra:
            env["PYTHONPATH"] = ":".join([str(p) for p in extra] + [env.get("PYTHONPATH", "")]).rstrip(":")
        minutes = run.timeout or DEFAULT_TIMEOUT_MINUTES
        with open(log_path, "ab") as output:
            output.write(f"[localcloud] {job.name} {run.job_run_id}: {script.name} {self.arguments(job, run)}\n"
                         .encode())
            output.flush()
            proc = self.cloud.popen(f"glue {job.name} {run.job_run_id}",
                                    [sys.executable, str(script)] + self.arguments(job, run), cwd=folder,
                                    env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.PIPE)
        with self._lock:
            self._procs[run.job_run_id] = proc
            stop_now = run.job_run_id in self._stop_requested
        if stop_now:
            # BatchStopJobRun came while the script was still being fetched: stop what just started.
            proc.terminate()
        started = time.monotonic()
        if run.status == "STARTING":
            run.status = "RUNNING"
        tail: collections.deque[str] = collections.deque(maxlen=50)
        reader = threading.Thread(target=_copy_stderr, args=(proc, log_path, tail), daemon=True)
        reader.start()
        timed_out = False
        try:
            proc.wait(timeout=minutes * self.minute_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()
            proc.wait()
        finally:
            self.cloud.forget(proc)
            with self._lock:
                self._procs.pop(run.job_run_id, None)
        reader.join(5)
        if run.job_run_id in self._stop_requested:
            self._finish(run, region, "STOPPED", None, started)
        elif timed_out:
            self._finish(run, region, "TIMEOUT", f"Job run timed out after {minutes} minutes", started)
        elif proc.returncode == 0:
            self._finish(run, region, "SUCCEEDED", None, started)
        else:
            last = next((line for line in reversed(tail) if line.strip()), "")
            if proc.returncode < 0:
                # Killed from outside: the script's last words are not why it ended.
                last = f"The job's process was killed by signal {signal.Signals(-proc.returncode).name}"
            self._finish(run, region, "FAILED", last.strip() or f"Command failed with exit code {proc.returncode}",
                         started)

    def _finish(self, run: LocalJobRun, region: str, state: str, message: str | None, started: float) -> None:
        run.execution_time = int(round(time.monotonic() - started))
        run.error_message = message if state in ("FAILED", "TIMEOUT", "ERROR") else None
        run.finished_on = utcnow()
        run.status = state
        log.info("glue job %s run %s: %s%s", run.job_name, run.job_run_id, state, f" ({message})" if message else "")
        severity, text = EVENT_MESSAGES.get(state, ("ERROR", message or state))
        self.cloud.put_event("aws.glue", "Glue Job State Change", {
            "jobName": run.job_name, "severity": severity, "state": state, "jobRunId": run.job_run_id,
            "message": text}, region=region)


def _copy_stderr(proc: subprocess.Popen[Any], log_path: Path, tail: collections.deque[str]) -> None:
    assert proc.stderr is not None
    with open(log_path, "ab") as output:
        for line in proc.stderr:
            output.write(line)
            output.flush()
            tail.append(line.decode(errors="replace"))


def _glue_backend(cloud: LocalCloud, region: str) -> Any:
    return cloud.backend("glue", region)


# JobUpdate's fields and the attributes of moto's job that hold them, with the value a field left out gets.
JOB_UPDATE_FIELDS = {
    "Description": ("description", None), "LogUri": ("log_uri", None), "Role": ("role", None),
    "ExecutionProperty": ("execution_property", {}), "Command": ("command", None),
    "DefaultArguments": ("default_arguments", {}), "NonOverridableArguments": ("non_overridable_arguments", None),
    "Connections": ("connections", None), "MaxRetries": ("max_retries", None),
    "AllocatedCapacity": ("allocated_capacity", None), "Timeout": ("timeout", None),
    "MaxCapacity": ("max_capacity", None), "WorkerType": ("worker_type", None),
    "NumberOfWorkers": ("number_of_workers", None), "SecurityConfiguration": ("security_configuration", None),
    "NotificationProperty": ("notification_property", None), "GlueVersion": ("glue_version", None),
    "CodeGenConfigurationNodes": ("code_gen_configuration_nodes", None),
    "ExecutionClass": ("execution_class", "STANDARD"), "SourceControlDetails": ("source_control_details", None),
}


def update_job(job: Any, update: dict[str, Any]) -> None:
    """UpdateJob as Glue does it: the job's definition is overwritten by JobUpdate; its runs are kept."""
    unknown = sorted(set(update) - set(JOB_UPDATE_FIELDS))
    if unknown:
        raise ValueError(f"JobUpdate has unknown fields {', '.join(unknown)}")
    for key in ("Role", "Command"):
        if not update.get(key):
            raise ValueError(f"JobUpdate.{key} is required: the new definition replaces the whole job")
    for key, (attribute, default) in JOB_UPDATE_FIELDS.items():
        setattr(job, attribute, update.get(key, default))
    job.last_modified_on = utcnow()


def install(cloud: LocalCloud) -> None:
    runner = GlueJobRunner(cloud)

    @cloud.after("glue", "StartJobRun")
    def start_job_run(req: AwsRequest, status: int, body: bytes) -> AwsResponse | None:
        if status != 200:
            return None
        run_id = json.loads(body)["JobRunId"]
        job = _glue_backend(cloud, req.region).get_job(req.json()["JobName"])
        for index, run in enumerate(job.job_runs):
            if run.job_run_id == run_id:
                local = LocalJobRun.adopt(run, job.glue_version)
                job.job_runs[index] = local
                runner.start(job, local, req.region)
        return None

    # moto 5.2.5 has no UpdateJob; a pipeline's second execution updates its job.
    @cloud.route("glue", "UpdateJob")
    def update_job_route(req: AwsRequest) -> AwsResponse:
        params = req.json()
        name = params.get("JobName", "")
        try:
            job = _glue_backend(cloud, req.region).get_job(name)
        except Exception:
            return json_error("EntityNotFoundException", f"Job {name} not found")
        try:
            update_job(job, params.get("JobUpdate") or {})
        except ValueError as exc:
            return json_error("InvalidInputException", str(exc))
        return AwsResponse(200, {"JobName": name})

    @cloud.route("glue", "BatchStopJobRun")
    def batch_stop_job_run(req: AwsRequest) -> AwsResponse:
        params = req.json()
        name = params.get("JobName", "")
        try:
            job = _glue_backend(cloud, req.region).get_job(name)
        except Exception:
            return json_error("EntityNotFoundException", f"Job {name} not found")
        stopped, errors = [], []
        runs = {run.job_run_id: run for run in job.job_runs}
        for run_id in params.get("JobRunIds", []):
            run = runs.get(run_id)
            if isinstance(run, LocalJobRun) and run.status in ("STARTING", "RUNNING"):
                runner.stop(run)
                stopped.append({"JobName": name, "JobRunId": run_id})
            else:
                reason = "not found" if run is None else f"in state {run.status}"
                errors.append({"JobName": name, "JobRunId": run_id, "ErrorDetail": {
                    "ErrorCode": "InvalidInputException", "ErrorMessage": f"Job run {run_id} is {reason}"}})
        return AwsResponse(200, {"SuccessfulSubmissions": stopped, "Errors": errors})
