"""CodePipeline action: create or update the Glue ETL job from the ETL source and start a run for this execution.

The run reads the raw data from the data bucket and writes its splits under s3://ARTIFACT_BUCKET/<execution id>/input/.
The job's outcome reaches the ETLApproval stage through EventBridge and the EtlJobMonitor function.
"""

import io
import json
import logging
import os
import zipfile

import boto3
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)

s3 = boto3.client("s3")
glue = boto3.client("glue")
codepipeline = boto3.client("codepipeline")

JOB_FILE = "job.json"
SCRIPT_FILE = "preprocess.py"
# CreateJob takes these; UpdateJob's JobUpdate does not.
CREATE_ONLY_KEYS = ("Name", "Tags")


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


def read_artifact_files(s3_client, artifacts, names):
    """Read the named files from the root of the first input artifact zip that holds them all."""
    if not artifacts:
        raise ConfigurationError("The action has no input artifact: give it the ETL source output")
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
    raise ConfigurationError(
        f"The input artifact has no {missing} at its root: push the ETL job's files to the branch the ETL source reads"
    )


def job_definition(job_json, job_name, role_arn, script_location):
    """The CreateJob request: job.json with this pipeline's job name, role and script location filled in."""
    try:
        definition = json.loads(job_json)
    except ValueError as error:
        raise ConfigurationError(f"{JOB_FILE} is not valid JSON: {error}") from error
    if not isinstance(definition, dict) or not isinstance(definition.get("Command"), dict):
        raise ConfigurationError(f"{JOB_FILE} must be a Glue CreateJob request with a Command object")
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
    execution_id = execution_id_from(job_data)
    files = read_artifact_files(s3_client, job_data.get("inputArtifacts", []), [JOB_FILE, SCRIPT_FILE])
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
            "--PIPELINE_EXECUTION_ID": execution_id,
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
        failure_type = "ConfigurationError" if isinstance(error, (ConfigurationError, KeyError)) else "JobFailed"
        message = f"Could not start the ETL job: {type(error).__name__}: {error}"
        details = {"type": failure_type, "message": message[:5000]}
        if getattr(context, "aws_request_id", None):
            details["externalExecutionId"] = context.aws_request_id
        codepipeline.put_job_failure_result(jobId=job["id"], failureDetails=details)
        return {"status": "failed", "message": message}
    logger.info(summary)
    codepipeline.put_job_success_result(
        jobId=job["id"], executionDetails={"summary": summary[:2048], "externalExecutionId": run_id}
    )
    return {"status": "started", "runId": run_id}
