"""The CodePipeline runtime: stages in order, Lambda jobs, approvals, CloudFormation, CodeBuild and Step Functions
actions, and failures that stop an execution with the action's own message."""

import json
import re

import pytest
from botocore.exceptions import ClientError
from testkit.localcloud import (ARTIFACTS, CODEBUILD_ROLE, PIPELINE_ROLE, approval_action, files_of, lambda_action,
                                source_action)
from testkit.shapes import missing_members
from testkit.waiting import wait_for

PROCESS = '''
import io, json, zipfile
import boto3

cp = boto3.client("codepipeline")
s3 = boto3.client("s3")

def lambda_handler(event, context):
    job = event["CodePipeline.job"]
    data = job["data"]
    assert cp.get_job_details(jobId=job["id"])["jobDetails"]["data"]["inputArtifacts"] == data["inputArtifacts"]
    execution_id = json.loads(data["actionConfiguration"]["configuration"]["UserParameters"])["ExecutionId"]
    source = data["inputArtifacts"][0]["location"]["s3Location"]
    body = s3.get_object(Bucket=source["bucketName"], Key=source["objectKey"])["Body"].read()
    names = sorted(zipfile.ZipFile(io.BytesIO(body)).namelist())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("made.txt", execution_id)
    target = data["outputArtifacts"][0]["location"]["s3Location"]
    s3.put_object(Bucket=target["bucketName"], Key=target["objectKey"], Body=buffer.getvalue())
    cp.put_job_success_result(
        jobId=job["id"], outputVariables={"Files": "+".join(names)},
        executionDetails={"summary": f"read {names} for {execution_id}", "externalExecutionId": context.aws_request_id})
'''

REFUSE = '''
import boto3

def lambda_handler(event, context):
    job = event["CodePipeline.job"]
    boto3.client("codepipeline").put_job_failure_result(
        jobId=job["id"], failureDetails={"type": "ConfigurationError", "message": "the input has no model.py"})
'''

# Reports success twice: the continuation token makes CodePipeline invoke it again with that token.
CONTINUES = '''
import boto3

def lambda_handler(event, context):
    job = event["CodePipeline.job"]
    token = job["data"].get("continuationToken")
    cp = boto3.client("codepipeline")
    if token is None:
        cp.put_job_success_result(jobId=job["id"], continuationToken="step-2")
    else:
        cp.put_job_success_result(jobId=job["id"], executionDetails={"summary": f"finished after {token}"})
'''

STACK = '''
Parameters:
  Label: {Type: String}
  Files: {Type: String}
Resources:
  Setting:
    Type: AWS::SSM::Parameter
    Properties:
      Name: /pipeline-test/setting
      Type: String
      Value: !Sub "${Label}:${Files}"
Outputs:
  SettingName: {Value: !Ref Setting}
'''


def deploy_action(stack, inputs, overrides="", mode="CREATE_UPDATE"):
    return {"name": "DeployStack",
            "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CloudFormation", "version": "1"},
            "configuration": {"ActionMode": mode, "StackName": stack, "TemplatePath": "Src::stack.yml",
                              "TemplateConfiguration": "Src::config.json", "ParameterOverrides": overrides,
                              "OutputFileName": "outputs.json"},
            "inputArtifacts": [{"name": i} for i in inputs], "outputArtifacts": [{"name": "Deployed"}],
            "runOrder": 1}


