"""EventBridge: rules deliver to the targets the local cloud runs, schedules fire, services put their events."""

from __future__ import annotations

import json
from typing import Any

from ..services import Service
from . import patches
from .schedules import Scheduler


class EventsService(Service):
    name = "events"

    def start(self) -> None:
        self.delivery = patches.apply(self)
        self.scheduler = Scheduler(self, float(self.settings("schedule_speedup", 60)))
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        super().stop()

    def put_event(self, source: str, detail_type: str, detail: dict[str, Any],
                  resources: list[str] | None = None, region: str | None = None) -> None:
        """Emit an event onto the default bus, as the AWS service itself would."""
        self.cloud.backend("events", region).put_events([{
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, default=str),
            "Resources": resources or [],
            "EventBusName": "default",
        }])
