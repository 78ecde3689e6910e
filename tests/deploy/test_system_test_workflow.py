"""tests/system_test/build.py against moto: the stack, the state machine, and runs of it down every branch.

moto interprets the Amazon States Language for real; the Lambda tasks run the deployed packages in-process
(`lambdas_run`), with the Dev endpoint answered by a stand-in that predicts each row's label plus an error.
"""

import fnmatch
import io
import json
import time

import boto3
import pytest
import yaml
from botocore.response import StreamingBody
from botocore.stub import Stubber

from testkit.moto import IMAGE, MODEL, MONITOR_IMAGE, NAMES, ROLE_ARN, endpoint_config, register_package

EXECUTION = "7d6e5f4a-3b2c-4d1e-9f8a-7b6c5d4e3f2a"
THRESHOLD = 2.5
TEST_ROWS = [
    [9, 0, 0, 1, 0.455, 0.365, 0.095, 0.514, 0.2245, 0.101, 0.15],
    [7, 0, 0, 1, 0.35, 0.265, 0.09, 0.2255, 0.0995, 0.0485, 0.07],
    [10, 1, 0, 0, 0.53, 0.42, 0.135, 0.677, 0.2565, 0.1415, 0.21],
    [16, 1, 0, 0, 0.545, 0.425, 0.125, 0.768, 0.294, 0.1495, 0.26],
]
BASELINE = "sex_F,sex_I,sex_M,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight\n"


class EndpointStandIn:
    """Answers as the model server does, application/json, each prediction the row's label plus `error`."""

    def __init__(self, rows, error):
        self.labels = {",".join(str(value) for value in row[1:]): row[0] for row in rows}
        self.error = error
        self.requests = 0

    def invoke_endpoint(self, EndpointName, ContentType, Accept, Body):  # noqa: N803 - boto3's argument names
        self.requests += 1
        values = [self.labels[line] + self.error for line in Body.decode().splitlines()]
        body = json.dumps({"predictions": values}).encode()
        return {"Body": StreamingBody(io.BytesIO(body), len(body)), "ContentType": "application/json"}


@pytest.fixture
def pipeline(aws, buckets, model_group):
    """What the pipeline has made by the SystemTest stage: the ETL splits, the package, the Dev endpoint."""
    s3 = aws.client("s3")
    prefix = f"{EXECUTION}/input"
    body = "\n".join(",".join(str(v) for v in row) for row in TEST_ROWS) + "\n"
    s3.put_object(Bucket=buckets.artifact_bucket, Key=f"{prefix}/testing/test.csv", Body=body.encode())
    s3.put_object(Bucket=buckets.artifact_bucket, Key=f"{prefix}/baseline/baseline.csv", Body=BASELINE.encode())
    sm = model_group
    package = register_package(sm, EXECUTION)
    config = endpoint_config(sm, "dev", {"ModelPackageName": package})
    sm.create_endpoint(EndpointName=f"{MODEL}-dev", EndpointConfigName=config)
    return package


def build_args(tmp_path, *extra):
    return [
        "--model-name", MODEL,
        "--artifact-bucket", NAMES.artifact_bucket,
        "--data-bucket", NAMES.data_bucket,
        "--sagemaker-role-arn", ROLE_ARN,
        "--pipeline-execution-id", EXECUTION,
        "--monitor-image-uri", MONITOR_IMAGE,
        "--threshold", str(THRESHOLD),
        "--output-dir", str(tmp_path),
        "--poll", "0.05",
        "--timeout", "60",
        *extra,
    ]  # fmt: skip


@pytest.fixture
def deployed(workflow_build, pipeline, lambdas_run, tmp_path, aws):
    """Run the workflow build; returns (state machine ARN, execution input)."""
    assert workflow_build.main(build_args(tmp_path)) == 0
    machines = aws.client("stepfunctions").list_state_machines()["stateMachines"]
    (machine,) = [m for m in machines if m["name"] == f"{MODEL}-system-test"]
    return machine["stateMachineArn"], json.loads((tmp_path / "workflow-input.json").read_text())


