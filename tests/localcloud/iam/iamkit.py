"""What the IAM tests share: requests as boto3 signs them (captured before they leave), a stand-in for the lookups
a running cloud answers, and the templates' policies with CloudFormation's intrinsics resolved."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
from botocore.config import Config
from cfnlint.decode import decode_str

from mlops_workshop import REPO_ROOT
from mlops_workshop.localcloud.iam.service import to_aws_request

ACCOUNT = "123456789012"
REGION = "us-east-1"
ENDPOINT = "http://127.0.0.1:4566"


class _Captured(Exception):
    pass


def signed_request(service: str, method: str, params: dict, key: str = "localcloud", token: str | None = None):
    """The request boto3 would send for client(service).method(**params), as the dispatcher parses it."""
    captured = []

    def capture(request, **_):
        captured.append(request)
        raise _Captured()
    client = boto3.client(service, endpoint_url=ENDPOINT, region_name=REGION, aws_access_key_id=key,
                          aws_secret_access_key="secret", aws_session_token=token,
                          config=Config(retries={"max_attempts": 1}, parameter_validation=False))
    client.meta.events.register("before-send", capture)
    try:
        getattr(client, method)(**params)
    except _Captured:
        pass
    return to_aws_request(captured[-1])


def lookup(kind: str, name: str, region: str):
    if kind == "cloudformation-stack":
        return f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{name}/0f1e2d3c-aaaa-bbbb-cccc-000000000000"
    if kind == "iam-role-path":
        return "/service/" if name.startswith("pathed") else "/"
    return None


TEMPLATE_FOLDERS = ["cloudformation", "container/assets", "tests/system_test"]
STACK = "mlops"
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": STACK,
          "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None}
# Sample values of parameters without a default, of the form their descriptions give.
SAMPLES = {"DataBucket": f"mlops-data-{REGION}-{ACCOUNT}", "ArtifactBucket": f"mlops-artifacts-{REGION}-{ACCOUNT}",
           "LambdaCodeBucket": f"mlops-artifacts-{REGION}-{ACCOUNT}", "ModelName": "abalone",
           "DevEndpointName": "abalone-dev",
           "SageMakerRoleArn": f"arn:aws:iam::{ACCOUNT}:role/MLOps-SageMaker-{REGION}"}


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
            group = self.resolve(resource["Properties"].get("GroupName", name))
            return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/{group}"
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


