"""Fixtures for the SageMaker, image and CodeBuild executors: a stand-in image, data in S3, request builders."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

import pytest

FAKE_IMAGE = Path(__file__).with_name("fake_image")
IMAGE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/abalone:latest"
ROLE_ARN = "arn:aws:iam::123456789012:role/sagemaker-role"
BUCKET = "mlops-data-us-east-1-123456789012"


@pytest.fixture
def cloud_settings():
    """The stand-in image (tiny `train` and `serve`, no TensorFlow) unless a test module says otherwise."""
    return {"image_context": str(FAKE_IMAGE), "endpoint_ready_timeout": 60}


def wait_for(check, timeout: float = 60, interval: float = 0.1, what: str = "the condition"):
    """Poll `check()` until it returns something truthy; fail with its last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} did not happen within {timeout} s (last: {last!r})")


def training_job_done(sm, name: str, timeout: float = 120) -> dict:
    def check():
        job = sm.describe_training_job(TrainingJobName=name)
        return job if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped") else None
    return wait_for(check, timeout, 0.2, f"training job {name} ending")


def endpoint_settled(sm, name: str, timeout: float = 120) -> dict:
    def check():
        endpoint = sm.describe_endpoint(EndpointName=name)
        return endpoint if endpoint["EndpointStatus"] in ("InService", "Failed") else None
    return wait_for(check, timeout, 0.2, f"endpoint {name} settling")


def training_request(name: str, hyperparameters: dict | None = None, prefix: str = "training/",
                     image: str = IMAGE_URI, **extra) -> dict:
    request = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": image, "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "validation:rmse", "Regex": r"validation:rmse=([0-9.]+)"}],
        },
        "RoleArn": ROLE_ARN,
        "HyperParameters": {"epochs": "3", **(hyperparameters or {})},
        "InputDataConfig": [{
            "ChannelName": "training",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{prefix}",
                                            "S3DataDistributionType": "FullyReplicated"}},
            "ContentType": "text/csv",
        }],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    request.update(extra)
    return request


@pytest.fixture
def data_bucket(clients):
    """The data bucket with a tiny training channel (label first, as the contract says)."""
    s3 = clients("s3")
    s3.create_bucket(Bucket=BUCKET)
    rows = "\n".join(f"{label},{','.join(['0.5'] * 10)}" for label in (8, 10, 12)) + "\n"
    s3.put_object(Bucket=BUCKET, Key="training/train.csv", Body=rows.encode())
    s3.put_object(Bucket=BUCKET, Key="training/validate.csv", Body=rows.encode())
    return BUCKET


def model_tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def untar(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


@pytest.fixture(scope="session")
def kit():
    """This module's helpers and constants for the tests (a conftest cannot be imported by name)."""
    import types
    return types.SimpleNamespace(**{k: v for k, v in globals().items() if not k.startswith("_")})
