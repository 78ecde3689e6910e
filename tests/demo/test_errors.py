"""The command line's errors: one line of what went wrong and what to do, exit status 2 for bad input and 1 for a
failure, and never a traceback for a user's mistake or a known failure."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import boto3
import pytest

from mlops_workshop.localcloud import lifecycle
from mlops_workshop.localcloud.processes import start_time
from mlops_workshop.modelserver import free_port
from mlops_workshop.target import cloud_dir
from testkit.waiting import wait_for


def command(*args, env=None, timeout=300):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "mlops_workshop.cli", *args], capture_output=True, text=True,
                          env=environment, timeout=timeout)


def one_line(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    return lines[0]


def test_a_missing_data_file_is_bad_input_said_in_one_line(tmp_path):
    result = command("demo", "--state-dir", str(tmp_path), "--data", str(tmp_path / "none.csv"))
    assert result.returncode == 2
    assert one_line(result) == f"error: {tmp_path / 'none.csv'} does not exist: give the path of an abalone CSV file"
    assert not cloud_dir(tmp_path).exists(), "nothing is started for a file that is not there"


def test_a_malformed_data_file_names_the_row_and_column(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("M,0.455,0.365,0.095,0.514,0.2245,0.101,0.15,15\nQ,0.4,0.3,0.1,0.5,0.2,0.1,0.15,9\n")
    result = command("demo", "--state-dir", str(tmp_path), "--data", str(bad))
    assert result.returncode == 2
    assert "row 2" in one_line(result) and "'Q'" in one_line(result)


def test_a_port_in_use_is_bad_input(tmp_path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        for args in (["localcloud", "start", "--state-dir", str(tmp_path / "cloud"), "--port", str(port)],
                     ["demo", "--state-dir", str(tmp_path), "--port", str(port)]):
            result = command(*args)
            assert result.returncode == 2, result.stderr
            assert one_line(result).startswith(f"error: port {port} on 127.0.0.1 is in use by another program")


def test_missing_aws_credentials_are_bad_input(tmp_path):
    nowhere = {"AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
               "AWS_EC2_METADATA_DISABLED": "true"}
    for args in (["approve", "--aws"], ["cleanup", "--aws", "--yes"], ["validate"]):
        result = command(*args, env=nowhere)
        assert result.returncode == 2, (args, result.stderr)
        assert "credentials" in one_line(result)


@pytest.mark.slow
def test_the_local_cloud_gone_mid_run_says_where_its_log_is_and_what_to_run(tmp_path):
    port = free_port()
    demo = subprocess.Popen([sys.executable, "-m", "mlops_workshop.cli", "demo", "--state-dir", str(tmp_path),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")})
    try:
        state = wait_for(lambda: lifecycle.read_state(cloud_dir(tmp_path)), 60, 0.1, "the local cloud to start")
        cp = boto3.client("codepipeline", endpoint_url=state["endpoint"], region_name="us-east-1",
                          aws_access_key_id="localcloud", aws_secret_access_key="localcloud")

        def running():
            try:
                return cp.list_pipeline_executions(pipelineName="mlops-pipeline")["pipelineExecutionSummaries"]
            except cp.exceptions.PipelineNotFoundException:
                return None
        wait_for(running, 240, 0.5, "the pipeline's first execution")
        os.kill(state["pid"], signal.SIGKILL)
        out, err = demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            demo.kill()
        lifecycle.stop(cloud_dir(tmp_path))
    assert demo.returncode == 1, err
    assert "Traceback" not in err
    line = [line for line in err.splitlines() if line.startswith("error: ")][-1]
    assert "the local cloud stopped answering" in line
    assert str(cloud_dir(tmp_path) / "logs" / "localcloud.log") in line
    assert f"run `mlops-workshop demo --state-dir {tmp_path.resolve()}` again" in line
    assert start_time(state["pid"]) is None
