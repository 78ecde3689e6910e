"""Alarm evaluation as CloudWatch does it ("Using Amazon CloudWatch alarms", "Configuring how CloudWatch alarms treat
missing data"), and the state changes it makes.

Each evaluation reads the alarm's evaluation range: EvaluationPeriods + 2 periods (the 5 of AWS's examples for 3), the
newest being the period under way once it has data, else the last one that ended. With at least EvaluationPeriods
datapoints in the range, the newest EvaluationPeriods of them are evaluated and TreatMissingData plays no part. With
none, the alarm goes INSUFFICIENT_DATA (missing), stays as it is (ignore), ALARM (breaching) or OK (notBreaching).
With some, every datapoint of the range counts: breaching and notBreaching fill the rest with breaching or good
datapoints; missing and ignore go ALARM with DatapointsToAlarm breaching ones, else OK with any good one, else (only
breaching ones, too few) INSUFFICIENT_DATA or, for ignore, no change, except that missing evaluates the last
datapoints again when the metric stopped (every missing period is newer than them). That reproduces both of AWS's
tables. ALARM needs DatapointsToAlarm (default EvaluationPeriods) breaching datapoints of those evaluated.

Time runs on EventBridge's schedule clock (`schedule_speedup`): a Period of P seconds lasts P / speedup real seconds,
as rate(P seconds) would, and alarms are evaluated every 60 / speedup real seconds (every minute, as CloudWatch).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from . import metrics

if TYPE_CHECKING:
    from .service import CloudWatchService

log = logging.getLogger("mlops_workshop.localcloud.cloudwatch")

EXTRA_PERIODS = 2
COMPARISONS = {
    "GreaterThanOrEqualToThreshold": ("greater than or equal to", lambda v, t: v >= t),
    "GreaterThanThreshold": ("greater than", lambda v, t: v > t),
    "LessThanThreshold": ("less than", lambda v, t: v < t),
    "LessThanOrEqualToThreshold": ("less than or equal to", lambda v, t: v <= t),
}
# Anomaly detection's operators: they compare with a band the local cloud has no model for.
BAND_COMPARISONS = ("LessThanLowerOrGreaterThanUpperThreshold", "LessThanLowerThreshold", "GreaterThanUpperThreshold")
TREATMENTS = ("breaching", "notBreaching", "ignore", "missing")
HISTORY_DAYS = 14


@dataclass
class Outcome:
    """What an evaluation concludes: the state (None: unchanged), why, and the data behind it."""

    state: str | None
    reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Config:
    """The part of an alarm its evaluation reads."""

    comparison: str
    threshold: float
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: str
    period: int
    statistic: str | None


def anomaly_detection(comparison: str | None, threshold_metric_id: str | None) -> bool:
    """An alarm on an anomaly detection band (its threshold is a band query, not a number)."""
    return comparison in BAND_COMPARISONS or bool(threshold_metric_id)


def config_of(alarm: Any) -> Config:
    periods = int(alarm.evaluation_periods)
    return Config(alarm.comparison_operator, float(alarm.threshold), periods,
                  int(alarm.datapoints_to_alarm or periods), alarm.treat_missing_data or "missing", alarm_period(alarm),
                  alarm.statistic or alarm.extended_statistic)


def alarm_period(alarm: Any) -> int:
    if alarm.period:
        return int(alarm.period)
    stats = [q.metric_stat for q in alarm.metric_data_queries if q.metric_stat is not None]
    return int(stats[0].period) if stats else 60


def decide(config: Config, points: list[tuple[int, float | None]], stamp: Any = str) -> Outcome:
    """The state an alarm goes to for its evaluation range `points` ([(period index, value or None)], oldest first);
    `stamp(index)` gives a period's start as CloudWatch prints it in reasons."""
    label, breaches = COMPARISONS[config.comparison]
    n, m, treatment = config.evaluation_periods, config.datapoints_to_alarm, config.treat_missing_data
    existing = [(i, v) for i, v in points if v is not None]
    if not existing:
        return _all_missing(treatment, len(points), n)
    evaluated = existing[-n:]
    filled = n - len(evaluated)
    bad = sum(1 for _, v in evaluated if breaches(v, config.threshold))
    good = len(evaluated) - bad
    if filled and treatment == "breaching":
        alarm = bad + filled >= m
    elif filled and treatment == "notBreaching":
        alarm = bad >= m
    elif filled:
        # missing and ignore fill nothing: too few datapoints decide only when they can.
        stopped = all(i > existing[-1][0] for i, v in points if v is None)
        if bad < m and not good and not (treatment == "missing" and stopped):
            return Outcome(None if treatment == "ignore" else "INSUFFICIENT_DATA",
                           f"Insufficient Data: {_count(filled, 'datapoint')} {_was(filled)} unknown.")
        alarm = bad >= m or not good
    else:
        alarm = bad >= m
    values = ", ".join(f"{v!r} ({stamp(i)})" for i, v in reversed(evaluated))
    count = bad if alarm else good
    text = (f"Threshold Crossed: {count} out of the last {len(evaluated)} datapoints [{values}] {_was(count)} "
            f"{'' if alarm else 'not '}{label} the threshold ({config.threshold!r})")
    if filled and treatment in ("breaching", "notBreaching"):
        kind = "Breaching" if treatment == "breaching" else "NonBreaching"
        text += f", and {_count(filled, 'missing datapoint')} {_was(filled)} treated as [{kind}]"
    minimum, transition = (m, "OK -> ALARM") if alarm else (n - m + 1, "ALARM -> OK")
    text += f" (minimum {_count(minimum, 'datapoint')} for {transition} transition)."
    return Outcome("ALARM" if alarm else "OK", text,
                   {"recentDatapoints": [v for _, v in evaluated], "evaluated": [i for i, _ in evaluated]})


