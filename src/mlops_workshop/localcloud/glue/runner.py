"""Glue's job runs as child processes: the job's Python-shell script with Glue's arguments, real states.

A run goes STARTING -> RUNNING -> SUCCEEDED, FAILED (with the last line of the script's stderr as ErrorMessage, as
Glue shows the uncaught exception), TIMEOUT (the run's Timeout, else the job's, in minutes; setting
`glue_timeout_minute_s` sets how long a minute lasts, for tests), or STOPPED after BatchStopJobRun. Each final state
emits "Glue Job State Change" on the default bus.

A run acts as the job's role: Glue assumes it (glue.amazonaws.com, session GlueJobRunnerSession), fetches the script
and the S3 files of --extra-py-files and --additional-python-modules with its credentials, and the script runs with
them in its environment; a refusal fails the run with the AccessDenied message as ErrorMessage. The script runs in
the environment Glue's Python shell provides (environment.py): Python 3.9 where the machine has it, the job's
library set, awsglue, and nothing of the local cloud's own environment.

Logs: <state>/logs/glue/<run id>.log, and, line by line as the script writes them, CloudWatch Logs where Glue puts a
Python-shell run's: its standard output in /aws-glue/python-jobs/output and its standard error in
/aws-glue/python-jobs/error, each in a stream named by the run id.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from moto.core.utils import utcnow

from ..iam.exceptions import AssumeRoleRefused
from ..logstreams import LogStream
from . import environment
from .environment import RunSetupError
from .models import DEFAULT_TIMEOUT_MINUTES, PYTHON_SHELL_LOG_GROUP, LocalJobRun

if TYPE_CHECKING:
    from .service import GlueService

log = logging.getLogger("mlops_workshop.localcloud.glue")

# Arguments Glue sets itself; a job's own values for them are passed on in their place.
GLUE_SET_ARGUMENTS = ("--job-bookmark-option", "--scriptLocation", "--JOB_ID", "--JOB_RUN_ID", "--JOB_NAME")
PATH = "/usr/local/bin:/usr/bin:/bin"
OUTPUT_LOG_GROUP, ERROR_LOG_GROUP = f"{PYTHON_SHELL_LOG_GROUP}/output", f"{PYTHON_SHELL_LOG_GROUP}/error"
EVENT_MESSAGES = {"SUCCEEDED": ("INFO", "Job run succeeded"), "TIMEOUT": ("WARN", "Job run timed out"),
                  "STOPPED": ("INFO", "Job run stopped")}


class GlueJobRunner:
    """Runs job runs as child processes of the local cloud."""

    def __init__(self, service: "GlueService"):
        self.cloud = cloud = service.cloud
        self.events = cloud.service("events")
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

    def reset(self) -> None:
        """Every run's script is ended (moto's reset forgot the runs)."""
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            if proc.poll() is None:
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

    @staticmethod
    def _fetch(s3: Any, url: str, folder: Path) -> Path:
        """An S3 object the run needs, read with the job's role; a refusal is the run's ErrorMessage."""
        match = re.match(r"^s3://([^/]+)/(.+)$", url or "")
        if not match:
            raise RunSetupError(f"{url!r} is not an s3://bucket/key path")
        bucket, key = match.groups()
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            error, meta = exc.response.get("Error", {}), exc.response.get("ResponseMetadata", {})
            # Glue reports S3's refusal as its Java SDK words it.
            raise RunSetupError(f"{url}: {error.get('Message') or error.get('Code')} (Service: Amazon S3; Status Code: "
                                f"{meta.get('HTTPStatusCode')}; Error Code: {error.get('Code')}; Request ID: "
                                f"{meta.get('RequestId', '')}; Proxy: null)") from None
        folder.mkdir(parents=True, exist_ok=True)
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
        iam = self.cloud.service("iam")
        try:
            credentials = iam.credentials_for(job.role, "glue.amazonaws.com", session_name="GlueJobRunnerSession")
        except AssumeRoleRefused as exc:
            if iam.enforcing:
                self._finish(run, region, "FAILED", exc.message, time.monotonic())
                return
            credentials = None  # IAM off: a role that does not exist leaves the run the administrator's credentials
        s3 = self.cloud.client("s3", region, credentials=credentials)
        arguments = dict(job.default_arguments or {}, **(run.arguments or {}))
        try:
            script = self._fetch(s3, job.command.get("ScriptLocation", ""), folder / "script")
            layout = environment.layout(arguments, job.command.get("PythonVersion"), folder,
                                        lambda url, into: self._fetch(s3, url, into))
        except RunSetupError as exc:
            self._finish(run, region, "FAILED", str(exc), time.monotonic())
            return
        tmp = folder / "tmp"
        tmp.mkdir(exist_ok=True)
        env = self.cloud.child_env(region=region, credentials=credentials,
                                   base={"PATH": PATH, "LANG": "C.UTF-8", "TMPDIR": str(tmp), "HOME": str(tmp)})
        minutes = run.timeout or DEFAULT_TIMEOUT_MINUTES
        with open(log_path, "ab") as output:
            for note in layout.notes:
                output.write(f"[localcloud] {note}\n".encode())
            output.write(f"[localcloud] {job.name} {run.job_run_id}: {script.name} {self.arguments(job, run)}\n"
                         .encode())
            output.flush()
            proc = self.cloud.popen(f"glue {job.name} {run.job_run_id}",
                                    [layout.python.path, "-I", "-S", "-u", str(environment.LAUNCHER),
                                     str(layout.write(folder / "layout.json")), str(script)]
                                    + self.arguments(job, run), cwd=folder, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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
        output_stream = LogStream(self.cloud, region, OUTPUT_LOG_GROUP, run.job_run_id)
        error_stream = LogStream(self.cloud, region, ERROR_LOG_GROUP, run.job_run_id)
        readers = [threading.Thread(target=_copy, args=(proc.stdout, log_path, output_stream, None), daemon=True),
                   threading.Thread(target=_copy, args=(proc.stderr, log_path, error_stream, tail), daemon=True)]
        for reader in readers:
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
        for reader in readers:
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
        self.events.put_event("aws.glue", "Glue Job State Change", {
            "jobName": run.job_name, "severity": severity, "state": state, "jobRunId": run.job_run_id,
            "message": text}, region=region)


def _copy(pipe: Any, log_path: Path, stream: LogStream, tail: collections.deque[str] | None) -> None:
    """One of the script's outputs, line by line, to the run's log file and its CloudWatch Logs stream."""
    with open(log_path, "ab") as output:
        for line in pipe:
            output.write(line)
            output.flush()
            text = line.decode(errors="replace")
            stream.put([text.rstrip("\r\n")])
            if tail is not None:
                tail.append(text)
