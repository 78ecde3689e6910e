"""EventBridge schedules: `rate()` and `cron()` expressions as EventBridge reads them, and the clock that fires the
rules that have one.

The expressions follow AWS's "Schedule expressions for rules": rate(value unit) with a singular unit for 1 and a
plural one otherwise; cron(minutes hours day-of-month month day-of-week year) in UTC, six fields, one of the two day
fields `?`, with `,` `-` `*` `/` everywhere but day-of-week (no `/` there), ranges that wrap (hours 20-2), `L`, `L-n`,
`LW` and `nW` in day-of-month, `L`, `nL` and a single `n#k` in day-of-week, JAN-DEC and SUN-SAT (SUN is 1). No
maintained library reads that dialect whole (aws-croniter 2.1.1 fails on `LW` and never fires day-of-week `L`;
pyawscron 1.0.7 fails on `LW` and validates nothing), hence this one.

`Scheduler` fires the enabled rules with a ScheduleExpression on a clock that runs `schedule_speedup` times faster
than real time (setting, default 60: rate(1 minute) fires every second). The other services that keep time by
schedules (alarm periods, monitoring schedules) use the same clock: `cloud.service("events").scheduler`.
"""

from __future__ import annotations

import calendar
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .delivery import event_time

if TYPE_CHECKING:
    from .service import EventsService

log = logging.getLogger("mlops_workshop.localcloud.events")

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {name: i + 1 for i, name in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
_DAYS = {name: i + 1 for i, name in enumerate("SUN MON TUE WED THU FRI SAT".split())}
LAST_YEAR = 2199
# What PutRule answers for any expression it cannot read.
INVALID = "Parameter ScheduleExpression is not valid."


class ScheduleError(ValueError):
    """An expression EventBridge refuses; the message says what is wrong with it."""


class Rate:
    def __init__(self, seconds: int):
        self.seconds = seconds

    def next_after(self, moment: datetime) -> datetime:
        return moment + timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class _Day:
    """One day field: `kind` is "values" (a set), "last" (L, L-n), "last_weekday" (LW), "weekday" (nW),
    "last_of" (nL), "nth" (n#k) or "any" (?)."""

    kind: str
    values: frozenset[int] = frozenset()
    number: int = 0
    offset: int = 0


class Cron:
    """EventBridge's six-field cron: minutes hours day-of-month month day-of-week year, in UTC."""

    def __init__(self, fields: list[str]):
        if len(fields) != 6:
            raise ScheduleError(f"cron() takes 6 fields (minutes hours day-of-month month day-of-week year), "
                                f"got {len(fields)}")
        minute, hour, dom, month, dow, year = (f.upper() for f in fields)
        if (dom == "?") == (dow == "?"):
            raise ScheduleError("one of day-of-month and day-of-week must be '?', and only one")
        self.minutes = sorted(_values(minute, 0, 59, "minutes"))
        self.hours = sorted(_values(hour, 0, 23, "hours"))
        self.months = _values(month, 1, 12, "month", _MONTHS)
        self.years = _values(year, 1970, LAST_YEAR, "year")
        self.dom = _day_of_month(dom)
        self.dow = _day_of_week(dow)

    def fires_on(self, day: date) -> bool:
        """Whether the expression fires at some time of this (UTC) day."""
        if day.year not in self.years or day.month not in self.months:
            return False
        last = calendar.monthrange(day.year, day.month)[1]
        if self.dom.kind != "any":
            return _dom_matches(self.dom, day, last)
        weekday = day.isoweekday() % 7 + 1  # SUN=1 .. SAT=7
        rule = self.dow
        if rule.kind == "values":
            return weekday in rule.values
        if rule.kind == "last":
            return weekday == 7
        if rule.kind == "last_of":
            return weekday == rule.number and day.day + 7 > last
        return weekday == rule.number and (day.day - 1) // 7 + 1 == rule.offset  # nth

    def next_after(self, moment: datetime) -> datetime | None:
        """The first firing strictly after `moment` (UTC; naive means UTC), or None when it never fires again."""
        start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.date()
        while day.year <= LAST_YEAR:
            if day.year not in self.years:
                later = [y for y in self.years if y > day.year]
                if not later:
                    return None
                day = date(min(later), 1, 1)
                continue
            if day.month not in self.months:
                day = (date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1))
                continue
            if self.fires_on(day):
                for hour in self.hours:
                    for minute in self.minutes:
                        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=moment.tzinfo)
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        return None


