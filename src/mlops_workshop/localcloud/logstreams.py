"""CloudWatch Logs streams the local cloud writes for the work it runs, in the groups and streams AWS uses, so that
`aws logs` and the SDKs' log tailers find a job's output where they would in an account.

`LogStream` is one stream in moto's logs backend (created with its group if missing); `Follower` copies the lines
a log file gains into a stream while the work runs (every `interval` seconds, and what is left when it stops), so
a long job's output is readable as it goes. The local log file stays the complete record: a stream gets the
program's own output, and never the local cloud's `[localcloud]` notes.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import LocalCloud

log = logging.getLogger("mlops_workshop.localcloud")

NOTE_PREFIX = "[localcloud]"
MAX_EVENT_BYTES = 256 * 1024 - 26   # CloudWatch Logs' limit on one event, less its 26 bytes of overhead
MAX_BATCH_EVENTS = 10000
FOLLOW_INTERVAL_S = 1.0


def log_group_arn(region: str, account: str, group: str, stream: str | None = None) -> str:
    arn = f"arn:aws:logs:{region}:{account}:log-group:{group}"
    return f"{arn}:log-stream:{stream}" if stream else arn


class LogStream:
    """One stream of a log group in the local cloud's CloudWatch Logs."""

    def __init__(self, cloud: "LocalCloud", region: str, group: str, stream: str):
        self.group, self.name = group, stream
        self.backend = cloud.backend("logs", region)
        self.arn = log_group_arn(region, self.backend.account_id, group, stream)
        self._last_ms = 0
        self._lock = threading.Lock()
        try:
            self.backend.ensure_log_group(group)
            self.backend.ensure_log_stream(group, stream)
        except Exception:  # the work matters more than its copy in CloudWatch Logs
            log.exception("could not create the log stream %s %s", group, stream)

    def put(self, lines: list[str], timestamp_ms: int | None = None) -> None:
        """Append lines as events (empty lines are kept as a space: CloudWatch Logs refuses empty messages)."""
        if not lines:
            return
        with self._lock:
            # Events of one call must be in order, and a stream reads best in the order it was written.
            stamp = self._last_ms = max(self._last_ms, timestamp_ms or int(time.time() * 1000))
            events = [{"timestamp": stamp, "message": _clip(line) or " "} for line in lines]
            try:
                for start in range(0, len(events), MAX_BATCH_EVENTS):
                    self.backend.put_log_events(self.group, self.name, events[start:start + MAX_BATCH_EVENTS])
            except Exception:
                log.exception("could not write to the log stream %s %s", self.group, self.name)


class Follower:
    """Copies what a log file gains from now on into a stream, in a thread, until `stop()` (which copies the rest)."""

    def __init__(self, stream: LogStream, path: Path, interval: float = FOLLOW_INTERVAL_S,
                 from_start: bool = False):
        self.stream, self.path, self.interval = stream, Path(path), interval
        self._offset = 0 if from_start else _size(self.path)
        self._partial = b""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"logs-{stream.name}", daemon=True)

    def start(self) -> "Follower":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._copy(final=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._copy()

    def _copy(self, final: bool = False) -> None:
        with self._lock:
            try:
                with open(self.path, "rb") as source:
                    source.seek(self._offset)
                    data = source.read()
            except OSError:
                return
            self._offset += len(data)
            data = self._partial + data
            *complete, self._partial = data.split(b"\n")
            if final and self._partial:
                complete, self._partial = complete + [self._partial], b""
            lines = [line.decode(errors="replace").rstrip("\r") for line in complete]
            self.stream.put([line for line in lines if not line.startswith(NOTE_PREFIX)])


def follow(cloud: "LocalCloud", region: str, group: str, stream: str, path: Path, **kwargs: Any) -> Follower:
    """A started Follower of `path` into `group`/`stream`."""
    return Follower(LogStream(cloud, region, group, stream), path, **kwargs).start()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _clip(line: str) -> str:
    encoded = line.encode()
    return line if len(encoded) <= MAX_EVENT_BYTES else encoded[:MAX_EVENT_BYTES].decode(errors="ignore")
