"""Fixtures for the Lambda functions and the module they share: moto, a Stubber for CodePipeline, a stand-in for
CloudFormation's ResponseURL. The functions themselves come from testkit.lambdas.load_lambda, as deployed."""

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from testkit.cloudformation import ResponseListener
from testkit.lambdas import lambda_context
from testkit.moto import MODEL, REGION, create_buckets


@pytest.fixture
def aws(aws_env):
    """moto for every client made inside the test, with the workshop's two buckets; a session in its region."""
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        create_buckets(session.client("s3"))
        yield session


@pytest.fixture
def model_group(aws):
    """A SageMaker client with the workshop's model package group."""
    sm = aws.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName=MODEL)
    return sm


@pytest.fixture
def context():
    return lambda_context()


@pytest.fixture
def codepipeline_stub(aws_env):
    """A CodePipeline client with a Stubber: moto has no job or approval calls, so each expected call is scripted."""
    client = boto3.client("codepipeline", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def cfn_listener():
    with ResponseListener() as listener:
        yield listener
