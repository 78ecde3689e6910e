"""The template linters the set-up installs: cfn-lint (a dependency of the project) and checkov (its own
environment, as it pins an older boto3). Without one a test skips, except in CI, where it fails."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from mlops_workshop import REPO_ROOT
from testkit.tools import require_tool


def cfn_lint() -> str:
    """cfn-lint's executable: the one beside this Python, or one on PATH."""
    beside_python = Path(sys.executable).with_name("cfn-lint")
    command = str(beside_python) if beside_python.exists() else shutil.which("cfn-lint")
    require_tool("cfn-lint", command, "pip install -e . installs it")
    return command


def checkov() -> str:
    """checkov's executable: $CHECKOV, the one `make test` installs in .venv-checkov, or one on PATH."""
    candidates = (
        os.environ.get("CHECKOV"),
        str(REPO_ROOT / ".venv-checkov" / "bin" / "checkov"),
        shutil.which("checkov"),
    )
    command = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
    require_tool("checkov", command, "`make checkov` installs it in .venv-checkov, or set CHECKOV to an executable")
    return command
