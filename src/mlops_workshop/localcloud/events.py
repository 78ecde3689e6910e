"""EventBridge: rules deliver to Lambda and Step Functions targets, and rules with a schedule fire.

moto matches events against rules but delivers only to CloudWatch Logs, SQS, archives and other buses, raises
for any other target, and ignores a rule's state. `deliver` replaces moto's `Rule.send_to_targets`: enabled
rules only, the target's Input / InputPath / InputTransformer applied, Lambda targets invoked asynchronously
(as EventBridge does), Step Functions targets started, and the targets moto knows left to moto. Other
executors add target kinds with `register_target(service, handler)` (e.g. CodePipeline).

`Scheduler` fires the enabled rules that have a ScheduleExpression (rate(...) or cron(...)) on a clock that
runs `schedule_speedup` times faster than real time (setting, default 60: rate(1 minute) fires every second).
"""

from __future__ import annotations

import calendar
import copy
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from .server import LocalCloud

log = logging.getLogger("mlops_workshop.localcloud.events")

# handler(cloud, target, event) for a target whose ARN names this service.
TargetHandler = Callable[[LocalCloud, dict[str, Any], Any], None]
_target_handlers: dict[str, TargetHandler] = {}


def register_target(service: str, handler: TargetHandler) -> None:
    """Deliver events for targets whose ARN is arn:aws:<service>:... with handler(cloud, target, event)."""
    _target_handlers[service] = handler


def event_time(value: Any) -> str:
    """EventBridge's `time` field: ISO 8601 in UTC to the second (moto keeps epoch seconds)."""
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def target_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """What the target receives: the event, or what its Input, InputPath or InputTransformer makes of it."""
    if target.get("Input") is not None:
        return json.loads(target["Input"])
    if target.get("InputPath"):
        from jsonpath_ng.ext import parse
        found = parse(target["InputPath"]).find(event)
        return found[0].value if found else None
    if target.get("InputTransformer"):
        from moto.events.utils import EventTemplateParser
        transformer = target["InputTransformer"]
        return EventTemplateParser.parse(input_template=transformer.get("InputTemplate"),
                                         input_paths_map=transformer.get("InputPathsMap", {}),
                                         event={**event, "ingestion-time": time.time()})
    return {k: v for k, v in event.items() if k != "ingestion-time"}


def _invoke_lambda(cloud: LocalCloud, target: dict[str, Any], payload: Any) -> None:
    from .awslambda import active_executor
    executor = active_executor()
    arn = target["Arn"]
    if executor is None:
        log.warning("no Lambda executor runs; event for %s dropped", arn)
        return
    fn = cloud.backend("lambda", arn.split(":")[3]).get_function(arn)
    executor.invoke_async(fn, json.dumps(payload).encode(), arn)


def _start_execution(cloud: LocalCloud, target: dict[str, Any], payload: Any) -> None:
    from moto.stepfunctions.responses import get_backend
    cloud.ensure_executor_for("states")
    arn = target["Arn"]
    get_backend(arn.split(":")[4], arn.split(":")[3]).start_execution(
        state_machine_arn=arn, name=str(uuid.uuid4()), execution_input=json.dumps(payload))


register_target("lambda", _invoke_lambda)
register_target("states", _start_execution)


class EventDelivery:
    """Sends one event to the targets of one rule."""

    def __init__(self, cloud: LocalCloud, moto_send: Callable[..., None]):
        self.cloud = cloud
        self.moto_send = moto_send

    def on_event(self, rule: Any, event: dict[str, Any], transform_input: bool = True) -> None:
        """An event put on the rule's bus: delivered when the rule is enabled and its pattern matches."""
        if rule.state != "ENABLED" or not rule.event_pattern.get_pattern():
            return  # a rule with only a schedule matches no event
        shown = {**event, "time": event_time(event.get("time", time.time()))}
        if rule.event_pattern.matches_event(shown):
            self.deliver(rule, shown, transform_input, moto_event=event)

    def deliver(self, rule: Any, event: dict[str, Any], transform_input: bool = True,
                moto_event: dict[str, Any] | None = None) -> None:
        """Send to every target; moto_event is the event as moto's own delivery expects it (epoch time)."""
        ours, moto_targets = [], []
        for target in rule.targets:
            service = target["Arn"].split(":")[2] if target["Arn"].count(":") >= 5 else ""
            (ours if service in _target_handlers else moto_targets).append((service, target))
        if moto_targets:
            known = copy.copy(rule)
            known.targets = [target for _, target in moto_targets]
            try:
                self.moto_send(known, moto_event or {**event, "time": time.time(), "ingestion-time": time.time()},
                               transform_input)
            except NotImplementedError:
                log.warning("rule %s has a target kind the local cloud does not deliver to: %s", rule.name,
                            ", ".join(t["Arn"] for _, t in moto_targets))
        for service, target in ours:
            try:
                payload = target_input(target, event) if transform_input else event
                _target_handlers[service](self.cloud, target, payload)
            except Exception:
                log.exception("rule %s could not deliver an event to %s", rule.name, target["Arn"])


