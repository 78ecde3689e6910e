"""Create or update the system-test workflow and write the input of this pipeline execution's run of it.

1. Deploy the stack of workflow-resources.yml (the EvaluateEndpoint, MonitoringBaseline and ApproveModelPackage
   functions and the roles), or update it when it exists.
2. Write the state machine in Amazon States Language (workflow.json) with those functions' ARNs and create or
   update the state machine: evaluate the Dev endpoint on the test split, compare the RMSE with the threshold,
   then start the monitoring-baseline job and approve the model package for production; every failure ends
   in a Fail state whose Error and Cause say why.
3. Write workflow-input.json, the execution input for this pipeline execution (the SystemTest stage's Step
   Functions action reads it), and with --start-execution start a run and wait for its end.

    python build.py --model-name abalone --artifact-bucket BUCKET --sagemaker-role-arn ARN \
        --pipeline-execution-id ID --output-dir workflow
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "workflow-resources.yml"
FUNCTIONS = ("EvaluateEndpoint", "ApproveModelPackage", "MonitoringBaseline")
DEFAULT_THRESHOLD = 2.5
FINAL_STACK_STATES = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
# Lambda's own transient failures are worth a retry; a function's error is not.
LAMBDA_RETRY = {
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    ],
    "IntervalSeconds": 2,
    "MaxAttempts": 3,
    "BackoffRate": 2.0,
}


class BuildError(Exception):
    """The workflow cannot be built or deployed; the message says what to do."""


def partition_of(arn: str) -> str:
    return arn.split(":")[1] if arn.startswith("arn:") else "aws"


def lambda_task(function_arn: str, payload: dict, result_selector: dict, result_path: str, next_state: str) -> dict:
    return {
        "Type": "Task",
        "Resource": f"arn:{partition_of(function_arn)}:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_arn, "Payload": payload},
        "ResultSelector": result_selector,
        "ResultPath": result_path,
        "Retry": [LAMBDA_RETRY],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.Failure", "Next": "SystemTestFailed"}],
        "Next": next_state,
    }


def definition(functions: dict[str, str], settings: argparse.Namespace) -> dict:
    """The state machine, with the per-deployment values (functions, role, image) written in."""
    return {
        "Comment": f"System test of {settings.model_name}: evaluate the Dev endpoint, approve its model for production",
        "StartAt": "EvaluateEndpoint",
        "States": {
            "EvaluateEndpoint": lambda_task(
                functions["EvaluateEndpoint"],
                {"EndpointName.$": "$.EndpointName", "TestDataUri.$": "$.TestDataUri", "ReportUri.$": "$.ReportUri"},
                {
                    "rmse.$": "$.Payload.rmse",
                    "mae.$": "$.Payload.mae",
                    "rows.$": "$.Payload.rows",
                    "report.$": "$.Payload.report",
                },
                "$.Evaluation",
                "CheckThreshold",
            ),
            "CheckThreshold": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.Evaluation.rmse",
                        "NumericLessThanEqualsPath": "$.Threshold",
                        "Next": "StartMonitoringBaseline",
                    }
                ],
                "Default": "ThresholdNotMet",
            },
            "ThresholdNotMet": {
                "Type": "Fail",
                "Error": "ThresholdNotMet",
                "CausePath": "States.Format('RMSE {} of endpoint {} is above the threshold {}; report {}', "
                "$.Evaluation.rmse, $.EndpointName, $.Threshold, $.Evaluation.report)",
            },
            "StartMonitoringBaseline": lambda_task(
                functions["MonitoringBaseline"],
                {
                    "BaselineDataUri.$": "$.BaselineDataUri",
                    "OutputUri.$": "$.BaselineOutputUri",
                    "ImageUri": settings.monitor_image_uri,
                    "RoleArn": settings.sagemaker_role_arn,
                    "JobNamePrefix": f"{settings.model_name}-baseline",
                    "InstanceType": settings.baseline_instance_type,
                },
                {"ProcessingJobName.$": "$.Payload.ProcessingJobName", "OutputUri.$": "$.Payload.OutputUri"},
                "$.Baseline",
                "ApproveModelPackage",
            ),
            "ApproveModelPackage": lambda_task(
                functions["ApproveModelPackage"],
                {
                    "EndpointName.$": "$.EndpointName",
                    "Evaluation.$": "$.Evaluation",
                    "Threshold.$": "$.Threshold",
                    "MonitoringBaselineUri.$": "$.Baseline.OutputUri",
                },
                {
                    "ModelPackageArn.$": "$.Payload.ModelPackageArn",
                    "ModelApprovalStatus.$": "$.Payload.ModelApprovalStatus",
                },
                "$.Approval",
                "SystemTestPassed",
            ),
            "SystemTestPassed": {"Type": "Succeed"},
            "SystemTestFailed": {"Type": "Fail", "ErrorPath": "$.Failure.Error", "CausePath": "$.Failure.Cause"},
        },
    }


def execution_input(settings: argparse.Namespace) -> dict:
    """What one run needs: this execution's endpoint, data and output locations, and the threshold."""
    etl = settings.etl_output_uri.rstrip("/")
    output = f"s3://{settings.artifact_bucket}/{settings.pipeline_execution_id}"
    return {
        "PipelineExecutionId": settings.pipeline_execution_id,
        "EndpointName": settings.endpoint_name,
        "TestDataUri": f"{etl}/testing/test.csv",
        "BaselineDataUri": f"{etl}/baseline/baseline.csv",
        "ReportUri": f"{output}/evaluation/evaluation.json",
        "BaselineOutputUri": f"{output}/monitoring/baseline",
        "Threshold": settings.threshold,
    }


