"""Step Functions: a state machine's Lambda tasks run the real function, to success and to a Catch branch."""

import json

import pytest
from testkit.waiting import wait_for

HANDLER = '''
def lambda_handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail at " + str(event["n"]))
    return {"doubled": event["n"] * 2}
'''


def machine(task):
    return json.dumps({
        "StartAt": "Work",
        "States": {
            "Work": {**task, "Next": "Done",
                     "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}]},
            "Done": {"Type": "Succeed"},
            "Failed": {"Type": "Pass", "Result": "caught", "ResultPath": "$.branch", "End": True},
        },
    })


def run(clients, machine_arn, execution_input):
    sfn = clients("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=machine_arn, input=json.dumps(execution_input))["executionArn"]

    def finished():
        described = sfn.describe_execution(executionArn=execution)
        return described if described["status"] != "RUNNING" else None
    return wait_for(finished, timeout=30, what="the execution to end")


@pytest.mark.parametrize("form", ["function-arn", "lambda:invoke"])
def test_a_lambda_task_runs_the_function_to_success_and_to_catch(clients, make_function, form):
    fn_arn = make_function("doubler", HANDLER, Timeout=10)
    if form == "function-arn":
        task = {"Type": "Task", "Resource": fn_arn}
    else:
        task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": fn_arn, "Payload.$": "$"}, "OutputPath": "$.Payload"}
    machine_arn = clients("stepfunctions").create_state_machine(
        name="doubling", definition=machine(task), roleArn="arn:aws:iam::123456789012:role/sfn")["stateMachineArn"]

    done = run(clients, machine_arn, {"n": 21})
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"doubled": 42}

    caught = run(clients, machine_arn, {"n": 3, "fail": True})
    assert caught["status"] == "SUCCEEDED", caught
    output = json.loads(caught["output"])
    assert output["branch"] == "caught"
    assert output["error"]["Error"] == "ValueError"
    assert "asked to fail at 3" in output["error"]["Cause"]
