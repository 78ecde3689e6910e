"""Manual approval actions: a token waits for PutApprovalResult; a rejection fails the action with its summary."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from ..exceptions import ActionFailed
from ..models import ActionExecution, ActionResult

if TYPE_CHECKING:
    from ..engine import PipelineEngine


def manual_approval(rt: "PipelineEngine", run: ActionExecution) -> ActionResult:
    run.token = str(uuid.uuid4())
    run.last_update = time.time()
    timeout = rt.timeout_for(run.action)
    rt.wait(run, timeout, "no one approved or rejected it")
    status, value = run.outcome  # type: ignore[misc]
    summary = value.get("summary") or ""
    if status == "Rejected":
        run.summary = summary
        raise ActionFailed(summary or "Rejected", "Rejected")
    return ActionResult(summary=summary or "Approved")
