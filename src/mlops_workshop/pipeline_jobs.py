"""What the pipeline's Lambda functions share: their CodePipeline jobs, their approvals and the model registration.

- The launchers (EtlLaunchJob, TrainingLaunchJob) read a CodePipeline job's execution id and input artifact and
  report its result: `execution_id_from`, `read_artifact_files`, `report_job_success`, `report_job_failure`.
- The monitors (EtlJobMonitor, TrainingJobMonitor) answer the approval an execution waits in: `answer_approval`,
  `approval_settings`.
- TrainingJobMonitor registers the trained model, pending approval: `register_model_package`, which
  `mlops_workshop.pipeline` calls too when a person approves the training in the monitor's place.

mlops_workshop.packaging copies this file into the package of each function that imports it (`import
pipeline_jobs`), so it needs nothing but the standard library and boto3, and it makes no clients: callers pass
their own.
"""

import io
import json
import logging
import os
import time
import zipfile

from botocore.exceptions import ClientError

logger = logging.getLogger(__name__)

# How the launchers mark what they start, so that the monitors find the execution it belongs to.
GLUE_EXECUTION_ARGUMENT = "--PIPELINE_EXECUTION_ID"
EXECUTION_TAG = "PipelineExecutionId"
PIPELINE_TAG = "Pipeline"
# What CodePipeline accepts: PutApprovalResult's summary, PutJobSuccessResult's summary, PutJobFailureResult's message.
MAX_APPROVAL_SUMMARY = 512
MAX_EXECUTION_SUMMARY = 2048
MAX_FAILURE_MESSAGE = 5000
# What the serving container's /invocations accepts and answers.
CONTENT_TYPES = ["text/csv", "application/json"]
RESPONSE_TYPES = ["text/csv", "application/json"]


# ---------- CodePipeline jobs: the launchers ----------


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


def read_artifact_files(s3_client, artifacts, names, source, fix):
    """Read the named files from the root of the first input artifact zip that holds them all.

    `source` is the pipeline source whose output the action takes; `fix` says how to put the files there."""
    if not artifacts:
        raise ConfigurationError(f"The action has no input artifact: give it the {source} output")
    found = {}
    for artifact in artifacts:
        location = artifact["location"]["s3Location"]
        body = s3_client.get_object(Bucket=location["bucketName"], Key=location["objectKey"])["Body"].read()
        try:
            archive = zipfile.ZipFile(io.BytesIO(body))
        except zipfile.BadZipFile as error:
            raise ConfigurationError(f"Input artifact {artifact.get('name')} is not a zip archive") from error
        with archive:
            found = {name: archive.read(name) for name in names if name in archive.namelist()}
        if len(found) == len(names):
            return found
    missing = ", ".join(name for name in names if name not in found)
    raise ConfigurationError(f"The {source} has no {missing} at its root: {fix}")


def report_job_success(cp, job_id, summary, external_id):
    """Tell CodePipeline the action succeeded: the summary its console shows, the id of what the action started."""
    cp.put_job_success_result(
        jobId=job_id, executionDetails={"summary": summary[:MAX_EXECUTION_SUMMARY], "externalExecutionId": external_id}
    )


def report_job_failure(cp, job_id, error, what, context=None):
    """Tell CodePipeline the action could not start `what`; returns the message.

    A ConfigurationError, or a setting missing from the environment (KeyError), is a ConfigurationError for the
    user to fix; anything else a failed job."""
    failure_type = "ConfigurationError" if isinstance(error, (ConfigurationError, KeyError)) else "JobFailed"
    message = f"Could not start {what}: {type(error).__name__}: {error}"
    details = {"type": failure_type, "message": message[:MAX_FAILURE_MESSAGE]}
    if getattr(context, "aws_request_id", None):
        details["externalExecutionId"] = context.aws_request_id
    cp.put_job_failure_result(jobId=job_id, failureDetails=details)
    return message


# ---------- Manual approvals: the monitors ----------


class ApprovalNotFound(Exception):
    """No approval waits for the execution; raising lets EventBridge's retries try again later."""


def approval_settings(stage, action, environ=None):
    """A monitor's optional settings: the approval it answers (stage and action by default) and how long it waits."""
    environ = os.environ if environ is None else environ
    return {
        "stage": environ.get("APPROVAL_STAGE", stage),
        "action": environ.get("APPROVAL_ACTION", action),
        "wait_seconds": float(environ.get("APPROVAL_WAIT_SECONDS", "60")),
        "poll_seconds": float(environ.get("APPROVAL_POLL_SECONDS", "3")),
    }


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
    """Approve or reject the execution's approval, waiting for it to open (a short job can end before it does).

    `settings` holds pipeline_name and what `approval_settings` gives."""
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
            result={"summary": summary[:MAX_APPROVAL_SUMMARY], "status": status},
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
    return {"answered": True, "status": status, "summary": summary[:MAX_APPROVAL_SUMMARY]}


# ---------- The model registry: a completed training job's model ----------


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
    """Register the job's model (a DescribeTrainingJob answer) in the group, pending manual approval.

    Returns the package ARN; a job registered already keeps its one package."""
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
