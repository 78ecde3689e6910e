"""Lambda's state on the local cloud beyond moto's functions: execution environments and invocations."""

from __future__ import annotations

import os
import select
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Invocation:
    request_id: str
    payload: bytes
    error: bool
    logs: str
    duration_ms: float
    max_memory_mb: int


@dataclass
class Environment:
    """One execution environment: a runtime process serving one invocation at a time."""

    key: str
    proc: subprocess.Popen[Any]
    control: int
    ready: bool = False
    last_used: float = field(default_factory=time.monotonic)
    buffer: bytes = b""

    def lines(self, timeout: float) -> list[str] | None:
        """Control lines that arrived within timeout; None once the runtime has closed its end (exited)."""
        readable, _, _ = select.select([self.control], [], [], timeout)
        if not readable:
            return []
        chunk = os.read(self.control, 4096)
        if not chunk:
            return None
        self.buffer += chunk
        *complete, self.buffer = self.buffer.split(b"\n")
        return [line.decode() for line in complete]
