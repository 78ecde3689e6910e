"""What the EventBridge service replaces in moto: a rule's delivery to its targets, and PutRule's reading of a
ScheduleExpression (moto accepts any `cron(...)`; EventBridge refuses what it cannot schedule)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from moto.events.models import EventsBackend, Rule

from .delivery import EventDelivery
from .schedules import INVALID, ScheduleError, parse_schedule

if TYPE_CHECKING:
    from .service import EventsService

log = logging.getLogger("mlops_workshop.localcloud.events")


def apply(service: "EventsService") -> EventDelivery:
    original = Rule.__dict__["send_to_targets"]
    delivery = EventDelivery(service, original)

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        delivery.on_event(self, original_event, transform_input)

    moto_put_rule = EventsBackend.__dict__["put_rule"]

    def put_rule(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        expression = kwargs.get("scheduled_expression")
        if expression:
            try:
                parse_schedule(expression)
            except ScheduleError as exc:
                from moto.events.exceptions import ValidationException
                log.info("PutRule %s refused: %s", name, exc)
                raise ValidationException(INVALID) from None
        return moto_put_rule(self, name, *args, **kwargs)

    service.patches.replace(Rule, "send_to_targets", send_to_targets)
    service.patches.replace(EventsBackend, "put_rule", put_rule)
    return delivery