def run_to_the_end(sfn, arn, document, timeout=60):
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(document))["executionArn"]
    deadline = time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{execution} still running after {timeout} s"
        time.sleep(0.05)
    events = sfn.get_execution_history(executionArn=execution)["events"]
    entered = [event["stateEnteredEventDetails"]["name"] for event in events if "stateEnteredEventDetails" in event]
    return described, entered


def endpoint_answers(lambdas_run, error):
    stand_in = EndpointStandIn(TEST_ROWS, error)
    lambdas_run.setup["EvaluateEndpoint"] = lambda module: setattr(module, "runtime", stand_in)
    return stand_in


def test_a_good_model_is_approved_and_baselined(deployed, lambdas_run, pipeline, aws):
    arn, document = deployed
    stand_in = endpoint_answers(lambdas_run, error=1.0)

    described, entered = run_to_the_end(aws.client("stepfunctions"), arn, document)

    assert described["status"] == "SUCCEEDED", described
    assert entered == [
        "EvaluateEndpoint",
        "CheckThreshold",
        "StartMonitoringBaseline",
        "ApproveModelPackage",
        "SystemTestPassed",
    ]
    assert stand_in.requests == 1
    output = json.loads(described["output"])
    assert output["Evaluation"]["rmse"] == pytest.approx(1.0)
    assert output["Approval"] == {"ModelPackageArn": pipeline, "ModelApprovalStatus": "Approved"}

    sm = aws.client("sagemaker")
    assert sm.describe_model_package(ModelPackageName=pipeline)["ModelApprovalStatus"] == "Approved"
    job = sm.describe_processing_job(ProcessingJobName=output["Baseline"]["ProcessingJobName"])
    assert job["AppSpecification"]["ImageUri"] == MONITOR_IMAGE
    assert job["ProcessingInputs"][0]["S3Input"]["S3Uri"] == document["BaselineDataUri"]
    bucket, key = document["ReportUri"][5:].split("/", 1)
    report = json.loads(aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert report["metrics"]["rmse"] == pytest.approx(1.0) and report["rows"] == len(TEST_ROWS)


def test_a_model_above_the_threshold_fails_with_its_rmse(deployed, lambdas_run, pipeline, aws):
    arn, document = deployed
    endpoint_answers(lambdas_run, error=3.0)

    described, entered = run_to_the_end(aws.client("stepfunctions"), arn, document)

    assert described["status"] == "FAILED"
    assert entered == ["EvaluateEndpoint", "CheckThreshold", "ThresholdNotMet"]
    assert described["error"] == "ThresholdNotMet"
    assert "RMSE 3.0" in described["cause"] and f"threshold {THRESHOLD}" in described["cause"]
    assert document["ReportUri"] in described["cause"]
    sm = aws.client("sagemaker")
    assert sm.describe_model_package(ModelPackageName=pipeline)["ModelApprovalStatus"] == "PendingManualApproval"
    assert sm.list_processing_jobs()["ProcessingJobSummaries"] == []
    assert [name for name, _ in lambdas_run.calls] == [lambdas_run.calls[0][0]]


def test_a_function_error_is_caught_and_named(deployed, lambdas_run, pipeline, aws, buckets):
    arn, document = deployed
    endpoint_answers(lambdas_run, error=0.5)
    aws.client("s3").delete_object(Bucket=buckets.artifact_bucket, Key=f"{EXECUTION}/input/testing/test.csv")

    described, entered = run_to_the_end(aws.client("stepfunctions"), arn, document)

    assert described["status"] == "FAILED"
    assert entered == ["EvaluateEndpoint", "SystemTestFailed"]
    assert described["error"] == "NoSuchKey"
    assert json.loads(described["cause"])["errorType"] == "NoSuchKey"
    assert aws.client("sagemaker").describe_model_package(ModelPackageName=pipeline)["ModelApprovalStatus"] == (
        "PendingManualApproval"
    )


def test_an_endpoint_without_a_package_fails_the_test_after_the_baseline_started(deployed, lambdas_run, aws):
    arn, document = deployed
    endpoint_answers(lambdas_run, error=0.5)
    sm = aws.client("sagemaker")
    plain = endpoint_config(sm, "plain", {"Image": IMAGE})
    # moto has no UpdateEndpoint: replace the endpoint with one whose model comes from no package.
    sm.delete_endpoint(EndpointName=document["EndpointName"])
    sm.create_endpoint(EndpointName=document["EndpointName"], EndpointConfigName=plain)

    described, entered = run_to_the_end(aws.client("stepfunctions"), arn, document)

    assert described["status"] == "FAILED"
    assert entered[-2:] == ["ApproveModelPackage", "SystemTestFailed"]
    assert described["error"] == "ModelPackageNotFound"
    assert "not created from a model package" in json.loads(described["cause"])["errorMessage"]


def test_the_build_runs_the_test_itself_when_asked(workflow_build, pipeline, lambdas_run, tmp_path, capsys):
    endpoint_answers(lambdas_run, error=3.0)
    assert workflow_build.main(build_args(tmp_path, "--start-execution")) == 1
    assert "ThresholdNotMet" in capsys.readouterr().err

    endpoint_answers(lambdas_run, error=0.0)
    assert workflow_build.main(build_args(tmp_path, "--start-execution")) == 0
    assert "System test passed" in capsys.readouterr().out


def test_building_again_updates_in_place(workflow_build, deployed, tmp_path, aws):
    arn, _ = deployed
    assert workflow_build.main(build_args(tmp_path, "--threshold", "2.0")) == 0

    sfn = aws.client("stepfunctions")
    assert [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]] == [arn]
    stacks = aws.client("cloudformation").describe_stacks()["Stacks"]
    assert [s["StackName"] for s in stacks] == [f"{MODEL}-system-test"]
    assert stacks[0]["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    assert json.loads((tmp_path / "workflow-input.json").read_text())["Threshold"] == 2.0
    deployed_definition = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
    assert deployed_definition == json.loads((tmp_path / "workflow.json").read_text())


def stubbed_stack_clients(statuses_and_calls):
    """CloudFormation and S3 clients that answer the given sequence; what moto does not do (it always updates)."""
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3_stubber, cfn_stubber = Stubber(s3), Stubber(cfn)
    for _ in range(3):
        s3_stubber.add_response("head_object", {"VersionId": "v1"})
    for call in statuses_and_calls:
        if isinstance(call, tuple):
            operation, error = call
            cfn_stubber.add_client_error(operation, "ValidationError", error, 400)
        elif call in ("create_stack", "update_stack"):
            cfn_stubber.add_response(call, {"StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/x/1"})
        elif call == "delete_stack":
            cfn_stubber.add_response(call, {})
        else:
            outputs = [{"OutputKey": "WorkflowRoleArn", "OutputValue": "arn:aws:iam::123456789012:role/w"}]
            stack = {"StackName": "x", "CreationTime": "2025-01-01T00:00:00Z", "StackStatus": call, "Outputs": outputs}
            cfn_stubber.add_response("describe_stacks", {"Stacks": [stack]})
    s3_stubber.activate()
    cfn_stubber.activate()
    return cfn, s3, cfn_stubber


def test_an_unchanged_stack_is_left_alone(workflow_build, tmp_path, aws_env):
    settings = workflow_build.parse_args(build_args(tmp_path))
    cfn, s3, stubber = stubbed_stack_clients(
        ["UPDATE_COMPLETE", ("update_stack", "No updates are to be performed."), "UPDATE_COMPLETE", "UPDATE_COMPLETE"],
    )
    assert workflow_build.deploy_resources(cfn, s3, settings)["WorkflowRoleArn"].endswith("role/w")
    stubber.assert_no_pending_responses()


def test_a_stack_that_failed_to_create_is_replaced(workflow_build, tmp_path, aws_env):
    settings = workflow_build.parse_args(build_args(tmp_path))
    missing = ("describe_stacks", "Stack with id abalone-system-test does not exist")
    cfn, s3, stubber = stubbed_stack_clients(
        ["ROLLBACK_COMPLETE", "delete_stack", missing, "create_stack", "CREATE_COMPLETE", "CREATE_COMPLETE"]
    )
    assert workflow_build.deploy_resources(cfn, s3, settings)["WorkflowRoleArn"].endswith("role/w")
    stubber.assert_no_pending_responses()


def test_a_failed_stack_reports_why(workflow_build, tmp_path, aws_env):
    settings = workflow_build.parse_args(build_args(tmp_path))
    cfn, s3, stubber = stubbed_stack_clients(
        [("describe_stacks", "Stack with id x does not exist"), "create_stack", "ROLLBACK_COMPLETE"]
    )
    event = {
        "StackId": "x",
        "EventId": "1",
        "StackName": "x",
        "Timestamp": "2025-01-01T00:00:00Z",
        "LogicalResourceId": "FunctionRole",
        "ResourceStatus": "CREATE_FAILED",
        "ResourceStatusReason": "not authorized",
    }
    stubber.add_response("describe_stack_events", {"StackEvents": [event]})
    with pytest.raises(workflow_build.BuildError, match="ended ROLLBACK_COMPLETE: FunctionRole: not authorized"):
        workflow_build.deploy_resources(cfn, s3, settings)


def test_the_state_machine_is_well_formed(workflow_build, tmp_path, aws_env):
    assert workflow_build.main(build_args(tmp_path, "--write-only")) == 0
    machine = json.loads((tmp_path / "workflow.json").read_text())
    states = machine["States"]

    assert machine["StartAt"] in states
    targets = {name: [] for name in states}
    for name, state in states.items():
        assert state["Type"] in {"Task", "Choice", "Fail", "Succeed", "Pass"}
        nexts = [state.get("Next"), state.get("Default")]
        nexts += [choice["Next"] for choice in state.get("Choices", [])]
        nexts += [catch["Next"] for catch in state.get("Catch", [])]
        targets[name] = [n for n in nexts if n]
        assert all(n in states for n in targets[name]), f"{name} goes to a state that does not exist"
        assert state["Type"] in {"Fail", "Succeed", "Choice"} or "Next" in state or state.get("End")
        if state["Type"] == "Task":
            assert state["Resource"] == "arn:aws:states:::lambda:invoke"
            assert any("States.ALL" in catch["ErrorEquals"] for catch in state["Catch"]), f"{name} has no catch-all"
    reachable, frontier = set(), [machine["StartAt"]]
    while frontier:
        name = frontier.pop()
        if name not in reachable:
            reachable.add(name)
            frontier += targets[name]
    assert reachable == set(states)
    assert {name for name, state in states.items() if state["Type"] == "Fail"} == {
        "ThresholdNotMet",
        "SystemTestFailed",
    }

    document = json.loads((tmp_path / "workflow-input.json").read_text())
    assert document["TestDataUri"] == f"s3://{NAMES.artifact_bucket}/{EXECUTION}/input/testing/test.csv"
    assert document["EndpointName"] == f"{MODEL}-dev"
    assert isinstance(document["Threshold"], float)


def test_missing_lambda_packages_are_named(workflow_build, aws, tmp_path, capsys):
    aws.client("s3").create_bucket(Bucket=NAMES.artifact_bucket)
    assert workflow_build.main(build_args(tmp_path)) == 1
    message = capsys.readouterr().err
    assert "lambda/EvaluateEndpoint.zip" in message and "upload_lambda_packages" in message


def test_the_buildspec_publishes_the_input(workflow_build, repo_root, tmp_path, aws_env):
    assert workflow_build.main(build_args(tmp_path, "--write-only")) == 0
    spec = yaml.safe_load((repo_root / "tests" / "system_test" / "buildspec.yml").read_text())
    assert f"--output-dir {spec['artifacts']['base-directory']}" in " ".join(spec["phases"]["build"]["commands"])
    written = sorted(path.name for path in tmp_path.iterdir())
    assert [n for n in written if any(fnmatch.fnmatch(n, p) for p in spec["artifacts"]["files"])] == written
    readme = (repo_root / "tests" / "system_test" / "README.md").read_text()
    assert "Input: workflow-input.json" in readme and "workflow-input.json" in written


def test_the_sdk_knows_the_model_monitor_image(workflow_build):
    pytest.importorskip("sagemaker.core.image_uris", reason="the SageMaker SDK 3.x is not installed")
    uri = workflow_build.monitor_image_uri("us-east-1")
    assert uri == "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
    assert workflow_build.monitor_image_uri("eu-west-1").startswith("468650794304.dkr.ecr.eu-west-1.")
