"""What moto's own CloudFormation tests found the local cloud getting wrong, each fixed: resource types AWS accepts,
stack outputs' export names, YAML booleans in AllowedValues, stack sets, notification ARNs, TemplateURLs on the local
endpoint; and the stack-name rule kept (closer to AWS than moto)."""

import json

import pytest
from botocore.exceptions import ClientError

from testkit.localcloud import ARTIFACTS
from testkit.waiting import wait_for

ACCEPTED_TYPES = '''
Resources:
  Metadata:
    Type: AWS::CDK::Metadata
    Properties: {Analytics: "v2:deflate64:H4sIAAAAAAAA"}
  Bucket:
    Type: AWS::S3::Bucket
    Properties: {BucketName: floor-test-bucket}
  BucketPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Bucket
      PolicyDocument:
        Version: "2012-10-17"
        Statement: [{Effect: Deny, Principal: "*", Action: "s3:*", Resource: !Sub "${Bucket.Arn}/*",
                     Condition: {Bool: {aws:SecureTransport: "false"}}}]
  Queue:
    Type: AWS::SQS::Queue
  QueuePolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref Queue]
      PolicyDocument:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Principal: {Service: events.amazonaws.com}, Action: sqs:SendMessage,
                     Resource: !GetAtt Queue.Arn}]
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: floor-test-alarm
      Namespace: AWS/SageMaker
      MetricName: ModelLatency
      Statistic: Average
      Period: 60
      EvaluationPeriods: 2
      Threshold: 500
      ComparisonOperator: GreaterThanThreshold
      Dimensions: [{Name: EndpointName, Value: abalone-prd}]
  Secret:
    Type: AWS::SecretsManager::Secret
    Properties:
      Name: floor-test-secret
      GenerateSecretString:
        SecretStringTemplate: '{"username": "mlops"}'
        GenerateStringKey: password
        PasswordLength: 24
        ExcludeCharacters: '"@/'
Outputs:
  SecretArn: {Value: !Ref Secret, Export: {Name: floor-secret}}
  AlarmArn: {Value: !GetAtt Alarm.Arn}
'''


def test_resource_types_aws_accepts_are_made_through_their_services_and_outputs_name_their_exports(aws):
    aws.cfn.create_stack(StackName="floor", TemplateBody=ACCEPTED_TYPES)
    stack = aws.stack_done("floor")
    assert stack["StackStatus"] == "CREATE_COMPLETE", [e for e in aws.events("floor") if "FAILED" in e[1]]
    outputs = {o["OutputKey"]: o for o in stack["Outputs"]}
    assert outputs["SecretArn"]["ExportName"] == "floor-secret" and "ExportName" not in outputs["AlarmArn"]
    assert [e["Name"] for e in aws.cfn.list_exports()["Exports"]] == ["floor-secret"]

    policy = json.loads(aws.s3.get_bucket_policy(Bucket="floor-test-bucket")["Policy"])
    assert policy["Statement"][0]["Effect"] == "Deny"
    sqs = aws.clients("sqs")
    queue_url = sqs.list_queues()["QueueUrls"][0]
    queue_policy = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    assert json.loads(queue_policy)["Statement"][0]["Action"] == "sqs:SendMessage"
    [alarm] = aws.clients("cloudwatch").describe_alarms(AlarmNames=["floor-test-alarm"])["MetricAlarms"]
    assert (alarm["Threshold"], alarm["EvaluationPeriods"], alarm["AlarmArn"]) == (
        500.0, 2, outputs["AlarmArn"]["OutputValue"])
    secret = json.loads(aws.clients("secretsmanager").get_secret_value(SecretId="floor-test-secret")["SecretString"])
    assert secret["username"] == "mlops" and len(secret["password"]) == 24
    assert not set('"@/') & set(secret["password"])

    aws.cfn.delete_stack(StackName="floor")
    wait_for(lambda: aws.cfn.list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"],
             what="the stack to be deleted")
    assert aws.cfn.list_exports()["Exports"] == []
    assert aws.clients("cloudwatch").describe_alarms()["MetricAlarms"] == []
    with pytest.raises(ClientError):
        aws.clients("secretsmanager").describe_secret(SecretId="floor-test-secret")


def test_a_state_machine_a_stack_makes_is_step_functions_own(aws):
    template = '''
Parameters:
  Role: {Type: String}
Resources:
  Machine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      StateMachineName: floor-machine
      RoleArn: !Ref Role
      DefinitionString: '{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}'
'''
    sfn = aws.clients("stepfunctions")
    aws.cfn.create_stack(StackName="machine", TemplateBody=template,
                         Parameters=[{"ParameterKey": "Role", "ParameterValue": "arn:aws:iam::123456789012:role/x"}])
    assert aws.stack_done("machine")["StackStatus"] == "CREATE_COMPLETE"
    [machine] = sfn.list_state_machines()["stateMachines"]
    assert machine["name"] == "floor-machine"
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
    assert wait_for(lambda: sfn.describe_execution(executionArn=execution)["status"] != "RUNNING",
                    what="the execution to end")
    assert sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"
    aws.cfn.delete_stack(StackName="machine")
    wait_for(lambda: not sfn.list_state_machines()["stateMachines"], what="the state machine to be deleted")


