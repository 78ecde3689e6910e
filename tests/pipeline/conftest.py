"""Fixtures for the pipeline's template, packaging and stack: moto with the workshop's buckets, a stand-in for
CloudFormation's ResponseURL."""

import types

import boto3
import pytest
from moto import mock_aws

from testkit.cloudformation import ResponseListener
from testkit.moto import REGION, create_buckets


@pytest.fixture
def aws(aws_env):
    """moto for every client made inside the test, with the workshop's two buckets."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        create_buckets(s3)
        yield types.SimpleNamespace(s3=s3)


@pytest.fixture
def cfn_listener():
    with ResponseListener() as listener:
        yield listener
