"""RetryStageExecution: a failed stage of the latest execution runs again (its failed actions, or all of them), then
the stages after it; what cannot be retried is refused with CodePipeline's errors."""

import pytest
from botocore.exceptions import ClientError

from testkit.localcloud import CODEBUILD_ROLE, source_action

# Fails until the parameter /retry/go exists: what a retry after a fix looks like.
GATED = """version: 0.2
phases:
  build:
    commands:
      - python -c "import boto3; boto3.client('ssm').get_parameter(Name='/retry/go')"
      - echo built > out.txt
artifacts:
  files: [out.txt]
"""
PASSES = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo ok > out.txt\nartifacts:\n  files: [out.txt]\n"


def project(aws, name, buildspec):
    aws.clients("codebuild").create_project(
        name=name, source={"type": "CODEPIPELINE", "buildspec": buildspec, "location": "pipeline"},
        artifacts={"type": "CODEPIPELINE", "location": "pipeline"}, serviceRole=CODEBUILD_ROLE,
        environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                     "computeType": "BUILD_GENERAL1_SMALL"})


def build(name, project_name, output, run_order=1):
    return {"name": name, "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild",
                                           "version": "1"},
            "configuration": {"ProjectName": project_name}, "inputArtifacts": [{"name": "Src"}],
            "outputArtifacts": [{"name": output}], "runOrder": run_order}


def refused(call, **kwargs):
    with pytest.raises(ClientError) as error:
        call(**kwargs)
    return error.value.response["Error"]["Code"], error.value.response["Error"]["Message"]


def test_retrying_the_failed_actions_of_a_failed_stage_runs_them_and_the_stages_after(aws):
    project(aws, "gated", GATED)
    project(aws, "passes", PASSES)
    aws.source("app.zip", {"input.txt": "x"})
    execution = aws.pipeline("retried", [
        {"name": "Source", "actions": [source_action("Fetch", "app.zip", "Src")]},
        {"name": "Build", "actions": [build("Steady", "passes", "SteadyOut"), build("Gated", "gated", "GatedOut"),
                                      build("Later", "passes", "LaterOut", run_order=2)]},
        {"name": "After", "actions": [build("Final", "passes", "FinalOut")]}])
    assert aws.finished("retried", execution, timeout=120)["status"] == "Failed"
    assert aws.stage("retried", "Build")["latestExecution"]["status"] == "Failed"
    retry = aws.cp.retry_stage_execution
    ids = {"pipelineName": "retried", "pipelineExecutionId": execution}

    assert refused(retry, **ids, stageName="Build", retryMode="SOME_ACTIONS")[0] == "ValidationException"
    assert refused(retry, **ids, stageName="Nope", retryMode="FAILED_ACTIONS")[0] == "StageNotFoundException"
    code, message = refused(retry, **ids, stageName="Source", retryMode="FAILED_ACTIONS")
    assert (code, message) == ("StageNotRetryableException", f"Stage Source of execution {execution} is Succeeded: "
                                                              "only a failed stage can be retried")
    code, _ = refused(retry, pipelineName="retried", pipelineExecutionId="0" * 8 + "-0000-0000-0000-" + "0" * 12,
                      stageName="Build", retryMode="FAILED_ACTIONS")
    assert code == "NotLatestPipelineExecutionException"
    code, _ = refused(retry, **{**ids, "pipelineName": "missing"}, stageName="Build", retryMode="FAILED_ACTIONS")
    assert code == "PipelineNotFoundException"

    aws.clients("ssm").put_parameter(Name="/retry/go", Value="yes", Type="String")
    assert retry(**ids, stageName="Build", retryMode="FAILED_ACTIONS")["pipelineExecutionId"] == execution
    assert aws.finished("retried", execution, timeout=180)["status"] == "Succeeded"
    runs = aws.cp.list_action_executions(pipelineName="retried", filter={"pipelineExecutionId": execution})
    outcomes = sorted((d["actionName"], d["status"]) for d in runs["actionExecutionDetails"])
    # Steady succeeded and stays; Gated runs again; Later (run order 2) and the next stage run for the first time.
    assert outcomes == [("Fetch", "Succeeded"), ("Final", "Succeeded"), ("Gated", "Failed"), ("Gated", "Succeeded"),
                        ("Later", "Succeeded"), ("Steady", "Succeeded")]
    assert aws.stage("retried", "Build")["latestExecution"]["status"] == "Succeeded"
    assert refused(retry, **ids, stageName="Build", retryMode="ALL_ACTIONS")[0] == "StageNotRetryableException"


def test_retrying_all_actions_runs_the_whole_stage_again(aws):
    project(aws, "gated-all", GATED)
    project(aws, "passes-all", PASSES)
    aws.source("app.zip", {"input.txt": "x"})
    execution = aws.pipeline("all-again", [
        {"name": "Source", "actions": [source_action("Fetch", "app.zip", "Src")]},
        {"name": "Build", "actions": [build("Steady", "passes-all", "SteadyOut"),
                                      build("Gated", "gated-all", "GatedOut")]}])
    assert aws.finished("all-again", execution, timeout=120)["status"] == "Failed"
    aws.clients("ssm").put_parameter(Name="/retry/go", Value="yes", Type="String")
    aws.cp.retry_stage_execution(pipelineName="all-again", pipelineExecutionId=execution, stageName="Build",
                                 retryMode="ALL_ACTIONS")
    assert aws.finished("all-again", execution, timeout=180)["status"] == "Succeeded"
    runs = aws.cp.list_action_executions(pipelineName="all-again", filter={"pipelineExecutionId": execution})
    assert sorted(d["actionName"] for d in runs["actionExecutionDetails"] if d["actionName"] == "Steady") == \
        ["Steady", "Steady"]
