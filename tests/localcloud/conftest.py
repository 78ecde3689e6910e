"""Fixtures for the local cloud's tests: a started cloud on a free port, and boto3 clients pointed at it."""

from __future__ import annotations

import urllib.request

import boto3
import pytest
from botocore.config import Config

from mlops_workshop.localcloud import LocalCloud

REGION = "us-east-1"


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
    _reset_moto(instance)
    monkeypatch.setenv("AWS_ENDPOINT_URL", instance.endpoint_url)
    try:
        yield instance
    finally:
        instance.stop()
        _reset_moto_in_process()


@pytest.fixture
def clients(cloud):
    """`clients("s3")` -> a boto3 client for that service on the test's cloud, with dummy credentials."""
    def make(service: str, **kwargs):
        kwargs.setdefault("region_name", REGION)
        kwargs.setdefault("config", Config(retries={"max_attempts": 1, "mode": "standard"},
                                           read_timeout=120))
        return boto3.client(service, endpoint_url=cloud.endpoint_url, aws_access_key_id="localcloud",
                            aws_secret_access_key="localcloud", **kwargs)
    return make


def _reset_moto(instance: LocalCloud) -> None:
    request = urllib.request.Request(f"{instance.endpoint_url}/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def _reset_moto_in_process() -> None:
    from moto.moto_api._internal.models import moto_api_backend
    moto_api_backend.reset()
