"""mlops_workshop.workshop and .plots, what the notebooks call, without a cloud: targets, templates, verdicts, plots."""

import json
import re
import shutil

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from mlops_workshop import data, plots, workshop  # noqa: E402
from mlops_workshop.config import WorkshopNames  # noqa: E402
from testkit.tools import require_tool  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_the_target_is_local_unless_chosen(monkeypatch):
    monkeypatch.delenv("MLOPS_TARGET", raising=False)
    assert workshop.choose_target() == "local"
    monkeypatch.setenv("MLOPS_TARGET", "AWS")
    assert workshop.choose_target() == "aws"
    assert workshop.choose_target("local") == "local"


def test_an_unknown_target_is_refused_with_the_choices():
    with pytest.raises(workshop.WorkshopError, match=r"unknown target 'azure': use one of local, aws"):
        workshop.choose_target("azure")


def test_the_code_source_is_codecommit_unless_chosen_and_a_wrong_one_is_refused(monkeypatch):
    monkeypatch.delenv("MLOPS_SOURCE", raising=False)
    assert workshop.choose_source() == "CodeCommit"
    monkeypatch.setenv("MLOPS_SOURCE", "s3")
    assert workshop.choose_source() == "S3"
    assert workshop.choose_source("CodeCommit") == "CodeCommit"
    with pytest.raises(workshop.WorkshopError, match="unknown code source 'github': use codecommit or s3"):
        workshop.choose_source("github")


