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

    def recover(self) -> None:
        """Executions the local cloud was running when it stopped end FAILED, saying so (their history stays)."""
        import datetime

        from moto.stepfunctions.parser.api import ExecutionStatus
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        now = datetime.datetime.now(datetime.timezone.utc)
        for regions in list(stepfunctions_parser_backends.values()):
            for backend in list(regions.values()):
                for machine in list(backend.state_machines):
                    for execution in list(getattr(machine, "executions", [])):
                        if execution.exec_status == ExecutionStatus.RUNNING:
                            execution.exec_status = ExecutionStatus.FAILED
                            execution.error = "States.Runtime"
                            execution.cause = "The local cloud stopped while the execution ran; start it again"
                            execution.stop_date = now
                            execution.exec_worker = None

    def receive_event(self, target: dict[str, Any], payload: Any) -> None:
        """An EventBridge rule's target: a new execution of the state machine with the event as its input."""
        from moto.stepfunctions.responses import get_backend
        arn = target["Arn"]
        get_backend(arn.split(":")[4], arn.split(":")[3]).start_execution(
            state_machine_arn=arn, name=str(uuid.uuid4()), execution_input=json.dumps(payload))
