"""moto's /moto-api/reset stops the training jobs that run: a job of the same name after it is a new one."""

import urllib.request

from testkit.localcloud import execution_role, training_job_done, training_request
from testkit.waiting import wait_for


def test_a_reset_stops_a_running_training_job_and_a_new_one_runs(clients, cloud, data_bucket):
    sm = clients("sagemaker")
    sm.create_training_job(**training_request("fake-reset", {"sleep": "60"}))
    log = cloud.log_path("training", "fake-reset")
    wait_for(lambda: log.exists() and "sleeping 60 s" in log.read_text(), 30, what="training to start")
    running = cloud.service("sagemaker").training_job("fake-reset", "us-east-1")

    request = urllib.request.Request(f"{cloud.endpoint_url}/moto-api/reset", data=b"", method="POST")
    urllib.request.urlopen(request, timeout=30).read()

    assert running.done.wait(30), "the training job still runs after the reset"
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []
    execution_role(clients)  # the reset emptied IAM too
    clients("s3").create_bucket(Bucket=data_bucket)
    clients("s3").put_object(Bucket=data_bucket, Key="training/train.csv", Body=b"8,0.5\n")
    sm.create_training_job(**training_request("fake-reset"))
    assert training_job_done(sm, "fake-reset")["TrainingJobStatus"] == "Completed"
