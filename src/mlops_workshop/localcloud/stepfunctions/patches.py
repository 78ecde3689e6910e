"""What the Step Functions service replaces in moto: an execution started without a name gets a generated one, as in
Step Functions (moto's interpreter names it "None", so a second nameless start fails as a duplicate)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from moto.stepfunctions.parser.models import StepFunctionsParserBackend

if TYPE_CHECKING:
    from .service import StepFunctionsService


def apply(service: "StepFunctionsService") -> None:
    original = StepFunctionsParserBackend.__dict__["start_execution"]

    def start_execution(self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    service.patches.replace(StepFunctionsParserBackend, "start_execution", start_execution)
