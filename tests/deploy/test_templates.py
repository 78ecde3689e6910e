"""The deployment and system-test templates lint clean: no cfn-lint error, warning or informational finding."""

import subprocess

from testkit import linters

TEMPLATES = [
    "container/assets/deploy-model-Dev.yml",
    "container/assets/deploy-model-Prd.yml",
    "tests/system_test/workflow-resources.yml",
]


def test_templates_lint_clean(repo_root):
    command = linters.cfn_lint()
    # One run for all of them: most of cfn-lint's time goes into loading its resource schemas.
    result = subprocess.run(
        [command, "--include-checks", "I", "--", *(str(repo_root / template) for template in TEMPLATES)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr
