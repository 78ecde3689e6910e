"""A state machine's tasks run as its role: what the role may not do fails the task with the service's AccessDenied,
as Step Functions reports it, and a Catch routes it; a role Step Functions may not assume fails the task with
States.Permissions. The machines and their runs survive a restart; a run the restart interrupted ends FAILED."""

import json
import re

import boto3
import pytest
from moto.moto_api._internal.models import moto_api_backend

from mlops_workshop.localcloud import LocalCloud
from testkit.localcloud import ACCOUNT, REGION, trust, zip_of
from testkit.stepfunctions import MACHINE_ROLE, allow, events, finished, machine, output, pass_role, task

HANDLER = "def lambda_handler(event, context):\n    return {'ok': True}\n"
DENIED = ("User: arn:aws:sts::{account}:assumed-role/states-test/[A-Za-z]{{32}} is not authorized to perform: "
          "{action} on resource: {resource} because no identity-based policy allows the {action} action")


def caught(described):
    assert described["status"] == "SUCCEEDED", described
    return output(described)["Error"]


@pytest.fixture
def function(make_function):
    return make_function("greeter", HANDLER, Timeout=10)


def test_an_invoke_the_role_does_not_allow_is_lambdas_access_denied_routed_by_catch(run_machine, machine_role,
                                                                                    function):
    role = machine_role(allow("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:other"))
    error = caught(run_machine(machine(task("arn:aws:states:::lambda:invoke", {"FunctionName": function})), role))
    assert error["Error"] == "Lambda.AWSLambdaException"
    assert re.fullmatch(DENIED.format(account=ACCOUNT, action="lambda:InvokeFunction", resource=function)
                        + r" \(Service: AWSLambda; Status Code: 403; Error Code: AccessDeniedException; "
                          r"Request ID: [0-9a-f-]+; Proxy: null\)", error["Cause"]), error["Cause"]


def test_a_function_arn_resource_is_refused_the_same_way(run_machine, machine_role, function):
    done = run_machine(machine(task(function)), machine_role())
    assert caught(done)["Error"] == "Lambda.AWSLambdaException"
    assert events(done, "LambdaFunctionFailed")[0]["lambdaFunctionFailedEventDetails"]["error"] == \
        "Lambda.AWSLambdaException"


def test_what_the_role_allows_runs_and_is_recorded_as_the_roles_session(run_machine, machine_role, function, cloud):
    role = machine_role(allow("lambda:InvokeFunction", [function, f"{function}:*"]))
    done = run_machine(machine(task("arn:aws:states:::lambda:invoke", {"FunctionName": function})), role)
    assert output(done)["Payload"] == {"ok": True}
    invokes = [d for d in cloud.service("iam").decisions(role) if d["action"] == "lambda:InvokeFunction"]
    assert invokes and invokes[-1]["allowed"] and invokes[-1]["resource"] == function
    assert re.fullmatch(rf"arn:aws:sts::{ACCOUNT}:assumed-role/states-test/[A-Za-z]{{32}}", invokes[-1]["principal"])


def test_a_sagemaker_call_the_role_does_not_allow_is_amazon_sagemaker_exception(run_machine, machine_role,
                                                                                sagemaker_role):
    role = machine_role(pass_role(sagemaker_role))
    model = {"ModelName": "refused", "ExecutionRoleArn": sagemaker_role, "PrimaryContainer": {"Image": "x"}}
    error = caught(run_machine(machine(task("arn:aws:states:::sagemaker:createModel", model)), role))
    assert error["Error"] == "SageMaker.AmazonSageMakerException"
    resource = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/refused"
    assert re.match(DENIED.format(account=ACCOUNT, action="sagemaker:CreateModel", resource=resource), error["Cause"])
    assert "(Service: AmazonSageMaker; Status Code: 400; Error Code: AccessDeniedException;" in error["Cause"]


