"""CodeBuild StartBuild runs the buildspec's phases for real; BatchGetBuilds shows phases, status and the log."""

import io
import textwrap
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from localcloud.codebuild.buildkit import OUTPUTS, SOURCES, finished, phases, source_zip
from testkit.localcloud import CODEBUILD_ROLE, service_role
from testkit.tools import require_aws_cli
from testkit.waiting import wait_for


BUILDSPEC = textwrap.dedent("""\
    version: 0.2
    env:
      variables:
        GREETING: hello
        FROM_PROJECT: the buildspec loses to the project
      parameter-store:
        DB_NAME: /workshop/db-name
      exported-variables:
        - RESULT
    phases:
      install:
        commands:
          - python -c "import boto3, yaml"
          - export CARRIED=over
      pre_build:
        commands:
          - cd app
      build:
        commands:
          - test "$CARRIED" = over
          - mkdir -p out/nested
          - echo "$GREETING $FROM_PROJECT $FROM_CALL $DB_NAME" > out/env.txt
          - echo "$CODEBUILD_BUILD_ID $CODEBUILD_BUILD_NUMBER $CODEBUILD_SRC_DIR $AWS_DEFAULT_REGION $AWS_REGION" >> out/env.txt
          - echo "$CODEBUILD_INITIATOR $CODEBUILD_RESOLVED_SOURCE_VERSION" >> out/env.txt
          - python -c "import boto3; print(len(boto3.client('s3').list_buckets()['Buckets']))" > out/nested/buckets.txt
          - export RESULT=built
      post_build:
        commands:
          - echo "post_build ran, succeeding=$CODEBUILD_BUILD_SUCCEEDING"
    artifacts:
      base-directory: app/out
      files:
        - '**/*'
""")

FAILING = textwrap.dedent("""\
    version: 0.2
    phases:
      build:
        commands:
          - echo before
          - sh -c 'echo the tool broke >&2; exit 3'
          - echo never
        finally:
          - echo "finally ran" > finally.txt
      post_build:
        commands:
          - echo "post_build succeeding=$CODEBUILD_BUILD_SUCCEEDING"
    artifacts:
      files:
        - finally.txt
""")


def test_build_runs_phases_with_variables_and_zips_artifacts(clients, project):
    clients("ssm").put_parameter(Name="/workshop/db-name", Value="abalone-db", Type="String")
    cb, s3 = clients("codebuild"), clients("s3")
    name = project("app-build", {"buildspec.yml": BUILDSPEC, "app/readme.txt": "the app"})
    started = cb.start_build(projectName=name, environmentVariablesOverride=[
        {"name": "FROM_CALL", "value": "the call", "type": "PLAINTEXT"}])["build"]
    assert started["buildStatus"] == "IN_PROGRESS"
    build = finished(cb, started["id"])

    assert build["buildStatus"] == "SUCCEEDED", phases(build)
    assert phases(build) == [
        ("SUBMITTED", "SUCCEEDED"), ("QUEUED", "SUCCEEDED"), ("PROVISIONING", "SUCCEEDED"),
        ("DOWNLOAD_SOURCE", "SUCCEEDED"), ("INSTALL", "SUCCEEDED"), ("PRE_BUILD", "SUCCEEDED"),
        ("BUILD", "SUCCEEDED"), ("POST_BUILD", "SUCCEEDED"), ("UPLOAD_ARTIFACTS", "SUCCEEDED"),
        ("FINALIZING", "SUCCEEDED"), ("COMPLETED", None)]
    assert build["currentPhase"] == "COMPLETED"
    assert build["exportedEnvironmentVariables"] == [{"name": "RESULT", "value": "built"}]
    uuid = build["id"].split(":", 1)[1]
    key = f"builds/{uuid}/out.zip"
    assert build["artifacts"]["location"] == f"arn:aws:s3:::{OUTPUTS}/{key}"
    archive = zipfile.ZipFile(io.BytesIO(s3.get_object(Bucket=OUTPUTS, Key=key)["Body"].read()))
    assert sorted(archive.namelist()) == ["env.txt", "nested/buckets.txt"]
    lines = archive.read("env.txt").decode().splitlines()
    assert lines[0] == "hello project the call abalone-db"
    build_id, number, src_dir, region, region2 = lines[1].split()
    assert (build_id, number, region, region2) == (build["id"], "1", "us-east-1", "us-east-1")
    assert Path(src_dir).name == "src"
    assert lines[2].split()[0] == "localcloud" and lines[2].split()[1]
    assert int(archive.read("nested/buckets.txt")) == 2

    log = Path(build["logs"]["deepLink"].removeprefix("file://"))
    text = log.read_text()
    assert "Running command cd app" in text
    assert "post_build ran, succeeding=1" in text
    assert build["logs"]["groupName"] == "/aws/codebuild/app-build"
    events = clients("logs").get_log_events(logGroupName="/aws/codebuild/app-build",
                                            logStreamName=build["logs"]["streamName"])["events"]
    assert any("post_build ran" in e["message"] for e in events)
    assert clients("codebuild").list_builds_for_project(projectName=name)["ids"] == [build["id"]]


