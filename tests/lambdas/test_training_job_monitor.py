"""TrainingJobMonitor: a training job's end registers its model and answers the TrainApproval of its execution."""

import boto3
import pytest
from botocore.stub import Stubber

from testkit.codepipeline import EXECUTION_ID, PIPELINE, expect_answer, expect_state
from testkit.lambdas import load_lambda
from testkit.moto import ARTIFACT_BUCKET, IMAGE, REGION


def training_event(name, status="Completed", tags=None):
    detail = {"TrainingJobName": name, "TrainingJobStatus": status, "SecondaryStatus": status}
    if tags is not None:
        detail["Tags"] = tags
    return {
        "version": "0",
        "id": "e2",
        "detail-type": "SageMaker Training Job State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": "2025-01-01T00:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


@pytest.fixture
def training_settings():
    return {
        "pipeline_name": PIPELINE,
        "model_group": "abalone",
        "stage": "TrainApproval",
        "action": "ApproveTrain",
        "wait_seconds": 0,
        "poll_seconds": 0,
    }


def create_training_job(execution_id, pipeline=None):
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model_package_group(ModelPackageGroupName="abalone")
    name = f"mlops-abalone-{execution_id}"
    sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/MLOps-SageMaker-us-east-1",
        OutputDataConfig={"S3OutputPath": f"s3://{ARTIFACT_BUCKET}/{execution_id}"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        Tags=[
            {"Key": "PipelineExecutionId", "Value": execution_id},
            {"Key": "Pipeline", "Value": pipeline or PIPELINE},
        ],
    )
    return sagemaker, name


def test_a_completed_job_registers_the_model_and_approves(aws, codepipeline_stub, training_settings):
    module = load_lambda("TrainingJobMonitor")
    cp, stubber = codepipeline_stub
    sagemaker, name = create_training_job(EXECUTION_ID)
    seen = []
    expect_state(stubber, "TrainApproval", "ApproveTrain")
    expect_answer(stubber, "TrainApproval", "ApproveTrain", "Approved", "registered, pending approval", seen)

    result = module.on_training_event(sagemaker, cp, training_event(name), training_settings)

    assert result["status"] == "Approved"
    packages = sagemaker.list_model_packages(ModelPackageGroupName="abalone")["ModelPackageSummaryList"]
    assert len(packages) == 1
    package = sagemaker.describe_model_package(ModelPackageName=packages[0]["ModelPackageArn"])
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    container = package["InferenceSpecification"]["Containers"][0]
    job = sagemaker.describe_training_job(TrainingJobName=name)
    assert container == {"Image": IMAGE, "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"]} | {
        k: v for k, v in container.items() if k not in ("Image", "ModelDataUrl")
    }
    assert package["CustomerMetadataProperties"] == {"PipelineExecutionId": EXECUTION_ID, "TrainingJobName": name}
    assert packages[0]["ModelPackageArn"] in seen[0]["summary"]


def test_an_event_delivered_twice_registers_one_package(aws, codepipeline_stub, training_settings):
    module = load_lambda("TrainingJobMonitor")
    cp, stubber = codepipeline_stub
    sagemaker, name = create_training_job(EXECUTION_ID)
    seen = []
    expect_state(stubber, "TrainApproval", "ApproveTrain")
    expect_answer(stubber, "TrainApproval", "ApproveTrain", "Approved", "registered", seen)
    expect_state(stubber, "TrainApproval", "ApproveTrain", status="Succeeded")
    module.on_training_event(sagemaker, cp, training_event(name), training_settings)
    module.on_training_event(sagemaker, cp, training_event(name), training_settings)
    assert len(sagemaker.list_model_packages(ModelPackageGroupName="abalone")["ModelPackageSummaryList"]) == 1


def failed_job(status, reason):
    job = {
        "TrainingJobName": f"mlops-abalone-{EXECUTION_ID}",
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/mlops-abalone-{EXECUTION_ID}",
        "TrainingJobStatus": status,
        "SecondaryStatus": status,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": "2025-01-01T00:00:00Z",
        "ModelArtifacts": {"S3ModelArtifacts": ""},
    }
    if reason:
        job["FailureReason"] = reason
    return job


