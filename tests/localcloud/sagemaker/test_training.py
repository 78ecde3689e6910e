"""SageMaker training jobs run the image's `train` on a local /opt/ml tree and report as SageMaker does."""

import json

import pytest
from botocore.exceptions import ClientError
from testkit.localcloud import ACCOUNT, BUCKET, ECR_PULL, service_role, training_job_done, training_request, untar
from testkit.waiting import wait_for


def test_training_job_runs_train_and_uploads_the_model(clients, cloud, data_bucket):
    sm, s3 = clients("sagemaker"), clients("s3")
    events = clients("events")
    events.put_rule(Name="training-state", EventPattern=json.dumps({"source": ["aws.sagemaker"]}))
    sm.create_training_job(**training_request("fake-ok", {"epochs": "7"},
                                                  Environment={"FAKE_ENV": "from-the-job"}))

    first = sm.describe_training_job(TrainingJobName="fake-ok")
    assert first["TrainingJobStatus"] == "InProgress"
    # Where the model will be is a required member from the start, though nothing is there yet.
    assert first["ModelArtifacts"] == {"S3ModelArtifacts": f"s3://{BUCKET}/models/fake-ok/output/model.tar.gz"}

    job = training_job_done(sm, "fake-ok")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["SecondaryStatus"] == "Completed"
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert job["TrainingStartTime"] <= job["TrainingEndTime"] <= job["LastModifiedTime"]
    artifacts = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifacts == f"s3://{data_bucket}/models/fake-ok/output/model.tar.gz"
    assert job["FinalMetricDataList"][0]["MetricName"] == "validation:rmse"
    assert job["FinalMetricDataList"][0]["Value"] == pytest.approx(0.0)

    files = untar(s3.get_object(Bucket=data_bucket, Key="models/fake-ok/output/model.tar.gz")["Body"].read())
    model = json.loads(files["model.json"])
    assert model == {"mean": 10.0, "epochs": 7, "env": "from-the-job"}

    root = cloud.state_dir / "training" / "fake-ok"
    assert json.loads((root / "input/config/hyperparameters.json").read_text()) == {"epochs": "7"}
    assert json.loads((root / "input/config/inputdataconfig.json").read_text())["training"]["ContentType"] == "text/csv"
    assert json.loads((root / "input/config/resourceconfig.json").read_text())["current_host"] == "algo-1"
    assert sorted(p.name for p in (root / "input/data/training").iterdir()) == ["train.csv", "validate.csv"]
    assert "trained on 6 rows" in cloud.log_path("training", "fake-ok").read_text()


