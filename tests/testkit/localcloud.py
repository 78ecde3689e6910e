"""What the local cloud's tests share: code packages and zips, the stand-in image, request builders, and the helper
the `aws` fixture gives the CodePipeline and CloudFormation tests."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

from testkit.waiting import wait_for

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/localcloud-test"
PIPELINE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/pipeline-test"
LAMBDA_ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-test"
SAGEMAKER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker-role"
CODEBUILD_ROLE = f"arn:aws:iam::{ACCOUNT}:role/codebuild-test"
ALLOW_ALL = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
ARTIFACTS = "pipeline-test-artifacts"
SOURCES = "pipeline-test-sources"
BUCKET = f"mlops-data-{REGION}-{ACCOUNT}"
# A tiny `train` and `serve` in the SageMaker container contract, without TensorFlow.
FAKE_IMAGE = Path(__file__).with_name("fake_image")
IMAGE_URI = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/abalone:latest"
# The stand-in is given for the abalone repository, as an image from outside the local ECR (no push needed).
FAKE_IMAGE_SETTINGS = {"image_contexts": {"abalone": str(FAKE_IMAGE)}, "endpoint_ready_timeout": 60}
# Short limits so that the timeout paths are tested in seconds; no source polling to race the tests.
PIPELINE_SETTINGS = {
    "codepipeline": {"poll_seconds": 0, "lambda_result_grace_seconds": 1.0,
                     "timeouts": {"Manual": 30, "Lambda": 30, "CodeBuild": 120, "CloudFormation": 60,
                                  "StepFunctions": 30}},
    "cloudformation": {"custom_resource_timeout_seconds": 30, "resource_timeout_seconds": 30},
}


def trust(service: str) -> str:
    """A role's trust policy letting `service` assume it."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def service_role(clients, arn: str, service: str, statements: list | None = None) -> str:
    """Create the role `arn` that `service` may assume, with these statements (allowed everything by default)."""
    iam, name = clients("iam"), arn.rsplit("/", 1)[1]
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(service))
    iam.put_role_policy(RoleName=name, PolicyName="grants", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": ALLOW_ALL if statements is None else statements}))
    return arn


def execution_role(clients) -> str:
    """SAGEMAKER_ROLE, which SageMaker may assume, allowed everything (a model's, a training job's role)."""
    return service_role(clients, SAGEMAKER_ROLE, "sagemaker.amazonaws.com")


def starter_role(iam, name: str, pipeline_arn: str, rule_arn: str | None = None) -> str:
    """A role EventBridge may assume (for that rule only, when given) to start one pipeline; its ARN."""
    statement = {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole"}
    if rule_arn:
        statement["Condition"] = {"ArnEquals": {"aws:SourceArn": rule_arn},
                                  "StringEquals": {"aws:SourceAccount": ACCOUNT}}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [statement]}))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="start", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "codepipeline:StartPipelineExecution",
                                                "Resource": pipeline_arn}]}))
    return arn


def zip_of(files: dict[str, str | bytes]) -> bytes:
    """A zip (a code package, an artifact) holding these {name: text} files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def files_of(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def model_tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def untar(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


# SageMaker.
def serve_mean(sm, s3, name: str, mean: float, data_capture: dict | None = None) -> str:
    """An endpoint `name` of the stand-in image answering `mean` to every row (its model in BUCKET, SAGEMAKER_ROLE
    its execution role), with the DataCaptureConfig given; waits until it serves and returns its name."""
    key = f"models/{name}/model.tar.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=model_tarball({"model.json": json.dumps({"mean": mean}).encode()}))
    sm.create_model(ModelName=name, ExecutionRoleArn=SAGEMAKER_ROLE,
                    PrimaryContainer={"Image": IMAGE_URI, "ModelDataUrl": f"s3://{BUCKET}/{key}"})
    config = {"EndpointConfigName": f"{name}-config", "ProductionVariants": [{
        "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.t2.medium"}]}
    if data_capture:
        config["DataCaptureConfig"] = data_capture
    sm.create_endpoint_config(**config)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")
    endpoint = endpoint_settled(sm, name)
    assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")
    return name


def training_job_done(sm, name: str, timeout: float = 120) -> dict:
    def check():
        job = sm.describe_training_job(TrainingJobName=name)
        return job if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped") else None
    return wait_for(check, timeout, 0.2, f"training job {name} ending")


def endpoint_settled(sm, name: str, timeout: float = 120) -> dict:
    def check():
        endpoint = sm.describe_endpoint(EndpointName=name)
        return endpoint if endpoint["EndpointStatus"] in ("InService", "Failed") else None
    return wait_for(check, timeout, 0.2, f"endpoint {name} settling")


def training_request(name: str, hyperparameters: dict | None = None, prefix: str = "training/",
                     image: str = IMAGE_URI, **extra) -> dict:
    request = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": image, "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "validation:rmse", "Regex": r"validation:rmse=([0-9.]+)"}],
        },
        "RoleArn": SAGEMAKER_ROLE,
        "HyperParameters": {"epochs": "3", **(hyperparameters or {})},
        "InputDataConfig": [{
            "ChannelName": "training",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{prefix}",
                                            "S3DataDistributionType": "FullyReplicated"}},
            "ContentType": "text/csv",
        }],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    request.update(extra)
    return request


# CodePipeline.
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


class PipelineHelpers:
    """The test's cloud with the roles and buckets a pipeline or a stack needs, and the waits on them."""

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
                        30, what=f"the first execution of {name}")[0]["pipelineExecutionId"]

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
