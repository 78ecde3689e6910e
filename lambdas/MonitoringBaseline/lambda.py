"""System-test step: start the Model Monitor baseline job on the baseline split.

The job is a SageMaker processing job running the Model Monitor analyzer image of the region (the workflow's
build resolves it with the SageMaker SDK); it writes statistics.json and constraints.json under OutputUri,
which a monitoring schedule of the Prd endpoint's captured data can later compare against.

Event: {"BaselineDataUri", "OutputUri", "ImageUri", "RoleArn", "JobNamePrefix"} and optionally "InstanceType",
"InstanceCount", "VolumeSizeInGB", "MaxRuntimeInSeconds". Returns {"ProcessingJobName", "ProcessingJobArn",
"OutputUri"}.
"""

import json
import logging
import re
from datetime import datetime, timezone

import boto3

logger = logging.getLogger()
logger.setLevel(logging.INFO)

sagemaker = boto3.client("sagemaker")

REQUIRED = ("BaselineDataUri", "OutputUri", "ImageUri", "RoleArn", "JobNamePrefix")
INPUT_NAME = "baseline_dataset_input"
INPUT_PATH = "/opt/ml/processing/input/baseline_dataset_input"
OUTPUT_NAME = "monitoring_output"
OUTPUT_PATH = "/opt/ml/processing/output"
# The ETL job's baseline.csv: a header row, the features only.
DATASET_FORMAT = {"csv": {"header": True, "output_columns_position": "START"}}
MAX_JOB_NAME = 63


class BaselineError(Exception):
    """The event lacks what the baseline job needs."""


def job_name(prefix, now=None):
    """prefix-YYYYmmdd-HHMMSS within SageMaker's 63 characters of letters, digits and hyphens."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    clean = re.sub(r"[^a-zA-Z0-9-]+", "-", prefix).strip("-")[: MAX_JOB_NAME - len(stamp) - 1].strip("-")
    return f"{clean}-{stamp}" if clean else f"baseline-{stamp}"


def baseline_job_request(event, name):
    missing = [key for key in REQUIRED if not event.get(key)]
    if missing:
        raise BaselineError(f"The event lacks {', '.join(missing)}")
    for key in ("BaselineDataUri", "OutputUri"):
        if not str(event[key]).startswith("s3://"):
            raise BaselineError(f"{key} must be an s3:// URI, got {event[key]!r}")
    return {
        "ProcessingJobName": name,
        "ProcessingInputs": [
            {
                "InputName": INPUT_NAME,
                "S3Input": {
                    "S3Uri": event["BaselineDataUri"],
                    "LocalPath": INPUT_PATH,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                },
            }
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": OUTPUT_NAME,
                    "S3Output": {"S3Uri": event["OutputUri"], "LocalPath": OUTPUT_PATH, "S3UploadMode": "EndOfJob"},
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": int(event.get("InstanceCount", 1)),
                "InstanceType": event.get("InstanceType", "ml.m5.xlarge"),
                "VolumeSizeInGB": int(event.get("VolumeSizeInGB", 20)),
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": int(event.get("MaxRuntimeInSeconds", 3600))},
        "AppSpecification": {"ImageUri": event["ImageUri"]},
        "Environment": {
            "dataset_format": json.dumps(DATASET_FORMAT),
            "dataset_source": INPUT_PATH,
            "output_path": OUTPUT_PATH,
            "publish_cloudwatch_metrics": "Disabled",
        },
        "RoleArn": event["RoleArn"],
    }


def start_baseline(sm, event, now=None):
    request = baseline_job_request(event, job_name(event.get("JobNamePrefix", ""), now))
    response = sm.create_processing_job(**request)
    logger.info("Started baseline job %s on %s", request["ProcessingJobName"], event["BaselineDataUri"])
    return {
        "ProcessingJobName": request["ProcessingJobName"],
        "ProcessingJobArn": response["ProcessingJobArn"],
        "OutputUri": event["OutputUri"],
    }


def lambda_handler(event, context):
    return start_baseline(sagemaker, event)
