"""What the CloudWatch service replaces in moto: PutMetricAlarm checks what CloudWatch checks, starts an alarm in
INSUFFICIENT_DATA and keeps an updated alarm's state (moto starts every alarm OK and resets it on update);
SetAlarmState is a state change like any other (history, event); DescribeAlarmHistory, which moto lacks.
Errors are moto's exception classes, so that each protocol (CBOR, JSON, query) answers them in its shape."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from moto.cloudwatch.exceptions import (InvalidFormat, InvalidParameterCombination, InvalidParameterValue,
                                         ResourceNotFound, ValidationError)
from moto.cloudwatch.models import CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult

from . import metrics
from .alarms import BAND_COMPARISONS, COMPARISONS, TREATMENTS, anomaly_detection, record

if TYPE_CHECKING:
    from .service import CloudWatchService

INITIAL_REASON = "Unchecked: Initial alarm creation"


def apply(service: "CloudWatchService") -> None:
    moto_put = CloudWatchBackend.__dict__["put_metric_alarm"]
    evaluator = service.evaluator

    def put_metric_alarm(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("rule"):  # moto keeps composite alarms through this call too
            check_alarm(kwargs)
        with evaluator.lock:
            before = self.alarms.get(name)
            alarm = moto_put(self, name, *args, **kwargs)
            if before is not None:
                for attribute in ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp"):
                    setattr(alarm, attribute, getattr(before, attribute))
                alarm.state_transitioned_timestamp = getattr(before, "state_transitioned_timestamp", None)
            else:
                alarm.state_value, alarm.state_reason = "INSUFFICIENT_DATA", INITIAL_REASON
                alarm.state_reason_data = None
                alarm.state_transitioned_timestamp = alarm.state_updated_timestamp
            kind = "Update" if before is not None else "Create"
            summary = f'Alarm "{name}" {"updated" if before is not None else "created"}'
            record(self, name, "ConfigurationUpdate", summary, {"type": kind, "version": "1.0",
                                                                 "updatedAlarm" if before else "createdAlarm":
                                                                 described(alarm)})
        return alarm

    def set_alarm_state(self: Any, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
        """moto's checks, then a state change that lasts until the next evaluation, as in CloudWatch."""
        try:
            if reason_data is not None:
                json.loads(reason_data)
        except ValueError:
            raise InvalidFormat("Unknown") from None
        if alarm_name not in self.alarms:
            raise ResourceNotFound
        if state_value not in ("OK", "ALARM", "INSUFFICIENT_DATA"):
            raise ValidationError(_enum("stateValue", state_value, ["INSUFFICIENT_DATA", "ALARM", "OK"]))
        evaluator.transition(self, self.alarms[alarm_name], state_value, reason, reason_data)

    service.patches.replace(CloudWatchBackend, "put_metric_alarm", put_metric_alarm)
    service.patches.replace(CloudWatchBackend, "set_alarm_state", set_alarm_state)
    service.patches.add(CloudWatchBackend, "describe_alarm_history", describe_alarm_history)
    service.patches.add(CloudWatchResponse, "describe_alarm_history", describe_alarm_history_response)


def check_alarm(kwargs: dict[str, Any]) -> None:
    """What CloudWatch refuses in a PutMetricAlarm that moto takes, and the metric math this local cloud cannot
    evaluate (refused rather than an alarm that never changes state). An anomaly detection alarm is taken as AWS
    takes it, and stays INSUFFICIENT_DATA: its band needs CloudWatch's trained model (alarms.py does not evaluate
    it)."""
    comparison = kwargs.get("comparison_operator")
    if comparison not in COMPARISONS and comparison not in BAND_COMPARISONS:
        raise ValidationError(_enum("comparisonOperator", comparison, [*COMPARISONS, *BAND_COMPARISONS]))
    statistic = kwargs.get("statistic")
    if statistic and statistic not in metrics.STATISTICS:
        raise ValidationError(_enum("statistic", statistic, list(metrics.STATISTICS)))
    extended = kwargs.get("extended_statistic")
    queries = kwargs.get("metric_data_queries") or []
    if kwargs.get("metric_name") and queries:
        raise InvalidParameterCombination("The parameters MetricName and Metrics are mutually exclusive and you "
                                          "have specified both.")
    if kwargs.get("metric_name") and bool(statistic) == bool(extended):
        raise InvalidParameterCombination("Exactly one of the parameters Statistic and ExtendedStatistic must be "
                                          "specified.")
    if extended and not metrics.EXTENDED_STATISTIC.match(extended):
        raise InvalidParameterValue(f"The value {extended} for parameter ExtendedStatistic is not supported.")
    if extended and not metrics.PERCENTILE.match(extended):
        raise InvalidParameterValue(f"The value {extended} for parameter ExtendedStatistic is not supported by the "
                                    f"local cloud (it evaluates percentiles pNN.NN).")
    treatment = kwargs.get("treat_missing_data")
    if treatment and treatment not in TREATMENTS:
        raise ValidationError(f"Option {treatment} is not supported. Supported options for parameter "
                              f"TreatMissingData are breaching, notBreaching, ignore and missing.")
    periods = int(kwargs.get("evaluation_periods") or 0)
    to_alarm = kwargs.get("datapoints_to_alarm")
    if to_alarm is not None and not 1 <= int(to_alarm) <= periods:
        raise ValidationError(f"DatapointsToAlarm must be between 1 and EvaluationPeriods ({periods}), "
                              f"got {to_alarm}.")
    period = kwargs.get("period")
    if period and int(period) not in (10, 20, 30) and int(period) % 60:
        raise ValidationError(f"The value {period} for parameter Period is not supported: use 10, 20, 30 or a "
                              f"multiple of 60.")
    if queries and not anomaly_detection(kwargs.get("comparison_operator"), kwargs.get("threshold_metric_id")):
        _check_math(queries)


