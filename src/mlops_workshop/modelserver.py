"""Run an image's `serve` as a local process (nginx → gunicorn → Flask), as SageMaker would run it.

The local cloud runs endpoints this way when no container engine is available; the notebooks, the benchmark and the
tests use it to reach a real server on a free port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from mlops_workshop import REPO_ROOT

CONTAINER_DIR = REPO_ROOT / "container"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now, for a server this process is about to start."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(child) for child in handle.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for child in children_of(pid):
        pids.extend(process_tree(child))
    return pids


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def kill_pids(pids) -> None:
    """The last resort after something failed: SIGKILL exactly these processes, children first."""
    for pid in reversed(list(pids)):
        if pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def memory_kib(pid: int) -> dict:
    """Resident (RSS) and proportional (PSS, shared pages split between their users) memory of a process."""
    result = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                result["rss"] = int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                result["pss"] = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return result


class ModelServer:
    """An image's `serve` (by default container/'s) as a local process on a free port, with the model under `opt_ml`
    (its model/ folder): the one way the workshop, its tests and the local cloud's endpoints run it without an engine.

    Use as a context manager, or call start() / wait_healthy() / stop(). stop() sends SIGTERM, as SageMaker
    does, and returns serve's exit status. `env` is the environment to start from (this process's by default),
    `popen` how the process is started (the local cloud's keeps track of it).
    """

    def __init__(self, opt_ml, port: int | None = None, workers: int | None = None, run_dir=None,
                 wsgi_app: str | None = None, log_path=None, extra_env: dict | None = None,
                 context=CONTAINER_DIR, env: dict | None = None, popen=subprocess.Popen):
        self.opt_ml = Path(opt_ml)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.run_dir = Path(run_dir) if run_dir else None
        self.wsgi_app = wsgi_app
        self.extra_env = dict(extra_env or {})
        self.context = Path(context)
        self.base_env = dict(os.environ if env is None else env)
        self.popen = popen
        self._own_log = log_path is None
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="model-server-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None
        self.started_at = None
        self._log = None

    def environment(self) -> dict:
        env = dict(self.base_env)
        env["OPT_ML_ROOT"] = str(self.opt_ml)
        env["SAGEMAKER_BIND_TO_PORT"] = str(self.port)
        # On a person's machine a model server answers that machine only (the image listens on every address).
        env["SERVE_BIND_ADDRESS"] = "127.0.0.1"
        if self.workers:
            env["MODEL_SERVER_WORKERS"] = str(self.workers)
        if self.run_dir:
            env["SERVE_RUN_DIR"] = str(self.run_dir)
        if self.wsgi_app:
            env["SERVE_WSGI_APP"] = self.wsgi_app
        # As in the image: this Python's environment and the program folder first on PATH, output unbuffered.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), str(self.context), env.get("PATH", "")])
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        return env

    def start(self) -> "ModelServer":
        serve = self.context / "serve"
        self._log = open(self.log_path, "w" if self._own_log else "a")
        self.started_at = time.monotonic()
        self.process = self.popen([str(serve)], cwd=self.context, env=self.environment(), stdin=subprocess.DEVNULL,
                                  stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def poll(self) -> int | None:
        return self.process.poll() if self.process else None

    def wait_healthy(self, timeout: float = 300) -> float:
        """Seconds from start() until GET /ping answered 200."""
        deadline = self.started_at + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}:\n{self.read_log()[-4000:]}")
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=5) as response:
                    if response.status == 200:
                        return time.monotonic() - self.started_at
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the model server was not healthy after {timeout} s:\n{self.read_log()[-4000:]}")

    def read_log(self) -> str:
        if self._log and not self._log.closed:
            self._log.flush()
        return self.log_path.read_text() if self.log_path.exists() else ""

    def pids(self) -> dict:
        """{"gunicorn": pid, "gunicorn_workers": [...], "nginx": pid, "nginx_workers": [...]} from serve's children."""
        found = {"gunicorn_workers": [], "nginx_workers": []}
        if not self.process:
            return found
        for child in children_of(self.process.pid):
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except FileNotFoundError:
                continue
            if "gunicorn" in cmdline:
                found["gunicorn"] = child
                found["gunicorn_workers"] = children_of(child)
            elif "nginx" in cmdline:
                found["nginx"] = child
                found["nginx_workers"] = children_of(child)
        return found

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM, then wait; anything of this server still running after `timeout` is killed."""
        if not self.process:
            return None
        tree = process_tree(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        kill_pids([pid for pid in tree if pid_alive(pid)])
        # Its session's other members (nginx, gunicorn workers) may outlive serve's own exit.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.process.poll() is None:
            self.process.wait()
        if self._log:
            self._log.close()
        return code

    def close(self):
        self.stop()
        if self._own_log:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self):
        self.start()
        try:
            self.seconds_to_healthy = self.wait_healthy()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()


def constant_app():
    """A bare Flask app answering /invocations with a constant: the ceiling the benchmark compares the model with.

    gunicorn serves it through serve's SERVE_WSGI_APP="mlops_workshop.modelserver:constant_app()".
    """
    from flask import Flask, Response

    app = Flask(__name__)

    @app.get("/ping")
    def ping():
        return Response('{"status": "healthy"}\n', mimetype="application/json")

    @app.post("/invocations")
    def invocations():
        return Response("10.0\n", mimetype="text/csv")

    return app
