"""Template transforms on the local cloud: a SAM application deployed through AWS's translator, the refusals
CloudFormation answers (CAPABILITY_AUTO_EXPAND, a translator error), the language extensions, the template stages."""

import json

import pytest
from botocore.exceptions import ClientError

from testkit.localcloud import ARTIFACTS, zip_of
from testkit.waiting import wait_for

HANDLER = '''
import json

def handler(event, context):
    return {"got": event, "function": context.function_name}
'''

SAM_APP = '''
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: two functions on events, a layer, a workflow and a table
Parameters:
  Bucket: {Type: String}
Globals:
  Function:
    Runtime: python3.12
    Timeout: 30
    CodeUri: {Bucket: !Ref Bucket, Key: app.zip}
Resources:
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: {Bucket: !Ref Bucket, Key: layer.zip}
      CompatibleRuntimes: [python3.12]
  Nightly:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: sam-test-nightly
      Handler: lambda.handler
      Layers: [!Ref Shared]
      Policies:
        - S3ReadPolicy: {BucketName: !Ref Bucket}
      Events:
        Every:
          Type: Schedule
          Properties: {Schedule: rate(1 day)}
  OnTraining:
    Type: AWS::Serverless::Function
    Properties:
      Handler: lambda.handler
      Policies: [AWSLambdaBasicExecutionRole]
      Events:
        Done:
          Type: EventBridgeRule
          Properties:
            Pattern: {source: [aws.sagemaker], detail-type: [SageMaker Training Job State Change]}
  Flow:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition:
        StartAt: Call
        States:
          Call: {Type: Task, Resource: "${Fn}", End: true}
      DefinitionSubstitutions: {Fn: !GetAtt Nightly.Arn}
      Policies:
        - LambdaInvokePolicy: {FunctionName: !Ref Nightly}
  Table:
    Type: AWS::Serverless::SimpleTable
Outputs:
  Workflow: {Value: !Ref Flow}
'''


def sam_params():
    return [{"ParameterKey": "Bucket", "ParameterValue": ARTIFACTS}]


