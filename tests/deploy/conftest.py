"""Fixtures for the deployment and system-test assets: the scripts loaded as modules, moto, Lambdas that run.

moto's Lambda invoke without Docker only echoes its payload; `lambdas_run` makes every invocation moto makes
(the Invoke API and Step Functions' Lambda tasks alike) run the function's deployed package in-process.
"""

import importlib.util
import io
import json
import sys
import traceback
import uuid
import zipfile

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaFunction

from mlops_workshop.config import WorkshopNames
from mlops_workshop.packaging import upload_lambda_packages

REGION = "us-east-1"
NAMES = WorkshopNames()
MODEL = NAMES.model_name
ROLE_ARN = f"arn:aws:iam::{NAMES.account}:role/mlops-sagemaker"
IMAGE = f"{NAMES.account}.dkr.ecr.{REGION}.amazonaws.com/{NAMES.image_repo_name}:latest"
MONITOR_IMAGE = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"


def load_module(path, name=None):
    """Import a file under a unique name (build.py twice, lambda.py many times)."""
    name = name or f"deploy_test_{path.parent.name}_{path.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def kit():
    """This module: its constants and helpers (with --import-mode=importlib a test cannot import conftest)."""
    return sys.modules[__name__]


@pytest.fixture
def container_build(repo_root):
    return load_module(repo_root / "container" / "build.py")


@pytest.fixture
def workflow_build(repo_root):
    return load_module(repo_root / "tests" / "system_test" / "build.py")


@pytest.fixture
def lambda_module(repo_root, aws):
    """lambdas/<name>/lambda.py, imported inside moto so that its module-level clients talk to moto."""
    return lambda name: load_module(repo_root / "lambdas" / name / "lambda.py")


@pytest.fixture
def aws(aws_env):
    """moto in-process, with Step Functions interpreting state machines for real."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.session.Session(region_name=REGION)


class DeployedLambdas:
    """Runs a deployed function's package in-process; `setup[name](module)` adjusts a freshly loaded module."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.setup = {}
        self.calls = []

    def run(self, function, event):
        folder = self.tmp_path / f"{function.function_name}-{uuid.uuid4().hex[:6]}"
        with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
            archive.extractall(folder)
        module_file, handler_name = function.handler.rsplit(".", 1)
        module = load_module(folder / f"{module_file}.py")
        for name, adjust in self.setup.items():
            if name in function.function_name:
                adjust(module)
        self.calls.append((function.function_name, event))
        try:
            result = getattr(module, handler_name)(event, None)
        except Exception as error:  # noqa: BLE001 - the error is the function's answer, as Lambda gives it
            payload = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_exception(error)[-3:],
            }
            return json.dumps(payload), True, ""
        finally:
            sys.modules.pop(module.__name__, None)
        return json.dumps(result), False, ""


@pytest.fixture
def lambdas_run(monkeypatch, tmp_path):
    deployed = DeployedLambdas(tmp_path)

    def invoke(function, event=None):
        return deployed.run(function, event or {})

    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", invoke)
    return deployed


@pytest.fixture
def buckets(aws):
    """The workshop's two buckets, versioned like the real ones, with the Lambda packages uploaded."""
    s3 = aws.client("s3")
    for bucket in (NAMES.data_bucket, NAMES.artifact_bucket):
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    upload_lambda_packages(s3, NAMES.artifact_bucket, NAMES.lambda_prefix)
    return NAMES


def register_package(sm, execution_id, approved=False, group=MODEL):
    """A model package as TrainingJobMonitor registers it; optionally approved."""
    arn = sm.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=f"Trained in pipeline execution {execution_id}",
        InferenceSpecification={
            "Containers": [
                {"Image": IMAGE, "ModelDataUrl": f"s3://{NAMES.artifact_bucket}/{execution_id}/model.tar.gz"}
            ],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelApprovalStatus="Approved" if approved else "PendingManualApproval",
        CustomerMetadataProperties={
            "PipelineExecutionId": execution_id,
            "TrainingJobName": f"mlops-{MODEL}-{execution_id}",
        },
    )["ModelPackageArn"]
    return arn


@pytest.fixture
def model_group(aws):
    sm = aws.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName=MODEL)
    return sm
