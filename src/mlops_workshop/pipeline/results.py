"""What an execution left behind: the evaluation report, the model package it registered, the endpoints' answers."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ..config import WorkshopNames
from . import PipelineError

# A raw abalone row without rings (sex, then the seven sizes): what the summary asks each endpoint.
SAMPLE_ROW = "M,0.455,0.365,0.095,0.514,0.2245,0.101,0.15"


def evaluation_report(session, names: WorkshopNames, execution_id: str) -> dict[str, Any] | None:
    """The system test's evaluation report of the execution (tests/system_test: <execution>/evaluation/)."""
    try:
        body = session.client("s3").get_object(Bucket=names.artifact_bucket,
                                               Key=f"{execution_id}/evaluation/evaluation.json")["Body"].read()
    except ClientError:
        return None
    return json.loads(body)


def model_package(session, names: WorkshopNames, execution_id: str) -> dict[str, Any] | None:
    """The model package the execution's training registered (its PipelineExecutionId metadata), or None."""
    sm = session.client("sagemaker")
    try:
        summaries = sm.list_model_packages(ModelPackageGroupName=names.model_name, SortBy="CreationTime",
                                           SortOrder="Descending", MaxResults=50)["ModelPackageSummaryList"]
    except ClientError:
        return None
    for summary in summaries:
        package = sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        if package.get("CustomerMetadataProperties", {}).get("PipelineExecutionId") == execution_id:
            return package
    return None


def endpoint_package(session, endpoint: str) -> str | None:
    """The model package an endpoint serves now."""
    sm = session.client("sagemaker")
    try:
        config = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
        variant = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]
        return sm.describe_model(ModelName=variant["ModelName"]).get("PrimaryContainer", {}).get("ModelPackageName")
    except (ClientError, IndexError, KeyError):
        return None


def endpoint_answer(session, endpoint: str, row: str = SAMPLE_ROW) -> float | str:
    """The endpoint's prediction for the sample row, or why there is none."""
    try:
        status = session.client("sagemaker").describe_endpoint(EndpointName=endpoint)["EndpointStatus"]
    except ClientError:
        return "not deployed"
    if status != "InService":
        return f"{status}, not answering"
    try:
        return sample_prediction(session, endpoint, row)
    except PipelineError as error:
        return str(error)


def endpoint_predictions(session, endpoint: str, rows: list[str]) -> list[float]:
    """An endpoint's predictions (rings) for CSV rows, in one sagemaker-runtime InvokeEndpoint."""
    runtime = session.client("sagemaker-runtime")
    try:
        answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="application/json",
                                         Body="\n".join(rows).encode())
    except ClientError as error:
        raise PipelineError(f"Endpoint {endpoint} did not answer: {error}") from None
    return [float(p) for p in json.loads(answer["Body"].read())["predictions"]]


def sample_prediction(session, endpoint: str, row: str = SAMPLE_ROW) -> float:
    """Ask an endpoint for one prediction (rings) with sagemaker-runtime InvokeEndpoint."""
    return endpoint_predictions(session, endpoint, [row])[0]


def endpoint_names(names: WorkshopNames) -> dict[str, str]:
    """The endpoint of each deployment stage, as container/build.py names them."""
    return {"Dev": f"{names.model_name}-dev", "Prd": f"{names.model_name}-prd"}
