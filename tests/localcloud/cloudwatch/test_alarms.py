"""CloudWatch alarms on the local cloud: evaluated on the metrics put with PutMetricData, their state changes in
DescribeAlarms and DescribeAlarmHistory and as "CloudWatch Alarm State Change" events, SetAlarmState, what
PutMetricAlarm refuses, metric math, and the state kept across a restart."""

import json
import math
import time
from datetime import datetime, timezone

import boto3
import pytest
from botocore.exceptions import ClientError

from mlops_workshop.localcloud import lifecycle
from mlops_workshop.modelserver import free_port
from testkit.localcloud import REGION
from testkit.waiting import wait_for

SPEEDUP = 600
PERIOD = 3600                  # an hour: 6 s of real time at this speed
REAL_PERIOD = PERIOD / SPEEDUP
DIMENSIONS = [{"Name": "Endpoint", "Value": "abalone-prd"},
              {"Name": "MonitoringSchedule", "Value": "abalone-prd-monitor"}]
NAMESPACE, METRIC = "aws/sagemaker/Endpoints/data-metrics", "feature_baseline_drift_shell_weight"


@pytest.fixture
def cloud_settings():
    return {"schedule_speedup": SPEEDUP}


@pytest.fixture
def cw(clients):
    return clients("cloudwatch")


def drift_alarm(cw, name="drift", **settings):
    request = {"AlarmName": name, "Namespace": NAMESPACE, "MetricName": METRIC, "Dimensions": DIMENSIONS,
               "Statistic": "Maximum", "Period": PERIOD, "EvaluationPeriods": 1, "Threshold": 0.2,
               "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching", **settings}
    cw.put_metric_alarm(**request)


def put(cw, value, periods_ago=0, dimensions=DIMENSIONS, metric=METRIC):
    """A datapoint in the middle of the period `periods_ago` periods before the current one."""
    start = (math.floor(time.time() / REAL_PERIOD) - periods_ago) * REAL_PERIOD
    cw.put_metric_data(Namespace=NAMESPACE, MetricData=[{
        "MetricName": metric, "Dimensions": dimensions, "Value": value,
        "Timestamp": datetime.fromtimestamp(start + REAL_PERIOD / 2, timezone.utc)}])


def alarm(cw, name="drift"):
    return cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def state_becomes(cw, state, name="drift", timeout=10):
    return wait_for(lambda: (a := alarm(cw, name))["StateValue"] == state and a, timeout, 0.05,
                    f"alarm {name} to be {state}")


