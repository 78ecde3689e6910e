"""CloudFormation on the local cloud: resource events, rollbacks, custom resources that run their function,
the pipeline and CodeBuild resource types, updates and deletes."""


import json

import pytest
from botocore.exceptions import ClientError
from testkit.localcloud import ARTIFACTS, LAMBDA_ROLE, SOURCES, files_of, zip_of
from testkit.shapes import missing_members
from testkit.waiting import wait_for

# Answers every request on its ResponseURL: Create/Update with data, Delete by recording the call in S3.
GROUP = '''
import json, urllib.request
import boto3

def lambda_handler(event, context):
    props = event["ResourceProperties"]
    if event["RequestType"] == "Delete":
        boto3.client("s3").put_object(Bucket=props["Bucket"], Key="deleted/" + event["PhysicalResourceId"],
                                      Body=json.dumps(event).encode())
        status, data, physical = "SUCCESS", {}, event["PhysicalResourceId"]
    elif props["GroupName"] == "taken":
        status, data, physical = "FAILED", {}, "failed-" + event["RequestId"]
    else:
        status, physical = "SUCCESS", "group-" + props["GroupName"]
        data = {"Name": physical, "Size": props["Size"], "Kind": type(props["Size"]).__name__,
                "Request": event["RequestType"], "Old": event.get("OldResourceProperties", {}).get("GroupName", "")}
    body = json.dumps({"Status": status, "Reason": "group name is taken" if status == "FAILED" else "done",
                       "PhysicalResourceId": physical, "StackId": event["StackId"], "RequestId": event["RequestId"],
                       "LogicalResourceId": event["LogicalResourceId"], "Data": data}).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    urllib.request.urlopen(request, timeout=10).read()
'''

CRASHES = '''
def lambda_handler(event, context):
    raise RuntimeError("cannot reach the model registry")
'''

CUSTOM_STACK = '''
Parameters:
  GroupName: {Type: String, AllowedPattern: "^[a-z]+$", ConstraintDescription: lower-case letters only}
  Token: {Type: String}
  Bucket: {Type: String}
Resources:
  Before:
    Type: AWS::SSM::Parameter
    Properties: {Name: /cfn-test/before, Type: String, Value: first}
  Group:
    Type: Custom::ModelPackageGroup
    DependsOn: Before
    Properties: {ServiceToken: !Ref Token, GroupName: !Ref GroupName, Size: 3, Bucket: !Ref Bucket}
  After:
    Type: AWS::SSM::Parameter
    Properties: {Name: /cfn-test/after, Type: String, Value: !GetAtt Group.Name}
Outputs:
  GroupName: {Value: !GetAtt Group.Name}
  Size: {Value: !GetAtt Group.Kind}
  Request: {Value: !Sub "${Group.Request}:${Group.Old}"}
'''


