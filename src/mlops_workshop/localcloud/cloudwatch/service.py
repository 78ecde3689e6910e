"""CloudWatch: moto keeps the metrics (PutMetricData) and the alarms; here the alarms are evaluated (alarms.py) and
change state as CloudWatch's do, each change in DescribeAlarmHistory and as a "CloudWatch Alarm State Change" event
on the default bus. Alarms, their states and their history are moto's records, kept with the cloud's state."""

from __future__ import annotations

from ..services import Service
from . import patches
from .alarms import AlarmEvaluator


class CloudWatchService(Service):
    name = "cloudwatch"

    def start(self) -> None:
        self.evaluator = AlarmEvaluator(self)
        patches.apply(self)
        self.evaluator.start()

    def stop(self) -> None:
        self.evaluator.stop()
        super().stop()
