"""Lambda: `Invoke` runs the function's deployed code package, as Lambda's Python runtime would; so do the
invocations moto makes itself, EventBridge targets and Step Functions tasks (which call Invoke on this server)."""

from __future__ import annotations

import json
from typing import Any

from ..services import Service
from . import patches, urls
from .executor import LambdaExecutor
from .models import Invocation
from .responses import LambdaResponses


class LambdaService(Service):
    name = "lambda"
    responses_class = LambdaResponses
    urls = urls

    def start(self) -> None:
        self.executor = LambdaExecutor(self)
        patches.apply(self)
        self.executor.start()

    def stop(self) -> None:
        self.executor.stop()
        super().stop()

    def function(self, arn: str) -> Any:
        return self.cloud.backend("lambda", arn.split(":")[3]).get_function(arn)

    def invoke(self, arn: str, event: Any) -> Invocation:
        """Run the function once with `event` and wait for its result (as a RequestResponse Invoke)."""
        return self.executor.invoke(self.function(arn), json.dumps(event).encode(), arn)

    def receive_event(self, target: dict[str, Any], payload: Any) -> None:
        """An EventBridge rule's target: invoked asynchronously, as EventBridge invokes functions."""
        arn = target["Arn"]
        self.executor.invoke_async(self.function(arn), json.dumps(payload).encode(), arn)