def params(**values):
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def test_a_custom_resource_runs_its_function_for_create_update_and_delete(aws):
    token = aws.function("group", GROUP)
    ssm = aws.clients("ssm")
    stack_id = aws.cfn.create_stack(StackName="custom", TemplateBody=CUSTOM_STACK,
                                    Parameters=params(GroupName="abalone", Token=token, Bucket=ARTIFACTS))["StackId"]
    stack = aws.stack_done("custom")
    assert stack["StackStatus"] == "CREATE_COMPLETE", [e for e in aws.events("custom") if "FAILED" in e[1]]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs == {"GroupName": "group-abalone", "Size": "str", "Request": "Create:"}
    assert ssm.get_parameter(Name="/cfn-test/after")["Parameter"]["Value"] == "group-abalone"
    assert [e[:2] for e in aws.events("custom")] == [
        ("custom", "CREATE_IN_PROGRESS"),
        ("Before", "CREATE_IN_PROGRESS"), ("Before", "CREATE_COMPLETE"),
        ("Group", "CREATE_IN_PROGRESS"), ("Group", "CREATE_COMPLETE"),
        ("After", "CREATE_IN_PROGRESS"), ("After", "CREATE_COMPLETE"),
        ("custom", "CREATE_COMPLETE")]
    resources = aws.cfn.list_stack_resources(StackName="custom")["StackResourceSummaries"]
    assert {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}["Group"] == "group-abalone"

    # A new group name: an Update request, a new physical id, and a Delete of the old one in the cleanup.
    aws.cfn.update_stack(StackName="custom", TemplateBody=CUSTOM_STACK,
                         Parameters=params(GroupName="mussel", Token=token, Bucket=ARTIFACTS))
    stack = aws.stack_done("custom")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", [e for e in aws.events("custom") if "FAILED" in e[1]]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["GroupName"] == "group-mussel" and outputs["Request"] == "Update:abalone"
    assert ssm.get_parameter(Name="/cfn-test/after")["Parameter"]["Value"] == "group-mussel"
    deleted = aws.s3.list_objects_v2(Bucket=ARTIFACTS, Prefix="deleted/")["Contents"]
    assert [o["Key"] for o in deleted] == ["deleted/group-abalone"]
    update_events = aws.events("custom")[8:]
    assert ("Before", "UPDATE_IN_PROGRESS") not in [e[:2] for e in update_events], "an unchanged resource was updated"
    assert [e[1] for e in update_events if e[0] == "custom"] == [
        "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE"]

    with pytest.raises(ClientError) as same:
        aws.cfn.update_stack(StackName="custom", TemplateBody=CUSTOM_STACK,
                             Parameters=params(GroupName="mussel", Token=token, Bucket=ARTIFACTS))
    assert "No updates are to be performed" in str(same.value)

    aws.cfn.delete_stack(StackName="custom")
    assert wait_for(lambda: aws.cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
                        == "DELETE_COMPLETE", what="the stack to be deleted")
    deleted = aws.s3.list_objects_v2(Bucket=ARTIFACTS, Prefix="deleted/")["Contents"]
    assert sorted(o["Key"] for o in deleted) == ["deleted/group-abalone", "deleted/group-mussel"]
    assert ssm.describe_parameters()["Parameters"] == []
    with pytest.raises(ClientError):
        aws.cfn.describe_stacks(StackName="custom")


def test_a_failed_custom_resource_fails_the_stack_with_its_reason_and_rolls_back(aws):
    token = aws.function("group", GROUP)
    aws.cfn.create_stack(StackName="taken", TemplateBody=CUSTOM_STACK,
                         Parameters=params(GroupName="taken", Token=token, Bucket=ARTIFACTS))
    stack = aws.stack_done("taken")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = aws.events("taken")
    failed = [e for e in events if e[1] == "CREATE_FAILED"]
    assert failed[0][0] == "Group" and "group name is taken" in failed[0][2]
    assert ("taken", "ROLLBACK_IN_PROGRESS") in [e[:2] for e in events]
    assert ("Before", "DELETE_COMPLETE") in [e[:2] for e in events]
    assert "After" not in [e[0] for e in events], "a resource after the failed one was built"
    assert aws.clients("ssm").describe_parameters()["Parameters"] == []
    with pytest.raises(ClientError) as update:
        aws.cfn.update_stack(StackName="taken", TemplateBody=CUSTOM_STACK, UsePreviousTemplate=False,
                             Parameters=params(GroupName="other", Token=token, Bucket=ARTIFACTS))
    assert "ROLLBACK_COMPLETE state and can not be updated" in str(update.value)

    # With rollback turned off the stack stops at CREATE_FAILED and keeps what it built.
    aws.cfn.create_stack(StackName="kept", TemplateBody=CUSTOM_STACK, OnFailure="DO_NOTHING",
                         Parameters=params(GroupName="taken", Token=token, Bucket=ARTIFACTS))
    assert aws.stack_done("kept")["StackStatus"] == "CREATE_FAILED"
    assert aws.clients("ssm").get_parameter(Name="/cfn-test/before")["Parameter"]["Value"] == "first"

    # A function that crashes without answering fails the resource with its error instead of hanging.
    crash = aws.function("crash", CRASHES)
    aws.cfn.create_stack(StackName="crashed", TemplateBody=CUSTOM_STACK.replace("/cfn-test/", "/cfn-crash/"),
                         Parameters=params(GroupName="abalone", Token=crash, Bucket=ARTIFACTS))
    assert aws.stack_done("crashed")["StackStatus"] == "ROLLBACK_COMPLETE"
    reason = next(e[2] for e in aws.events("crashed") if e[1] == "CREATE_FAILED")
    assert "failed without sending a response" in reason and "cannot reach the model registry" in reason


