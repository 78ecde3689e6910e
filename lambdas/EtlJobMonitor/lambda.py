"""EventBridge target for "Glue Job State Change": answers the ETLApproval of the execution the run belongs to.

A run that succeeded approves it; a failed, stopped or timed-out run rejects it with Glue's error message.
The run's --PIPELINE_EXECUTION_ID argument (set by EtlLaunchJob) names the execution.
"""

import logging
import os
import time

import boto3
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)

glue = boto3.client("glue")
codepipeline = boto3.client("codepipeline")

FINAL_STATES = ("SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR")
EXECUTION_ARGUMENT = "--PIPELINE_EXECUTION_ID"
# PutApprovalResult accepts a summary of at most 512 characters.
MAX_SUMMARY = 512


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


def on_glue_event(glue_client, cp, event, settings, sleep=time.sleep):
    detail = event.get("detail", {})
    job_name, run_id, state = detail.get("jobName"), detail.get("jobRunId"), detail.get("state")
    if job_name != settings["job_name"] or state not in FINAL_STATES:
        logger.info("Ignoring %s of job %s run %s", state, job_name, run_id)
        return {"answered": False, "status": "ignored"}
    run = glue_client.get_job_run(JobName=job_name, RunId=run_id)["JobRun"]
    execution_id = (run.get("Arguments") or {}).get(EXECUTION_ARGUMENT)
    if not execution_id:
        logger.info("Run %s of %s was not started by the pipeline (no %s)", run_id, job_name, EXECUTION_ARGUMENT)
        return {"answered": False, "status": "ignored"}
    if state == "SUCCEEDED":
        approved, summary = True, f"Glue job {job_name} run {run_id} succeeded"
    else:
        message = run.get("ErrorMessage") or detail.get("message") or "Glue gave no error message"
        approved, summary = False, f"Glue job {job_name} run {run_id} {state}: {message}"
    return answer_approval(cp, settings, execution_id, approved, summary, sleep)


def settings_from_environment():
    return {
        "job_name": os.environ["GLUE_JOB_NAME"],
        "pipeline_name": os.environ["PIPELINE_NAME"],
        "stage": os.environ.get("APPROVAL_STAGE", "ETLApproval"),
        "action": os.environ.get("APPROVAL_ACTION", "ApproveETL"),
        "wait_seconds": float(os.environ.get("APPROVAL_WAIT_SECONDS", "60")),
        "poll_seconds": float(os.environ.get("APPROVAL_POLL_SECONDS", "3")),
    }


def lambda_handler(event, context):
    logger.info("Event %s: %s", event.get("detail-type"), event.get("detail"))
    return on_glue_event(glue, codepipeline, event, settings_from_environment())
