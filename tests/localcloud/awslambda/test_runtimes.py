"""Runtimes past the dates AWS blocks them (cfn-lint's lifecycle data) are refused as Lambda refuses them: at
CreateFunction, UpdateFunctionConfiguration, UpdateFunctionCode, and in a stack."""

import datetime
import json

import pytest
from botocore.exceptions import ClientError
from testkit.localcloud import ROLE_ARN, zip_of
from testkit.waiting import wait_for

from mlops_workshop.localcloud.awslambda.models import runtime_lifecycle, runtime_refusal

CODE = {"ZipFile": zip_of({"lambda.py": "def lambda_handler(event, context):\n    return 1\n"})}
TODAY = datetime.datetime.now(datetime.timezone.utc).date()
BLOCKED = sorted(name for name, dates in runtime_lifecycle().items()
                 if name.startswith("python") and datetime.date.fromisoformat(dates["create-block"]) <= TODAY)


def refused(runtime):
    return (f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
            "functions. We recommend you use a supported runtime while creating or updating functions.")


def test_the_lifecycle_comes_from_cfn_lint_and_blocks_by_its_dates():
    assert {"python2.7", "python3.6", "python3.7"} <= set(BLOCKED)
    assert "python3.12" not in BLOCKED
    blocked_on = datetime.date.fromisoformat(runtime_lifecycle()["python3.8"]["create-block"])
    assert runtime_refusal("python3.8", "create", today=blocked_on) == refused("python3.8")
    assert runtime_refusal("python3.8", "create", today=blocked_on - datetime.timedelta(days=1)) is None
    assert runtime_refusal("python3.13", "create") is None and runtime_refusal("nosuch", "create") is None


@pytest.mark.parametrize("runtime", BLOCKED)
def test_create_function_refuses_a_blocked_runtime(clients, make_function, runtime):
    with pytest.raises(ClientError) as raised:
        clients("lambda").create_function(FunctionName="old", Runtime=runtime, Role=ROLE_ARN,
                                          Handler="lambda.lambda_handler", Code=CODE)
    error = raised.value.response
    assert error["Error"]["Code"] == "InvalidParameterValueException"
    assert error["Error"]["Message"] == refused(runtime)
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError):
        clients("lambda").get_function(FunctionName="old")


def test_update_function_configuration_refuses_a_change_to_a_blocked_runtime(clients, make_function):
    make_function("current", "def lambda_handler(event, context):\n    return 1\n")
    lam = clients("lambda")
    with pytest.raises(ClientError) as raised:
        lam.update_function_configuration(FunctionName="current", Runtime="python3.7")
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert raised.value.response["Error"]["Message"] == refused("python3.7")
    assert lam.get_function_configuration(FunctionName="current")["Runtime"] == "python3.12"
    lam.update_function_configuration(FunctionName="current", Runtime="python3.13")
    assert lam.get_function_configuration(FunctionName="current")["Runtime"] == "python3.13"


def test_a_stack_gets_the_refusal_as_the_functions_create_failed_reason(clients, make_function):
    template = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"Old": {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Runtime": "python3.7", "Handler": "index.handler", "Role": ROLE_ARN,
                       "Code": {"ZipFile": "def handler(event, context):\n    return 1\n"}}}}}
    cfn = clients("cloudformation")
    cfn.create_stack(StackName="old-runtime", TemplateBody=json.dumps(template), OnFailure="DO_NOTHING")

    def ended():
        stack = cfn.describe_stacks(StackName="old-runtime")["Stacks"][0]
        return stack if not stack["StackStatus"].endswith("IN_PROGRESS") else None
    stack = wait_for(ended, what="the stack to end")
    assert stack["StackStatus"] == "CREATE_FAILED"
    events = cfn.describe_stack_events(StackName="old-runtime")["StackEvents"]
    [failed] = [e for e in events if e["LogicalResourceId"] == "Old" and e["ResourceStatus"] == "CREATE_FAILED"]
    assert refused("python3.7") in failed["ResourceStatusReason"]
    assert "InvalidParameterValueException" in failed["ResourceStatusReason"]
    assert [f for f in clients("lambda").list_functions()["Functions"] if f["Runtime"] == "python3.7"] == []
