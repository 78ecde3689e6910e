"""etl/job.json: a Glue CreateJob request for a Python-shell job, with the placeholders the pipeline fills."""

import json
import re

import boto3
import botocore.session
import pytest
from botocore.validate import ParamValidator
from moto import mock_aws

PLACEHOLDERS = {"Role": "${GLUE_ROLE_ARN}", "ScriptLocation": "${SCRIPT_LOCATION}"}


@pytest.fixture(scope="module")
def job(repo_root):
    return json.loads((repo_root / "etl" / "job.json").read_text())


@pytest.fixture(scope="module")
def glue_model():
    return botocore.session.get_session().get_service_model("glue")


def filled(job):
    """job.json as the EtlLaunchJob function sends it: name, role and script location filled in."""
    request = json.loads(json.dumps(job))
    request["Name"] = "abalone-preprocess-mlops"
    request["Role"] = "arn:aws:iam::123456789012:role/mlops-glue"
    request["Command"]["ScriptLocation"] = "s3://mlops-artifacts-us-east-1-123456789012/exec-1/code/preprocess.py"
    return request


def test_job_json_holds_the_documented_placeholders(job, repo_root):
    assert job["Role"] == PLACEHOLDERS["Role"]
    assert job["Command"]["ScriptLocation"] == PLACEHOLDERS["ScriptLocation"]
    readme = (repo_root / "etl" / "README.md").read_text()
    for placeholder in PLACEHOLDERS.values():
        assert placeholder in readme


def test_job_json_is_a_valid_create_job_request(job, glue_model):
    report = ParamValidator().validate(filled(job), glue_model.operation_model("CreateJob").input_shape)
    assert not report.has_errors(), report.generate_report()


def test_job_json_also_fits_update_job(job, glue_model):
    """EtlLaunchJob updates an existing job with the same document, less the keys only CreateJob takes."""
    update = {key: value for key, value in filled(job).items() if key not in ("Name", "Tags")}
    report = ParamValidator().validate(
        {"JobName": "abalone-preprocess", "JobUpdate": update}, glue_model.operation_model("UpdateJob").input_shape
    )
    assert not report.has_errors(), report.generate_report()


def test_job_json_is_a_python39_shell_job_of_one_sixteenth_dpu(job, glue_model):
    command_shape = glue_model.operation_model("CreateJob").input_shape.members["Command"]
    assert job["Command"]["Name"] == "pythonshell"
    assert job["Command"]["PythonVersion"] == "3.9"
    # ParamValidator skips patterns; check the one botocore carries for PythonVersion.
    assert re.fullmatch(command_shape.members["PythonVersion"].metadata["pattern"], job["Command"]["PythonVersion"])
    assert job["MaxCapacity"] == 0.0625
    assert job["GlueVersion"] == "3.0"
    assert 1 <= job["Timeout"] <= 60
    assert "WorkerType" not in job and "NumberOfWorkers" not in job and "AllocatedCapacity" not in job
    assert job["DefaultArguments"]["--job-language"] == "python"
    assert job["DefaultArguments"]["library-set"] == "analytics"


def test_default_arguments_are_ones_the_script_reads(job, preprocess):
    ours = {name[2:] for name in job["DefaultArguments"] if name.startswith("--") and name[2:].isupper()}
    assert ours and ours <= set(preprocess.OPTIONAL_ARGUMENTS)
    for name in ours:
        assert job["DefaultArguments"]["--" + name] == preprocess.OPTIONAL_ARGUMENTS[name]
    args = preprocess.parse_arguments(
        [item for pair in job["DefaultArguments"].items() for item in pair]
        + ["--S3_INPUT_BUCKET", "in", "--S3_INPUT_KEY_PREFIX", "raw", "--S3_OUTPUT_BUCKET", "out",
           "--S3_OUTPUT_KEY_PREFIX", "run"]
    )
    assert args["SEED"] == 42


def test_glue_accepts_the_job_and_a_run_with_the_pipeline_arguments(job, aws_env):
    with mock_aws():
        glue = boto3.client("glue", region_name="us-east-1")
        request = filled(job)
        glue.create_job(**request)
        stored = glue.get_job(JobName=request["Name"])["Job"]
        assert stored["Command"] == request["Command"]
        assert stored["MaxCapacity"] == 0.0625
        run_id = glue.start_job_run(
            JobName=request["Name"],
            Arguments={
                "--S3_INPUT_BUCKET": "mlops-data-us-east-1-123456789012",
                "--S3_INPUT_KEY_PREFIX": "input/raw/abalone.csv",
                "--S3_OUTPUT_BUCKET": "mlops-artifacts-us-east-1-123456789012",
                "--S3_OUTPUT_KEY_PREFIX": "exec-1/input",
            },
        )["JobRunId"]
        assert run_id
