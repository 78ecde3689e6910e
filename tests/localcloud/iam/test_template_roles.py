"""The pipeline stack's roles, as the template writes them, allow the calls each principal makes, as the local
cloud resolves those calls: a check of the resolution against real least-privilege policies (and of the roles)."""

import json

import pytest
from cfnlint.decode import decode_str

from localcloud.iam.iamkit import ACCOUNT, REGION, Resolver, signed_request
from mlops_workshop import REPO_ROOT
from mlops_workshop.localcloud.iam.calls import Context
from mlops_workshop.localcloud.iam.operations import Operations
from mlops_workshop.localcloud.iam.policy import Policy, Principal, Request, evaluate

ARTIFACTS, DATA = f"mlops-artifacts-{REGION}-{ACCOUNT}", f"mlops-data-{REGION}-{ACCOUNT}"
SAGEMAKER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/MLOps-SageMaker-{REGION}"
GLUE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/MLOps-Glue-{REGION}"
DEPLOY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/MLOps-CloudFormation-{REGION}"
TRAINING = {"AlgorithmSpecification": {}, "OutputDataConfig": {}, "ResourceConfig": {}, "StoppingCondition": {}}
CAPTURED = "abalone-prd/AllTraffic/2026/12/01/10/00-01-000-6f1c.jsonl"
REPORT = "abalone-prd/abalone-prd-monitor/2026/12/01/10/constraint_violations.json"

