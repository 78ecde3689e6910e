"""A stack acts as its service role (RoleARN), else as whoever began the operation: what moto creates itself is
judged first (permissions.py), what the local cloud provides calls the APIs with those credentials, and a refusal
fails the resource with the handler's AccessDenied, as CloudFormation reports it."""

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from mlops_workshop.localcloud.cloudformation.permissions import handler_permissions, needs
from testkit.localcloud import ACCOUNT, REGION, allow, service_role, trust, zip_of
from testkit.waiting import wait_for

DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/deployer"
FUNCTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/stack-function"

ROLE_STACK = '''
Resources:
  Made:
    Type: AWS::IAM::Role
    Properties:
      RoleName: made-by-the-stack
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
      Policies:
        - PolicyName: logs
          PolicyDocument: {Statement: [{Effect: Allow, Action: logs:PutLogEvents, Resource: "*"}]}
'''

FUNCTION_STACK = f'''
Resources:
  Function:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: stack-function
      Runtime: python3.12
      Handler: lambda.lambda_handler
      Role: {FUNCTION_ROLE}
      Code: {{S3Bucket: stack-code, S3Key: code/fn.zip}}
'''

MODEL_STACK = f'''
Resources:
  Model:
    Type: AWS::SageMaker::Model
    Properties:
      ModelName: from-the-stack
      ExecutionRoleArn: arn:aws:iam::{ACCOUNT}:role/sagemaker-role
      PrimaryContainer: {{Image: {ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/abalone:latest}}
'''


def deployer(clients, *actions):
    """The stacks' service role, allowed `actions` (and to describe what it makes)."""
    return service_role(clients, DEPLOYER, "cloudformation.amazonaws.com",
                        [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}])


def failure(aws, name):
    return next(reason for _, status, reason in aws.events(name) if status == "CREATE_FAILED")


