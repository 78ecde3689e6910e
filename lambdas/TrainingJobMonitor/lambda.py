"""EventBridge target for "SageMaker Training Job State Change": answers the TrainApproval of the job's execution.

A completed job is registered as a model package (PendingManualApproval) in the model package group and the
approval approved; a failed or stopped job rejects it with SageMaker's FailureReason. The job's
PipelineExecutionId tag (set by TrainingLaunchJob) names the execution.
"""

import logging
import os
import time

import boto3
from botocore.exceptions import ClientError

import pipeline_jobs  # src/mlops_workshop/pipeline_jobs.py, copied into the package at build time

logger = logging.getLogger()
logger.setLevel(logging.INFO)

sagemaker = boto3.client("sagemaker")
codepipeline = boto3.client("codepipeline")

FINAL_STATES = ("Completed", "Failed", "Stopped")
LOG_GROUP = "/aws/sagemaker/TrainingJobs"


def job_tags(sm, detail, job):
    """The job's tags as a dict: from the event when it carries them, else from SageMaker."""
    tags = detail.get("Tags")
    if isinstance(tags, dict) and tags:
        return tags
    if isinstance(tags, list) and tags:
        return {tag["Key"]: tag["Value"] for tag in tags}
    listed = sm.list_tags(ResourceArn=job["TrainingJobArn"]).get("Tags", [])
    return {tag["Key"]: tag["Value"] for tag in listed}


def on_training_event(sm, cp, event, settings, sleep=time.sleep):
    detail = event.get("detail", {})
    name, status = detail.get("TrainingJobName"), detail.get("TrainingJobStatus")
    if status not in FINAL_STATES:
        logger.info("Ignoring %s of training job %s", status, name)
        return {"answered": False, "status": "ignored"}
    job = sm.describe_training_job(TrainingJobName=name)
    tags = job_tags(sm, detail, job)
    execution_id = tags.get(pipeline_jobs.EXECUTION_TAG)
    if not execution_id or tags.get(pipeline_jobs.PIPELINE_TAG) != settings["pipeline_name"]:
        logger.info("Training job %s was not started by pipeline %s", name, settings["pipeline_name"])
        return {"answered": False, "status": "ignored"}
    status = job["TrainingJobStatus"]
    if status == "Completed":
        try:
            package_arn = pipeline_jobs.register_model_package(sm, settings["model_group"], job, execution_id)
        except ClientError as error:
            approved = False
            summary = f"Training job {name} completed, but registering its model failed: {error}"
        else:
            approved = True
            summary = f"Training job {name} completed; model package {package_arn} registered, pending approval"
    else:
        reason = job.get("FailureReason") or "SageMaker gave no failure reason"
        # Where SageMaker puts the container's output, as the console links it, unless the reason says already;
        # before the reason, which may be cut to the summary's length.
        logs = "" if LOG_GROUP in reason else f" (its logs: group {LOG_GROUP}, streams {name}/algo-*)"
        approved, summary = False, f"Training job {name} {status}{logs}: {reason}"
    return pipeline_jobs.answer_approval(cp, settings, execution_id, approved, summary, sleep)


def settings_from_environment():
    return {
        "pipeline_name": os.environ["PIPELINE_NAME"],
        "model_group": os.environ["MODEL_GROUP"],
        **pipeline_jobs.approval_settings("TrainApproval", "ApproveTrain"),
    }


def lambda_handler(event, context):
    logger.info("Event %s: %s", event.get("detail-type"), event.get("detail"))
    return on_training_event(sagemaker, codepipeline, event, settings_from_environment())
