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

logger = logging.getLogger()
logger.setLevel(logging.INFO)

sagemaker = boto3.client("sagemaker")
codepipeline = boto3.client("codepipeline")

FINAL_STATES = ("Completed", "Failed", "Stopped")
EXECUTION_TAG = "PipelineExecutionId"
PIPELINE_TAG = "Pipeline"
# PutApprovalResult accepts a summary of at most 512 characters.
MAX_SUMMARY = 512
# What the serving container's /invocations accepts and answers.
CONTENT_TYPES = ["text/csv", "application/json"]
RESPONSE_TYPES = ["text/csv", "application/json"]


class ApprovalNotFound(Exception):
    """No approval waits for the execution; raising lets EventBridge's retries try again later."""


def approval_state(cp, pipeline, stage, action, execution_id):
    """('waiting', token), ('decided', status) or ('absent', None) for the approval of one execution."""
    state = cp.get_pipeline_state(name=pipeline)
    for stage_state in state.get("stageStates", []):
        if stage_state.get("stageName") != stage:
            continue
        if stage_state.get("latestExecution", {}).get("pipelineExecutionId") != execution_id:
            return "absent", None
        for action_state in stage_state.get("actionStates", []):
            if action_state.get("actionName") == action:
                latest = action_state.get("latestExecution", {})
                if latest.get("status") == "InProgress" and latest.get("token"):
                    return "waiting", latest["token"]
                return ("decided", latest.get("status")) if latest.get("status") else ("absent", None)
        raise ValueError(f"Pipeline {pipeline} has no action {action} in stage {stage}")
    raise ValueError(f"Pipeline {pipeline} has no stage {stage}")


def answer_approval(cp, settings, execution_id, approved, summary, sleep=time.sleep):
    """Approve or reject the execution's approval, waiting for it to open (a short job can end before it does)."""
    pipeline, stage, action = settings["pipeline_name"], settings["stage"], settings["action"]
    deadline = time.monotonic() + settings["wait_seconds"]
    while True:
        found, value = approval_state(cp, pipeline, stage, action, execution_id)
        if found == "decided":
            logger.info("%s/%s of execution %s is %s already; leaving it", stage, action, execution_id, value)
            return {"answered": False, "status": value}
        if found == "waiting":
            break
        if time.monotonic() >= deadline:
            raise ApprovalNotFound(
                f"No {stage}/{action} approval of pipeline {pipeline} waits for execution {execution_id} "
                f"after {settings['wait_seconds']} s"
            )
        sleep(settings["poll_seconds"])
    status = "Approved" if approved else "Rejected"
    try:
        cp.put_approval_result(
            pipelineName=pipeline,
            stageName=stage,
            actionName=action,
            result={"summary": summary[:MAX_SUMMARY], "status": status},
            token=value,
        )
    except ClientError as error:
        if error.response["Error"]["Code"] not in (
            "ApprovalAlreadyCompletedException",
            "InvalidApprovalTokenException",
        ):
            raise
        logger.info("%s/%s was answered by someone else meanwhile: %s", stage, action, error)
        return {"answered": False, "status": "answered elsewhere"}
    logger.info("%s %s/%s of execution %s: %s", status, stage, action, execution_id, summary)
    return {"answered": True, "status": status, "summary": summary[:MAX_SUMMARY]}


def job_tags(sm, detail, job):
    """The job's tags as a dict: from the event when it carries them, else from SageMaker."""
    tags = detail.get("Tags")
    if isinstance(tags, dict) and tags:
        return tags
    if isinstance(tags, list) and tags:
        return {tag["Key"]: tag["Value"] for tag in tags}
    listed = sm.list_tags(ResourceArn=job["TrainingJobArn"]).get("Tags", [])
    return {tag["Key"]: tag["Value"] for tag in listed}


def find_model_package(sm, group, training_job_name, look_back=20):
    """The package this training job registered already (an event delivered twice), or None."""
    response = sm.list_model_packages(
        ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending", MaxResults=look_back
    )
    for summary in response.get("ModelPackageSummaryList", []):
        package = sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        if package.get("CustomerMetadataProperties", {}).get("TrainingJobName") == training_job_name:
            return summary["ModelPackageArn"]
    return None


def register_model_package(sm, group, job, execution_id):
    """Register the job's model in the group, pending manual approval. Returns the package ARN."""
    name = job["TrainingJobName"]
    existing = find_model_package(sm, group, name)
    if existing:
        logger.info("Training job %s is registered already as %s", name, existing)
        return existing
    response = sm.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=f"Trained by {name} in pipeline execution {execution_id}",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": job["AlgorithmSpecification"]["TrainingImage"],
                    "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"],
                }
            ],
            "SupportedContentTypes": CONTENT_TYPES,
            "SupportedResponseMIMETypes": RESPONSE_TYPES,
        },
        ModelApprovalStatus="PendingManualApproval",
        MetadataProperties={"GeneratedBy": job["TrainingJobArn"]},
        CustomerMetadataProperties={"PipelineExecutionId": execution_id, "TrainingJobName": name},
    )
    return response["ModelPackageArn"]


def on_training_event(sm, cp, event, settings, sleep=time.sleep):
    detail = event.get("detail", {})
    name, status = detail.get("TrainingJobName"), detail.get("TrainingJobStatus")
    if status not in FINAL_STATES:
        logger.info("Ignoring %s of training job %s", status, name)
        return {"answered": False, "status": "ignored"}
    job = sm.describe_training_job(TrainingJobName=name)
    tags = job_tags(sm, detail, job)
    execution_id = tags.get(EXECUTION_TAG)
    if not execution_id or tags.get(PIPELINE_TAG) != settings["pipeline_name"]:
        logger.info("Training job %s was not started by pipeline %s", name, settings["pipeline_name"])
        return {"answered": False, "status": "ignored"}
    status = job["TrainingJobStatus"]
    if status == "Completed":
        try:
            package_arn = register_model_package(sm, settings["model_group"], job, execution_id)
        except ClientError as error:
            approved = False
            summary = f"Training job {name} completed, but registering its model failed: {error}"
        else:
            approved = True
            summary = f"Training job {name} completed; model package {package_arn} registered, pending approval"
    else:
        reason = job.get("FailureReason") or "SageMaker gave no failure reason"
        approved, summary = False, f"Training job {name} {status}: {reason}"
    return answer_approval(cp, settings, execution_id, approved, summary, sleep)


def settings_from_environment():
    return {
        "pipeline_name": os.environ["PIPELINE_NAME"],
        "model_group": os.environ["MODEL_GROUP"],
        "stage": os.environ.get("APPROVAL_STAGE", "TrainApproval"),
        "action": os.environ.get("APPROVAL_ACTION", "ApproveTrain"),
        "wait_seconds": float(os.environ.get("APPROVAL_WAIT_SECONDS", "60")),
        "poll_seconds": float(os.environ.get("APPROVAL_POLL_SECONDS", "3")),
    }


def lambda_handler(event, context):
    logger.info("Event %s: %s", event.get("detail-type"), event.get("detail"))
    return on_training_event(sagemaker, codepipeline, event, settings_from_environment())