def monitor_image_uri(region: str) -> str:
    """The Model Monitor analyzer image of the region, as the SageMaker SDK knows it."""
    try:
        from sagemaker.core import image_uris
    except ImportError:
        try:
            from sagemaker import image_uris
        except ImportError as error:
            raise BuildError(
                "The SageMaker SDK is not installed, and it is what knows the Model Monitor image of each region: "
                "pip install 'sagemaker>=3,<4', or set MODEL_MONITOR_IMAGE_URI"
            ) from error
    try:
        return image_uris.retrieve("model-monitor", region)
    except ValueError as error:
        raise BuildError(f"The SageMaker SDK knows no Model Monitor image in {region}: {error}") from error


def code_version(s3, bucket: str, key: str) -> str:
    """The package's S3 version (empty in an unversioned bucket); a missing package is an error."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        raise BuildError(
            f"Lambda package s3://{bucket}/{key} cannot be read ({error.response['Error'].get('Code')}): upload the "
            "packages first (mlops_workshop.packaging.upload_lambda_packages), or fix LAMBDA_CODE_BUCKET / "
            "LAMBDA_CODE_PREFIX"
        ) from error
    version = head.get("VersionId") or ""
    return "" if version == "null" else version


def stack_parameters(s3, settings: argparse.Namespace) -> list[dict]:
    prefix = settings.lambda_code_prefix.strip("/")
    values = {
        "ModelName": settings.model_name,
        "DevEndpointName": settings.endpoint_name,
        "ArtifactBucket": settings.artifact_bucket,
        "DataBucket": settings.data_bucket or settings.artifact_bucket,
        "SageMakerRoleArn": settings.sagemaker_role_arn,
        "LambdaCodeBucket": settings.lambda_code_bucket,
        "LambdaCodePrefix": prefix,
    }
    for name in FUNCTIONS:
        key = f"{prefix}/{name}.zip" if prefix else f"{name}.zip"
        values[f"{name}CodeVersion"] = code_version(s3, settings.lambda_code_bucket, key)
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


def stack_status(cfn, name: str) -> str | None:
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise


def failure_reasons(cfn, name: str, limit: int = 5) -> str:
    events = cfn.describe_stack_events(StackName=name).get("StackEvents", [])
    reasons = [
        f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}"
        for event in events
        if event.get("ResourceStatus", "").endswith("FAILED")
    ]
    return "; ".join(reasons[:limit]) or "no failure reason recorded"


def wait_for_stack(cfn, name: str, timeout: float, poll: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = stack_status(cfn, name)
        if status is None or not status.endswith("_IN_PROGRESS"):
            return status or "DELETE_COMPLETE"
        if time.monotonic() > deadline:
            raise BuildError(f"Stack {name} is still {status} after {timeout:.0f} s")
        time.sleep(poll)


def deploy_resources(cfn, s3, settings: argparse.Namespace) -> dict[str, str]:
    """Create or update the workflow's resource stack; returns its outputs."""
    name = settings.stack_name
    request = {
        "StackName": name,
        "TemplateBody": TEMPLATE.read_text(encoding="utf-8"),
        "Parameters": stack_parameters(s3, settings),
        "Capabilities": ["CAPABILITY_IAM"],
        "Tags": [{"Key": "Model", "Value": settings.model_name}],
    }
    if settings.cloudformation_role_arn:
        request["RoleARN"] = settings.cloudformation_role_arn
    status = wait_for_stack(cfn, name, settings.timeout, settings.poll)
    if status == "ROLLBACK_COMPLETE":
        # A stack whose creation failed cannot be updated, only replaced.
        print(f"Stack {name} failed to create before; deleting it to create it again")
        cfn.delete_stack(StackName=name)
        status = wait_for_stack(cfn, name, settings.timeout, settings.poll)
    if status in (None, "DELETE_COMPLETE"):
        cfn.create_stack(**request)
    else:
        try:
            cfn.update_stack(**request)
        except ClientError as error:
            if "No updates are to be performed" not in str(error):
                raise
    status = wait_for_stack(cfn, name, settings.timeout, settings.poll)
    if status not in FINAL_STACK_STATES:
        raise BuildError(f"Stack {name} ended {status}: {failure_reasons(cfn, name)}")
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def find_state_machine(sfn, name: str) -> str | None:
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == name:
                return machine["stateMachineArn"]
    return None


