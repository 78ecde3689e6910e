"""mlops_workshop.workshop and .plots, what the notebooks call, without a cloud: targets, templates, verdicts, plots."""

import json

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from mlops_workshop import data, plots, workshop  # noqa: E402
from mlops_workshop.config import WorkshopNames  # noqa: E402
from mlops_workshop.pipeline.execution import PipelineRun, StageResult  # noqa: E402


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
    fig = plots.state_machine(definition)
    labels = {text.get_text().split("\n")[0] for text in fig.axes[0].texts}
    assert set(definition["States"]) <= labels
    assert "$.Evaluation.rmse <= $.Threshold" in labels


def test_the_dataset_figure_shows_every_row():
    raw = data.load_raw()
    fig = plots.dataset_overview(raw)
    assert len(fig.axes) == 3
    assert f"{len(raw):,}" in fig.axes[0].get_title()
    assert sum(patch.get_height() for patch in fig.axes[0].patches) == len(raw)


def test_the_learning_curve_marks_the_kept_epoch_and_needs_a_history():
    metadata = {"history": {"loss": [9.0, 5.0, 4.8], "val_rmse": [2.6, 2.2, 2.3]}, "best_epoch": 2}
    fig = plots.learning_curve(metadata)
    assert "epoch 2, RMSE 2.200" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()][-1]
    with pytest.raises(ValueError, match="no training history"):
        plots.learning_curve({"best_epoch": 1})


def test_the_prediction_figure_reports_the_rmse():
    fig = plots.predicted_vs_actual([10.0, 12.0], [11.0, 11.0], "check")
    assert "RMSE 1.000" in fig.axes[0].get_title()


def test_the_timeline_draws_one_bar_per_stage():
    run = PipelineRun("p", "0123456789", status="Failed", seconds=12.0,
                      stages={"A": StageResult("A", "Succeeded", 4.0), "B": StageResult("B", "Failed", 8.0, "boom"),
                              "C": StageResult("C")})
    fig = plots.pipeline_timeline(run)
    bars = fig.axes[0].patches
    assert [bar.get_width() for bar in bars] == [4.0, 8.0, 0.0]
    assert bars[1].get_x() == 4.0


def test_run_tests_returns_pytests_status(tmp_path, monkeypatch):
    lines = []
    assert workshop.run_tests("tests/project/test_environment.py", args=("-q", "-k", "nothing_matches"),
                              progress=lines.append) == 5
    assert any("deselected" in line for line in lines)


def test_the_notebooks_are_numbered_clean_and_parameterised(repo_root):
    books = sorted((repo_root / "notebooks").glob("*.ipynb"))
    assert [book.name[:3] for book in books] == [f"0{n}_" for n in range(1, 8)]
    readme = (repo_root / "README.md").read_text()
    for book in books:
        notebook = json.loads(book.read_text())
        code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
        assert all(not cell["outputs"] and cell["execution_count"] is None for cell in code), f"{book.name} has outputs"
        assert "parameters" in code[0]["metadata"].get("tags", []), f"{book.name}: the first code cell is not tagged"
        assert "workshop.connect(target, state_dir, port=port, source=source)" in "".join(code[1]["source"])
        assert f"notebooks/{book.name}" in readme, f"README.md has no section for {book.name}"


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
