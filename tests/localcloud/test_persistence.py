"""What the local cloud keeps: a stop and a start, or a kill -9 and a start, on the same folder give back the same
cloud; work in flight ends saying the cloud stopped; no process outlives the daemon; a foreign state is refused."""

from __future__ import annotations

import json
import os
import signal
import time

import boto3
import pytest

from mlops_workshop.localcloud import lifecycle, persistence
from mlops_workshop.localcloud.processes import TABLE, start_time
from mlops_workshop.modelserver import free_port
from testkit.localcloud import (BUCKET, CODEBUILD_ROLE, FAKE_IMAGE, IMAGE_URI, SAGEMAKER_ROLE, allow,
                                execution_role, model_tarball, service_role, training_request, trust, zip_of)
from testkit.waiting import wait_for

SETTINGS = {"image_contexts": {"abalone": str(FAKE_IMAGE)}, "endpoint_ready_timeout": 60, "persist_interval_s": 0.2,
            "codepipeline": {"poll_seconds": 0}}


class Daemon:
    """A local cloud in a process of its own on one folder, started, stopped and killed as a user would."""

    def __init__(self, folder, port):
        self.folder, self.port, self.state = folder, port, None

    def start(self, **kwargs):
        self.state = lifecycle.start(self.folder, port=self.port, settings=SETTINGS, **kwargs)
        return self.state

    def client(self, service):
        return boto3.client(service, endpoint_url=self.state["endpoint"], region_name="us-east-1",
                            aws_access_key_id="localcloud", aws_secret_access_key="localcloud")

    def kill(self):
        """kill -9, and wait until it is gone (its watchdog then ends its children)."""
        pid = self.state["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: start_time(pid) is None, 10, 0.05, f"the daemon {pid} to die")

    def saved(self, work_in_flight: bool = False):
        """Once the daemon has written everything changed so far (its interval is 0.2 s here); with work in flight
        (an execution, a build), a snapshot taken from now on, since their progress counts no change."""
        import urllib.request

        def health():
            with urllib.request.urlopen(f"{self.state['endpoint']}/_localcloud/health", timeout=5) as answer:
                return json.loads(answer.read())

        def kept(found):
            return found["saved_changes"] >= target and (not work_in_flight or found["saved_at"] > now)
        now, target = time.time(), health()["changes"]
        wait_for(lambda: kept(health()), 10, 0.05, "a snapshot with every change so far")


@pytest.fixture
def daemon(tmp_path, aws_env):
    instance = Daemon(tmp_path / "cloud", free_port())
    try:
        yield instance
    finally:
        lifecycle.stop(instance.folder)


def make_function(daemon, name, code, **settings):
    iam = daemon.client("iam")
    try:
        role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument=trust("lambda.amazonaws.com"))["Role"]["Arn"]
        iam.put_role_policy(RoleName="fn", PolicyName="anything", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName="fn")["Role"]["Arn"]
    return daemon.client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="lambda.lambda_handler",
        Code={"ZipFile": zip_of({"lambda.py": code})}, **settings)["FunctionArn"]


def test_a_stop_and_a_start_give_back_the_same_cloud(daemon):
    daemon.start()
    s3 = daemon.client("s3")
    s3.create_bucket(Bucket="kept")
    s3.put_bucket_versioning(Bucket="kept", VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket="kept", Key="data.csv", Body=b"1,2\n" * 50_000)["VersionId"]
    second = s3.put_object(Bucket="kept", Key="data.csv", Body=b"3,4\n")["VersionId"]
    arn = make_function(daemon, "answer", "def lambda_handler(event, context):\n    return 42\n")
    group = daemon.client("sagemaker").create_model_package_group(ModelPackageGroupName="kept")["ModelPackageGroupArn"]
    cfn = daemon.client("cloudformation")
    stack_id = cfn.create_stack(StackName="kept", TemplateBody=json.dumps({"Resources": {"Value": {
        "Type": "AWS::SSM::Parameter", "Properties": {"Name": "/kept", "Type": "String", "Value": "v"}}}}))["StackId"]
    cfn.get_waiter("stack_create_complete").wait(StackName="kept", WaiterConfig={"Delay": 1})
    target = {"ServiceNamespace": "sagemaker", "ResourceId": "endpoint/kept/variant/AllTraffic",
              "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"}
    daemon.client("application-autoscaling").register_scalable_target(**target, MinCapacity=1, MaxCapacity=3)

    assert lifecycle.stop(daemon.folder)
    daemon.start()

    s3 = daemon.client("s3")
    versions = [v["VersionId"] for v in s3.list_object_versions(Bucket="kept")["Versions"]]
    assert set(versions) == {first, second}
    assert s3.get_object(Bucket="kept", Key="data.csv", VersionId=first)["ContentLength"] == 200_000
    assert daemon.client("lambda").get_function(FunctionName="answer")["Configuration"]["FunctionArn"] == arn
    assert daemon.client("lambda").invoke(FunctionName="answer")["Payload"].read() == b"42"
    described = daemon.client("sagemaker").describe_model_package_group(ModelPackageGroupName="kept")
    assert described["ModelPackageGroupArn"] == group
    stack = daemon.client("cloudformation").describe_stacks(StackName="kept")["Stacks"][0]
    assert stack["StackId"] == stack_id and stack["StackStatus"] == "CREATE_COMPLETE"
    assert daemon.client("ssm").get_parameter(Name="/kept")["Parameter"]["Value"] == "v"
    [scaling] = daemon.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker")["ScalableTargets"]
    assert (scaling["ResourceId"], scaling["MaxCapacity"]) == (target["ResourceId"], 3)