def _dom_matches(rule: _Day, day: date, last: int) -> bool:
    if rule.kind == "values":
        return day.day in rule.values
    if rule.kind == "last":
        return day.day == last - rule.offset
    if rule.kind == "last_weekday":
        target = last - max(0, date(day.year, day.month, last).weekday() - 4)
        return day.day == target
    # nW: the weekday nearest to day n, within the month (never on a day the month lacks).
    if rule.number > last:
        return False
    target, weekday = rule.number, date(day.year, day.month, rule.number).weekday()
    if weekday == 5:
        target = target - 1 if target > 1 else target + 2
    elif weekday == 6:
        target = target + 1 if target < last else target - 2
    return day.day == target


def _day_of_month(text: str) -> _Day:
    if text == "?":
        return _Day("any")
    if text == "L":
        return _Day("last")
    if re.fullmatch(r"L-\d+", text):
        offset = int(text[2:])
        if not 1 <= offset <= 30:
            raise ScheduleError(f"day-of-month {text}: L-n takes n from 1 to 30")
        return _Day("last", offset=offset)
    if text == "LW":
        return _Day("last_weekday")
    if re.fullmatch(r"\d+W", text):
        number = int(text[:-1])
        if not 1 <= number <= 31:
            raise ScheduleError(f"day-of-month {text}: nW takes a day from 1 to 31")
        return _Day("weekday", number=number)
    return _Day("values", frozenset(_values(text, 1, 31, "day-of-month")))


def _day_of_week(text: str) -> _Day:
    if text == "?":
        return _Day("any")
    if text == "L":
        return _Day("last")
    if re.fullmatch(r"[1-7A-Z]{1,3}L", text):
        return _Day("last_of", number=_value(text[:-1], 1, 7, "day-of-week", _DAYS))
    if "#" in text:
        day, _, nth = text.partition("#")
        if "," in text or not re.fullmatch(r"[1-5]", nth):
            raise ScheduleError(f"day-of-week {text}: '#' takes one day and an instance from 1 to 5 (3#2), alone")
        return _Day("nth", number=_value(day, 1, 7, "day-of-week", _DAYS), offset=int(nth))
    if "/" in text:
        raise ScheduleError(f"day-of-week {text}: '/' is not allowed in day-of-week")
    return _Day("values", frozenset(_values(text, 1, 7, "day-of-week", _DAYS)))


def _values(text: str, low: int, high: int, field: str, names: dict[str, int] | None = None) -> set[int]:
    """The values of a field of `, - * /`: lists of values, ranges (which may wrap past the end), increments."""
    found: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleError(f"{field} {text}: the increment after '/' must be a positive number")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first_text, _, last_text = base.partition("-")
            first, last = _value(first_text, low, high, field, names), _value(last_text, low, high, field, names)
        else:
            first = _value(base, low, high, field, names)
            last = high if slash else first
        size = high - low + 1
        span = (last - first) % size
        found.update(low + (first - low + offset) % size for offset in range(0, span + 1, step))
    return found


def _value(text: str, low: int, high: int, field: str, names: dict[str, int] | None) -> int:
    if names and text in names:
        return names[text]
    if not text.isdigit():
        raise ScheduleError(f"{field}: {text!r} is not a value of this field")
    value = int(text)
    if not low <= value <= high:
        raise ScheduleError(f"{field}: {value} is outside {low}-{high}")
    return value


def parse_schedule(expression: str) -> Rate | Cron:
    """The schedule of a ScheduleExpression; ScheduleError (saying why) for one EventBridge refuses."""
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1:
            raise ScheduleError(f"{expression}: the value must be a positive number")
        if (value == 1) != (not unit.endswith("s")):
            raise ScheduleError(f"{expression}: the unit is singular for 1 and plural otherwise")
        return Rate(value * _UNIT_SECONDS[unit.rstrip("s")])
    if expression.startswith("cron(") and expression.endswith(")"):
        return Cron(expression[5:-1].split(" "))
    raise ScheduleError(f"{expression!r} is neither rate(value unit) nor cron(fields)")


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

    def _due(self, moment: datetime | None) -> float:
        return float("inf") if moment is None else self.real(moment)

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
                due = self._due(schedule.next_after(self.clock(now))) if schedule else float("inf")
            if schedule is not None and now >= due:
                self.fire(rule)
                # A clock that fell behind (a busy machine) skips missed firings rather than bursting them.
                due = self._due(schedule.next_after(max(self.clock(due), self.clock(now))))
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
