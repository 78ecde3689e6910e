"""The workshop's own image (container/) through the local cloud: a training job, then an endpoint of its model."""

import pytest
from botocore.exceptions import ClientError

from mlops_workshop import REPO_ROOT
from mlops_workshop.benchmarks.localcloud import abalone_channel
from testkit.localcloud import (BUCKET, IMAGE_URI, SAGEMAKER_ROLE, endpoint_settled, training_job_done, training_request,
                                untar)

CONTAINER = REPO_ROOT / "container"
ROW = "0,0,1,0.455,0.365,0.095,0.514,0.2245,0.101,0.15"

pytestmark = pytest.mark.slow


@pytest.fixture
def cloud_settings():
    """The repository's container/ folder, given for the abalone repository (no build pushed it here)."""
    return {"endpoint_ready_timeout": 180, "image_contexts": {"abalone": str(REPO_ROOT / "container")}}


def test_training_job_and_endpoint_of_the_workshop_model(clients, cloud):
    sm, s3 = clients("sagemaker"), clients("s3")
    s3.create_bucket(Bucket=BUCKET)
    for name, text in abalone_channel().items():
        s3.put_object(Bucket=BUCKET, Key=f"training/{name}", Body=text.encode())

    sm.create_training_job(**training_request("abalone-small", {"epochs": "5", "patience": "2"}))
    job = training_job_done(sm, "abalone-small", timeout=600)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert f"{REPO_ROOT / 'container'} (settings image_contexts['abalone'])" in \
        cloud.log_path("training", "abalone-small").read_text()
    files = untar(s3.get_object(Bucket=BUCKET, Key="models/abalone-small/output/model.tar.gz")["Body"].read())
    assert {"model.keras", "predictor.npz", "metadata.json"} <= set(files)
    rmse = next(m["Value"] for m in job["FinalMetricDataList"] if m["MetricName"] == "validation:rmse")
    assert 0 < rmse < 10

    sm.create_training_job(**training_request("abalone-bad", {"epochs": "0"}))
    failed = training_job_done(sm, "abalone-bad", timeout=300)
    assert failed["TrainingJobStatus"] == "Failed"
    assert failed["FailureReason"].startswith("AlgorithmError: hyperparameter epochs='0'")

    sm.create_model(ModelName="abalone", ExecutionRoleArn=SAGEMAKER_ROLE, PrimaryContainer={
        "Image": IMAGE_URI, "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"]})
    sm.create_endpoint_config(EndpointConfigName="abalone-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "abalone", "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="abalone-dev", EndpointConfigName="abalone-config")
    endpoint = endpoint_settled(sm, "abalone-dev", timeout=240)
    assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")

    runtime = clients("sagemaker-runtime")
    answer = runtime.invoke_endpoint(EndpointName="abalone-dev", Body=f"{ROW}\n{ROW}\n", ContentType="text/csv")
    predictions = [float(v) for v in answer["Body"].read().decode().split()]
    assert len(predictions) == 2 and predictions[0] == predictions[1] and 1 < predictions[0] < 30
    with pytest.raises(ClientError) as bad:
        runtime.invoke_endpoint(EndpointName="abalone-dev", Body="1,2,3", ContentType="text/csv")
    assert bad.value.response["Error"]["Code"] == "ModelError"
    assert bad.value.response["OriginalStatusCode"] == 400
    assert bad.value.response["OriginalMessage"]
