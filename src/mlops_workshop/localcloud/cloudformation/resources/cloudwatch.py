"""AWS::CloudWatch::Alarm (moto has no CloudFormation model for it): PutMetricAlarm on create and update (an
alarm's update keeps its state, as CloudWatch does), DeleteAlarms on delete; Ref is the name, Arn its attribute."""

from __future__ import annotations

from typing import Any

from .base import LocalResource, as_bool, tag_list

NUMBERS = {"EvaluationPeriods": int, "DatapointsToAlarm": int, "Period": int, "Threshold": float}


def alarm_request(name: str, p: dict[str, Any]) -> dict[str, Any]:
    """PutMetricAlarm's request from the resource's properties (CloudFormation passes numbers as strings)."""
    request: dict[str, Any] = {"AlarmName": name}
    for key in ("AlarmDescription", "ComparisonOperator", "Dimensions", "EvaluateLowSampleCountPercentile",
                "ExtendedStatistic", "MetricName", "Namespace", "Statistic", "ThresholdMetricId", "TreatMissingData",
                "Unit", "AlarmActions", "OKActions", "InsufficientDataActions"):
        if p.get(key) is not None:
            request[key] = p[key]
    for key, kind in NUMBERS.items():
        if p.get(key) is not None:
            request[key] = kind(p[key])
    if p.get("ActionsEnabled") is not None:
        request["ActionsEnabled"] = as_bool(p["ActionsEnabled"])
    if p.get("Metrics"):
        request["Metrics"] = [_query(q) for q in p["Metrics"]]
    if p.get("Tags"):
        request["Tags"] = tag_list(p["Tags"])
    return request


def _query(query: dict[str, Any]) -> dict[str, Any]:
    found = dict(query)
    if "ReturnData" in found:
        found["ReturnData"] = as_bool(found["ReturnData"])
    if "Period" in found:
        found["Period"] = int(found["Period"])
    if found.get("MetricStat"):
        found["MetricStat"] = {**found["MetricStat"], "Period": int(found["MetricStat"]["Period"])}
    return found


class CloudWatchAlarm(LocalResource):
    type_name = "AWS::CloudWatch::Alarm"
    name_property = "AlarmName"
    attributes = ("Arn",)

    def create(self) -> None:
        client = self.service.cloud.client("cloudwatch", self.region)
        client.put_metric_alarm(**alarm_request(self.name, self.properties))
        self.physical_id = self.name
        arn = client.describe_alarms(AlarmNames=[self.name])["MetricAlarms"][0]["AlarmArn"]
        self.values = {"Arn": arn}

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        if new_name != self.name:
            return super().update(new_name, properties)
        self.properties = properties
        self.service.cloud.client("cloudwatch", self.region).put_metric_alarm(**alarm_request(self.name, properties))
        return self

    def remove(self) -> None:
        self.service.cloud.client("cloudwatch", self.region).delete_alarms(AlarmNames=[self.name])
