"""The decision log: every authorization decision, one JSON line each, in one file per principal under
`<state>/iam/decisions/` (a role's sessions share their role's file), like CloudTrail's records of who did what.

Entries are buffered in memory and written (as JSON, their `time` in ISO 8601) by a background thread every
`flush_seconds` (and on `flush()`, on `read()` and when the cloud stops), so that recording costs a dict and a lock
per call.
"""

from __future__ import annotations

import datetime
import json
import re
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any


def file_name(identity: str) -> str:
    """`arn:aws:iam::123456789012:role/MLOps-Lambda` -> `role-MLOps-Lambda.jsonl`; the administrator, a user or a
    service by their own names."""
    name = identity.rsplit(":", 1)[-1] if identity.startswith("arn:") else identity
    name = name.split("/")[0] + "-" + name.rsplit("/", 1)[-1] if "/" in name else name
    return re.sub(r"[^A-Za-z0-9+=,.@_-]", "_", name) + ".jsonl"


FLUSH_SECONDS = 1.0


class DecisionLog:
    def __init__(self, folder: Path, flush_seconds: float = FLUSH_SECONDS):
        self.folder = folder
        self.flush_seconds = flush_seconds
        self._pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="localcloud-iam-decisions", daemon=True)
        self._thread.start()

    def record(self, identity: str, entry: dict[str, Any]) -> None:
        """Keep `entry` for `identity`'s file; a float `time` (time.time()) is written as ISO 8601."""
        with self._lock:
            self._pending[identity].append(entry)

    def flush(self) -> None:
        with self._write_lock:
            with self._lock:
                pending, self._pending = self._pending, defaultdict(list)
            if not pending:
                return
            self.folder.mkdir(parents=True, exist_ok=True)
            for identity, entries in pending.items():
                lines = []
                for entry in entries:
                    if isinstance(entry.get("time"), float):
                        entry["time"] = datetime.datetime.fromtimestamp(entry["time"], datetime.timezone.utc) \
                            .isoformat(timespec="milliseconds")
                    lines.append(json.dumps(entry, separators=(",", ":"), default=str))
                with open(self.folder / file_name(identity), "a", encoding="utf-8") as out:
                    out.write("\n".join(lines) + "\n")

    def read(self, identity: str | None = None) -> list[dict[str, Any]]:
        """The decisions recorded (for one principal's file, or all), oldest first within a file."""
        self.flush()
        paths = [self.folder / file_name(identity)] if identity else sorted(self.folder.glob("*.jsonl"))
        found: list[dict[str, Any]] = []
        for path in paths:
            if path.exists():
                lines = path.read_text(encoding="utf-8").split("\n")
                # The last piece is a line another process is still writing, or empty.
                found += [json.loads(line) for line in lines[:-1] if line]
        return found

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except OSError:
                time.sleep(self.flush_seconds)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.flush()
