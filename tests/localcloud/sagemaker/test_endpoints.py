"""SageMaker endpoints run the image's `serve` with the model; InvokeEndpoint reaches it."""

import json

import pytest
from botocore.exceptions import ClientError

from testkit.localcloud import (ACCOUNT, ECR_PULL, IMAGE_URI, SAGEMAKER_ROLE, endpoint_settled, model_tarball,
                                service_role)
from testkit.waiting import wait_for

ROW = ",".join(["0.5"] * 10)


@pytest.fixture
def deploy(clients, data_bucket):
    """deploy(name, mean) puts a model of that mean in S3 and creates its model and endpoint config."""
    sm, s3 = clients("sagemaker"), clients("s3")

    def make(name: str, mean: float, **container) -> str:
        key = f"models/{name}/model.tar.gz"
        model = model_tarball({"model.json": json.dumps({"mean": mean}).encode()})
        s3.put_object(Bucket=data_bucket, Key=key, Body=model)
        primary = {"Image": IMAGE_URI, "ModelDataUrl": f"s3://{data_bucket}/{key}",
                   "Environment": {"FAKE_ENV": name}, **container}
        sm.create_model(ModelName=name, ExecutionRoleArn=SAGEMAKER_ROLE, PrimaryContainer=primary)
        sm.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1,
            "InstanceType": "ml.t2.medium"}])
        return f"{name}-config"
    return make


def host(cloud, name: str):
    return next(h for key, h in cloud.service("sagemaker").endpoints.hosts.items() if key[2] == name)


def test_endpoint_serves_the_model_and_passes_errors_through(clients, cloud, deploy):
    sm, runtime = clients("sagemaker"), clients("sagemaker-runtime")
    sm.create_endpoint(EndpointName="fake-dev", EndpointConfigName=deploy("model-a", 11.0))
    assert sm.describe_endpoint(EndpointName="fake-dev")["EndpointStatus"] == "Creating"
    with pytest.raises(ClientError) as early:
        runtime.invoke_endpoint(EndpointName="fake-dev", Body=ROW, ContentType="text/csv")
    assert early.value.response["Error"]["Code"] == "ValidationError"

    endpoint = endpoint_settled(sm, "fake-dev")
    assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")

    answer = runtime.invoke_endpoint(EndpointName="fake-dev", Body=f"{ROW}\n{ROW}\n", ContentType="text/csv")
    assert answer["Body"].read().decode().split() == ["11.0", "11.0"]
    assert answer["ContentType"] == "text/csv"
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    answer = runtime.invoke_endpoint(EndpointName="fake-dev", Body=ROW, ContentType="text/csv",
                                     Accept="application/json")
    assert json.loads(answer["Body"].read()) == {"predictions": [11.0]}

    with pytest.raises(ClientError) as bad:
        runtime.invoke_endpoint(EndpointName="fake-dev", Body="1,2,3", ContentType="text/csv")
    response = bad.value.response
    assert response["Error"]["Code"] == "ModelError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 400
    assert response["OriginalMessage"] == "row 1 is not 10 numbers (3 values)"
    assert "Received client error (400) from primary" in response["Error"]["Message"]
    assert response["LogStreamArn"].endswith("log-group:/aws/sagemaker/Endpoints/fake-dev")
    assert "FAKE_ENV=model-a" in cloud.log_path("endpoints", "fake-dev").read_text()


def test_update_replaces_the_server_and_delete_stops_it(clients, deploy, cloud):
    sm, runtime = clients("sagemaker"), clients("sagemaker-runtime")
    sm.create_endpoint(EndpointName="fake-up", EndpointConfigName=deploy("model-old", 5.0))
    endpoint_settled(sm, "fake-up")
    old = host(cloud, "fake-up").run

    sm.update_endpoint(EndpointName="fake-up", EndpointConfigName=deploy("model-new", 7.0))
    assert sm.describe_endpoint(EndpointName="fake-up")["EndpointStatus"] == "Updating"
    # The old server answers while the new one starts.
    assert runtime.invoke_endpoint(EndpointName="fake-up", Body=ROW, ContentType="text/csv")["Body"].read() == b"5.0\n"
    endpoint = endpoint_settled(sm, "fake-up")
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == "model-new-config"
    assert runtime.invoke_endpoint(EndpointName="fake-up", Body=ROW, ContentType="text/csv")["Body"].read() == b"7.0\n"
    wait_for(lambda: old.poll() is not None, 20, what="the old server stopping")

    new = host(cloud, "fake-up").run
    sm.delete_endpoint(EndpointName="fake-up")
    wait_for(lambda: new.poll() is not None, 20, what="the server stopping")
    with pytest.raises(ClientError) as gone:
        runtime.invoke_endpoint(EndpointName="fake-up", Body=ROW, ContentType="text/csv")
    assert gone.value.response["Error"]["Code"] == "ValidationError"
    assert "not found" in gone.value.response["Error"]["Message"]


