"""AWS::CloudWatch::Alarm through CloudWatch's PutMetricAlarm, so that the alarm is CloudWatch's own."""

from __future__ import annotations

from typing import Any

from .base import LocalResource, as_bool

AS_GIVEN = ("AlarmDescription", "MetricName", "Namespace", "Statistic", "ExtendedStatistic", "ComparisonOperator",
            "TreatMissingData", "Unit", "ThresholdMetricId", "EvaluateLowSampleCountPercentile", "Metrics",
            "AlarmActions", "OKActions", "InsufficientDataActions", "Dimensions")
INTEGERS = ("Period", "EvaluationPeriods", "DatapointsToAlarm")


class Alarm(LocalResource):
    type_name = "AWS::CloudWatch::Alarm"
    name_property = "AlarmName"
    attributes = ("Arn",)

    def create(self) -> None:
        p = self.properties
        request: dict[str, Any] = {"AlarmName": self.name}
        request.update({key: p[key] for key in AS_GIVEN if p.get(key) is not None})
        request.update({key: int(p[key]) for key in INTEGERS if p.get(key) is not None})
        if p.get("Threshold") is not None:
            request["Threshold"] = float(p["Threshold"])
        if p.get("ActionsEnabled") is not None:
            request["ActionsEnabled"] = as_bool(p["ActionsEnabled"])
        client = self.service.cloud.client("cloudwatch", self.region)
        client.put_metric_alarm(**request)
        self.physical_id = self.name
        self.values = {"Arn": client.describe_alarms(AlarmNames=[self.name])["MetricAlarms"][0]["AlarmArn"]}

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        if new_name != self.name:
            return super().update(new_name, properties)
        self.properties = properties
        self.create()
        return self

    def remove(self) -> None:
        self.service.cloud.client("cloudwatch", self.region).delete_alarms(AlarmNames=[self.name])
