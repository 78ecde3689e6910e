"""EtlJobMonitor and TrainingJobMonitor: state-change events answer the right approval, with the service's own words."""

import boto3
import pytest
from botocore.stub import Stubber

REGION = "us-east-1"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/abalone:latest"


def glue_event(run_id, state="SUCCEEDED", job="abalone-preprocess", message="Job run succeeded"):
    return {
        "version": "0",
        "id": "e1",
        "detail-type": "Glue Job State Change",
        "source": "aws.glue",
        "account": "123456789012",
        "time": "2025-01-01T00:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {"jobName": job, "severity": "INFO", "state": state, "jobRunId": run_id, "message": message},
    }


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
def etl_settings(kit):
    return {
        "job_name": "abalone-preprocess",
        "pipeline_name": kit.PIPELINE,
        "stage": "ETLApproval",
        "action": "ApproveETL",
        "wait_seconds": 0,
        "poll_seconds": 0,
    }


@pytest.fixture
def training_settings(kit):
    return {
        "pipeline_name": kit.PIPELINE,
        "model_group": "abalone",
        "stage": "TrainApproval",
        "action": "ApproveTrain",
        "wait_seconds": 0,
        "poll_seconds": 0,
    }


def start_glue_run(kit, execution_id=None):
    glue = boto3.client("glue", region_name=REGION)
    glue.create_job(
        Name="abalone-preprocess", Role="role", Command={"Name": "pythonshell", "ScriptLocation": "s3://b/k"}
    )
    arguments = {"--S3_OUTPUT_KEY_PREFIX": "x/input"}
    if execution_id:
        arguments["--PIPELINE_EXECUTION_ID"] = execution_id
    return glue, glue.start_job_run(JobName="abalone-preprocess", Arguments=arguments)["JobRunId"]


def expect_state(kit, stubber, stage, action, **kwargs):
    stubber.add_response("get_pipeline_state", kit.pipeline_state(stage, action, **kwargs), {"name": kit.PIPELINE})


def expect_answer(kit, stubber, stage, action, status, summary_part, seen):
    class Result:
        def __eq__(self, other):
            seen.append(other)
            return other["status"] == status and summary_part in other["summary"] and len(other["summary"]) <= 512

    stubber.add_response(
        "put_approval_result",
        {"approvedAt": "2025-01-01T00:00:00Z"},
        {
            "pipelineName": kit.PIPELINE,
            "stageName": stage,
            "actionName": action,
            "result": Result(),
            "token": "approval-token",
        },
    )


# ---------- EtlJobMonitor ----------


def test_a_succeeded_run_approves_the_etl_approval(kit, aws, codepipeline_stub, etl_settings):
    module = kit.load_lambda("EtlJobMonitor")
    cp, stubber = codepipeline_stub
    glue, run_id = start_glue_run(kit, kit.EXECUTION_ID)
    seen = []
    expect_state(kit, stubber, "ETLApproval", "ApproveETL")
    expect_answer(kit, stubber, "ETLApproval", "ApproveETL", "Approved", run_id, seen)

    result = module.on_glue_event(glue, cp, glue_event(run_id), etl_settings)

    assert result["answered"] and result["status"] == "Approved"
    assert seen[0]["summary"] == f"Glue job abalone-preprocess run {run_id} succeeded"


def test_a_failed_run_rejects_with_glues_error_message(kit, aws_env, codepipeline_stub, etl_settings):
    # moto's runs always succeed, so the failed run is a Stubber answer in Glue's shape.
    module = kit.load_lambda("EtlJobMonitor")
    cp, stubber = codepipeline_stub
    glue = boto3.client("glue", region_name=REGION)
    error = "EtlError: row 7 column sex: unknown sex code 'X' (expected one of F, I, M)"
    seen = []
    with Stubber(glue) as glue_stubber:
        glue_stubber.add_response(
            "get_job_run",
            {
                "JobRun": {
                    "Id": "jr_9",
                    "JobName": "abalone-preprocess",
                    "JobRunState": "FAILED",
                    "ErrorMessage": error,
                    "Arguments": {"--PIPELINE_EXECUTION_ID": kit.EXECUTION_ID},
                }
            },
            {"JobName": "abalone-preprocess", "RunId": "jr_9"},
        )
        expect_state(kit, stubber, "ETLApproval", "ApproveETL")
        expect_answer(kit, stubber, "ETLApproval", "ApproveETL", "Rejected", error, seen)
        result = module.on_glue_event(glue, cp, glue_event("jr_9", "FAILED", message="Command failed"), etl_settings)
    assert result["status"] == "Rejected"
    assert seen[0]["summary"] == f"Glue job abalone-preprocess run jr_9 FAILED: {error}"


