"""CodePipeline acts as the pipeline's service role: artifacts, sources, builds, invokes and deploys are judged as
that role, and a refusal fails the action with CodePipeline's words and IAM's message."""

import json

import pytest
from testkit.localcloud import (ACCOUNT, ARTIFACTS, REGION, SOURCES, lambda_action, service_role, source_action,
                                trust)

ROLE = f"arn:aws:iam::{ACCOUNT}:role/narrow-pipeline"
REPORTS = '''
import boto3

def lambda_handler(event, context):
    boto3.client("codepipeline").put_job_success_result(jobId=event["CodePipeline.job"]["id"])
'''


def statement(actions, resource):
    return {"Effect": "Allow", "Action": actions, "Resource": resource}


ARTIFACT_ACCESS = [statement(["s3:GetObject", "s3:PutObject"], f"arn:aws:s3:::{ARTIFACTS}/*"),
                   statement(["s3:GetObject", "s3:GetObjectVersion"], f"arn:aws:s3:::{SOURCES}/*")]


def pipeline(aws, name, statements, stages):
    """A pipeline whose role allows only `statements`; the message of its first failed action."""
    if name == "first":
        aws.clients("iam").create_role(RoleName="narrow-pipeline",
                                       AssumeRolePolicyDocument=trust("codepipeline.amazonaws.com"))
    aws.clients("iam").put_role_policy(RoleName="narrow-pipeline", PolicyName="pipeline", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))
    aws.cp.create_pipeline(pipeline={"name": name, "roleArn": ROLE, "stages": stages,
                                     "artifactStore": {"type": "S3", "location": ARTIFACTS}})
    execution = aws.finished(name, aws.cp.list_pipeline_executions(pipelineName=name)
                             ["pipelineExecutionSummaries"][0]["pipelineExecutionId"])
    failed = [a["latestExecution"] for s in aws.cp.get_pipeline_state(name=name)["stageStates"]
              for a in s["actionStates"] if a.get("latestExecution", {}).get("status") == "Failed"]
    return execution["status"], failed[0]["errorDetails"] if failed else None


def refused(action, resource):
    return (f"is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows "
            f"the {action} action")


@pytest.fixture
def source(aws):
    aws.source("app.zip", {"stack.yml": "Resources: {}", "config.json": "{}"})
    return {"name": "Source", "actions": [source_action("Fetch", "app.zip", "Src")]}


def test_artifacts_the_role_may_not_write_fail_the_source_saying_which_bucket(aws, source):
    status, error = pipeline(aws, "first", [statement("s3:GetObject", f"arn:aws:s3:::{SOURCES}/*")], [
        source, {"name": "Then", "actions": [lambda_action("Never", "never")]}])
    assert status == "Failed"
    assert error["code"] == "PermissionError"
    assert error["message"].startswith(
        f"The service role or action role doesn’t have the permissions required to access the Amazon S3 bucket named "
        f"{ARTIFACTS}. Update the IAM role permissions, and then try again. Error: User: arn:aws:sts::{ACCOUNT}:"
        f"assumed-role/narrow-pipeline/"), error["message"]
    assert f'is not authorized to perform: s3:PutObject on resource: "arn:aws:s3:::{ARTIFACTS}/first/Src/' \
        in error["message"]