def test_endpoint_from_a_model_package(clients, data_bucket):
    sm, s3 = clients("sagemaker"), clients("s3")
    s3.put_object(Bucket=data_bucket, Key="pkg/model.tar.gz",
                  Body=model_tarball({"model.json": json.dumps({"mean": 9.5}).encode()}))
    sm.create_model_package_group(ModelPackageGroupName="abalone")
    package = sm.create_model_package(
        ModelPackageGroupName="abalone", ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": IMAGE_URI,
                                                "ModelDataUrl": f"s3://{data_bucket}/pkg/model.tar.gz"}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})
    sm.create_model(ModelName="from-package", ExecutionRoleArn=SAGEMAKER_ROLE,
                    PrimaryContainer={"ModelPackageName": package["ModelPackageArn"]})
    sm.create_endpoint_config(EndpointConfigName="pkg-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "from-package", "InitialInstanceCount": 1,
        "InstanceType": "ml.t2.medium"}])
    sm.create_endpoint(EndpointName="fake-pkg", EndpointConfigName="pkg-config")
    assert endpoint_settled(sm, "fake-pkg")["EndpointStatus"] == "InService"
    answer = clients("sagemaker-runtime").invoke_endpoint(EndpointName="fake-pkg", Body=ROW, ContentType="text/csv")
    assert answer["Body"].read() == b"9.5\n"


def test_endpoints_that_cannot_serve_fail_with_the_reason(clients, data_bucket, deploy):
    sm, s3 = clients("sagemaker"), clients("s3")
    config = deploy("model-missing", 1.0, ModelDataUrl=f"s3://{data_bucket}/nowhere/model.tar.gz")
    sm.create_endpoint(EndpointName="fake-nodata", EndpointConfigName=config)
    endpoint = endpoint_settled(sm, "fake-nodata")
    assert endpoint["EndpointStatus"] == "Failed"
    assert "Failed to download model data from URL" in endpoint["FailureReason"]

    s3.put_object(Bucket=data_bucket, Key="empty/model.tar.gz", Body=model_tarball({"other.txt": b"x"}))
    config = deploy("model-empty", 1.0, ModelDataUrl=f"s3://{data_bucket}/empty/model.tar.gz")
    sm.create_endpoint(EndpointName="fake-crash", EndpointConfigName=config)
    endpoint = endpoint_settled(sm, "fake-crash")
    assert endpoint["EndpointStatus"] == "Failed"
    assert "did not pass the ping health check: serve exited with code 1" in endpoint["FailureReason"]
    assert "model.json" in endpoint["FailureReason"]

    with pytest.raises(ClientError) as error:
        sm.create_endpoint(EndpointName="fake-crash", EndpointConfigName=config)
    assert "Cannot create already existing endpoint" in error.value.response["Error"]["Message"]


def test_a_model_whose_role_may_not_read_its_data_fails_the_endpoint_with_the_access_denied(clients, data_bucket):
    sm, s3 = clients("sagemaker"), clients("s3")
    role = service_role(clients, f"arn:aws:iam::{ACCOUNT}:role/no-read", "sagemaker.amazonaws.com",
                        [ECR_PULL, {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}])
    s3.put_object(Bucket=data_bucket, Key="models/m/model.tar.gz",
                  Body=model_tarball({"model.json": b'{"mean": 1.0}'}))
    sm.create_model(ModelName="unreadable", ExecutionRoleArn=role, PrimaryContainer={
        "Image": IMAGE_URI, "ModelDataUrl": f"s3://{data_bucket}/models/m/model.tar.gz"})
    sm.create_endpoint_config(EndpointConfigName="unreadable", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "unreadable", "InitialInstanceCount": 1,
        "InstanceType": "ml.t2.medium"}])
    sm.create_endpoint(EndpointName="unreadable", EndpointConfigName="unreadable")
    endpoint = endpoint_settled(sm, "unreadable")
    assert endpoint["EndpointStatus"] == "Failed"
    assert endpoint["FailureReason"].startswith(
        f"Failed to download model data(bucket: {data_bucket}, key: models/m/model.tar.gz). Please ensure that there "
        f"is an object located at the URL and that the role passed to CreateModel has permissions to download the "
        f"model. (AccessDenied: User: arn:aws:sts::{ACCOUNT}:assumed-role/no-read/SageMaker is not authorized to "
        f"perform: s3:GetObject"), endpoint["FailureReason"]