def test_a_very_long_error_is_cut_to_what_codepipeline_accepts(kit, aws_env, codepipeline_stub, etl_settings):
    module = kit.load_lambda("EtlJobMonitor")
    cp, stubber = codepipeline_stub
    glue = boto3.client("glue", region_name=REGION)
    seen = []
    with Stubber(glue) as glue_stubber:
        glue_stubber.add_response(
            "get_job_run",
            {
                "JobRun": {
                    "Id": "jr_9",
                    "JobRunState": "TIMEOUT",
                    "ErrorMessage": "x" * 5000,
                    "Arguments": {"--PIPELINE_EXECUTION_ID": kit.EXECUTION_ID},
                }
            },
            {"JobName": "abalone-preprocess", "RunId": "jr_9"},
        )
        expect_state(kit, stubber, "ETLApproval", "ApproveETL")
        expect_answer(kit, stubber, "ETLApproval", "ApproveETL", "Rejected", "TIMEOUT", seen)
        module.on_glue_event(glue, cp, glue_event("jr_9", "TIMEOUT"), etl_settings)
    assert len(seen[0]["summary"]) == 512


@pytest.mark.parametrize("event_change", [{"state": "RUNNING"}, {"jobName": "someone-elses-job"}])
def test_events_that_are_not_an_end_of_our_job_are_ignored(kit, aws, codepipeline_stub, etl_settings, event_change):
    module = kit.load_lambda("EtlJobMonitor")
    cp, _ = codepipeline_stub
    glue, run_id = start_glue_run(kit, kit.EXECUTION_ID)
    event = glue_event(run_id)
    event["detail"].update(event_change)
    assert module.on_glue_event(glue, cp, event, etl_settings) == {"answered": False, "status": "ignored"}


def test_a_run_not_started_by_the_pipeline_is_ignored(kit, aws, codepipeline_stub, etl_settings):
    module = kit.load_lambda("EtlJobMonitor")
    cp, _ = codepipeline_stub
    glue, run_id = start_glue_run(kit, execution_id=None)
    assert module.on_glue_event(glue, cp, glue_event(run_id), etl_settings)["status"] == "ignored"


def test_the_monitor_waits_for_the_approval_to_open(kit, aws, codepipeline_stub, etl_settings):
    # A run shorter than the pipeline's step to the next stage ends before the approval waits.
    module = kit.load_lambda("EtlJobMonitor")
    cp, stubber = codepipeline_stub
    glue, run_id = start_glue_run(kit, kit.EXECUTION_ID)
    seen, sleeps = [], []
    expect_state(kit, stubber, "ETLApproval", "ApproveETL", execution_id="an-older-execution", status="Succeeded")
    expect_state(kit, stubber, "ETLApproval", "ApproveETL")
    expect_answer(kit, stubber, "ETLApproval", "ApproveETL", "Approved", "succeeded", seen)
    settings = dict(etl_settings, wait_seconds=30, poll_seconds=2)
    result = module.on_glue_event(glue, cp, glue_event(run_id), settings, sleep=sleeps.append)
    assert result["status"] == "Approved"
    assert sleeps == [2]


def test_no_approval_for_the_execution_raises_so_eventbridge_retries(kit, aws, codepipeline_stub, etl_settings):
    module = kit.load_lambda("EtlJobMonitor")
    cp, stubber = codepipeline_stub
    glue, run_id = start_glue_run(kit, kit.EXECUTION_ID)
    expect_state(kit, stubber, "ETLApproval", "ApproveETL", execution_id="another-execution")
    with pytest.raises(module.ApprovalNotFound, match=kit.EXECUTION_ID):
        module.on_glue_event(glue, cp, glue_event(run_id), etl_settings)