def test_a_pipeline_runs_source_lambda_approval_and_cloudformation_to_success(aws):
    aws.function("process", PROCESS)
    version = aws.source("app.zip", {"stack.yml": STACK, "config.json": json.dumps({"Parameters": {"Label": "hello"}})})
    process = lambda_action("Process", "process", ["Src"], '{"ExecutionId": "#{codepipeline.PipelineExecutionId}"}',
                                ["Processed"])
    process["namespace"] = "ProcessVars"
    execution_id = aws.pipeline("app", [
        {"name": "Source", "actions": [source_action("Fetch", "app.zip", "Src")]},
        {"name": "Process", "actions": [process]},
        {"name": "Approve", "actions": [approval_action("Check")]},
        {"name": "Deploy", "actions": [deploy_action("pipeline-test-stack", ["Src"], '{"Files": "#{ProcessVars.Files}"}')]},
    ])

    token = aws.waiting_token("app", "Approve", "Check")
    assert "latestExecution" not in aws.stage("app", "Deploy"), "Deploy ran before the approval"
    with pytest.raises(ClientError) as wrong:
        aws.cp.put_approval_result(pipelineName="app", stageName="Approve", actionName="Check", token="not-the-token",
                                   result={"summary": "ok", "status": "Approved"})
    assert wrong.value.response["Error"]["Code"] == "InvalidApprovalTokenException"
    aws.cp.put_approval_result(pipelineName="app", stageName="Approve", actionName="Check", token=token,
                               result={"summary": "looks right", "status": "Approved"})

    execution = aws.finished("app", execution_id)
    assert execution["status"] == "Succeeded", execution
    assert execution["artifactRevisions"][0]["revisionId"] == version
    state = aws.cp.get_pipeline_state(name="app")
    assert [(s["stageName"], s["latestExecution"]["status"]) for s in state["stageStates"]] == [
        ("Source", "Succeeded"), ("Process", "Succeeded"), ("Approve", "Succeeded"), ("Deploy", "Succeeded")]
    assert all(s["latestExecution"]["pipelineExecutionId"] == execution_id for s in state["stageStates"])
    assert missing_members("codepipeline", "GetPipelineState", state) == []
    revision = state["stageStates"][0]["actionStates"][0]["currentRevision"]
    assert (revision["revisionId"], revision["revisionChangeId"]) == (version, version) and revision["created"]
    processed = aws.action("app", "Process", "Process")["latestExecution"]
    assert processed["summary"] == f"read ['config.json', 'stack.yml'] for {execution_id}"
    assert processed["externalExecutionId"]
    assert aws.action("app", "Approve", "Check")["latestExecution"]["summary"] == "looks right"
    with pytest.raises(ClientError) as again:
        aws.cp.put_approval_result(pipelineName="app", stageName="Approve", actionName="Check", token=token,
                                   result={"summary": "twice", "status": "Approved"})
    assert again.value.response["Error"]["Code"] == "ApprovalAlreadyCompletedException"

    # The deploy action built the stack from the source artifact, its configuration file and the Lambda's variable.
    assert aws.cfn.describe_stacks(StackName="pipeline-test-stack")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    value = aws.clients("ssm").get_parameter(Name="/pipeline-test/setting")["Parameter"]["Value"]
    assert value == "hello:config.json+stack.yml"

    details = aws.cp.list_action_executions(pipelineName="app", filter={"pipelineExecutionId": execution_id})
    by_name = {d["actionName"]: d for d in details["actionExecutionDetails"]}
    assert set(by_name) == {"Fetch", "Process", "Check", "DeployStack"}
    assert by_name["Process"]["input"]["resolvedConfiguration"]["UserParameters"] == \
        f'{{"ExecutionId": "{execution_id}"}}'
    assert by_name["Process"]["output"]["outputVariables"] == {"Files": "config.json+stack.yml"}
    for name, artifact in (("Process", "Processed"), ("DeployStack", "Deployed")):
        location = by_name[name]["output"]["outputArtifacts"][0]["s3location"]
        assert location["bucket"] == ARTIFACTS
        assert re.fullmatch(rf"app/{artifact[:10]}/[A-Za-z0-9]{{7}}", location["key"])
    processed_zip = aws.s3.get_object(Bucket=ARTIFACTS,
                                      Key=by_name["Process"]["output"]["outputArtifacts"][0]["s3location"]["key"])
    assert files_of(processed_zip["Body"].read()) == {"made.txt": execution_id}
    deployed = by_name["DeployStack"]["output"]["outputArtifacts"][0]["s3location"]
    outputs = files_of(aws.s3.get_object(Bucket=deployed["bucket"], Key=deployed["key"])["Body"].read())
    assert json.loads(outputs["outputs.json"]) == {"SettingName": "/pipeline-test/setting"}

    summaries = aws.cp.list_pipeline_executions(pipelineName="app")["pipelineExecutionSummaries"]
    assert [(s["pipelineExecutionId"], s["status"]) for s in summaries] == [(execution_id, "Succeeded")]
    assert summaries[0]["trigger"]["triggerType"] == "CreatePipeline"

    # A second execution finds the stack up to date, which is success for the deploy action.
    second = aws.cp.start_pipeline_execution(name="app")["pipelineExecutionId"]
    token = aws.waiting_token("app", "Approve", "Check")
    aws.cp.put_approval_result(pipelineName="app", stageName="Approve", actionName="Check", token=token,
                               result={"summary": "again", "status": "Approved"})
    assert aws.finished("app", second)["status"] == "Succeeded"
    assert [s["pipelineExecutionId"] for s in
            aws.cp.list_pipeline_executions(pipelineName="app")["pipelineExecutionSummaries"]] == [second, execution_id]


def test_a_lambda_job_failure_fails_the_execution_with_its_message_and_nothing_after_runs(aws):
    aws.function("refuse", REFUSE)
    aws.source("app.zip", {"a.txt": "a"})
    execution_id = aws.pipeline("refusing", [
        {"name": "Source", "actions": [source_action("Fetch", "app.zip", "Src")]},
        {"name": "Check", "actions": [lambda_action("Refuse", "refuse", ["Src"])]},
        {"name": "Approve", "actions": [approval_action("Later")]},
    ])
    execution = aws.finished("refusing", execution_id)
    assert execution["status"] == "Failed"
    assert "the input has no model.py" in execution["statusSummary"]
    assert aws.stage("refusing", "Check")["latestExecution"]["status"] == "Failed"
    latest = aws.action("refusing", "Check", "Refuse")["latestExecution"]
    assert latest["status"] == "Failed"
    assert latest["errorDetails"] == {"code": "ConfigurationError", "message": "the input has no model.py"}
    assert "latestExecution" not in aws.stage("refusing", "Approve")
    assert "latestExecution" not in aws.action("refusing", "Approve", "Later")
    job = aws.cp.list_action_executions(pipelineName="refusing")["actionExecutionDetails"]
    assert {d["actionName"] for d in job} == {"Fetch", "Refuse"}
    with pytest.raises(ClientError) as late:
        aws.cp.put_job_success_result(jobId="00000000-0000-0000-0000-000000000000")
    assert late.value.response["Error"]["Code"] == "JobNotFoundException"


def test_a_continuation_token_invokes_the_function_again(aws):
    aws.function("continues", CONTINUES)
    aws.source("app.zip", {"a.txt": "a"})
    execution_id = aws.pipeline("continuing", [
        {"name": "Source", "actions": [source_action("Fetch", "app.zip", "Src")]},
        {"name": "Work", "actions": [lambda_action("Steps", "continues", ["Src"])]},
    ])
    assert aws.finished("continuing", execution_id)["status"] == "Succeeded"
    assert aws.action("continuing", "Work", "Steps")["latestExecution"]["summary"] == "finished after step-2"


def test_a_rejected_approval_fails_with_its_summary_and_a_stop_abandons_a_waiting_one(aws):
    aws.source("app.zip", {"a.txt": "a"})
    stages = [{"name": "Source", "actions": [source_action("Fetch", "app.zip", "Src")]},
              {"name": "Approve", "actions": [approval_action("Check")]},
              {"name": "After", "actions": [approval_action("Never")]}]
    first = aws.pipeline("gated", stages)
    token = aws.waiting_token("gated", "Approve", "Check")
    aws.cp.put_approval_result(pipelineName="gated", stageName="Approve", actionName="Check", token=token,
                               result={"summary": "RMSE 4.2 is above the threshold", "status": "Rejected"})
    execution = aws.finished("gated", first)
    assert execution["status"] == "Failed"
    latest = aws.action("gated", "Approve", "Check")["latestExecution"]
    assert latest["status"] == "Failed"
    assert latest["errorDetails"]["message"] == "RMSE 4.2 is above the threshold"
    assert "latestExecution" not in aws.stage("gated", "After")

    second = aws.cp.start_pipeline_execution(name="gated")["pipelineExecutionId"]
    aws.waiting_token("gated", "Approve", "Check")
    aws.cp.stop_pipeline_execution(pipelineName="gated", pipelineExecutionId=second, abandon=True, reason="test")
    assert aws.finished("gated", second)["status"] == "Stopped"
    assert aws.action("gated", "Approve", "Check")["latestExecution"]["status"] == "Abandoned"
    assert "latestExecution" not in aws.stage("gated", "After")


