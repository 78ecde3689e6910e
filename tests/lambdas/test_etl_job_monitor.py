"""EtlJobMonitor: a Glue run's end answers the ETLApproval of its execution, with Glue's own words."""

import boto3
import pytest
from botocore.stub import Stubber

from testkit.codepipeline import EXECUTION_ID, PIPELINE, expect_answer, expect_state
from testkit.lambdas import load_lambda
from testkit.moto import REGION


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


@pytest.fixture
def etl_settings():
    return {
        "job_name": "abalone-preprocess",
        "pipeline_name": PIPELINE,
        "stage": "ETLApproval",
        "action": "ApproveETL",
        "wait_seconds": 0,
        "poll_seconds": 0,
    }


def start_glue_run(execution_id=None):
    glue = boto3.client("glue", region_name=REGION)
    glue.create_job(
        Name="abalone-preprocess", Role="role", Command={"Name": "pythonshell", "ScriptLocation": "s3://b/k"}
    )
    arguments = {"--S3_OUTPUT_KEY_PREFIX": "x/input"}
    if execution_id:
        arguments["--PIPELINE_EXECUTION_ID"] = execution_id
    return glue, glue.start_job_run(JobName="abalone-preprocess", Arguments=arguments)["JobRunId"]


def test_a_succeeded_run_approves_the_etl_approval(aws, codepipeline_stub, etl_settings):
    module = load_lambda("EtlJobMonitor")
    cp, stubber = codepipeline_stub
    glue, run_id = start_glue_run(EXECUTION_ID)
    seen = []
    expect_state(stubber, "ETLApproval", "ApproveETL")
    expect_answer(stubber, "ETLApproval", "ApproveETL", "Approved", run_id, seen)

    result = module.on_glue_event(glue, cp, glue_event(run_id), etl_settings)

    assert result["answered"] and result["status"] == "Approved"
    assert seen[0]["summary"] == f"Glue job abalone-preprocess run {run_id} succeeded"


def test_a_failed_run_rejects_with_glues_error_message(aws_env, codepipeline_stub, etl_settings):
    # moto's runs always succeed, so the failed run is a Stubber answer in Glue's shape.
    module = load_lambda("EtlJobMonitor")
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
                    "Arguments": {"--PIPELINE_EXECUTION_ID": EXECUTION_ID},
                }
            },
            {"JobName": "abalone-preprocess", "RunId": "jr_9"},
        )
        expect_state(stubber, "ETLApproval", "ApproveETL")
        expect_answer(stubber, "ETLApproval", "ApproveETL", "Rejected", error, seen)
        result = module.on_glue_event(glue, cp, glue_event("jr_9", "FAILED", message="Command failed"), etl_settings)
    assert result["status"] == "Rejected"
    assert seen[0]["summary"] == (f"Glue job abalone-preprocess run jr_9 FAILED (its log: group "
                                  f"/aws-glue/python-jobs/error, stream jr_9): {error}")


def test_a_very_long_error_is_cut_to_what_codepipeline_accepts(aws_env, codepipeline_stub, etl_settings):
    module = load_lambda("EtlJobMonitor")
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
                    "Arguments": {"--PIPELINE_EXECUTION_ID": EXECUTION_ID},
                }
            },
            {"JobName": "abalone-preprocess", "RunId": "jr_9"},
        )
        expect_state(stubber, "ETLApproval", "ApproveETL")
        expect_answer(stubber, "ETLApproval", "ApproveETL", "Rejected", "TIMEOUT", seen)
        module.on_glue_event(glue, cp, glue_event("jr_9", "TIMEOUT"), etl_settings)
    assert len(seen[0]["summary"]) == 512


@pytest.mark.parametrize("event_change", [{"state": "RUNNING"}, {"jobName": "someone-elses-job"}])
def test_events_that_are_not_an_end_of_our_job_are_ignored(aws, codepipeline_stub, etl_settings, event_change):
    module = load_lambda("EtlJobMonitor")
    cp, _ = codepipeline_stub
    glue, run_id = start_glue_run(EXECUTION_ID)
    event = glue_event(run_id)
    event["detail"].update(event_change)
    assert module.on_glue_event(glue, cp, event, etl_settings) == {"answered": False, "status": "ignored"}


