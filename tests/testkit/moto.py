"""The workshop's resources as the tests make them in moto: names, buckets, model packages."""

from __future__ import annotations

from mlops_workshop.config import WorkshopNames

NAMES = WorkshopNames()
REGION = NAMES.region
ACCOUNT = NAMES.account
MODEL = NAMES.model_name
ARTIFACT_BUCKET = NAMES.artifact_bucket
DATA_BUCKET = NAMES.data_bucket
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/mlops-sagemaker"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{NAMES.image_repo_name}:latest"
MONITOR_IMAGE = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"


def create_buckets(s3, versioned: bool = False) -> None:
    """The workshop's two buckets, versioned like the real ones when asked."""
    for bucket in (DATA_BUCKET, ARTIFACT_BUCKET):
        s3.create_bucket(Bucket=bucket)
        if versioned:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def register_package(sm, execution_id: str, approved: bool = False, group: str = MODEL) -> str:
    """A model package as TrainingJobMonitor registers it, optionally approved; returns its ARN."""
    return sm.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=f"Trained in pipeline execution {execution_id}",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{ARTIFACT_BUCKET}/{execution_id}/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelApprovalStatus="Approved" if approved else "PendingManualApproval",
        CustomerMetadataProperties={
            "PipelineExecutionId": execution_id,
            "TrainingJobName": f"mlops-{MODEL}-{execution_id}",
        },
    )["ModelPackageArn"]


def endpoint_config(sm, name: str, container: dict) -> str:
    """A model of `container` ({"ModelPackageName": arn}, as the Dev stack makes it, or an image and its model
    data) and an endpoint configuration serving it; returns the configuration's name."""
    sm.create_model(ModelName=f"{name}-model", ExecutionRoleArn=ROLE_ARN, PrimaryContainer=container)
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": f"{name}-model",
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    sm.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[variant])
    return f"{name}-config"
