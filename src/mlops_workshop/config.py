"""Names the workshop gives its AWS resources, shared by the notebooks, the command line and the tests."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_REGION = "us-east-1"
LOCAL_ACCOUNT = "123456789012"


@dataclass(frozen=True)
class WorkshopNames:
    """Resource names for one account and region; every default can be overridden by a user."""

    account: str = LOCAL_ACCOUNT
    region: str = DEFAULT_REGION
    model_name: str = "abalone"
    image_repo_name: str = "abalone"
    image_tag_name: str = "latest"
    code_repo_name: str = "mlops"
    model_branch: str = "main"
    etl_branch: str = "etl"
    test_branch: str = "test"
    raw_data_key: str = "input/raw/abalone.csv"
    model_source_key: str = "source/model.zip"
    etl_source_key: str = "source/etl.zip"
    test_source_key: str = "source/test.zip"
    pipeline_stack_name: str = "mlops-pipeline"

    @property
    def data_bucket(self) -> str:
        return f"mlops-data-{self.region}-{self.account}"

    @property
    def artifact_bucket(self) -> str:
        return f"mlops-artifacts-{self.region}-{self.account}"

    @property
    def lambda_prefix(self) -> str:
        return "lambda"


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
