"""TrainingLaunchJob against moto, with what it reports to CodePipeline checked by a Stubber."""

import json

import boto3
import pytest
from botocore.stub import Stubber

from testkit.codepipeline import EXECUTION_ID, PIPELINE, expect_failure, expect_success, job_event, put_artifact
from testkit.lambdas import load_lambda
from testkit.moto import ARTIFACT_BUCKET, REGION

TRAINING_JOB = {
    "AlgorithmSpecification": {"TrainingImage": "placeholder", "TrainingInputMode": "File"},
    "RoleArn": "placeholder",
    "OutputDataConfig": {"S3OutputPath": "placeholder"},
    "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 10},
    "TrainingJobName": "placeholder",
    "HyperParameters": {"epochs": "200", "batch_size": "32"},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "InputDataConfig": [
        {
            "ChannelName": "training",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": "placeholder",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": "text/csv",
            "CompressionType": "None",
        }
    ],
    "Tags": [{"Key": "project", "Value": "mlops"}],
}


@pytest.fixture
def training_env(monkeypatch):
    for name, value in {
        "MODEL_NAME": "abalone",
        "PIPELINE_NAME": PIPELINE,
        "IMAGE_URI": "123456789012.dkr.ecr.us-east-1.amazonaws.com/abalone:latest",
        "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/MLOps-SageMaker-us-east-1",
        "ARTIFACT_BUCKET": ARTIFACT_BUCKET,
    }.items():
        monkeypatch.setenv(name, value)


def model_source(s3, files=None):
    files = {"trainingjob.json": json.dumps(TRAINING_JOB), "Dockerfile": "FROM scratch\n"} if files is None else files
    return put_artifact(s3, "mlops-pipeline/ModelSour/def456", files)


def test_training_launch_starts_the_job_of_this_execution(aws, training_env, codepipeline_stub, context):
    module = load_lambda("TrainingLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    event = job_event([model_source(aws.client("s3"))])
    name = f"mlops-abalone-{EXECUTION_ID}"
    expect_success(stubber, event["CodePipeline.job"]["id"], name)

    result = module.lambda_handler(event, context)

    assert result == {"status": "started", "trainingJobName": name}
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    job = sagemaker.describe_training_job(TrainingJobName=name)
    assert (
        job["AlgorithmSpecification"]["TrainingImage"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/abalone:latest"
    )
    assert job["RoleArn"] == "arn:aws:iam::123456789012:role/MLOps-SageMaker-us-east-1"
    assert job["OutputDataConfig"]["S3OutputPath"] == f"s3://{ARTIFACT_BUCKET}/{EXECUTION_ID}"
    channel = job["InputDataConfig"][0]
    assert channel["ChannelName"] == "training"
    assert (
        channel["DataSource"]["S3DataSource"]["S3Uri"]
        == f"s3://{ARTIFACT_BUCKET}/{EXECUTION_ID}/input/training"
    )
    assert job["HyperParameters"] == {"epochs": "200", "batch_size": "32"}
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]}
    assert tags == {"project": "mlops", "PipelineExecutionId": EXECUTION_ID, "Pipeline": PIPELINE}


def test_training_request_adds_a_missing_training_channel(aws_env):
    module = load_lambda("TrainingLaunchJob")
    settings = {
        "model_name": "abalone",
        "pipeline_name": PIPELINE,
        "image_uri": "img",
        "role_arn": "role",
        "artifact_bucket": "bucket",
    }
    request = module.training_job_request(json.dumps({"ResourceConfig": {}}), settings, EXECUTION_ID)
    assert request["InputDataConfig"][0]["ChannelName"] == "training"
    assert request["AlgorithmSpecification"] == {"TrainingInputMode": "File", "TrainingImage": "img"}


@pytest.mark.parametrize(
    "files, user_parameters, message",
    [
        ({"Dockerfile": "FROM scratch\n"}, None, "no trainingjob.json at its root"),
        ({"trainingjob.json": "{"}, None, "trainingjob.json is not valid JSON"),
        (None, '{"Other": 1}', "UserParameters must be"),
    ],
)
def test_training_launch_reports_bad_input(
    aws, training_env, codepipeline_stub, context, files, user_parameters, message
):
    module = load_lambda("TrainingLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    event = job_event([model_source(aws.client("s3"), files)], user_parameters)
    seen = []
    expect_failure(stubber, event["CodePipeline.job"]["id"], "ConfigurationError", seen)
    assert module.lambda_handler(event, context)["status"] == "failed"
    assert message in seen[0]["message"], seen[0]["message"]


def test_training_launch_with_a_too_long_model_name_fails_clearly(
    aws, training_env, monkeypatch, codepipeline_stub, context
):
    monkeypatch.setenv("MODEL_NAME", "a-model-name-far-too-long-for-sagemaker")
    module = load_lambda("TrainingLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    event = job_event([model_source(aws.client("s3"))])
    seen = []
    expect_failure(stubber, event["CodePipeline.job"]["id"], "ConfigurationError", seen)
    module.lambda_handler(event, context)
    assert "longer than 63 characters" in seen[0]["message"]


def test_training_launch_reports_a_sagemaker_error(aws, training_env, codepipeline_stub, context):
    module = load_lambda("TrainingLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    module.sagemaker = sagemaker
    event = job_event([model_source(aws.client("s3"))])
    seen = []
    expect_failure(stubber, event["CodePipeline.job"]["id"], "JobFailed", seen)
    with Stubber(sagemaker) as sm_stubber:
        sm_stubber.add_client_error(
            "create_training_job", "ResourceInUse", "Training job names must be unique within an AWS account and region"
        )
        module.lambda_handler(event, context)
    assert "must be unique" in seen[0]["message"]


def test_the_repositorys_training_job_definition_launches(aws, training_env, codepipeline_stub, context, repo_root):
    path = repo_root / "container" / "trainingjob.json"
    module = load_lambda("TrainingLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    event = job_event([model_source(aws.client("s3"), {"trainingjob.json": path.read_text()})])
    expect_success(stubber, event["CodePipeline.job"]["id"])
    assert module.lambda_handler(event, context)["status"] == "started"
    job = boto3.client("sagemaker", region_name=REGION).describe_training_job(
        TrainingJobName=f"mlops-abalone-{EXECUTION_ID}"
    )
    assert [c["ChannelName"] for c in job["InputDataConfig"]] == ["training"]
