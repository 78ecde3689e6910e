"""A function runs with its execution role's temporary credentials: its calls are judged against its role, and a warm
environment never outlives its credentials."""

import json

import pytest
from botocore.exceptions import ClientError
from testkit.localcloud import ACCOUNT, trust, zip_of
from testkit.waiting import wait_for

ROLE = "reader"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
BUCKET = "lambda-credentials-test"

CALLS = '''
import os
import boto3
from botocore.exceptions import ClientError

s3 = boto3.client("s3")

def lambda_handler(event, context):
    answer = {"key": os.environ["AWS_ACCESS_KEY_ID"], "token": bool(os.environ.get("AWS_SESSION_TOKEN")),
              "caller": boto3.client("sts").get_caller_identity()["Arn"],
              "listed": [o["Key"] for o in s3.list_objects_v2(Bucket="%(bucket)s").get("Contents", [])]}
    try:
        s3.put_object(Bucket="%(bucket)s", Key="written", Body=b"x")
        answer["put"] = "allowed"
    except ClientError as error:
        answer["put"] = [error.response["Error"]["Code"], error.response["Error"]["Message"]]
    return answer
''' % {"bucket": BUCKET}


@pytest.fixture
def cloud_settings():
    # Short sessions, so that the test sees an environment renewed with new credentials.
    return {"lambda_role_session_s": 12}


@pytest.fixture
def reader(clients):
    """A function whose role may list the test bucket and nothing else."""
    iam, s3 = clients("iam"), clients("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="present", Body=b"x")
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=trust("lambda.amazonaws.com"))
    iam.put_role_policy(RoleName=ROLE, PolicyName="list", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}"}]}))
    clients("lambda").create_function(FunctionName="reader", Runtime="python3.12", Role=ROLE_ARN,
                                      Handler="lambda.lambda_handler", Timeout=5,  # a cold start under load
                                      Code={"ZipFile": zip_of({"lambda.py": CALLS})})
    return "reader"


def invoke(clients, name):
    response = clients("lambda").invoke(FunctionName=name)
    answer = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, answer
    return answer


def test_a_function_calls_as_its_role_and_a_call_outside_it_is_denied(clients, reader):
    answer = invoke(clients, reader)
    assert answer["token"] is True
    assert answer["key"].startswith("ASIA")
    assert answer["caller"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/reader"
    assert answer["listed"] == ["present"]
    code, message = answer["put"]
    assert code == "AccessDenied"
    assert message == (f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/reader is not authorized to perform: "
                       f"s3:PutObject on resource: \"arn:aws:s3:::{BUCKET}/written\" because no identity-based policy "
                       "allows the s3:PutObject action")


def test_a_warm_environment_is_replaced_before_its_credentials_expire(clients, reader):
    first = invoke(clients, reader)["key"]
    assert invoke(clients, reader)["key"] == first, "a warm environment keeps its credentials"
    renewed = wait_for(lambda: invoke(clients, reader)["key"] != first, timeout=40, interval=1,
                       what="an environment with new credentials")
    assert renewed


def test_a_role_that_no_longer_trusts_lambda_fails_the_invoke(clients, reader):
    clients("iam").update_assume_role_policy(RoleName=ROLE, PolicyDocument=trust("ec2.amazonaws.com"))
    with pytest.raises(ClientError) as raised:
        clients("lambda").invoke(FunctionName=reader)
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    assert raised.value.response["Error"]["Message"] == "The role defined for the function cannot be assumed by Lambda."
