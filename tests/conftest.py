"""Fixtures shared by every suite; each part keeps its own in a conftest.py beside its tests."""

import os
from pathlib import Path

import pytest

from mlops_workshop import REPO_ROOT

# The local cloud's fixtures (cloud, clients, aws, ...) and the trained model's (trained_root, server, ...).
pytest_plugins = ["testkit.fixtures", "testkit.container"]


# Under pytest-xdist (`make test` runs a worker per core), tests that share one session's expensive set-up stay on
# one worker, in file order (the integration suite's pipeline run), and so do those that start a container engine,
# since two engines would fight over the same bridge network.
XDIST_GROUPS = {"integration": "e2e", "integration/test_durability.py": "durability",
                "notebooks/test_notebooks.py": "notebooks"}


@pytest.hookimpl(tryfirst=True)  # the groups in place before pytest-xdist reads them
def pytest_collection_modifyitems(items):
    tests = Path(__file__).parent
    for item in items:
        relative = Path(item.fspath).relative_to(tests).as_posix()
        group = XDIST_GROUPS.get(relative) or XDIST_GROUPS.get(relative.split("/")[0])
        if item.get_closest_marker("engine"):
            group = "engine"
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


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
