"""What moto's own tests found: StartExecution refuses the names Step Functions refuses (moto's interpreter took
them), and a nameless start still gets a generated name."""

import json

import pytest
from botocore.exceptions import ClientError

from testkit.stepfunctions import finished

PASS = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


def test_an_execution_name_step_functions_refuses_is_refused(clients, machine_role):
    sfn = clients("stepfunctions")
    arn = sfn.create_state_machine(name="names", definition=PASS, roleArn=machine_role())["stateMachineArn"]
    for name, message in (("t" * 81, f"1 validation error detected: Value '{'t' * 81}' at 'name' failed to satisfy "
                                     "constraint: Member must have length less than or equal to 80"),
                          ("with space", "Invalid Name: 'with space'")):
        with pytest.raises(ClientError) as error:
            sfn.start_execution(stateMachineArn=arn, name=name)
        assert error.value.response["Error"]["Message"] == message
    assert sfn.list_executions(stateMachineArn=arn)["executions"] == []
    execution = sfn.start_execution(stateMachineArn=arn, name="t" * 80)["executionArn"]
    assert finished(sfn, execution)["status"] == "SUCCEEDED"
    assert sfn.start_execution(stateMachineArn=arn)["executionArn"].rsplit(":", 1)[1] != "None"
