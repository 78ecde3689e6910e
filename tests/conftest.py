"""Fixtures shared by every suite; each part keeps its own in a conftest.py beside its tests."""

import os

import pytest

from mlops_workshop import REPO_ROOT

# The local cloud's fixtures (cloud, clients, aws, ...) and the trained model's (trained_root, server, ...).
pytest_plugins = ["testkit.fixtures", "testkit.container"]


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT


@pytest.fixture
def aws_env(monkeypatch):
    """Dummy credentials so that no test can reach a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    yield os.environ
