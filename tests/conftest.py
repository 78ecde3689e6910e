"""Fixtures shared by every suite; each part keeps its own in a conftest.py beside its tests."""

import os
import shutil

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


@pytest.fixture(scope="session")
def checkov(repo_root):
    """checkov's executable: $CHECKOV, the one `make test` installs in .venv-checkov, or one on PATH."""
    # It pins an older boto3 than this project's, so it lives in an environment of its own.
    for command in (os.environ.get("CHECKOV"), str(repo_root / ".venv-checkov" / "bin" / "checkov"),
                    shutil.which("checkov")):
        if command and os.access(command, os.X_OK):
            return command
    pytest.skip("checkov is not installed: `make test` installs it in .venv-checkov (its own environment, as it "
                "pins an older boto3); or set CHECKOV to an executable")
