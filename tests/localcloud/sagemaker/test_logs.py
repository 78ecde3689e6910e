"""Training jobs and endpoints write their containers' output to CloudWatch Logs where SageMaker does, as they run,
and a failure's reason says where to read it."""

import os
import re
import signal
import time

from testkit.localcloud import endpoint_settled, model_tarball, training_job_done, training_request
from testkit.waiting import wait_for

from .test_endpoints import deploy  # noqa: F401  (the fixture)

TRAINING_GROUP = "/aws/sagemaker/TrainingJobs"


def messages(logs, group, stream):
    return [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName=stream,
                                                      startFromHead=True)["events"]]


def streams(logs, group, prefix=""):
    try:
        found = logs.describe_log_streams(logGroupName=group, **({"logStreamNamePrefix": prefix} if prefix else {}))[
            "logStreams"]
    except logs.exceptions.ResourceNotFoundException:  # the group comes with the first stream
        return []
    return [s["logStreamName"] for s in found]


def test_a_training_job_logs_to_its_stream_while_it_runs(clients, data_bucket):
    sm, logs = clients("sagemaker"), clients("logs")
    started = int(time.time())
    sm.create_training_job(**training_request("fake-logs", {"sleep": "60"}))
    stream = wait_for(lambda: next(iter(streams(logs, TRAINING_GROUP, "fake-logs/")), None), 30,
                      what="the job's log stream")
    assert re.fullmatch(r"fake-logs/algo-1-\d{10}", stream)
    assert started <= int(stream.rsplit("-", 1)[1]) <= time.time()
    # Near real time: the container's line is there while the job is still training.
    wait_for(lambda: "sleeping 60 s" in messages(logs, TRAINING_GROUP, stream), 15, what="the line in the stream")
    assert sm.describe_training_job(TrainingJobName="fake-logs")["TrainingJobStatus"] == "InProgress"
    assert not any(m.startswith("[localcloud]") for m in messages(logs, TRAINING_GROUP, stream))
    sm.stop_training_job(TrainingJobName="fake-logs")
    training_job_done(sm, "fake-logs")
    assert "stopped by SIGTERM; saved a partial model" in messages(logs, TRAINING_GROUP, stream)


def test_a_completed_job_has_all_its_output_in_the_stream(clients, data_bucket):
    sm, logs = clients("sagemaker"), clients("logs")
    sm.create_training_job(**training_request("fake-done", {"epochs": "3"}))
    assert training_job_done(sm, "fake-done")["TrainingJobStatus"] == "Completed"
    [stream] = streams(logs, TRAINING_GROUP, "fake-done/")
    assert "trained on 6 rows for 3 epochs" in messages(logs, TRAINING_GROUP, stream)


def test_a_job_that_dies_says_which_stream_has_its_log(clients, cloud, data_bucket):
    sm, logs = clients("sagemaker"), clients("logs")
    sm.create_training_job(**training_request("fake-dies", {"sleep": "60"}))
    found = wait_for(lambda: [p for p in cloud.processes() if p["label"] == "train fake-dies" and p["running"]], 60,
                     what="the train process")
    stream = wait_for(lambda: next(iter(streams(logs, TRAINING_GROUP, "fake-dies/")), None), 30, what="its stream")
    wait_for(lambda: "sleeping 60 s" in messages(logs, TRAINING_GROUP, stream), 15, what="the line in the stream")
    os.kill(found[0]["pid"], signal.SIGKILL)
    job = training_job_done(sm, "fake-dies")
    assert job["FailureReason"].startswith("AlgorithmError: the training container was killed (SIGKILL)")
    assert f"see its log: group {TRAINING_GROUP}, stream {stream}" in job["FailureReason"]
    assert "sleeping 60 s" in messages(logs, TRAINING_GROUP, stream)


def test_an_endpoint_logs_per_variant_and_instance(clients, deploy):  # noqa: F811
    sm, logs, runtime = clients("sagemaker"), clients("logs"), clients("sagemaker-runtime")
    sm.create_endpoint(EndpointName="fake-logged", EndpointConfigName=deploy("model-logged", 4.0))
    assert endpoint_settled(sm, "fake-logged")["EndpointStatus"] == "InService"
    group = "/aws/sagemaker/Endpoints/fake-logged"
    [first] = streams(logs, group)
    assert re.fullmatch(r"AllTraffic/i-[0-9a-f]{17}", first)
    runtime.invoke_endpoint(EndpointName="fake-logged", Body=",".join(["0.5"] * 10), ContentType="text/csv")
    wait_for(lambda: messages(logs, group, first), 15, what="the server's output in its stream")

    # A new deployment is a new instance: a stream of its own beside the first one's.
    sm.update_endpoint(EndpointName="fake-logged", EndpointConfigName=deploy("model-logged-2", 5.0))
    wait_for(lambda: sm.describe_endpoint(EndpointName="fake-logged")["EndpointConfigName"] == "model-logged-2-config"
             and sm.describe_endpoint(EndpointName="fake-logged")["EndpointStatus"] == "InService", 60,
             what="the update")
    assert len(streams(logs, group, "AllTraffic/")) == 2


def test_an_endpoint_that_fails_its_health_check_says_which_stream_has_its_log(clients, data_bucket, deploy):  # noqa: F811
    sm, s3, logs = clients("sagemaker"), clients("s3"), clients("logs")
    s3.put_object(Bucket=data_bucket, Key="empty/model.tar.gz", Body=model_tarball({"other.txt": b"x"}))
    config = deploy("model-broken", 1.0, ModelDataUrl=f"s3://{data_bucket}/empty/model.tar.gz")
    sm.create_endpoint(EndpointName="fake-broken", EndpointConfigName=config)
    endpoint = endpoint_settled(sm, "fake-broken")
    assert endpoint["EndpointStatus"] == "Failed"
    [stream] = streams(logs, "/aws/sagemaker/Endpoints/fake-broken")
    assert ("Please check CloudWatch logs for this endpoint: log group /aws/sagemaker/Endpoints/fake-broken, "
            f"stream {stream}.") in endpoint["FailureReason"]
    assert any("model.json" in m for m in messages(logs, "/aws/sagemaker/Endpoints/fake-broken", stream))
