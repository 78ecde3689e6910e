"""Glue StartJobRun runs the Python-shell script from S3 with the job's arguments; GetJobRun shows real states."""

import json
import threading

import pytest
from testkit.localcloud import trust
from testkit.waiting import wait_for

SCRIPTS = "glue-scripts"
DATA = "glue-data"

WRITES = '''
import json, sys
import boto3

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
boto3.client("s3").put_object(Bucket=args["--OUTPUT_BUCKET"], Key="out/args.json", Body=json.dumps(args))
print("wrote the arguments")
'''

FAILS = '''
import sys

class EtlError(Exception):
    pass

print("checking", sys.argv[1:])
raise EtlError("row 3 column sex: unknown sex code 'Q'")
'''


@pytest.fixture
def cloud_settings():
    return {"glue_timeout_minute_s": 1}


@pytest.fixture
def glue_job(clients):
    """glue_job(name, script_text, **settings) creates the job with its script in S3."""
    s3 = clients("s3")
    s3.create_bucket(Bucket=SCRIPTS)
    s3.create_bucket(Bucket=DATA)

    iam = clients("iam")
    iam.create_role(RoleName="glue", AssumeRolePolicyDocument=trust("glue.amazonaws.com"))
    iam.put_role_policy(RoleName="glue", PolicyName="buckets", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": [
            f"arn:aws:s3:::{bucket}{part}" for bucket in (SCRIPTS, DATA) for part in ("", "/*")]}]}))

    def make(name, script, **settings):
        s3.put_object(Bucket=SCRIPTS, Key=f"{name}/script.py", Body=script)
        clients("glue").create_job(Name=name, Role="arn:aws:iam::123456789012:role/glue",
                                   Command={"Name": "pythonshell", "PythonVersion": "3.9",
                                            "ScriptLocation": f"s3://{SCRIPTS}/{name}/script.py"},
                                   GlueVersion="3.0", **settings)
        return name
    return make


def final_run(glue, name, run_id, timeout=30):
    def finished():
        run = glue.get_job_run(JobName=name, RunId=run_id)["JobRun"]
        return run if run["JobRunState"] not in ("STARTING", "RUNNING", "STOPPING") else None
    return wait_for(finished, timeout, what=f"run {run_id} of {name} to end")


def test_a_run_executes_the_script_with_merged_arguments(cloud, clients, glue_job):
    glue = clients("glue")
    glue_job("writes", WRITES, DefaultArguments={"--OUTPUT_BUCKET": DATA, "--SEED": "42", "library-set": "analytics"})
    run_id = glue.start_job_run(JobName="writes", Arguments={"--SEED": "7"})["JobRunId"]
    assert glue.get_job_run(JobName="writes", RunId=run_id)["JobRun"]["JobRunState"] in ("STARTING", "RUNNING")
    run = final_run(glue, "writes", run_id)
    assert run["JobRunState"] == "SUCCEEDED", run
    assert "ErrorMessage" not in run
    assert run["CompletedOn"] >= run["StartedOn"]
    assert run["ExecutionTime"] >= 0
    args = json.loads(clients("s3").get_object(Bucket=DATA, Key="out/args.json")["Body"].read())
    assert args["--SEED"] == "7"
    assert args["--OUTPUT_BUCKET"] == DATA
    assert args["--library-set"] == "analytics"
    assert args["--JOB_NAME"] == "writes"
    assert args["--JOB_RUN_ID"] == run_id
    assert args["--job-bookmark-option"] == "job-bookmark-disable"
    assert "wrote the arguments" in cloud.log_path("glue", run_id).read_text()
    runs = glue.get_job_runs(JobName="writes")["JobRuns"]
    assert [(r["Id"], r["JobRunState"]) for r in runs] == [(run_id, "SUCCEEDED")]


def test_a_script_that_raises_fails_the_run_with_its_exception(cloud, clients, glue_job):
    glue = clients("glue")
    glue_job("fails", FAILS)
    run_id = glue.start_job_run(JobName="fails")["JobRunId"]
    run = final_run(glue, "fails", run_id)
    assert run["JobRunState"] == "FAILED"
    # Python 3.9, Glue's, names a script's own exception by its module; later Pythons do not.
    assert run["ErrorMessage"] in ("EtlError: row 3 column sex: unknown sex code 'Q'",
                                   "__main__.EtlError: row 3 column sex: unknown sex code 'Q'")
    log_text = cloud.log_path("glue", run_id).read_text()
    assert "checking" in log_text and "Traceback" in log_text


def test_a_run_past_its_timeout_times_out(clients, glue_job):
    glue = clients("glue")
    glue_job("sleeps", "import time\ntime.sleep(60)\n", Timeout=10)
    run_id = glue.start_job_run(JobName="sleeps", Timeout=1)["JobRunId"]
    run = final_run(glue, "sleeps", run_id, timeout=15)
    assert run["JobRunState"] == "TIMEOUT"
    assert run["Timeout"] == 1


def test_a_missing_script_fails_the_run(clients, glue_job):
    glue = clients("glue")
    glue_job("lost", "print('never')\n")
    clients("s3").delete_object(Bucket=SCRIPTS, Key="lost/script.py")
    run_id = glue.start_job_run(JobName="lost")["JobRunId"]
    run = final_run(glue, "lost", run_id)
    assert run["JobRunState"] == "FAILED"
    assert f"s3://{SCRIPTS}/lost/script.py" in run["ErrorMessage"]


