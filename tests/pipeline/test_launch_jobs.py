"""EtlLaunchJob and TrainingLaunchJob against moto, with what they report to CodePipeline checked by a Stubber."""

import json

import boto3
import pytest
from botocore.stub import ANY, Stubber

REGION = "us-east-1"
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
TRAINING_JOB = {
    "AlgorithmSpecification": {"TrainingImage": "placeholder", "TrainingInputMode": "File"},
    "RoleArn": "placeholder",
    "OutputDataConfig": {"S3OutputPath": "placeholder"},
    "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 10},
    "TrainingJobName": "placeholder",
    "HyperParameters": {"epochs": "200", "batch_size": "32"},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "InputDataConfig": [
        {
            "ChannelName": "training",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": "placeholder",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": "text/csv",
            "CompressionType": "None",
        }
    ],
    "Tags": [{"Key": "project", "Value": "mlops"}],
}


@pytest.fixture
def etl_env(monkeypatch, kit):
    for name, value in {
        "GLUE_JOB_NAME": "abalone-preprocess",
        "GLUE_ROLE_ARN": "arn:aws:iam::123456789012:role/MLOps-Glue-us-east-1",
        "DATA_BUCKET": kit.DATA_BUCKET,
        "RAW_DATA_KEY": "input/raw/abalone.csv",
        "ARTIFACT_BUCKET": kit.ARTIFACT_BUCKET,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def training_env(monkeypatch, kit):
    for name, value in {
        "MODEL_NAME": "abalone",
        "PIPELINE_NAME": kit.PIPELINE,
        "IMAGE_URI": "123456789012.dkr.ecr.us-east-1.amazonaws.com/abalone:latest",
        "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/MLOps-SageMaker-us-east-1",
        "ARTIFACT_BUCKET": kit.ARTIFACT_BUCKET,
    }.items():
        monkeypatch.setenv(name, value)


def expect_success(stubber, job_id, external_id=ANY):
    stubber.add_response(
        "put_job_success_result",
        {},
        {"jobId": job_id, "executionDetails": {"summary": ANY, "externalExecutionId": external_id}},
    )


def expect_failure(stubber, job_id, failure_type, captured):
    def matcher(details):
        captured.append(details)
        return details.get("type") == failure_type

    stubber.add_response("put_job_failure_result", {}, {"jobId": job_id, "failureDetails": _Match(matcher)})


class _Match:
    """A Stubber parameter that matches when the predicate holds (and keeps what it saw)."""

    def __init__(self, predicate):
        self.predicate = predicate

    def __eq__(self, other):
        return self.predicate(other)

    def __repr__(self):
        return "<matching value>"


def etl_source(kit, s3, files=None):
    files = {"job.json": json.dumps(GLUE_JOB), "preprocess.py": "print('etl')\n"} if files is None else files
    return kit.put_artifact(s3, "mlops-pipeline/EtlSource/abc123", files)


# ---------- EtlLaunchJob ----------


def test_etl_launch_creates_the_job_and_starts_the_run(kit, aws, etl_env, codepipeline_stub, context):
    module = kit.load_lambda("EtlLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    event = kit.job_event([etl_source(kit, aws.s3)])
    glue = boto3.client("glue", region_name=REGION)
    expect_success(stubber, event["CodePipeline.job"]["id"])

    result = module.lambda_handler(event, context)

    job = glue.get_job(JobName="abalone-preprocess")["Job"]
    script = f"s3://{kit.ARTIFACT_BUCKET}/{kit.EXECUTION_ID}/code/preprocess.py"
    assert job["Command"]["ScriptLocation"] == script
    assert job["Role"] == "arn:aws:iam::123456789012:role/MLOps-Glue-us-east-1"
    assert job["DefaultArguments"] == {"--SEED": "42"}
    body = aws.s3.get_object(Bucket=kit.ARTIFACT_BUCKET, Key=f"{kit.EXECUTION_ID}/code/preprocess.py")["Body"].read()
    assert body == b"print('etl')\n"
    run = glue.get_job_run(JobName="abalone-preprocess", RunId=result["runId"])["JobRun"]
    expected = {
        "--S3_INPUT_BUCKET": kit.DATA_BUCKET,
        "--S3_INPUT_KEY_PREFIX": "input/raw/abalone.csv",
        "--S3_OUTPUT_BUCKET": kit.ARTIFACT_BUCKET,
        "--S3_OUTPUT_KEY_PREFIX": f"{kit.EXECUTION_ID}/input",
        "--PIPELINE_EXECUTION_ID": kit.EXECUTION_ID,
    }
    assert {name: run["Arguments"].get(name) for name in expected} == expected
    assert result["status"] == "started"


def test_etl_launch_updates_an_existing_job(kit, aws, etl_env, codepipeline_stub, context):
    # moto has no Glue UpdateJob: this path is checked with a Stubber on the Glue client.
    module = kit.load_lambda("EtlLaunchJob")
    module.codepipeline, cp_stubber = codepipeline_stub
    event = kit.job_event([etl_source(kit, aws.s3)])
    glue = boto3.client("glue", region_name=REGION)
    module.glue = glue
    expected_update = {key: value for key, value in GLUE_JOB.items() if key != "Tags"}
    expected_update["Role"] = "arn:aws:iam::123456789012:role/MLOps-Glue-us-east-1"
    expected_update["Command"] = dict(
        GLUE_JOB["Command"], ScriptLocation=f"s3://{kit.ARTIFACT_BUCKET}/{kit.EXECUTION_ID}/code/preprocess.py"
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
    kit, aws, etl_env, codepipeline_stub, context, files, user_parameters, failure_type, message
):
    module = kit.load_lambda("EtlLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    event = kit.job_event([etl_source(kit, aws.s3, files)], user_parameters)
    seen = []
    expect_failure(stubber, event["CodePipeline.job"]["id"], failure_type, seen)

    result = module.lambda_handler(event, context)

    assert result["status"] == "failed"
    assert message in seen[0]["message"], seen[0]["message"]
    assert seen[0]["externalExecutionId"] == context.aws_request_id
    assert "abalone-preprocess" not in boto3.client("glue", region_name=REGION).list_jobs()["JobNames"]


def test_etl_launch_reports_a_service_error_as_job_failed(kit, aws, etl_env, codepipeline_stub, context):
    module = kit.load_lambda("EtlLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    glue = boto3.client("glue", region_name=REGION)
    module.glue = glue
    event = kit.job_event([etl_source(kit, aws.s3)])
    seen = []
    expect_failure(stubber, event["CodePipeline.job"]["id"], "JobFailed", seen)
    with Stubber(glue) as glue_stubber:
        glue_stubber.add_client_error("get_job", "AccessDeniedException", "not authorized to perform glue:GetJob")
        module.lambda_handler(event, context)
    assert "glue:GetJob" in seen[0]["message"]


def test_etl_launch_without_an_input_artifact_says_so(kit, aws, etl_env, codepipeline_stub, context):
    module = kit.load_lambda("EtlLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    event = kit.job_event([])
    seen = []
    expect_failure(stubber, event["CodePipeline.job"]["id"], "ConfigurationError", seen)
    module.lambda_handler(event, context)
    assert "no input artifact" in seen[0]["message"]


# ---------- TrainingLaunchJob ----------


def model_source(kit, s3, files=None):
    files = {"trainingjob.json": json.dumps(TRAINING_JOB), "Dockerfile": "FROM scratch\n"} if files is None else files
    return kit.put_artifact(s3, "mlops-pipeline/ModelSour/def456", files)


def test_training_launch_starts_the_job_of_this_execution(kit, aws, training_env, codepipeline_stub, context):
    module = kit.load_lambda("TrainingLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    event = kit.job_event([model_source(kit, aws.s3)])
    name = f"mlops-abalone-{kit.EXECUTION_ID}"
    expect_success(stubber, event["CodePipeline.job"]["id"], name)

    result = module.lambda_handler(event, context)

    assert result == {"status": "started", "trainingJobName": name}
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    job = sagemaker.describe_training_job(TrainingJobName=name)
    assert (
        job["AlgorithmSpecification"]["TrainingImage"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/abalone:latest"
    )
    assert job["RoleArn"] == "arn:aws:iam::123456789012:role/MLOps-SageMaker-us-east-1"
    assert job["OutputDataConfig"]["S3OutputPath"] == f"s3://{kit.ARTIFACT_BUCKET}/{kit.EXECUTION_ID}"
    channel = job["InputDataConfig"][0]
    assert channel["ChannelName"] == "training"
    assert (
        channel["DataSource"]["S3DataSource"]["S3Uri"]
        == f"s3://{kit.ARTIFACT_BUCKET}/{kit.EXECUTION_ID}/input/training"
    )
    assert job["HyperParameters"] == {"epochs": "200", "batch_size": "32"}
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]}
    assert tags == {"project": "mlops", "PipelineExecutionId": kit.EXECUTION_ID, "Pipeline": kit.PIPELINE}


def test_training_request_adds_a_missing_training_channel(kit, aws_env):
    module = kit.load_lambda("TrainingLaunchJob")
    settings = {
        "model_name": "abalone",
        "pipeline_name": kit.PIPELINE,
        "image_uri": "img",
        "role_arn": "role",
        "artifact_bucket": "bucket",
    }
    request = module.training_job_request(json.dumps({"ResourceConfig": {}}), settings, kit.EXECUTION_ID)
    assert request["InputDataConfig"][0]["ChannelName"] == "training"
    assert request["AlgorithmSpecification"] == {"TrainingInputMode": "File", "TrainingImage": "img"}


@pytest.mark.parametrize(
    "files, user_parameters, message",
    [
        ({"Dockerfile": "FROM scratch\n"}, None, "no trainingjob.json at its root"),
        ({"trainingjob.json": "{"}, None, "trainingjob.json is not valid JSON"),
        (None, '{"Other": 1}', "UserParameters must be"),
    ],
)
def test_training_launch_reports_bad_input(
    kit, aws, training_env, codepipeline_stub, context, files, user_parameters, message
):
    module = kit.load_lambda("TrainingLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    event = kit.job_event([model_source(kit, aws.s3, files)], user_parameters)
    seen = []
    expect_failure(stubber, event["CodePipeline.job"]["id"], "ConfigurationError", seen)
    assert module.lambda_handler(event, context)["status"] == "failed"
    assert message in seen[0]["message"], seen[0]["message"]


def test_training_launch_with_a_too_long_model_name_fails_clearly(
    kit, aws, training_env, monkeypatch, codepipeline_stub, context
):
    monkeypatch.setenv("MODEL_NAME", "a-model-name-far-too-long-for-sagemaker")
    module = kit.load_lambda("TrainingLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    event = kit.job_event([model_source(kit, aws.s3)])
    seen = []
    expect_failure(stubber, event["CodePipeline.job"]["id"], "ConfigurationError", seen)
    module.lambda_handler(event, context)
    assert "longer than 63 characters" in seen[0]["message"]


def test_training_launch_reports_a_sagemaker_error(kit, aws, training_env, codepipeline_stub, context):
    module = kit.load_lambda("TrainingLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    module.sagemaker = sagemaker
    event = kit.job_event([model_source(kit, aws.s3)])
    seen = []
    expect_failure(stubber, event["CodePipeline.job"]["id"], "JobFailed", seen)
    with Stubber(sagemaker) as sm_stubber:
        sm_stubber.add_client_error(
            "create_training_job", "ResourceInUse", "Training job names must be unique within an AWS account and region"
        )
        module.lambda_handler(event, context)
    assert "must be unique" in seen[0]["message"]


# ---------- The repository's own job definitions ----------


def test_the_repositorys_etl_job_definition_launches(kit, aws, etl_env, codepipeline_stub, context, repo_root):
    module = kit.load_lambda("EtlLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    files = {name: (repo_root / "etl" / name).read_text() for name in ("job.json", "preprocess.py")}
    event = kit.job_event([etl_source(kit, aws.s3, files)])
    expect_success(stubber, event["CodePipeline.job"]["id"])
    assert module.lambda_handler(event, context)["status"] == "started"
    job = boto3.client("glue", region_name=REGION).get_job(JobName="abalone-preprocess")["Job"]
    assert job["Command"]["Name"] == "pythonshell"
    assert job["Command"]["ScriptLocation"].startswith(f"s3://{kit.ARTIFACT_BUCKET}/{kit.EXECUTION_ID}/code/")


def test_the_repositorys_training_job_definition_launches(
    kit, aws, training_env, codepipeline_stub, context, repo_root
):
    path = repo_root / "container" / "trainingjob.json"
    if not path.is_file():
        pytest.skip("container/trainingjob.json is not written yet")
    module = kit.load_lambda("TrainingLaunchJob")
    module.codepipeline, stubber = codepipeline_stub
    event = kit.job_event([model_source(kit, aws.s3, {"trainingjob.json": path.read_text()})])
    expect_success(stubber, event["CodePipeline.job"]["id"])
    assert module.lambda_handler(event, context)["status"] == "started"
    job = boto3.client("sagemaker", region_name=REGION).describe_training_job(
        TrainingJobName=f"mlops-abalone-{kit.EXECUTION_ID}"
    )
    assert [c["ChannelName"] for c in job["InputDataConfig"]] == ["training"]
