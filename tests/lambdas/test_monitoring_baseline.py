"""MonitoringBaseline against moto: the Model Monitor baseline job it starts on the baseline split."""

import json
from datetime import datetime, timezone

import pytest

from testkit.lambdas import load_lambda
from testkit.moto import ARTIFACT_BUCKET, MONITOR_IMAGE, ROLE_ARN

EXECUTION = "5b0c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d"


def baseline_event():
    return {
        "BaselineDataUri": f"s3://{ARTIFACT_BUCKET}/{EXECUTION}/input/baseline/baseline.csv",
        "OutputUri": f"s3://{ARTIFACT_BUCKET}/{EXECUTION}/monitoring/baseline",
        "ImageUri": MONITOR_IMAGE,
        "RoleArn": ROLE_ARN,
        "JobNamePrefix": "abalone-baseline",
    }


def test_baseline_starts_a_model_monitor_processing_job(aws):
    baseline = load_lambda("MonitoringBaseline")
    result = baseline.lambda_handler(baseline_event(), None)

    job = aws.client("sagemaker").describe_processing_job(ProcessingJobName=result["ProcessingJobName"])
    assert job["AppSpecification"]["ImageUri"] == MONITOR_IMAGE
    assert job["RoleArn"] == ROLE_ARN
    assert job["ProcessingInputs"][0]["S3Input"]["S3Uri"].endswith("baseline/baseline.csv")
    assert job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == result["OutputUri"]


def test_baseline_tells_the_analyzer_where_the_data_is(aws):
    baseline = load_lambda("MonitoringBaseline")
    request = baseline.baseline_job_request(baseline_event(), "abalone-baseline-1")
    # The analyzer image reads its settings from the environment, as the SageMaker SDK's suggest_baseline sets it.
    environment = request["Environment"]
    assert json.loads(environment["dataset_format"]) == {"csv": {"header": True, "output_columns_position": "START"}}
    assert environment["dataset_source"] == request["ProcessingInputs"][0]["S3Input"]["LocalPath"]
    assert environment["output_path"] == request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["LocalPath"]


def test_baseline_job_names_fit_sagemaker(aws):
    baseline = load_lambda("MonitoringBaseline")
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert baseline.job_name("abalone-baseline", now) == "abalone-baseline-20250102-030405"
    long_name = baseline.job_name("x" * 80 + "_odd name", now)
    assert len(long_name) <= 63 and long_name.endswith("-20250102-030405")


def test_baseline_names_what_is_missing(aws):
    baseline = load_lambda("MonitoringBaseline")
    event = baseline_event()
    del event["ImageUri"], event["RoleArn"]
    with pytest.raises(baseline.BaselineError, match="lacks ImageUri, RoleArn"):
        baseline.lambda_handler(event, None)
    with pytest.raises(baseline.BaselineError, match="s3:// URI"):
        baseline.lambda_handler({**baseline_event(), "OutputUri": "/tmp/out"}, None)
