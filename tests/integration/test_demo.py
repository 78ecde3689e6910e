"""`mlops-workshop demo`: from an empty local cloud to the production endpoint answering, and run again."""

from __future__ import annotations

import contextlib
import io
import threading

import pytest

from mlops_workshop import approve, packaging, pipeline

pytestmark = pytest.mark.slow


def stage_statuses(e2e, execution_id):
    cp = e2e.client("codepipeline")
    stages = pipeline.execution.stage_results(cp, e2e.names.pipeline_stack_name, execution_id, list(pipeline.execution.STAGES))
    return {name: stage.status for name, stage in stages.items()}


def test_the_first_run_creates_everything_and_both_endpoints_answer(e2e, first_run):
    names, output = e2e.names, first_run.output
    assert first_run.code == 0
    for resource in (f"s3://{names.data_bucket}", f"s3://{names.artifact_bucket}", "codecommit:mlops", "ecr:abalone"):
        assert f"created  {resource}" in output
    assert "15 passed, 0 failed" in output
    assert "stack created: CREATE_COMPLETE" in output
    assert "(started by CreatePipeline)" in output
    assert stage_statuses(e2e, first_run.execution_id) == {stage: "Succeeded" for stage in pipeline.execution.STAGES}
    for stage in pipeline.execution.STAGES:  # progress stage by stage, with the time since the execution started
        assert any(line.split()[1:3] == [stage, "Succeeded"] for line in output.splitlines()
                   if line.startswith("  0:") or line.startswith("  1:") or line.startswith("  2:"))

    report = pipeline.results.evaluation_report(e2e.session, names, first_run.execution_id)
    assert report is not None, "the system test wrote no evaluation report"
    assert f"test RMSE: {report['metrics']['rmse']:.3f} rings (threshold 2.5: passed)" in output
    package = pipeline.results.model_package(e2e.session, names, first_run.execution_id)
    assert package["ModelApprovalStatus"] == "Approved"
    assert f"model package: {package['ModelPackageArn']} (Approved)" in output
    for stage, endpoint in pipeline.results.endpoint_names(names).items():
        assert pipeline.results.endpoint_package(e2e.session, endpoint) == package["ModelPackageArn"]
        assert 1 < pipeline.results.sample_prediction(e2e.session, endpoint) < 30
        assert f"{stage} endpoint {endpoint}: " in output and " rings for " in output
    assert "mlops-workshop localcloud stop --state-dir" in output
    print(f"first demo run: {first_run.seconds:.0f} s")


