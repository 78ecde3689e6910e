"""The pipeline template creates a stack in moto from the uploaded packages; the custom resource runs the real package.

moto skips the CodeBuild and CodePipeline resources (it has no CloudFormation support for them); everything else
is created, and the model package group comes from CreateModelGroup's code as uploaded to S3.
"""

import json
import types
import urllib.parse

import boto3
import pytest
from cfnlint.decode import decode_str
from moto.cloudformation import cloudformation_backends

from mlops_workshop import REPO_ROOT, packaging
from testkit.codepipeline import PIPELINE
from testkit.lambdas import DeployedLambdas
from testkit.moto import ACCOUNT, ARTIFACT_BUCKET, DATA_BUCKET, REGION

TEMPLATE = REPO_ROOT / "cloudformation" / "mlops-pipeline.yml"
# moto has no CloudFormation support for CodeBuild's and CodePipeline's types, and says so for each.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:moto.cloudformation.parsing")


def without_the_alarm(body: str) -> str:
    """The template without the drift alarm and what names it: moto has no CloudFormation model of an alarm (the
    local cloud's, which has one, creates the whole template in tests/integration)."""
    template, matches = decode_str(body)
    assert not matches
    template = json.loads(json.dumps(template, default=str))
    for name in ("DriftAlarm", "RetrainOnDriftRule"):
        del template["Resources"][name]
    template["Outputs"] = {k: v for k, v in template["Outputs"].items() if "DriftAlarm" not in json.dumps(v)}
    return json.dumps(template)


@pytest.fixture
def stack(aws, cfn_listener, monkeypatch):
    response_base = cfn_listener.url.split("/cfn-response")[0]

    def to_the_listener(event):
        # moto addresses the container host; the listener stands in for moto's response endpoint.
        if "ResponseURL" in event:
            parts = urllib.parse.urlsplit(event["ResponseURL"])
            event["ResponseURL"] = f"{response_base}{parts.path}?{parts.query}"
        return event

    deployed = DeployedLambdas(rewrite=to_the_listener).install(monkeypatch)
    uploaded = packaging.upload_lambda_packages(aws.s3, ARTIFACT_BUCKET, "lambda")
    cfn = boto3.client("cloudformation", region_name=REGION)
    stack_id = cfn.create_stack(
        StackName=PIPELINE,
        TemplateBody=without_the_alarm(TEMPLATE.read_text()),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[
            {"ParameterKey": "DataBucket", "ParameterValue": DATA_BUCKET},
            {"ParameterKey": "ArtifactBucket", "ParameterValue": ARTIFACT_BUCKET},
        ],
    )["StackId"]
    assert cfn_listener.received.wait(30), (
        f"CreateModelGroup never answered CloudFormation (invoked: {[name for name, _ in deployed.calls]})"
    )
    answer = cfn_listener.requests[0]["body"]
    assert answer["Status"] == "SUCCESS", answer
    # What moto's own response endpoint does with the answer (decorator mode has no HTTP endpoint to reach).
    moto_stack = cloudformation_backends[ACCOUNT][REGION].get_stack(stack_id)
    moto_stack.get_custom_resource(answer["LogicalResourceId"]).set_data(answer["Data"])
    moto_stack.verify_readiness()
    return types.SimpleNamespace(id=stack_id, cfn=cfn, answer=answer, uploaded=uploaded, deployed=deployed)


def test_the_stack_is_created_with_the_model_package_group(stack):
    description = stack.cfn.describe_stacks(StackName=stack.id)["Stacks"][0]
    assert description["StackStatus"] == "CREATE_COMPLETE"
    assert [name for name, _ in stack.deployed.calls] == ["create-model-group-abalone"]
    group = boto3.client("sagemaker", region_name=REGION).describe_model_package_group(ModelPackageGroupName="abalone")
    assert stack.answer["Data"] == {"Name": "abalone", "Arn": group["ModelPackageGroupArn"]}


def test_the_functions_run_the_uploaded_packages_on_a_supported_runtime(stack):
    functions = {f["FunctionName"]: f for f in boto3.client("lambda", region_name=REGION).list_functions()["Functions"]}
    expected = {
        "create-model-group-abalone": "CreateModelGroup",
        "etl-launch-job-abalone": "EtlLaunchJob",
        "etl-job-monitor-abalone": "EtlJobMonitor",
        "training-launch-job-abalone": "TrainingLaunchJob",
        "training-job-monitor-abalone": "TrainingJobMonitor",
    }
    assert set(expected) <= set(functions)
    for name, folder in expected.items():
        assert functions[name]["Runtime"] == "python3.12"
        assert functions[name]["Handler"] == "lambda.lambda_handler"
        assert functions[name]["CodeSize"] == len(packaging.build_package(REPO_ROOT / "lambdas" / folder))
    environment = functions["etl-launch-job-abalone"]["Environment"]["Variables"]
    assert environment["DATA_BUCKET"] == DATA_BUCKET
    assert environment["GLUE_ROLE_ARN"] == f"arn:aws:iam::{ACCOUNT}:role/MLOps-Glue-{REGION}"


def test_the_rules_send_the_state_changes_to_the_monitors(stack):
    events = boto3.client("events", region_name=REGION)
    for rule, source, detail_type, function in [
        ("etl-job-state-abalone", "aws.glue", "Glue Job State Change", "etl-job-monitor-abalone"),
        (
            "training-job-state-abalone",
            "aws.sagemaker",
            "SageMaker Training Job State Change",
            "training-job-monitor-abalone",
        ),
    ]:
        description = events.describe_rule(Name=rule)
        assert description["State"] == "ENABLED"
        pattern = json.loads(description["EventPattern"])
        assert (pattern["source"], pattern["detail-type"]) == ([source], [detail_type])
        targets = events.list_targets_by_rule(Rule=rule)["Targets"]
        assert [t["Arn"] for t in targets] == [f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"]
    assert json.loads(events.describe_rule(Name="training-job-state-abalone")["EventPattern"])["detail"] == {
        "TrainingJobName": [{"prefix": "mlops-abalone-"}],
        "TrainingJobStatus": ["Completed", "Failed", "Stopped"],
    }


def test_one_role_per_kind_of_principal(stack):
    iam = boto3.client("iam", region_name=REGION)
    roles = {r["RoleName"]: r for r in iam.list_roles()["Roles"]}
    principals = {}
    for kind in ("Pipeline", "CodeBuild", "Lambda", "SageMaker", "Glue", "CloudFormation"):
        role = roles[f"MLOps-{kind}-{REGION}"]
        statement = role["AssumeRolePolicyDocument"]["Statement"]
        principals[kind] = [s["Principal"]["Service"] for s in statement]
    assert principals == {
        "Pipeline": ["codepipeline.amazonaws.com"],
        "CodeBuild": ["codebuild.amazonaws.com"],
        "Lambda": ["lambda.amazonaws.com"],
        "SageMaker": ["sagemaker.amazonaws.com"],
        "Glue": ["glue.amazonaws.com"],
        "CloudFormation": ["cloudformation.amazonaws.com"],
    }


def test_outputs_name_the_pipeline_and_the_group(stack):
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in stack.cfn.describe_stacks(StackName=stack.id)["Stacks"][0].get("Outputs", [])
    }
    assert outputs["GlueJobName"] == "abalone-preprocess"
    assert outputs["SystemTestStateMachineArn"] == f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:abalone-system-test"
    assert outputs["SageMakerRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/MLOps-SageMaker-{REGION}"