def denial(action, resource, session=f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/AWSCloudFormation"):
    return (f'Resource handler returned message: "User: {session} is not authorized to perform: {action} on '
            f'resource: {resource} because no identity-based policy allows the {action} action (Service: ')


def test_a_role_the_stacks_role_may_not_create_fails_and_is_not_made(aws, clients):
    role = deployer(clients, "iam:GetRole", "iam:PutRolePolicy")
    aws.cfn.create_stack(StackName="roles", TemplateBody=ROLE_STACK, RoleARN=role,
                         Capabilities=["CAPABILITY_NAMED_IAM"])
    assert aws.stack_done("roles")["StackStatus"] == "ROLLBACK_COMPLETE"
    assert failure(aws, "roles").startswith(denial("iam:CreateRole",
                                                   f"arn:aws:iam::{ACCOUNT}:role/made-by-the-stack"))
    with pytest.raises(ClientError):
        clients("iam").get_role(RoleName="made-by-the-stack")


def test_the_stacks_role_creates_what_it_may_and_its_decisions_are_its_roles(aws, clients, cloud):
    role = deployer(clients, "iam:CreateRole", "iam:GetRole", "iam:PutRolePolicy", "iam:ListRolePolicies",
                    "iam:ListAttachedRolePolicies", "iam:DeleteRolePolicy", "iam:DeleteRole")
    aws.cfn.create_stack(StackName="roles", TemplateBody=ROLE_STACK, RoleARN=role,
                         Capabilities=["CAPABILITY_NAMED_IAM"])
    assert aws.stack_done("roles")["StackStatus"] == "CREATE_COMPLETE"
    assert clients("iam").get_role_policy(RoleName="made-by-the-stack", PolicyName="logs")
    aws.cfn.delete_stack(StackName="roles")
    wait_for(lambda: not aws.cfn.list_stacks(StackStatusFilter=["DELETE_IN_PROGRESS", "CREATE_COMPLETE"])
             ["StackSummaries"], what="the stack to be deleted")
    with pytest.raises(ClientError):
        clients("iam").get_role(RoleName="made-by-the-stack")
    used = {d["action"] for d in cloud.service("iam").decisions(role) if d["allowed"]}
    assert {"iam:CreateRole", "iam:PutRolePolicy", "iam:GetRole", "iam:ListRolePolicies", "iam:DeleteRolePolicy",
            "iam:DeleteRole"} <= used


def test_a_function_needs_the_role_passed_and_its_package_read(aws, clients):
    clients("iam").create_role(RoleName="stack-function", AssumeRolePolicyDocument=trust("lambda.amazonaws.com"))
    aws.s3.create_bucket(Bucket="stack-code")
    aws.s3.put_object(Bucket="stack-code", Key="code/fn.zip", Body=zip_of({"lambda.py": "def lambda_handler(e, c): 1"}))
    role = deployer(clients, "lambda:CreateFunction", "lambda:GetFunction", "lambda:DeleteFunction")
    aws.cfn.create_stack(StackName="fn", TemplateBody=FUNCTION_STACK, RoleARN=role)
    aws.stack_done("fn")
    assert failure(aws, "fn").startswith(denial("iam:PassRole", FUNCTION_ROLE))
    clients("iam").put_role_policy(RoleName="deployer", PolicyName="pass", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": FUNCTION_ROLE,
                       "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}}]}))
    aws.cfn.delete_stack(StackName="fn")
    wait_for(lambda: not aws.cfn.list_stacks(StackStatusFilter=["DELETE_IN_PROGRESS", "ROLLBACK_COMPLETE"])
             ["StackSummaries"], what="the failed stack to be deleted")
    aws.cfn.create_stack(StackName="fn", TemplateBody=FUNCTION_STACK, RoleARN=role)
    aws.stack_done("fn")
    assert failure(aws, "fn").startswith(
        'Resource handler returned message: "Your access has been denied by S3, please make sure your request '
        'credentials have permission to GetObject for stack-code/code/fn.zip. S3 Error Code: AccessDenied. S3 Error '
        'Message: Access Denied (Service: Lambda, Status Code: 403, Request ID: ')


def test_a_stack_without_a_role_acts_as_its_caller(aws, clients, cloud):
    iam = clients("iam")
    caller = iam.create_role(RoleName="stack-caller", AssumeRolePolicyDocument=json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName="stack-caller", PolicyName="stacks", PolicyDocument=allow(
        "cloudformation:CreateStack", "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents",
        "ssm:PutParameter", "ssm:DeleteParameter"))
    session = clients("sts").assume_role(RoleArn=caller["Role"]["Arn"], RoleSessionName="me")["Credentials"]
    cfn = boto3.client("cloudformation", endpoint_url=cloud.endpoint_url, region_name=REGION,
                       aws_access_key_id=session["AccessKeyId"], aws_secret_access_key=session["SecretAccessKey"],
                       aws_session_token=session["SessionToken"])
    cfn.create_stack(StackName="as-caller", TemplateBody='''
Resources:
  Setting:
    Type: AWS::SSM::Parameter
    Properties: {Name: /as-caller/setting, Type: String, Value: kept}
  Bucket:
    Type: AWS::S3::Bucket
    DependsOn: Setting
    Properties: {BucketName: as-caller-bucket}
''')
    assert aws.stack_done("as-caller")["StackStatus"] == "ROLLBACK_COMPLETE"
    assert failure(aws, "as-caller").startswith(denial(
        "s3:CreateBucket", "arn:aws:s3:::as-caller-bucket",
        f"arn:aws:sts::{ACCOUNT}:assumed-role/stack-caller/me"))
    assert any(d["action"] == "ssm:PutParameter" and d["allowed"]
               for d in cloud.service("iam").decisions(caller["Role"]["Arn"]))


def test_what_the_local_cloud_provides_calls_the_api_as_the_stacks_role(aws, clients):
    clients("iam").create_role(RoleName="sagemaker-role", AssumeRolePolicyDocument=trust("sagemaker.amazonaws.com"))
    role = deployer(clients, "sagemaker:DescribeModel", "iam:PassRole")
    aws.cfn.create_stack(StackName="model", TemplateBody=MODEL_STACK, RoleARN=role)
    aws.stack_done("model")
    assert failure(aws, "model").startswith(denial(
        "sagemaker:CreateModel", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/from-the-stack"))


def test_the_calls_named_for_moto_made_types_are_their_handlers_permissions():
    for verb in ("create", "update", "delete"):
        listed = set(handler_permissions("AWS::IAM::Role", verb))
        props = {"Policies": [{"PolicyName": "p"}], "ManagedPolicyArns": ["arn:aws:iam::aws:policy/x"],
                 "Tags": [{"Key": "k", "Value": "v"}]}
        named = {need[0] for need in needs("AWS::IAM::Role", verb, "name", props, None)}
        assert named and named <= listed, (verb, named - listed)
    assert needs("AWS::Events::Rule", "create", "rule", {}, "Name")[0][0] == "events:PutRule"
    assert needs("AWS::Logs::LogGroup", "delete", "group", {}, "LogGroupName")[0][0] == "logs:DeleteLogGroup"


def test_a_roles_update_calls_only_for_what_changed(aws, clients):
    role = deployer(clients, "iam:CreateRole", "iam:GetRole", "iam:PutRolePolicy")
    aws.cfn.create_stack(StackName="roles", TemplateBody=ROLE_STACK, RoleARN=role,
                         Capabilities=["CAPABILITY_NAMED_IAM"])
    assert aws.stack_done("roles")["StackStatus"] == "CREATE_COMPLETE"
    aws.cfn.update_stack(StackName="roles", TemplateBody=ROLE_STACK.replace("logs:PutLogEvents", "logs:*"),
                         RoleARN=role, Capabilities=["CAPABILITY_NAMED_IAM"])
    assert aws.stack_done("roles")["StackStatus"] == "UPDATE_COMPLETE", aws.events("roles")
    assert "logs:*" in json.dumps(clients("iam").get_role_policy(RoleName="made-by-the-stack", PolicyName="logs"))
    aws.cfn.update_stack(StackName="roles", TemplateBody=ROLE_STACK.replace("lambda.amazonaws.com",
                                                                           "states.amazonaws.com"),
                         RoleARN=role, Capabilities=["CAPABILITY_NAMED_IAM"])
    assert aws.stack_done("roles")["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    reason = next(r for _, status, r in aws.events("roles") if status == "UPDATE_FAILED")
    assert reason.startswith(denial("iam:UpdateAssumeRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/made-by-the-stack"))
