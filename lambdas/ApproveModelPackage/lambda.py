"""System-test step: approve the evaluated model package for production.

Event: {"ModelPackageArn": ...} or {"EndpointName": ...} (the package the endpoint serves), plus the evaluation
{"Evaluation": {"rmse": ..., "report": ...}, "Threshold": ...} and the monitoring baseline's folder
{"MonitoringBaselineUri": ...}. The package's approval status becomes Approved, which is what the Prd deployment
looks for; the RMSE, the report and the baseline are recorded on the package (Prd's monitoring schedule uses it).
Returns {"ModelPackageArn": ..., "ModelApprovalStatus": "Approved"}.
"""

import logging

import boto3

logger = logging.getLogger()
logger.setLevel(logging.INFO)

sagemaker = boto3.client("sagemaker")

MAX_DESCRIPTION = 1024


class ModelPackageNotFound(Exception):
    """The package to approve cannot be found; the message says where the lookup stopped."""


def package_of_endpoint(sm, endpoint):
    """The model package the endpoint's first production variant serves."""
    config_name = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    variants = sm.describe_endpoint_config(EndpointConfigName=config_name).get("ProductionVariants", [])
    if not variants:
        raise ModelPackageNotFound(f"Endpoint configuration {config_name} of {endpoint} has no production variant")
    model = sm.describe_model(ModelName=variants[0]["ModelName"])
    containers = [model.get("PrimaryContainer")] + model.get("Containers", [])
    for container in containers:
        if container and container.get("ModelPackageName"):
            return container["ModelPackageName"]
    raise ModelPackageNotFound(
        f"Model {variants[0]['ModelName']} behind endpoint {endpoint} was not created from a model package, so "
        "there is no package to approve; deploy the Dev stage from container/assets/deploy-model-Dev.yml"
    )


def package_to_approve(sm, package_arn=None, endpoint=None):
    """The package named, else the one the endpoint serves."""
    if package_arn:
        return package_arn
    if not endpoint:
        raise ModelPackageNotFound("The event names neither a ModelPackageArn nor an EndpointName")
    return package_of_endpoint(sm, endpoint)


def approve(sm, package_arn, evaluation=None, threshold=None, baseline=None):
    """Approve the package, recording the evaluation and the monitoring baseline on it; returns the package ARN."""
    evaluation = evaluation or {}
    rmse, report = evaluation.get("rmse"), evaluation.get("report")
    description = "Approved by the system test"
    if rmse is not None:
        description += f": RMSE {float(rmse):.4f}"
        if threshold is not None:
            description += f" within the threshold {float(threshold):g}"
    if report:
        description += f"; report {report}"
    # UpdateModelPackage is given every property, old and new, so that none is lost whichever way it merges.
    properties = dict(sm.describe_model_package(ModelPackageName=package_arn).get("CustomerMetadataProperties") or {})
    if rmse is not None:
        properties["SystemTestRmse"] = f"{float(rmse):.6f}"
    if report:
        properties["SystemTestReport"] = str(report)
    if baseline:
        properties["MonitoringBaselineUri"] = str(baseline)
    request = {
        "ModelPackageArn": package_arn,
        "ModelApprovalStatus": "Approved",
        "ApprovalDescription": description[:MAX_DESCRIPTION],
    }
    if properties:
        request["CustomerMetadataProperties"] = properties
    sm.update_model_package(**request)
    logger.info("Approved %s: %s", package_arn, description)
    return package_arn


def lambda_handler(event, context):
    package_arn = package_to_approve(sagemaker, event.get("ModelPackageArn"), event.get("EndpointName"))
    approve(sagemaker, package_arn, event.get("Evaluation"), event.get("Threshold"), event.get("MonitoringBaselineUri"))
    return {"ModelPackageArn": package_arn, "ModelApprovalStatus": "Approved"}
