"""CloudFormation: stacks that build what their templates declare, the way CloudFormation reports it.

- Stack operations (engine.py) answer at once and work in the background, with CloudFormation's events, rollbacks
  and updates in place or by replacement.
- Templates (templates.py) are checked as CloudFormation checks them: parameters against their constraints,
  resource types, IAM capabilities; a template that would fail on AWS fails here with the same message.
- The resource types moto lacks or gets wrong for the project's templates are provided (resources/):
  AWS::CodeBuild::Project, AWS::CodePipeline::Pipeline (an execution starts on create, as on AWS),
  AWS::SageMaker::Model / EndpointConfig / Endpoint, AWS::ApplicationAutoScaling::ScalableTarget / ScalingPolicy,
  AWS::CloudWatch::Alarm, and Lambda-backed custom resources (Create, Update and Delete requests with a working
  ResponseURL).

Settings (``cloud.settings["cloudformation"]``): ``custom_resource_timeout_seconds`` (default 3600, as AWS),
``resource_timeout_seconds`` (how long to wait for an endpoint, default 3600).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from ..services import Service
from . import patches, urls
from .engine import StackEngine
from .responses import CloudFormationResponses


class CloudFormationService(Service):
    name = "cloudformation"
    responses_class = CloudFormationResponses
    urls = urls

    def start(self) -> None:
        self.engine = StackEngine(self)
        self.pending: dict[str, dict[str, Any]] = {}
        self.pending_lock = threading.Lock()
        # Resources being made now, by (stack id, logical id): what a restart in the middle of it has to delete.
        self.in_flight: dict[tuple[str, str], Any] = {}
        self._request = threading.local()
        patches.apply(self)

    def stop(self) -> None:
        patches.undo(self)

    def reset(self) -> None:
        with self.pending_lock:
            self.pending.clear()
        self.in_flight.clear()

    def persistent_classes(self) -> dict[type, str]:
        return {cls: f"cloudformation:{kind}" for kind, cls in self.resource_types.items()}

    @contextlib.contextmanager
    def building(self, resource: Any) -> Iterator[None]:
        key = (resource.stack_id, resource.logical_id)
        self.in_flight[key] = resource
        try:
            yield
        finally:
            self.in_flight.pop(key, None)

    def snapshot(self) -> Any:
        return {"in_flight": dict(self.in_flight)}

    def restore(self, state: Any) -> None:
        self.in_flight.update((state or {}).get("in_flight") or {})

    def recover(self) -> None:
        """A stack operation the local cloud was running when it stopped ends as engine.recover says."""
        from moto.cloudformation.models import cloudformation_backends

        for regions in list(cloudformation_backends.values()):
            for backend in list(regions.values()):
                for stack in list(backend.stacks.values()):
                    if stack.status.endswith("_IN_PROGRESS") and stack.status != "REVIEW_IN_PROGRESS":
                        made = [r for (stack_id, _), r in self.in_flight.items() if stack_id == stack.stack_id]
                        self.engine.recover(backend, stack, made)
        self.in_flight.clear()

    def setting(self, key: str, default: Any = None) -> Any:
        return (self.cloud.settings.get("cloudformation") or {}).get(key, default)

    @contextlib.contextmanager
    def request(self, extras: dict[str, Any]) -> Iterator[None]:
        """What a CreateStack or UpdateStack call carries that moto does not pass on to its backend."""
        self._request.extras = extras
        try:
            yield
        finally:
            self._request.extras = None

    def request_extras(self) -> dict[str, Any]:
        return getattr(self._request, "extras", None) or {}
