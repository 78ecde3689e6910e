"""CloudFormation custom resource for the SageMaker model package group the pipeline registers models in.

Properties: GroupName (required), GroupDescription (optional). Attributes: Name, Arn.
Every request gets an answer on its ResponseURL, failures included, so a stack never hangs on this resource.
"""

import json
import logging
import re
import urllib.request

import boto3
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)

sagemaker = boto3.client("sagemaker")

GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# A response body may not exceed 4 KiB, so long error messages are cut.
MAX_REASON = 1000


def describe_group(sm, name):
    """The group's description, or None when there is no such group."""
    try:
        return sm.describe_model_package_group(ModelPackageGroupName=name)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound"):
            return None
        raise


def create_group(sm, name, description=""):
    """Create the group, or adopt it when it exists already (a stack created again after a failed delete)."""
    if not GROUP_NAME.match(name or ""):
        raise ValueError(
            f"GroupName {name!r} is not a valid model package group name: use 1 to 63 letters, digits and hyphens, "
            "starting with a letter or digit"
        )
    existing = describe_group(sm, name)
    if existing:
        logger.info("Model package group %s exists already; using it", name)
        return existing["ModelPackageGroupArn"]
    response = sm.create_model_package_group(
        ModelPackageGroupName=name,
        ModelPackageGroupDescription=description or f"Models of the {name} MLOps pipeline",
    )
    return response["ModelPackageGroupArn"]


def delete_group(sm, name):
    """Delete the group's model packages, then the group. Returns False when there was nothing to delete."""
    if not GROUP_NAME.match(name or "") or describe_group(sm, name) is None:
        logger.info("No model package group %r to delete", name)
        return False
    # A group that still holds versions cannot be deleted; the model artifacts in S3 are left in place.
    for page in sm.get_paginator("list_model_packages").paginate(ModelPackageGroupName=name):
        for package in page["ModelPackageSummaryList"]:
            sm.delete_model_package(ModelPackageName=package["ModelPackageArn"])
    sm.delete_model_package_group(ModelPackageGroupName=name)
    return True


def handle(sm, event):
    """Do what the request asks; returns (physical resource id, data). Raises on failure."""
    request_type = event["RequestType"]
    properties = event.get("ResourceProperties", {})
    name = properties.get("GroupName", "")
    if request_type == "Delete":
        delete_group(sm, event.get("PhysicalResourceId", ""))
        return event.get("PhysicalResourceId"), {}
    if request_type not in ("Create", "Update"):
        raise ValueError(f"Unknown RequestType {request_type!r}: expected Create, Update or Delete")
    if not name:
        raise ValueError("The custom resource needs a GroupName property")
    # On Update with a new name this creates the new group; CloudFormation then deletes the old one.
    arn = create_group(sm, name, properties.get("GroupDescription", ""))
    return name, {"Name": name, "Arn": arn}


def send_response(event, context, status, reason, physical_id, data=None):
    """PUT the result to CloudFormation's pre-signed ResponseURL."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:MAX_REASON],
            "PhysicalResourceId": physical_id,
            "StackId": event.get("StackId"),
            "RequestId": event.get("RequestId"),
            "LogicalResourceId": event.get("LogicalResourceId"),
            "NoEcho": False,
            "Data": data or {},
        }
    ).encode()
    # The pre-signed URL is signed without a content type, so none may be sent.
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        logger.info("CloudFormation answered %s to %s", response.status, status)


def lambda_handler(event, context):
    logger.info("Request %s for %s", event.get("RequestType"), event.get("LogicalResourceId"))
    log_stream = getattr(context, "log_stream_name", "")
    try:
        physical_id, data = handle(sagemaker, event)
        status, reason = "SUCCESS", f"{event['RequestType']} done"
    except Exception as error:  # noqa: BLE001 - any failure must still reach CloudFormation
        logger.exception("Request failed")
        status, data = "FAILED", {}
        reason = f"{type(error).__name__}: {error} (log stream {log_stream})"
        physical_id = event.get("PhysicalResourceId")
    if not physical_id:
        # Not a valid group name, so the Delete that follows a failed Create finds nothing to remove.
        physical_id = f"failed_{event.get('RequestId', 'create')}"
    send_response(event, context, status, reason, physical_id, data)
    return {"Status": status, "PhysicalResourceId": physical_id}
