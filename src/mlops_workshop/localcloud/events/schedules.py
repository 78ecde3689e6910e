"""EventBridge schedules: `rate()` and `cron()` expressions, and the clock that fires the rules that have one.

`Scheduler` fires the enabled rules with a ScheduleExpression on a clock that runs `schedule_speedup` times faster
than real time (setting, default 60: rate(1 minute) fires every second).
"""

from __future__ import annotations

import calendar
import logging
import re
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .delivery import event_time

if TYPE_CHECKING:
    from .service import EventsService

log = logging.getLogger("mlops_workshop.localcloud.events")

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

    def __init__(self, service: "EventsService", speedup: float):
        if speedup <= 0:
            raise ValueError(f"schedule_speedup must be positive, got {speedup}")
        self.service = service
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
        self.service.cloud.spawn("events-scheduler", self._loop)

    def stop(self) -> None:
        self._stop.set()

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
        self.service.delivery.deliver(rule, event)
