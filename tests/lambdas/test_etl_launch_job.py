"""EtlLaunchJob against moto, with what it reports to CodePipeline checked by a Stubber."""

import json

import boto3
import pytest
from botocore.stub import ANY, Stubber

from testkit.codepipeline import EXECUTION_ID, expect_failure, expect_success, job_event, put_artifact
from testkit.lambdas import load_lambda
from testkit.moto import ARTIFACT_BUCKET, DATA_BUCKET, REGION

GLUE_JOB = {
    "Description": "abalone preprocessing",
    "Role": "placeholder",
    "Command": {"Name": "pythonshell", "ScriptLocation": "placeholder", "PythonVersion": "3.9"},
    "DefaultArguments": {"--SEED": "42"},
    "MaxCapacity": 0.0625,
    "Timeout": 30,
    "GlueVersion": "3.0",
    "Tags": {"project": "mlops"},
}


@pytest.fixture
def etl_env(monkeypatch):
    for name, value in {
        "GLUE_JOB_NAME": "abalone-preprocess",
        "GLUE_ROLE_ARN": "arn:aws:iam::123456789012:role/MLOps-Glue-us-east-1",
        "DATA_BUCKET": DATA_BUCKET,
        "RAW_DATA_KEY": "input/raw/abalone.csv",
        "ARTIFACT_BUCKET": ARTIFACT_BUCKET,
    }.items():
        monkeypatch.setenv(name, value)


def etl_source(s3, files=None):
    files = {"job.json": json.dumps(GLUE_JOB), "preprocess.py": "print('etl')\n"} if files is None else files
    return put_artifact(s3, "mlops-pipeline/EtlSource/abc123", files)


