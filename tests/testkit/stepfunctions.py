"""Step Functions in tests: policy statements, state machines of Task states, runs waited for to their end."""

import json

from testkit.localcloud import ACCOUNT
from testkit.waiting import wait_for

MACHINE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/states-test"


def allow(actions, resources="*", **condition):
    """One Allow statement (a condition as keyword: StringEquals={...})."""
    statement = {"Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def pass_role(role_arn, service="sagemaker.amazonaws.com"):
    return allow("iam:PassRole", role_arn, StringEquals={"iam:PassedToService": service})


def finished(sfn, execution_arn, timeout=90):
    """DescribeExecution once the execution ended, with its "history" (the events, oldest first) added."""
    def ended():
        described = sfn.describe_execution(executionArn=execution_arn)
        return described if described["status"] != "RUNNING" else None
    described = wait_for(ended, timeout, 0.1, f"execution {execution_arn} to end")
    described["history"] = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return described


def task(resource, parameters=None, **fields):
    """A Task state whose every error goes to the state Caught, with the error at $.Error."""
    state = {"Type": "Task", "Resource": resource, "End": True,
             "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.Error", "Next": "Caught"}]}
    if parameters is not None:
        state["Parameters"] = parameters
    state.update(fields)
    return state


def machine(*states, caught=True):
    """A state machine of these Task states in order (Task1, Task2, ...) and, with `caught`, a Caught Pass state."""
    names = [f"Task{i + 1}" for i in range(len(states))]
    body = {}
    for index, (name, state) in enumerate(zip(names, states)):
        state = dict(state)
        if index + 1 < len(states):
            state.pop("End", None)
            state["Next"] = names[index + 1]
        body[name] = state
    if caught:
        body["Caught"] = {"Type": "Pass", "End": True}
    return {"StartAt": names[0], "States": body}


def output(described):
    return json.loads(described["output"])


def events(described, kind):
    """The run's events of one type (TaskScheduled, TaskFailed, ...)."""
    return [event for event in described["history"] if event["type"] == kind]
