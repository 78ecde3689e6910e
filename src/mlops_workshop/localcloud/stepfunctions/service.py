"""Step Functions: moto's ASL interpreter runs executions; its Lambda tasks call Invoke on this server.

The cloud turns the interpreter on and points its service integrations at its own port (MOTO_PORT), so a Task state
whose Resource is a function ARN (or arn:aws:states:::lambda:invoke) runs the real function through the Lambda service.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from ..services import Service
from . import patches


class StepFunctionsService(Service):
    name = "stepfunctions"

    def start(self) -> None:
        patches.apply(self)

    def receive_event(self, target: dict[str, Any], payload: Any) -> None:
        """An EventBridge rule's target: a new execution of the state machine with the event as its input."""
        from moto.stepfunctions.responses import get_backend
        arn = target["Arn"]
        get_backend(arn.split(":")[4], arn.split(":")[3]).start_execution(
            state_machine_arn=arn, name=str(uuid.uuid4()), execution_input=json.dumps(payload))
