"""SageMaker processing jobs run their image's entrypoint on a local /opt/ml tree with the job's role, and report as
SageMaker does."""

import json

import pytest
from botocore.exceptions import ClientError

from mlops_workshop.localcloud import LocalCloud
from testkit.localcloud import BUCKET, FAKE_IMAGE_SETTINGS, IMAGE_URI, REGION, SAGEMAKER_ROLE, execution_role
from testkit.shapes import missing_members
from testkit.waiting import wait_for

SCRIPT = """
import json, os, pathlib, sys, time
import boto3
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
if os.environ.get("MODE") == "sleep":
    print("sleeping", flush=True)
    time.sleep(60)
if os.environ.get("MODE") == "continuous":
    (pathlib.Path(args["--output"]) / "early.txt").write_text("written first")
    print("wrote early.txt", flush=True)
    time.sleep(60)
if os.environ.get("MODE") == "fail":
    pathlib.Path(args["--message"]).write_text("the input has no rings column")
    print("failing on purpose", flush=True)
    sys.exit(3)
rows = sum(len(p.read_text().splitlines()) for p in pathlib.Path(args["--input"]).rglob("*.csv"))
config = json.loads(pathlib.Path(args["--config"]).read_text())
out = pathlib.Path(args["--output"])
(out / "deep").mkdir(parents=True, exist_ok=True)
(out / "deep" / "report.json").write_text(json.dumps({
    "rows": rows, "who": boto3.client("sts").get_caller_identity()["Arn"], "greeting": os.environ["GREETING"],
    "job": config["ProcessingJobName"]}))
pathlib.Path(args["--message"]).write_text("counted %d rows" % rows)
print("counted", rows, "rows", flush=True)
"""


def processing_request(name, mode="ok", **extra):
    request = {
        "ProcessingJobName": name,
        "RoleArn": SAGEMAKER_ROLE,
        "AppSpecification": {
            "ImageUri": IMAGE_URI,
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/count.py"],
            "ContainerArguments": ["--input", "/opt/ml/processing/input/data", "--output", "/opt/ml/processing/output",
                                   "--config", "/opt/ml/config/processingjobconfig.json",
                                   "--message", "/opt/ml/output/message"]},
        "Environment": {"GREETING": "hello", "MODE": mode},
        "ProcessingInputs": [
            {"InputName": "code", "S3Input": {"S3Uri": f"s3://{BUCKET}/code/count.py", "S3DataType": "S3Prefix",
                                              "LocalPath": "/opt/ml/processing/input/code", "S3InputMode": "File"}},
            {"InputName": "data", "S3Input": {"S3Uri": f"s3://{BUCKET}/training/", "S3DataType": "S3Prefix",
                                              "LocalPath": "/opt/ml/processing/input/data", "S3InputMode": "File"}}],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "report", "S3Output": {
            "S3Uri": f"s3://{BUCKET}/reports/{name}", "LocalPath": "/opt/ml/processing/output",
            "S3UploadMode": "EndOfJob"}}]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 5}},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    request.update(extra)
    return request


@pytest.fixture
def script(clients, data_bucket, sagemaker_role):
    clients("s3").put_object(Bucket=data_bucket, Key="code/count.py", Body=SCRIPT.encode())


def processing_done(sm, name, timeout=60):
    def check():
        job = sm.describe_processing_job(ProcessingJobName=name)
        return job if job["ProcessingJobStatus"] in ("Completed", "Failed", "Stopped") else None
    return wait_for(check, timeout, 0.2, f"processing job {name} ending")


def test_a_processing_job_runs_its_entrypoint_with_its_inputs_outputs_and_role(clients, cloud, script):
    sm, s3, logs = clients("sagemaker"), clients("s3"), clients("logs")
    arn = sm.create_processing_job(**processing_request("count-ok"))["ProcessingJobArn"]
    assert sm.describe_processing_job(ProcessingJobName="count-ok")["ProcessingJobStatus"] == "InProgress"

    job = processing_done(sm, "count-ok")
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ProcessingJobArn"] == arn
    assert missing_members("sagemaker", "DescribeProcessingJob", job) == []
    assert job["ExitMessage"] == "counted 6 rows"
    assert "FailureReason" not in job and "Tags" not in job
    assert job["Environment"] == {"GREETING": "hello", "MODE": "ok"}
    assert job["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 1
    assert job["CreationTime"] <= job["ProcessingStartTime"] <= job["ProcessingEndTime"]
    report = json.loads(s3.get_object(Bucket=BUCKET, Key="reports/count-ok/deep/report.json")["Body"].read())
    assert report == {"rows": 6, "greeting": "hello", "job": "count-ok",
                      "who": report["who"]}
    assert ":assumed-role/sagemaker-role/" in report["who"]

    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/ProcessingJobs")["logStreams"]
    assert [s["logStreamName"].split("/")[0] for s in streams] == ["count-ok"]
    assert streams[0]["logStreamName"].startswith("count-ok/algo-1-")
    events = logs.get_log_events(logGroupName="/aws/sagemaker/ProcessingJobs",
                                 logStreamName=streams[0]["logStreamName"])["events"]
    assert "counted 6 rows" in [e["message"] for e in events]
    summaries = sm.list_processing_jobs(NameContains="count")["ProcessingJobSummaries"]
    assert [(s["ProcessingJobName"], s["ProcessingJobStatus"], s["ExitMessage"]) for s in summaries] == [
        ("count-ok", "Completed", "counted 6 rows")]


def test_a_failing_container_fails_the_job_with_its_message(clients, script):
    sm, s3 = clients("sagemaker"), clients("s3")
    sm.create_processing_job(**processing_request("count-fail", "fail"))
    job = processing_done(sm, "count-fail")
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: the input has no rings column"
    assert job["ExitMessage"] == "the input has no rings column"
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="reports/count-fail")