def test_a_build_and_an_invoke_the_role_may_not_start_fail_with_the_access_denied(aws, source):
    aws.clients("codebuild").create_project(
        name="build", source={"type": "CODEPIPELINE", "location": "none", "buildspec": "version: 0.2"},
        artifacts={"type": "CODEPIPELINE", "location": "pipeline"}, serviceRole=service_role(
            aws.clients, f"arn:aws:iam::{ACCOUNT}:role/build-test", "codebuild.amazonaws.com"),
        environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                     "computeType": "BUILD_GENERAL1_SMALL"})
    build = {"name": "Build", "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild",
                                               "version": "1"},
             "configuration": {"ProjectName": "build"}, "inputArtifacts": [{"name": "Src"}], "runOrder": 1}
    status, error = pipeline(aws, "first", ARTIFACT_ACCESS, [source, {"name": "Build", "actions": [build]}])
    assert status == "Failed"
    assert error["message"].startswith(f"Error calling startBuild: User: arn:aws:sts::{ACCOUNT}:assumed-role/"
                                       f"narrow-pipeline/"), error["message"]
    assert refused("codebuild:StartBuild", f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/build") in error["message"]

    function = aws.function("reports", REPORTS)
    invoke = {"name": "Invoke", "actions": [lambda_action("Report", "reports", ["Src"])]}
    status, error = pipeline(aws, "second", ARTIFACT_ACCESS, [source, invoke])
    assert status == "Failed"
    assert refused("lambda:InvokeFunction", function) in error["message"]
    # The function's resource-based policy may allow the role instead of the role's identity policy.
    aws.clients("lambda").add_permission(FunctionName="reports", StatementId="pipeline", Principal=ROLE,
                                         Action="lambda:InvokeFunction")
    status, error = pipeline(aws, "third", ARTIFACT_ACCESS, [source, invoke])
    assert (status, error) == ("Succeeded", None), error["message"]


def test_a_deploy_role_the_pipeline_may_not_pass_fails_the_deploy_action(aws, source):
    deployer = service_role(aws.clients, f"arn:aws:iam::{ACCOUNT}:role/deploy-test", "cloudformation.amazonaws.com")
    deploy = {"name": "Deploy", "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CloudFormation",
                                                 "version": "1"},
              "configuration": {"ActionMode": "CREATE_UPDATE", "StackName": "deployed", "RoleArn": deployer,
                                "TemplatePath": "Src::stack.yml"},
              "inputArtifacts": [{"name": "Src"}], "runOrder": 1}
    stacks = statement(["cloudformation:CreateStack", "cloudformation:DescribeStacks",
                        "cloudformation:DescribeStackEvents"], "*")
    status, error = pipeline(aws, "first", ARTIFACT_ACCESS + [stacks], [source, {"name": "Deploy",
                                                                                 "actions": [deploy]}])
    assert status == "Failed"
    assert refused("iam:PassRole", deployer) in error["message"]
    with pytest.raises(Exception):
        aws.cfn.describe_stacks(StackName="deployed")


def test_the_job_gives_the_function_a_session_of_the_pipelines_role(aws, source, cloud):
    aws.function("reports", REPORTS)
    events = []
    engine = cloud.service("codepipeline").engine
    original = engine.job_event
    engine.job_event = lambda *args: events.append(original(*args)) or events[-1]
    try:
        status, _ = pipeline(aws, "first", ARTIFACT_ACCESS + [statement("lambda:InvokeFunction", "*")],
                             [source, {"name": "Invoke", "actions": [lambda_action("Report", "reports", ["Src"])]}])
    finally:
        engine.job_event = original
    assert status == "Succeeded"
    credentials = events[0]["CodePipeline.job"]["data"]["artifactCredentials"]
    principal = cloud.service("iam").principal_for_credentials(
        {"AWS_ACCESS_KEY_ID": credentials["accessKeyId"], "AWS_SESSION_TOKEN": credentials["sessionToken"]})
    assert principal.role_arn == ROLE


def test_an_approval_is_announced_on_its_topic_as_the_pipelines_role(aws, source):
    sns, sqs = aws.clients("sns"), aws.clients("sqs")
    topic = sns.create_topic(Name="approvals")["TopicArn"]
    queue = sqs.create_queue(QueueName="approvals")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    approval = {"name": "Check", "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual",
                                                  "version": "1"},
                "configuration": {"NotificationArn": topic, "CustomData": "look at it"}, "runOrder": 1}
    status, error = pipeline(aws, "first", ARTIFACT_ACCESS, [source, {"name": "Approve", "actions": [approval]}])
    assert status == "Failed"
    assert refused("sns:Publish", topic) in error["message"]

    aws.clients("iam").put_role_policy(RoleName="narrow-pipeline", PolicyName="pipeline", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": ARTIFACT_ACCESS + [statement("sns:Publish", topic)]}))
    aws.cp.create_pipeline(pipeline={"name": "second", "roleArn": ROLE, "artifactStore": {
        "type": "S3", "location": ARTIFACTS}, "stages": [source, {"name": "Approve", "actions": [approval]}]})
    token = aws.waiting_token("second", "Approve", "Check")
    [message] = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"]
    announced = json.loads(message["Body"])["approval"]
    assert (announced["pipelineName"], announced["token"], announced["customData"]) == ("second", token, "look at it")
