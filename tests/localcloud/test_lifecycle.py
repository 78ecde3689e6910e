"""The local cloud as a daemon: start, status, reuse, stop (and every child with it), services installed later."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import zipfile

import boto3
import pytest

from mlops_workshop.localcloud import LocalCloud, lifecycle
from mlops_workshop.localcloud.services import SERVICES
from mlops_workshop.modelserver import free_port

LAZY = {spec.name for spec in SERVICES if spec.lazy}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def daemon(tmp_path):
    folder = tmp_path / "cloud"
    state = lifecycle.start(folder, port=free_port())
    try:
        yield folder, state
    finally:
        lifecycle.stop(folder)


def _client(state, service):
    return boto3.client(service, endpoint_url=state["endpoint"], region_name="us-east-1",
                        aws_access_key_id="localcloud", aws_secret_access_key="localcloud")


def test_status_names_port_folder_log_and_services_and_a_second_start_reuses(daemon):
    folder, state = daemon
    status = lifecycle.status(folder)
    assert status["running"] and status["port"] == state["port"] and status["pid"] == state["pid"]
    assert status["state_dir"] == str(folder.resolve()) and status["log"].endswith("logs/localcloud.log")
    assert {"lambda", "glue", "sagemaker", "codebuild", "codecommit", "events"} <= set(status["services"])
    assert set(status["installing"]) <= LAZY
    again = lifecycle.start(folder, port=state["port"])
    assert again["pid"] == state["pid"]


def test_a_port_taken_by_another_program_is_refused_with_what_to_do(tmp_path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(lifecycle.LocalCloudError, match=r"in use by another program.*--port"):
            lifecycle.start(tmp_path / "cloud", port=other.getsockname()[1])


def test_cloudformation_answers_at_once_after_start_and_every_service_gets_installed(daemon):
    _, state = daemon
    cfn = _client(state, "cloudformation")
    template = {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "lifecycle-test"}}}}
    cfn.create_stack(StackName="lifecycle", TemplateBody=json.dumps(template))
    cfn.get_waiter("stack_create_complete").wait(StackName="lifecycle", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert _client(state, "s3").head_bucket(Bucket="lifecycle-test")["ResponseMetadata"]["HTTPStatusCode"] == 200
    status = lifecycle.wait_installed(daemon[0])
    assert status["installing"] == []
    assert LAZY <= set(status["services"]) and len(status["services"]) == len(SERVICES)


def test_stop_stops_the_server_and_every_process_it_started(daemon):
    folder, state = daemon
    iam, lam = _client(state, "iam"), _client(state, "lambda")
    role = iam.create_role(RoleName="lifecycle", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("lambda.py", "def lambda_handler(event, context):\n    return 'up'\n")
    lam.create_function(FunctionName="lifecycle", Runtime="python3.12", Role=role, Handler="lambda.lambda_handler",
                        Code={"ZipFile": package.getvalue()})
    assert json.loads(lam.invoke(FunctionName="lifecycle")["Payload"].read()) == "up"
    children = [p["pid"] for p in lifecycle.status(folder)["processes"] if p["running"]]
    assert children, "the warm Lambda environment should be a running child of the local cloud"
    assert lifecycle.stop(folder) is True
    assert not any(_alive(pid) for pid in [state["pid"], *children])
    assert lifecycle.status(folder)["running"] is False
    assert lifecycle.stop(folder) is False


def test_the_command_line_reports_status_as_json(daemon):
    folder, state = daemon
    out = subprocess.run([sys.executable, "-m", "mlops_workshop.localcloud", "status", "--state-dir", str(folder)],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["endpoint"] == state["endpoint"]


def test_a_lazy_service_is_installed_once_on_first_use_and_never_after_stop(tmp_path):
    cloud = LocalCloud(tmp_path / "cloud", port=0)
    try:
        assert LAZY <= set(cloud.waiting()) and "cloudformation" not in cloud.installed()
        assert cloud.service("cloudformation") is cloud.service("cloudformation")
        assert cloud.installed().count("cloudformation") == 1 and "stepfunctions" in cloud.waiting()
    finally:
        cloud.stop()
    with pytest.raises(RuntimeError, match="stopping"):
        cloud.service("stepfunctions")
    assert "stepfunctions" not in cloud.installed()


def test_a_service_the_cloud_does_not_run_is_refused_by_name(tmp_path):
    cloud = LocalCloud(tmp_path / "cloud", port=0)
    with pytest.raises(KeyError, match="no service 'redshift'"):
        cloud.service("redshift")