# Schedules.

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {name: i + 1 for i, name in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
_DAYS = {name: i + 1 for i, name in enumerate("SUN MON TUE WED THU FRI SAT".split())}


class ScheduleError(ValueError):
    pass


class Rate:
    def __init__(self, seconds: int):
        self.seconds = seconds

    def next_after(self, moment: datetime) -> datetime:
        return moment + timedelta(seconds=self.seconds)


class Cron:
    """EventBridge's six-field cron: minutes hours day-of-month month day-of-week year (one of the days '?')."""

    def __init__(self, fields: list[str]):
        if len(fields) != 6:
            raise ScheduleError(f"cron() takes 6 fields, got {len(fields)}")
        minute, hour, dom, month, dow, year = fields
        self.minutes = _field(minute, 0, 59)
        self.hours = _field(hour, 0, 23)
        self.last_day = dom == "L"
        self.days = None if dom in ("?", "*", "L") else _field(dom, 1, 31)
        self.months = _field(month, 1, 12, _MONTHS)
        self.weekdays = None if dow in ("?", "*") else _field(dow, 1, 7, _DAYS)
        self.years = _field(year, 1970, 2199)

    def _day_matches(self, day: datetime) -> bool:
        if day.year not in self.years or day.month not in self.months:
            return False
        if self.last_day and day.day != calendar.monthrange(day.year, day.month)[1]:
            return False
        if self.days is not None and day.day not in self.days:
            return False
        # cron counts SUN=1 .. SAT=7; Python's weekday() is MON=0 .. SUN=6.
        return self.weekdays is None or (day.weekday() + 1) % 7 + 1 in self.weekdays

    def next_after(self, moment: datetime) -> datetime:
        start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for _ in range(366 * 5):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        raise ScheduleError("the cron expression never fires in the next five years")


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    values: set[int] = set()
    for part in text.upper().split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", "?"):
            first, last = low, high
        elif "-" in part:
            first_text, last_text = part.split("-", 1)
            first, last = _value(first_text, names), _value(last_text, names)
        else:
            first = _value(part, names)
            last = high if step > 1 else first
        if not (low <= first <= high and low <= last <= high):
            raise ScheduleError(f"{text!r}: values must lie in {low}-{high}")
        values.update(range(first, last + 1, step))
    return values


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text in names:
        return names[text]
    if not text.isdigit():
        raise ScheduleError(f"{text!r} is not supported in the local cloud's cron (use numbers, ranges, "
                            "lists, steps, names, '*', '?' or 'L' for the last day)")
    return int(text)


def parse_schedule(expression: str) -> Rate | Cron:
    expression = expression.strip()
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        return Rate(value * _UNIT_SECONDS[unit])
    if expression.startswith("cron(") and expression.endswith(")"):
        return Cron(expression[5:-1].split())
    raise ScheduleError(f"{expression!r} is neither rate(...) nor cron(...)")


class Scheduler:
    """Fires scheduled rules on a clock `speedup` times faster than real time, started when the cloud starts."""

    def __init__(self, cloud: LocalCloud, delivery: EventDelivery, speedup: float):
        if speedup <= 0:
            raise ValueError(f"schedule_speedup must be positive, got {speedup}")
        self.cloud = cloud
        self.delivery = delivery
        self.speedup = speedup
        self.origin = time.time()
        self._next: dict[str, tuple[str, Rate | Cron | None, float]] = {}
        self._stop = threading.Event()

    def clock(self, real: float) -> datetime:
        """The schedule's time at this real time."""
        return datetime.fromtimestamp(self.origin + (real - self.origin) * self.speedup, timezone.utc)

    def real(self, moment: datetime) -> float:
        return self.origin + (moment.timestamp() - self.origin) / self.speedup

    def start(self) -> None:
        self.cloud.spawn("events-scheduler", self._loop)
        self.cloud.on_shutdown(self._stop.set)

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.tick(time.time())
            except Exception:
                log.exception("the scheduler's tick failed")

    def _rules(self) -> list[Any]:
        from moto.events.models import events_backends
        rules = []
        for _, regions in list(events_backends.items()):
            for _, backend in list(regions.items()):
                default = backend.event_buses.get("default")
                if default is not None:
                    rules.extend(list(default.rules.values()))
        return rules

    def tick(self, now: float) -> None:
        seen = set()
        for rule in self._rules():
            if rule.state != "ENABLED" or not rule.scheduled_expression:
                continue
            key = rule.arn
            seen.add(key)
            expression, schedule, due = self._next.get(key, (None, None, 0.0))
            if expression != rule.scheduled_expression:
                expression = rule.scheduled_expression
                try:
                    schedule = parse_schedule(expression)
                except (ScheduleError, ValueError) as exc:
                    log.warning("rule %s will not fire: %s", rule.name, exc)
                    schedule = None
                due = self.real(schedule.next_after(self.clock(now))) if schedule else float("inf")
            if schedule is not None and now >= due:
                self.fire(rule)
                # A clock that fell behind (a busy machine) skips missed firings rather than bursting them.
                due = self.real(schedule.next_after(max(self.clock(due), self.clock(now))))
            self._next[key] = (expression, schedule, due)
        for key in set(self._next) - seen:
            del self._next[key]

    def fire(self, rule: Any) -> None:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": rule.account_id,
            "time": event_time(time.time()),
            "region": rule.region_name,
            "resources": [rule.arn],
            "detail": {},
        }
        log.info("schedule of rule %s fired", rule.name)
        self.delivery.deliver(rule, event)


def install(cloud: LocalCloud) -> None:
    from moto.events.models import Rule

    original = Rule.send_to_targets
    delivery = EventDelivery(cloud, original)

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        delivery.on_event(self, original_event, transform_input)

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]
    cloud.on_shutdown(lambda: setattr(Rule, "send_to_targets", original))
    Scheduler(cloud, delivery, float(cloud.settings.get("schedule_speedup", 60))).start()