def test_failing_command_fails_the_phase_and_finally_runs(clients, project):
    cb = clients("codebuild")
    name = project("failing", {"buildspec.yml": FAILING})
    build = finished(cb, cb.start_build(projectName=name)["build"]["id"])
    assert build["buildStatus"] == "FAILED"
    assert phases(build)[4:] == [("INSTALL", "SUCCEEDED"), ("PRE_BUILD", "SUCCEEDED"), ("BUILD", "FAILED"),
                                 ("POST_BUILD", "SUCCEEDED"), ("UPLOAD_ARTIFACTS", "SUCCEEDED"),
                                 ("FINALIZING", "SUCCEEDED"), ("COMPLETED", None)]
    failed = next(p for p in build["phases"] if p["phaseType"] == "BUILD")
    assert failed["contexts"] == [{
        "statusCode": "COMMAND_EXECUTION_ERROR",
        "message": "Error while executing command: sh -c 'echo the tool broke >&2; exit 3'. Reason: exit status 3"}]
    text = Path(build["logs"]["deepLink"].removeprefix("file://")).read_text()
    assert "the tool broke" in text and "before" in text and "never" not in text.replace("echo never", "")
    assert "post_build succeeding=0" in text
    # finally ran: the artifact it wrote was uploaded.
    assert build["artifacts"]["location"].endswith("/out.zip")


def test_failed_pre_build_skips_to_finalizing(clients, project):
    cb = clients("codebuild")
    spec = "version: 0.2\nphases:\n  pre_build:\n    commands:\n      - false\n  build:\n    commands:\n      - echo built\n"
    name = project("prebuild-fails", {"buildspec.yml": spec})
    build = finished(cb, cb.start_build(projectName=name)["build"]["id"])
    assert build["buildStatus"] == "FAILED"
    assert phases(build)[4:] == [("INSTALL", "SUCCEEDED"), ("PRE_BUILD", "FAILED"), ("FINALIZING", "SUCCEEDED"),
                                 ("COMPLETED", None)]


def test_bad_buildspec_fails_in_download_source(clients, project):
    cb = clients("codebuild")
    name = project("bad-spec", {"buildspec.yml": "version: 0.2\nphases:\n  compile:\n    commands: [make]\n"})
    build = finished(cb, cb.start_build(projectName=name)["build"]["id"])
    assert build["buildStatus"] == "FAILED"
    download = next(p for p in build["phases"] if p["phaseType"] == "DOWNLOAD_SOURCE")
    assert download["phaseStatus"] == "FAILED"
    assert download["contexts"][0]["statusCode"] == "YAML_FILE_ERROR"
    assert "unknown phase 'compile'" in download["contexts"][0]["message"]


def test_buildspec_override_and_stop_build(clients, project):
    cb = clients("codebuild")
    name = project("stoppable", {"buildspec.yml": BUILDSPEC})
    spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo sleeping\n      - sleep 60\n"
    build_id = cb.start_build(projectName=name, buildspecOverride=spec)["build"]["id"]
    wait_for(lambda: cb.batch_get_builds(ids=[build_id])["builds"][0]["currentPhase"] == "BUILD", 30,
                 what="the build phase")
    stopped = cb.stop_build(id=build_id)["build"]
    assert stopped["buildStatus"] == "STOPPED"
    assert ("BUILD", "STOPPED") in phases(stopped)


def test_unknown_project_is_resource_not_found(clients):
    with pytest.raises(ClientError) as error:
        clients("codebuild").start_build(projectName="nope")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_run_build_for_the_pipeline(clients, cloud):
    cb = clients("codebuild")
    clients("s3").create_bucket(Bucket=OUTPUTS)
    service_role(clients, CODEBUILD_ROLE, "codebuild.amazonaws.com")
    cb.create_project(name="pipeline-build", source={"type": "CODEPIPELINE", "buildspec": "spec/build.yml",
                                                              "location": "pipeline"},
                      artifacts={"type": "CODEPIPELINE", "location": "pipeline"},
                      serviceRole=CODEBUILD_ROLE,
                      environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                                   "computeType": "BUILD_GENERAL1_SMALL"})
    spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - ./make.sh\nartifacts:\n  files: [result.txt]\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("spec/build.yml", spec)
        script = zipfile.ZipInfo("make.sh")
        script.external_attr = 0o755 << 16
        archive.writestr(script, '#!/bin/sh\necho "stage=$STAGE" > result.txt\n')
    result = cloud.service("codebuild").run_build("pipeline-build", buffer.getvalue(), {"STAGE": "Dev"},
                                                  f"s3://{OUTPUTS}/pipeline/BuildOutput/abc.zip",
                                                  source_version="1a2b3c")
    assert result["buildStatus"] == "SUCCEEDED", result["phases"]
    assert result["artifactLocation"] == f"s3://{OUTPUTS}/pipeline/BuildOutput/abc.zip"
    assert result["initiator"] == "codepipeline"
    assert result["resolvedSourceVersion"] == "1a2b3c"
    data = clients("s3").get_object(Bucket=OUTPUTS, Key="pipeline/BuildOutput/abc.zip")["Body"].read()
    assert zipfile.ZipFile(io.BytesIO(data)).read("result.txt") == b"stage=Dev\n"
    assert Path(result["logPath"]).is_file()

    with pytest.raises(ClientError):
        cb.start_build(projectName="missing-project")
    build = finished(cb, cb.start_build(projectName="pipeline-build")["build"]["id"])
    assert build["buildStatus"] == "FAILED"
    assert "start this project's builds from its pipeline" in build["phases"][3]["contexts"][0]["message"]