@pytest.mark.parametrize(
    "status, reason, expected",
    [
        (
            "Failed",
            "AlgorithmError: hyperparameter epochs must be a positive integer, got '-3'",
            "Failed: AlgorithmError: hyperparameter epochs",
        ),
        ("Stopped", None, "Stopped: SageMaker gave no failure reason"),
    ],
)
def test_a_failed_job_rejects_with_the_failure_reason(
    aws_env, codepipeline_stub, training_settings, status, reason, expected
):
    # moto's training jobs always complete, so the failed job is a Stubber answer in SageMaker's shape.
    module = load_lambda("TrainingJobMonitor")
    cp, stubber = codepipeline_stub
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    name = f"mlops-abalone-{EXECUTION_ID}"
    seen = []
    with Stubber(sagemaker) as sm_stubber:
        sm_stubber.add_response("describe_training_job", failed_job(status, reason), {"TrainingJobName": name})
        expect_state(stubber, "TrainApproval", "ApproveTrain")
        expect_answer(stubber, "TrainApproval", "ApproveTrain", "Rejected", expected.split(": ", 1)[1], seen)
        tags = {"PipelineExecutionId": EXECUTION_ID, "Pipeline": PIPELINE}
        result = module.on_training_event(sagemaker, cp, training_event(name, status, tags), training_settings)
        sm_stubber.assert_no_pending_responses()
    assert result["status"] == "Rejected"
    status_part, reason_part = expected.split(": ", 1)
    assert seen[0]["summary"].startswith(f"Training job {name} {status_part} (its logs: group "
                                         f"/aws/sagemaker/TrainingJobs, streams {name}/algo-*): {reason_part}")


def test_a_registration_that_fails_rejects_instead_of_hanging(aws, codepipeline_stub, training_settings):
    module = load_lambda("TrainingJobMonitor")
    cp, stubber = codepipeline_stub
    sagemaker, name = create_training_job(EXECUTION_ID)
    sagemaker_without_group = dict(training_settings, model_group="no-such-group")
    seen = []
    expect_state(stubber, "TrainApproval", "ApproveTrain")
    expect_answer(stubber, "TrainApproval", "ApproveTrain", "Rejected", "registering its model failed", seen)
    result = module.on_training_event(sagemaker, cp, training_event(name), sagemaker_without_group)
    assert result["status"] == "Rejected"


def test_a_job_of_another_pipeline_is_ignored(aws, codepipeline_stub, training_settings):
    module = load_lambda("TrainingJobMonitor")
    cp, _ = codepipeline_stub
    sagemaker, name = create_training_job(EXECUTION_ID, pipeline="another-pipeline")
    assert module.on_training_event(sagemaker, cp, training_event(name), training_settings)["status"] == "ignored"
    assert sagemaker.list_model_packages(ModelPackageGroupName="abalone")["ModelPackageSummaryList"] == []


def test_an_in_progress_event_is_ignored(aws, codepipeline_stub, training_settings):
    module = load_lambda("TrainingJobMonitor")
    cp, _ = codepipeline_stub
    sagemaker, name = create_training_job(EXECUTION_ID)
    event = training_event(name, "InProgress")
    assert module.on_training_event(sagemaker, cp, event, training_settings)["status"] == "ignored"


def test_the_training_handler_reads_its_settings_from_the_environment(aws, codepipeline_stub, monkeypatch):
    monkeypatch.setenv("PIPELINE_NAME", PIPELINE)
    monkeypatch.setenv("MODEL_GROUP", "abalone")
    monkeypatch.setenv("APPROVAL_WAIT_SECONDS", "0")
    module = load_lambda("TrainingJobMonitor")
    module.codepipeline, stubber = codepipeline_stub
    _, name = create_training_job(EXECUTION_ID)
    seen = []
    expect_state(stubber, "TrainApproval", "ApproveTrain")
    expect_answer(stubber, "TrainApproval", "ApproveTrain", "Approved", name, seen)
    assert module.lambda_handler(training_event(name), None)["status"] == "Approved"
