"""Conformance: after the demo's first run, the clients people use read everything the pipeline made.

The SageMaker Python SDK 3 (`sagemaker.core.resources`) gets and lists every SageMaker resource and invokes the
endpoint; the project's AWS CLI runs the describe/list/get commands of every resource of the pipeline's stacks and
of what the demo made beside them (buckets, repositories, the Glue job, the system test's state machine), each
exiting 0 with JSON that holds every member botocore's model of the answer requires (testkit.shapes); `aws logs`
finds each stage's output where AWS puts it. It shares the integration suite's session cloud and first run.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from testkit.shapes import missing_members, operation_name
from testkit.tools import require_aws_cli

pytestmark = pytest.mark.slow

CLI_WORKERS = 3   # the CLI spends most of a call starting Python: a few at once, on the machine's 2 cores
# Reads the local cloud cannot answer yet, each failing as it does today (strict: a fix makes the test fail, so its
# entry goes). The services named have no package of the local cloud's to answer them in.
SERVICES = ("cloudformation", "iam", "logs", "lambda", "events", "codebuild", "codepipeline", "sagemaker",
            "application-autoscaling", "s3api", "ecr", "codecommit", "glue", "stepfunctions", "ssm", "sts",
            "cloudwatch")


@pytest.fixture(scope="module")
def made(e2e, first_run):
    """What the pipeline made: each stack's resources by type, and the names of what the demo made beside them."""
    cfn, sm = e2e.client("cloudformation"), e2e.client("sagemaker")
    stacks = {s["StackName"]: cfn.list_stack_resources(StackName=s["StackName"])["StackResourceSummaries"]
              for s in cfn.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"}
    resources: dict[str, list[str]] = {}
    for summaries in stacks.values():
        for resource in summaries:
            resources.setdefault(resource["ResourceType"], []).append(resource.get("PhysicalResourceId", ""))
    repository = e2e.names.code_repo_name
    return {
        "stacks": stacks,
        "pipeline_functions": [r["PhysicalResourceId"] for r in stacks[e2e.names.pipeline_stack_name]
                               if r["ResourceType"] == "AWS::Lambda::Function"],
        "code_repository": repository,
        "branches": e2e.client("codecommit").list_branches(repositoryName=repository)["branches"],
        "resources": resources,
        "execution_id": first_run.execution_id,
        "buckets": [b["Name"] for b in e2e.client("s3").list_buckets()["Buckets"]],
        "repositories": [r["repositoryName"] for r in e2e.client("ecr").describe_repositories()["repositories"]],
        "glue_jobs": e2e.client("glue").list_jobs()["JobNames"],
        "state_machines": [m["stateMachineArn"] for m in
                           e2e.client("stepfunctions").list_state_machines()["stateMachines"]],
        "training_jobs": [j["TrainingJobName"] for j in sm.list_training_jobs()["TrainingJobSummaries"]],
        "processing_jobs": [j["ProcessingJobName"] for j in sm.list_processing_jobs()["ProcessingJobSummaries"]],
        "monitoring_schedules": [s["MonitoringScheduleName"] for s in
                                 sm.list_monitoring_schedules()["MonitoringScheduleSummaries"]],
        "package_groups": [g["ModelPackageGroupName"] for g in
                           sm.list_model_package_groups()["ModelPackageGroupSummaryList"]],
    }


@pytest.fixture(scope="module")
def aws(e2e):
    """aws(*args) -> (exit status, parsed JSON or None, stderr) of the project's CLI on the session's cloud."""
    cli = require_aws_cli()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=e2e.endpoint, AWS_ACCESS_KEY_ID="localcloud", AWS_SECRET_ACCESS_KEY="localcloud",
               AWS_DEFAULT_REGION=e2e.names.region, AWS_PAGER="", AWS_MAX_ATTEMPTS="2",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)

    def run(*args: str) -> tuple[int, object, str]:
        proc = subprocess.run([cli, *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=120)
        try:
            data = json.loads(proc.stdout) if proc.stdout.strip() else None
        except ValueError:
            return (proc.returncode or 1), None, f"not JSON: {proc.stdout[:300]}"
        return proc.returncode, data, proc.stderr.strip()
    return run


def commands(service: str, made: dict) -> list[tuple[str, ...]]:
    """The CLI's reads of `service` for what the pipeline made."""
    res, execution = made["resources"], made["execution_id"]
    pipeline = res["AWS::CodePipeline::Pipeline"][0]
    if service == "cloudformation":
        found = [("cloudformation", "list-stacks"), ("cloudformation", "describe-stacks"),
                 ("cloudformation", "list-exports")]
        for stack, summaries in made["stacks"].items():
            found += [("cloudformation", c, "--stack-name", stack) for c in (
                "describe-stacks", "describe-stack-resources", "list-stack-resources", "describe-stack-events",
                "get-template", "get-template-summary")]
            # One resource of each type: the CLI's start-up is most of a call's time.
            first = {r["ResourceType"]: r["LogicalResourceId"] for r in reversed(summaries)}
            found += [("cloudformation", "describe-stack-resource", "--stack-name", stack, "--logical-resource-id",
                       logical) for logical in first.values()]
        return found
    if service == "iam":
        found = [("iam", "list-roles")]
        for role in res["AWS::IAM::Role"]:
            found += [("iam", c, "--role-name", role) for c in ("get-role", "list-role-policies",
                                                               "list-attached-role-policies")]
        return found
    if service == "logs":
        return [("logs", "describe-log-groups")] + [("logs", "describe-log-streams", "--log-group-name", group)
                                                    for group in res["AWS::Logs::LogGroup"]]
    if service == "lambda":
        found = [("lambda", "list-functions")]
        for name in res["AWS::Lambda::Function"]:
            found += [("lambda", c, "--function-name", name) for c in ("get-function", "get-function-configuration",
                                                                       "list-versions-by-function")]
        return found + [("lambda", "get-policy", "--function-name", name)
                        for name in res["AWS::Lambda::Function"] if "monitor" in name]
    if service == "events":
        return [("events", "list-rules")] + [("events", c, flag, rule) for rule in res["AWS::Events::Rule"]
                                             for c, flag in (("describe-rule", "--name"),
                                                             ("list-targets-by-rule", "--rule"))]
    if service == "cloudwatch":
        return [("cloudwatch", "describe-alarms")] + [("cloudwatch", "describe-alarm-history", "--alarm-name", alarm)
                                                      for alarm in res["AWS::CloudWatch::Alarm"]]
    if service == "codebuild":
        projects = res["AWS::CodeBuild::Project"]
        return ([("codebuild", "list-projects"), ("codebuild", "list-builds"),
                 ("codebuild", "batch-get-projects", "--names", *projects)]
                + [("codebuild", "list-builds-for-project", "--project-name", p) for p in projects])
    if service == "codepipeline":
        return [("codepipeline", "list-pipelines"), ("codepipeline", "get-pipeline", "--name", pipeline),
                ("codepipeline", "get-pipeline-state", "--name", pipeline),
                ("codepipeline", "list-pipeline-executions", "--pipeline-name", pipeline),
                ("codepipeline", "get-pipeline-execution", "--pipeline-name", pipeline, "--pipeline-execution-id",
                 execution),
                ("codepipeline", "list-action-executions", "--pipeline-name", pipeline, "--filter",
                 f"pipelineExecutionId={execution}")]
    if service == "sagemaker":
        found = [("sagemaker", c) for c in ("list-endpoints", "list-endpoint-configs", "list-models",
                                            "list-training-jobs", "list-processing-jobs",
                                            "list-model-package-groups", "list-monitoring-schedules")]
        found += [("sagemaker", "describe-model", "--model-name", arn.rsplit("/", 1)[1])
                  for arn in res["AWS::SageMaker::Model"]]
        found += [("sagemaker", "describe-endpoint-config", "--endpoint-config-name", arn.rsplit("/", 1)[1])
                  for arn in res["AWS::SageMaker::EndpointConfig"]]
        for arn in res["AWS::SageMaker::Endpoint"]:
            found += [("sagemaker", "describe-endpoint", "--endpoint-name", arn.rsplit("/", 1)[1]),
                      ("sagemaker", "list-tags", "--resource-arn", arn)]
        found += [("sagemaker", "describe-training-job", "--training-job-name", j) for j in made["training_jobs"]]
        found += [("sagemaker", "describe-processing-job", "--processing-job-name", j)
                  for j in made["processing_jobs"]]
        found += [("sagemaker", "list-monitoring-executions")]
        found += [("sagemaker", "describe-monitoring-schedule", "--monitoring-schedule-name", s)
                  for s in made["monitoring_schedules"]]
        for group in made["package_groups"]:
            found += [("sagemaker", "describe-model-package-group", "--model-package-group-name", group),
                      ("sagemaker", "list-model-packages", "--model-package-group-name", group)]
        return found
    if service == "application-autoscaling":
        return [("application-autoscaling", c, "--service-namespace", "sagemaker") for c in (
            "describe-scalable-targets", "describe-scaling-policies", "describe-scaling-activities")]
    if service == "s3api":
        found = [("s3api", "list-buckets")]
        for bucket in made["buckets"]:
            found += [("s3api", c, "--bucket", bucket) for c in (
                "head-bucket", "get-bucket-location", "get-bucket-versioning", "get-bucket-encryption",
                "get-bucket-acl", "get-public-access-block", "get-bucket-ownership-controls", "list-objects-v2")]
        return found
    if service == "ecr":
        found = [("ecr", "describe-repositories")]
        for repository in made["repositories"]:
            found += [("ecr", c, "--repository-name", repository) for c in ("describe-images", "list-images")]
        return found
    if service == "codecommit":
        repository = made["code_repository"]
        return ([("codecommit", "list-repositories")]
                + [("codecommit", c, "--repository-name", repository) for c in ("get-repository", "list-branches")]
                + [("codecommit", "get-branch", "--repository-name", repository, "--branch-name", branch)
                   for branch in made["branches"]])
    if service == "glue":
        return [("glue", "get-jobs"), ("glue", "list-jobs")] + [
            ("glue", c, flag, job) for job in made["glue_jobs"]
            for c, flag in (("get-job", "--job-name"), ("get-job-runs", "--job-name"))]
    if service == "stepfunctions":
        found = [("stepfunctions", "list-state-machines")]
        for machine in made["state_machines"]:
            found += [("stepfunctions", c, "--state-machine-arn", machine) for c in ("describe-state-machine",
                                                                                      "list-executions")]
        return found
    if service == "ssm":
        return [("ssm", "describe-parameters")]
    if service == "sts":
        return [("sts", "get-caller-identity")]
    raise KeyError(service)


def _problems(aws, command: tuple[str, ...]) -> list[str]:
    code, data, stderr = aws(*command)
    if code != 0:
        return [f"exit {code}: {stderr[-500:]}"]
    if data is None:
        return []   # head-bucket: no output, as the CLI prints none
    service = {"s3api": "s3"}.get(command[0], command[0])
    return missing_members(service, operation_name(service, command[1]), data)


def _runs_of(aws, found: list[tuple[str, ...]]) -> dict[tuple[str, ...], list[str]]:
    with ThreadPoolExecutor(CLI_WORKERS) as pool:
        return dict(zip(found, pool.map(lambda command: _problems(aws, command), found)))


@pytest.mark.parametrize("service", SERVICES)
def test_the_cli_reads_everything_the_pipeline_made(aws, made, service):
    found = list(commands(service, made))
    failures = {" ".join(c): problems for c, problems in _runs_of(aws, found).items() if problems}
    assert not failures, json.dumps(failures, indent=2)


@pytest.fixture
def sdk(e2e, monkeypatch):
    """sagemaker.core.resources on the session's cloud (the SDK keeps its clients: made afresh for this one)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", e2e.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "localcloud")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "localcloud")
    monkeypatch.setenv("AWS_DEFAULT_REGION", e2e.names.region)
    from sagemaker.core import resources
    from sagemaker.core.utils.utils import SageMakerClient
    SageMakerClient.reset()
    yield resources
    SageMakerClient.reset()


def _names(sm, made):
    endpoints = [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
    configs = [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
    models = [m["ModelName"] for m in sm.list_models()["Models"]]
    packages = [p["ModelPackageArn"] for g in made["package_groups"]
                for p in sm.list_model_packages(ModelPackageGroupName=g)["ModelPackageSummaryList"]]
    return {"Endpoint": endpoints, "EndpointConfig": configs, "Model": models, "TrainingJob": made["training_jobs"],
            "ProcessingJob": made["processing_jobs"], "ModelPackageGroup": made["package_groups"],
            "ModelPackage": packages, "MonitoringSchedule": made["monitoring_schedules"]}


@pytest.mark.parametrize("resource", ["Endpoint", "EndpointConfig", "Model", "TrainingJob", "ProcessingJob",
                                      "ModelPackageGroup", "ModelPackage", "MonitoringSchedule"])
def test_the_sagemaker_sdk_gets_and_lists_what_the_pipeline_made(e2e, made, sdk, resource):
    names = _names(e2e.client("sagemaker"), made)[resource]
    assert names, f"the pipeline made no {resource}"
    kind = getattr(sdk, resource)
    if resource == "ModelPackage":  # versioned packages are listed by their group
        listed = [p.model_package_arn for g in made["package_groups"]
                  for p in kind.get_all(model_package_group_name=g)]
    else:
        listed = [getattr(item, _name_field(resource)) for item in kind.get_all()]
    if resource == "ProcessingJob":  # Prd's monitoring schedule starts one each hour, a minute here
        assert set(names) <= set(listed), (names, listed)
        assert all(n in names or n.startswith("model-monitoring-") for n in listed), listed
    else:
        assert sorted(listed) == sorted(names)
    for name in names:
        got = kind.get(name)
        assert getattr(got, _name_field(resource)) == name


def _name_field(resource: str) -> str:
    """The attribute that names a resource of the SDK (`training_job_name`); a package is named by its ARN."""
    if resource == "ModelPackage":
        return "model_package_arn"
    return "".join("_" + c.lower() if c.isupper() else c for c in resource).lstrip("_") + "_name"


def test_the_sagemaker_sdk_reads_the_pipelines_endpoints_and_invokes_them(e2e, sdk):
    row = "M,0.455,0.365,0.095,0.514,0.2245,0.101,0.15"
    for name in ("abalone-dev", "abalone-prd"):
        endpoint = sdk.Endpoint.get(name)
        assert endpoint.endpoint_status == "InService"
        rings = float(endpoint.invoke(body=row, content_type="text/csv").body.read().decode().split()[0])
        assert 1 < rings < 30
    capture = sdk.Endpoint.get("abalone-prd").data_capture_config
    assert (capture.enable_capture, capture.capture_status) == (True, "Started")


def _events(aws, group: str, stream: str) -> list[str]:
    code, data, stderr = aws("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", stream,
                             "--start-from-head")
    assert code == 0, stderr
    return [e["message"] for e in data["events"]]


def _streams(aws, group: str, prefix: str | None = None) -> list[str]:
    args = ("--log-stream-name-prefix", prefix) if prefix else ()
    code, data, stderr = aws("logs", "describe-log-streams", "--log-group-name", group, *args)
    assert code == 0, stderr
    return [s["logStreamName"] for s in data["logStreams"]]


def test_aws_logs_finds_each_stages_output_where_aws_puts_it(e2e, made, aws):
    code, data, stderr = aws("logs", "describe-log-groups")
    assert code == 0, stderr
    groups = {g["logGroupName"] for g in data["logGroups"]}
    stack_groups = made["resources"]["AWS::Logs::LogGroup"]
    lambda_group = next(g for g in stack_groups if g.endswith("/lambda"))
    codebuild_group = next(g for g in stack_groups if g.endswith("/codebuild"))
    expected = {"/aws/sagemaker/TrainingJobs", "/aws/sagemaker/Endpoints/abalone-dev",
                "/aws/sagemaker/Endpoints/abalone-prd", "/aws-glue/python-jobs/output",
                "/aws-glue/python-jobs/error", lambda_group, codebuild_group}
    assert expected <= groups, sorted(groups)

    job = made["training_jobs"][0]
    [stream] = _streams(aws, "/aws/sagemaker/TrainingJobs", f"{job}/")
    assert stream.startswith(f"{job}/algo-1-")
    assert any(m.startswith("validation:rmse=") for m in _events(aws, "/aws/sagemaker/TrainingJobs", stream))

    for endpoint in ("abalone-dev", "abalone-prd"):
        [stream] = _streams(aws, f"/aws/sagemaker/Endpoints/{endpoint}", "AllTraffic/i-")
        assert any(m.startswith("serve:") for m in _events(aws, f"/aws/sagemaker/Endpoints/{endpoint}", stream))

    runs = e2e.client("glue").get_job_runs(JobName=made["glue_jobs"][0])["JobRuns"]
    run_id = next(r["Id"] for r in runs if (r.get("Arguments") or {}).get("--PIPELINE_EXECUTION_ID")
                  == made["execution_id"])
    assert any(m.startswith("[preprocess] split with seed") for m in
               _events(aws, "/aws-glue/python-jobs/output", run_id))
    assert run_id in _streams(aws, "/aws-glue/python-jobs/error")

    # The pipeline's functions log to the stack's group (their LoggingConfig), in streams named by function.
    for function in made["pipeline_functions"]:
        streams = [s for s in _streams(aws, lambda_group) if f"/{function}[$LATEST]" in s]
        assert streams, f"no stream of {function} in {lambda_group}"
    code, data, stderr = aws("logs", "filter-log-events", "--log-group-name", lambda_group, "--filter-pattern",
                             "REPORT")
    assert code == 0, stderr
    assert data["events"] and all("Billed Duration" in e["message"] for e in data["events"])

    builds = e2e.client("codebuild").batch_get_builds(ids=e2e.client("codebuild").list_builds()["ids"])["builds"]
    for build in builds:
        logs = build["logs"]
        assert logs["groupName"] == codebuild_group
        messages = _events(aws, codebuild_group, logs["streamName"])
        assert any(m.startswith("[Container]") and "Phase complete: BUILD State: SUCCEEDED" in m for m in messages)