BOOLEANS = '''
Parameters:
  Enabled:
    Type: String
    AllowedValues: [true, false]
    Default: true
Resources:
  Setting:
    Type: AWS::SSM::Parameter
    Properties: {Name: /floor/enabled, Type: String, Value: !Ref Enabled}
'''


def test_yaml_booleans_in_allowed_values_are_the_strings_cloudformation_compares(aws):
    aws.cfn.create_stack(StackName="booleans", TemplateBody=BOOLEANS,
                         Parameters=[{"ParameterKey": "Enabled", "ParameterValue": "false"}])
    assert aws.stack_done("booleans")["StackStatus"] == "CREATE_COMPLETE"
    assert aws.clients("ssm").get_parameter(Name="/floor/enabled")["Parameter"]["Value"] == "false"
    with pytest.raises(ClientError, match="must be one of AllowedValues"):
        aws.cfn.create_stack(StackName="booleans2", TemplateBody=BOOLEANS,
                             Parameters=[{"ParameterKey": "Enabled", "ParameterValue": "True"}])


def test_stack_sets_make_their_instances_stacks(aws):
    template = "Resources:\n  Topic: {Type: AWS::SNS::Topic, Properties: {TopicName: floor-set-topic}}\n"
    aws.cfn.create_stack_set(StackSetName="floor-set", TemplateBody=template)
    aws.cfn.create_stack_instances(StackSetName="floor-set", Accounts=["123456789012"], Regions=["us-east-1"])
    [instance] = aws.cfn.list_stack_instances(StackSetName="floor-set")["Summaries"]
    assert (instance["Account"], instance["Region"]) == ("123456789012", "us-east-1")
    assert aws.cfn.describe_stack_instance(StackSetName="floor-set", StackInstanceAccount="123456789012",
                                           StackInstanceRegion="us-east-1")["StackInstance"]["Status"] == "CURRENT"
    assert wait_for(lambda: aws.clients("sns").list_topics()["Topics"], what="the instance's topic")
    # The API still refuses what CloudFormation refuses in a stack name.
    with pytest.raises(ClientError, match="stackName"):
        aws.cfn.create_stack(StackName="floor_stack", TemplateBody=template)


def test_stack_events_are_published_to_the_notification_arns(aws):
    sns, sqs = aws.clients("sns"), aws.clients("sqs")
    queue = sqs.create_queue(QueueName="floor-notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="floor-stack-events")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    stack_id = aws.cfn.create_stack(StackName="notified", TemplateBody=BOOLEANS, NotificationARNs=[topic])["StackId"]
    assert aws.stack_done("notified")["StackStatus"] == "CREATE_COMPLETE"

    def received():
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in messages.get("Messages", [])]
    notes: list = []
    wait_for(lambda: notes.extend(received()) or len(notes) >= 4, what="the stack's four events")
    assert {n["Subject"] for n in notes} == {"AWS CloudFormation Notification"}
    lines = [dict(line.split("=", 1) for line in n["Message"].strip().split("\n")) for n in notes]
    assert [(m["LogicalResourceId"], m["ResourceStatus"]) for m in lines] == [
        ("'notified'", "'CREATE_IN_PROGRESS'"), ("'Setting'", "'CREATE_IN_PROGRESS'"),
        ("'Setting'", "'CREATE_COMPLETE'"), ("'notified'", "'CREATE_COMPLETE'")]
    first = lines[0]
    assert (first["StackId"], first["ResourceStatusReason"], first["ResourceType"], first["Namespace"]) == (
        f"'{stack_id}'", "'User Initiated'", "'AWS::CloudFormation::Stack'", "'123456789012'")
    assert list(first) == ["StackId", "Timestamp", "EventId", "LogicalResourceId", "Namespace",
                           "PhysicalResourceId", "PrincipalId", "ResourceProperties", "ResourceStatus",
                           "ResourceStatusReason", "ResourceType", "StackName", "ClientRequestToken"]


