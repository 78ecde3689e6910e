"""The pipeline stack: what it reads from S3 (the Lambda packages, the data set), and creating or updating it."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from .. import REPO_ROOT, packaging
from ..config import WorkshopNames
from . import PipelineError, Progress

TEMPLATE = REPO_ROOT / "cloudformation" / "mlops-pipeline.yml"
# CloudFormation takes a template body up to this size; larger ones go through S3.
MAX_TEMPLATE_BODY = 51_200
FINAL_STACK = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
# The stack's SourceProvider: CodeCommit branches, or zips in the data bucket for accounts without CodeCommit.
SOURCE_PROVIDERS = ("CodeCommit", "S3")
SOURCE_OPTIONS = {provider.lower(): provider for provider in SOURCE_PROVIDERS}  # as a command line or notebook says it


def _etag(s3, bucket: str, key: str) -> str | None:
    try:
        return s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def put_if_changed(s3, bucket: str, key: str, body: bytes, content_type: str) -> bool:
    """Put the object unless the same bytes are there (a new version would start an execution); True if put."""
    if _etag(s3, bucket, key) == hashlib.md5(body).hexdigest():  # noqa: S324 - S3's ETag
        return False
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    return True


def upload_dataset(session, names: WorkshopNames, source: str | os.PathLike | bytes | None = None) -> bool:
    """Put the raw data in the data bucket unless the same bytes are there; True when uploaded.

    `source`: a CSV file (checked against the abalone schema), raw bytes (uploaded as they are, unchecked), or
    None for the bundled data set. A new object version is what starts a pipeline execution."""
    body = source if isinstance(source, bytes) else packaging.dataset_csv(source)
    return put_if_changed(session.client("s3"), names.data_bucket, names.raw_data_key, body, "text/csv")


def upload_stack_inputs(session, names: WorkshopNames, source: str | os.PathLike | bytes | None = None
                        ) -> dict[str, str]:
    """Everything the pipeline stack reads from S3 when it is created, under the workshop's names: each Lambda
    package's URI by function, and the data set's ("dataset"), uploaded when its bytes changed."""
    uploaded = packaging.upload_lambda_packages(session.client("s3"), names.artifact_bucket, names.lambda_prefix)
    upload_dataset(session, names, source)
    uploaded["dataset"] = f"s3://{names.data_bucket}/{names.raw_data_key}"
    return uploaded


def upload_dataset_step(session, names: WorkshopNames, source: str | os.PathLike | bytes | None = None,
                        progress: Progress = print) -> bool:
    uploaded = upload_dataset(session, names, source)
    progress(f"  data set s3://{names.data_bucket}/{names.raw_data_key} {'uploaded' if uploaded else 'unchanged'}")
    return uploaded


def upload_packages(session, names: WorkshopNames, progress: Progress = print) -> dict[str, str]:
    """The Lambda packages, and new code for the stack's functions whose package changed."""
    packages = packaging.upload_lambda_packages(session.client("s3"), names.artifact_bucket, names.lambda_prefix)
    progress(f"  {len(packages)} Lambda packages to s3://{names.artifact_bucket}/{names.lambda_prefix}/")
    refresh_functions(session, names.pipeline_stack_name, names.lambda_prefix, names.artifact_bucket, progress)
    return packages


def refresh_functions(session, stack_name: str, prefix: str, bucket: str, progress: Progress = print) -> list[str]:
    """Give the stack's functions their package's code when it changed (CloudFormation does not see a new zip
    under the same key). The stack's logical ids are the package names."""
    cfn, aws_lambda = session.client("cloudformation"), session.client("lambda")
    try:
        resources = cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    except ClientError:
        return []
    updated = []
    for resource in resources:
        if resource["ResourceType"] != "AWS::Lambda::Function":
            continue
        folder = packaging.LAMBDAS_DIR / resource["LogicalResourceId"]
        if not (folder / packaging.HANDLER_FILE).is_file():
            continue
        digest = base64.b64encode(hashlib.sha256(packaging.build_package(folder)).digest()).decode()
        name = resource["PhysicalResourceId"]
        if aws_lambda.get_function(FunctionName=name)["Configuration"].get("CodeSha256") == digest:
            continue
        aws_lambda.update_function_code(FunctionName=name, S3Bucket=bucket,
                                        S3Key=packaging.package_key(folder.name, prefix))
        updated.append(name)
    if updated:
        progress(f"  new code for {', '.join(updated)}")
    return updated


def stack_status(cfn, name: str) -> dict[str, Any] | None:
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in error.response["Error"].get("Message", ""):
            return None
        raise


def stack_failures(cfn, name: str, limit: int = 5) -> str:
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    failed = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}" for e in events
              if e.get("ResourceStatus", "").endswith("FAILED") and e.get("ResourceStatusReason")]
    return "; ".join(reversed(failed[:limit])) or "no failure reason recorded"


