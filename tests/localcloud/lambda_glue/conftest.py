"""Helpers for the Lambda, Glue, EventBridge, CodeCommit and Step Functions tests."""

import io
import json
import time
import zipfile

import pytest

ROLE_ARN = "arn:aws:iam::123456789012:role/localcloud-test"


def zip_of(files):
    """A .zip code package holding these {name: text} files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _wait_for(check, timeout=20.0, interval=0.1, what="the condition"):
    """Poll check() until it returns something truthy; fail the test with `what` after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def wait_for():
    """wait_for(check, timeout, what=...) polls check() until it returns something truthy, and returns it."""
    return _wait_for


@pytest.fixture
def make_zip():
    return zip_of


@pytest.fixture
def make_function(clients):
    """make_function(name, code, **settings) -> the function's ARN; code is lambda.py's text."""
    lam = clients("lambda")
    clients("iam").create_role(RoleName=ROLE_ARN.rsplit("/", 1)[1], AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                       "Action": "sts:AssumeRole"}]}))

    def make(name, code, handler="lambda.lambda_handler", **settings):
        response = lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE_ARN, Handler=handler,
                                       Code={"ZipFile": zip_of({"lambda.py": code})}, **settings)
        return response["FunctionArn"]
    return make
