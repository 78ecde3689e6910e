"""An EventBridge rule whose target is a pipeline starts it as EventBridge does: StartPipelineExecution signed by the
target's role, assumed as events.amazonaws.com for that rule; a role that cannot be assumed for the rule, or may not
start that pipeline, or no role, starts nothing."""

import json

import pytest

from testkit.localcloud import (ACCOUNT, PIPELINE_SETTINGS, REGION, approval_action, source_action, starter_role)
from testkit.waiting import wait_for


@pytest.fixture
def cloud_settings():
    return dict(PIPELINE_SETTINGS)


def held_pipeline(aws, name):
    aws.source("app.zip", {"a.txt": "a"})
    first = aws.pipeline(name, [{"name": "Source", "actions": [source_action("Fetch", "app.zip", "Src")]},
                                {"name": "Approve", "actions": [approval_action("Check")]}])
    return first, f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{name}"


def executions(aws, name):
    return aws.cp.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]


def test_a_matching_event_starts_the_pipeline_with_the_targets_role(aws):
    first, arn = held_pipeline(aws, "on-event")
    events = aws.clients("events")
    rule = events.put_rule(Name="go", EventPattern=json.dumps({"source": ["workshop.test"]}))["RuleArn"]
    role = starter_role(aws.clients("iam"), "go-starter", arn, rule)
    events.put_targets(Rule="go", Targets=[{"Id": "pipeline", "Arn": arn, "RoleArn": role}])
    events.put_events(Entries=[{"Source": "workshop.test", "DetailType": "Test", "Detail": "{}"}])
    started = [e for e in executions(aws, "on-event") if e["pipelineExecutionId"] != first]
    assert [e["trigger"] for e in started] == [{"triggerType": "CloudWatchEvent", "triggerDetail": rule}]
    assert any(d["action"] == "codepipeline:StartPipelineExecution" and d["allowed"]
               for d in aws.cloud.service("iam").decisions(role))


def test_a_role_that_may_not_start_the_pipeline_starts_nothing(aws):
    first, arn = held_pipeline(aws, "guarded")
    events, iam = aws.clients("events"), aws.clients("iam")
    rule = events.put_rule(Name="poke", EventPattern=json.dumps({"source": ["workshop.test"]}))["RuleArn"]
    other = starter_role(iam, "other-pipeline", f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:another", rule)
    wrong_rule = starter_role(iam, "other-rule", arn, f"arn:aws:events:{REGION}:{ACCOUNT}:rule/another")
    events.put_targets(Rule="poke", Targets=[{"Id": "a", "Arn": arn, "RoleArn": other},
                                             {"Id": "b", "Arn": arn, "RoleArn": wrong_rule},
                                             {"Id": "c", "Arn": arn}])
    events.put_events(Entries=[{"Source": "workshop.test", "DetailType": "Test", "Detail": "{}"}])
    assert [e["pipelineExecutionId"] for e in executions(aws, "guarded")] == [first]
    # The first role may not start this pipeline; the second may not be assumed for this rule; the third is none.
    wait_for(lambda: any(d["action"] == "codepipeline:StartPipelineExecution" and not d["allowed"]
                         for d in aws.cloud.service("iam").decisions(other)), what="the refusal in the decision log")
    wait_for(lambda: any(d["action"] == "sts:AssumeRole" and not d["allowed"]
                         for d in aws.cloud.service("iam").decisions("events.amazonaws.com")),
             what="the refused AssumeRole in the decision log")
