"""Step Functions: moto's ASL interpreter runs executions; its Lambda tasks call Invoke on this server.

`LocalCloud.configure_moto` turns the interpreter on and points its service integrations at this port, so
a Task state whose Resource is a function ARN (or arn:aws:states:::lambda:invoke) runs the real function
through awslambda.py. What this module adds: an execution started without a name gets a generated one, as
in Step Functions (moto's interpreter names it "None", so a second nameless start fails as a duplicate).
"""

from __future__ import annotations

import uuid
from typing import Any

from .server import LocalCloud


def install(cloud: LocalCloud) -> None:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]
    cloud.on_shutdown(lambda: setattr(StepFunctionsParserBackend, "start_execution", original))