def events_queue(clients, pattern):
    sqs, events = clients("sqs"), clients("events")
    url = sqs.create_queue(QueueName="alarm-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="alarm-events", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="alarm-events", Targets=[{"Id": "queue", "Arn": arn}])
    received = []

    def messages(count):
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            received.append(json.loads(message["Body"]))
        return received if len(received) >= count else None
    return messages


def test_an_alarm_starts_insufficient_then_follows_its_metric(cw):
    drift_alarm(cw, TreatMissingData="missing")
    created = alarm(cw)
    assert (created["StateValue"], created["StateReason"]) == ("INSUFFICIENT_DATA", "Unchecked: Initial alarm creation")
    put(cw, 0.05)
    ok = state_becomes(cw, "OK")
    assert "was not greater than the threshold (0.2)" in ok["StateReason"]
    put(cw, 0.6)
    alarmed = state_becomes(cw, "ALARM")
    assert alarmed["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [0.6 (")
    data = json.loads(alarmed["StateReasonData"])
    assert data["version"] == "1.0" and data["statistic"] == "Maximum" and data["period"] == PERIOD
    assert data["recentDatapoints"] == [0.6] and data["threshold"] == 0.2
    assert alarmed["StateTransitionedTimestamp"] >= ok["StateUpdatedTimestamp"]


def test_datapoints_of_other_dimensions_or_metrics_do_not_count(cw):
    drift_alarm(cw)
    put(cw, 0.9, dimensions=[{"Name": "Endpoint", "Value": "abalone-prd"}])
    put(cw, 0.9, metric="feature_baseline_drift_length")
    put(cw, 0.1)
    assert state_becomes(cw, "OK")
    time.sleep(0.5)  # five evaluations
    assert alarm(cw)["StateValue"] == "OK"


def start_of_a_period():
    """Sleep to the start of the next period, so that datapoints put by periods ago keep their place to the end."""
    time.sleep(REAL_PERIOD - time.time() % REAL_PERIOD + 0.05)


def test_m_of_n_over_the_api(cw):
    drift_alarm(cw, EvaluationPeriods=3, DatapointsToAlarm=2)
    start_of_a_period()
    for ago, value in ((2, 0.5), (1, 0.1)):
        put(cw, value, ago)
    assert "1 out of the last" not in state_becomes(cw, "OK")["StateReason"]
    put(cw, 0.7)
    reason = state_becomes(cw, "ALARM")["StateReason"]
    assert reason.startswith("Threshold Crossed: 2 out of the last 3 datapoints [0.7 (")
    assert "(minimum 2 datapoints for OK -> ALARM transition)" in reason


def test_each_change_is_in_the_history_and_an_event_a_rule_matches(clients, cw):
    received = events_queue(clients, {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
                                      "detail": {"state": {"value": ["ALARM"]}}})
    drift_alarm(cw, AlarmDescription="drift on Prd")
    put(cw, 0.1)
    state_becomes(cw, "OK")
    put(cw, 0.9)
    state_becomes(cw, "ALARM")
    [event] = wait_for(lambda: received(1), what="the ALARM event at the queue")
    assert event["source"] == "aws.cloudwatch" and event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["resources"] == [alarm(cw)["AlarmArn"]] and event["region"] == REGION
    detail = event["detail"]
    assert detail["alarmName"] == "drift"
    assert detail["state"]["value"] == "ALARM" and detail["previousState"]["value"] == "OK"
    assert json.loads(detail["state"]["reasonData"])["recentDatapoints"] == [0.9]
    assert detail["state"]["timestamp"].endswith("+0000")
    assert detail["configuration"]["description"] == "drift on Prd"
    [metric] = detail["configuration"]["metrics"]
    assert metric["returnData"] is True
    assert metric["metricStat"] == {"metric": {"namespace": NAMESPACE, "name": METRIC, "dimensions": {
        "Endpoint": "abalone-prd", "MonitoringSchedule": "abalone-prd-monitor"}}, "period": PERIOD, "stat": "Maximum"}

    history = cw.describe_alarm_history(AlarmName="drift")["AlarmHistoryItems"]
    assert [h["HistorySummary"] for h in history] == [
        "Alarm updated from OK to ALARM", "Alarm updated from INSUFFICIENT_DATA to OK", 'Alarm "drift" created']
    assert json.loads(history[0]["HistoryData"])["newState"]["stateValue"] == "ALARM"
    states = cw.describe_alarm_history(AlarmName="drift", HistoryItemType="StateUpdate", ScanBy="TimestampAscending")
    assert [h["HistorySummary"] for h in states["AlarmHistoryItems"]][0] == "Alarm updated from INSUFFICIENT_DATA to OK"
    assert len(cw.describe_alarm_history(AlarmName="drift", MaxRecords=1)["AlarmHistoryItems"]) == 1


def test_set_alarm_state_lasts_until_the_next_evaluation(clients, cw):
    received = events_queue(clients, {"source": ["aws.cloudwatch"], "detail": {"state": {"value": ["ALARM"]}}})
    drift_alarm(cw)
    put(cw, 0.1)
    state_becomes(cw, "OK")
    cw.set_alarm_state(AlarmName="drift", StateValue="ALARM", StateReason="testing the retraining")
    assert wait_for(lambda: received(1))[0]["detail"]["state"]["reason"] == "testing the retraining"
    assert state_becomes(cw, "OK")["StateReason"].startswith("Threshold Crossed")
    summaries = [h["HistorySummary"] for h in cw.describe_alarm_history(AlarmName="drift")["AlarmHistoryItems"]]
    assert summaries[:2] == ["Alarm updated from ALARM to OK", "Alarm updated from OK to ALARM"]
    with pytest.raises(ClientError) as error:
        cw.set_alarm_state(AlarmName="drift", StateValue="BROKEN", StateReason="x")
    assert error.value.response["Error"]["Code"] == "ValidationError"


def test_an_updated_alarm_keeps_its_state(cw):
    drift_alarm(cw)
    put(cw, 0.9)
    before = state_becomes(cw, "ALARM")
    drift_alarm(cw, AlarmDescription="described")
    after = alarm(cw)
    assert after["AlarmDescription"] == "described"
    assert [after[k] for k in ("StateValue", "StateReason", "StateTransitionedTimestamp")] == [
        before[k] for k in ("StateValue", "StateReason", "StateTransitionedTimestamp")]
    drift_alarm(cw, Threshold=0.95, AlarmDescription="less sensitive")
    assert state_becomes(cw, "OK")["AlarmDescription"] == "less sensitive"
    assert 'Alarm "drift" updated' in [h["HistorySummary"] for h in
                                       cw.describe_alarm_history(AlarmName="drift")["AlarmHistoryItems"]]


@pytest.mark.parametrize("settings, code, part", [
    ({"ComparisonOperator": "Bigger"}, "ValidationError", "comparisonOperator"),
    ({"TreatMissingData": "sometimes"}, "ValidationError", "TreatMissingData are breaching, notBreaching"),
    ({"Statistic": "Max"}, "ValidationError", "'Max' at 'statistic'"),
    ({"ExtendedStatistic": "p90"}, "InvalidParameterCombination", "Statistic and ExtendedStatistic"),
    ({"DatapointsToAlarm": 3}, "ValidationError", "DatapointsToAlarm"),
])
def test_put_metric_alarm_refuses_what_cloudwatch_refuses(cw, settings, code, part):
    with pytest.raises(ClientError) as error:
        drift_alarm(cw, **settings)
    assert error.value.response["Error"]["Code"] == code
    assert part in error.value.response["Error"]["Message"]


@pytest.mark.parametrize("extended, part", [
    ("90", "The value 90 for parameter ExtendedStatistic is not supported."),
    ("tm90", "not supported by the local cloud (it evaluates percentiles pNN.NN)"),
])
def test_an_extended_statistic_is_refused_in_cloudwatchs_words_or_the_local_clouds(cw, extended, part):
    with pytest.raises(ClientError) as error:
        cw.put_metric_alarm(AlarmName="pct", MetricName=METRIC, Namespace=NAMESPACE, ExtendedStatistic=extended,
                            Period=PERIOD, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    assert error.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert part in error.value.response["Error"]["Message"]


def test_an_anomaly_detection_alarm_is_taken_as_aws_takes_it_and_stays_insufficient_data(cw):
    cw.put_metric_alarm(AlarmName="band", EvaluationPeriods=1, ComparisonOperator="GreaterThanUpperThreshold",
                        ThresholdMetricId="ad1", Metrics=[
                            {"Id": "m1", "ReturnData": True, "MetricStat": {"Metric": {
                                "Namespace": NAMESPACE, "MetricName": METRIC, "Dimensions": DIMENSIONS},
                                "Period": PERIOD, "Stat": "Maximum"}},
                            {"Id": "ad1", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)"}])
    drift_alarm(cw)
    put(cw, 0.9)
    state_becomes(cw, "ALARM")  # an alarm on the same metric was evaluated meanwhile
    assert alarm(cw, "band")["StateValue"] == "INSUFFICIENT_DATA"


def test_a_metric_math_alarm_on_the_sum_of_two_metrics(cw):
    def stat(query_id, metric):
        return {"Id": query_id, "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": DIMENSIONS},
            "Period": PERIOD, "Stat": "Maximum"}}
    cw.put_metric_alarm(AlarmName="either", EvaluationPeriods=1, Threshold=0.5, TreatMissingData="notBreaching",
                        ComparisonOperator="GreaterThanThreshold", Metrics=[
                            stat("m1", METRIC), stat("m2", "feature_baseline_drift_length"),
                            {"Id": "e1", "Expression": "m1 + m2", "Label": "both", "ReturnData": True}])
    start_of_a_period()  # both metrics' datapoints in one period, however loaded the machine
    put(cw, 0.3)
    put(cw, 0.1, metric="feature_baseline_drift_length")
    state_becomes(cw, "OK", "either")
    put(cw, 0.4, metric="feature_baseline_drift_length")
    assert "[0.7" in state_becomes(cw, "ALARM", "either")["StateReason"]
    with pytest.raises(ClientError) as error:
        cw.put_metric_alarm(AlarmName="band", EvaluationPeriods=1, ComparisonOperator="GreaterThanThreshold",
                            Threshold=1, Metrics=[stat("m1", METRIC), {"Id": "e1", "Expression": "RATE(m1)"}])
    assert "does not evaluate RATE()" in error.value.response["Error"]["Message"]


def test_alarms_their_state_and_history_survive_a_restart(tmp_path, aws_env):
    folder, settings = tmp_path / "daemon", {"schedule_speedup": SPEEDUP, "persist_interval_s": 0.2}
    try:
        state = lifecycle.start(folder, port=free_port(), settings=settings)
        client = boto3.client("cloudwatch", endpoint_url=state["endpoint"], region_name=REGION,
                              aws_access_key_id="localcloud", aws_secret_access_key="localcloud")
        drift_alarm(client, TreatMissingData="ignore")  # ALARM until a datapoint says otherwise, however slow
        put(client, 0.9)
        state_becomes(client, "ALARM")
        lifecycle.stop(folder)
        state = lifecycle.start(folder, port=state["port"], settings=settings)
        kept = alarm(client)
        assert kept["StateValue"] == "ALARM" and kept["Threshold"] == 0.2
        summaries = [h["HistorySummary"] for h in client.describe_alarm_history(AlarmName="drift")["AlarmHistoryItems"]]
        assert summaries[0].endswith(" to ALARM")
        assert summaries[-1] == 'Alarm "drift" created'
    finally:
        lifecycle.stop(folder)