def _check_math(queries: list[Any]) -> None:
    returning = [q for q in queries if str(q.return_data).lower() != "false"]
    if len(returning) != 1:
        raise ValidationError("Exactly one element of the metrics list must return data.")
    ids = {q.id for q in queries}
    for query in queries:
        if query.expression:
            try:
                metrics.check_expression(query.expression, ids)
            except metrics.MathError as error:
                raise ValidationError(f"Metric math of alarm query {query.id}: {error}") from None


def _enum(member: str, value: Any, allowed: list[str]) -> str:
    return (f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must "
            f"satisfy enum value set: [{', '.join(allowed)}]")


def described(alarm: Any) -> dict[str, Any]:
    """An alarm's configuration as the history records it."""
    found = {"alarmName": alarm.name, "alarmArn": alarm.alarm_arn, "namespace": alarm.namespace,
             "metricName": alarm.metric_name,
             "dimensions": [{"name": d.name, "value": d.value} for d in alarm.dimensions],
             "comparisonOperator": alarm.comparison_operator, "threshold": alarm.threshold,
             "evaluationPeriods": alarm.evaluation_periods, "period": alarm.period, "statistic": alarm.statistic,
             "extendedStatistic": alarm.extended_statistic, "treatMissingData": alarm.treat_missing_data,
             "datapointsToAlarm": alarm.datapoints_to_alarm, "actionsEnabled": alarm.actions_enabled}
    return {k: v for k, v in found.items() if v is not None}


def describe_alarm_history(self: Any, alarm_name: str | None, alarm_types: list[str] | None, item_type: str | None,
                           start: datetime | None, end: datetime | None, scan_by: str | None) -> list[dict[str, Any]]:
    found = [h for h in self.__dict__.get("alarm_history", [])
             if (not alarm_name or h["AlarmName"] == alarm_name)
             and (not alarm_types or h["AlarmType"] in alarm_types)
             and (not item_type or h["HistoryItemType"] == item_type)
             and (start is None or metrics.epoch(h["Timestamp"]) >= _epoch(start))
             and (end is None or metrics.epoch(h["Timestamp"]) <= _epoch(end))]
    return found if scan_by == "TimestampAscending" else list(reversed(found))


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return metrics.epoch(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=timezone.utc).timestamp()


def describe_alarm_history_response(self: Any) -> ActionResult:
    item_type = self._get_param("HistoryItemType")
    if item_type and item_type not in ("ConfigurationUpdate", "StateUpdate", "Action", "AlarmContributorStateUpdate",
                                       "AlarmContributorAction"):
        raise ValidationError(_enum("historyItemType", item_type, ["ConfigurationUpdate", "StateUpdate", "Action"]))
    size = int(self._get_param("MaxRecords") or 100)
    if not 1 <= size <= 100:
        raise ValidationError(f"1 validation error detected: Value '{size}' at 'maxRecords' failed to satisfy "
                              f"constraint: Member must have value between 1 and 100")
    items = self.cloudwatch_backend.describe_alarm_history(
        self._get_param("AlarmName"), self._get_param("AlarmTypes"), item_type, self._get_param("StartDate"),
        self._get_param("EndDate"), self._get_param("ScanBy"))
    start = int(self._get_param("NextToken") or 0)
    result: dict[str, Any] = {"AlarmHistoryItems": [dict(i) for i in items[start:start + size]]}
    if start + size < len(items):
        result["NextToken"] = str(start + size)
    return ActionResult(result)