def test_a_template_url_on_the_local_endpoint_is_read_from_its_bucket(aws):
    aws.s3.put_object(Bucket=ARTIFACTS, Key="templates/booleans.yml", Body=BOOLEANS.encode())
    url = aws.s3.generate_presigned_url("get_object", Params={"Bucket": ARTIFACTS, "Key": "templates/booleans.yml"})
    aws.cfn.create_stack(StackName="from-url", TemplateURL=url)
    assert aws.stack_done("from-url")["StackStatus"] == "CREATE_COMPLETE"
    assert aws.cfn.get_template(StackName="from-url")["TemplateBody"] == BOOLEANS


@pytest.mark.parametrize("template, message", [
    ({"Resources": {"Info": {"Type": "Custom::Info", "Properties": {"ServiceToken": {"Fn::GetAtt": ["Fn", "Arn"]}}}}},
     "Template error: instance of Fn::GetAtt references undefined resource Fn"),
    ({"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Ref": "Missing"}}}}},
     "Template format error: Unresolved resource dependencies [Missing] in the Resources block of the template"),
    ({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": {"Name": {"Value": {"Ref": "Gone"}}}},
     "Template format error: Unresolved resource dependencies [Gone] in the Outputs block of the template"),
    ({"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {
        "TopicName": {"Fn::ImportValue": "nobody-exports-this"}}}}}, "No export named nobody-exports-this found."),
])
def test_what_cloudformation_refuses_before_it_starts_is_refused_by_create_stack(aws, template, message):
    with pytest.raises(ClientError) as error:
        aws.cfn.create_stack(StackName="refused", TemplateBody=json.dumps(template))
    assert error.value.response["Error"] == {"Type": "Sender", "Code": "ValidationError", "Message": message}
    assert aws.cfn.list_stacks()["StackSummaries"] == []


def test_an_import_of_an_export_another_stack_makes_is_accepted(aws):
    exporting = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                 "Outputs": {"Arn": {"Value": {"Ref": "Topic"}, "Export": {"Name": "floor-topic"}}}}
    aws.cfn.create_stack(StackName="exporting", TemplateBody=json.dumps(exporting))
    assert aws.stack_done("exporting")["StackStatus"] == "CREATE_COMPLETE"
    importing = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {
        "Tags": [{"Key": "topic", "Value": {"Fn::ImportValue": "floor-topic"}}]}}}}
    aws.cfn.create_stack(StackName="importing", TemplateBody=json.dumps(importing))
    assert aws.stack_done("importing")["StackStatus"] == "CREATE_COMPLETE"


def test_validate_template_says_what_cloudformation_says_of_a_template_without_resources(aws):
    with pytest.raises(ClientError) as error:
        aws.cfn.validate_template(TemplateBody="AWSTemplateFormatVersion: '2010-09-09'\nDescription: nothing\n")
    assert error.value.response["Error"]["Message"] == (
        "Template format error: At least one Resources member must be defined.")


def test_an_unquoted_policy_version_in_yaml_is_the_string_cloudformation_reads(aws):
    template = '''
Resources:
  Queue:
    Type: AWS::SQS::Queue
  QueuePolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref Queue]
      PolicyDocument:
        Version: 2012-10-17
        Statement: [{Effect: Allow, Principal: {Service: events.amazonaws.com}, Action: sqs:SendMessage,
                     Resource: !GetAtt Queue.Arn}]
'''
    aws.cfn.create_stack(StackName="dated", TemplateBody=template)
    assert aws.stack_done("dated")["StackStatus"] == "CREATE_COMPLETE", aws.events("dated")
    sqs = aws.clients("sqs")
    policy = sqs.get_queue_attributes(QueueUrl=sqs.list_queues()["QueueUrls"][0], AttributeNames=["Policy"])
    assert json.loads(policy["Attributes"]["Policy"])["Version"] == "2012-10-17"


def test_an_inline_python_function_answers_its_custom_resource_through_cfnresponse(aws):
    template = '''
Resources:
  Answer:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: arn:aws:iam::123456789012:role/lambda-test
      Code:
        ZipFile: |
          import cfnresponse
          def handler(event, context):
              data = {"Doubled": str(2 * int(event["ResourceProperties"]["Value"]))}
              cfnresponse.send(event, context, cfnresponse.SUCCESS, data, "answer-1")
  Doubled:
    Type: Custom::Doubled
    Properties:
      ServiceToken: !GetAtt Answer.Arn
      Value: 21
Outputs:
  Doubled: {Value: !GetAtt Doubled.Doubled}
'''
    aws.cfn.create_stack(StackName="inline", TemplateBody=template)
    stack = aws.stack_done("inline")
    assert stack["StackStatus"] == "CREATE_COMPLETE", aws.events("inline")
    assert stack["Outputs"][0]["OutputValue"] == "42"
    resource = aws.cfn.describe_stack_resource(StackName="inline", LogicalResourceId="Doubled")
    assert resource["StackResourceDetail"]["PhysicalResourceId"] == "answer-1"
