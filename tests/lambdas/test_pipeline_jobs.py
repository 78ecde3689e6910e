"""pipeline_jobs, the module the launchers and monitors share (and mlops_workshop.pipeline imports), on its own."""

import types

import pytest
from botocore.exceptions import ClientError

from mlops_workshop import pipeline_jobs
from testkit.codepipeline import (
    EXECUTION_ID,
    JOB_ID,
    PIPELINE,
    expect_answer,
    expect_failure,
    expect_state,
    job_event,
    put_artifact,
)
from testkit.moto import ARTIFACT_BUCKET, IMAGE, MODEL, REGION

APPROVAL = {"pipeline_name": PIPELINE, "stage": "TrainApproval", "action": "ApproveTrain"}


def job_data(user_parameters=None, artifacts=()):
    return job_event(list(artifacts), user_parameters)["CodePipeline.job"]["data"]


# ---------- the launchers' part ----------


def test_the_execution_id_comes_from_the_user_parameters():
    assert pipeline_jobs.execution_id_from(job_data()) == EXECUTION_ID


@pytest.mark.parametrize(
    "user_parameters, message",
    [
        ("", "UserParameters must be"),
        ('{"ExecutionId": "#{codepipeline.PipelineExecutionId}"}', "UserParameters must be"),
        ("[1]", "not a JSON object"),
        ("not json", "not a JSON object"),
    ],
)
def test_a_missing_or_unresolved_execution_id_is_a_configuration_error(user_parameters, message):
    with pytest.raises(pipeline_jobs.ConfigurationError, match=message):
        pipeline_jobs.execution_id_from(job_data(user_parameters))


def test_the_files_come_from_the_first_artifact_that_holds_them_all(aws):
    s3 = aws.client("s3")
    partial = put_artifact(s3, "p/Partial/1", {"job.json": "{}"})
    complete = put_artifact(s3, "p/Complete/2", {"job.json": '{"a": 1}', "preprocess.py": "x = 1\n"})
    files = pipeline_jobs.read_artifact_files(s3, [partial, complete], ["job.json", "preprocess.py"], "ETL source", "")
    assert files == {"job.json": b'{"a": 1}', "preprocess.py": b"x = 1\n"}


def test_missing_files_and_artifacts_say_what_to_push_where(aws):
    s3 = aws.client("s3")
    artifact = put_artifact(s3, "p/Source/1", {"README.md": "x"})
    with pytest.raises(pipeline_jobs.ConfigurationError) as raised:
        pipeline_jobs.read_artifact_files(s3, [artifact], ["a.json", "b.py"], "model source", "push them")
    assert str(raised.value) == "The model source has no a.json, b.py at its root: push them"
    with pytest.raises(pipeline_jobs.ConfigurationError, match="no input artifact: give it the model source output"):
        pipeline_jobs.read_artifact_files(s3, [], ["a.json"], "model source", "push them")
    s3.put_object(Bucket=ARTIFACT_BUCKET, Key="p/Broken/1", Body=b"not a zip")
    broken = {"name": "Broken", "location": {"s3Location": {"bucketName": ARTIFACT_BUCKET, "objectKey": "p/Broken/1"}}}
    with pytest.raises(pipeline_jobs.ConfigurationError, match="Input artifact Broken is not a zip archive"):
        pipeline_jobs.read_artifact_files(s3, [broken], ["a.json"], "model source", "push them")


def test_success_is_reported_with_a_summary_codepipeline_accepts(codepipeline_stub):
    cp, stubber = codepipeline_stub
    stubber.add_response(
        "put_job_success_result",
        {},
        {"jobId": JOB_ID, "executionDetails": {"summary": "s" * 2048, "externalExecutionId": "run-1"}},
    )
    pipeline_jobs.report_job_success(cp, JOB_ID, "s" * 3000, "run-1")


@pytest.mark.parametrize(
    "error, failure_type",
    [
        (pipeline_jobs.ConfigurationError("fix the input"), "ConfigurationError"),
        (KeyError("MODEL_NAME"), "ConfigurationError"),
        (RuntimeError("x" * 6000), "JobFailed"),
    ],
)
def test_a_failure_is_the_users_to_fix_or_a_failed_job(codepipeline_stub, error, failure_type):
    cp, stubber = codepipeline_stub
    seen = []
    expect_failure(stubber, JOB_ID, failure_type, seen)
    context = types.SimpleNamespace(aws_request_id="request-7")
    message = pipeline_jobs.report_job_failure(cp, JOB_ID, error, "the thing", context)
    assert message.startswith(f"Could not start the thing: {type(error).__name__}: ")
    assert seen[0]["message"] == message[:5000]
    assert seen[0]["externalExecutionId"] == "request-7"


def test_a_failure_without_a_context_has_no_external_id(codepipeline_stub):
    cp, stubber = codepipeline_stub
    seen = []
    expect_failure(stubber, JOB_ID, "JobFailed", seen)
    pipeline_jobs.report_job_failure(cp, JOB_ID, RuntimeError("boom"), "the thing")
    assert "externalExecutionId" not in seen[0]


# ---------- the monitors' part ----------


