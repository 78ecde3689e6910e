"""Lambda Invoke runs the deployed code package: results, errors, timeouts, memory, Event invocations; a package in
S3 is read with the caller's credentials."""

import base64
import json
import re
import time

import pytest
from botocore.exceptions import ClientError
from testkit.localcloud import ACCOUNT, service_role, zip_of
from testkit.waiting import wait_for



def payload_of(response):
    return json.loads(response["Payload"].read())

ECHO = '''
import json, os

def lambda_handler(event, context):
    print("got", json.dumps(event))
    return {
        "event": event,
        "function_name": context.function_name,
        "request_id": context.aws_request_id,
        "memory": context.memory_limit_in_mb,
        "arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "greeting": os.environ.get("GREETING"),
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        "region": os.environ.get("AWS_REGION"),
    }
'''

RAISES = '''
def fail(value):
    raise ValueError("bad value: " + repr(value))

def lambda_handler(event, context):
    fail(event.get("value"))
'''


def test_invoke_runs_the_handler_with_event_context_and_environment(cloud, clients, make_function):
    arn = make_function("echo", ECHO, Timeout=10, Environment={"Variables": {"GREETING": "hello"}})
    started = time.monotonic()
    response = clients("lambda").invoke(FunctionName="echo", Payload=json.dumps({"n": 1}), LogType="Tail")
    elapsed = time.monotonic() - started
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    result = payload_of(response)
    assert result["event"] == {"n": 1}
    assert result["function_name"] == "echo"
    assert result["memory"] == "128"
    assert result["arn"] == arn
    assert 0 < result["remaining_ms"] <= 10_000
    assert result["greeting"] == "hello"
    assert result["endpoint"] == cloud.endpoint_url
    assert result["region"] == "us-east-1"
    logs = base64.b64decode(response["LogResult"]).decode()
    assert 'got {"n": 1}' in logs
    assert f"REPORT RequestId: {result['request_id']}" in logs
    assert elapsed < 5, f"an invocation took {elapsed:.1f} s"


def test_a_handler_that_raises_returns_lambdas_error_payload(cloud, clients, make_function):
    make_function("raises", RAISES)
    response = clients("lambda").invoke(FunctionName="raises", Payload=b'{"value": 7}')
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    error = payload_of(response)
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "bad value: 7"
    assert any("in fail" in frame for frame in error["stackTrace"])
    assert "[ERROR] ValueError: bad value: 7" in cloud.log_path("lambda", "raises").read_text()


def test_a_handler_that_runs_past_its_timeout_is_stopped(clients, make_function):
    make_function("sleeper", "import time\ndef lambda_handler(event, context):\n    time.sleep(30)\n", Timeout=1)
    started = time.monotonic()
    response = clients("lambda").invoke(FunctionName="sleeper")
    assert time.monotonic() - started < 5
    assert response["FunctionError"] == "Unhandled"
    error = payload_of(response)
    assert error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in error["errorMessage"]


def test_a_handler_that_outgrows_its_memory_size_is_stopped(clients, make_function):
    code = "def lambda_handler(event, context):\n    block = bytearray(400 * 1024 * 1024)\n    return len(block)\n"
    make_function("hungry", code, MemorySize=128, Timeout=20)
    response = clients("lambda").invoke(FunctionName="hungry")
    assert response["FunctionError"] == "Unhandled"
    assert payload_of(response)["errorType"] == "Runtime.OutOfMemory"


def test_a_missing_module_and_a_missing_function_fail_as_lambda_reports_them(clients, make_function):
    make_function("no-module", "x = 1\n", handler="missing.lambda_handler")
    make_function("no-handler", "x = 1\n", handler="lambda.handler")
    lam = clients("lambda")
    assert payload_of(lam.invoke(FunctionName="no-module"))["errorType"] == "Runtime.ImportModuleError"
    assert payload_of(lam.invoke(FunctionName="no-handler"))["errorType"] == "Runtime.HandlerNotFound"


def test_an_unknown_function_is_resource_not_found(cloud, clients):
    with pytest.raises(ClientError) as raised:
        clients("lambda").invoke(FunctionName="nowhere")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_an_event_invocation_returns_202_and_runs_in_the_background(clients, make_function):
    s3, lam = clients("s3"), clients("lambda")
    s3.create_bucket(Bucket="lambda-event-results")
    code = '''
import json, time, boto3
s3 = boto3.client("s3")

def lambda_handler(event, context):
    time.sleep(2)
    s3.put_object(Bucket="lambda-event-results", Key="done.json", Body=json.dumps(event))
'''
    make_function("writer", code, Timeout=10)

    def written():
        listed = s3.list_objects_v2(Bucket="lambda-event-results").get("Contents", [])
        return listed and s3.get_object(Bucket="lambda-event-results", Key="done.json")["Body"].read()
    started = time.monotonic()
    response = lam.invoke(FunctionName="writer", InvocationType="Event", Payload=b'{"k": "v"}')
    assert response["StatusCode"] == 202
    assert time.monotonic() - started < 2 and not written(), "an Event invocation must not wait for the function"
    assert json.loads(wait_for(written, what="the function's S3 object")) == {"k": "v"}