def test_a_second_run_with_new_data_and_a_person_approving_reuses_everything(e2e, first_run, tmp_path, demo_cli,
                                                                              wait_for):
    names, cp, s3 = e2e.names, e2e.client("codepipeline"), e2e.client("s3")
    before = {p["ModelPackageArn"] for p in e2e.client("sagemaker").list_model_packages(
        ModelPackageGroupName=names.model_name)["ModelPackageSummaryList"]}
    rows = packaging.dataset_csv().decode().splitlines()
    new_data = tmp_path / "abalone.csv"
    new_data.write_text("\n".join(rows[:-300]) + "\n")

    finished: dict = {}
    out = io.StringIO()

    def run():
        finished["code"], finished["output"] = demo_cli("--data", str(new_data), "--manual-approvals")

    with contextlib.redirect_stdout(out):
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        answers = []
        for stage in ("ETLApproval", "TrainApproval"):
            waiting = wait_for(lambda s=stage: [w for w in pipeline.execution.waiting_approvals(cp, names.pipeline_stack_name)
                                                if w[0] == s], timeout=300, what=f"{stage} to wait for a person")
            assert waiting
            execution = _waiting_execution(cp, names, stage)
            if stage == "ETLApproval":  # a person approves once the Glue run has succeeded
                wait_for(lambda x=execution: _glue_state(e2e, x) not in (None, "STARTING", "RUNNING"), timeout=300,
                         what=f"the ETL run of {execution} to end")
            else:  # and a model once its training job has completed
                job = f"mlops-{names.model_name}-{execution}"
                wait_for(lambda j=job: e2e.client("sagemaker").describe_training_job(TrainingJobName=j)[
                    "TrainingJobStatus"] != "InProgress", timeout=300, what=f"training job {job} to end")
            answers.append(approve.main(["--state-dir", str(e2e.state_dir), "--stage", stage,
                                              "--reason", "checked by the integration test"]))
        thread.join(600)
    assert not thread.is_alive(), "the demo did not end"
    assert answers == [0, 0], out.getvalue() + finished.get("output", "")[-4000:]
    code, output = finished["code"], finished["output"]
    assert code == 0, output[-5000:]
    assert "reusing" in output
    for resource in (f"s3://{names.data_bucket}", "codecommit:mlops", "ecr:abalone"):
        assert f"existed  {resource}" in output
    codecommit = e2e.client("codecommit")
    for branch in ("main", "etl", "test"):  # each branch pushed only when its folder changed (tests/demo checks that)
        tip = codecommit.get_branch(repositoryName=names.code_repo_name, branchName=branch)["branch"]["commitId"]
        assert f"  {branch:<6} {tip[:12]} " in output, f"branch {branch} is not at the commit the demo reported"
    assert "data set" in output and " uploaded" in output
    assert "(started by StartPipelineExecution)" in output
    assert "ETLApproval waits for you: mlops-workshop approve" in output

    execution = pipeline.execution.execution_ids(cp, names.pipeline_stack_name)[0]
    assert execution != first_run.execution_id
    assert stage_statuses(e2e, execution) == {stage: "Succeeded" for stage in pipeline.execution.STAGES}
    details = pipeline.execution.action_details(cp, names.pipeline_stack_name, execution)
    approvals = [d for d in details if d["stageName"] in ("ETLApproval", "TrainApproval")]
    assert all("checked by the integration test" in d["output"]["executionResult"]["externalExecutionSummary"]
               for d in approvals), approvals
    # The new data went through ETL: the new training split has the rows the first one had, less 300.
    first_rows = _rows(s3, names.artifact_bucket, first_run.execution_id)
    assert sum(_rows(s3, names.artifact_bucket, execution).values()) == sum(first_rows.values()) - 300

    package = pipeline.results.model_package(e2e.session, names, execution)
    assert package["ModelPackageArn"] not in before
    assert package["ModelPackageVersion"] == len(before) + 1
    assert package["ModelApprovalStatus"] == "Approved"
    for endpoint in pipeline.results.endpoint_names(names).values():
        assert pipeline.results.endpoint_package(e2e.session, endpoint) == package["ModelPackageArn"]
        assert 1 < pipeline.results.sample_prediction(e2e.session, endpoint) < 30

    # The first run's artifacts and model package are all still there.
    first = pipeline.results.model_package(e2e.session, names, first_run.execution_id)
    assert first["ModelApprovalStatus"] == "Approved"
    job = f"mlops-{names.model_name}-{first_run.execution_id}"
    for key in ("input/training/train.csv", "input/testing/test.csv", "evaluation/evaluation.json",
                f"{job}/output/model.tar.gz"):
        s3.head_object(Bucket=names.artifact_bucket, Key=f"{first_run.execution_id}/{key}")
    versions = s3.list_object_versions(Bucket=names.data_bucket, Prefix=names.raw_data_key)["Versions"]
    assert len(versions) >= 2


def _glue_state(e2e, execution_id):
    runs = e2e.client("glue").get_job_runs(JobName=f"{e2e.names.model_name}-preprocess")["JobRuns"]
    return next((r["JobRunState"] for r in runs
                 if (r.get("Arguments") or {}).get("--PIPELINE_EXECUTION_ID") == execution_id), None)


def _waiting_execution(cp, names, stage):
    state = cp.get_pipeline_state(name=names.pipeline_stack_name)["stageStates"]
    return next(s for s in state if s["stageName"] == stage)["latestExecution"]["pipelineExecutionId"]


def _rows(s3, bucket, execution_id):
    counts = {}
    for name in ("training/train.csv", "training/validate.csv", "testing/test.csv"):
        body = s3.get_object(Bucket=bucket, Key=f"{execution_id}/input/{name}")["Body"].read().decode()
        counts[name] = len([line for line in body.splitlines() if line.strip()])
    return counts


def test_approve_says_when_nothing_waits(e2e, first_run, capsys):
    assert approve.main(["--state-dir", str(e2e.state_dir), "--stage", "ETLApproval"]) == 1
    assert "No approval waits in mlops-pipeline/ETLApproval now" in capsys.readouterr().err


def test_approve_refuses_a_stage_that_is_not_an_approval(e2e, first_run):
    with pytest.raises(pipeline.PipelineError, match="Train is not an approval stage"):
        pipeline.execution.answer_approval(e2e.session, e2e.names, "Train", True)


def test_approve_in_an_account_uses_the_credentials_and_says_when_they_are_missing(e2e, first_run, capsys,
                                                                                   monkeypatch, tmp_path):
    # boto3 sends an "account"'s calls to AWS_ENDPOINT_URL: here, the session's local cloud.
    monkeypatch.setenv("AWS_ENDPOINT_URL", e2e.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert approve.main(["--aws", "--region", "us-east-1", "--stage", "TrainApproval"]) == 1
    assert "No approval waits in mlops-pipeline/TrainApproval now" in capsys.readouterr().err
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert approve.main(["--aws", "--stage", "TrainApproval"]) == 2
    assert "check your credentials" in capsys.readouterr().err
