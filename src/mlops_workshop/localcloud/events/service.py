"""EventBridge: rules deliver to the targets the local cloud runs, schedules fire, services put their events."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from ..services import Service
from . import patches
from .schedules import Scheduler


class EventsService(Service):
    name = "events"

    def start(self) -> None:
        # The sessions EventBridge opened to call a target's API, by access key: the rule each one is for.
        self._sessions: dict[str, tuple[str, float]] = {}
        self._sessions_lock = threading.Lock()
        self.delivery = patches.apply(self)
        self.scheduler = Scheduler(self, float(self.settings("schedule_speedup", 60)))
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        super().stop()

    def opened_session(self, access_key: str, rule_arn: str) -> None:
        """A role session EventBridge opened to call a target's API for the rule (an hour, as its credentials)."""
        now = time.time()
        with self._sessions_lock:
            self._sessions = {k: v for k, v in self._sessions.items() if v[1] > now}
            self._sessions[access_key] = (rule_arn, now + 3600)

    def rule_of_session(self, access_key: str | None) -> str | None:
        """The rule whose target EventBridge called with this access key, if it did."""
        with self._sessions_lock:
            found = self._sessions.get(access_key or "")
        return found[0] if found else None

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