def test_a_sam_application_deploys_and_its_resources_answer_through_their_services(aws):
    aws.s3.put_object(Bucket=ARTIFACTS, Key="app.zip", Body=zip_of({"lambda.py": HANDLER}))
    aws.s3.put_object(Bucket=ARTIFACTS, Key="layer.zip", Body=zip_of({"python/shared.py": "VALUE = 1\n"}))
    aws.cfn.create_stack(StackName="sam-app", TemplateBody=SAM_APP, Parameters=sam_params(),
                         Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    stack = aws.stack_done("sam-app", timeout=120)
    assert stack["StackStatus"] == "CREATE_COMPLETE", [e for e in aws.events("sam-app") if "FAILED" in e[1]]
    resources = {r["LogicalResourceId"]: r for r in
                 aws.cfn.list_stack_resources(StackName="sam-app")["StackResourceSummaries"]}
    types = sorted({r["ResourceType"] for r in resources.values()})
    assert types == ["AWS::DynamoDB::Table", "AWS::Events::Rule", "AWS::IAM::Role", "AWS::Lambda::Function",
                     "AWS::Lambda::LayerVersion", "AWS::Lambda::Permission", "AWS::StepFunctions::StateMachine"]

    lam = aws.clients("lambda")
    nightly = lam.get_function(FunctionName="sam-test-nightly")["Configuration"]
    layer = next(r for name, r in resources.items() if name.startswith("Shared"))
    assert [entry["Arn"] for entry in nightly["Layers"]] == [layer["PhysicalResourceId"]]
    answer = json.loads(lam.invoke(FunctionName="sam-test-nightly", Payload=b'{"n": 1}')["Payload"].read())
    assert answer == {"got": {"n": 1}, "function": "sam-test-nightly"}

    # The schedule and the event pattern are EventBridge rules whose target is their function, allowed to invoke it.
    events = aws.clients("events")
    rules = {r["Name"]: r for r in events.list_rules()["Rules"]}
    every = rules[resources["NightlyEvery"]["PhysicalResourceId"]]
    assert every["ScheduleExpression"] == "rate(1 day)"
    done = rules[resources["OnTrainingDone"]["PhysicalResourceId"]]
    assert json.loads(done["EventPattern"])["detail-type"] == ["SageMaker Training Job State Change"]
    targets = events.list_targets_by_rule(Rule=done["Name"])["Targets"]
    on_training = resources["OnTraining"]["PhysicalResourceId"]
    assert [t["Arn"].rsplit(":", 1)[1] for t in targets] == [on_training]
    policy = json.loads(lam.get_policy(FunctionName=on_training)["Policy"])
    assert [s["Principal"] for s in policy["Statement"]] == [{"Service": "events.amazonaws.com"}]

    # The roles: AWS's managed policy attached, the policy template expanded for the bucket.
    iam = aws.clients("iam")
    attached = iam.list_attached_role_policies(RoleName=resources["OnTrainingRole"]["PhysicalResourceId"])
    assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]
    nightly_role = resources["NightlyRole"]["PhysicalResourceId"]
    inline = iam.get_role_policy(RoleName=nightly_role,
                                 PolicyName=iam.list_role_policies(RoleName=nightly_role)["PolicyNames"][0])
    assert f"arn:aws:s3:::{ARTIFACTS}" in json.dumps(inline["PolicyDocument"])

    # The workflow is Step Functions' own, with its substitution made.
    workflow = next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "Workflow")
    machine = aws.clients("stepfunctions").describe_state_machine(stateMachineArn=workflow)
    assert json.loads(machine["definition"])["States"]["Call"]["Resource"] == nightly["FunctionArn"]
    assert aws.clients("dynamodb").describe_table(
        TableName=resources["Table"]["PhysicalResourceId"])["Table"]["TableStatus"] == "ACTIVE"

    original = aws.cfn.get_template(StackName="sam-app")
    assert original["TemplateBody"] == SAM_APP and original["StagesAvailable"] == ["Original", "Processed"]
    processed = aws.cfn.get_template(StackName="sam-app", TemplateStage="Processed")["TemplateBody"]
    assert "Transform" not in processed and processed["Resources"]["Nightly"]["Type"] == "AWS::Lambda::Function"

    aws.cfn.delete_stack(StackName="sam-app")
    wait_for(lambda: not aws.cfn.list_stacks(StackStatusFilter=["CREATE_COMPLETE", "DELETE_IN_PROGRESS"])
                 ["StackSummaries"], timeout=60, what="the stack to be deleted")
    assert [s["StackStatus"] for s in aws.cfn.list_stacks()["StackSummaries"]] == ["DELETE_COMPLETE"]
    assert aws.clients("stepfunctions").list_state_machines()["stateMachines"] == []
    assert [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("sam-app")] == []


def test_a_transformed_template_is_refused_as_cloudformation_refuses_it(aws):
    cases = [
        (dict(TemplateBody=SAM_APP, Parameters=sam_params(), Capabilities=["CAPABILITY_IAM"]),
         "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_AUTO_EXPAND]"),
        # The IAM capability is still needed for the roles the transform makes.
        (dict(TemplateBody=SAM_APP, Parameters=sam_params(), Capabilities=["CAPABILITY_AUTO_EXPAND"]),
         "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_IAM]"),
        (dict(TemplateBody=SAM_APP.replace("CodeUri: {Bucket: !Ref Bucket, Key: app.zip}",
                                           "CodeUri: !Sub s3://${Bucket}/app.zip"),
              Parameters=sam_params(), Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]),
         "ValidationError", "Transform AWS::Serverless-2016-10-31 failed with: Invalid Serverless Application "
                            "Specification document. Number of errors found: 2. Resource with id [Nightly] is "
                            "invalid. 'CodeUri' requires Bucket and Key properties to be specified."),
        (dict(TemplateBody="Transform: Nothing::Here\nResources: {Q: {Type: AWS::SQS::Queue}}",
              Capabilities=["CAPABILITY_AUTO_EXPAND"]),
         "ValidationError", "No transform named 123456789012::Nothing::Here found."),
    ]
    for request, code, message in cases:
        with pytest.raises(ClientError) as error:
            aws.cfn.create_stack(StackName="refused", **request)
        assert (error.value.response["Error"]["Code"], error.value.response["Error"]["Message"][:len(message)]) \
            == (code, message)
    assert aws.cfn.describe_stacks()["Stacks"] == []

    # A change set needs no CAPABILITY_AUTO_EXPAND: it is how CloudFormation lets the processed template be reviewed.
    aws.cfn.create_change_set(StackName="reviewed", ChangeSetName="first", TemplateBody=SAM_APP,
                              Parameters=sam_params(), Capabilities=["CAPABILITY_IAM"], ChangeSetType="CREATE")
    change_set = aws.cfn.describe_change_set(StackName="reviewed", ChangeSetName="first")
    assert "AWS::Lambda::Function" in {c["ResourceChange"]["ResourceType"] for c in change_set["Changes"]}
    assert aws.cfn.get_template(StackName="reviewed")["TemplateBody"] == SAM_APP

    validated = aws.cfn.validate_template(TemplateBody=SAM_APP)
    assert validated["DeclaredTransforms"] == ["AWS::Serverless-2016-10-31"]
    assert validated["Capabilities"] == ["CAPABILITY_AUTO_EXPAND"]
    assert [p["ParameterKey"] for p in validated["Parameters"]] == ["Bucket"]


