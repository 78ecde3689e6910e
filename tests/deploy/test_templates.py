"""The deployment and system-test templates lint clean: no cfn-lint error, warning or informational finding."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATES = [
    "container/assets/deploy-model-Dev.yml",
    "container/assets/deploy-model-Prd.yml",
    "tests/system_test/workflow-resources.yml",
]


def cfn_lint():
    beside_python = Path(sys.executable).with_name("cfn-lint")
    return str(beside_python) if beside_python.exists() else shutil.which("cfn-lint")


def test_templates_lint_clean(repo_root):
    command = cfn_lint()
    if command is None:
        pytest.skip("cfn-lint is not installed (pip install cfn-lint)")
    # One run for all of them: most of cfn-lint's time goes into loading its resource schemas.
    result = subprocess.run(
        [command, "--include-checks", "I", "--", *(str(repo_root / template) for template in TEMPLATES)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr
