"""What the EventBridge service replaces in moto: a rule's delivery to its targets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moto.events.models import Rule

from .delivery import EventDelivery

if TYPE_CHECKING:
    from .service import EventsService


def apply(service: "EventsService") -> EventDelivery:
    original = Rule.__dict__["send_to_targets"]
    delivery = EventDelivery(service, original)

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        delivery.on_event(self, original_event, transform_input)

    service.patches.replace(Rule, "send_to_targets", send_to_targets)
    return delivery