EXTENDED = '''
Transform: AWS::LanguageExtensions
Parameters:
  Stages: {Type: CommaDelimitedList, Default: "dev,prd"}
  Keep: {Type: String, Default: "yes", AllowedValues: ["yes", "no"]}
Conditions:
  Keeping: !Equals [!Ref Keep, "yes"]
Mappings:
  Sizes:
    dev: {Instance: ml.t2.medium}
Resources:
  Fn::ForEach::Stages:
    - Stage
    - !Ref Stages
    - Setting${Stage}:
        Type: AWS::SSM::Parameter
        DeletionPolicy: !If [Keeping, Retain, Delete]
        Properties:
          Name: !Sub /extended/${Stage}
          Type: String
          Value: !ToJsonString
            stage: !Ref Stage
            count: !Length [a, b, c]
            instance: !FindInMap [Sizes, !Ref Stage, Instance, {DefaultValue: ml.m5.large}]
Outputs:
  Fn::ForEach::Names:
    - Stage
    - !Ref Stages
    - Name${Stage}: {Value: {Ref: !Sub "Setting${Stage}"}}
'''


def test_language_extensions_expand_loops_and_resolve_their_functions_before_the_stack_builds(aws):
    aws.cfn.create_stack(StackName="extended", TemplateBody=EXTENDED, Capabilities=["CAPABILITY_AUTO_EXPAND"])
    stack = aws.stack_done("extended")
    assert stack["StackStatus"] == "CREATE_COMPLETE", [e for e in aws.events("extended") if "FAILED" in e[1]]
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]} == {
        "Namedev": "/extended/dev", "Nameprd": "/extended/prd"}
    ssm = aws.clients("ssm")
    values = {p["Name"]: json.loads(p["Value"]) for p in
              ssm.get_parameters(Names=["/extended/dev", "/extended/prd"])["Parameters"]}
    assert values == {"/extended/dev": {"stage": "dev", "count": 3, "instance": "ml.t2.medium"},
                      "/extended/prd": {"stage": "prd", "count": 3, "instance": "ml.m5.large"}}
    assert ssm.get_parameter(Name="/extended/dev")["Parameter"]["Value"] == \
        '{"stage":"dev","count":3,"instance":"ml.t2.medium"}'
    # DeletionPolicy resolved to Retain: the parameters outlive the stack.
    aws.cfn.delete_stack(StackName="extended")
    wait_for(lambda: aws.cfn.list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"],
             what="the stack to be deleted")
    assert len(ssm.get_parameters(Names=["/extended/dev", "/extended/prd"])["Parameters"]) == 2
    assert ("Settingdev", "DELETE_SKIPPED") in [e[:2] for e in aws.events(stack["StackId"])]

    with pytest.raises(ClientError) as error:
        aws.cfn.create_stack(StackName="broken", TemplateBody=EXTENDED.replace("!Ref Stages", "!GetAtt X.Y", 1),
                             Capabilities=["CAPABILITY_AUTO_EXPAND"])
    assert error.value.response["Error"]["Message"].startswith(
        "Transform AWS::LanguageExtensions failed with: Fn::ForEach::Stages: the collection must resolve")