BUILDSPEC = """version: 0.2
phases:
  build:
    commands:
      - echo "$STAGE $EXECUTION_ID" > out.txt
      - cat input.txt >> out.txt
      - test "$FAIL" != yes || exit 3
artifacts:
  files: [out.txt]
"""


def build_action(fail="no"):
    variables = [{"name": "STAGE", "value": "Dev", "type": "PLAINTEXT"},
                 {"name": "EXECUTION_ID", "value": "#{codepipeline.PipelineExecutionId}", "type": "PLAINTEXT"},
                 {"name": "FAIL", "value": fail, "type": "PLAINTEXT"}]
    return {"name": "Build", "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild",
                                              "version": "1"},
            "configuration": {"ProjectName": "pipeline-test-build", "EnvironmentVariables": json.dumps(variables)},
            "inputArtifacts": [{"name": "Src"}], "outputArtifacts": [{"name": "Built"}], "runOrder": 1}


def test_codebuild_actions_build_the_input_artifact_and_a_failed_build_fails_the_action(aws):
    # moto's CreateProject wants a location even for CODEPIPELINE sources, which AWS does not.
    aws.clients("codebuild").create_project(
        name="pipeline-test-build", source={"type": "CODEPIPELINE", "buildspec": BUILDSPEC, "location": "pipeline"},
        artifacts={"type": "CODEPIPELINE", "location": "pipeline"}, serviceRole=CODEBUILD_ROLE,
        environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                     "computeType": "BUILD_GENERAL1_SMALL"})
    aws.source("app.zip", {"input.txt": "from the source"})
    good = aws.pipeline("builds", [
        {"name": "Source", "actions": [source_action("Fetch", "app.zip", "Src")]},
        {"name": "Build", "actions": [build_action()]}])
    bad = aws.pipeline("breaks", [
        {"name": "Source", "actions": [source_action("Fetch", "app.zip", "Src")]},
        {"name": "Build", "actions": [build_action(fail="yes")]}])

    assert aws.finished("builds", good, timeout=120)["status"] == "Succeeded"
    details = aws.cp.list_action_executions(pipelineName="builds", filter={"pipelineExecutionId": good})
    build = next(d for d in details["actionExecutionDetails"] if d["actionName"] == "Build")
    location = build["output"]["outputArtifacts"][0]["s3location"]
    built = files_of(aws.s3.get_object(Bucket=location["bucket"], Key=location["key"])["Body"].read())
    assert built == {"out.txt": f"Dev {good}\nfrom the source"}
    assert build["output"]["executionResult"]["externalExecutionId"].startswith("pipeline-test-build:")

    failed = aws.finished("breaks", bad, timeout=120)
    assert failed["status"] == "Failed"
    latest = aws.action("breaks", "Build", "Build")["latestExecution"]
    assert latest["status"] == "Failed"
    assert "BUILD" in latest["errorDetails"]["message"] and "exit status 3" in latest["errorDetails"]["message"]


PASS_MACHINE = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
FAIL_MACHINE = {"StartAt": "Judge", "States": {"Judge": {"Type": "Fail", "Error": "RmseTooHigh",
                                                         "Cause": "RMSE 4.2 is above 3.1"}}}