def test_templates_are_checked_as_cloudformation_checks_them(aws):
    token = aws.function("group", GROUP)
    cases = [
        (dict(StackName="bad", TemplateBody=CUSTOM_STACK,
              Parameters=params(GroupName="Abalone", Token=token, Bucket=ARTIFACTS)),
         "ValidationError", "Parameter 'GroupName' failed to satisfy constraint: lower-case letters only"),
        (dict(StackName="bad", TemplateBody=CUSTOM_STACK, Parameters=params(GroupName="abalone")),
         "ValidationError", "Parameters: [Token, Bucket] must have values"),
        (dict(StackName="bad", TemplateBody="Resources: {R: {Type: AWS::Nothing::Here}}"),
         "ValidationError", "Unrecognized resource types: [AWS::Nothing::Here]"),
        (dict(StackName="bad", TemplateBody=ROLE_STACK),
         "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_NAMED_IAM]"),
        (dict(StackName="1bad", TemplateBody=ROLE_STACK, Capabilities=["CAPABILITY_NAMED_IAM"]),
         "ValidationError", "stackName"),
    ]
    for request, code, message in cases:
        with pytest.raises(ClientError) as error:
            aws.cfn.create_stack(**request)
        assert error.value.response["Error"]["Code"] == code
        assert message in error.value.response["Error"]["Message"]
    assert aws.cfn.describe_stacks()["Stacks"] == []


ROLE_STACK = '''
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      RoleName: cfn-test-role
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Principal: {Service: codepipeline.amazonaws.com}, Action: sts:AssumeRole}]
'''

PIPELINE_STACK = '''
Parameters:
  Sources: {Type: String}
  Artifacts: {Type: String}
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      RoleName: cfn-test-pipeline
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Principal: {Service: [codepipeline.amazonaws.com, codebuild.amazonaws.com]},
             Action: sts:AssumeRole}
      # What the pipeline and its build do with this role: their logs, the source and artifact buckets, the build.
      Policies:
        - PolicyName: pipeline-and-build
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - {Effect: Allow, Action: [logs:CreateLogGroup, logs:CreateLogStream, logs:PutLogEvents], Resource: "*"}
              - Effect: Allow
                Action: [s3:GetObject, s3:GetObjectVersion, s3:PutObject, s3:GetBucketVersioning, s3:ListBucket]
                Resource:
                  - !Sub arn:aws:s3:::${Sources}
                  - !Sub arn:aws:s3:::${Sources}/*
                  - !Sub arn:aws:s3:::${Artifacts}
                  - !Sub arn:aws:s3:::${Artifacts}/*
              - {Effect: Allow, Action: [codebuild:StartBuild, codebuild:BatchGetBuilds], Resource: "*"}
  Project:
    Type: AWS::CodeBuild::Project
    Properties:
      Name: cfn-test-build
      ServiceRole: !GetAtt Role.Arn
      Artifacts: {Type: CODEPIPELINE}
      Environment:
        Type: LINUX_CONTAINER
        ComputeType: BUILD_GENERAL1_SMALL
        Image: aws/codebuild/standard:7.0
        EnvironmentVariables:
          - {Name: GREETING, Value: hello}
      Source:
        Type: CODEPIPELINE
        BuildSpec: |
          version: 0.2
          phases:
            build:
              commands:
                - echo "$GREETING from $(cat name.txt)" > greeting.txt
          artifacts:
            files: [greeting.txt]
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Name: !Sub ${AWS::StackName}-pipeline
      RoleArn: !GetAtt Role.Arn
      ArtifactStore: {Type: S3, Location: !Ref Artifacts}
      Stages:
        - Name: Source
          Actions:
            - Name: Fetch
              ActionTypeId: {Category: Source, Owner: AWS, Provider: S3, Version: "1"}
              Configuration: {S3Bucket: !Ref Sources, S3ObjectKey: code.zip, PollForSourceChanges: false}
              OutputArtifacts: [{Name: Code}]
        - Name: Build
          Actions:
            - Name: Greet
              ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: "1"}
              Configuration: {ProjectName: !Ref Project}
              InputArtifacts: [{Name: Code}]
              OutputArtifacts: [{Name: Greeting}]
Outputs:
  PipelineName: {Value: !Ref Pipeline}
  PipelineVersion: {Value: !GetAtt Pipeline.Version}
  ProjectArn: {Value: !GetAtt Project.Arn}
'''


