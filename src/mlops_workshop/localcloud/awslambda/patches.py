"""What the Lambda service replaces in moto: the one method every invocation moto makes itself goes through
(CloudFormation custom resources, its own Invoke), so those run the function's real code too."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from moto.awslambda.models import LambdaFunction
from moto.core.config import default_user_config

if TYPE_CHECKING:
    from .service import LambdaService


def apply(service: "LambdaService") -> None:
    def invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        result = service.executor.invoke(self, json.dumps({} if event is None else event).encode())
        return result.payload.decode(errors="replace"), result.error, result.logs

    service.patches.replace(LambdaFunction, "_invoke_lambda", invoke_lambda)
    # moto's "simple" Lambda backend echoes the payload and never reaches _invoke_lambda; the other one does.
    service.patches.replace_item(default_user_config["lambda"], "use_docker", True)
