"""Start, stop and report on the local cloud as a background process that owns one state folder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from . import processes as children
from .server import DEFAULT_PORT, HEALTH_PATH

STATE_FILE = "localcloud.json"
# How the daemon says, as its last words in its log, why it could not start.
ERROR_PREFIX = "localcloud error: "


class LocalCloudError(RuntimeError):
    pass


class PortInUse(LocalCloudError):
    """The port the local cloud is to listen on is taken: a user's choice to change."""


def _health(endpoint: str, timeout: float = 1.0) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{endpoint}{HEALTH_PATH}", timeout=timeout) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        # A cloud started by this very process (tests, the benchmark) stays a zombie until it is reaped.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def read_state(state_dir: str | Path) -> dict[str, Any] | None:
    path = Path(state_dir) / STATE_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text())


def status(state_dir: str | Path) -> dict[str, Any]:
    """What runs: port, state folder, the server's pid and log, and each child process."""
    state = read_state(state_dir)
    if not state or not _alive(state["pid"]):
        return {"running": False, "state_dir": str(Path(state_dir).resolve())}
    health = _health(state["endpoint"]) or {}
    return {"running": bool(health), **state, "processes": health.get("processes", []),
            "services": health.get("services", []), "installing": health.get("installing", [])}


def wait_installed(state_dir: str | Path, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until the services it installs after answering are in; returns its status."""
    deadline = time.monotonic() + timeout
    while (current := status(state_dir)).get("installing"):
        if time.monotonic() > deadline:
            raise LocalCloudError(f"services {', '.join(current['installing'])} were not installed "
                                  f"within {timeout:.0f} s; see {current['log']}")
        time.sleep(0.05)
    return current


def start(state_dir: str | Path, port: int = DEFAULT_PORT, host: str = "127.0.0.1",
          timeout: float = 60.0, settings: dict[str, Any] | None = None, fresh: bool = False) -> dict[str, Any]:
    """Start the local cloud on this state folder, or return the one already running on it.

    The cloud comes back with what the folder keeps (see persistence.py); `fresh` throws that away first. The
    result's "reaped" lists what a local cloud that died had left running, ended now."""
    state_dir = Path(state_dir).resolve()
    current = status(state_dir)
    if current["running"]:
        if fresh:
            raise LocalCloudError(f"the local cloud on {state_dir} is running; stop it before starting it afresh "
                                  f"(`mlops-workshop localcloud stop --state-dir {state_dir}`)")
        return current
    reaped = children.reap(state_dir)
    if fresh and state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    if not _port_free(host, port):
        raise PortInUse(
            f"port {port} on {host} is in use by another program; stop it or start the local cloud "
            f"with another port (--port)")
    log_path = state_dir / "logs" / "localcloud.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "mlops_workshop.localcloud", "serve",
            "--state-dir", str(state_dir), "--port", str(port), "--host", host]
    if settings:
        args += ["--settings", json.dumps(settings)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    endpoint = f"http://{host}:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalCloudError(_exit_reason(proc.returncode, log_path))
        health = _health(endpoint, timeout=0.5)
        if health and health.get("status") == "running":
            state = {"pid": proc.pid, "port": port, "host": host, "endpoint": endpoint,
                     "state_dir": str(state_dir), "log": str(log_path)}
            (state_dir / STATE_FILE).write_text(json.dumps(state, indent=2))
            return {"running": True, **state, "reaped": reaped}
        time.sleep(0.05)
    proc.terminate()
    raise LocalCloudError(f"the local cloud did not answer within {timeout:.0f} s; see {log_path}")


def _exit_reason(code: int, log_path: Path) -> str:
    """Why the daemon exited at start: its own one-line error when it wrote one, else where to look."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    said = next((line[len(ERROR_PREFIX):] for line in reversed(lines[-50:]) if line.startswith(ERROR_PREFIX)), None)
    return said or f"the local cloud exited at start (code {code}); see {log_path}"


def stop(state_dir: str | Path, timeout: float = 20.0) -> bool:
    """Stop the local cloud of this folder and every process it started; False when none ran."""
    state = read_state(state_dir)
    if not state:
        return False
    pid = state["pid"]
    stopped = False
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        stopped = True
    (Path(state_dir) / STATE_FILE).unlink(missing_ok=True)
    return stopped

