"""The deployment and system-test templates lint clean: no cfn-lint error, warning or informational finding."""

import os
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


def test_templates_pass_the_security_scan(repo_root):
    """checkov: every finding is fixed, or skipped in the resource's Metadata with the reason why."""
    beside_python = str(Path(sys.executable).parent)
    command = os.environ.get("CHECKOV") or shutil.which("checkov") or shutil.which("checkov", path=beside_python)
    if command is None:
        pytest.skip("checkov is not installed (pip install checkov into any environment, or set CHECKOV to it)")
    files = [argument for template in TEMPLATES for argument in ("-f", str(repo_root / template))]
    result = subprocess.run(
        [command, "--quiet", "--compact", "--skip-download", "--framework", "cloudformation", *files],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0 and "Failed checks: 0" in result.stdout, result.stdout[-4000:]
