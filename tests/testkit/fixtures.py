"""Fixtures for tests that need a local cloud (tests/conftest.py loads them as a plugin): a started cloud on a free
port, boto3 clients pointed at it, and the set-ups several services' tests share."""

from __future__ import annotations

import urllib.request

import boto3
import pytest
from botocore.config import Config

from mlops_workshop.localcloud import LocalCloud
from testkit.localcloud import (ARTIFACTS, BUCKET, CODEBUILD_ROLE, LAMBDA_ROLE, REGION, ROLE_ARN, SOURCES,
                                PipelineHelpers, service_role, trust, zip_of)


@pytest.fixture
def cloud_settings():
    """Settings for the `cloud` fixture; override this fixture in a folder or test to change them."""
    return {}


@pytest.fixture
def cloud(tmp_path, aws_env, monkeypatch, cloud_settings):
    """A LocalCloud serving on a free loopback port with its state in tmp_path, stopped after the test.

    moto's backends live in this process and outlive a server, so the cloud starts and ends empty.
    Code under test that creates its own boto3 clients reaches this cloud through AWS_ENDPOINT_URL.
    """
    instance = LocalCloud(tmp_path / "localcloud", port=0, region=REGION, settings=cloud_settings)
    instance.start()
    try:
        _reset_moto(instance)
        monkeypatch.setenv("AWS_ENDPOINT_URL", instance.endpoint_url)
        yield instance
    finally:
        instance.stop()
        from moto.moto_api._internal.models import moto_api_backend
        moto_api_backend.reset()


@pytest.fixture
def clients(cloud):
    """`clients("s3")` -> a boto3 client for that service on the test's cloud, with dummy credentials."""
    def make(service: str, **kwargs):
        kwargs.setdefault("region_name", REGION)
        kwargs.setdefault("config", Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=120))
        return boto3.client(service, endpoint_url=cloud.endpoint_url, aws_access_key_id="localcloud",
                            aws_secret_access_key="localcloud", **kwargs)
    return make


@pytest.fixture
def make_function(clients):
    """make_function(name, code, **settings) -> the function's ARN; code is lambda.py's text."""
    lam = clients("lambda")
    # Functions run with their role's credentials: this one may do anything, so tests judge only what they mean to.
    service_role(clients, ROLE_ARN, "lambda.amazonaws.com")

    def make(name, code, handler="lambda.lambda_handler", **settings):
        settings.setdefault("Runtime", "python3.12")
        response = lam.create_function(FunctionName=name, Role=ROLE_ARN, Handler=handler,
                                       Code={"ZipFile": zip_of({"lambda.py": code})}, **settings)
        return response["FunctionArn"]
    return make


@pytest.fixture
def data_bucket(clients):
    """The data bucket with a tiny training channel (label first, as the contract says)."""
    s3 = clients("s3")
    s3.create_bucket(Bucket=BUCKET)
    rows = "\n".join(f"{label},{','.join(['0.5'] * 10)}" for label in (8, 10, 12)) + "\n"
    s3.put_object(Bucket=BUCKET, Key="training/train.csv", Body=rows.encode())
    s3.put_object(Bucket=BUCKET, Key="training/validate.csv", Body=rows.encode())
    return BUCKET


@pytest.fixture
def aws(cloud, clients):
    """The test's cloud with the roles, buckets and helpers the CodePipeline and CloudFormation tests use."""
    iam = clients("iam")
    iam.create_role(RoleName="pipeline-test", AssumeRolePolicyDocument=trust("codepipeline.amazonaws.com"))
    # Functions run with their role's credentials: this one may do anything, so tests judge only what they mean to.
    service_role(clients, LAMBDA_ROLE, "lambda.amazonaws.com")
    service_role(clients, CODEBUILD_ROLE, "codebuild.amazonaws.com")
    s3 = clients("s3")
    for bucket in (ARTIFACTS, SOURCES):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=SOURCES, VersioningConfiguration={"Status": "Enabled"})
    return PipelineHelpers(cloud, clients)


def _reset_moto(instance: LocalCloud) -> None:
    request = urllib.request.Request(f"{instance.endpoint_url}/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
