"""A running `train` or `serve`, as a local process or in a container engine: poll, wait, stop."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from mlops_workshop.modelserver import ModelServer

log = logging.getLogger("mlops_workshop.localcloud.images")


class Run:
    """A running `train` or `serve`: poll, wait, stop. `url` is the serving address for `serve`."""

    url: str | None = None
    log_path: Path

    def poll(self) -> int | None:
        raise NotImplementedError

    def wait(self, timeout: float | None = None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            code = self.poll()
            if code is not None:
                return code
            if deadline is not None and time.monotonic() > deadline:
                return None
            time.sleep(0.1)

    def stop(self, grace: float = 10.0) -> int | None:
        raise NotImplementedError


class ProcessRun(Run):
    def __init__(self, cloud: Any, proc: subprocess.Popen, log_path: Path, url: str | None = None):
        self.cloud, self.proc, self.log_path, self.url = cloud, proc, log_path, url

    def poll(self) -> int | None:
        code = self.proc.poll()
        if code is not None:
            self.cloud.forget(self.proc)
        return code

    def stop(self, grace: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # The group's other members (nginx, gunicorn workers) may outlive the leader's exit.
        _signal_group(self.proc.pid, signal.SIGKILL)
        return self.poll()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class ServeRun(Run):
    """The image's `serve` as a local process: the workshop's one serve runner, with the cloud keeping its pid."""

    def __init__(self, cloud: Any, server: ModelServer):
        self.cloud, self.server = cloud, server
        self.url, self.log_path = server.url, server.log_path

    def poll(self) -> int | None:
        code = self.server.poll()
        if code is not None:
            self.cloud.forget(self.server.process)
        return code

    def stop(self, grace: float = 10.0) -> int | None:
        code = self.server.stop(grace)
        self.cloud.forget(self.server.process)
        return code


class EngineJobRun(ProcessRun):
    """`docker run IMAGE ARGS` of a job (`train`, a processing job's entrypoint) in the foreground, with the job's
    folder as /opt/ml and its output appended to the job's log as it comes."""

    def __init__(self, cloud: Any, engine: Any, image: str, opt_ml: Path, env: dict[str, str], log_path: Path,
                 args: list[str], entrypoint: list[str] | None = None, kind: str = "train"):
        self.engine = engine
        self.name = f"localcloud-{kind}-{uuid.uuid4().hex[:10]}"
        command = [shutil.which("docker") or "docker", "run", "--rm", "--name", self.name,
                   "--volume", f"{Path(opt_ml).resolve()}:/opt/ml"]
        for key, value in env.items():
            command += ["--env", f"{key}={value}"]
        if entrypoint:
            command += ["--entrypoint", entrypoint[0]]
            args = [*entrypoint[1:], *args]
        with open(log_path, "ab") as out:
            proc = cloud.popen(f"{kind} {opt_ml.name} (container {self.name})", [*command, image, *args],
                               env=engine.env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        super().__init__(cloud, proc, log_path)

    def stop(self, grace: float = 10.0) -> int | None:
        self.engine.docker("stop", "--time", str(int(grace)), self.name, check=False, timeout=grace + 60)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            return super().stop(1)
        return self.poll()


class EngineServeRun(Run):
    def __init__(self, engine: Any, container: Any, log_path: Path):
        self.engine, self.container, self.log_path = engine, container, log_path
        self.url = container.url("").rstrip("/")
        self.code: int | None = None

    def poll(self) -> int | None:
        if self.code is not None:
            return self.code
        if self.engine.is_running(self.container):
            return None
        proc = self.engine.docker("inspect", "--format", "{{.State.ExitCode}}", self.container.name, check=False)
        self.code = int(proc.stdout.strip() or 1)
        self._save_logs()
        return self.code

    def _save_logs(self) -> None:
        with open(self.log_path, "a") as out:
            out.write(self.engine.logs(self.container))

    def stop(self, grace: float = 10.0) -> int | None:
        try:
            if self.code is None:
                self.code = 137
                self.code = self.engine.stop_container(self.container, timeout=grace)
                self._save_logs()
            self.engine.remove_container(self.container)
        except Exception as exc:  # the engine may already be gone (the cloud stops it last)
            log.info("stopping container %s: %s", self.container.name, exc)
        return self.code
