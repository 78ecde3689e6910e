"""Fixtures for the pipeline's Lambda functions, template and packaging: moto, Stubber and a CloudFormation listener."""

import importlib.util
import io
import itertools
import json
import sys
import threading
import types
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from mlops_workshop import REPO_ROOT

REGION = "us-east-1"
ACCOUNT = "123456789012"
PIPELINE = "mlops-pipeline"
ARTIFACT_BUCKET = f"mlops-artifacts-{REGION}-{ACCOUNT}"
DATA_BUCKET = f"mlops-data-{REGION}-{ACCOUNT}"
EXECUTION_ID = "0d9f8c7e-1234-4abc-9def-0123456789ab"
_module_numbers = itertools.count()


def load_lambda(name):
    """Import lambdas/<name>/lambda.py as a fresh module (`lambda` is a keyword, so no plain import)."""
    path = REPO_ROOT / "lambdas" / name / "lambda.py"
    spec = importlib.util.spec_from_file_location(f"lambda_{name}_{next(_module_numbers)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def kit():
    """This module: its constants and helpers (with --import-mode=importlib a test cannot import conftest)."""
    return sys.modules[__name__]


@pytest.fixture
def aws(aws_env):
    """moto for every client made inside the test, with the workshop's two buckets."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (ARTIFACT_BUCKET, DATA_BUCKET):
            s3.create_bucket(Bucket=bucket)
        yield types.SimpleNamespace(s3=s3)


@pytest.fixture
def lambda_module(aws):
    """Load a function's module under moto, its clients made at import as on Lambda."""
    return load_lambda


@pytest.fixture
def context():
    return types.SimpleNamespace(
        aws_request_id="5d1e8a2b-request", log_stream_name="2025/01/01/[$LATEST]0123abcd", function_name="test"
    )


@pytest.fixture
def codepipeline_stub(aws_env):
    """A CodePipeline client with a Stubber: moto has no job or approval calls, so each expected call is scripted."""
    client = boto3.client("codepipeline", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def artifact_zip(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def put_artifact(s3, key, files):
    s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=artifact_zip(files))
    return {
        "name": key.split("/")[1],
        "revision": None,
        "location": {"type": "S3", "s3Location": {"bucketName": ARTIFACT_BUCKET, "objectKey": key}},
    }


def job_event(artifacts, user_parameters=None, job_id="11111111-2222-3333-4444-555555555555"):
    """A CodePipeline job event for a Lambda invoke action, as Lambda receives it."""
    if user_parameters is None:
        user_parameters = json.dumps({"ExecutionId": EXECUTION_ID})
    return {
        "CodePipeline.job": {
            "id": job_id,
            "accountId": ACCOUNT,
            "data": {
                "actionConfiguration": {"configuration": {"FunctionName": "fn", "UserParameters": user_parameters}},
                "inputArtifacts": artifacts,
                "outputArtifacts": [],
                "artifactCredentials": {"accessKeyId": "a", "secretAccessKey": "b", "sessionToken": "c"},
            },
        }
    }


def pipeline_state(stage, action, execution_id=EXECUTION_ID, status="InProgress", token="approval-token"):
    """GetPipelineState's answer with one approval stage; `status` None leaves the action without an execution."""
    action_state = {"actionName": action}
    if status:
        action_state["latestExecution"] = {"status": status}
        if status == "InProgress":
            action_state["latestExecution"]["token"] = token
    return {
        "pipelineName": PIPELINE,
        "pipelineVersion": 1,
        "stageStates": [
            {
                "stageName": "Source",
                "latestExecution": {"pipelineExecutionId": execution_id, "status": "Succeeded"},
                "actionStates": [],
            },
            {
                "stageName": stage,
                "latestExecution": {"pipelineExecutionId": execution_id, "status": status or "InProgress"},
                "actionStates": [action_state],
            },
        ],
    }


class _Capture(BaseHTTPRequestHandler):
    def do_PUT(self):  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.server.received.set()

    def log_message(self, *args):
        pass


@pytest.fixture
def cfn_listener():
    """A local HTTP server standing in for CloudFormation's pre-signed ResponseURL; it keeps every PUT."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    server.requests = []
    server.received = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/cfn-response?signature=abc"
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
