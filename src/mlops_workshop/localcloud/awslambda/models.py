"""Lambda's state on the local cloud beyond moto's functions: execution environments and invocations, and the
runtimes' lifecycle (which runtimes AWS still lets a function be created or updated with).

The lifecycle dates are cfn-lint's (its data for rules W2531/E2531/E2533, maintained as AWS announces them): from a
runtime's "block function create" date CreateFunction refuses it, and so does UpdateFunctionConfiguration changing a
function to it; from its "block function update" date no function with it can be updated either.
"""

from __future__ import annotations

import datetime
import functools
import importlib.util
import json
import os
import select
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUNTIME_REFUSED = ("The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
                   "functions. We recommend you use a supported runtime while creating or updating functions.")


@functools.lru_cache(maxsize=1)
def runtime_lifecycle() -> dict[str, dict[str, Any]]:
    """{runtime: {"deprecated", "create-block", "update-block", "successor"}} as cfn-lint ships it."""
    spec = importlib.util.find_spec("cfnlint")
    if spec is None or spec.origin is None:
        raise RuntimeError("cfn-lint is not installed: the local cloud reads Lambda's runtime lifecycle from it")
    path = Path(spec.origin).parent / "data" / "AdditionalSpecs" / "LmbdRuntimeLifecycle.json"
    data: dict[str, dict[str, Any]] = json.loads(path.read_text())
    return data


def runtime_refusal(runtime: str | None, change: str, today: datetime.date | None = None) -> str | None:
    """AWS's refusal of `runtime` for `change` ("create": a new function or a change to this runtime; "update": any
    update of a function on it), or None when AWS still allows it."""
    dates = runtime_lifecycle().get(runtime or "")
    if not dates:
        return None
    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    blocked = dates.get("create-block" if change == "create" else "update-block")
    if blocked and datetime.date.fromisoformat(blocked) <= today:
        return RUNTIME_REFUSED.format(runtime=runtime)
    return None


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
    expires: float = float("inf")   # when its role's credentials expire (time.time())
    tmp: Path | None = None         # its /tmp
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