def deploy_state_machine(sfn, name: str, document: dict, role_arn: str) -> str:
    text = json.dumps(document, indent=2)
    arn = find_state_machine(sfn, name)
    if arn:
        sfn.update_state_machine(stateMachineArn=arn, definition=text, roleArn=role_arn)
        print(f"Updated state machine {arn}")
        return arn
    arn = sfn.create_state_machine(name=name, definition=text, roleArn=role_arn, type="STANDARD")["stateMachineArn"]
    print(f"Created state machine {arn}")
    return arn


def run_execution(sfn, arn: str, document: dict, timeout: float, poll: float) -> dict:
    """Start a run with the given input and wait for its end; returns DescribeExecution's answer."""
    name = f"{document.get('PipelineExecutionId', 'manual')}-{uuid.uuid4().hex[:8]}"[:80]
    execution = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(document))["executionArn"]
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() > deadline:
            raise BuildError(f"Execution {execution} is still running after {timeout:.0f} s")
        time.sleep(poll)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-name", default=env("MODEL_NAME"), help="the workshop's model name (MODEL_NAME)")
    parser.add_argument(
        "--artifact-bucket", default=env("ARTIFACT_BUCKET"), help="pipeline artifact bucket (ARTIFACT_BUCKET)"
    )
    parser.add_argument("--data-bucket", default=env("DATA_BUCKET"), help="raw data bucket (DATA_BUCKET)")
    parser.add_argument(
        "--sagemaker-role-arn", default=env("SAGEMAKER_ROLE_ARN"), help="role of the baseline job (SAGEMAKER_ROLE_ARN)"
    )
    parser.add_argument(
        "--pipeline-execution-id", default=env("PIPELINE_EXECUTION_ID"), help="this execution (PIPELINE_EXECUTION_ID)"
    )
    parser.add_argument(
        "--endpoint-name", default=env("DEV_ENDPOINT_NAME"), help="endpoint under test (DEV_ENDPOINT_NAME; <model>-dev)"
    )
    parser.add_argument(
        "--etl-output-uri",
        default=env("ETL_OUTPUT_URI"),
        help="the execution's ETL output (ETL_OUTPUT_URI; s3://ARTIFACT_BUCKET/<execution>/input)",
    )
    parser.add_argument(
        "--threshold",
        default=env("RMSE_THRESHOLD", str(DEFAULT_THRESHOLD)),
        help="highest RMSE that passes (RMSE_THRESHOLD)",
    )
    parser.add_argument(
        "--monitor-image-uri",
        default=env("MODEL_MONITOR_IMAGE_URI"),
        help="Model Monitor image (MODEL_MONITOR_IMAGE_URI; from the SageMaker SDK)",
    )
    parser.add_argument("--baseline-instance-type", default=env("BASELINE_INSTANCE_TYPE", "ml.m5.xlarge"))
    parser.add_argument(
        "--lambda-code-bucket", default=env("LAMBDA_CODE_BUCKET"), help="(LAMBDA_CODE_BUCKET; the artifact bucket)"
    )
    parser.add_argument(
        "--lambda-code-prefix", default=env("LAMBDA_CODE_PREFIX", "lambda"), help="(LAMBDA_CODE_PREFIX)"
    )
    parser.add_argument(
        "--stack-name", default=env("WORKFLOW_STACK_NAME"), help="(WORKFLOW_STACK_NAME; <model>-system-test)"
    )
    parser.add_argument(
        "--state-machine-name", default=env("STATE_MACHINE_NAME"), help="(STATE_MACHINE_NAME; <model>-system-test)"
    )
    parser.add_argument(
        "--cloudformation-role-arn",
        default=env("CLOUDFORMATION_ROLE_ARN"),
        help="service role for the stack (CLOUDFORMATION_ROLE_ARN)",
    )
    parser.add_argument(
        "--output-dir", default=env("OUTPUT_DIR", "."), help="where workflow.json and workflow-input.json go"
    )
    parser.add_argument("--region", default=env("AWS_REGION") or env("AWS_DEFAULT_REGION") or "us-east-1")
    parser.add_argument(
        "--write-only", action="store_true", help="write workflow.json and workflow-input.json, deploy nothing"
    )
    parser.add_argument("--start-execution", action="store_true", help="run the system test now and wait for its end")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the stack or the run")
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between status checks")
    settings = parser.parse_args(argv)
    problems = []
    for option, value in (
        ("--model-name / MODEL_NAME", settings.model_name),
        ("--artifact-bucket / ARTIFACT_BUCKET", settings.artifact_bucket),
        ("--sagemaker-role-arn / SAGEMAKER_ROLE_ARN", settings.sagemaker_role_arn),
        ("--pipeline-execution-id / PIPELINE_EXECUTION_ID", settings.pipeline_execution_id),
    ):
        if not value:
            problems.append(f"{option} is missing")
    try:
        settings.threshold = float(settings.threshold)
    except ValueError:
        problems.append(f"the RMSE threshold must be a number, got {settings.threshold!r}")
    if problems:
        parser.error("; ".join(problems))
    model = settings.model_name
    settings.endpoint_name = settings.endpoint_name or f"{model}-dev"
    settings.etl_output_uri = (
        settings.etl_output_uri or f"s3://{settings.artifact_bucket}/{settings.pipeline_execution_id}/input"
    )
    settings.lambda_code_bucket = settings.lambda_code_bucket or settings.artifact_bucket
    settings.stack_name = settings.stack_name or f"{model}-system-test"
    settings.state_machine_name = settings.state_machine_name or f"{model}-system-test"
    return settings


