"""`mlops-workshop traffic`: the test split (or drifted copies) sent to an endpoint one InvokeEndpoint each, with
progress; a refused request or a bad argument is one line and an exit status, never a traceback."""

import pytest

from mlops_workshop import traffic
from mlops_workshop.benchmarks.model import load_etl_job
from mlops_workshop.cli import main as cli
from mlops_workshop.target import CloudSession
from testkit.localcloud import FAKE_IMAGE_SETTINGS, IMAGE_URI, endpoint_settled, execution_role, model_tarball


@pytest.fixture
def cloud_settings():
    return dict(FAKE_IMAGE_SETTINGS)


@pytest.fixture
def endpoint(clients, data_bucket):
    """An endpoint of the stand-in image (it answers 9.5 to every row of 10 numbers)."""
    sm, s3 = clients("sagemaker"), clients("s3")
    s3.put_object(Bucket=data_bucket, Key="models/m.tar.gz", Body=model_tarball({"model.json": b'{"mean": 9.5}'}))
    sm.create_model(ModelName="m", ExecutionRoleArn=execution_role(clients), PrimaryContainer={
        "Image": IMAGE_URI, "ModelDataUrl": f"s3://{data_bucket}/models/m.tar.gz"})
    sm.create_endpoint_config(EndpointConfigName="m-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.t2.medium"}])
    sm.create_endpoint(EndpointName="abalone-prd", EndpointConfigName="m-config")
    assert endpoint_settled(sm, "abalone-prd")["EndpointStatus"] == "InService"
    return "abalone-prd"


def test_the_rows_are_the_etl_jobs_test_split():
    etl = load_etl_job()
    rows = traffic.test_rows()
    assert list(rows.columns) == etl.FEATURES
    assert len(rows) == round(4177 * 0.15)
    assert set(rows[["sex_F", "sex_I", "sex_M"]].sum(axis=1)) == {1}


def test_drift_scales_the_sizes_and_leaves_the_sex_alone():
    rows = traffic.test_rows()
    drifted = traffic.drifted(rows, 1.5)
    sizes = load_etl_job().SIZE_COLUMNS
    assert (drifted[sizes] == rows[sizes] * 1.5).all().all()
    assert (drifted[["sex_F", "sex_I", "sex_M"]] == rows[["sex_F", "sex_I", "sex_M"]]).all().all()
    lines = traffic.csv_lines(drifted, len(rows) + 2)
    assert lines[-2:] == lines[:2] and len(lines[0].split(",")) == 10


def test_every_row_is_one_request(clients, endpoint):
    seen = []
    result = traffic.send(clients("sagemaker-runtime"), endpoint, traffic.csv_lines(traffic.test_rows(), 25),
                          lambda done, total: seen.append((done, total)))
    assert result.sent == 25 and result.predictions == [9.5] * 25
    assert seen[-1] == (25, 25) and len(seen) == 25


def test_the_command_sends_reports_and_stops_at_the_first_refusal(cloud, endpoint, monkeypatch, capsys):
    monkeypatch.setattr(traffic, "running_cloud", lambda state_dir: CloudSession(cloud.endpoint_url))
    assert cli(["traffic", "--endpoint", endpoint, "--rows", "20", "--drift", "1.5"]) == 0
    out = capsys.readouterr().out
    assert "Sending 20 drifted copies (sizes x1.5) of the test split (627 rows) to abalone-prd" in out
    assert "20/20 requests" in out and "Sent 20 requests" in out and "mean prediction 9.50 rings" in out

    assert cli(["traffic", "--endpoint", "nowhere", "--rows", "3"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: request 1 of 3 to endpoint nowhere failed: ValidationError")


@pytest.mark.parametrize("args, part", [
    (["--endpoint", "e", "--rows", "0"], "--rows 0"),
    (["--endpoint", "e", "--drift", "-1"], "--drift -1"),
    (["--rows", "3"], "--endpoint"),
])
def test_bad_arguments_exit_2_with_one_line(args, part, capsys):
    with pytest.raises(SystemExit) as done:
        cli(["traffic", *args])
    assert done.value.code == 2
    assert part in capsys.readouterr().err


def test_without_a_local_cloud_it_says_to_run_the_demo(tmp_path, capsys):
    assert cli(["traffic", "--endpoint", "e", "--state-dir", str(tmp_path)]) == 2
    assert "run `mlops-workshop demo` first" in capsys.readouterr().err
