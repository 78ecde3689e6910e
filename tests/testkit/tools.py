"""Tools the set-up installs (nginx, git, checkov, hadolint): a test skips without one, except in CI, where it fails."""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_tool(name: str, found: object, install: str) -> None:
    """Skip (fail in CI) unless `found`, saying how to install `name`."""
    if found:
        return
    message = f"{name} is not installed ({install})"
    if in_ci():
        pytest.fail(f"{message}: in CI the set-up installs it, so its absence is a failure", pytrace=False)
    pytest.skip(message)


def require_git() -> None:
    """git: the CodeCommit sources are pushed, hosted and cloned with it."""
    require_tool("git", shutil.which("git"), "Debian: apt-get install git")


def require_aws_cli() -> str:
    """The project's AWS CLI (a dependency: `aws` beside the Python running the tests), never another on PATH."""
    import sys
    from pathlib import Path
    found = Path(sys.executable).parent / "aws"
    require_tool("the AWS CLI", found.is_file(), "it is a dependency of the project: pip install -e .")
    return str(found)
