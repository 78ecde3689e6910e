"""EventBridge target for "Glue Job State Change": answers the ETLApproval of the execution the run belongs to.

A run that succeeded approves it; a failed, stopped or timed-out run rejects it with Glue's error message and
the log stream of the run's errors.
The run's --PIPELINE_EXECUTION_ID argument (set by EtlLaunchJob) names the execution.
"""

import logging
import os
import time

import boto3

import pipeline_jobs  # src/mlops_workshop/pipeline_jobs.py, copied into the package at build time

logger = logging.getLogger()
logger.setLevel(logging.INFO)

glue = boto3.client("glue")
codepipeline = boto3.client("codepipeline")

FINAL_STATES = ("SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR")
ERROR_LOG_GROUP = "/aws-glue/python-jobs/error"


def on_glue_event(glue_client, cp, event, settings, sleep=time.sleep):
    detail = event.get("detail", {})
    job_name, run_id, state = detail.get("jobName"), detail.get("jobRunId"), detail.get("state")
    if job_name != settings["job_name"] or state not in FINAL_STATES:
        logger.info("Ignoring %s of job %s run %s", state, job_name, run_id)
        return {"answered": False, "status": "ignored"}
    run = glue_client.get_job_run(JobName=job_name, RunId=run_id)["JobRun"]
    argument = pipeline_jobs.GLUE_EXECUTION_ARGUMENT
    execution_id = (run.get("Arguments") or {}).get(argument)
    if not execution_id:
        logger.info("Run %s of %s was not started by the pipeline (no %s)", run_id, job_name, argument)
        return {"answered": False, "status": "ignored"}
    if state == "SUCCEEDED":
        approved, summary = True, f"Glue job {job_name} run {run_id} succeeded"
    else:
        message = run.get("ErrorMessage") or detail.get("message") or "Glue gave no error message"
        # Where Glue puts a Python-shell run's standard error, as the console links it; before the message, which
        # may be cut to the summary's length.
        approved, summary = False, (f"Glue job {job_name} run {run_id} {state} (its log: group {ERROR_LOG_GROUP}, "
                                    f"stream {run_id}): {message}")
    return pipeline_jobs.answer_approval(cp, settings, execution_id, approved, summary, sleep)


def settings_from_environment():
    return {
        "job_name": os.environ["GLUE_JOB_NAME"],
        "pipeline_name": os.environ["PIPELINE_NAME"],
        **pipeline_jobs.approval_settings("ETLApproval", "ApproveETL"),
    }


def lambda_handler(event, context):
    logger.info("Event %s: %s", event.get("detail-type"), event.get("detail"))
    return on_glue_event(glue, codepipeline, event, settings_from_environment())
