"""The Describe answers hold what SageMaker always returns, so the SageMaker Python SDK's resources and the AWS CLI
read them: no empty structures where SageMaker sends none, the data capture summary, the members moto leaves out."""

import pytest
from testkit.localcloud import ROLE_ARN, SAGEMAKER_ROLE, endpoint_settled
from testkit.shapes import missing_members

from .test_endpoints import deploy  # noqa: F401  (the fixture)

CAPTURE = {"EnableCapture": True, "InitialSamplingPercentage": 40, "DestinationS3Uri": "s3://bucket/datacapture",
           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}


def complete(sm, method, **params):
    """The answer, having checked it holds every member the operation's output shape requires."""
    answer = getattr(sm, method)(**params)
    operation = "".join(word.title() for word in method.split("_"))
    assert missing_members("sagemaker", operation, answer) == []
    return answer


@pytest.fixture
def sdk(cloud, monkeypatch):
    """sagemaker.core.resources, on the test's cloud."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "localcloud")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "localcloud")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    from sagemaker.core import resources
    from sagemaker.core.utils.utils import SageMakerClient
    SageMakerClient.reset()  # the SDK keeps its first client, made for another test's cloud
    yield resources
    SageMakerClient.reset()


def test_an_endpoint_without_data_capture_has_no_capture_config(clients, deploy, sdk):  # noqa: F811
    sm = clients("sagemaker")
    sm.create_endpoint(EndpointName="fake-plain", EndpointConfigName=deploy("model-plain", 3.0))
    assert endpoint_settled(sm, "fake-plain")["EndpointStatus"] == "InService"
    assert "DataCaptureConfig" not in complete(sm, "describe_endpoint", EndpointName="fake-plain")
    config = complete(sm, "describe_endpoint_config", EndpointConfigName="model-plain-config")
    assert "DataCaptureConfig" not in config and "AsyncInferenceConfig" not in config
    model = complete(sm, "describe_model", ModelName="model-plain")
    assert "VpcConfig" not in model and "Containers" not in model
    assert model["PrimaryContainer"]["Environment"] == {"FAKE_ENV": "model-plain"}

    assert sdk.Endpoint.get("fake-plain").endpoint_status == "InService"
    assert [e.endpoint_name for e in sdk.Endpoint.get_all()] == ["fake-plain"]
    assert [c.endpoint_config_name for c in sdk.EndpointConfig.get_all()] == ["model-plain-config"]
    assert [m.model_name for m in sdk.Model.get_all()] == ["model-plain"]
    answer = sdk.Endpoint.get("fake-plain").invoke(body=",".join(["0.5"] * 10), content_type="text/csv")
    assert answer.body.read() == b"3.0\n"


def test_an_endpoint_that_captures_answers_the_capture_summary(clients, data_bucket, sdk):
    sm = clients("sagemaker")
    sm.create_model(ModelName="capture-model", ExecutionRoleArn=SAGEMAKER_ROLE,
                    PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/abalone:latest"})
    sm.create_endpoint_config(EndpointConfigName="capture-config", DataCaptureConfig=CAPTURE, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "capture-model", "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="fake-capture", EndpointConfigName="capture-config")
    endpoint_settled(sm, "fake-capture")
    summary = complete(sm, "describe_endpoint", EndpointName="fake-capture")["DataCaptureConfig"]
    assert summary == {"EnableCapture": True, "CaptureStatus": "Started", "CurrentSamplingPercentage": 40,
                       "DestinationS3Uri": "s3://bucket/datacapture"}
    assert complete(sm, "describe_endpoint_config", EndpointConfigName="capture-config")["DataCaptureConfig"] == CAPTURE

    capture = sdk.Endpoint.get("fake-capture").data_capture_config
    assert (capture.capture_status, capture.current_sampling_percentage) == ("Started", 40)
    assert sdk.EndpointConfig.get("capture-config").data_capture_config.initial_sampling_percentage == 40


def test_a_model_package_is_named_by_its_group_and_the_group_says_who_made_it(clients, sdk):
    sm = clients("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="fish")
    arn = sm.create_model_package(ModelPackageGroupName="fish", InferenceSpecification={
        "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/abalone:latest"}],
        "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]
    package = complete(sm, "describe_model_package", ModelPackageName=arn)
    assert (package["ModelPackageName"], package["ModelPackageVersion"]) == ("fish", 1)
    assert "CreatedBy" in complete(sm, "describe_model_package_group", ModelPackageGroupName="fish")

    assert sdk.ModelPackage.get(arn).model_package_version == 1
    assert [p.model_package_arn for p in sdk.ModelPackage.get_all(model_package_group_name="fish")] == [arn]
    assert [g.model_package_group_name for g in sdk.ModelPackageGroup.get_all()] == ["fish"]
    assert sdk.ModelPackageGroup.get("fish").model_package_group_status == "Completed"


def test_a_processing_job_answers_the_resources_and_environment_it_was_given(clients, sdk, sagemaker_role):
    sm = clients("sagemaker")
    resources = {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}}
    sm.create_processing_job(
        ProcessingJobName="baseline-1", RoleArn=sagemaker_role, ProcessingResources=resources,
        AppSpecification={"ImageUri": "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"},
        Environment={"dataset_format": '{"csv": {"header": true}}'},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        ProcessingOutputConfig={"Outputs": [{"OutputName": "out", "S3Output": {
            "S3Uri": "s3://bucket/out", "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}]})
    job = complete(sm, "describe_processing_job", ProcessingJobName="baseline-1")
    assert job["ProcessingResources"] == resources
    assert job["Environment"] == {"dataset_format": '{"csv": {"header": true}}'}
    assert job["ProcessingStartTime"] <= job["LastModifiedTime"]

    got = sdk.ProcessingJob.get("baseline-1")
    assert got.processing_resources.cluster_config.volume_size_in_gb == 20
    assert [j.processing_job_name for j in sdk.ProcessingJob.get_all()] == ["baseline-1"]


def test_monitoring_schedules_are_listed(clients):
    sm = clients("sagemaker")
    assert complete(sm, "list_monitoring_schedules")["MonitoringScheduleSummaries"] == []
    assert sm.list_monitoring_schedules(EndpointName="abalone-prd")["MonitoringScheduleSummaries"] == []
