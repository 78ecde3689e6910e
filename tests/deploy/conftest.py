"""Fixtures for the deployment and system-test assets: the build scripts loaded as modules, moto, Lambdas that run.

moto's Lambda invoke without Docker only echoes its payload; `lambdas_run` makes every invocation moto makes
(the Invoke API and Step Functions' Lambda tasks alike) run the function's deployed package in-process.
"""

import boto3
import pytest
from moto import mock_aws

from mlops_workshop.packaging import upload_lambda_packages
from testkit.lambdas import DeployedLambdas
from testkit.modules import load_module
from testkit.moto import MODEL, NAMES, REGION, create_buckets


@pytest.fixture
def container_build(repo_root):
    return load_module(repo_root / "container" / "build.py")


@pytest.fixture
def workflow_build(repo_root):
    return load_module(repo_root / "tests" / "system_test" / "build.py")


@pytest.fixture
def aws(aws_env):
    """moto in-process, with Step Functions interpreting state machines for real."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.session.Session(region_name=REGION)


@pytest.fixture
def lambdas_run(monkeypatch):
    return DeployedLambdas().install(monkeypatch)


@pytest.fixture
def buckets(aws):
    """The workshop's two buckets, versioned like the real ones, with the Lambda packages uploaded."""
    s3 = aws.client("s3")
    create_buckets(s3, versioned=True)
    upload_lambda_packages(s3, NAMES.artifact_bucket, NAMES.lambda_prefix)
    return NAMES


@pytest.fixture
def model_group(aws):
    sm = aws.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName=MODEL)
    return sm
