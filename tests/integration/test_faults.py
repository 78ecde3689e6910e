"""Faults, each through the real local cloud and the project's unchanged pipeline: where the pipeline stops, with
whose message, and what it leaves alone."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest
from botocore.exceptions import ClientError

from mlops_workshop import packaging, pipeline

pytestmark = pytest.mark.slow

DOWNSTREAM_OF_ETL = ("Train", "TrainApproval", "DeployDev", "SystemTest", "DeployPrd")


def action_message(e2e, stage, execution_id):
    """What GetPipelineState shows for the stage's failed action in this execution."""
    state = e2e.client("codepipeline").get_pipeline_state(name=e2e.names.pipeline_stack_name)
    found = next(s for s in state["stageStates"] if s["stageName"] == stage)
    assert found["latestExecution"] == {"pipelineExecutionId": execution_id, "status": "Failed"}
    latest = [a["latestExecution"] for a in found["actionStates"] if a.get("latestExecution", {}).get("status")
              == "Failed"]
    assert latest, found
    return (latest[0].get("errorDetails") or {}).get("message") or latest[0].get("summary", "")


def training_job(e2e, execution_id):
    return e2e.client("sagemaker").describe_training_job(
        TrainingJobName=f"mlops-{e2e.names.model_name}-{execution_id}")


def test_data_the_etl_job_rejects_stops_the_pipeline_at_etl_with_glues_message(e2e, first_run):
    rows = packaging.dataset_csv().decode().splitlines()
    rows[41] = "Q" + rows[41][1:]  # a sex code that is not M, F or I
    result = e2e.run(data_source=("\n".join(rows) + "\n").encode())
    run = result.run
    assert run.status == "Failed"
    assert run.failed_stage.name == "ETLApproval"
    glue = e2e.client("glue")
    runs = [r for r in glue.get_job_runs(JobName=f"{e2e.names.model_name}-preprocess")["JobRuns"]
            if (r.get("Arguments") or {}).get("--PIPELINE_EXECUTION_ID") == run.execution_id]
    assert [r["JobRunState"] for r in runs] == ["FAILED"]
    glue_message = runs[0]["ErrorMessage"]
    assert "row 42" in glue_message and "sex" in glue_message, glue_message
    # The approval's summary holds 512 characters: the log's place first, then as much of Glue's message as fits.
    shown = action_message(e2e, "ETLApproval", run.execution_id)
    assert f"stream {runs[0]['Id']}): {glue_message[:200]}" in shown
    assert "row 42" in shown and shown in run.failed_stage.message
    assert {name: run.stages[name].status for name in DOWNSTREAM_OF_ETL} == dict.fromkeys(DOWNSTREAM_OF_ETL, "NotRun")
    with pytest.raises(ClientError):
        training_job(e2e, run.execution_id)
    listed = e2e.client("s3").list_objects_v2(Bucket=e2e.names.artifact_bucket, Prefix=f"{run.execution_id}/input/")
    assert listed.get("KeyCount", 0) == 0, "the rejected data left ETL output behind"


def test_a_training_job_that_fails_stops_the_pipeline_at_train_with_sagemakers_reason(e2e, first_run, model_source):
    job_file = model_source / "trainingjob.json"
    request = json.loads(job_file.read_text())
    request.setdefault("HyperParameters", {})["epochs"] = "many"
    job_file.write_text(json.dumps(request, indent=2))
    result = e2e.run(sources={e2e.names.model_branch: model_source})
    run = result.run
    assert run.status == "Failed"
    assert run.stages["Train"].status == "Succeeded"  # the launch worked; the job itself failed
    assert run.failed_stage.name == "TrainApproval"
    job = training_job(e2e, run.execution_id)
    assert job["TrainingJobStatus"] == "Failed"
    assert "epochs='many'" in job["FailureReason"], job["FailureReason"]
    assert job["FailureReason"] in action_message(e2e, "TrainApproval", run.execution_id)
    assert job["FailureReason"] in run.failed_stage.message
    for stage in ("DeployDev", "SystemTest", "DeployPrd"):
        assert run.stages[stage].status == "NotRun"
    assert pipeline.results.model_package(e2e.session, e2e.names, run.execution_id) is None


def test_a_model_above_the_threshold_reaches_dev_but_not_prd_and_is_not_approved(e2e, first_run):
    cfn = e2e.client("cloudformation")
    stack = pipeline.stack.stack_status(cfn, e2e.names.pipeline_stack_name)
    threshold = next(p["ParameterValue"] for p in stack["Parameters"] if p["ParameterKey"] == "RmseThreshold")
    endpoints = pipeline.results.endpoint_names(e2e.names)
    prd_before = pipeline.results.endpoint_package(e2e.session, endpoints["Prd"])
    try:
        result = e2e.run(rmse_threshold=0.5)
    finally:
        pipeline.stack.deploy_stack(e2e.session, e2e.names, float(threshold), progress=lambda line: None)
    run = result.run
    assert run.status == "Failed"
    assert [s.status for s in run.stages.values()] == ["Succeeded"] * 7 + ["Failed", "NotRun"]
    assert "ThresholdNotMet" in run.failed_stage.message or "above the threshold" in run.failed_stage.message
    assert "above the threshold 0.5" in run.failed_stage.message
    assert result.rmse is not None and result.rmse > 0.5
    package = result.package
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert pipeline.results.endpoint_package(e2e.session, endpoints["Dev"]) == package["ModelPackageArn"]
    assert pipeline.results.endpoint_package(e2e.session, endpoints["Prd"]) == prd_before != package["ModelPackageArn"]
    assert isinstance(pipeline.results.endpoint_answer(e2e.session, endpoints["Prd"]), float)


def test_a_killed_training_process_fails_the_stage_saying_so_and_the_pipeline_ends(e2e, first_run, wait_for):
    done: dict = {}

    def run():
        try:
            done["result"] = e2e.run()
        except Exception as error:  # noqa: BLE001 - reported below
            done["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    prefix = f"train mlops-{e2e.names.model_name}-"
    process = wait_for(lambda: next((p for p in e2e.processes() if p["label"].startswith(prefix) and p["running"]),
                                    None), timeout=300, interval=0.1, what="the training process to start")
    os.kill(process["pid"], signal.SIGKILL)
    thread.join(300)
    assert not thread.is_alive(), "the pipeline did not end after its training process was killed"
    assert "error" not in done, done.get("error")
    run = done["result"].run
    assert process["label"] == f"{prefix}{run.execution_id}"
    assert run.status == "Failed"
    assert run.failed_stage.name == "TrainApproval"
    assert "killed (SIGKILL)" in run.failed_stage.message, run.failed_stage.message
    assert training_job(e2e, run.execution_id)["TrainingJobStatus"] == "Failed"
    for stage in ("DeployDev", "SystemTest", "DeployPrd"):
        assert run.stages[stage].status == "NotRun"