def test_a_pipeline_stack_builds_the_pipeline_and_project_runs_it_and_deletes_them(aws):
    aws.source("code.zip", {"name.txt": "the stack"})
    aws.cfn.create_stack(StackName="cfn-test", TemplateBody=PIPELINE_STACK, Capabilities=["CAPABILITY_NAMED_IAM"],
                         Parameters=params(Sources=SOURCES, Artifacts=ARTIFACTS))
    stack = aws.stack_done("cfn-test")
    assert stack["StackStatus"] == "CREATE_COMPLETE", [e for e in aws.events("cfn-test") if "FAILED" in e[1]]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs == {"PipelineName": "cfn-test-pipeline", "PipelineVersion": "1",
                       "ProjectArn": "arn:aws:codebuild:us-east-1:123456789012:project/cfn-test-build"}
    pipeline = aws.cp.get_pipeline(name="cfn-test-pipeline")["pipeline"]
    assert [s["name"] for s in pipeline["stages"]] == ["Source", "Build"]
    assert pipeline["stages"][0]["actions"][0]["configuration"]["PollForSourceChanges"] == "false"
    project = aws.clients("codebuild").batch_get_projects(names=["cfn-test-build"])["projects"][0]
    assert project["environment"]["environmentVariables"] == [{"name": "GREETING", "value": "hello"}]

    # As on AWS, creating the pipeline started its first execution.
    execution_id = wait_for(lambda: aws.cp.list_pipeline_executions(pipelineName="cfn-test-pipeline")
                                ["pipelineExecutionSummaries"], what="the first execution")[0]["pipelineExecutionId"]
    assert aws.finished("cfn-test-pipeline", execution_id, timeout=120)["status"] == "Succeeded"
    details = aws.cp.list_action_executions(pipelineName="cfn-test-pipeline")["actionExecutionDetails"]
    greeting = next(d for d in details if d["actionName"] == "Greet")["output"]["outputArtifacts"][0]["s3location"]
    built = files_of(aws.s3.get_object(Bucket=greeting["bucket"], Key=greeting["key"])["Body"].read())
    assert built == {"greeting.txt": "hello from the stack\n"}

    aws.cfn.delete_stack(StackName="cfn-test")
    wait_for(lambda: not aws.cfn.list_stacks(StackStatusFilter=["CREATE_COMPLETE", "DELETE_IN_PROGRESS"])
                 ["StackSummaries"], what="the stack to be deleted")
    deleted = aws.cfn.list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"]
    assert [s["StackName"] for s in deleted] == ["cfn-test"]
    with pytest.raises(ClientError) as gone:
        aws.cp.get_pipeline(name="cfn-test-pipeline")
    assert gone.value.response["Error"]["Code"] == "PipelineNotFoundException"
    assert aws.clients("codebuild").batch_get_projects(names=["cfn-test-build"])["projects"] == []
    assert [r["RoleName"] for r in aws.clients("iam").list_roles()["Roles"]
            if r["RoleName"].startswith("cfn-test")] == []


DEFAULTED = '''
Parameters:
  Value: {Type: String}
  Threshold: {Type: Number, Default: 2.5}
Resources:
  Parameter:
    Type: AWS::SSM::Parameter
    Properties: {Name: /cfn-test/defaulted, Type: String, Value: !Sub "${Value}/${Threshold}"}
'''


def test_a_parameter_left_at_its_default_is_kept_by_use_previous_value_and_counts_as_unchanged(aws):
    aws.cfn.create_stack(StackName="defaulted", TemplateBody=DEFAULTED,
                         Parameters=[{"ParameterKey": "Value", "ParameterValue": "a"}])
    assert aws.stack_done("defaulted")["StackStatus"] == "CREATE_COMPLETE"
    for threshold in ({"ParameterValue": "2.5"}, {"UsePreviousValue": True}):
        with pytest.raises(ClientError, match="No updates are to be performed"):
            aws.cfn.update_stack(StackName="defaulted", TemplateBody=DEFAULTED,
                                 Parameters=[{"ParameterKey": "Value", "UsePreviousValue": True},
                                             {"ParameterKey": "Threshold", **threshold}])
    aws.cfn.update_stack(StackName="defaulted", TemplateBody=DEFAULTED,
                         Parameters=[{"ParameterKey": "Value", "ParameterValue": "b"},
                                     {"ParameterKey": "Threshold", "UsePreviousValue": True}])
    stack = aws.stack_done("defaulted")
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert aws.clients("ssm").get_parameter(Name="/cfn-test/defaulted")["Parameter"]["Value"] == "b/2.5"
    with pytest.raises(ClientError, match="Other"):
        aws.cfn.update_stack(StackName="defaulted", TemplateBody=DEFAULTED,
                             Parameters=[{"ParameterKey": "Value", "ParameterValue": "c"},
                                         {"ParameterKey": "Other", "UsePreviousValue": True}])


