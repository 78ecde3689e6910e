"""EventBridge: service state-change events reach Lambda targets through rules; scheduled rules fire."""

import json

import pytest
from testkit.localcloud import service_role, trust
from testkit.waiting import wait_for

EVENTS_ROLE = "arn:aws:iam::123456789012:role/events"

RECORDER = '''
import json, uuid
import boto3

s3 = boto3.client("s3")

def lambda_handler(event, context):
    s3.put_object(Bucket="event-records", Key=f"events/{uuid.uuid4()}.json", Body=json.dumps(event))
'''


@pytest.fixture
def cloud_settings():
    # rate(1 minute) fires every 0.1 s.
    return {"schedule_speedup": 600}


def permit(clients, function_arn, rule_arn):
    """The function's resource-based policy lets EventBridge invoke it for the rule (AWS::Lambda::Permission)."""
    clients("lambda").add_permission(FunctionName=function_arn, StatementId=rule_arn.rsplit("/", 1)[1],
                                     Action="lambda:InvokeFunction", Principal="events.amazonaws.com",
                                     SourceArn=rule_arn)


@pytest.fixture
def recorded(clients, make_function):
    """A Lambda that stores every event it gets; returns (function ARN, records()) ."""
    s3 = clients("s3")
    s3.create_bucket(Bucket="event-records")
    arn = make_function("recorder", RECORDER, Timeout=10)

    def records():
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket="event-records", Prefix="events/").get("Contents", [])]
        return [json.loads(s3.get_object(Bucket="event-records", Key=key)["Body"].read()) for key in keys]
    return arn, records


