"""What the IAM tests share: requests as boto3 signs them (captured before they leave), and a describer of calls."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

from mlops_workshop.localcloud.iam.calls import Describer
from mlops_workshop.localcloud.iam.catalog import Catalog
from mlops_workshop.localcloud.iam.operations import Operations
from mlops_workshop.localcloud.iam.service import to_aws_request

ACCOUNT = "123456789012"
REGION = "us-east-1"
ENDPOINT = "http://127.0.0.1:4566"


class _Captured(Exception):
    pass


def signed_request(service: str, method: str, params: dict, key: str = "localcloud", token: str | None = None):
    """The request boto3 would send for client(service).method(**params), as the dispatcher parses it."""
    captured = []

    def capture(request, **_):
        captured.append(request)
        raise _Captured()
    client = boto3.client(service, endpoint_url=ENDPOINT, region_name=REGION, aws_access_key_id=key,
                          aws_secret_access_key="secret", aws_session_token=token,
                          config=Config(retries={"max_attempts": 1}, parameter_validation=False))
    client.meta.events.register("before-send", capture)
    try:
        getattr(client, method)(**params)
    except _Captured:
        pass
    return to_aws_request(captured[-1])


def lookup(kind: str, name: str, region: str):
    if kind == "cloudformation-stack":
        return f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{name}/0f1e2d3c-aaaa-bbbb-cccc-000000000000"
    if kind == "iam-role-path":
        return "/service/" if name.startswith("pathed") else "/"
    return None


@pytest.fixture(scope="session")
def catalog():
    found = Catalog.shared()
    found.wait()
    return found


@pytest.fixture(scope="session")
def describer(catalog):
    return Describer(catalog, ACCOUNT, lookup)


@pytest.fixture(scope="session")
def describe(catalog, describer):
    """describe(service, method, params) -> [(action, resource)] the call needs (unknown parts as *)."""
    operations = Operations.shared()
    prefixes = set(catalog.prefixes())

    def run(service, method, params, full=False):
        req = signed_request(service, method, params)
        op = operations.resolve(req, prefixes)
        call = describer.describe(op, REGION, req.headers, req.body)
        if full:
            return op, call
        assert not call.unresolved, call.unresolved
        return [(need.action, need.resource.replace("\x00", "*")) for need in call.needs]
    return run