def test_etl_launch_creates_the_job_and_starts_the_run(aws, etl_env, codepipeline_stub, context):
    module = load_lambda("EtlLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    event = job_event([etl_source(aws.client("s3"))])
    glue = boto3.client("glue", region_name=REGION)
    expect_success(stubber, event["CodePipeline.job"]["id"])

    result = module.lambda_handler(event, context)

    job = glue.get_job(JobName="abalone-preprocess")["Job"]
    script = f"s3://{ARTIFACT_BUCKET}/{EXECUTION_ID}/code/preprocess.py"
    assert job["Command"]["ScriptLocation"] == script
    assert job["Role"] == "arn:aws:iam::123456789012:role/MLOps-Glue-us-east-1"
    assert job["DefaultArguments"] == {"--SEED": "42"}
    body = aws.client("s3").get_object(Bucket=ARTIFACT_BUCKET, Key=f"{EXECUTION_ID}/code/preprocess.py")["Body"].read()
    assert body == b"print('etl')\n"
    run = glue.get_job_run(JobName="abalone-preprocess", RunId=result["runId"])["JobRun"]
    expected = {
        "--S3_INPUT_BUCKET": DATA_BUCKET,
        "--S3_INPUT_KEY_PREFIX": "input/raw/abalone.csv",
        "--S3_OUTPUT_BUCKET": ARTIFACT_BUCKET,
        "--S3_OUTPUT_KEY_PREFIX": f"{EXECUTION_ID}/input",
        "--PIPELINE_EXECUTION_ID": EXECUTION_ID,
    }
    assert {name: run["Arguments"].get(name) for name in expected} == expected
    assert result["status"] == "started"


def test_etl_launch_updates_an_existing_job(aws, etl_env, codepipeline_stub, context):
    # moto has no Glue UpdateJob: this path is checked with a Stubber on the Glue client.
    module = load_lambda("EtlLaunchJob")
    module.codepipeline, cp_stubber = codepipeline_stub
    event = job_event([etl_source(aws.client("s3"))])
    glue = boto3.client("glue", region_name=REGION)
    module.glue = glue
    expected_update = {key: value for key, value in GLUE_JOB.items() if key != "Tags"}
    expected_update["Role"] = "arn:aws:iam::123456789012:role/MLOps-Glue-us-east-1"
    expected_update["Command"] = dict(
        GLUE_JOB["Command"], ScriptLocation=f"s3://{ARTIFACT_BUCKET}/{EXECUTION_ID}/code/preprocess.py"
    )
    with Stubber(glue) as glue_stubber:
        glue_stubber.add_response("get_job", {"Job": {"Name": "abalone-preprocess"}}, {"JobName": "abalone-preprocess"})
        glue_stubber.add_response(
            "update_job",
            {"JobName": "abalone-preprocess"},
            {"JobName": "abalone-preprocess", "JobUpdate": expected_update},
        )
        glue_stubber.add_response(
            "start_job_run", {"JobRunId": "jr_1"}, {"JobName": "abalone-preprocess", "Arguments": ANY}
        )
        expect_success(cp_stubber, event["CodePipeline.job"]["id"], "jr_1")
        result = module.lambda_handler(event, context)
        glue_stubber.assert_no_pending_responses()
    assert result == {"status": "started", "runId": "jr_1"}


@pytest.mark.parametrize(
    "files, user_parameters, failure_type, message",
    [
        ({"preprocess.py": "x = 1\n"}, None, "ConfigurationError", "no job.json at its root"),
        ({"job.json": "{not json", "preprocess.py": ""}, None, "ConfigurationError", "job.json is not valid JSON"),
        ({"job.json": "[]", "preprocess.py": ""}, None, "ConfigurationError", "Glue CreateJob request"),
        (None, "", "ConfigurationError", "UserParameters must be"),
        (
            None,
            '{"ExecutionId": "#{codepipeline.PipelineExecutionId}"}',
            "ConfigurationError",
            "UserParameters must be",
        ),
        (None, "not json", "ConfigurationError", "not a JSON object"),
    ],
)
def test_etl_launch_reports_bad_input_as_a_configuration_error(
    aws, etl_env, codepipeline_stub, context, files, user_parameters, failure_type, message
):
    module = load_lambda("EtlLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    event = job_event([etl_source(aws.client("s3"), files)], user_parameters)
    seen = []
    expect_failure(stubber, event["CodePipeline.job"]["id"], failure_type, seen)

    result = module.lambda_handler(event, context)

    assert result["status"] == "failed"
    assert message in seen[0]["message"], seen[0]["message"]
    assert seen[0]["externalExecutionId"] == context.aws_request_id
    assert "abalone-preprocess" not in boto3.client("glue", region_name=REGION).list_jobs()["JobNames"]


def test_etl_launch_reports_a_service_error_as_job_failed(aws, etl_env, codepipeline_stub, context):
    module = load_lambda("EtlLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    glue = boto3.client("glue", region_name=REGION)
    module.glue = glue
    event = job_event([etl_source(aws.client("s3"))])
    seen = []
    expect_failure(stubber, event["CodePipeline.job"]["id"], "JobFailed", seen)
    with Stubber(glue) as glue_stubber:
        glue_stubber.add_client_error("get_job", "AccessDeniedException", "not authorized to perform glue:GetJob")
        module.lambda_handler(event, context)
    assert "glue:GetJob" in seen[0]["message"]


def test_etl_launch_without_an_input_artifact_says_so(aws, etl_env, codepipeline_stub, context):
    module = load_lambda("EtlLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    event = job_event([])
    seen = []
    expect_failure(stubber, event["CodePipeline.job"]["id"], "ConfigurationError", seen)
    module.lambda_handler(event, context)
    assert "no input artifact" in seen[0]["message"]


def test_the_repositorys_etl_job_definition_launches(aws, etl_env, codepipeline_stub, context, repo_root):
    module = load_lambda("EtlLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    files = {name: (repo_root / "etl" / name).read_text() for name in ("job.json", "preprocess.py")}
    event = job_event([etl_source(aws.client("s3"), files)])
    expect_success(stubber, event["CodePipeline.job"]["id"])
    assert module.lambda_handler(event, context)["status"] == "started"
    job = boto3.client("glue", region_name=REGION).get_job(JobName="abalone-preprocess")["Job"]
    assert job["Command"]["Name"] == "pythonshell"
    assert job["Command"]["ScriptLocation"].startswith(f"s3://{ARTIFACT_BUCKET}/{EXECUTION_ID}/code/")