def test_max_concurrent_runs_holds_while_a_run_is_running_and_a_run_can_be_stopped(clients, glue_job):
    glue = clients("glue")
    glue_job("long", "import time\ntime.sleep(60)\n", ExecutionProperty={"MaxConcurrentRuns": 1})
    run_id = glue.start_job_run(JobName="long")["JobRunId"]
    with pytest.raises(glue.exceptions.ConcurrentRunsExceededException):
        glue.start_job_run(JobName="long")
    stopped = glue.batch_stop_job_run(JobName="long", JobRunIds=[run_id])
    assert stopped["SuccessfulSubmissions"] == [{"JobName": "long", "JobRunId": run_id}]
    assert final_run(glue, "long", run_id)["JobRunState"] == "STOPPED"


def test_a_run_stopped_while_its_script_is_still_being_fetched_ends_stopped(clients, glue_job,
                                                                           monkeypatch):
    from mlops_workshop.localcloud.glue.runner import GlueJobRunner
    stop_asked = threading.Event()
    original_stop, original_fetch = GlueJobRunner.stop, GlueJobRunner._fetch

    def stop(self, run):
        original_stop(self, run)
        stop_asked.set()

    def fetch(s3, url, folder):
        assert stop_asked.wait(10), "BatchStopJobRun never reached the runner"
        return original_fetch(s3, url, folder)

    monkeypatch.setattr(GlueJobRunner, "stop", stop)
    monkeypatch.setattr(GlueJobRunner, "_fetch", staticmethod(fetch))
    glue = clients("glue")
    glue_job("early", "import time\ntime.sleep(60)\n")
    run_id = glue.start_job_run(JobName="early")["JobRunId"]
    glue.batch_stop_job_run(JobName="early", JobRunIds=[run_id])
    assert final_run(glue, "early", run_id, timeout=15)["JobRunState"] == "STOPPED"


def test_update_job_replaces_the_definition_and_the_next_run_uses_it(clients, glue_job):
    glue = clients("glue")
    glue_job("updated", FAILS, DefaultArguments={"--SEED": "42"}, Description="first")
    clients("s3").put_object(Bucket=SCRIPTS, Key="updated/v2.py", Body=WRITES)
    first = glue.start_job_run(JobName="updated")["JobRunId"]
    assert final_run(glue, "updated", first)["JobRunState"] == "FAILED"
    glue.update_job(JobName="updated", JobUpdate={
        "Role": "arn:aws:iam::123456789012:role/glue",
        "Command": {"Name": "pythonshell", "PythonVersion": "3.9", "ScriptLocation": f"s3://{SCRIPTS}/updated/v2.py"},
        "DefaultArguments": {"--OUTPUT_BUCKET": DATA}, "GlueVersion": "3.0"})
    job = glue.get_job(JobName="updated")["Job"]
    assert job["Command"]["ScriptLocation"] == f"s3://{SCRIPTS}/updated/v2.py"
    assert job["DefaultArguments"] == {"--OUTPUT_BUCKET": DATA}
    assert "Description" not in job or job["Description"] is None  # left out of JobUpdate: gone, as on AWS
    second = glue.start_job_run(JobName="updated")["JobRunId"]
    assert final_run(glue, "updated", second)["JobRunState"] == "SUCCEEDED"
    assert "--SEED" not in json.loads(clients("s3").get_object(Bucket=DATA, Key="out/args.json")["Body"].read())
    assert {r["Id"] for r in glue.get_job_runs(JobName="updated")["JobRuns"]} == {first, second}


def test_update_job_of_a_missing_job_or_without_role_fails_with_glues_errors(clients, glue_job):
    glue = clients("glue")
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.update_job(JobName="nowhere", JobUpdate={"Role": "r", "Command": {"Name": "pythonshell"}})
    glue_job("kept", WRITES)
    with pytest.raises(glue.exceptions.InvalidInputException, match="Role is required"):
        glue.update_job(JobName="kept", JobUpdate={"Command": {"Name": "pythonshell"}})


def test_a_run_whose_process_is_killed_fails_saying_so(cloud, clients, glue_job):
    import os
    import signal

    glue = clients("glue")
    glue_job("killed", "import time\nprint('working', flush=True)\ntime.sleep(60)\n")
    run_id = glue.start_job_run(JobName="killed")["JobRunId"]
    proc = wait_for(lambda: next((p for p in cloud.processes() if p["label"] == f"glue killed {run_id}"), None),
                    what="the run's process")
    os.kill(proc["pid"], signal.SIGKILL)
    run = final_run(glue, "killed", run_id)
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "The job's process was killed by signal SIGKILL"


def test_a_run_logs_its_output_and_its_errors_where_glue_puts_them(clients, glue_job):
    glue, logs = clients("glue"), clients("logs")
    glue_job("logged", FAILS)
    run_id = glue.start_job_run(JobName="logged")["JobRunId"]
    run = final_run(glue, "logged", run_id)
    assert run["LogGroupName"] == "/aws-glue/python-jobs"

    def messages(group):
        return [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName=run_id)["events"]]
    output, errors = messages("/aws-glue/python-jobs/output"), messages("/aws-glue/python-jobs/error")
    assert any(m.startswith("checking [") for m in output) and not any("Traceback" in m for m in output)
    assert errors[0].startswith("Traceback") and errors[-1] == run["ErrorMessage"]
    assert not any(m.startswith("[localcloud]") for m in output + errors)
