"""CodePipeline action: create or update the Glue ETL job from the ETL source and start a run for this execution.

The run reads the raw data from the data bucket and writes its splits under s3://ARTIFACT_BUCKET/<execution id>/input/.
The job's outcome reaches the ETLApproval stage through EventBridge and the EtlJobMonitor function.
"""

import json
import logging
import os

import boto3
from botocore.exceptions import ClientError

import pipeline_jobs  # src/mlops_workshop/pipeline_jobs.py, copied into the package at build time

logger = logging.getLogger()
logger.setLevel(logging.INFO)

s3 = boto3.client("s3")
glue = boto3.client("glue")
codepipeline = boto3.client("codepipeline")

JOB_FILE = "job.json"
SCRIPT_FILE = "preprocess.py"
# CreateJob takes these; UpdateJob's JobUpdate does not.
CREATE_ONLY_KEYS = ("Name", "Tags")


def job_definition(job_json, job_name, role_arn, script_location):
    """The CreateJob request: job.json with this pipeline's job name, role and script location filled in."""
    try:
        definition = json.loads(job_json)
    except ValueError as error:
        raise pipeline_jobs.ConfigurationError(f"{JOB_FILE} is not valid JSON: {error}") from error
    if not isinstance(definition, dict) or not isinstance(definition.get("Command"), dict):
        raise pipeline_jobs.ConfigurationError(f"{JOB_FILE} must be a Glue CreateJob request with a Command object")
    definition["Name"] = job_name
    definition["Role"] = role_arn
    definition["Command"]["ScriptLocation"] = script_location
    return definition


def create_or_update_job(glue_client, definition):
    name = definition["Name"]
    try:
        glue_client.get_job(JobName=name)
    except ClientError as error:
        if error.response["Error"]["Code"] != "EntityNotFoundException":
            raise
        glue_client.create_job(**definition)
        return "created"
    update = {key: value for key, value in definition.items() if key not in CREATE_ONLY_KEYS}
    glue_client.update_job(JobName=name, JobUpdate=update)
    return "updated"


def launch(s3_client, glue_client, job_data, settings):
    """Upload the script, create or update the job, start the run. Returns (summary, run id)."""
    execution_id = pipeline_jobs.execution_id_from(job_data)
    files = pipeline_jobs.read_artifact_files(
        s3_client,
        job_data.get("inputArtifacts", []),
        [JOB_FILE, SCRIPT_FILE],
        source="ETL source",
        fix="push the ETL job's files to the branch it reads",
    )
    script_key = f"{execution_id}/code/{SCRIPT_FILE}"
    s3_client.put_object(Bucket=settings["artifact_bucket"], Key=script_key, Body=files[SCRIPT_FILE])
    definition = job_definition(
        files[JOB_FILE], settings["job_name"], settings["role_arn"], f"s3://{settings['artifact_bucket']}/{script_key}"
    )
    action = create_or_update_job(glue_client, definition)
    run_id = glue_client.start_job_run(
        JobName=definition["Name"],
        Arguments={
            "--S3_INPUT_BUCKET": settings["data_bucket"],
            # The ETL script takes the .csv key itself as well as a folder holding abalone.csv.
            "--S3_INPUT_KEY_PREFIX": settings["raw_data_key"],
            "--S3_OUTPUT_BUCKET": settings["artifact_bucket"],
            "--S3_OUTPUT_KEY_PREFIX": f"{execution_id}/input",
            # The monitor reads this back to find the approval of this execution.
            pipeline_jobs.GLUE_EXECUTION_ARGUMENT: execution_id,
        },
    )["JobRunId"]
    source = f"s3://{settings['data_bucket']}/{settings['raw_data_key']}"
    target = f"s3://{settings['artifact_bucket']}/{execution_id}/input/"
    summary = f"Glue job {definition['Name']} {action}; run {run_id} reads {source} and writes {target}"
    return summary, run_id


def settings_from_environment():
    return {
        "job_name": os.environ["GLUE_JOB_NAME"],
        "role_arn": os.environ["GLUE_ROLE_ARN"],
        "data_bucket": os.environ["DATA_BUCKET"],
        "raw_data_key": os.environ["RAW_DATA_KEY"],
        "artifact_bucket": os.environ["ARTIFACT_BUCKET"],
    }


def lambda_handler(event, context):
    job = event["CodePipeline.job"]
    try:
        summary, run_id = launch(s3, glue, job["data"], settings_from_environment())
    except Exception as error:  # noqa: BLE001 - every failure is reported to CodePipeline
        logger.exception("ETL launch failed")
        message = pipeline_jobs.report_job_failure(codepipeline, job["id"], error, "the ETL job", context)
        return {"status": "failed", "message": message}
    logger.info(summary)
    pipeline_jobs.report_job_success(codepipeline, job["id"], summary, run_id)
    return {"status": "started", "runId": run_id}
