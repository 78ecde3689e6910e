"""Actions that never report: each fails after its timeout, or as soon as its function ended without a result,
with a message that says which; the execution does not hang."""

import pytest
from testkit.localcloud import approval_action, lambda_action, source_action

SILENT = '''
def lambda_handler(event, context):
    return "started something, reported nothing"
'''

CRASHES = '''
def lambda_handler(event, context):
    raise ValueError("no job.json in the input artifact")
'''

SLOW = '''
import time

def lambda_handler(event, context):
    time.sleep(20)
'''


@pytest.fixture
def cloud_settings():
    return {"codepipeline": {"poll_seconds": 0, "lambda_result_grace_seconds": 1.0,
                             "timeouts": {"Manual": 1, "Lambda": 8}}}


def test_actions_that_never_report_fail_with_a_message_that_says_so(aws):
    aws.source("app.zip", {"a.txt": "a"})
    aws.function("silent", SILENT)
    aws.function("crashes", CRASHES)
    aws.function("slow", SLOW, timeout=30)

    def stages(action):
        return [{"name": "Source", "actions": [source_action("Fetch", "app.zip", "Src")]},
                {"name": "Wait", "actions": [action]},
                {"name": "After", "actions": [approval_action("Never")]}]
    started = {name: aws.pipeline(name, stages(action)) for name, action in (
        ("approval", approval_action("Check")),
        ("silent", lambda_action("Run", "silent", ["Src"])),
        ("crashes", lambda_action("Run", "crashes", ["Src"])),
        ("slow", lambda_action("Run", "slow", ["Src"])))}

    expected = {
        "approval": "The action timed out: no one approved or rejected it within its timeout of 1 seconds",
        "silent": "The AWS Lambda function silent failed to return a result.",
        "crashes": "The AWS Lambda function crashes failed before reporting a result: "
                   "ValueError: no job.json in the input artifact",
        "slow": "The action timed out: the Lambda function slow reported no result within its timeout of 8 seconds",
    }
    for name, execution_id in started.items():
        execution = aws.finished(name, execution_id, timeout=40)
        assert execution["status"] == "Failed", name
        state = aws.cp.get_pipeline_state(name=name)["stageStates"]
        latest = state[1]["actionStates"][0]["latestExecution"]
        assert latest["status"] == "Failed"
        assert expected[name] in latest["errorDetails"]["message"], (name, latest)
        assert expected[name] in execution["statusSummary"]
        assert "latestExecution" not in state[2], f"{name}: the stage after the failed one ran"