def check_source_provider(source_provider: str) -> str:
    if source_provider not in SOURCE_PROVIDERS:
        raise PipelineError(f"unknown source provider {source_provider!r}: use {' or '.join(SOURCE_PROVIDERS)}")
    return source_provider


def stack_parameters(names: WorkshopNames, rmse_threshold: float | None, existing: dict[str, Any] | None,
                source_provider: str = "CodeCommit") -> list[dict[str, Any]]:
    values = {
        "ModelName": names.model_name, "ImageRepoName": names.image_repo_name, "ImageTagName": names.image_tag_name,
        "DataBucket": names.data_bucket, "ArtifactBucket": names.artifact_bucket, "RawDataKey": names.raw_data_key,
        "LambdaCodePrefix": names.lambda_prefix, "SourceProvider": check_source_provider(source_provider),
        "CodeRepositoryName": names.code_repo_name, "ModelBranch": names.model_branch,
        "EtlBranch": names.etl_branch, "TestBranch": names.test_branch, "ModelSourceKey": names.model_source_key,
        "EtlSourceKey": names.etl_source_key, "TestSourceKey": names.test_source_key,
    }
    parameters = [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]
    if rmse_threshold is not None:
        parameters.append({"ParameterKey": "RmseThreshold", "ParameterValue": f"{rmse_threshold:g}"})
    elif existing:
        # The current value, given again: UsePreviousValue would do on AWS but not for a value left at its default
        # in moto's stacks.
        current = {p["ParameterKey"]: p["ParameterValue"] for p in existing.get("Parameters") or []}
        if "RmseThreshold" in current:
            parameters.append({"ParameterKey": "RmseThreshold", "ParameterValue": current["RmseThreshold"]})
    return parameters


def deploy_stack(session, names: WorkshopNames, rmse_threshold: float | None = None, template: Path = TEMPLATE,
                 timeout: float = 600, progress: Progress = print, source_provider: str = "CodeCommit"
                 ) -> tuple[str, dict[str, Any]]:
    """Create the pipeline stack, or update it; returns ("created" | "updated" | "unchanged", the stack).

    rmse_threshold None keeps the stack's current threshold (the template's default on create);
    source_provider: where the code comes from, CodeCommit branches or zips in the data bucket (S3)."""
    cfn = session.client("cloudformation")
    name = names.pipeline_stack_name
    current = stack_status(cfn, name)
    if current and current["StackStatus"].endswith("_IN_PROGRESS"):
        progress(f"  {name} is {current['StackStatus']}; waiting for it first")
        current = wait_stack(cfn, name, timeout)
    if current and current["StackStatus"] in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED"):
        progress(f"  {name} is {current['StackStatus']} (a failed create): deleting it to create it again")
        cfn.delete_stack(StackName=name)
        current = wait_stack(cfn, name, timeout)
    if current and current["StackStatus"] == "DELETE_COMPLETE":
        current = None
    body = template.read_text(encoding="utf-8")
    request: dict[str, Any] = {"StackName": name, "Capabilities": ["CAPABILITY_NAMED_IAM"],
                               "Parameters": stack_parameters(names, rmse_threshold, current, source_provider),
                               "Tags": [{"Key": "Project", "Value": "mlops-workshop"}]}
    if len(body.encode()) <= MAX_TEMPLATE_BODY:
        request["TemplateBody"] = body
    else:
        key = f"templates/{template.name}"
        session.client("s3").put_object(Bucket=names.artifact_bucket, Key=key, Body=body.encode())
        request["TemplateURL"] = f"https://{names.artifact_bucket}.s3.amazonaws.com/{key}"
    started = time.monotonic()
    if current is None:
        cfn.create_stack(**request)
        operation = "created"
    else:
        try:
            cfn.update_stack(**request)
            operation = "updated"
        except ClientError as error:
            if "No updates are to be performed" not in error.response["Error"].get("Message", ""):
                raise PipelineError(f"Stack {name} cannot be updated: {error.response['Error'].get('Message')}") \
                    from None
            return "unchanged", current
    final = wait_stack(cfn, name, timeout)
    status = final["StackStatus"] if final else "DELETE_COMPLETE"
    if status not in FINAL_STACK:
        raise PipelineError(f"Stack {name} ended {status} after {time.monotonic() - started:.0f} s: "
                            f"{stack_failures(cfn, name)}")
    return operation, final


def wait_stack(cfn, name: str, timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while True:
        stack = stack_status(cfn, name)
        if stack is None or not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return stack
        if time.monotonic() > deadline:
            raise PipelineError(f"Stack {name} is still {stack['StackStatus']} after {timeout:.0f} s")
        time.sleep(0.5)


def stack_outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}