def test_bad_hyperparameter_fails_with_the_reason_from_output_failure(clients, data_bucket):
    sm = clients("sagemaker")
    sm.create_training_job(**training_request("fake-bad", {"epochs": "many"}))
    job = training_job_done(sm, "fake-bad")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["SecondaryStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: hyperparameter epochs='many' is not a whole number"
    assert job["ModelArtifacts"] == {"S3ModelArtifacts": f"s3://{BUCKET}/models/fake-bad/output/model.tar.gz"}


@pytest.mark.parametrize("output", [f"s3://{BUCKET}/models", f"s3://{BUCKET}/models/"])
def test_the_model_goes_under_the_output_path_as_given(clients, data_bucket, output):
    sm = clients("sagemaker")
    sm.create_training_job(**training_request("fake-out", OutputDataConfig={"S3OutputPath": output}))
    assert sm.describe_training_job(TrainingJobName="fake-out")["ModelArtifacts"] == {
        "S3ModelArtifacts": f"s3://{BUCKET}/models/fake-out/output/model.tar.gz"}
    assert training_job_done(sm, "fake-out")["TrainingJobStatus"] == "Completed"


def test_missing_channel_data_fails_as_sagemaker_says(clients, data_bucket):
    sm = clients("sagemaker")
    sm.create_training_job(**training_request("fake-nodata", prefix="nothing-here/"))
    job = training_job_done(sm, "fake-nodata")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: No S3 objects found under S3 URL")


def test_what_the_execution_role_does_not_allow_fails_the_job_with_the_access_denied(clients, cloud, data_bucket):
    sm = clients("sagemaker")

    def role(name, *actions):
        return service_role(clients, f"arn:aws:iam::{ACCOUNT}:role/{name}", "sagemaker.amazonaws.com",
                            [ECR_PULL, {"Effect": "Allow", "Action": list(actions), "Resource": "*"}])
    cannot_list = role("cannot-list", "s3:GetObject", "s3:PutObject")
    cannot_write = role("cannot-write", "s3:GetObject", "s3:ListBucket")
    sm.create_training_job(**training_request("no-list", RoleArn=cannot_list))
    sm.create_training_job(**training_request("no-write", RoleArn=cannot_write))
    job = training_job_done(sm, "no-list")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith(f"ClientError: Data download failed:Failed to list the objects under "
                                           f"s3://{data_bucket}/training/ (AccessDenied: User: arn:aws:sts::{ACCOUNT}:"
                                           f"assumed-role/cannot-list/SageMaker is not authorized to perform: "
                                           f"s3:ListBucket"), job["FailureReason"]
    job = training_job_done(sm, "no-write")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith(f"ClientError: Artifact upload failed:Unable to upload model.tar.gz to "
                                           f"s3://{data_bucket}/models/no-write/output/model.tar.gz (AccessDenied: "
                                           f"User: arn:aws:sts::{ACCOUNT}:assumed-role/cannot-write/SageMaker is not "
                                           f"authorized to perform: s3:PutObject"), job["FailureReason"]
    # The channels were read as the role, by its session named as SageMaker names it.
    read = [d for d in cloud.service("iam").decisions(cannot_write) if d["action"] == "s3:GetObject"]
    assert {d["principal"] for d in read} == {f"arn:aws:sts::{ACCOUNT}:assumed-role/cannot-write/SageMaker"}
    assert {d["resource"] for d in read} == {f"arn:aws:s3:::{data_bucket}/training/train.csv",
                                             f"arn:aws:s3:::{data_bucket}/training/validate.csv"}


def test_stop_training_job(clients, cloud, data_bucket):
    sm, s3 = clients("sagemaker"), clients("s3")
    sm.create_training_job(**training_request("fake-stop", {"sleep": "60"}))
    log = cloud.log_path("training", "fake-stop")
    wait_for(lambda: log.exists() and "sleeping 60 s" in log.read_text(), 30, what="training to start")
    assert sm.describe_training_job(TrainingJobName="fake-stop")["SecondaryStatus"] == "Training"
    sm.stop_training_job(TrainingJobName="fake-stop")
    assert sm.describe_training_job(TrainingJobName="fake-stop")["TrainingJobStatus"] == "Stopping"
    job = training_job_done(sm, "fake-stop", timeout=30)
    assert job["TrainingJobStatus"] == "Stopped"
    assert job["SecondaryStatus"] == "Stopped"
    # What the container saved on SIGTERM is kept, as SageMaker does.
    files = untar(s3.get_object(Bucket=data_bucket, Key="models/fake-stop/output/model.tar.gz")["Body"].read())
    assert json.loads(files["partial.json"]) == {"stopped": True}
    with pytest.raises(ClientError) as error:
        sm.stop_training_job(TrainingJobName="fake-stop")
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "status Stopped" in error.value.response["Error"]["Message"]


def test_final_states_are_events_on_the_default_bus(clients, cloud, data_bucket, monkeypatch):
    sent = []
    monkeypatch.setattr(cloud.service("events"), "put_event", lambda *args, **kwargs: sent.append((args, kwargs)))
    sm = clients("sagemaker")
    sm.create_training_job(**training_request("fake-event", {"epochs": "oops"},
                                                  Tags=[{"Key": "PipelineExecutionId", "Value": "exec-1"}]))
    training_job_done(sm, "fake-event")
    wait_for(lambda: sent, 10, what="the state-change event")
    (source, detail_type, detail, resources), _ = sent[0]
    assert (source, detail_type) == ("aws.sagemaker", "SageMaker Training Job State Change")
    assert detail["TrainingJobName"] == "fake-event"
    assert detail["TrainingJobStatus"] == "Failed"
    assert "not a whole number" in detail["FailureReason"]
    assert isinstance(detail["TrainingEndTime"], int)
    assert resources == [detail["TrainingJobArn"]]
    assert detail["Tags"] == {"PipelineExecutionId": "exec-1"}  # a map, as SageMaker's event has them


def test_stop_unknown_job_is_a_validation_error(clients):
    with pytest.raises(ClientError) as error:
        clients("sagemaker").stop_training_job(TrainingJobName="no-such-job")
    assert error.value.response["Error"]["Code"] == "ValidationException"


def test_training_job_names_are_unique(clients, data_bucket):
    sm = clients("sagemaker")
    sm.create_training_job(**training_request("fake-twice"))
    with pytest.raises(ClientError) as error:
        sm.create_training_job(**training_request("fake-twice"))
    assert error.value.response["Error"]["Code"] == "ResourceInUse"
    training_job_done(sm, "fake-twice")


def test_a_channel_prefix_without_a_slash_puts_its_files_at_the_channel_root(cloud, clients, data_bucket):
    # TrainingLaunchJob gives s3://<bucket>/<execution>/input/training, as the seed did.
    sm = clients("sagemaker")
    sm.create_training_job(**training_request("fake-noslash", prefix="training"))
    assert training_job_done(sm, "fake-noslash")["TrainingJobStatus"] == "Completed"
    root = cloud.state_dir / "training" / "fake-noslash"
    assert sorted(p.name for p in (root / "input/data/training").iterdir()) == ["train.csv", "validate.csv"]


def test_a_killed_training_process_fails_the_job_saying_so(cloud, clients, data_bucket):
    import os
    import signal
    import time

    sm = clients("sagemaker")
    sm.create_training_job(**training_request("fake-killed", {"sleep": "60"}))
    deadline = time.monotonic() + 60
    while not (found := [p for p in cloud.processes() if p["label"] == "train fake-killed" and p["running"]]):
        assert time.monotonic() < deadline, "the job's train process did not start"
        time.sleep(0.1)
    os.kill(found[0]["pid"], signal.SIGKILL)
    job = training_job_done(sm, "fake-killed")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: the training container was killed (SIGKILL) with exit "
                                           "code -9")
