"""Write the CloudFormation template and parameters of each deployment stage for one pipeline execution.

Dev serves the model package this execution's training registered, still pending approval: the newest package
in the group whose CustomerMetadataProperties["PipelineExecutionId"] is this execution (TrainingJobMonitor sets
it). Without an execution id (a run by hand) Dev takes the newest package that is not rejected.
Prd serves the latest approved package of the group; the system test approves a package once its RMSE is
within the threshold. No approved package is an error, so Prd's parameters are written after the system test:
run this once per stage (STAGES=Dev before DeployDev, STAGES=Prd before DeployPrd). Prd's monitoring schedule
checks the captured requests against the baseline the system test made for that package (the package's
CustomerMetadataProperties["MonitoringBaselineUri"], which ApproveModelPackage records); a package approved by hand
has none, and Prd then has no schedule.

For each stage this writes deploy-model-<Stage>.yml (the template, copied from assets/) and
<Stage>-config-export.json (a CloudFormation template configuration file: {"Parameters": ..., "Tags": ...}),
the stage's assets/<Stage>-config.json with the execution's values added.

    python build.py --model-name abalone --role-arn arn:aws:iam::123456789012:role/... --stages Dev
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
STAGES = ("Dev", "Prd")
EXECUTION_KEY = "PipelineExecutionId"
BASELINE_KEY = "MonitoringBaselineUri"
# How many of the newest packages Dev looks through for this execution's.
LOOK_BACK = 50


class BuildError(Exception):
    """The stage cannot be built; the message says what is missing and what to do."""


def endpoint_name(model_name: str, stage: str) -> str:
    return f"{model_name}-{stage.lower()}"


def check_group(sm, group: str) -> None:
    try:
        sm.describe_model_package_group(ModelPackageGroupName=group)
    except ClientError as error:
        raise BuildError(
            f"Model package group {group} cannot be read: {error}. The pipeline stack creates it (CreateModelGroup); "
            "check MODEL_PACKAGE_GROUP_NAME and that the stack exists."
        ) from error


def list_packages(sm, group: str, status: str | None = None, limit: int = LOOK_BACK) -> list[dict]:
    """Summaries of the group's packages, newest first, at most limit of them."""
    request = {"ModelPackageGroupName": group, "SortBy": "CreationTime", "SortOrder": "Descending"}
    if status:
        request["ModelApprovalStatus"] = status
    found: list[dict] = []
    try:
        while len(found) < limit:
            response = sm.list_model_packages(MaxResults=min(100, limit - len(found)), **request)
            found += response.get("ModelPackageSummaryList", [])
            if not response.get("NextToken"):
                break
            request["NextToken"] = response["NextToken"]
    except ClientError as error:
        raise BuildError(f"Cannot list the model packages of group {group}: {error}") from error
    return found[:limit]


def dev_package(sm, group: str, execution_id: str | None) -> str:
    """The package this execution registered; without an execution id, the newest one not rejected."""
    packages = list_packages(sm, group)
    if not execution_id:
        for summary in packages:
            if summary.get("ModelApprovalStatus") != "Rejected":
                return summary["ModelPackageArn"]
        raise BuildError(
            f"Model package group {group} holds no package that is not rejected: train a model first "
            "(the pipeline's Train stage registers one)."
        )
    for summary in packages:
        package = sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        if package.get("CustomerMetadataProperties", {}).get(EXECUTION_KEY) == execution_id:
            return summary["ModelPackageArn"]
    raise BuildError(
        f"No model package in group {group} was registered by pipeline execution {execution_id} "
        f"(none of the newest {len(packages)} carries {EXECUTION_KEY}={execution_id} in its customer metadata). "
        "TrainingJobMonitor registers it when the execution's training job completes: check the Train and "
        "TrainApproval stages of this execution."
    )


def prd_package(sm, group: str) -> str:
    """The latest approved package of the group."""
    approved = list_packages(sm, group, status="Approved", limit=1)
    if not approved:
        raise BuildError(
            f"Model package group {group} has no approved model package, so there is nothing to deploy to Prd. "
            "The system test approves the package it evaluated when its RMSE is within the threshold: run the "
            "pipeline through its SystemTest stage, or approve a package by hand with "
            "`aws sagemaker update-model-package --model-package-arn ARN --model-approval-status Approved`."
        )
    return approved[0]["ModelPackageArn"]