def test_step_functions_actions_run_the_state_machine_with_the_artifact_input(aws):
    sfn = aws.clients("stepfunctions")
    role = PIPELINE_ROLE
    passing = sfn.create_state_machine(name="passes", definition=json.dumps(PASS_MACHINE), roleArn=role)
    failing = sfn.create_state_machine(name="fails", definition=json.dumps(FAIL_MACHINE), roleArn=role)
    aws.source("app.zip", {"input.json": json.dumps({"endpoint": "abalone-dev"})})

    def machine_action(arn):
        return {"name": "Test", "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "StepFunctions",
                                                 "version": "1"},
                "configuration": {"StateMachineArn": arn, "InputType": "FilePath", "Input": "input.json",
                                  "ExecutionNamePrefix": "systemtest"},
                "inputArtifacts": [{"name": "Src"}], "runOrder": 1}
    good = aws.pipeline("tested", [{"name": "Source", "actions": [source_action("Fetch", "app.zip", "Src")]},
                                   {"name": "Test", "actions": [machine_action(passing["stateMachineArn"])]}])
    bad = aws.pipeline("untested", [{"name": "Source", "actions": [source_action("Fetch", "app.zip", "Src")]},
                                    {"name": "Test", "actions": [machine_action(failing["stateMachineArn"])]}])
    assert aws.finished("tested", good)["status"] == "Succeeded"
    execution_arn = aws.action("tested", "Test", "Test")["latestExecution"]["externalExecutionId"]
    described = sfn.describe_execution(executionArn=execution_arn)
    assert described["name"].startswith("systemtest-")
    assert json.loads(described["input"]) == {"endpoint": "abalone-dev"}
    assert aws.finished("untested", bad)["status"] == "Failed"
    message = aws.action("untested", "Test", "Test")["latestExecution"]["errorDetails"]["message"]
    assert "FAILED" in message and "RmseTooHigh" in message and "RMSE 4.2 is above 3.1" in message


def test_unknown_pipelines_and_bad_calls_get_the_services_errors(aws):
    for call, code in ((lambda: aws.cp.get_pipeline_state(name="nope"), "PipelineNotFoundException"),
                       (lambda: aws.cp.start_pipeline_execution(name="nope"), "PipelineNotFoundException"),
                       (lambda: aws.cp.put_job_failure_result(jobId="00000000-0000-0000-0000-000000000000",
                                                              failureDetails={"type": "JobFailed", "message": "x"}),
                        "JobNotFoundException")):
        with pytest.raises(ClientError) as error:
            call()
        assert error.value.response["Error"]["Code"] == code


def test_a_newer_execution_waiting_for_a_stage_supersedes_an_older_one(aws):
    aws.source("app.zip", {"a.txt": "a"})
    first = aws.pipeline("busy", [{"name": "Source", "actions": [source_action("Fetch", "app.zip", "Src")]},
                                  {"name": "Approve", "actions": [approval_action("Check")]}])
    token = aws.waiting_token("busy", "Approve", "Check")
    second = aws.cp.start_pipeline_execution(name="busy")["pipelineExecutionId"]

    def status(execution_id):
        return aws.cp.get_pipeline_execution(pipelineName="busy",
                                             pipelineExecutionId=execution_id)["pipelineExecution"]["status"]
    # The second finishes its source and waits for the stage the first holds; a third then replaces it.
    wait_for(lambda: any(d["pipelineExecutionId"] == second and d["status"] == "Succeeded" for d in
                             aws.cp.list_action_executions(pipelineName="busy")["actionExecutionDetails"]),
                 what="the second execution's source")
    third = aws.cp.start_pipeline_execution(name="busy")["pipelineExecutionId"]
    wait_for(lambda: status(second) == "Superseded", what="the second execution to be superseded")
    assert status(first) == status(third) == "InProgress"
    aws.cp.put_approval_result(pipelineName="busy", stageName="Approve", actionName="Check", token=token,
                               result={"summary": "first", "status": "Approved"})
    assert aws.finished("busy", first)["status"] == "Succeeded"
    token = aws.waiting_token("busy", "Approve", "Check")
    assert aws.stage("busy", "Approve")["latestExecution"]["pipelineExecutionId"] == third
    aws.cp.put_approval_result(pipelineName="busy", stageName="Approve", actionName="Check", token=token,
                               result={"summary": "third", "status": "Approved"})
    assert aws.finished("busy", third)["status"] == "Succeeded"


