"""How executions start and share the pipeline: the trigger each records (CreatePipeline, StartPipelineExecution with
the caller, CloudWatchEvent with the rule), a drift alarm that stays in ALARM starting one execution, not one per
evaluation, and the ExecutionMode deciding what a start during a running execution does."""

import json
import time
from datetime import datetime, timezone

import boto3
import pytest

from testkit.localcloud import (ACCOUNT, ARTIFACTS, PIPELINE_ROLE, PIPELINE_SETTINGS, REGION, approval_action,
                                source_action, starter_role)
from testkit.waiting import wait_for

ADMINISTRATOR = f"arn:aws:iam::{ACCOUNT}:user/localcloud"


@pytest.fixture
def cloud_settings():
    return {**PIPELINE_SETTINGS, "schedule_speedup": 600}


def held_pipeline(aws, name, mode=None):
    """A pipeline whose executions wait at an approval after their source: (first execution, pipeline ARN)."""
    aws.source("app.zip", {"a.txt": "a"})
    stages = [{"name": "Source", "actions": [source_action("Fetch", "app.zip", "Src")]},
              {"name": "Approve", "actions": [approval_action("Check")]}]
    if mode is None:
        first = aws.pipeline(name, stages)
    else:
        aws.cp.create_pipeline(pipeline={"name": name, "roleArn": PIPELINE_ROLE,
                                         "artifactStore": {"type": "S3", "location": ARTIFACTS},
                                         "stages": stages, "executionMode": mode, "pipelineType": "V2"})
        first = wait_for(lambda: aws.cp.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"],
                         30)[0]["pipelineExecutionId"]
    return first, f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{name}"


def executions(aws, name):
    return aws.cp.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]


def status(aws, name, execution_id):
    return aws.cp.get_pipeline_execution(pipelineName=name, pipelineExecutionId=execution_id)[
        "pipelineExecution"]["status"]


def approve(aws, name):
    token = aws.waiting_token(name, "Approve", "Check")
    aws.cp.put_approval_result(pipelineName=name, stageName="Approve", actionName="Check", token=token,
                               result={"summary": "ok", "status": "Approved"})


def test_each_execution_records_how_it_started(aws):
    first, arn = held_pipeline(aws, "started")
    iam = aws.clients("iam")
    role = starter_role(iam, "by-hand", arn)
    iam.update_assume_role_policy(RoleName="by-hand", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                                "Action": "sts:AssumeRole"}]}))
    keys = aws.clients("sts").assume_role(RoleArn=role, RoleSessionName="operator")["Credentials"]
    as_role = boto3.client("codepipeline", endpoint_url=aws.cloud.endpoint_url, region_name=REGION,
                           aws_access_key_id=keys["AccessKeyId"], aws_secret_access_key=keys["SecretAccessKey"],
                           aws_session_token=keys["SessionToken"])
    second = aws.cp.start_pipeline_execution(name="started")["pipelineExecutionId"]
    third = as_role.start_pipeline_execution(name="started")["pipelineExecutionId"]
    triggers = {e["pipelineExecutionId"]: e["trigger"] for e in executions(aws, "started")}
    assert triggers[first] == {"triggerType": "CreatePipeline", "triggerDetail": ADMINISTRATOR}
    assert triggers[second] == {"triggerType": "StartPipelineExecution", "triggerDetail": ADMINISTRATOR}
    assert triggers[third] == {"triggerType": "StartPipelineExecution",
                               "triggerDetail": f"arn:aws:sts::{ACCOUNT}:assumed-role/by-hand/operator"}
    detail = aws.cp.get_pipeline_execution(pipelineName="started", pipelineExecutionId=third)["pipelineExecution"]
    assert detail["trigger"] == triggers[third]


def test_an_alarm_that_stays_in_alarm_starts_one_execution(aws):
    first, arn = held_pipeline(aws, "retrained")
    approve(aws, "retrained")
    aws.finished("retrained", first)
    cw, events = aws.clients("cloudwatch"), aws.clients("events")
    cw.put_metric_alarm(AlarmName="drift", Namespace="drift", MetricName="d", Statistic="Maximum", Period=3600,
                        EvaluationPeriods=1, Threshold=0.2, ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="notBreaching")
    alarm_arn = cw.describe_alarms(AlarmNames=["drift"])["MetricAlarms"][0]["AlarmArn"]
    rule = events.put_rule(Name="retrain", EventPattern=json.dumps({
        "source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"], "resources": [alarm_arn],
        "detail": {"state": {"value": ["ALARM"]}}}))["RuleArn"]
    events.put_targets(Rule="retrain", Targets=[{"Id": "pipeline", "Arn": arn,
                                                 "RoleArn": starter_role(aws.clients("iam"), "retrain", arn, rule)}])

    def drift(value):
        cw.put_metric_data(Namespace="drift", MetricData=[{"MetricName": "d", "Value": value,
                                                           "Timestamp": datetime.now(timezone.utc)}])
    drift(0.05)
    wait_for(lambda: cw.describe_alarms(AlarmNames=["drift"])["MetricAlarms"][0]["StateValue"] == "OK")
    assert len(executions(aws, "retrained")) == 1, "clean data started an execution"
    for _ in range(10):  # breaching for every evaluation of a second (six periods pass on the alarm's clock)
        drift(0.8)
        time.sleep(0.1)
    started = wait_for(lambda: [e for e in executions(aws, "retrained") if e["pipelineExecutionId"] != first])
    time.sleep(1)
    assert cw.describe_alarms(AlarmNames=["drift"])["MetricAlarms"][0]["StateValue"] == "ALARM"
    assert len(executions(aws, "retrained")) == 2
    assert started[0]["trigger"] == {"triggerType": "CloudWatchEvent", "triggerDetail": rule}


def test_queued_executions_wait_their_turn_instead_of_superseding(aws):
    first, _ = held_pipeline(aws, "queued", "QUEUED")
    aws.waiting_token("queued", "Approve", "Check")
    second = aws.cp.start_pipeline_execution(name="queued")["pipelineExecutionId"]
    wait_for(lambda: any(d["pipelineExecutionId"] == second and d["status"] == "Succeeded" for d in
                         aws.cp.list_action_executions(pipelineName="queued")["actionExecutionDetails"]),
             what="the second execution's source")
    third = aws.cp.start_pipeline_execution(name="queued")["pipelineExecutionId"]
    time.sleep(1)
    assert [status(aws, "queued", e) for e in (first, second, third)] == ["InProgress"] * 3
    for done in (first, second, third):
        aws.waiting_token("queued", "Approve", "Check")
        assert aws.stage("queued", "Approve")["latestExecution"]["pipelineExecutionId"] == done
        approve(aws, "queued")
        assert aws.finished("queued", done)["status"] == "Succeeded"
    summaries = executions(aws, "queued")
    assert {s["executionMode"] for s in summaries} == {"QUEUED"}


def test_parallel_executions_do_not_wait_for_each_other(aws):
    first, _ = held_pipeline(aws, "parallel", "PARALLEL")
    second = aws.cp.start_pipeline_execution(name="parallel")["pipelineExecutionId"]

    def waiting_approvals():
        return [d for d in aws.cp.list_action_executions(pipelineName="parallel")["actionExecutionDetails"]
                if d["actionName"] == "Check" and d["status"] == "InProgress"]
    found = wait_for(lambda: len(waiting_approvals()) == 2 and waiting_approvals(), what="both at the approval")
    assert {d["pipelineExecutionId"] for d in found} == {first, second}