def _all_missing(treatment: str, size: int, n: int) -> Outcome:
    state = {"missing": "INSUFFICIENT_DATA", "ignore": None, "breaching": "ALARM", "notBreaching": "OK"}[treatment]
    if state in ("INSUFFICIENT_DATA", None):
        return Outcome(state, f"Insufficient Data: {_count(size, 'datapoint')} {_was(size)} unknown.")
    kind = "Breaching" if state == "ALARM" else "NonBreaching"
    return Outcome(state, f"Threshold Crossed: no datapoints were received for {_count(n, 'period')} and "
                          f"{_count(n, 'missing datapoint')} {_was(n)} treated as [{kind}].")


def _was(count: int) -> str:
    return "was" if count == 1 else "were"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def iso(moment: float) -> str:
    """CloudWatch's timestamps in reason data and events: 2019-10-02T17:04:40.989+0000."""
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{int(moment * 1000) % 1000:03d}+0000"


def shown(moment: float) -> str:
    """A datapoint's time in a reason: (02/10/19 16:59:00)."""
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%d/%m/%y %H:%M:%S")


class AlarmEvaluator:
    """Evaluates every metric alarm of the cloud on the schedule clock, and makes each state change: the alarm's
    state fields, its history, and the "CloudWatch Alarm State Change" event on the default bus."""

    def __init__(self, service: "CloudWatchService"):
        self.service = service
        self.cloud = service.cloud
        self.lock = threading.RLock()
        self._stop = threading.Event()

    @property
    def speedup(self) -> float:
        return float(self.cloud.service("events").scheduler.speedup)

    def start(self) -> None:
        self.cloud.spawn("cloudwatch-alarms", self._loop)

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(60 / self.speedup):
            try:
                self.evaluate_all(time.time())
            except Exception:
                log.exception("evaluating the alarms failed")

    def backends(self) -> list[Any]:
        from moto.cloudwatch.models import cloudwatch_backends
        return [backend for _, regions in list(cloudwatch_backends.items()) for backend in list(regions.values())]

    def evaluate_all(self, now: float) -> None:
        for backend in self.backends():
            for alarm in list(backend.alarms.values()):
                if alarm.rule is not None or anomaly_detection(alarm.comparison_operator, alarm.threshold_metric_id):
                    continue  # a composite alarm's rule, an anomaly detection band: not evaluated here
                try:
                    self.evaluate(backend, alarm, now)
                except Exception:
                    log.exception("evaluating alarm %s failed", alarm.name)

    def evaluate(self, backend: Any, alarm: Any, now: float) -> Outcome:
        """Evaluate one alarm at real time `now` and make the state change it calls for."""
        config = config_of(alarm)
        period = config.period / self.speedup
        values, counts = self.values(backend, alarm, period, now)
        current = math.floor(now / period)
        newest = current if current in values else current - 1
        indices = list(range(newest - config.evaluation_periods - EXTRA_PERIODS + 1, newest + 1))
        points = [(i, values.get(i)) for i in indices]
        outcome = decide(config, points, lambda i: shown(i * period))
        evaluated = outcome.data.get("evaluated", [])
        if outcome.state is not None and _low_samples(alarm, [counts.get(i, 0) for i in evaluated]):
            outcome = Outcome(None)
        if outcome.state is None:
            return outcome
        data = {"version": "1.0", "queryDate": iso(now), "startDate": iso(indices[0] * period),
                **({"statistic": alarm.statistic} if alarm.statistic else {}),
                **({"extendedStatistic": alarm.extended_statistic} if alarm.extended_statistic else {}),
                **({"unit": alarm.unit} if alarm.unit else {}),
                "period": config.period, "recentDatapoints": outcome.data.get("recentDatapoints", []),
                "threshold": config.threshold,
                "evaluatedDatapoints": [{"timestamp": iso(i * period), **({"sampleCount": counts[i], "value": values[i]}
                                                                           if i in values else {})}
                                        for i in reversed(indices)]}
        with self.lock:
            if alarm.state_value != outcome.state:
                self.transition(backend, alarm, outcome.state, outcome.reason, json.dumps(data))
        return outcome

    def values(self, backend: Any, alarm: Any, period: float, now: float) -> tuple[metrics.Series, dict[int, float]]:
        """The alarm's series (its metric's statistic, or its math query that returns data) per period index."""
        config = config_of(alarm)
        last = math.floor(now / period)
        first = last - config.evaluation_periods - EXTRA_PERIODS
        data = list(backend.metric_data)
        if not alarm.metric_data_queries:
            dimensions = {d.name: d.value for d in alarm.dimensions}
            return metrics.series(data, alarm.namespace, alarm.metric_name, dimensions, alarm.unit,
                                  alarm.statistic or alarm.extended_statistic, period, first, last)
        inputs: dict[str, metrics.Series] = {}
        counts: dict[int, float] = {}
        stats = [q for q in alarm.metric_data_queries if q.metric_stat is not None]
        for query in stats:
            stat = query.metric_stat
            dimensions = {d.name: d.value for d in stat.metric.dimensions}
            inputs[query.id], found = metrics.series(data, stat.metric.namespace, stat.metric.metric_name, dimensions,
                                                     stat.unit, stat.stat, period, first, last)
            for index, count in found.items():
                counts[index] = counts.get(index, 0) + count
        for query in alarm.metric_data_queries:
            if query.expression:
                tree = metrics.check_expression(query.expression, {q.id for q in alarm.metric_data_queries})
                inputs[query.id] = metrics.evaluate_expression(tree, inputs, [q.id for q in stats],
                                                               range(first, last + 1))
        returned = returns_data(alarm)
        return inputs.get(returned.id, {}) if returned is not None else {}, counts

    def transition(self, backend: Any, alarm: Any, state: str, reason: str, reason_data: str | None) -> None:
        """The alarm goes to `state`: its fields, a StateUpdate in its history, and the state change event."""
        from moto.core.utils import utcnow
        with self.lock:
            previous = {"value": alarm.state_value, "reason": alarm.state_reason,
                        "reasonData": alarm.state_reason_data,
                        "timestamp": iso(alarm.state_updated_timestamp.replace(tzinfo=timezone.utc).timestamp())}
            moment = time.time()
            alarm.state_value, alarm.state_reason, alarm.state_reason_data = state, reason, reason_data
            alarm.state_updated_timestamp = utcnow()
            if previous["value"] != state:
                alarm.state_transitioned_timestamp = alarm.state_updated_timestamp
            old = {"stateValue": previous["value"], "stateReason": previous["reason"]}
            if previous["reasonData"]:
                old["stateReasonData"] = _json(previous["reasonData"])
            new = {"stateValue": state, "stateReason": reason, **({"stateReasonData": _json(reason_data)}
                                                                   if reason_data else {})}
            record(backend, alarm.name, "StateUpdate", f"Alarm updated from {previous['value']} to {state}",
                   {"version": "1.0", "oldState": old, "newState": new})
        log.info("alarm %s: %s -> %s (%s)", alarm.name, previous["value"], state, reason)
        if previous["value"] == state:
            return
        now_state = {"value": state, "reason": reason, "timestamp": iso(moment)}
        if reason_data:
            now_state["reasonData"] = reason_data
        before = {k: v for k, v in previous.items() if v}
        self.cloud.service("events").put_event(
            "aws.cloudwatch", "CloudWatch Alarm State Change",
            {"alarmName": alarm.name, "state": now_state, "previousState": before,
             "configuration": configuration(alarm)}, [alarm.alarm_arn], alarm.region_name)