def test_a_build_killed_mid_stage_fails_the_action_instead_of_hanging(aws):
    import os
    import signal
    aws.clients("codebuild").create_project(
        name="pipeline-test-build", source={"type": "CODEPIPELINE", "location": "pipeline",
                                            "buildspec": "version: 0.2\nphases:\n  build:\n    commands:\n"
                                                         "      - sleep 60\n"},
        artifacts={"type": "NO_ARTIFACTS"}, serviceRole=CODEBUILD_ROLE,
        environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                     "computeType": "BUILD_GENERAL1_SMALL"})
    aws.source("app.zip", {"a.txt": "a"})
    build = {"name": "Build", "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild",
                                               "version": "1"},
             "configuration": {"ProjectName": "pipeline-test-build"}, "inputArtifacts": [{"name": "Src"}],
             "runOrder": 1}
    execution_id = aws.pipeline("killed", [{"name": "Source", "actions": [source_action("Fetch", "app.zip", "Src")]},
                                           {"name": "Build", "actions": [build]}])
    child = wait_for(lambda: next((p for p in aws.cloud.processes() if p["running"]
                                       and "pipeline-test-build" in p["label"] and "build" in p["label"]), None),
                         what="the build's shell")
    os.killpg(child["pid"], signal.SIGKILL)
    execution = aws.finished("killed", execution_id, timeout=30)
    assert execution["status"] == "Failed"
    latest = aws.action("killed", "Build", "Build")["latestExecution"]
    assert latest["status"] == "Failed" and "Phase: BUILD" in latest["errorDetails"]["message"]
    assert "exit status -9" in latest["errorDetails"]["message"]


FAILING_STACK = '''
Resources:
  Project:
    Type: AWS::CodeBuild::Project
    Properties:
      Name: taken-project
      ServiceRole: arn:aws:iam::123456789012:role/pipeline-test
      Artifacts: {Type: NO_ARTIFACTS}
      Environment: {Type: LINUX_CONTAINER, ComputeType: BUILD_GENERAL1_SMALL, Image: aws/codebuild/standard:7.0}
      Source: {Type: NO_SOURCE, BuildSpec: "version: 0.2"}
'''


@pytest.mark.parametrize("mode", ["CREATE_UPDATE", "REPLACE_ON_FAILURE"])
def test_a_failed_stack_fails_the_deploy_action_and_replace_on_failure_recreates_it(aws, mode):
    codebuild = aws.clients("codebuild")
    codebuild.create_project(name="taken-project", source={"type": "NO_SOURCE", "location": "none",
                                                           "buildspec": "version: 0.2"},
                             artifacts={"type": "NO_ARTIFACTS"}, serviceRole=CODEBUILD_ROLE,
                             environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                                          "computeType": "BUILD_GENERAL1_SMALL"})
    aws.source("app.zip", {"stack.yml": FAILING_STACK, "config.json": "{}"})
    deploy = deploy_action("failing-stack", ["Src"], mode=mode)
    del deploy["configuration"]["ParameterOverrides"]
    first = aws.pipeline("deploys", [{"name": "Source", "actions": [source_action("Fetch", "app.zip", "Src")]},
                                     {"name": "Deploy", "actions": [deploy]}])
    assert aws.finished("deploys", first)["status"] == "Failed"
    message = aws.action("deploys", "Deploy", "DeployStack")["latestExecution"]["errorDetails"]["message"]
    assert message.startswith("Stack failing-stack ROLLBACK_COMPLETE: Project (AWS::CodeBuild::Project): ")
    assert "taken-project already exists" in message

    aws.cloud.backend("codebuild").delete_project("taken-project")
    second = aws.cp.start_pipeline_execution(name="deploys")["pipelineExecutionId"]
    execution = aws.finished("deploys", second)
    message = aws.action("deploys", "Deploy", "DeployStack")["latestExecution"].get("errorDetails", {}).get("message")
    if mode == "CREATE_UPDATE":
        assert execution["status"] == "Failed"
        assert "is in ROLLBACK_COMPLETE state and can not be updated" in message
    else:
        assert execution["status"] == "Succeeded", message
        stack = aws.cfn.describe_stacks(StackName="failing-stack")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        assert codebuild.batch_get_projects(names=["taken-project"])["projects"]