def test_stop_processing_job(clients, cloud, script):
    sm = clients("sagemaker")
    sm.create_processing_job(**processing_request("count-stop", "sleep"))
    log = cloud.log_path("processing", "count-stop")
    wait_for(lambda: log.exists() and "sleeping" in log.read_text(), 30, what="the job to start")
    sm.stop_processing_job(ProcessingJobName="count-stop")
    assert sm.describe_processing_job(ProcessingJobName="count-stop")["ProcessingJobStatus"] == "Stopping"
    assert processing_done(sm, "count-stop", 30)["ProcessingJobStatus"] == "Stopped"
    with pytest.raises(ClientError) as error:
        sm.stop_processing_job(ProcessingJobName="count-stop")
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "status Stopped" in error.value.response["Error"]["Message"]


def test_continuous_outputs_go_up_while_the_job_runs(clients, cloud, script):
    sm, s3 = clients("sagemaker"), clients("s3")
    request = processing_request("count-continuous", "continuous")
    request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3UploadMode"] = "Continuous"
    sm.create_processing_job(**request)
    wait_for(lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix="reports/count-continuous/early.txt").get("Contents"),
             30, 0.2, "the continuous upload")
    assert sm.describe_processing_job(ProcessingJobName="count-continuous")["ProcessingJobStatus"] == "InProgress"
    sm.stop_processing_job(ProcessingJobName="count-continuous")
    assert processing_done(sm, "count-continuous", 30)["ProcessingJobStatus"] == "Stopped"


def test_what_sagemaker_refuses(clients, script):
    sm = clients("sagemaker")
    with pytest.raises(ClientError) as error:
        sm.describe_processing_job(ProcessingJobName="never")
    assert error.value.response["Error"]["Code"] == "ValidationException"
    bad = processing_request("count-path")
    bad["ProcessingInputs"][0]["S3Input"]["LocalPath"] = "/data/code"
    with pytest.raises(ClientError) as error:
        sm.create_processing_job(**bad)
    assert "must be an absolute path that begins with /opt/ml/processing/" in error.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as error:
        sm.create_processing_job(**processing_request("count-role", RoleArn="arn:aws:iam::123456789012:role/none"))
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "Could not assume role arn:aws:iam::123456789012:role/none" in error.value.response["Error"]["Message"]
    sm.create_processing_job(**processing_request("count-twice"))
    with pytest.raises(ClientError) as error:
        sm.create_processing_job(**processing_request("count-twice"))
    assert error.value.response["Error"]["Code"] == "ResourceInUse"
    processing_done(sm, "count-twice")
    missing = processing_request("count-nodata")
    missing["ProcessingInputs"][1]["S3Input"]["S3Uri"] = f"s3://{BUCKET}/nothing-here/"
    sm.create_processing_job(**missing)
    job = processing_done(sm, "count-nodata")
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: No S3 objects found under S3 URL")
    # The job's role pulls the image when the job starts, as for a training job; an image the ECR lacks fails it.
    unknown = processing_request("count-unknown-image")
    unknown["AppSpecification"]["ImageUri"] = IMAGE_URI.replace("/abalone:", "/unknown:")
    sm.create_processing_job(**unknown)
    job = processing_done(sm, "count-unknown-image")
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: Cannot find repository: unknown in registry ID: 123456789012")


def test_a_job_running_when_the_cloud_stops_ends_failed_after_the_restart(tmp_path, aws_env):
    settings = dict(FAKE_IMAGE_SETTINGS, persist_interval_s=0.2)
    first = LocalCloud(tmp_path / "cloud", port=0, region=REGION, settings=settings)
    first.start()
    try:
        s3, iam, sm = first.client("s3"), first.client("iam"), first.client("sagemaker")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="code/count.py", Body=SCRIPT.encode())
        s3.put_object(Bucket=BUCKET, Key="training/train.csv", Body=b"1,2\n")
        execution_role(first.client)
        sm.create_processing_job(**processing_request("count-restart", "sleep"))
        log = first.log_path("processing", "count-restart")
        wait_for(lambda: log.exists() and "sleeping" in log.read_text(), 30, what="the job to start")
    finally:
        first.stop()
    again = LocalCloud(tmp_path / "cloud", port=0, region=REGION, settings=settings)
    again.start()
    try:
        job = again.client("sagemaker").describe_processing_job(ProcessingJobName="count-restart")
        assert job["ProcessingJobStatus"] == "Failed"
        assert "the local cloud stopped while the processing job ran" in job["FailureReason"]
        assert job["ProcessingEndTime"] >= job["ProcessingStartTime"]
    finally:
        again.stop()
        from moto.moto_api._internal.models import moto_api_backend
        moto_api_backend.reset()