def test_a_glue_state_change_reaches_the_lambda_target_of_a_matching_rule(clients, recorded):
    arn, records = recorded
    s3, glue, events = clients("s3"), clients("glue"), clients("events")
    s3.put_object(Bucket="event-records", Key="scripts/fail.py", Body="raise SystemExit('no input given')\n")
    # The run fetches its script as the job's role.
    clients("iam").create_role(RoleName="glue", AssumeRolePolicyDocument=trust("glue.amazonaws.com"))
    clients("iam").put_role_policy(RoleName="glue", PolicyName="script", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::event-records/scripts/*"}]}))
    glue.create_job(Name="etl", Role="arn:aws:iam::123456789012:role/glue",
                    Command={"Name": "pythonshell", "ScriptLocation": "s3://event-records/scripts/fail.py"})
    rule = events.put_rule(Name="etl-failed", EventPattern=json.dumps({
        "source": ["aws.glue"], "detail-type": ["Glue Job State Change"],
        "detail": {"jobName": ["etl"], "state": ["FAILED", "TIMEOUT"]}}))["RuleArn"]
    events.put_targets(Rule="etl-failed", Targets=[{"Id": "recorder", "Arn": arn}])
    permit(clients, arn, rule)
    events.put_rule(Name="other-job", EventPattern=json.dumps({
        "source": ["aws.glue"], "detail": {"jobName": ["another"]}}))
    events.put_targets(Rule="other-job", Targets=[{"Id": "recorder", "Arn": arn}])
    events.put_rule(Name="disabled", State="DISABLED", EventPattern=json.dumps({"source": ["aws.glue"]}))
    events.put_targets(Rule="disabled", Targets=[{"Id": "recorder", "Arn": arn}])

    run_id = glue.start_job_run(JobName="etl")["JobRunId"]
    [event] = wait_for(records, what="the Glue event at the Lambda target")
    assert event["source"] == "aws.glue"
    assert event["detail-type"] == "Glue Job State Change"
    assert event["account"] == "123456789012"
    assert event["region"] == "us-east-1"
    assert event["time"].endswith("Z")
    assert event["detail"] == {"jobName": "etl", "severity": "ERROR", "state": "FAILED", "jobRunId": run_id,
                               "message": "no input given"}
    assert glue.get_job_run(JobName="etl", RunId=run_id)["JobRun"]["ErrorMessage"] == "no input given"


def test_put_events_applies_the_targets_input_transformer(clients, recorded):
    arn, records = recorded
    events = clients("events")
    permit(clients, arn, events.put_rule(Name="transformed", EventPattern=json.dumps({"source": ["workshop.test"]}))
           ["RuleArn"])
    events.put_targets(Rule="transformed", Targets=[{"Id": "recorder", "Arn": arn, "InputTransformer": {
        "InputPathsMap": {"state": "$.detail.state", "kind": "$.detail-type"},
        "InputTemplate": '{"state": "<state>", "kind": "<kind>", "fixed": 1}'}}])
    events.put_events(Entries=[{"Source": "workshop.test", "DetailType": "Test Event",
                                "Detail": json.dumps({"state": "DONE"})}])
    [event] = wait_for(records, what="the transformed event")
    assert event == {"state": "DONE", "kind": "Test Event", "fixed": 1}


def test_only_the_rules_the_functions_policy_names_deliver_to_it(cloud, clients, recorded):
    arn, records = recorded
    events = clients("events")
    for name in ("permitted", "unpermitted"):
        rule = events.put_rule(Name=name, EventPattern=json.dumps({"source": ["workshop.test"]}))["RuleArn"]
        events.put_targets(Rule=name, Targets=[{"Id": "recorder", "Arn": arn, "Input": json.dumps({"rule": name})}])
        if name == "permitted":
            permit(clients, arn, rule)
    events.put_events(Entries=[{"Source": "workshop.test", "DetailType": "Test", "Detail": "{}"}])
    decisions = cloud.service("iam").decisions("events.amazonaws.com")
    assert {(d["resource"], d["allowed"]) for d in decisions if d["action"] == "lambda:InvokeFunction"} == {
        (arn, True), (arn, False)}
    assert wait_for(records, what="the permitted rule's event") == [{"rule": "permitted"}]
    witness = events.put_rule(Name="witness", EventPattern=json.dumps({"source": ["workshop.witness"]}))["RuleArn"]
    events.put_targets(Rule="witness", Targets=[{"Id": "recorder", "Arn": arn, "Input": '{"rule": "witness"}'}])
    permit(clients, arn, witness)
    events.put_events(Entries=[{"Source": "workshop.witness", "DetailType": "Test", "Detail": "{}"}])
    wait_for(lambda: len(records()) == 2, what="the witness event")
    assert sorted(r["rule"] for r in records()) == ["permitted", "witness"]


def test_a_matching_event_starts_a_state_machine_target(clients):
    events, sfn = clients("events"), clients("stepfunctions")
    service_role(clients, EVENTS_ROLE, "events.amazonaws.com",
                 [{"Effect": "Allow", "Action": "states:StartExecution", "Resource": "*"}])
    machine = sfn.create_state_machine(name="on-event", roleArn="arn:aws:iam::123456789012:role/sfn", definition=json.dumps(
        {"StartAt": "Take", "States": {"Take": {"Type": "Pass", "InputPath": "$.detail", "End": True}}}))
    events.put_rule(Name="to-sfn", EventPattern=json.dumps({"source": ["workshop.test"]}))
    events.put_targets(Rule="to-sfn", Targets=[{"Id": "sfn", "Arn": machine["stateMachineArn"],
                                                "RoleArn": EVENTS_ROLE}])
    events.put_events(Entries=[{"Source": "workshop.test", "DetailType": "Test", "Detail": '{"k": 1}'}])

    def succeeded():
        runs = sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
        return runs and runs[0]["status"] == "SUCCEEDED" and runs[0]
    run = wait_for(succeeded, what="the state machine execution")
    assert json.loads(sfn.describe_execution(executionArn=run["executionArn"])["output"]) == {"k": 1}


def test_an_enabled_scheduled_rule_fires_its_targets_and_a_disabled_one_does_not(clients):
    events, sqs = clients("events"), clients("sqs")

    def queue_of(name):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def receiver(url):
        received = []

        def at_least(count):
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            received.extend(json.loads(m["Body"]) for m in messages)
            return len(received) >= count
        return received, at_least

    queue, queue_arn = queue_of("ticks")
    rule_arn = events.put_rule(Name="every-minute", ScheduleExpression="rate(1 minute)")["RuleArn"]
    events.put_targets(Rule="every-minute", Targets=[{"Id": "ticks", "Arn": queue_arn}])
    received, at_least = receiver(queue)
    wait_for(lambda: at_least(2), timeout=10, what="two scheduled events")
    assert {e["detail-type"] for e in received} == {"Scheduled Event"}
    assert {e["source"] for e in received} == {"aws.events"}
    assert received[0]["resources"] == [rule_arn]

    events.disable_rule(Name="every-minute")
    # A rule on the same schedule is the clock: once it fired twice after the disable, the disabled rule had its turns.
    witness, witness_arn = queue_of("witness")
    events.put_rule(Name="witness", ScheduleExpression="rate(1 minute)")
    events.put_targets(Rule="witness", Targets=[{"Id": "witness", "Arn": witness_arn}])
    _, witnessed = receiver(witness)
    wait_for(lambda: witnessed(1), timeout=10, what="the witness rule's first firing")
    sqs.purge_queue(QueueUrl=queue)  # what a firing under way at the disable delivered
    wait_for(lambda: witnessed(3), timeout=10, what="two more firings of the witness rule")
    assert sqs.receive_message(QueueUrl=queue).get("Messages", []) == [], "a disabled rule fired"


def test_cron_schedules_find_their_next_time():
    from datetime import datetime

    from mlops_workshop.localcloud.events.schedules import ScheduleError, parse_schedule
    at = datetime(2024, 1, 31, 10, 30)  # a Wednesday
    assert parse_schedule("cron(0 12 * * ? *)").next_after(at) == datetime(2024, 1, 31, 12, 0)
    assert parse_schedule("cron(15 10 ? * MON-FRI *)").next_after(at) == datetime(2024, 2, 1, 10, 15)
    assert parse_schedule("cron(0/20 * * * ? *)").next_after(at) == datetime(2024, 1, 31, 10, 40)
    assert parse_schedule("cron(0 0 L * ? *)").next_after(at) == datetime(2024, 2, 29, 0, 0)
    assert parse_schedule("cron(0 8 1 JAN ? 2025)").next_after(at) == datetime(2025, 1, 1, 8, 0)
    assert parse_schedule("rate(5 minutes)").next_after(at) == datetime(2024, 1, 31, 10, 35)
    with pytest.raises(ScheduleError):
        parse_schedule("cron(0 12 * * ?)")
    with pytest.raises(ScheduleError):
        parse_schedule("every day")
