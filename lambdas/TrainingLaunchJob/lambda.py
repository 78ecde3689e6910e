"""CodePipeline action: start the SageMaker training job described by trainingjob.json in the model source.

The job is named mlops-<model>-<execution id>, trains on s3://ARTIFACT_BUCKET/<execution id>/input/training/ and
writes its model under s3://ARTIFACT_BUCKET/<execution id>/. Its tags carry the pipeline execution id, which the
TrainingJobMonitor function reads when SageMaker's state-change event arrives.
"""

import io
import json
import logging
import os
import zipfile

import boto3

logger = logging.getLogger()
logger.setLevel(logging.INFO)

s3 = boto3.client("s3")
sagemaker = boto3.client("sagemaker")
codepipeline = boto3.client("codepipeline")

JOB_FILE = "trainingjob.json"
CHANNEL = "training"
EXECUTION_TAG = "PipelineExecutionId"
PIPELINE_TAG = "Pipeline"


class ConfigurationError(Exception):
    """The action's input or configuration is wrong; the message says what to fix."""


def execution_id_from(job_data):
    """The pipeline execution id, passed as {"ExecutionId": "#{codepipeline.PipelineExecutionId}"} in UserParameters."""
    raw = job_data.get("actionConfiguration", {}).get("configuration", {}).get("UserParameters", "")
    try:
        execution_id = json.loads(raw).get("ExecutionId", "") if raw else ""
    except (ValueError, AttributeError) as error:
        raise ConfigurationError(f"UserParameters is not a JSON object: {raw!r}") from error
    if not execution_id or execution_id.startswith("#{"):
        raise ConfigurationError(
            'UserParameters must be {"ExecutionId": "#{codepipeline.PipelineExecutionId}"} so the job can name '
            f"this execution's data; got {raw!r}"
        )
    return execution_id


def read_artifact_file(s3_client, artifacts, name):
    """Read one file from the root of the first input artifact zip that holds it."""
    if not artifacts:
        raise ConfigurationError("The action has no input artifact: give it the model source output")
    for artifact in artifacts:
        location = artifact["location"]["s3Location"]
        body = s3_client.get_object(Bucket=location["bucketName"], Key=location["objectKey"])["Body"].read()
        try:
            archive = zipfile.ZipFile(io.BytesIO(body))
        except zipfile.BadZipFile as error:
            raise ConfigurationError(f"Input artifact {artifact.get('name')} is not a zip archive") from error
        with archive:
            if name in archive.namelist():
                return archive.read(name)
    raise ConfigurationError(f"The model source has no {name} at its root: push container/{name} to the model branch")


def job_name_for(model_name, execution_id):
    name = f"mlops-{model_name}-{execution_id}"
    if len(name) > 63:
        raise ConfigurationError(f"Training job name {name} is longer than 63 characters: use a shorter ModelName")
    return name


def training_job_request(job_json, settings, execution_id):
    """trainingjob.json with this execution's name, image, role, data and output locations filled in."""
    try:
        request = json.loads(job_json)
    except ValueError as error:
        raise ConfigurationError(f"{JOB_FILE} is not valid JSON: {error}") from error
    if not isinstance(request, dict):
        raise ConfigurationError(f"{JOB_FILE} must be a SageMaker CreateTrainingJob request (a JSON object)")
    bucket = settings["artifact_bucket"]
    request["TrainingJobName"] = job_name_for(settings["model_name"], execution_id)
    request.setdefault("AlgorithmSpecification", {}).setdefault("TrainingInputMode", "File")
    request["AlgorithmSpecification"]["TrainingImage"] = settings["image_uri"]
    request["RoleArn"] = settings["role_arn"]
    request.setdefault("OutputDataConfig", {})["S3OutputPath"] = f"s3://{bucket}/{execution_id}"
    data_source = {
        "S3DataSource": {
            "S3DataType": "S3Prefix",
            "S3Uri": f"s3://{bucket}/{execution_id}/input/{CHANNEL}",
            "S3DataDistributionType": "FullyReplicated",
        }
    }
    channels = request.setdefault("InputDataConfig", [])
    channel = next((c for c in channels if c.get("ChannelName") == CHANNEL), None)
    if channel is None:
        channels.append({"ChannelName": CHANNEL, "DataSource": data_source, "ContentType": "text/csv"})
    else:
        channel["DataSource"] = data_source
    tags = [t for t in request.get("Tags", []) if t.get("Key") not in (EXECUTION_TAG, PIPELINE_TAG)]
    tags += [{"Key": EXECUTION_TAG, "Value": execution_id}, {"Key": PIPELINE_TAG, "Value": settings["pipeline_name"]}]
    request["Tags"] = tags
    return request


def launch(s3_client, sm_client, job_data, settings):
    """Start the training job. Returns (summary, job name)."""
    execution_id = execution_id_from(job_data)
    job_json = read_artifact_file(s3_client, job_data.get("inputArtifacts", []), JOB_FILE)
    request = training_job_request(job_json, settings, execution_id)
    sm_client.create_training_job(**request)
    name = request["TrainingJobName"]
    channel = next(c for c in request["InputDataConfig"] if c["ChannelName"] == CHANNEL)
    summary = (
        f"Training job {name} started with {settings['image_uri']} on "
        f"{channel['DataSource']['S3DataSource']['S3Uri']}/; model to {request['OutputDataConfig']['S3OutputPath']}/"
    )
    return summary, name


def settings_from_environment():
    return {
        "model_name": os.environ["MODEL_NAME"],
        "pipeline_name": os.environ["PIPELINE_NAME"],
        "image_uri": os.environ["IMAGE_URI"],
        "role_arn": os.environ["SAGEMAKER_ROLE_ARN"],
        "artifact_bucket": os.environ["ARTIFACT_BUCKET"],
    }


def lambda_handler(event, context):
    job = event["CodePipeline.job"]
    try:
        summary, name = launch(s3, sagemaker, job["data"], settings_from_environment())
    except Exception as error:  # noqa: BLE001 - every failure is reported to CodePipeline
        logger.exception("Training launch failed")
        failure_type = "ConfigurationError" if isinstance(error, (ConfigurationError, KeyError)) else "JobFailed"
        message = f"Could not start the training job: {type(error).__name__}: {error}"
        details = {"type": failure_type, "message": message[:5000]}
        if getattr(context, "aws_request_id", None):
            details["externalExecutionId"] = context.aws_request_id
        codepipeline.put_job_failure_result(jobId=job["id"], failureDetails=details)
        return {"status": "failed", "message": message}
    logger.info(summary)
    codepipeline.put_job_success_result(
        jobId=job["id"], executionDetails={"summary": summary[:2048], "externalExecutionId": name}
    )
    return {"status": "started", "trainingJobName": name}
