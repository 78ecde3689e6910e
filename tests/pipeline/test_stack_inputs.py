"""What the stack reads from S3 when it is created: the Lambda packages and the data set, put only when changed."""

import csv
import io
from dataclasses import replace

import boto3
import pytest

from mlops_workshop.data import DataValidationError
from mlops_workshop.pipeline import stack
from testkit.moto import ARTIFACT_BUCKET, DATA_BUCKET, NAMES, REGION

PIPELINE_FUNCTIONS = ["CreateModelGroup", "EtlJobMonitor", "EtlLaunchJob", "TrainingJobMonitor", "TrainingLaunchJob"]


@pytest.fixture
def session(aws):
    return boto3.session.Session(region_name=REGION)


def rows_at(s3, bucket, key):
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return list(csv.reader(io.StringIO(text)))


def test_the_bundled_data_set_goes_to_the_raw_data_key_once_until_it_changes(aws, session):
    assert stack.upload_dataset(session, NAMES) is True
    rows = rows_at(aws.s3, DATA_BUCKET, "input/raw/abalone.csv")
    assert len(rows) == 4177
    assert {len(row) for row in rows} == {9}
    assert rows[0][0] in ("M", "F", "I")
    # A new object version would start a pipeline execution: the same bytes are not put again.
    assert stack.upload_dataset(session, NAMES) is False
    assert stack.upload_dataset(session, NAMES, b"M,0.5,0.4,0.1,0.5,0.2,0.1,0.2,9\n") is True


def test_a_users_csv_is_checked_and_stored_without_its_header(aws, session, tmp_path):
    source = tmp_path / "mine.csv"
    source.write_text(
        "sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight,rings\n"
        "M,0.455,0.365,0.095,0.514,0.2245,0.101,0.15,15\n"
    )
    stack.upload_dataset(session, replace(NAMES, raw_data_key="input/raw/mine.csv"), source)
    assert rows_at(aws.s3, DATA_BUCKET, "input/raw/mine.csv") == [
        ["M", "0.455", "0.365", "0.095", "0.514", "0.2245", "0.101", "0.15", "15"]
    ]


def test_a_bad_csv_is_refused_before_upload(aws, session, tmp_path):
    source = tmp_path / "bad.csv"
    source.write_text("X,0.455,0.365,0.095,0.514,0.2245,0.101,0.15,15\n")
    with pytest.raises(DataValidationError, match="unknown sex code 'X'"):
        stack.upload_dataset(session, NAMES, source)
    assert aws.s3.list_objects_v2(Bucket=DATA_BUCKET).get("KeyCount") == 0


def test_stack_inputs_use_the_workshop_names(aws, session):
    uploaded = stack.upload_stack_inputs(session, NAMES)
    assert uploaded["dataset"] == f"s3://{DATA_BUCKET}/input/raw/abalone.csv"
    for name in PIPELINE_FUNCTIONS:
        assert uploaded[name] == f"s3://{ARTIFACT_BUCKET}/lambda/{name}.zip"