def test_a_run_not_started_by_the_pipeline_is_ignored(aws, codepipeline_stub, etl_settings):
    module = load_lambda("EtlJobMonitor")
    cp, _ = codepipeline_stub
    glue, run_id = start_glue_run(execution_id=None)
    assert module.on_glue_event(glue, cp, glue_event(run_id), etl_settings)["status"] == "ignored"


def test_the_monitor_waits_for_the_approval_to_open(aws, codepipeline_stub, etl_settings):
    # A run shorter than the pipeline's step to the next stage ends before the approval waits.
    module = load_lambda("EtlJobMonitor")
    cp, stubber = codepipeline_stub
    glue, run_id = start_glue_run(EXECUTION_ID)
    seen, sleeps = [], []
    expect_state(stubber, "ETLApproval", "ApproveETL", execution_id="an-older-execution", status="Succeeded")
    expect_state(stubber, "ETLApproval", "ApproveETL")
    expect_answer(stubber, "ETLApproval", "ApproveETL", "Approved", "succeeded", seen)
    settings = dict(etl_settings, wait_seconds=30, poll_seconds=2)
    result = module.on_glue_event(glue, cp, glue_event(run_id), settings, sleep=sleeps.append)
    assert result["status"] == "Approved"
    assert sleeps == [2]


def test_no_approval_for_the_execution_raises_so_eventbridge_retries(aws, codepipeline_stub, etl_settings):
    module = load_lambda("EtlJobMonitor")
    cp, stubber = codepipeline_stub
    glue, run_id = start_glue_run(EXECUTION_ID)
    expect_state(stubber, "ETLApproval", "ApproveETL", execution_id="another-execution")
    with pytest.raises(module.pipeline_jobs.ApprovalNotFound, match=EXECUTION_ID):
        module.on_glue_event(glue, cp, glue_event(run_id), etl_settings)


def test_an_approval_answered_already_is_left_alone(aws, codepipeline_stub, etl_settings):
    module = load_lambda("EtlJobMonitor")
    cp, stubber = codepipeline_stub
    glue, run_id = start_glue_run(EXECUTION_ID)
    expect_state(stubber, "ETLApproval", "ApproveETL", status="Succeeded")
    assert module.on_glue_event(glue, cp, glue_event(run_id), etl_settings) == {
        "answered": False,
        "status": "Succeeded",
    }


def test_an_approval_answered_meanwhile_is_not_an_error(aws, codepipeline_stub, etl_settings):
    module = load_lambda("EtlJobMonitor")
    cp, stubber = codepipeline_stub
    glue, run_id = start_glue_run(EXECUTION_ID)
    expect_state(stubber, "ETLApproval", "ApproveETL")
    stubber.add_client_error("put_approval_result", "ApprovalAlreadyCompletedException", "already approved")
    assert module.on_glue_event(glue, cp, glue_event(run_id), etl_settings)["answered"] is False


def test_a_pipeline_without_the_approval_stage_is_a_clear_error(aws, codepipeline_stub, etl_settings):
    module = load_lambda("EtlJobMonitor")
    cp, stubber = codepipeline_stub
    glue, run_id = start_glue_run(EXECUTION_ID)
    expect_state(stubber, "ManualGate", "ApproveETL")
    with pytest.raises(ValueError, match="has no stage ETLApproval"):
        module.on_glue_event(glue, cp, glue_event(run_id), etl_settings)


def test_the_etl_handler_reads_its_settings_from_the_environment(aws, codepipeline_stub, monkeypatch):
    monkeypatch.setenv("GLUE_JOB_NAME", "abalone-preprocess")
    monkeypatch.setenv("PIPELINE_NAME", PIPELINE)
    monkeypatch.setenv("APPROVAL_WAIT_SECONDS", "0")
    module = load_lambda("EtlJobMonitor")
    module.codepipeline, stubber = codepipeline_stub
    _, run_id = start_glue_run(EXECUTION_ID)
    seen = []
    expect_state(stubber, "ETLApproval", "ApproveETL")
    expect_answer(stubber, "ETLApproval", "ApproveETL", "Approved", run_id, seen)
    assert module.lambda_handler(glue_event(run_id), None)["status"] == "Approved"