def test_a_role_passed_in_the_parameters_is_judged_as_the_machines_role_passing_it(run_machine, machine_role,
                                                                                   sagemaker_role):
    role = machine_role(allow("sagemaker:CreateModel", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/*"))
    model = {"ModelName": "unpassed", "ExecutionRoleArn": sagemaker_role, "PrimaryContainer": {"Image": "x"}}
    error = caught(run_machine(machine(task("arn:aws:states:::sagemaker:createModel", model)), role))
    assert error["Error"] == "SageMaker.AmazonSageMakerException"
    assert re.match(DENIED.format(account=ACCOUNT, action="iam:PassRole", resource=sagemaker_role), error["Cause"])


def test_a_trust_policy_naming_the_state_machine_lets_it_and_no_other_run_as_the_role(clients, run_machine,
                                                                                      machine_role, function):
    sfn = clients("stepfunctions")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:trusted"},
                      "StringEquals": {"aws:SourceAccount": ACCOUNT}}}]})
    role = machine_role(allow("lambda:InvokeFunction", [function, f"{function}:*"]), trust_policy=trust)
    definition = json.dumps(machine(task("arn:aws:states:::lambda:invoke", {"FunctionName": function})))
    for name in ("trusted", "untrusted"):
        arn = sfn.create_state_machine(name=name, definition=definition, roleArn=role)["stateMachineArn"]
        done = finished(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])
        if name == "trusted":
            assert output(done)["Payload"] == {"ok": True}
        else:
            error = caught(done)
            assert error["Error"] == "States.Permissions"
            assert f"could not assume the role {role}" in error["Cause"]


def test_a_role_step_functions_may_not_assume_fails_the_task_with_states_permissions(run_machine, machine_role,
                                                                                     function):
    role = machine_role(allow("lambda:InvokeFunction", "*"), trust_policy=trust("lambda.amazonaws.com"))
    error = caught(run_machine(machine(task(function)), role))
    assert error["Error"] == "States.Permissions"
    assert MACHINE_ROLE in error["Cause"]


def test_a_tasks_credentials_field_runs_it_as_that_role_assumed_by_the_machines_role(clients, run_machine,
                                                                                    machine_role, function):
    iam = clients("iam")
    worker = iam.create_role(RoleName="worker", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": MACHINE_ROLE},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    iam.put_role_policy(RoleName="worker", PolicyName="invoke", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [allow("lambda:InvokeFunction", [function, f"{function}:*"])]}))
    role = machine_role(allow("sts:AssumeRole", worker))
    as_worker = task("arn:aws:states:::lambda:invoke", {"FunctionName": function}, Credentials={"RoleArn": worker})
    assert output(run_machine(machine(as_worker), role))["Payload"] == {"ok": True}

    as_itself = task("arn:aws:states:::lambda:invoke", {"FunctionName": function})
    assert caught(run_machine(machine(as_itself), role))["Error"] == "Lambda.AWSLambdaException"


def test_a_restart_keeps_the_machines_ends_a_running_execution_and_tasks_run_as_the_role_again(tmp_path, aws_env):
    def started():
        instance = LocalCloud(tmp_path / "cloud", port=0, region=REGION, settings={"persist_interval_s": 0.2})
        instance.start()
        return instance, lambda service: boto3.client(
            service, endpoint_url=instance.endpoint_url, region_name=REGION, aws_access_key_id="localcloud",
            aws_secret_access_key="localcloud")

    first, client = started()
    try:
        iam, sfn = client("iam"), client("stepfunctions")
        iam.create_role(RoleName="fn", AssumeRolePolicyDocument=trust("lambda.amazonaws.com"))
        function = client("lambda").create_function(
            FunctionName="greeter", Runtime="python3.12", Role=f"arn:aws:iam::{ACCOUNT}:role/fn",
            Handler="lambda.lambda_handler", Code={"ZipFile": zip_of({"lambda.py": HANDLER})})["FunctionArn"]
        iam.create_role(RoleName="states-test", AssumeRolePolicyDocument=trust("states.amazonaws.com"))
        iam.put_role_policy(RoleName="states-test", PolicyName="invoke", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [allow("lambda:InvokeFunction", [function, f"{function}:*"])]}))
        waits = sfn.create_state_machine(name="waits", roleArn=MACHINE_ROLE, definition=json.dumps(
            {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}))
        invokes = sfn.create_state_machine(name="invokes", roleArn=MACHINE_ROLE, definition=json.dumps(
            machine(task("arn:aws:states:::lambda:invoke", {"FunctionName": function}))))
        waiting = sfn.start_execution(stateMachineArn=waits["stateMachineArn"])["executionArn"]
        done = finished(sfn, sfn.start_execution(stateMachineArn=invokes["stateMachineArn"])["executionArn"])
        assert output(done)["Payload"] == {"ok": True}
    finally:
        first.stop()

    second, client = started()
    try:
        sfn = client("stepfunctions")
        assert {m["name"] for m in sfn.list_state_machines()["stateMachines"]} == {"waits", "invokes"}
        interrupted = sfn.describe_execution(executionArn=waiting)
        assert interrupted["status"] == "FAILED" and "The local cloud stopped" in interrupted["cause"]
        assert sfn.describe_execution(executionArn=done["executionArn"])["status"] == "SUCCEEDED"
        again = finished(sfn, sfn.start_execution(stateMachineArn=invokes["stateMachineArn"])["executionArn"])
        assert output(again)["Payload"] == {"ok": True}
    finally:
        second.stop()
        moto_api_backend.reset()
