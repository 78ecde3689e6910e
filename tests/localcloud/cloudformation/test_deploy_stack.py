"""The project's Prd deployment template on the local cloud: a model from a model package, an endpoint that
answers, auto scaling, an update to a new package that keeps the endpoint's name, and a delete."""

import io
import json
import tarfile

import pytest
from botocore.exceptions import ClientError

from mlops_workshop import REPO_ROOT
from testkit.localcloud import ARTIFACTS, FAKE_IMAGE, SAGEMAKER_ROLE, execution_role
from testkit.waiting import wait_for

TEMPLATE = REPO_ROOT / "container" / "assets" / "deploy-model-Prd.yml"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/abalone:latest"
ROW = ",".join(["0.5"] * 10)

@pytest.fixture
def cloud_settings():
    return {"image_contexts": {"abalone": str(FAKE_IMAGE)}, "endpoint_ready_timeout": 60,
            "codepipeline": {"poll_seconds": 0}, "cloudformation": {"resource_timeout_seconds": 60}}


def package(aws, mean):
    """A model package of the stand-in image whose model predicts `mean`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = json.dumps({"mean": mean}).encode()
        info = tarfile.TarInfo("model.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    key = f"models/{mean}/model.tar.gz"
    aws.s3.put_object(Bucket=ARTIFACTS, Key=key, Body=buffer.getvalue())
    sm = aws.clients("sagemaker")
    return sm.create_model_package(
        ModelPackageGroupName="abalone", ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{ARTIFACTS}/{key}"}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
    )["ModelPackageArn"]


def test_the_prd_template_deploys_updates_in_place_and_deletes(aws):
    sm = aws.clients("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="abalone")
    execution_role(aws.clients)
    runtime = aws.clients("sagemaker-runtime")
    first, second = package(aws, 11.0), package(aws, 7.0)

    def parameters(package_arn, execution):
        values = {"ModelName": "abalone", "EndpointName": "abalone-prd", "ModelPackageArn": package_arn,
                  "RoleArn": SAGEMAKER_ROLE, "InstanceType": "ml.t2.medium",
                  "DataCaptureUri": f"s3://{ARTIFACTS}/capture", "PipelineExecutionId": execution,
                  "MonitoringReportsUri": f"s3://{ARTIFACTS}/monitoring/reports"}
        return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]

    aws.cfn.create_stack(StackName="deploy-prd", TemplateBody=TEMPLATE.read_text(), Parameters=parameters(first, "one"))
    stack = aws.stack_done("deploy-prd", timeout=90)
    assert stack["StackStatus"] == "CREATE_COMPLETE", [e for e in aws.events("deploy-prd") if "FAILED" in e[1]]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["EndpointName"] == "abalone-prd"
    assert "MonitoringScheduleName" not in outputs  # no baseline, no schedule
    assert sm.list_monitoring_schedules()["MonitoringScheduleSummaries"] == []
    first_model, first_config = outputs["SageMakerModelName"], outputs["EndpointConfigName"]
    assert sm.describe_model(ModelName=first_model)["PrimaryContainer"]["ModelPackageName"] == first
    config = sm.describe_endpoint_config(EndpointConfigName=first_config)
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == f"s3://{ARTIFACTS}/capture"
    assert sm.describe_endpoint(EndpointName="abalone-prd")["EndpointStatus"] == "InService"
    assert runtime.invoke_endpoint(EndpointName="abalone-prd", Body=ROW, ContentType="text/csv")["Body"].read() == \
        b"11.0\n"
    scaling = aws.clients("application-autoscaling")
    targets = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [
        ("endpoint/abalone-prd/variant/AllTraffic", 1, 3)]
    policies = scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert [p["PolicyName"] for p in policies] == ["abalone-prd-invocations-per-instance"]

    # A new package: new model and configuration, the same endpoint updated in place, the old ones cleaned up.
    aws.cfn.update_stack(StackName="deploy-prd", TemplateBody=TEMPLATE.read_text(), Parameters=parameters(second, "two"))
    stack = aws.stack_done("deploy-prd", timeout=90)
    assert stack["StackStatus"] == "UPDATE_COMPLETE", [e for e in aws.events("deploy-prd") if "FAILED" in e[1]]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["EndpointName"] == "abalone-prd"
    assert outputs["SageMakerModelName"] != first_model and outputs["EndpointConfigName"] != first_config
    assert sm.describe_endpoint(EndpointName="abalone-prd")["EndpointConfigName"] == outputs["EndpointConfigName"]
    assert runtime.invoke_endpoint(EndpointName="abalone-prd", Body=ROW, ContentType="text/csv")["Body"].read() == \
        b"7.0\n"
    with pytest.raises(ClientError):
        sm.describe_model(ModelName=first_model)
    with pytest.raises(ClientError):
        sm.describe_endpoint_config(EndpointConfigName=first_config)
    updated = {e[0] for e in aws.events("deploy-prd") if e[1] == "UPDATE_COMPLETE"}
    assert {"Model", "EndpointConfig", "Endpoint"} <= updated and "ScalableTarget" not in updated

    aws.cfn.delete_stack(StackName="deploy-prd")
    wait_for(lambda: not aws.cfn.list_stacks(StackStatusFilter=["UPDATE_COMPLETE", "DELETE_IN_PROGRESS"])
                 ["StackSummaries"], timeout=60, what="the stack to be deleted")
    assert sm.list_endpoints()["Endpoints"] == [] and sm.list_models()["Models"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []


def test_the_prd_template_monitors_the_endpoint_against_the_baseline(aws):
    sm = aws.clients("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="abalone")
    execution_role(aws.clients)
    baseline = f"s3://{ARTIFACTS}/e1/monitoring/baseline"

    def parameters(expression):
        values = {"ModelName": "abalone", "EndpointName": "abalone-prd", "ModelPackageArn": package(aws, 5.0),
                  "RoleArn": SAGEMAKER_ROLE, "InstanceType": "ml.t2.medium",
                  "DataCaptureUri": f"s3://{ARTIFACTS}/capture", "MonitoringBaselineUri": baseline,
                  "MonitoringReportsUri": f"s3://{ARTIFACTS}/monitoring/reports",
                  "MonitoringScheduleExpression": expression}
        return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]

    aws.cfn.create_stack(StackName="deploy-prd", TemplateBody=TEMPLATE.read_text(),
                         Parameters=parameters("cron(0 * ? * * *)"))
    stack = aws.stack_done("deploy-prd", timeout=90)
    assert stack["StackStatus"] == "CREATE_COMPLETE", [e for e in aws.events("deploy-prd") if "FAILED" in e[1]]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["MonitoringScheduleName"] == "abalone-prd-monitor"
    schedule = wait_for(lambda: (found := sm.describe_monitoring_schedule(
        MonitoringScheduleName="abalone-prd-monitor"))["MonitoringScheduleStatus"] != "Pending" and found, 10,
        what="the schedule to be validated")
    assert schedule["MonitoringScheduleStatus"] == "Scheduled", schedule.get("FailureReason")
    assert (schedule["EndpointName"], schedule["MonitoringType"]) == ("abalone-prd", "DataQuality")
    config = schedule["MonitoringScheduleConfig"]
    definition = config["MonitoringJobDefinition"]
    assert config["ScheduleConfig"]["ScheduleExpression"] == "cron(0 * ? * * *)"
    assert definition["MonitoringAppSpecification"]["ImageUri"] == \
        "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
    assert definition["BaselineConfig"]["ConstraintsResource"]["S3Uri"] == f"{baseline}/constraints.json"
    assert definition["BaselineConfig"]["StatisticsResource"]["S3Uri"] == f"{baseline}/statistics.json"
    assert definition["MonitoringResources"]["ClusterConfig"]["InstanceCount"] == 1

    aws.cfn.update_stack(StackName="deploy-prd", TemplateBody=TEMPLATE.read_text(),
                         Parameters=parameters("cron(0 */2 ? * * *)"))
    stack = aws.stack_done("deploy-prd", timeout=90)
    assert stack["StackStatus"] == "UPDATE_COMPLETE", [e for e in aws.events("deploy-prd") if "FAILED" in e[1]]
    updated = sm.describe_monitoring_schedule(MonitoringScheduleName="abalone-prd-monitor")
    assert updated["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"] == "cron(0 */2 ? * * *)"
    assert updated["CreationTime"] == schedule["CreationTime"]  # updated in place

    aws.cfn.delete_stack(StackName="deploy-prd")
    wait_for(lambda: not sm.list_monitoring_schedules()["MonitoringScheduleSummaries"], 60,
             what="the schedule to be deleted")