def test_approval_settings_default_to_the_pipelines_approval():
    assert pipeline_jobs.approval_settings("ETLApproval", "ApproveETL", environ={}) == {
        "stage": "ETLApproval",
        "action": "ApproveETL",
        "wait_seconds": 60.0,
        "poll_seconds": 3.0,
    }
    environ = {
        "APPROVAL_STAGE": "Gate",
        "APPROVAL_ACTION": "Open",
        "APPROVAL_WAIT_SECONDS": "0",
        "APPROVAL_POLL_SECONDS": "1",
    }
    assert pipeline_jobs.approval_settings("ETLApproval", "ApproveETL", environ) == {
        "stage": "Gate",
        "action": "Open",
        "wait_seconds": 0.0,
        "poll_seconds": 1.0,
    }


def test_an_open_approval_is_answered_with_a_summary_codepipeline_accepts(codepipeline_stub):
    cp, stubber = codepipeline_stub
    seen = []
    expect_state(stubber, "TrainApproval", "ApproveTrain")
    expect_answer(stubber, "TrainApproval", "ApproveTrain", "Rejected", "xxx", seen)
    settings = dict(APPROVAL, wait_seconds=0, poll_seconds=0)
    result = pipeline_jobs.answer_approval(cp, settings, EXECUTION_ID, False, "x" * 600)
    assert result == {"answered": True, "status": "Rejected", "summary": "x" * 512}


def test_the_wait_for_an_approval_ends_with_approval_not_found(codepipeline_stub, monkeypatch):
    cp, stubber = codepipeline_stub
    clock = iter([100.0, 100.0, 103.0, 106.0])
    monkeypatch.setattr(pipeline_jobs.time, "monotonic", lambda: next(clock))
    for _ in range(3):
        expect_state(stubber, "TrainApproval", "ApproveTrain", execution_id="an-older-execution")
    sleeps = []
    settings = dict(APPROVAL, wait_seconds=5, poll_seconds=3)
    with pytest.raises(pipeline_jobs.ApprovalNotFound, match=f"waits for execution {EXECUTION_ID} after 5 s"):
        pipeline_jobs.answer_approval(cp, settings, EXECUTION_ID, True, "done", sleep=sleeps.append)
    assert sleeps == [3, 3]


def test_an_approval_answered_elsewhere_or_decided_is_left_alone(codepipeline_stub):
    cp, stubber = codepipeline_stub
    settings = dict(APPROVAL, wait_seconds=0, poll_seconds=0)
    expect_state(stubber, "TrainApproval", "ApproveTrain", status="Rejected")
    assert pipeline_jobs.answer_approval(cp, settings, EXECUTION_ID, True, "done") == {
        "answered": False,
        "status": "Rejected",
    }
    expect_state(stubber, "TrainApproval", "ApproveTrain")
    stubber.add_client_error("put_approval_result", "InvalidApprovalTokenException", "token expired")
    assert pipeline_jobs.answer_approval(cp, settings, EXECUTION_ID, True, "done")["status"] == "answered elsewhere"


def test_other_errors_of_the_answer_are_raised(codepipeline_stub):
    cp, stubber = codepipeline_stub
    expect_state(stubber, "TrainApproval", "ApproveTrain")
    stubber.add_client_error("put_approval_result", "AccessDeniedException", "not authorized")
    with pytest.raises(ClientError, match="not authorized"):
        pipeline_jobs.answer_approval(cp, dict(APPROVAL, wait_seconds=0, poll_seconds=0), EXECUTION_ID, True, "done")


def test_a_pipeline_without_the_action_is_a_clear_error(codepipeline_stub):
    cp, stubber = codepipeline_stub
    expect_state(stubber, "TrainApproval", "SomethingElse")
    with pytest.raises(ValueError, match="has no action ApproveTrain in stage TrainApproval"):
        pipeline_jobs.approval_state(cp, PIPELINE, "TrainApproval", "ApproveTrain", EXECUTION_ID)


# ---------- the model registry ----------


def completed_job(sm, execution_id=EXECUTION_ID):
    name = f"mlops-{MODEL}-{execution_id}"
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        RoleArn=f"arn:aws:iam::123456789012:role/MLOps-SageMaker-{REGION}",
        OutputDataConfig={"S3OutputPath": f"s3://{ARTIFACT_BUCKET}/{execution_id}"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )
    return sm.describe_training_job(TrainingJobName=name)


def test_a_completed_job_is_registered_once_pending_approval(model_group):
    job = completed_job(model_group)

    arn = pipeline_jobs.register_model_package(model_group, MODEL, job, EXECUTION_ID)

    assert pipeline_jobs.register_model_package(model_group, MODEL, job, EXECUTION_ID) == arn
    assert len(model_group.list_model_packages(ModelPackageGroupName=MODEL)["ModelPackageSummaryList"]) == 1
    package = model_group.describe_model_package(ModelPackageName=arn)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["CustomerMetadataProperties"] == {
        "PipelineExecutionId": EXECUTION_ID,
        "TrainingJobName": job["TrainingJobName"],
    }
    specification = package["InferenceSpecification"]
    assert specification["Containers"][0]["ModelDataUrl"] == job["ModelArtifacts"]["S3ModelArtifacts"]
    assert specification["SupportedContentTypes"] == ["text/csv", "application/json"]
    assert package["MetadataProperties"] == {"GeneratedBy": job["TrainingJobArn"]}


def test_registering_in_a_group_that_does_not_exist_is_the_services_error(aws):
    sm = aws.client("sagemaker")
    with pytest.raises(ClientError):
        pipeline_jobs.register_model_package(sm, "no-such-group", completed_job(sm), EXECUTION_ID)


def test_the_module_makes_no_clients():
    """Callers pass theirs: the handlers' module-level clients, the library's session clients."""
    assert "boto3" not in vars(pipeline_jobs)