def test_codecommit_source_at_a_branch(clients, tmp_path):
    import subprocess
    cc, cb = clients("codecommit"), clients("codebuild")
    service_role(clients, CODEBUILD_ROLE, "codebuild.amazonaws.com")
    url = cc.create_repository(repositoryName="app")["repositoryMetadata"]["cloneUrlHttp"]
    work = tmp_path / "work"
    work.mkdir()
    (work / "buildspec.yml").write_text("version: 0.2\nphases:\n  build:\n    commands:\n"
                                        "      - echo \"built $(git rev-parse --short HEAD)\"\n")
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "--quiet", "-b", "main"], ["add", "."], ["commit", "--quiet", "-m", "first"],
                 ["push", "--quiet", url, "main"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    cb.create_project(name="from-git", source={"type": "CODECOMMIT",
                                               "location": "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/app"},
                      artifacts={"type": "NO_ARTIFACTS"}, serviceRole=CODEBUILD_ROLE,
                      environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                                   "computeType": "BUILD_GENERAL1_SMALL"})
    build = finished(cb, cb.start_build(projectName="from-git", sourceVersion="refs/heads/main")["build"]["id"])
    text = Path(build["logs"]["deepLink"].removeprefix("file://")).read_text()
    assert build["buildStatus"] == "SUCCEEDED", text[-2000:]
    assert build["resolvedSourceVersion"] == head
    assert f"built {head[:7]}" in text


LOGGED = """
version: 0.2
phases:
  build:
    commands:
      - echo "building with $(command -v aws)"
      - aws --version
"""


def logged_project(clients, name: str, logs_config: dict) -> str:
    s3, cb = clients("s3"), clients("codebuild")
    service_role(clients, CODEBUILD_ROLE, "codebuild.amazonaws.com")
    s3.create_bucket(Bucket=SOURCES)
    s3.put_object(Bucket=SOURCES, Key=f"{name}/source.zip", Body=source_zip({"buildspec.yml": LOGGED}))
    cb.create_project(name=name, source={"type": "S3", "location": f"{SOURCES}/{name}/source.zip"},
                      serviceRole=CODEBUILD_ROLE, artifacts={"type": "NO_ARTIFACTS"},
                      environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                                   "computeType": "BUILD_GENERAL1_SMALL"},
                      logsConfig=logs_config)
    return name


def cloud_dir(build: dict) -> str:
    name, uuid = build["id"].split(":", 1)
    log = Path(build["logs"]["deepLink"].removeprefix("file://"))
    return str(log.parents[3] / "codebuild" / f"{name}-{uuid}")


def test_a_build_logs_where_the_projects_logs_config_says_as_it_runs(clients):
    aws_cli = require_aws_cli()
    cb, logs = clients("codebuild"), clients("logs")
    logs.create_log_group(logGroupName="/mlops/stack/codebuild")
    name = logged_project(clients, "logged", {"cloudWatchLogs": {
        "status": "ENABLED", "groupName": "/mlops/stack/codebuild", "streamName": "buildimage"}})
    build = finished(cb, cb.start_build(projectName=name)["build"]["id"])
    assert build["buildStatus"] == "SUCCEEDED", phases(build)
    uuid = build["id"].split(":", 1)[1]
    assert (build["logs"]["groupName"], build["logs"]["streamName"]) == ("/mlops/stack/codebuild", f"buildimage/{uuid}")
    assert build["logs"]["cloudWatchLogsArn"].endswith(f":log-group:/mlops/stack/codebuild:log-stream:buildimage/{uuid}")
    messages = [e["message"] for e in logs.get_log_events(logGroupName="/mlops/stack/codebuild",
                                                          logStreamName=f"buildimage/{uuid}")["events"]]
    # The buildspec's `aws` is the project's own CLI (through the build's bin), as a CodeBuild image has one.
    assert f"building with {cloud_dir(build)}/bin/aws" in messages and Path(aws_cli).is_file()
    assert any(m.startswith("aws-cli/1.") for m in messages)


def test_a_project_with_cloudwatch_logs_disabled_writes_none(clients):
    cb, logs = clients("codebuild"), clients("logs")
    name = logged_project(clients, "quiet", {"cloudWatchLogs": {"status": "DISABLED"}})
    build = finished(cb, cb.start_build(projectName=name)["build"]["id"])
    assert build["buildStatus"] == "SUCCEEDED", phases(build)
    assert build["logs"]["cloudWatchLogs"] == {"status": "DISABLED"} and "groupName" not in build["logs"]
    assert logs.describe_log_groups(logGroupNamePrefix="/aws/codebuild/quiet")["logGroups"] == []