CALLS = [
    ("LambdaRole", "sagemaker", "create_training_job", {"TrainingJobName": "mlops-abalone-e1",
                                                        "RoleArn": SAGEMAKER_ROLE, **TRAINING}),
    ("LambdaRole", "sagemaker", "describe_training_job", {"TrainingJobName": "mlops-abalone-e1"}),
    ("LambdaRole", "sagemaker", "create_model_package_group", {"ModelPackageGroupName": "abalone"}),
    ("LambdaRole", "sagemaker", "create_model_package", {"ModelPackageGroupName": "abalone"}),
    ("LambdaRole", "sagemaker", "list_model_packages", {"ModelPackageGroupName": "abalone"}),
    ("LambdaRole", "glue", "create_job", {"Name": "abalone-preprocess", "Role": GLUE_ROLE, "Command": {}}),
    ("LambdaRole", "glue", "start_job_run", {"JobName": "abalone-preprocess"}),
    ("LambdaRole", "s3", "get_object", {"Bucket": ARTIFACTS, "Key": "mlops/EtlSourceO/abc.zip"}),
    ("LambdaRole", "s3", "put_object", {"Bucket": ARTIFACTS, "Key": "e1/code/preprocess.py", "Body": b"x"}),
    ("LambdaRole", "codepipeline", "put_job_success_result", {"jobId": "j"}),
    ("LambdaRole", "codepipeline", "get_pipeline_state", {"name": "mlops"}),
    ("LambdaRole", "codepipeline", "put_approval_result", {
        "pipelineName": "mlops", "stageName": "ETLApproval", "actionName": "ApproveETL", "token": "t",
        "result": {"summary": "s", "status": "Approved"}}),
    ("LambdaRole", "logs", "put_log_events", {"logGroupName": "/mlops/mlops/lambda",
                                              "logStreamName": "2026/12/01/[$LATEST]abc", "logEvents": []}),
    ("PipelineRole", "codebuild", "start_build", {"projectName": "mlops-buildimage-abalone"}),
    ("PipelineRole", "codebuild", "batch_get_builds", {"ids": ["mlops-buildimage-abalone:1"]}),
    ("PipelineRole", "lambda", "invoke", {"FunctionName": "etl-launch-job-abalone"}),
    ("PipelineRole", "codecommit", "get_branch", {"repositoryName": "mlops", "branchName": "main"}),
    ("PipelineRole", "cloudformation", "describe_stacks", {"StackName": "mlops-deploy-dev"}),
    ("PipelineRole", "cloudformation", "create_stack", {"StackName": "mlops-deploy-dev", "TemplateBody": "{}",
                                                        "RoleARN": DEPLOY_ROLE}),
    ("PipelineRole", "stepfunctions", "start_execution", {
        "stateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:abalone-system-test"}),
    ("PipelineRole", "stepfunctions", "describe_execution", {
        "executionArn": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:abalone-system-test:abalone-e1"}),
    ("PipelineRole", "s3", "put_object", {"Bucket": ARTIFACTS, "Key": "mlops/ModelSourc/abc.zip", "Body": b"x"}),
    ("PipelineRole", "s3", "get_object", {"Bucket": DATA, "Key": "input/raw/abalone.csv"}),
    ("CodeBuildRole", "ecr", "get_authorization_token", {}),
    ("CodeBuildRole", "sagemaker", "list_model_packages", {"ModelPackageGroupName": "abalone"}),
    ("CodeBuildRole", "stepfunctions", "list_state_machines", {}),
    ("CodeBuildRole", "stepfunctions", "create_state_machine", {
        "name": "abalone-system-test", "definition": "{}",
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/abalone-system-test-WorkflowRole-X"}),
    ("CodeBuildRole", "cloudformation", "create_stack", {"StackName": "abalone-system-test", "TemplateBody": "{}",
                                                         "RoleARN": DEPLOY_ROLE}),
    ("CodeBuildRole", "logs", "put_log_events", {"logGroupName": "/mlops/mlops/codebuild",
                                                 "logStreamName": "buildimage/1", "logEvents": []}),
    ("SageMakerRole", "s3", "get_object", {"Bucket": ARTIFACTS, "Key": "e1/input/training/train.csv"}),
    ("SageMakerRole", "s3", "put_object", {"Bucket": ARTIFACTS, "Key": "e1/model/model.tar.gz", "Body": b"x"}),
    ("SageMakerRole", "s3", "list_objects_v2", {"Bucket": ARTIFACTS, "Prefix": "e1/input/training"}),
    ("SageMakerRole", "cloudwatch", "put_metric_data", {"Namespace": "/aws/sagemaker/TrainingJobs",
                                                        "MetricData": [{"MetricName": "m", "Value": 1.0}]}),
    ("SageMakerRole", "s3", "put_object", {"Bucket": DATA, "Key": f"datacapture/{CAPTURED}", "Body": b"x"}),
    ("SageMakerRole", "s3", "list_objects_v2", {"Bucket": DATA, "Prefix": "datacapture/abalone-prd/"}),
    ("SageMakerRole", "s3", "get_object", {"Bucket": DATA, "Key": f"datacapture/{CAPTURED}"}),
    ("SageMakerRole", "s3", "get_object", {"Bucket": ARTIFACTS, "Key": "e1/monitoring/baseline/constraints.json"}),
    ("SageMakerRole", "s3", "put_object", {"Bucket": DATA, "Key": f"monitoring/reports/{REPORT}", "Body": b"x"}),
    ("SageMakerRole", "cloudwatch", "put_metric_data", {"Namespace": "aws/sagemaker/Endpoints/data-metrics",
                                                        "MetricData": [{"MetricName": "m", "Value": 1.0}]}),
    ("GlueRole", "s3", "get_object", {"Bucket": DATA, "Key": "input/raw/abalone.csv"}),
    ("GlueRole", "s3", "put_object", {"Bucket": ARTIFACTS, "Key": "e1/input/training/train.csv", "Body": b"x"}),
    ("GlueRole", "cloudwatch", "put_metric_data", {"Namespace": "Glue", "MetricData": [{"MetricName": "m",
                                                                                      "Value": 1.0}]}),
    ("RetrainRole", "codepipeline", "start_pipeline_execution", {"name": "mlops"}),
    ("CloudFormationRole", "sagemaker", "create_model", {"ModelName": "abalone-dev-m1",
                                                         "ExecutionRoleArn": SAGEMAKER_ROLE}),
    ("CloudFormationRole", "sagemaker", "create_endpoint", {"EndpointName": "abalone-dev",
                                                            "EndpointConfigName": "abalone-dev-c1"}),
    ("CloudFormationRole", "sagemaker", "create_monitoring_schedule", {
        "MonitoringScheduleName": "abalone-prd-monitor", "MonitoringScheduleConfig": {
            "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
            "MonitoringJobDefinition": {"MonitoringInputs": [], "MonitoringOutputConfig": {"MonitoringOutputs": []},
                                        "MonitoringResources": {"ClusterConfig": {"InstanceCount": 1,
                                                                                  "InstanceType": "ml.m5.large",
                                                                                  "VolumeSizeInGB": 20}},
                                        "MonitoringAppSpecification": {"ImageUri": "x"}, "RoleArn": SAGEMAKER_ROLE}},
        "Tags": [{"Key": "Model", "Value": "abalone"}]}),
    ("CloudFormationRole", "sagemaker", "update_monitoring_schedule", {
        "MonitoringScheduleName": "abalone-prd-monitor", "MonitoringScheduleConfig": {}}),
    ("CloudFormationRole", "sagemaker", "describe_monitoring_schedule", {
        "MonitoringScheduleName": "abalone-prd-monitor"}),
    ("CloudFormationRole", "sagemaker", "delete_monitoring_schedule", {
        "MonitoringScheduleName": "abalone-prd-monitor"}),
    ("CloudFormationRole", "iam", "create_role", {"RoleName": "abalone-system-test-FunctionRole-X",
                                                  "AssumeRolePolicyDocument": "{}"}),
    ("CloudFormationRole", "lambda", "create_function", {
        "FunctionName": "abalone-system-test-EvaluateEndpoint-X", "Code": {},
        "Role": f"arn:aws:iam::{ACCOUNT}:role/abalone-system-test-FunctionRole-X"}),
]
# Calls the roles must not be allowed.
REFUSED = [
    ("GlueRole", "s3", "get_object", {"Bucket": ARTIFACTS, "Key": "e1/model/model.tar.gz"}),
    ("LambdaRole", "sagemaker", "create_training_job", {"TrainingJobName": "other-job", "RoleArn": SAGEMAKER_ROLE,
                                                        **TRAINING}),
    ("LambdaRole", "glue", "create_job", {"Name": "abalone-preprocess", "Role": SAGEMAKER_ROLE, "Command": {}}),
    ("SageMakerRole", "cloudwatch", "put_metric_data", {"Namespace": "Glue", "MetricData": []}),
    ("SageMakerRole", "s3", "list_objects_v2", {"Bucket": DATA, "Prefix": "input/"}),
    ("SageMakerRole", "s3", "put_object", {"Bucket": DATA, "Key": "input/raw/abalone.csv", "Body": b"x"}),
    ("CloudFormationRole", "sagemaker", "delete_monitoring_schedule", {"MonitoringScheduleName": "another-schedule"}),
    ("PipelineRole", "cloudformation", "create_stack", {"StackName": "another-stack", "TemplateBody": "{}"}),
    ("RetrainRole", "codepipeline", "start_pipeline_execution", {"name": "another-pipeline"}),
    ("RetrainRole", "codepipeline", "stop_pipeline_execution", {"pipelineName": "mlops", "pipelineExecutionId": "e1"}),
]


@pytest.fixture(scope="module")
def pipeline():
    template, matches = decode_str((REPO_ROOT / "cloudformation" / "mlops-pipeline.yml").read_text(encoding="utf-8"))
    assert not matches
    template = json.loads(json.dumps(template, default=str))
    return template, Resolver(template)


def judge(pipeline, describer, catalog, logical, service, method, params):
    template, resolver = pipeline
    props = template["Resources"][logical]["Properties"]
    policies = [Policy.compile(json.dumps(resolver.resolve(p["PolicyDocument"])), p["PolicyName"])
                for p in props["Policies"]]
    name = resolver.resolve(props["RoleName"])
    principal = Principal("role-session", f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/s", ACCOUNT, name=name,
                          role_arn=f"arn:aws:iam::{ACCOUNT}:role/{name}")
    req = signed_request(service, method, params)
    op = Operations.shared().resolve(req, set(catalog.prefixes()))
    call = describer.describe(op, REGION, req.headers, req.body)
    assert call.needs and not call.unresolved
    return [(need.action, evaluate(Request(principal, need.action, need.resource,
                                           Context(principal, need, op, REGION, req.headers)), policies))
            for need in call.needs]


@pytest.mark.parametrize("logical, service, method, params", CALLS,
                         ids=[f"{c[0]}-{c[1]}.{c[2]}" for c in CALLS])
def test_each_role_allows_the_calls_its_principal_makes(pipeline, describer, catalog, logical, service, method,
                                                        params):
    refused = [(action, d.reason) for action, d in judge(pipeline, describer, catalog, logical, service, method,
                                                         params) if not d.allowed]
    assert refused == []


@pytest.mark.parametrize("logical, service, method, params", REFUSED)
def test_each_role_refuses_what_its_principal_does_not_need(pipeline, describer, catalog, logical, service, method,
                                                            params):
    assert not all(d.allowed for _, d in judge(pipeline, describer, catalog, logical, service, method, params))