def _low_samples(alarm: Any, counts: list[float]) -> bool:
    """EvaluateLowSampleCountPercentile ignore: a percentile over too few samples leaves the state as it is."""
    stat = alarm.extended_statistic or ""
    if alarm.evaluate_low_sample_count_percentile != "ignore" or not metrics.PERCENTILE.match(stat):
        return False
    share = float(stat[1:]) / 100
    needed = 10 / (1 - share) if share > 0.5 else 10 / max(share, 1e-9)
    return any(count < needed for count in counts)


def _json(text: str | None) -> Any:
    try:
        return json.loads(text or "{}")
    except ValueError:
        return text


def returns_data(alarm: Any) -> Any:
    """The query of a metric math alarm whose values the alarm compares with its threshold."""
    found = [q for q in alarm.metric_data_queries if str(q.return_data).lower() != "false"]
    return found[0] if len(found) == 1 else None


def configuration(alarm: Any) -> dict[str, Any]:
    """The alarm's configuration as the state change event shows it."""
    def stat_of(namespace: str, name: str, dimensions: list[Any], period: Any, stat: str | None) -> dict[str, Any]:
        return {"metric": {"namespace": namespace, "name": name, "dimensions": {d.name: d.value for d in dimensions}},
                "period": int(period), "stat": stat}
    found: dict[str, Any] = {"metrics": []}
    if alarm.description:
        found["description"] = alarm.description
    if not alarm.metric_data_queries:
        found["metrics"].append({"id": str(uuid.uuid5(uuid.NAMESPACE_URL, alarm.alarm_arn)),
                                 "metricStat": stat_of(alarm.namespace, alarm.metric_name, alarm.dimensions,
                                                       alarm.period, alarm.statistic or alarm.extended_statistic),
                                 "returnData": True})
        return found
    for query in alarm.metric_data_queries:
        item: dict[str, Any] = {"id": query.id, "returnData": str(query.return_data).lower() != "false"}
        if query.label:
            item["label"] = query.label
        if query.expression:
            item["expression"] = query.expression
        if query.metric_stat is not None:
            s = query.metric_stat
            item["metricStat"] = stat_of(s.metric.namespace, s.metric.metric_name, s.metric.dimensions, s.period,
                                         s.stat)
        found["metrics"].append(item)
    return found


def record(backend: Any, name: str, kind: str, summary: str, data: dict[str, Any]) -> None:
    """An entry of DescribeAlarmHistory (kept two weeks, as CloudWatch keeps it, also after the alarm is deleted)."""
    from moto.core.utils import utcnow
    history = backend.__dict__.setdefault("alarm_history", [])
    cutoff = time.time() - HISTORY_DAYS * 86400
    history[:] = [h for h in history if metrics.epoch(h["Timestamp"]) >= cutoff]
    history.append({"AlarmName": name, "AlarmType": "MetricAlarm", "Timestamp": utcnow(), "HistoryItemType": kind,
                    "HistorySummary": summary, "HistoryData": json.dumps(data)})