def test_invocations_moto_makes_itself_run_the_code(cloud, make_function):
    # moto's own callers (CloudFormation custom resources) go through LambdaFunction._invoke_lambda.
    make_function("echo", ECHO)
    fn = cloud.backend("lambda").get_function("echo")
    payload, errored, logs = fn._invoke_lambda({"from": "moto"})
    assert not errored
    assert json.loads(payload)["event"] == {"from": "moto"}
    assert "START RequestId" in logs


def test_a_warm_environment_is_reused_and_init_time_is_not_handler_time(clients, make_function):
    code = '''
import time
time.sleep(1.5)
calls = 0

def lambda_handler(event, context):
    global calls
    calls += 1
    return calls
'''
    make_function("counter", code, Timeout=1)
    lam = clients("lambda")
    results = [lam.invoke(FunctionName="counter") for _ in range(3)]
    assert [r.get("FunctionError") for r in results] == [None, None, None]
    assert [payload_of(r) for r in results] == [1, 2, 3]


def test_logs_go_to_the_functions_logging_config_group(cloud, clients, make_function):
    lam, logs = clients("lambda"), clients("logs")
    make_function("plain", ECHO)
    config = lam.get_function_configuration(FunctionName="plain")
    assert config["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/plain"}
    lam.invoke(FunctionName="plain", Payload=b'{"n": 1}')
    [stream] = logs.describe_log_streams(logGroupName="/aws/lambda/plain")["logStreams"]
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", stream["logStreamName"])

    # A custom group, which functions share: Lambda's stream names carry the function's name.
    logs.create_log_group(logGroupName="/mlops/stack/lambda")
    make_function("custom", ECHO, LoggingConfig={"LogGroup": "/mlops/stack/lambda"})
    assert lam.get_function(FunctionName="custom")["Configuration"]["LoggingConfig"] == {
        "LogFormat": "Text", "LogGroup": "/mlops/stack/lambda"}
    lam.invoke(FunctionName="custom", Payload=b'{"n": 2}')
    [stream] = logs.describe_log_streams(logGroupName="/mlops/stack/lambda")["logStreams"]
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/custom\[\$LATEST\][0-9a-f]{32}", stream["logStreamName"])
    events = logs.get_log_events(logGroupName="/mlops/stack/lambda", logStreamName=stream["logStreamName"])["events"]
    assert any(e["message"] == 'got {"n": 2}' for e in events)
    assert logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/custom")["logGroups"] == []

    lam.update_function_configuration(FunctionName="custom", LoggingConfig={"LogFormat": "JSON"})
    assert lam.get_function_configuration(FunctionName="custom")["LoggingConfig"] == {
        "LogFormat": "JSON", "LogGroup": "/mlops/stack/lambda", "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO"}


def test_a_package_in_s3_is_read_with_the_callers_credentials(cloud, clients):
    function_role = service_role(clients, f"arn:aws:iam::{ACCOUNT}:role/packaged", "lambda.amazonaws.com")
    clients("s3").create_bucket(Bucket="packages")
    clients("s3").put_object(Bucket="packages", Key="fn.zip", Body=zip_of({"lambda.py": "def lambda_handler(e, c): 1"}))
    grants = [{"Effect": "Allow", "Action": ["lambda:CreateFunction", "lambda:UpdateFunctionCode", "iam:PassRole"],
               "Resource": "*"}]
    deployer = service_role(clients, f"arn:aws:iam::{ACCOUNT}:role/deployer", "cloudformation.amazonaws.com", grants)
    lam = cloud.client("lambda", credentials=cloud.service("iam").credentials_for(deployer,
                                                                                  "cloudformation.amazonaws.com"))
    request = {"FunctionName": "packaged", "Runtime": "python3.12", "Handler": "lambda.lambda_handler",
               "Role": function_role, "Code": {"S3Bucket": "packages", "S3Key": "fn.zip"}}
    with pytest.raises(ClientError) as refused:
        lam.create_function(**request)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert refused.value.response["Error"]["Message"] == (
        "Your access has been denied by S3, please make sure your request credentials have permission to GetObject "
        "for packages/fn.zip. S3 Error Code: AccessDenied. S3 Error Message: Access Denied")
    clients("lambda").create_function(**{**request, "Code": {"ZipFile": zip_of({"lambda.py": ""})}})
    with pytest.raises(ClientError, match="GetObject for packages/fn.zip"):
        lam.update_function_code(FunctionName="packaged", S3Bucket="packages", S3Key="fn.zip")

    clients("iam").put_role_policy(RoleName="deployer", PolicyName="grants", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": grants + [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::packages/fn.zip"}]}))
    assert lam.create_function(**{**request, "FunctionName": "packaged-2"})["FunctionName"] == "packaged-2"
    lam.update_function_code(FunctionName="packaged", S3Bucket="packages", S3Key="fn.zip")