def test_an_approval_answered_already_is_left_alone(kit, aws, codepipeline_stub, etl_settings):
    module = kit.load_lambda("EtlJobMonitor")
    cp, stubber = codepipeline_stub
    glue, run_id = start_glue_run(kit, kit.EXECUTION_ID)
    expect_state(kit, stubber, "ETLApproval", "ApproveETL", status="Succeeded")
    assert module.on_glue_event(glue, cp, glue_event(run_id), etl_settings) == {
        "answered": False,
        "status": "Succeeded",
    }


def test_an_approval_answered_meanwhile_is_not_an_error(kit, aws, codepipeline_stub, etl_settings):
    module = kit.load_lambda("EtlJobMonitor")
    cp, stubber = codepipeline_stub
    glue, run_id = start_glue_run(kit, kit.EXECUTION_ID)
    expect_state(kit, stubber, "ETLApproval", "ApproveETL")
    stubber.add_client_error("put_approval_result", "ApprovalAlreadyCompletedException", "already approved")
    assert module.on_glue_event(glue, cp, glue_event(run_id), etl_settings)["answered"] is False


def test_a_pipeline_without_the_approval_stage_is_a_clear_error(kit, aws, codepipeline_stub, etl_settings):
    module = kit.load_lambda("EtlJobMonitor")
    cp, stubber = codepipeline_stub
    glue, run_id = start_glue_run(kit, kit.EXECUTION_ID)
    expect_state(kit, stubber, "ManualGate", "ApproveETL")
    with pytest.raises(ValueError, match="has no stage ETLApproval"):
        module.on_glue_event(glue, cp, glue_event(run_id), etl_settings)


def test_the_etl_handler_reads_its_settings_from_the_environment(kit, aws, codepipeline_stub, monkeypatch):
    monkeypatch.setenv("GLUE_JOB_NAME", "abalone-preprocess")
    monkeypatch.setenv("PIPELINE_NAME", kit.PIPELINE)
    monkeypatch.setenv("APPROVAL_WAIT_SECONDS", "0")
    module = kit.load_lambda("EtlJobMonitor")
    module.codepipeline, stubber = codepipeline_stub
    _, run_id = start_glue_run(kit, kit.EXECUTION_ID)
    seen = []
    expect_state(kit, stubber, "ETLApproval", "ApproveETL")
    expect_answer(kit, stubber, "ETLApproval", "ApproveETL", "Approved", run_id, seen)
    assert module.lambda_handler(glue_event(run_id), None)["status"] == "Approved"


# ---------- TrainingJobMonitor ----------


def create_training_job(kit, execution_id, pipeline=None):
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model_package_group(ModelPackageGroupName="abalone")
    name = f"mlops-abalone-{execution_id}"
    sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/MLOps-SageMaker-us-east-1",
        OutputDataConfig={"S3OutputPath": f"s3://{kit.ARTIFACT_BUCKET}/{execution_id}"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        Tags=[
            {"Key": "PipelineExecutionId", "Value": execution_id},
            {"Key": "Pipeline", "Value": pipeline or kit.PIPELINE},
        ],
    )
    return sagemaker, name


def test_a_completed_job_registers_the_model_and_approves(kit, aws, codepipeline_stub, training_settings):
    module = kit.load_lambda("TrainingJobMonitor")
    cp, stubber = codepipeline_stub
    sagemaker, name = create_training_job(kit, kit.EXECUTION_ID)
    seen = []
    expect_state(kit, stubber, "TrainApproval", "ApproveTrain")
    expect_answer(kit, stubber, "TrainApproval", "ApproveTrain", "Approved", "registered, pending approval", seen)

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
    assert package["CustomerMetadataProperties"] == {"PipelineExecutionId": kit.EXECUTION_ID, "TrainingJobName": name}
    assert packages[0]["ModelPackageArn"] in seen[0]["summary"]


def test_an_event_delivered_twice_registers_one_package(kit, aws, codepipeline_stub, training_settings):
    module = kit.load_lambda("TrainingJobMonitor")
    cp, stubber = codepipeline_stub
    sagemaker, name = create_training_job(kit, kit.EXECUTION_ID)
    seen = []
    expect_state(kit, stubber, "TrainApproval", "ApproveTrain")
    expect_answer(kit, stubber, "TrainApproval", "ApproveTrain", "Approved", "registered", seen)
    expect_state(kit, stubber, "TrainApproval", "ApproveTrain", status="Succeeded")
    module.on_training_event(sagemaker, cp, training_event(name), training_settings)
    module.on_training_event(sagemaker, cp, training_event(name), training_settings)
    assert len(sagemaker.list_model_packages(ModelPackageGroupName="abalone")["ModelPackageSummaryList"]) == 1