def write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    output = Path(settings.output_dir)
    try:
        settings.monitor_image_uri = settings.monitor_image_uri or monitor_image_uri(settings.region)
        document = execution_input(settings)
        write_json(output / "workflow-input.json", document)
        if settings.write_only:
            placeholders = {
                name: f"arn:aws:lambda:{settings.region}:000000000000:function:{name}" for name in FUNCTIONS
            }
            write_json(output / "workflow.json", definition(placeholders, settings))
            return 0
        session = boto3.session.Session(region_name=settings.region)
        outputs = deploy_resources(session.client("cloudformation"), session.client("s3"), settings)
        functions = {name: outputs[f"{name}FunctionArn"] for name in FUNCTIONS}
        machine = definition(functions, settings)
        write_json(output / "workflow.json", machine)
        sfn = session.client("stepfunctions")
        arn = deploy_state_machine(sfn, settings.state_machine_name, machine, outputs["WorkflowRoleArn"])
        print(f"Input of this execution's system test: {output / 'workflow-input.json'}")
        if settings.start_execution:
            result = run_execution(sfn, arn, document, settings.timeout, settings.poll)
            if result["status"] != "SUCCEEDED":
                described = sfn.describe_execution(executionArn=result["executionArn"])
                print(
                    f"System test {result['status']}: {described.get('error')}: {described.get('cause')}",
                    file=sys.stderr,
                )
                return 1
            print(f"System test passed: {result.get('output')}")
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