def test_the_aws_target_without_credentials_says_how_to_get_them(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(workshop.WorkshopError, match="no AWS credentials found: run `aws configure`"):
        workshop.connect("aws", tmp_path, progress=lambda _: None)


def test_the_aws_target_refuses_an_endpoint_override(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    with pytest.raises(workshop.WorkshopError, match="AWS_ENDPOINT_URL is set"):
        workshop.connect("aws", tmp_path, progress=lambda _: None)


def test_the_pipeline_stages_come_from_the_template_in_order():
    stages = workshop.pipeline_stages()
    assert [name for name, _ in stages] == ["Source", "Build", "ETL", "ETLApproval", "Train", "TrainApproval",
                                            "DeployDev", "SystemTest", "DeployPrd"]
    assert dict(stages)["Source"] == ["ModelSource", "ETLSource", "DataSource", "TestSource"]


def test_the_resource_table_lists_every_resource_with_its_service():
    table = workshop.template_resources()
    resources = workshop.read_template()["Resources"]
    assert sorted(table["resource"]) == sorted(resources)
    assert set(table.loc[table["type"] == "AWS::CodePipeline::Pipeline", "service"]) == {"CodePipeline"}
    assert (table.loc[table["type"].str.startswith("Custom::"), "service"] == "custom resource").all()


def test_the_template_lints_clean_and_a_broken_one_does_not(tmp_path):
    assert workshop.lint_template() == []
    broken = tmp_path / "broken.yml"
    broken.write_text("Resources:\n  Function:\n    Type: AWS::Lambda::Function\n"
                      "    Properties: {Runtime: python2.7, Handler: x.y, Role: arn, Code: {ZipFile: x}}\n")
    findings = workshop.lint_template(broken)
    assert findings and any("python2.7" in line for line in findings)


def test_the_threshold_is_the_templates_default():
    assert workshop.rmse_threshold() == float(workshop.read_template()["Parameters"]["RmseThreshold"]["Default"])


def test_the_verdict_applies_check_threshold_at_and_above_the_threshold():
    labels = [10.0, 12.0, 8.0, 9.0]
    at = workshop.system_test_verdict(labels, [12.0, 10.0, 10.0, 7.0], threshold=2.0)
    assert at["rmse"] == pytest.approx(2.0) and at["passed"] and at["next"] == "StartMonitoringBaseline"
    above = workshop.system_test_verdict(labels, [13.0, 10.0, 10.0, 7.0], threshold=2.0)
    assert not above["passed"] and above["next"] == "ThresholdNotMet"
    assert above["mae"] == pytest.approx(9 / 4) and above["rows"] == 4


def test_the_system_test_definition_is_build_pys_with_this_accounts_functions():
    names = WorkshopNames(account="111122223333", region="eu-west-1")
    definition = workshop.system_test_definition(names)
    assert definition["StartAt"] == "EvaluateEndpoint"
    function = definition["States"]["EvaluateEndpoint"]["Parameters"]["FunctionName"]
    assert function == "arn:aws:lambda:eu-west-1:111122223333:function:abalone-EvaluateEndpoint"


def test_the_state_machine_is_drawn_from_its_definition_every_state_and_transition():
    definition = workshop.system_test_definition(WorkshopNames())
    diagram = plots.state_machine(definition)
    source = diagram.graph.source
    for name, state in definition["States"].items():
        assert f"{name}\n({state['Type']})" in source
    edges = plots.state_transitions(definition)
    assert ("CheckThreshold", "StartMonitoringBaseline", "$.Evaluation.rmse <= $.Threshold") in edges
    assert ("CheckThreshold", "ThresholdNotMet", "otherwise") in edges
    assert source.count("->") == len(set(edges)) + 1  # and the start arrow
    assert "$.Evaluation.rmse <= $.Threshold" in source
    assert repr(diagram).startswith(f"state machine: {len(definition['States'])} states")


def test_the_diagrams_render_as_png_with_graphviz():
    require_tool("graphviz", shutil.which("dot"), "Debian: apt-get install graphviz")
    diagram = plots.state_machine(workshop.system_test_definition(WorkshopNames()))
    assert diagram._repr_png_().startswith(b"\x89PNG")


def test_the_stages_and_the_architecture_are_drawn_from_the_template():
    actions = workshop.stage_actions()
    stages = [name for name, _ in workshop.pipeline_stages()]
    stage_diagram = plots.pipeline_stages(actions).graph.source
    assert all(f"cluster_{stage}" in stage_diagram for stage in stages)
    assert all(f"{action}\n" in stage_diagram for action in actions["action"])
    architecture = plots.architecture(actions, WorkshopNames()).graph.source
    assert all(re.search(rf"^\s*{stage} \[", architecture, re.MULTILINE) for stage in stages)


def test_the_dataset_figure_shows_every_row():
    raw = data.load_raw()
    fig = plots.dataset_overview(raw)
    assert len(fig.axes) == 3
    assert f"{len(raw):,}" in fig.axes[0].get_title()
    assert sum(patch.get_height() for patch in fig.axes[0].patches) == len(raw)


def test_the_learning_curve_labels_the_loss_as_a_loss_and_marks_the_kept_epoch():
    metadata = {"history": {"loss": [9.0, 5.0, 4.8], "val_rmse": [2.6, 2.2, 2.3]}, "best_epoch": 2,
                "training": {"rmse": 2.0}}
    fig = plots.learning_curve(metadata)
    loss, rmse = fig.axes
    assert "L2 penalty" in loss.get_title() and "rings²" in loss.get_ylabel()
    assert rmse.get_ylabel() == "RMSE (rings)"
    labels = [t.get_text() for t in rmse.get_legend().get_texts()]
    assert "kept: epoch 2, RMSE 2.20" in labels and "training RMSE of the kept model: 2.00" in labels
    with pytest.raises(ValueError, match="no training history"):
        plots.learning_curve({"best_epoch": 1})


def test_the_prediction_figure_reports_the_rmse():
    fig = plots.predicted_vs_actual([10.0, 12.0], [11.0, 11.0], "check")
    assert "RMSE 1.00)" in fig.axes[0].get_title()


def test_the_timeline_draws_each_action_at_its_start_and_says_what_the_approvals_wait_for():
    spans = [workshop.ActionSpan("ETL", "GlueJob", "Lambda", 0.0, 0.4, "Succeeded"),
             workshop.ActionSpan("ETLApproval", "ApproveETL", "Manual", 0.5, 6.0, "Succeeded"),
             workshop.ActionSpan("DeployDev", "Build", "CodeBuild", 6.6, 2.0, "Succeeded"),
             workshop.ActionSpan("DeployDev", "Deploy", "CloudFormation", 8.7, 1.0, "Failed")]
    fig = plots.pipeline_timeline(spans, "Failed")
    bars = fig.axes[0].patches
    assert [(bar.get_x(), bar.get_width()) for bar in bars] == [(0.0, 0.4), (0.5, 6.0), (6.6, 2.0), (8.7, 1.0)]
    assert [bar.get_y() + bar.get_height() / 2 for bar in bars] == [0, 1, 2, 2]
    notes = [text.get_text() for text in fig.axes[0].texts]
    assert any("waits for the Glue run's end" in note for note in notes)
    assert "execution" in fig.axes[0].get_title() and "-" not in fig.axes[0].get_title()


def test_run_tests_returns_pytests_status(tmp_path, monkeypatch):
    lines = []
    assert workshop.run_tests("tests/project/test_environment.py", args=("-q", "-k", "nothing_matches"),
                              progress=lines.append) == 5
    assert any("deselected" in line for line in lines)


def test_a_bad_data_file_stops_the_pipeline_step_before_the_stack_with_the_row_at_fault(tmp_path, aws_env):
    from mlops_workshop.target import CloudSession
    from mlops_workshop.localcloud import LocalCloud
    from mlops_workshop.target import names_for_session

    bad = tmp_path / "mine.csv"
    bad.write_text("M,0.455,0.365,0.095,0.514,0.2245,0.101,0.15,15\nQ,0.35,0.265,0.09,0.2255,0.0995,0.0485,0.07,7\n")
    cloud = LocalCloud(tmp_path / "cloud", port=0)
    cloud.start()
    try:
        session = CloudSession(cloud.endpoint_url)
        ws = workshop.Workshop("local", session, names_for_session(session), tmp_path, cloud.endpoint_url)
        with pytest.raises(workshop.WorkshopError, match=r"row 2.*sex"):
            workshop.run_pipeline(ws, data=bad, progress=lambda _: None)
        assert session.client("cloudformation").list_stacks()["StackSummaries"] == []
    finally:
        cloud.stop()


def test_the_state_folder_and_the_port_come_from_the_environment_when_a_notebook_leaves_them_none(monkeypatch, tmp_path):
    monkeypatch.delenv(workshop.STATE_DIR_VARIABLE, raising=False)
    monkeypatch.delenv(workshop.PORT_VARIABLE, raising=False)
    assert workshop.choose_state_dir() == workshop.DEFAULT_STATE_DIR and workshop.choose_port() == 4566
    monkeypatch.setenv(workshop.STATE_DIR_VARIABLE, str(tmp_path))
    monkeypatch.setenv(workshop.PORT_VARIABLE, "4600")
    assert workshop.choose_state_dir() == tmp_path.resolve() and workshop.choose_port() == 4600
    assert workshop.choose_state_dir(tmp_path / "mine") == (tmp_path / "mine").resolve()
    assert workshop.choose_port(4700) == 4700
    monkeypatch.setenv(workshop.PORT_VARIABLE, "http")
    with pytest.raises(workshop.WorkshopError, match="MLOPS_PORT='http' is not a port number"):
        workshop.choose_port()


def test_paths_show_relative_to_the_repository(repo_root, tmp_path):
    assert workshop.shown(repo_root / ".state" / "localcloud") == ".state/localcloud"
    assert workshop.shown(tmp_path) == str(tmp_path.resolve())


def test_where_it_runs_says_what_is_billed():
    local = workshop.Workshop("local", None, WorkshopNames(), workshop.DEFAULT_STATE_DIR, "http://127.0.0.1:4566")
    assert "nothing is billed" in workshop.where_it_runs(local) and "under .state/" in workshop.where_it_runs(local)
    account = workshop.Workshop("aws", None, WorkshopNames(account="111122223333"), workshop.DEFAULT_STATE_DIR,
                                source="S3")
    said = workshop.where_it_runs(account)
    assert "AWS account 111122223333" in said and "is billed" in said and "source = \"s3\"" in said


@pytest.fixture
def mocked(aws_env, tmp_path):
    """A Workshop on moto in this process: no server, no cloud."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield workshop.Workshop("local", boto3.session.Session(region_name="us-east-1"), WorkshopNames(), tmp_path)


def test_aws_calls_lists_each_call_once_with_its_outcome_and_never_a_body_or_a_secret(mocked):
    with workshop.aws_calls(mocked) as calls:
        workshop.create_repositories(mocked, progress=lambda _: None)
        s3 = mocked.session.client("s3")
        s3.put_object(Bucket=mocked.names.data_bucket, Key="k", Body=b"the body")
        for _ in range(3):
            s3.head_object(Bucket=mocked.names.data_bucket, Key="k")
        with pytest.raises(Exception):
            mocked.session.client("codepipeline").put_approval_result(
                pipelineName="p", stageName="s", actionName="a", token="the-token",
                result={"status": "Approved", "summary": "a secret summary"})
    table = calls.table()
    assert list(table.columns) == ["service", "operation", "parameters", "outcome"]
    first = table.iloc[0]
    assert (first["service"], first["operation"], first["outcome"]) == ("S3", "HeadBucket", "404")
    assert first["parameters"] == f"Bucket={mocked.names.data_bucket}"
    assert ("CodeCommit", "CreateRepository", "repositoryName=mlops", "ok") in set(map(tuple, table.values))
    assert len(table[table["operation"] == "HeadObject"]) == 1  # a repeated call is one row
    assert table[table["operation"] == "PutObject"]["parameters"].item() == f"Bucket={mocked.names.data_bucket}, Key=k"
    approval = table[table["operation"] == "PutApprovalResult"].iloc[0]
    assert approval["parameters"] == "pipelineName=p, stageName=s, actionName=a" and approval["outcome"] != "ok"
    text = repr(calls) + calls._repr_html_()
    assert "the body" not in text and "the-token" not in text and "a secret summary" not in text
    assert "HeadBucket" not in repr(workshop.AwsCalls()) and repr(workshop.AwsCalls()) == "no AWS calls"


def test_calls_after_the_block_are_not_recorded(mocked):
    with workshop.aws_calls(mocked) as calls:
        mocked.session.client("s3").list_buckets()
    mocked.session.client("s3").list_buckets()
    mocked.session.client("sts").get_caller_identity()
    assert [c.operation for c in calls] == ["ListBuckets"]


def test_the_clean_up_check_asks_aws_whether_each_thing_is_gone(mocked):
    workshop.create_repositories(mocked, progress=lambda _: None)
    before = workshop.remaining(mocked).set_index("name")["still there"]
    assert before[mocked.names.data_bucket] == "yes" and before["mlops"] == "yes" and before["mlops-pipeline"] == "no"
    lines = []
    left = workshop.cleanup(mocked, progress=lines.append)
    assert set(left["still there"]) == {"no"}
    assert set(left["kind"]) >= {"stack", "endpoint", "model package group", "bucket", "image repository",
                                 "code repository"}


def test_unit_tests_raise_with_pytests_reason_and_run_none_for_an_empty_selection():
    lines = []
    workshop.unit_tests("", what="the image tests", progress=lines.append)
    assert lines == ["the image tests: none selected"]
    with pytest.raises(workshop.WorkshopError, match=r"did not pass \(pytest exit 5: no test collected\)"):
        workshop.unit_tests("tests/project/test_environment.py", args=("-q", "-k", "nothing_matches"),
                            progress=lambda _: None)


def test_the_training_job_request_marks_what_the_launcher_lambda_fills_in():
    ws = workshop.Workshop("local", None, WorkshopNames(account="111122223333"), workshop.DEFAULT_STATE_DIR)
    request = workshop.training_job_request(ws, execution_id="e-1")
    assert set(request.changed()) == {"TrainingJobName", "AlgorithmSpecification.TrainingImage", "RoleArn",
                                      "InputDataConfig[0].DataSource.S3DataSource.S3Uri",
                                      "OutputDataConfig.S3OutputPath", "Tags"}
    assert request.filled["TrainingJobName"] == "mlops-abalone-e-1"
    assert request.filled["HyperParameters"] == request.original["HyperParameters"]
    marked = [line for line in request.lines() if line.endswith("← TrainingLaunchJob")]
    assert len(marked) == 6 and any('"RoleArn": "arn:aws:iam::111122223333:role/MLOps-SageMaker-us-east-1"' in line
                                    for line in marked)
    unmarked = "\n".join(line for line in request.lines() if not line.endswith("← TrainingLaunchJob"))
    assert json.loads(re.sub(r"   ← TrainingLaunchJob$", "", repr(request), flags=re.MULTILINE)) == request.filled
    assert '"InstanceType": "ml.m5.large"' in unmarked


def test_the_stage_actions_say_what_each_runs_on():
    actions = workshop.stage_actions()
    glue = actions[actions["action"] == "GlueJob"].iloc[0]
    assert glue["provider"] == "Invoke / Lambda" and glue["configuration"] == "FunctionName EtlLaunchJob"
    assert "starts the job and returns" in glue["runs on"]
    assert (actions["runs on"] != "").all()
    s3 = workshop.stage_actions(source="S3")
    assert set(s3.loc[s3["stage"] == "Source", "provider"]) == {"Source / S3"}


def test_eight_lambda_packages_five_in_the_pipeline_stack_three_in_the_system_tests():
    packages = workshop.lambda_packages()
    assert len(packages) == 8
    assert packages["created by stack"].str.startswith("mlops-pipeline").sum() == 5
    assert packages["created by stack"].str.startswith("abalone-system-test").sum() == 3


def test_the_costs_and_roles_come_from_the_templates():
    costs = workshop.costs()
    prd = costs[costs["what"].str.startswith("Prd endpoint")].iloc[0]
    assert prd["runs on"].startswith("ml.m5.large × 1–3") and prd["price"].startswith("$0.115")
    assert costs["defined in"].str.contains("container/trainingjob.json").any()
    roles = workshop.iam_roles()
    assert len(roles) == 7 and set(roles["assumed by"]) >= {"codepipeline.amazonaws.com", "sagemaker.amazonaws.com",
                                                             "events.amazonaws.com"}


def test_the_height_outliers_are_the_zeros_and_the_giants():
    heights = sorted(workshop.height_outliers(data.load_raw())["height"])
    assert heights[:2] == [0.0, 0.0] and heights[-1] == pytest.approx(1.13)


def test_the_errors_by_band_show_the_old_abalone_under_predicted():
    table = workshop.error_by_band([5, 9, 12, 20, 22], [6, 9.5, 11, 15, 16])
    assert list(table["true rings"]) == ["1–7", "8–10", "11–14", "15–29"]
    assert table.iloc[-1]["mean error"] == "-5.50" and table.iloc[-1]["rows"] == 2


def test_the_verdict_and_the_results_show_two_decimals():
    verdict = workshop.system_test_verdict([10.0, 12.0], [11.234, 11.0], threshold=2.5)
    shown = workshop.verdict_table(verdict)["system test"]
    assert shown["RMSE (rings)"] == "1.12" and shown["CheckThreshold"] == "passed"


def test_the_pipeline_state_becomes_a_table_of_the_executions_stages():
    state = {"stageStates": [
        {"stageName": "Source", "latestExecution": {"pipelineExecutionId": "e1", "status": "Succeeded"},
         "actionStates": [{"actionName": "ModelSource", "latestExecution": {"status": "Succeeded", "summary": "at c1"}}]},
        {"stageName": "Build", "latestExecution": {"pipelineExecutionId": "e0", "status": "Failed"},
         "actionStates": [{"actionName": "BuildImage", "latestExecution": {"status": "Failed"}}]}]}
    table = workshop.state_table(state, "e1")
    assert table.to_dict("records") == [{"stage": "Source", "stage status": "Succeeded", "action": "ModelSource",
                                         "action status": "Succeeded", "summary": "at c1"}]


# ---------- Notebook 7: model monitoring ----------

def feature(name, kind="Fractional", values=(0.1, 0.2, 0.3)):
    counts = [1.0] * len(values)
    return {"name": name, "inferred_type": kind, "numerical_statistics": {
        "common": {"num_present": len(values), "num_missing": 0}, "mean": sum(values) / len(values), "sum": sum(values),
        "std_dev": 0.1, "min": min(values), "max": max(values), "distribution": {"kll": {"buckets": [
            {"lower_bound": v, "upper_bound": v + 0.1, "count": c} for v, c in zip(values, counts)]}}}}


BASELINE = {"version": 0.0, "dataset": {"item_count": 3}, "features": [feature("sex_F", "Integral", (0, 1, 0)),
                                                                        feature("shell_weight")]}
DRIFTED = {"version": 0.0, "dataset": {"item_count": 3}, "features": [feature("sex_F", "Integral", (0, 1, 0)),
                                                                       feature("shell_weight", values=(0.5, 0.6, 0.7))]}
VIOLATIONS = [{"feature_name": "shell_weight", "constraint_check_type": "baseline_drift_check",
               "description": "Baseline drift distance: 1 exceeds threshold: 0.1"},
              {"feature_name": "sex_F", "constraint_check_type": "data_type_check", "description": "Only 0%"}]


def test_the_statistics_and_constraints_become_tables_of_their_features():
    table = workshop.statistics_table(DRIFTED, BASELINE)
    assert list(table["feature"]) == ["sex_F", "shell_weight"]
    row = table.set_index("feature").loc["shell_weight"]
    assert (row["baseline mean"], row["mean"], row["min"], row["max"]) == (0.2, 0.6, 0.5, 0.7)
    assert "baseline mean" not in workshop.statistics_table(BASELINE)
    constraints = {"features": [{"name": "shell_weight", "inferred_type": "Fractional", "completeness": 1.0,
                                 "num_constraints": {"is_non_negative": True}}],
                   "monitoring_config": {"distribution_constraints": {"perform_comparison": "Enabled",
                                                                      "comparison_threshold": 0.1,
                                                                      "comparison_method": "Robust"}}}
    assert workshop.constraints_table(constraints).iloc[0].to_dict() == {
        "feature": "shell_weight", "type": "Fractional", "completeness": 1.0, "non-negative": True,
        "drift check": "Robust distance > 0.1"}


def test_the_violations_name_the_drifted_features_and_their_distributions_are_drawn():
    assert list(workshop.violations_table(VIOLATIONS)["check"]) == ["baseline_drift_check", "data_type_check"]
    assert workshop.violations_table([]).empty
    drifted = workshop.drifted_features(VIOLATIONS)
    assert drifted == ["shell_weight"]
    fig = plots.drift_distributions(BASELINE, DRIFTED, drifted)
    visible = [axis for axis in fig.axes if axis.get_visible()]
    assert [axis.get_title() for axis in visible] == ["shell_weight"]
    assert [text.get_text() for text in visible[0].get_legend().get_texts()] == ["baseline", "this hour"]
    with pytest.raises(ValueError, match="no features to draw"):
        plots.drift_distributions(BASELINE, DRIFTED, [])
    with pytest.raises(ValueError, match="no feature 'height'"):
        plots.drift_distributions(BASELINE, DRIFTED, ["height"])


def test_the_baseline_files_are_read_where_the_schedule_names_them(mocked):
    s3 = mocked.session.client("s3")
    s3.create_bucket(Bucket="bucket-b")
    s3.put_object(Bucket="bucket-b", Key="base/statistics.json", Body=json.dumps(BASELINE).encode())
    s3.put_object(Bucket="bucket-b", Key="base/constraints.json", Body=b'{"features": []}')
    schedule = {"MonitoringScheduleConfig": {"MonitoringJobDefinition": {"BaselineConfig": {
        "StatisticsResource": {"S3Uri": "s3://bucket-b/base/statistics.json"},
        "ConstraintsResource": {"S3Uri": "s3://bucket-b/base/constraints.json"}}}}}
    assert workshop.baseline_files(mocked, schedule) == (BASELINE, {"features": []})
    with pytest.raises(workshop.WorkshopError, match="s3://bucket-b/missing.json cannot be read"):
        workshop.read_json(mocked, "s3://bucket-b/missing.json")


def test_the_captured_record_is_the_first_since_the_traffic(mocked):
    import time

    s3 = mocked.session.client("s3")
    s3.create_bucket(Bucket="bucket-b")
    now = time.time()

    def record(seconds, data):
        moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + seconds))
        return json.dumps({"captureData": {"endpointInput": {"data": data}},
                           "eventMetadata": {"eventId": data, "inferenceTime": moment}, "eventVersion": "0"})
    s3.put_object(Bucket="bucket-b", Key="capture/e/AllTraffic/f.jsonl",
                  Body=(record(-30, "before") + "\n" + record(1, "first") + "\n" + record(2, "second")).encode())
    key, found = workshop.captured_record(mocked, "s3://bucket-b/capture", "e", since=now)
    assert key == "s3://bucket-b/capture/e/AllTraffic/f.jsonl" and found["eventMetadata"]["eventId"] == "first"
    with pytest.raises(workshop.WorkshopError, match="nothing captured under s3://bucket-b/capture/other/"):
        workshop.captured_record(mocked, "s3://bucket-b/capture", "other", since=now, timeout=0.01)


def test_a_wait_for_the_schedule_ends_with_the_execution_says_a_failure_and_times_out_saying_what_to_do(
        mocked, monkeypatch):
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    answers = {"summaries": [{"ScheduledTime": now, "MonitoringExecutionStatus": "Completed"}]}
    monkeypatch.setattr(workshop, "_executions", lambda ws, schedule: answers["summaries"])
    said = []
    assert workshop.wait_for_execution(mocked, "s", after=now.timestamp() - 60, progress=said.append) == \
        answers["summaries"][0]
    assert said[0].startswith("waiting for the first execution of s after the traffic: locally") and \
        said[-1].startswith("execution Completed after")
    answers["summaries"] = [{"ScheduledTime": now, "MonitoringExecutionStatus": "Failed",
                             "FailureReason": "Job inputs had no data"}]
    with pytest.raises(workshop.WorkshopError, match="ended Failed: Job inputs had no data"):
        workshop.wait_for_execution(mocked, "s", after=now.timestamp() - 60, progress=lambda _: None)
    with pytest.raises(workshop.WorkshopError, match="no execution of s after the traffic ended within 0 s; it goes "
                                                     "on in the background: run this cell again"):
        workshop.wait_for_execution(mocked, "s", after=now.timestamp() + 60, timeout=0.01, progress=lambda _: None)


def test_in_an_account_the_wait_says_when_the_hour_comes_and_how_long_it_waits(mocked):
    mocked.target = "aws"
    note = workshop._next_hour_note(mocked, workshop.AWS_MONITOR_TIMEOUT)
    assert re.search(r"scheduled at \d\d:00 UTC, in \d+ min, SageMaker may start it up to 20 minutes later", note)
    assert "waits up to 100 min, saying so every 5 min" in note
