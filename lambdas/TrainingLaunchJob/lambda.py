"""CodePipeline action: start the SageMaker training job described by trainingjob.json in the model source.

The job is named mlops-<model>-<execution id>, trains on s3://ARTIFACT_BUCKET/<execution id>/input/training/ and
writes its model under s3://ARTIFACT_BUCKET/<execution id>/. Its tags carry the pipeline execution id, which the
TrainingJobMonitor function reads when SageMaker's state-change event arrives.
"""

import json
import logging
import os

import boto3

import pipeline_jobs  # src/mlops_workshop/pipeline_jobs.py, copied into the package at build time

logger = logging.getLogger()
logger.setLevel(logging.INFO)

s3 = boto3.client("s3")
sagemaker = boto3.client("sagemaker")
codepipeline = boto3.client("codepipeline")

JOB_FILE = "trainingjob.json"
CHANNEL = "training"


def job_name_for(model_name, execution_id):
    name = f"mlops-{model_name}-{execution_id}"
    if len(name) > 63:
        raise pipeline_jobs.ConfigurationError(
            f"Training job name {name} is longer than 63 characters: use a shorter ModelName"
        )
    return name


def training_job_request(job_json, settings, execution_id):
    """trainingjob.json with this execution's name, image, role, data and output locations filled in."""
    try:
        request = json.loads(job_json)
    except ValueError as error:
        raise pipeline_jobs.ConfigurationError(f"{JOB_FILE} is not valid JSON: {error}") from error
    if not isinstance(request, dict):
        raise pipeline_jobs.ConfigurationError(
            f"{JOB_FILE} must be a SageMaker CreateTrainingJob request (a JSON object)"
        )
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
    ours = (pipeline_jobs.EXECUTION_TAG, pipeline_jobs.PIPELINE_TAG)
    tags = [t for t in request.get("Tags", []) if t.get("Key") not in ours]
    tags += [
        {"Key": pipeline_jobs.EXECUTION_TAG, "Value": execution_id},
        {"Key": pipeline_jobs.PIPELINE_TAG, "Value": settings["pipeline_name"]},
    ]
    request["Tags"] = tags
    return request


def launch(s3_client, sm_client, job_data, settings):
    """Start the training job. Returns (summary, job name)."""
    execution_id = pipeline_jobs.execution_id_from(job_data)
    files = pipeline_jobs.read_artifact_files(
        s3_client,
        job_data.get("inputArtifacts", []),
        [JOB_FILE],
        source="model source",
        fix=f"push container/{JOB_FILE} to the model branch",
    )
    request = training_job_request(files[JOB_FILE], settings, execution_id)
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
        message = pipeline_jobs.report_job_failure(codepipeline, job["id"], error, "the training job", context)
        return {"status": "failed", "message": message}
    logger.info(summary)
    pipeline_jobs.report_job_success(codepipeline, job["id"], summary, name)
    return {"status": "started", "trainingJobName": name}
