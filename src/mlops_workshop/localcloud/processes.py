"""The processes the local cloud starts, and how none of them outlives it.

Each child (a Lambda environment, a training job's `train`, an endpoint's `serve` with its nginx and gunicorn, a
Glue script, a build's phases) runs in a session of its own, recorded in `<state>/processes.json` with the start
time of its leader (so a recycled pid is never taken for it). A watchdog process, started with the cloud, holds
the read end of a pipe whose write end only the cloud holds: when the cloud ends, however it ends (`kill -9`
included), the pipe closes and the watchdog ends every recorded session. A start also ends what a cloud that died
left behind, in case the watchdog died with it.

    python -m mlops_workshop.localcloud.processes watch STATE_DIR FD     (the watchdog; the cloud starts it)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

TABLE = "processes.json"
GRACE_S = 2.0


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[19]) if fields[0] != "Z" else None


class ProcessTable:
    """The cloud's children, on disk as they come and go."""

    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / TABLE
        self._entries: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def add(self, pid: int, label: str) -> None:
        with self._lock:
            self._entries[pid] = {"pid": pid, "label": label, "started": start_time(pid)}
            self._write()

    def remove(self, pid: int) -> None:
        with self._lock:
            if self._entries.pop(pid, None) is not None:
                self._write()

    def owner(self, pid: int) -> None:
        """The cloud's own pid, so that a later start knows whether these are its children or left-overs."""
        with self._lock:
            self._owner = {"pid": pid, "started": start_time(pid)}
            self._write()

    def _write(self) -> None:
        data = {"owner": getattr(self, "_owner", None), "children": list(self._entries.values())}
        tmp = self.path.with_name(f".{TABLE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.path)


def _alive(entry: dict[str, Any]) -> bool:
    return entry.get("started") is not None and start_time(entry["pid"]) == entry["started"]


def end_sessions(entries: list[dict[str, Any]]) -> list[str]:
    """SIGTERM each recorded session that still runs, then SIGKILL what is left; the labels of those ended."""
    running = [entry for entry in entries if _alive(entry)]
    for entry in running:
        _signal(entry["pid"], signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and any(_alive(entry) for entry in running):
        time.sleep(0.05)
    for entry in running:
        _signal(entry["pid"], signal.SIGKILL)
    return [f"{entry['label']} (pid {entry['pid']})" for entry in running]


def _signal(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def reap(state_dir: Path) -> list[str]:
    """End what a local cloud that is no longer running left behind in this folder; the labels of what was ended."""
    path = Path(state_dir) / TABLE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    owner = data.get("owner") or {}
    if owner and _alive(owner):
        return []
    ended = end_sessions(data.get("children") or [])
    path.unlink(missing_ok=True)
    return ended


def start_watchdog(state_dir: Path) -> tuple[subprocess.Popen[Any], int]:
    """The watchdog of the calling process; returns it and the write end of its pipe, which the caller keeps open
    for as long as it lives (closing it, or dying, sets the watchdog off)."""
    read_end, write_end = os.pipe()
    os.set_inheritable(read_end, True)
    watchdog = subprocess.Popen([sys.executable, "-m", "mlops_workshop.localcloud.processes", "watch",
                                 str(state_dir), str(read_end)], pass_fds=(read_end,), start_new_session=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(read_end)
    return watchdog, write_end


def watch(state_dir: Path, fd: int) -> int:
    with os.fdopen(fd, "rb") as pipe:
        while pipe.read(4096):
            pass
    path = Path(state_dir) / TABLE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0
    end_sessions(data.get("children") or [])
    path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "watch":
        sys.exit(watch(Path(sys.argv[2]), int(sys.argv[3])))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
