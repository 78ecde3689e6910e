"""etl/preprocess.py run as Glue runs it: a separate process with `--NAME value` arguments, here against a moto
server (AWS_ENDPOINT_URL), under this Python and under Glue's Python shell (Python 3.9 and its analytics set) where
the machine has python3.9."""

import os
import re
import subprocess
import sys

import boto3
import pytest

from mlops_workshop.config import WorkshopNames
from mlops_workshop.localcloud.glue.environment import library_set_folder

NAMES = WorkshopNames()
INPUT_BUCKET = NAMES.data_bucket
OUTPUT_BUCKET = NAMES.artifact_bucket
OUTPUTS = ["baseline/baseline.csv", "testing/test.csv", "training/train.csv", "training/validate.csv"]
BAD_ROW = "Q,0.455,0.365,0.095,0.514,0.2245,0.101,0.15,15"
# What Glue adds to a Python-shell run's command line besides the job's own arguments.
GLUE_EXTRA_ARGUMENTS = [
    "--JOB_ID", "j_0123456789abcdef",
    "--JOB_RUN_ID", "jr_0123456789abcdef",
    "--job-bookmark-option", "job-bookmark-disable",
    "--JOB_NAME", "abalone-preprocess",
    "--enable-metrics",
    "--job-language", "python",
    "--PIPELINE_EXECUTION_ID", "exec-1",
]


@pytest.fixture
def s3(aws_env, moto_endpoint, raw_csv):
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    for bucket in (INPUT_BUCKET, OUTPUT_BUCKET):
        client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=INPUT_BUCKET, Key=NAMES.raw_data_key, Body=raw_csv)
    client.put_object(Bucket=INPUT_BUCKET, Key="bad/abalone.csv", Body=raw_csv + (BAD_ROW + "\n").encode())
    return client


def keys_under(client, prefix):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=OUTPUT_BUCKET, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def run_job(python, script, endpoint, input_prefix, output_prefix, path=None):
    argv = GLUE_EXTRA_ARGUMENTS + [
        "--S3_INPUT_BUCKET", INPUT_BUCKET,
        "--S3_INPUT_KEY_PREFIX", input_prefix,
        "--S3_OUTPUT_BUCKET", OUTPUT_BUCKET,
        "--S3_OUTPUT_KEY_PREFIX=" + output_prefix,
    ]
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, **({"PYTHONPATH": path} if path else {}))
    return subprocess.run([python, str(script)] + argv, env=env, capture_output=True, text=True, timeout=300)


def check_job_process(python, script, endpoint, s3, name, path=None):
    done = run_job(python, script, endpoint, "input/raw", f"{name}/ok", path)
    assert done.returncode == 0, done.stderr
    assert "[preprocess] 4177 rows checked" in done.stdout
    assert "[preprocess] done: outputs under s3://" in done.stdout
    assert keys_under(s3, f"{name}/ok/") == [f"{name}/ok/{output}" for output in OUTPUTS]

    failed = run_job(python, script, endpoint, "bad", f"{name}/bad", path)
    assert failed.returncode != 0
    assert f"ERROR: input s3://{INPUT_BUCKET}/bad/abalone.csv does not match" in failed.stderr
    # Glue reports the uncaught exception's message as the run's ErrorMessage.
    last_line = failed.stderr.strip().splitlines()[-1]
    assert re.match(r"(__main__\.)?EtlError: input s3://", last_line), last_line  # 3.9 prints the module too
    assert "row 4178 column sex: unknown sex code 'Q' (expected one of F, I, M)" in last_line
    assert keys_under(s3, f"{name}/bad") == []
    return done


def test_job_runs_as_a_process_against_a_moto_server(repo_root, moto_endpoint, s3):
    check_job_process(sys.executable, repo_root / "etl" / "preprocess.py", moto_endpoint, s3, "current")


def test_job_runs_under_python39_as_in_glue(repo_root, moto_endpoint, s3, glue_python):
    """Under Glue's Python shell as the local cloud provides it: Python 3.9 with the analytics library set."""
    site = library_set_folder("analytics", glue_python)["site"]
    script = repo_root / "etl" / "preprocess.py"
    check_job_process(glue_python.path, script, moto_endpoint, s3, "python39", site)
    # The seed gives the same files under Glue's older pandas and numpy as here.
    assert run_job(sys.executable, script, moto_endpoint, "input/raw", "here/ok").returncode == 0
    for output in OUTPUTS:
        there = s3.get_object(Bucket=OUTPUT_BUCKET, Key=f"python39/ok/{output}")["Body"].read()
        here = s3.get_object(Bucket=OUTPUT_BUCKET, Key=f"here/ok/{output}")["Body"].read()
        assert there == here, output
