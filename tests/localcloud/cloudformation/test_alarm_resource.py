"""AWS::CloudWatch::Alarm in a stack (moto has no model for it): made with PutMetricAlarm, Ref its name, its Arn an
attribute, updated in place keeping its state, deleted with the stack; refused as CloudWatch refuses it."""

import json

from testkit.localcloud import ACCOUNT, REGION

ALARM = {"Type": "AWS::CloudWatch::Alarm", "Properties": {
    "AlarmName": "stack-drift", "Namespace": "aws/sagemaker/Endpoints/data-metrics",
    "MetricName": "feature_baseline_drift_length", "Statistic": "Maximum", "Period": "3600", "EvaluationPeriods": "1",
    "DatapointsToAlarm": 1, "Threshold": "0.2", "ComparisonOperator": "GreaterThanThreshold",
    "TreatMissingData": "notBreaching", "Dimensions": [{"Name": "Endpoint", "Value": "abalone-prd"}]}}


def template(alarm):
    return json.dumps({"Resources": {"Drift": alarm}, "Outputs": {
        "Name": {"Value": {"Ref": "Drift"}}, "Arn": {"Value": {"Fn::GetAtt": ["Drift", "Arn"]}}}})


def test_an_alarm_stack_makes_updates_and_deletes_the_alarm(aws):
    cw = aws.clients("cloudwatch")
    stack_id = aws.cfn.create_stack(StackName="alarms", TemplateBody=template(ALARM))["StackId"]
    stack = aws.stack_done("alarms")
    assert stack["StackStatus"] == "CREATE_COMPLETE", aws.events("alarms")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs == {"Name": "stack-drift", "Arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:stack-drift"}
    made = cw.describe_alarms(AlarmNames=["stack-drift"])["MetricAlarms"][0]
    assert (made["Period"], made["Threshold"], made["DatapointsToAlarm"]) == (3600, 0.2, 1)
    assert made["Dimensions"] == [{"Name": "Endpoint", "Value": "abalone-prd"}]

    changed = json.loads(json.dumps(ALARM))
    changed["Properties"]["Threshold"] = "0.3"
    aws.cfn.update_stack(StackName="alarms", TemplateBody=template(changed))
    assert aws.stack_done("alarms")["StackStatus"] == "UPDATE_COMPLETE", aws.events("alarms")
    assert cw.describe_alarms(AlarmNames=["stack-drift"])["MetricAlarms"][0]["Threshold"] == 0.3
    history = [h["HistorySummary"] for h in cw.describe_alarm_history(
        AlarmName="stack-drift", HistoryItemType="ConfigurationUpdate")["AlarmHistoryItems"]]
    assert history == ['Alarm "stack-drift" updated', 'Alarm "stack-drift" created']  # updated in place

    aws.cfn.delete_stack(StackName="alarms")
    assert aws.stack_done(stack_id)["StackStatus"] == "DELETE_COMPLETE"
    assert cw.describe_alarms(AlarmNames=["stack-drift"])["MetricAlarms"] == []


def test_an_alarm_cloudwatch_refuses_fails_the_stack_with_its_message(aws):
    bad = json.loads(json.dumps(ALARM))
    bad["Properties"]["TreatMissingData"] = "sometimes"
    aws.cfn.create_stack(StackName="bad-alarm", TemplateBody=template(bad))
    assert aws.stack_done("bad-alarm")["StackStatus"] == "ROLLBACK_COMPLETE"
    reasons = [reason or "" for _, status, reason in aws.events("bad-alarm") if status == "CREATE_FAILED"]
    assert any("Supported options for parameter TreatMissingData" in r for r in reasons), reasons
