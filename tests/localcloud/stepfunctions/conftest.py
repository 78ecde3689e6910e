"""What the Step Functions tests share: the stand-in image for SageMaker's jobs, a role Step Functions runs a
machine as (granted what each test says), the role SageMaker's jobs run as, and runs of a state machine."""

import json

import pytest

from testkit.localcloud import FAKE_IMAGE_SETTINGS, execution_role, trust
from testkit.stepfunctions import finished


@pytest.fixture
def cloud_settings():
    """The stand-in image (tiny `train` and `serve`) for the SageMaker tasks' jobs."""
    return dict(FAKE_IMAGE_SETTINGS)


@pytest.fixture
def machine_role(clients):
    """machine_role(*statements, name=..., trust_policy=...) -> the ARN of a role states.amazonaws.com may assume,
    allowed only these statements."""
    iam = clients("iam")

    def make(*statements, name="states-test", trust_policy=None):
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy or trust("states.amazonaws.com"))
        if statements:
            iam.put_role_policy(RoleName=name, PolicyName="tasks", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": list(statements)}))
        return role["Role"]["Arn"]
    return make


@pytest.fixture
def sagemaker_role(clients, data_bucket):
    """The role the jobs and models run as (SageMaker may assume it), and the data bucket they read."""
    return execution_role(clients)


@pytest.fixture
def run_machine(clients):
    """run_machine(definition, role_arn, execution_input=None) -> the run's DescribeExecution at its end, with its
    history; the state machine is made once per definition."""
    sfn = clients("stepfunctions")
    made = {}

    def run(definition, role_arn, execution_input=None, timeout=90):
        text = json.dumps(definition)
        if text not in made:
            made[text] = sfn.create_state_machine(name=f"machine-{len(made)}", definition=text,
                                                  roleArn=role_arn)["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=made[text], input=json.dumps(execution_input or {}))
        return finished(sfn, execution["executionArn"], timeout)
    return run
