"""The IAM policies of the project's templates pass parliament (unknown actions, resources that do not match the
action's resource types, malformed statements) with no finding.

CloudFormation's intrinsics are resolved first, to the values a deployment in the workshop's account would give
them: the parameters' defaults (or a sample value of the documented form), the pseudo parameters, and the ARNs
CloudFormation returns for `!GetAtt X.Arn` of the resource types the templates use."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cfnlint.decode import decode_str

from mlops_workshop import REPO_ROOT

TEMPLATE_FOLDERS = ["cloudformation", "container/assets", "tests/system_test"]
ACCOUNT, REGION, STACK = "123456789012", "us-east-1", "mlops"
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": STACK,
          "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None}
# Sample values of parameters without a default, of the form their descriptions give.
SAMPLES = {"DataBucket": f"mlops-data-{REGION}-{ACCOUNT}", "ArtifactBucket": f"mlops-artifacts-{REGION}-{ACCOUNT}",
           "LambdaCodeBucket": f"mlops-artifacts-{REGION}-{ACCOUNT}", "ModelName": "abalone",
           "DevEndpointName": "abalone-dev", "SageMakerRoleArn": f"arn:aws:iam::{ACCOUNT}:role/MLOps-SageMaker-{REGION}"}


def templates() -> list[Path]:
    found = []
    for folder in TEMPLATE_FOLDERS:
        for path in sorted((REPO_ROOT / folder).rglob("*")):
            if path.suffix in (".yml", ".yaml", ".json") and path.is_file():
                if re.search(r'^\s*"?Resources"?\s*:', path.read_text(encoding="utf-8"), re.MULTILINE):
                    found.append(path)
    return found


class Resolver:
    """CloudFormation's intrinsic functions, evaluated for one deployment of a template."""

    def __init__(self, template: dict):
        self.template = template
        self.parameters = {}
        for name, spec in (template.get("Parameters") or {}).items():
            value = spec.get("Default", SAMPLES.get(name))
            self.parameters[name] = None if value is None else str(value)
        self.conditions = template.get("Conditions") or {}

    def ref(self, name: str) -> str | None:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            if self.parameters[name] is None:
                raise AssertionError(f"parameter {name} has no default; add a sample value to SAMPLES")
            return self.parameters[name]
        resource = self.template["Resources"][name]
        return self.name_of(name, resource)

    def name_of(self, logical: str, resource: dict) -> str:
        props = resource.get("Properties") or {}
        for key in ("RoleName", "FunctionName", "Name", "LogGroupName", "BucketName", "PolicyName", "GroupName"):
            if key in props:
                return self.resolve(props[key])
        return f"{STACK}-{logical}-GENERATED"

    def get_att(self, logical: str, attribute: str) -> str:
        resource = self.template["Resources"][logical]
        kind, name = resource["Type"], self.name_of(logical, resource)
        if attribute == "Name":
            return name
        arns = {
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
            "AWS::Events::Rule": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::SageMaker::ModelPackageGroup": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/{name}",
        }
        if attribute == "Arn" and kind in arns:
            return arns[kind]
        if kind.startswith("Custom::") and attribute == "Arn":
            return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/{self.resolve(resource['Properties'].get('GroupName', name))}"
        raise AssertionError(f"!GetAtt {logical}.{attribute} ({kind}) is not resolved by this test")

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.conditions[name]))

    def resolve(self, value):
        if isinstance(value, list):
            return [v for v in (self.resolve(item) for item in value) if v is not None]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(logical, attribute)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

                def sub(match):
                    name = match.group(1)
                    if name in variables:
                        return str(self.resolve(variables[name]))
                    if "." in name and name.split(".")[0] in self.template["Resources"]:
                        return self.get_att(*name.split(".", 1))
                    return str(self.ref(name))
                return re.sub(r"\$\{([^}!]+)\}", sub, text)
            if key == "Fn::Join":
                return arg[0].join(str(v) for v in self.resolve(arg[1]))
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                left, right = self.resolve(arg)
                return left == right
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(arg[0])]
            if key == "Condition":
                return self.condition(arg)
        return {k: self.resolve(v) for k, v in value.items()}


def policies(path: Path):
    template, matches = decode_str(path.read_text(encoding="utf-8"))
    assert not matches, [str(m) for m in matches]
    template = json.loads(json.dumps(template, default=str))
    resolver = Resolver(template)
    for logical, resource in template["Resources"].items():
        props = resource.get("Properties") or {}
        if "PolicyDocument" in props:
            yield f"{logical}.PolicyDocument", resolver.resolve(props["PolicyDocument"]), False
        if "AssumeRolePolicyDocument" in props:
            # A trust policy has no Resource: it is the role itself, which parliament is told.
            trust = resolver.resolve(props["AssumeRolePolicyDocument"])
            role = resolver.get_att(logical, "Arn")
            for statement in trust.get("Statement", []):
                statement.setdefault("Resource", role)
            yield f"{logical}.AssumeRolePolicyDocument", trust, True
        for index, policy in enumerate(props.get("Policies") or []):
            yield (f"{logical}.Policies[{policy.get('PolicyName', index)}]", resolver.resolve(policy["PolicyDocument"]),
                   False)


# Findings reported to the templates' owner, each with its fix; strict, so a fixed template fails here until the
# entry goes.
KNOWN = {
    "cloudformation/mlops-pipeline.yml:PipelineRole.Policies[pipeline]":
        "RESOURCE_MISMATCH states:DescribeExecution also names the express-execution format: add "
        "!Sub arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:express:${ModelName}-system-test:*:* "
        "to SystemTestExecutions' Resource",
    "cloudformation/mlops-pipeline.yml:CloudFormationRole.Policies[deploy]":
        "RESOURCE_STAR the four application-autoscaling writes take scalable-target ARNs: split AutoScaling into "
        "Register/DeregisterScalableTarget, Put/DeleteScalingPolicy on "
        "!Sub arn:${AWS::Partition}:application-autoscaling:${AWS::Region}:${AWS::AccountId}:scalable-target/* "
        "and the three Describe* on \"*\"",
}
CASES = [(path, name, doc, trust) for path in templates() for name, doc, trust in policies(path)]


def _case(path, name, doc, trust):
    key = f"{path.relative_to(REPO_ROOT)}:{name}"
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN[key])] if key in KNOWN else []
    return pytest.param(path, name, doc, trust, id=key, marks=marks)


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