def monitoring_baseline(sm, package_arn: str) -> str:
    """Where the system test's baseline of the package is (statistics.json, constraints.json); "" if it has none."""
    package = sm.describe_model_package(ModelPackageName=package_arn)
    return str((package.get("CustomerMetadataProperties") or {}).get(BASELINE_KEY) or "").rstrip("/")


def template_parameters(template: Path) -> set[str] | None:
    """The template's parameter names, or None when PyYAML is not there to read it."""
    try:
        import yaml
    except ImportError:
        return None

    class Loader(yaml.SafeLoader):
        pass

    # CloudFormation's short forms (!Ref, !Sub, ...) only need to load, not to mean anything here.
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    document = yaml.load(template.read_text(encoding="utf-8"), Loader=Loader)
    return set((document or {}).get("Parameters", {}))


def read_config(path: Path) -> dict:
    """A stage's configuration file: {"Parameters": {name: value}, "Tags": {key: value}}, values as strings."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise BuildError(f"{path} is missing: each stage needs its configuration file beside its template") from error
    except json.JSONDecodeError as error:
        raise BuildError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(config, dict) or set(config) - {"Parameters", "Tags", "StackPolicy"}:
        raise BuildError(f'{path} must be a JSON object with "Parameters" and "Tags" (a template configuration file)')
    result = {}
    for section in ("Parameters", "Tags"):
        values = config.get(section, {})
        if not isinstance(values, dict):
            raise BuildError(f'{path}: "{section}" must be an object of names to values')
        for name, value in values.items():
            if isinstance(value, (dict, list)) or value is None:
                raise BuildError(f"{path}: {section}.{name} must be a string or a number, not {value!r}")
        result[section] = {
            name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in values.items()
        }
    return result


def check_capacity(stage: str, parameters: dict) -> None:
    try:
        low, high = int(parameters["MinCapacity"]), int(parameters["MaxCapacity"])
        count = int(parameters["InstanceCount"])
    except KeyError:
        return
    except ValueError as error:
        raise BuildError(
            f"{stage}: InstanceCount, MinCapacity and MaxCapacity must be whole numbers ({error})"
        ) from error
    if not low <= count <= high:
        raise BuildError(
            f"{stage}: auto scaling needs MinCapacity <= InstanceCount <= MaxCapacity, "
            f"got {low} <= {count} <= {high}; fix {stage}-config.json"
        )


def stage_parameters(stage: str, settings: argparse.Namespace, package_arn: str, baseline: str = "") -> dict:
    parameters = {
        "ModelName": settings.model_name,
        "StageName": stage,
        "EndpointName": endpoint_name(settings.model_name, stage),
        "ModelPackageArn": package_arn,
        "RoleArn": settings.role_arn,
        "PipelineExecutionId": settings.pipeline_execution_id or "manual",
    }
    if stage == "Prd":
        parameters["DataCaptureUri"] = settings.data_capture_uri
        parameters["MonitoringReportsUri"] = settings.monitoring_reports_uri
        parameters["MonitoringBaselineUri"] = baseline
    return parameters


def build_stage(sm, stage: str, settings: argparse.Namespace) -> dict:
    """Write the stage's template and configuration into the output folder; returns the parameters written."""
    assets, output = Path(settings.assets_dir), Path(settings.output_dir)
    template = assets / f"deploy-model-{stage}.yml"
    if not template.is_file():
        raise BuildError(f"{template} is missing: it is the CloudFormation template of the {stage} stage")
    config = read_config(assets / f"{stage}-config.json")
    group = settings.model_package_group_name
    check_group(sm, group)
    package_arn = dev_package(sm, group, settings.pipeline_execution_id) if stage == "Dev" else prd_package(sm, group)
    baseline = monitoring_baseline(sm, package_arn) if stage == "Prd" else ""
    parameters = {**config["Parameters"], **stage_parameters(stage, settings, package_arn, baseline)}
    known = template_parameters(template)
    if known is not None and set(parameters) - known:
        unknown = ", ".join(sorted(set(parameters) - known))
        raise BuildError(f"{stage}-config.json sets {unknown}, which {template.name} has no parameter for")
    check_capacity(stage, parameters)
    # The templates tag each resource with Model and Stage themselves; stack tags add the configuration's.
    tags = config["Tags"]
    output.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, output / template.name)
    export = output / f"{stage}-config-export.json"
    export.write_text(json.dumps({"Parameters": parameters, "Tags": tags}, indent=2) + "\n", encoding="utf-8")
    print(f"{stage}: {parameters['EndpointName']} serves {package_arn} -> {export}")
    if stage == "Prd":
        print(f"Prd: monitored against the baseline in {baseline}" if baseline else
              f"Prd: no monitoring schedule, as {package_arn} has no {BASELINE_KEY} (approved by hand?)")
    return parameters


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-name", default=env("MODEL_NAME"), help="the workshop's model name (MODEL_NAME)")
    parser.add_argument(
        "--model-package-group-name",
        default=env("MODEL_PACKAGE_GROUP_NAME"),
        help="model package group (MODEL_PACKAGE_GROUP_NAME; defaults to the model name)",
    )
    parser.add_argument(
        "--pipeline-execution-id",
        default=env("PIPELINE_EXECUTION_ID"),
        help="the pipeline execution whose package Dev serves (PIPELINE_EXECUTION_ID)",
    )
    parser.add_argument(
        "--role-arn", default=env("SAGEMAKER_ROLE_ARN"), help="SageMaker execution role (SAGEMAKER_ROLE_ARN)"
    )
    parser.add_argument(
        "--data-capture-uri",
        default=env("DATA_CAPTURE_URI"),
        help="where Prd captures requests (DATA_CAPTURE_URI; defaults to s3://DATA_BUCKET/datacapture)",
    )
    parser.add_argument(
        "--monitoring-reports-uri",
        default=env("MONITORING_REPORTS_URI"),
        help="where Prd's monitoring reports go (MONITORING_REPORTS_URI; default s3://DATA_BUCKET/monitoring/reports)",
    )
    parser.add_argument("--stages", default=env("STAGES", ",".join(STAGES)), help="comma-separated stages (STAGES)")
    parser.add_argument("--assets-dir", default=str(ASSETS_DIR), help="folder of the templates and configurations")
    parser.add_argument("--output-dir", default=env("OUTPUT_DIR", "."), help="where the stage files go (OUTPUT_DIR)")
    settings = parser.parse_args(argv)
    settings.stages = [stage.strip() for stage in settings.stages.replace(" ", ",").split(",") if stage.strip()]
    problems = [
        f"unknown stage {stage!r} (stages are {', '.join(STAGES)})" for stage in settings.stages if stage not in STAGES
    ]
    if not settings.stages:
        problems.append("no stage given")
    if not settings.model_name:
        problems.append("the model name is missing: set MODEL_NAME or --model-name")
    if not settings.role_arn:
        problems.append("the SageMaker role is missing: set SAGEMAKER_ROLE_ARN or --role-arn")
    settings.model_package_group_name = settings.model_package_group_name or settings.model_name
    # Prd's data capture and monitoring reports default to folders of the data bucket.
    for attribute, folder, what in (("data_capture_uri", "datacapture", "a data capture location"),
                                    ("monitoring_reports_uri", "monitoring/reports",
                                     "a location for its monitoring reports")):
        if "Prd" in settings.stages and not getattr(settings, attribute):
            if env("DATA_BUCKET"):
                setattr(settings, attribute, f"s3://{env('DATA_BUCKET')}/{folder}")
            else:
                problems.append(f"Prd needs {what}: set DATA_BUCKET, {attribute.upper()} or "
                                f"--{attribute.replace('_', '-')}")
    if problems:
        parser.error("; ".join(problems))
    return settings


def main(argv: list[str] | None = None, sm=None) -> int:
    settings = parse_args(argv)
    sm = sm or boto3.client("sagemaker")
    try:
        for stage in settings.stages:
            build_stage(sm, stage, settings)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