def test_failed_update_keeps_the_old_server(clients, data_bucket, deploy):
    sm, runtime = clients("sagemaker"), clients("sagemaker-runtime")
    sm.create_endpoint(EndpointName="fake-keep", EndpointConfigName=deploy("model-good", 3.0))
    endpoint_settled(sm, "fake-keep")
    sm.update_endpoint(EndpointName="fake-keep", EndpointConfigName=deploy(
        "model-broken", 1.0, ModelDataUrl=f"s3://{data_bucket}/nowhere/model.tar.gz"))
    endpoint = endpoint_settled(sm, "fake-keep")
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == "model-good-config"
    assert "Failed to download model data" in endpoint["FailureReason"]
    assert runtime.invoke_endpoint(EndpointName="fake-keep", Body=ROW, ContentType="text/csv")["Body"].read() == b"3.0\n"


def test_invoking_a_missing_endpoint_is_a_validation_error(clients):
    with pytest.raises(ClientError) as error:
        clients("sagemaker-runtime").invoke_endpoint(EndpointName="nope", Body=ROW, ContentType="text/csv")
    assert error.value.response["Error"]["Code"] == "ValidationError"
    assert error.value.response["Error"]["Message"] == "Endpoint nope of account 123456789012 not found."


def test_endpoint_created_by_cloudformation_serves(clients, cloud, data_bucket):
    """Endpoints are caught in moto's backend, so a stack's AWS::SageMaker::Endpoint runs `serve` too."""
    s3, cfn = clients("s3"), clients("cloudformation")
    s3.put_object(Bucket=data_bucket, Key="cfn/model.tar.gz",
                  Body=model_tarball({"model.json": json.dumps({"mean": 4.5}).encode()}))
    template = {
        "Resources": {
            "Model": {"Type": "AWS::SageMaker::Model", "Properties": {
                "ExecutionRoleArn": SAGEMAKER_ROLE,
                "PrimaryContainer": {"Image": IMAGE_URI, "ModelDataUrl": f"s3://{data_bucket}/cfn/model.tar.gz"}}},
            "Config": {"Type": "AWS::SageMaker::EndpointConfig", "Properties": {"ProductionVariants": [{
                "VariantName": "AllTraffic", "ModelName": {"Fn::GetAtt": ["Model", "ModelName"]},
                "InitialInstanceCount": 1, "InstanceType": "ml.t2.medium", "InitialVariantWeight": 1}]}},
            "Endpoint": {"Type": "AWS::SageMaker::Endpoint", "Properties": {
                "EndpointConfigName": {"Fn::GetAtt": ["Config", "EndpointConfigName"]}}},
        },
        "Outputs": {"Name": {"Value": {"Fn::GetAtt": ["Endpoint", "EndpointName"]}}},
    }
    cfn.create_stack(StackName="serve-stack", TemplateBody=json.dumps(template))
    cfn.get_waiter("stack_create_complete").wait(StackName="serve-stack", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    name = cfn.describe_stacks(StackName="serve-stack")["Stacks"][0]["Outputs"][0]["OutputValue"]
    assert cloud.service("sagemaker").wait_for_endpoint(name, timeout=60) == ("InService", None)
    answer = clients("sagemaker-runtime").invoke_endpoint(EndpointName=name, Body=ROW, ContentType="text/csv")
    assert answer["Body"].read() == b"4.5\n"
    run = host(cloud, name).run
    cfn.delete_stack(StackName="serve-stack")
    cfn.get_waiter("stack_delete_complete").wait(StackName="serve-stack", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    wait_for(lambda: run.poll() is not None, 20, what="the stack's server stopping")
