"""Helpers for the CodePipeline runtime and CloudFormation tests: roles, functions, zips, waiting."""

import io
import json
import time
import zipfile

import pytest

ACCOUNT = "123456789012"
PIPELINE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/pipeline-test"
LAMBDA_ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-test"
ARTIFACTS = "pipeline-test-artifacts"
SOURCES = "pipeline-test-sources"


@pytest.fixture
def cloud_settings():
    # Short limits so that the timeout paths are tested in seconds; no source polling to race the tests.
    return {
        "codepipeline": {"poll_seconds": 0, "lambda_result_grace_seconds": 1.0,
                         "timeouts": {"Manual": 30, "Lambda": 30, "CodeBuild": 120, "CloudFormation": 60,
                                      "StepFunctions": 30}},
        "cloudformation": {"custom_resource_timeout_seconds": 30, "resource_timeout_seconds": 30},
    }


def zip_of(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def files_of(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def wait_for(check, timeout=30.0, interval=0.1, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def _trust(service):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


@pytest.fixture
def aws(cloud, clients):
    """The test's cloud with the roles, buckets and helpers every test here uses."""
    iam = clients("iam")
    iam.create_role(RoleName="pipeline-test", AssumeRolePolicyDocument=_trust("codepipeline.amazonaws.com"))
    iam.create_role(RoleName="lambda-test", AssumeRolePolicyDocument=_trust("lambda.amazonaws.com"))
    s3 = clients("s3")
    for bucket in (ARTIFACTS, SOURCES):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=SOURCES, VersioningConfiguration={"Status": "Enabled"})
    return Helpers(cloud, clients)


class Helpers:
    def __init__(self, cloud, clients):
        self.cloud = cloud
        self._make_client = clients
        self._made = {}
        self.cp = clients("codepipeline")
        self.cfn = clients("cloudformation")
        self.s3 = clients("s3")

    def clients(self, service):
        """One client per service: building one costs far more than a call."""
        if service not in self._made:
            self._made[service] = self._make_client(service)
        return self._made[service]

    def function(self, name, code, timeout=30):
        return self.clients("lambda").create_function(
            FunctionName=name, Runtime="python3.12", Role=LAMBDA_ROLE, Handler="lambda.lambda_handler",
            Timeout=timeout, Code={"ZipFile": zip_of({"lambda.py": code})})["FunctionArn"]

    def source(self, key, files):
        return self.s3.put_object(Bucket=SOURCES, Key=key, Body=zip_of(files))["VersionId"]

    def pipeline(self, name, stages):
        self.cp.create_pipeline(pipeline={"name": name, "roleArn": PIPELINE_ROLE,
                                          "artifactStore": {"type": "S3", "location": ARTIFACTS}, "stages": stages})
        return wait_for(lambda: self.cp.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"],
                        what=f"the first execution of {name}")[0]["pipelineExecutionId"]

    def finished(self, name, execution_id, timeout=60):
        def done():
            execution = self.cp.get_pipeline_execution(pipelineName=name, pipelineExecutionId=execution_id)
            status = execution["pipelineExecution"]["status"]
            return execution["pipelineExecution"] if status not in ("InProgress", "Stopping") else None
        return wait_for(done, timeout, 0.2, f"execution {execution_id} of {name} to end")

    def stage(self, name, stage):
        states = self.cp.get_pipeline_state(name=name)["stageStates"]
        return next(s for s in states if s["stageName"] == stage)

    def action(self, name, stage, action):
        return next(a for a in self.stage(name, stage)["actionStates"] if a["actionName"] == action)

    def waiting_token(self, name, stage, action, timeout=30):
        def token():
            latest = self.action(name, stage, action).get("latestExecution", {})
            return latest.get("token") if latest.get("status") == "InProgress" else None
        return wait_for(token, timeout, 0.1, f"approval {stage}/{action} to wait")

    def stack_done(self, name, timeout=60):
        def done():
            stack = self.cfn.describe_stacks(StackName=name)["Stacks"][0]
            return stack if not stack["StackStatus"].endswith("_IN_PROGRESS") else None
        return wait_for(done, timeout, 0.1, f"stack {name} to settle")

    def events(self, name):
        """The stack's events, oldest first, as (logical id, status, reason)."""
        events = self.cfn.describe_stack_events(StackName=name)["StackEvents"]
        return [(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason")) for e in reversed(events)]


def source_action(name, key, output):
    return {"name": name, "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
            "configuration": {"S3Bucket": SOURCES, "S3ObjectKey": key, "PollForSourceChanges": "false"},
            "outputArtifacts": [{"name": output}], "runOrder": 1}


def lambda_action(name, function, inputs=(), parameters="", outputs=()):
    return {"name": name, "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
            "configuration": {"FunctionName": function, **({"UserParameters": parameters} if parameters else {})},
            "inputArtifacts": [{"name": i} for i in inputs], "outputArtifacts": [{"name": o} for o in outputs],
            "runOrder": 1}


def approval_action(name):
    return {"name": name, "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual",
                                           "version": "1"}, "configuration": {"CustomData": "check it"}, "runOrder": 1}


# Test modules reach the helpers through the `aws` fixture (conftest modules are not importable by name).
for _helper in (zip_of, files_of, wait_for, source_action, lambda_action, approval_action):
    setattr(Helpers, _helper.__name__, staticmethod(_helper))
Helpers.ARTIFACTS, Helpers.SOURCES, Helpers.PIPELINE_ROLE, Helpers.LAMBDA_ROLE = (
    ARTIFACTS, SOURCES, PIPELINE_ROLE, LAMBDA_ROLE)