def test_a_kill_loses_at_most_the_last_interval_and_work_in_flight_ends_saying_so(daemon):
    daemon.start()
    s3, sm = daemon.client("s3"), daemon.client("sagemaker")
    s3.create_bucket(Bucket=BUCKET)
    rows = "\n".join(f"{label},{','.join(['0.5'] * 10)}" for label in (8, 10, 12)) + "\n"
    s3.put_object(Bucket=BUCKET, Key="training/train.csv", Body=rows.encode())
    execution_role(daemon.client)
    sm.create_training_job(**training_request("in-flight", {"sleep": "60"}))
    wait_for(lambda: sm.describe_training_job(TrainingJobName="in-flight")["SecondaryStatus"] == "Training", 30)
    glue = daemon.client("glue")
    s3.put_object(Bucket=BUCKET, Key="scripts/long.py", Body=b"import time\ntime.sleep(60)\n")
    # The run fetches its script as the job's role.
    iam = daemon.client("iam")
    iam.create_role(RoleName="glue", AssumeRolePolicyDocument=trust("glue.amazonaws.com"))
    iam.put_role_policy(RoleName="glue", PolicyName="script", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/scripts/*"}]}))
    glue.create_job(Name="long", Role="arn:aws:iam::123456789012:role/glue", GlueVersion="3.0",
                    Command={"Name": "pythonshell", "ScriptLocation": f"s3://{BUCKET}/scripts/long.py"})
    run_id = glue.start_job_run(JobName="long")["JobRunId"]
    wait_for(lambda: glue.get_job_run(JobName="long", RunId=run_id)["JobRun"]["JobRunState"] == "RUNNING", 30)
    s3.put_object(Bucket=BUCKET, Key="last-write", Body=b"acknowledged")
    daemon.saved()
    daemon.kill()

    daemon.start()
    assert daemon.client("s3").get_object(Bucket=BUCKET, Key="last-write")["Body"].read() == b"acknowledged"
    job = daemon.client("sagemaker").describe_training_job(TrainingJobName="in-flight")
    assert job["TrainingJobStatus"] == "Failed"
    assert "the local cloud stopped while the training job ran" in job["FailureReason"]
    run = daemon.client("glue").get_job_run(JobName="long", RunId=run_id)["JobRun"]
    assert run["JobRunState"] == "FAILED" and "The local cloud stopped while the job ran" in run["ErrorMessage"]


def test_an_endpoint_that_served_serves_again_before_start_returns(daemon):
    daemon.start()
    s3, sm = daemon.client("s3"), daemon.client("sagemaker")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="model.tar.gz", Body=model_tarball({"model.json": b'{"mean": 4.5}'}))
    execution_role(daemon.client)
    sm.create_model(ModelName="kept", ExecutionRoleArn=SAGEMAKER_ROLE,
                    PrimaryContainer={"Image": IMAGE_URI, "ModelDataUrl": f"s3://{BUCKET}/model.tar.gz"})
    sm.create_endpoint_config(EndpointConfigName="kept", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "kept", "InitialInstanceCount": 1, "InstanceType": "ml.t2.medium"}])
    sm.create_endpoint(EndpointName="kept", EndpointConfigName="kept")
    wait_for(lambda: sm.describe_endpoint(EndpointName="kept")["EndpointStatus"] == "InService", 60)
    daemon.saved(work_in_flight=True)
    daemon.kill()

    daemon.start()
    assert daemon.client("sagemaker").describe_endpoint(EndpointName="kept")["EndpointStatus"] == "InService"
    answer = daemon.client("sagemaker-runtime").invoke_endpoint(EndpointName="kept", Body=",".join(["0.5"] * 10),
                                                                ContentType="text/csv")
    assert answer["Body"].read() == b"4.5\n"


def test_no_child_outlives_a_killed_daemon(daemon):
    daemon.start()
    make_function(daemon, "warm", "def lambda_handler(event, context):\n    return 1\n")
    daemon.client("lambda").invoke(FunctionName="warm")
    table = json.loads((daemon.folder / TABLE).read_text())
    children = [entry["pid"] for entry in table["children"]]
    assert children, "the warm Lambda environment should be recorded as the daemon's child"
    daemon.kill()
    wait_for(lambda: all(start_time(pid) is None for pid in children), 10, 0.05, "the watchdog to end the children")
    wait_for(lambda: not (daemon.folder / TABLE).exists(), 10, 0.05, "the watchdog to clear the table")


def test_a_start_ends_what_a_dead_daemon_and_its_watchdog_left_behind(daemon, tmp_path):
    import subprocess
    import sys
    left = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        (daemon.folder).mkdir(parents=True)
        (daemon.folder / TABLE).write_text(json.dumps({
            "owner": {"pid": 999_999_999, "started": 1},
            "children": [{"pid": left.pid, "label": "lambda left-over", "started": start_time(left.pid)}]}))
        state = daemon.start()
        assert state["reaped"] == [f"lambda left-over (pid {left.pid})"]
        assert left.wait(10) is not None
    finally:
        if left.poll() is None:
            left.kill()


def test_a_state_from_another_version_is_refused_with_what_to_do(daemon):
    daemon.start()
    daemon.client("s3").create_bucket(Bucket="kept")
    lifecycle.stop(daemon.folder)
    version = daemon.folder / "state" / persistence.VERSION
    version.write_text(json.dumps({**json.loads(version.read_text()), "moto": "4.0.0"}))
    with pytest.raises(lifecycle.LocalCloudError, match=r"written by a different local cloud.*moto 4\.0\.0.*--fresh"):
        daemon.start()
    daemon.start(fresh=True)
    assert daemon.client("s3").list_buckets()["Buckets"] == []


def test_a_crash_while_saving_leaves_the_previous_state(tmp_path, monkeypatch):
    from mlops_workshop.localcloud import LocalCloud
    cloud = LocalCloud(tmp_path / "cloud", port=0, settings={"persist_interval_s": 60})
    cloud.start()
    try:
        s3 = boto3.client("s3", endpoint_url=cloud.endpoint_url, region_name="us-east-1",
                          aws_access_key_id="localcloud", aws_secret_access_key="localcloud")
        s3.create_bucket(Bucket="before")
        assert cloud.store.save()
        s3.create_bucket(Bucket="after")

        def crash(src, dst):
            raise OSError("the machine went down")
        monkeypatch.setattr(persistence.os, "replace", crash)
        with pytest.raises(OSError):
            cloud.store.save()
        monkeypatch.undo()
        saved = cloud.store.load()
        buckets = [backend for (kind, _, _), backend in saved["moto"].items() if kind.endswith(":S3Backend")]
        assert [list(b.buckets) for b in buckets] == [["before"]]
    finally:
        cloud.stop()


SLOW_CUSTOM = '''
import json, time, urllib.request
import boto3

def lambda_handler(event, context):
    if event["RequestType"] == "Create":
        time.sleep(60)
    boto3.client("s3").put_object(Bucket="records", Key=event["RequestType"], Body=b"seen")
    body = json.dumps({"Status": "SUCCESS", "PhysicalResourceId": "slow", "StackId": event["StackId"],
                       "RequestId": event["RequestId"], "LogicalResourceId": event["LogicalResourceId"],
                       "Data": {}}).encode()
    urllib.request.urlopen(urllib.request.Request(event["ResponseURL"], data=body, method="PUT"), timeout=10).read()
'''


def test_an_interrupted_stack_create_is_rolled_back_so_that_it_can_be_created_again(daemon):
    daemon.start()
    daemon.client("s3").create_bucket(Bucket="records")
    token = make_function(daemon, "slow", SLOW_CUSTOM, Timeout=120)
    template = json.dumps({"Resources": {
        "Kept": {"Type": "AWS::SSM::Parameter", "Properties": {"Name": "/made", "Type": "String", "Value": "v"}},
        "Slow": {"Type": "Custom::Slow", "DependsOn": "Kept", "Properties": {"ServiceToken": token}}}})
    cfn = daemon.client("cloudformation")
    cfn.create_stack(StackName="interrupted", TemplateBody=template)
    wait_for(lambda: any(e["LogicalResourceId"] == "Slow" and e["ResourceStatus"] == "CREATE_IN_PROGRESS"
                         for e in cfn.describe_stack_events(StackName="interrupted")["StackEvents"]), 30)
    daemon.saved(work_in_flight=True)
    daemon.kill()

    daemon.start()
    cfn = daemon.client("cloudformation")
    summaries = cfn.list_stacks()["StackSummaries"]
    assert [(s["StackName"], s["StackStatus"]) for s in summaries] == [("interrupted", "DELETE_COMPLETE")]
    reasons = [e.get("ResourceStatusReason") or "" for e in cfn.describe_stack_events(StackName=summaries[0]["StackId"])
               ["StackEvents"]]
    assert any("The local cloud stopped while the stack was CREATE_IN_PROGRESS" in r for r in reasons)
    with pytest.raises(daemon.client("ssm").exceptions.ParameterNotFound):
        daemon.client("ssm").get_parameter(Name="/made")
    wait_for(lambda: daemon.client("s3").list_objects_v2(Bucket="records").get("KeyCount"), 30, 0.2,
             "the custom resource's Delete request")
    assert cfn.create_stack(StackName="interrupted", TemplateBody=json.dumps({"Resources": {"Kept": {
        "Type": "AWS::SSM::Parameter", "Properties": {"Name": "/made", "Type": "String", "Value": "v"}}}}))


def test_an_execution_and_a_build_in_flight_end_saying_the_cloud_stopped(daemon):
    daemon.start()
    iam, s3 = daemon.client("iam"), daemon.client("s3")
    role = iam.create_role(RoleName="pipeline", AssumeRolePolicyDocument=trust("codepipeline.amazonaws.com"))
    iam.put_role_policy(RoleName="pipeline", PolicyName="all", PolicyDocument=allow())
    for bucket in ("artifacts", "sources"):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket="sources", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="sources", Key="src.zip", Body=zip_of({"buildspec.yml": "version: 0.2\nphases:\n  build:\n"
                                                                                 "    commands:\n      - sleep 60\n"}))
    build = daemon.client("codebuild")
    build.create_project(name="slow", source={"type": "S3", "location": "sources/src.zip"},
                         artifacts={"type": "NO_ARTIFACTS"},
                         serviceRole=service_role(daemon.client, CODEBUILD_ROLE, "codebuild.amazonaws.com"),
                         environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                                      "computeType": "BUILD_GENERAL1_SMALL"})
    build_id = build.start_build(projectName="slow")["build"]["id"]
    wait_for(lambda: build.batch_get_builds(ids=[build_id])["builds"][0]["currentPhase"] == "BUILD", 30)
    source = {"name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3",
                                                 "version": "1"},
              "configuration": {"S3Bucket": "sources", "S3ObjectKey": "src.zip", "PollForSourceChanges": "false"},
              "outputArtifacts": [{"name": "Src"}]}
    approval = {"name": "Approve", "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual",
                                                    "version": "1"}}
    cp = daemon.client("codepipeline")
    cp.create_pipeline(pipeline={"name": "waits", "roleArn": role["Role"]["Arn"], "artifactStore": {
        "type": "S3", "location": "artifacts"}, "stages": [{"name": "Source", "actions": [source]},
                                                           {"name": "Approval", "actions": [approval]}]})

    def waiting():
        stages = cp.get_pipeline_state(name="waits")["stageStates"]
        return stages[1].get("actionStates", [{}])[0].get("latestExecution", {}).get("token")
    wait_for(waiting, 30, 0.2, "the approval to wait")
    daemon.saved(work_in_flight=True)
    daemon.kill()

    daemon.start()
    cp, build = daemon.client("codepipeline"), daemon.client("codebuild")
    [execution] = cp.list_pipeline_executions(pipelineName="waits")["pipelineExecutionSummaries"]
    assert execution["status"] == "Failed"
    assert "The local cloud stopped while this execution ran" in execution["statusSummary"]
    action = cp.get_pipeline_state(name="waits")["stageStates"][1]["actionStates"][0]["latestExecution"]
    assert action["status"] == "Failed" and "token" not in action
    finished = build.batch_get_builds(ids=[build_id])["builds"][0]
    assert finished["buildStatus"] == "FAULT" and finished["buildComplete"] is True
    assert "the local cloud stopped while the build ran" in finished["phases"][-1]["contexts"][0]["message"]