LOGGED_STACK = '''
Parameters:
  Bucket: {Type: String}
  Key: {Type: String}
  Role: {Type: String}
Resources:
  Logs:
    Type: AWS::Logs::LogGroup
    Properties: {LogGroupName: /mlops/logged/lambda, RetentionInDays: 30}
  Function:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: logged-function
      Runtime: python3.12
      Handler: lambda.lambda_handler
      Role: !Ref Role
      Code: {S3Bucket: !Ref Bucket, S3Key: !Ref Key}
      LoggingConfig: {LogGroup: !Ref Logs}
'''


def test_stack_resources_answer_their_own_status_and_times_and_a_functions_logging_config_is_kept(aws):
    aws.clients("s3").put_object(Bucket=ARTIFACTS, Key="logged.zip", Body=zip_of({"lambda.py": CRASHES}))
    aws.cfn.create_stack(StackName="logged", TemplateBody=LOGGED_STACK,
                         Parameters=params(Bucket=ARTIFACTS, Key="logged.zip", Role=LAMBDA_ROLE))
    stack = aws.stack_done("logged")
    assert stack["StackStatus"] == "CREATE_COMPLETE", [e for e in aws.events("logged") if "FAILED" in e[1]]
    detail = aws.cfn.describe_stack_resource(StackName="logged", LogicalResourceId="Function")
    assert missing_members("cloudformation", "DescribeStackResource", detail) == []
    detail = detail["StackResourceDetail"]
    assert detail["ResourceStatus"] == "CREATE_COMPLETE"
    assert stack["CreationTime"] <= detail["LastUpdatedTimestamp"]
    [listed] = [r for r in aws.cfn.describe_stack_resources(StackName="logged")["StackResources"]
                if r["LogicalResourceId"] == "Function"]
    assert listed["Timestamp"] == detail["LastUpdatedTimestamp"]

    config = aws.clients("lambda").get_function_configuration(FunctionName="logged-function")
    assert config["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/mlops/logged/lambda"}


UNNAMED_FUNCTION = '''
Parameters:
  Bucket: {Type: String}
  Key: {Type: String}
  Role: {Type: String}
  Version: {Type: String}
Resources:
  Function:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: lambda.lambda_handler
      Role: !Ref Role
      Code: {S3Bucket: !Ref Bucket, S3Key: !Ref Key, S3ObjectVersion: !Ref Version}
Outputs:
  Arn: {Value: !GetAtt Function.Arn}
'''


def test_new_code_updates_a_function_whose_name_cloudformation_made_in_place(aws):
    s3 = aws.clients("s3")
    s3.put_bucket_versioning(Bucket=ARTIFACTS, VersioningConfiguration={"Status": "Enabled"})

    def deploy(answer: str, verb) -> str:
        version = s3.put_object(Bucket=ARTIFACTS, Key="unnamed.zip", Body=zip_of(
            {"lambda.py": f"def lambda_handler(event, context):\n    return {answer!r}\n"}))["VersionId"]
        verb(StackName="unnamed", TemplateBody=UNNAMED_FUNCTION,
             Parameters=params(Bucket=ARTIFACTS, Key="unnamed.zip", Role=LAMBDA_ROLE, Version=version))
        stack = aws.stack_done("unnamed")
        assert stack["StackStatus"].endswith("_COMPLETE") and "ROLLBACK" not in stack["StackStatus"]
        return stack["Outputs"][0]["OutputValue"]

    first = deploy("one", aws.cfn.create_stack)
    second = deploy("two", aws.cfn.update_stack)
    assert second == first  # Code: "Update requires: No interruption", so the name and ARN stay
    answer = aws.clients("lambda").invoke(FunctionName=second)["Payload"].read()
    assert json.loads(answer) == "two"
    assert [f["FunctionArn"] for f in aws.clients("lambda").list_functions()["Functions"]] == [first]