def failed_job(kit, status, reason):
    job = {
        "TrainingJobName": f"mlops-abalone-{kit.EXECUTION_ID}",
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/mlops-abalone-{kit.EXECUTION_ID}",
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
    kit, aws_env, codepipeline_stub, training_settings, status, reason, expected
):
    # moto's training jobs always complete, so the failed job is a Stubber answer in SageMaker's shape.
    module = kit.load_lambda("TrainingJobMonitor")
    cp, stubber = codepipeline_stub
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    name = f"mlops-abalone-{kit.EXECUTION_ID}"
    seen = []
    with Stubber(sagemaker) as sm_stubber:
        sm_stubber.add_response("describe_training_job", failed_job(kit, status, reason), {"TrainingJobName": name})
        expect_state(kit, stubber, "TrainApproval", "ApproveTrain")
        expect_answer(kit, stubber, "TrainApproval", "ApproveTrain", "Rejected", expected, seen)
        tags = {"PipelineExecutionId": kit.EXECUTION_ID, "Pipeline": kit.PIPELINE}
        result = module.on_training_event(sagemaker, cp, training_event(name, status, tags), training_settings)
        sm_stubber.assert_no_pending_responses()
    assert result["status"] == "Rejected"
    assert seen[0]["summary"].startswith(f"Training job {name} {expected}")


def test_a_registration_that_fails_rejects_instead_of_hanging(kit, aws, codepipeline_stub, training_settings):
    module = kit.load_lambda("TrainingJobMonitor")
    cp, stubber = codepipeline_stub
    sagemaker, name = create_training_job(kit, kit.EXECUTION_ID)
    sagemaker_without_group = dict(training_settings, model_group="no-such-group")
    seen = []
    expect_state(kit, stubber, "TrainApproval", "ApproveTrain")
    expect_answer(kit, stubber, "TrainApproval", "ApproveTrain", "Rejected", "registering its model failed", seen)
    result = module.on_training_event(sagemaker, cp, training_event(name), sagemaker_without_group)
    assert result["status"] == "Rejected"


def test_a_job_of_another_pipeline_is_ignored(kit, aws, codepipeline_stub, training_settings):
    module = kit.load_lambda("TrainingJobMonitor")
    cp, _ = codepipeline_stub
    sagemaker, name = create_training_job(kit, kit.EXECUTION_ID, pipeline="another-pipeline")
    assert module.on_training_event(sagemaker, cp, training_event(name), training_settings)["status"] == "ignored"
    assert sagemaker.list_model_packages(ModelPackageGroupName="abalone")["ModelPackageSummaryList"] == []


def test_an_in_progress_event_is_ignored(kit, aws, codepipeline_stub, training_settings):
    module = kit.load_lambda("TrainingJobMonitor")
    cp, _ = codepipeline_stub
    sagemaker, name = create_training_job(kit, kit.EXECUTION_ID)
    event = training_event(name, "InProgress")
    assert module.on_training_event(sagemaker, cp, event, training_settings)["status"] == "ignored"


def test_the_training_handler_reads_its_settings_from_the_environment(kit, aws, codepipeline_stub, monkeypatch):
    monkeypatch.setenv("PIPELINE_NAME", kit.PIPELINE)
    monkeypatch.setenv("MODEL_GROUP", "abalone")
    monkeypatch.setenv("APPROVAL_WAIT_SECONDS", "0")
    module = kit.load_lambda("TrainingJobMonitor")
    module.codepipeline, stubber = codepipeline_stub
    _, name = create_training_job(kit, kit.EXECUTION_ID)
    seen = []
    expect_state(kit, stubber, "TrainApproval", "ApproveTrain")
    expect_answer(kit, stubber, "TrainApproval", "ApproveTrain", "Approved", name, seen)
    assert module.lambda_handler(training_event(name), None)["status"] == "Approved"
