"""The IAM policies of the project's templates pass parliament (unknown actions, resources that do not match the
action's resource types, malformed statements) with no finding.

CloudFormation's intrinsics are resolved first, to the values a deployment in the workshop's account would give
them: the parameters' defaults (or a sample value of the documented form), the pseudo parameters, and the ARNs
CloudFormation returns for `!GetAtt X.Arn` of the resource types the templates use."""

from __future__ import annotations

import json

import pytest

from localcloud.iam.iamkit import policies, templates
from mlops_workshop import REPO_ROOT

CASES = [(path, name, doc, trust) for path in templates() for name, doc, trust in policies(path)]


def _case(path, name, doc, trust):
    return pytest.param(path, name, doc, trust, id=f"{path.relative_to(REPO_ROOT)}:{name}")


def test_the_templates_have_policies_to_lint():
    names = {f"{p.relative_to(REPO_ROOT)}:{n}" for p, n, _, _ in CASES}
    assert "cloudformation/mlops-pipeline.yml:PipelineRole.Policies[pipeline]" in names
    assert "tests/system_test/workflow-resources.yml:WorkflowRole.AssumeRolePolicyDocument" in names


@pytest.mark.parametrize("path, name, document, trust", [_case(*case) for case in CASES])
def test_parliament_finds_nothing_in_the_templates_policies(path, name, document, trust):
    import parliament
    analyzed = parliament.analyze_policy_string(json.dumps(document), include_community_auditors=False)
    findings = [f"{f.issue} {f.detail} {f.location}" for f in analyzed.findings
                if not (trust and f.issue == "UNKNOWN_PRINCIPAL")]
    assert findings == []
