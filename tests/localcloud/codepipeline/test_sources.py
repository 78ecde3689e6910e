"""Source actions: a CodeCommit branch and an S3 object become artifacts, and a new revision of either starts
a new execution when the pipeline polls its sources."""

import shutil
import subprocess

import pytest
from testkit.localcloud import SOURCES, approval_action, files_of, starter_role
from testkit.waiting import wait_for
from testkit.tools import require_git

@pytest.fixture(autouse=True)
def _git():
    require_git()


GIT = shutil.which("git")


@pytest.fixture
def cloud_settings():
    return {"codepipeline": {"poll_seconds": 0.5}}


def git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=Workshop", "-c", "user.email=workshop@example.com", *args], cwd=cwd,
                   check=True, capture_output=True)


def test_sources_zip_their_revision_and_a_new_revision_starts_an_execution(aws, tmp_path):
    url = aws.clients("codecommit").create_repository(repositoryName="code")["repositoryMetadata"]["cloneUrlHttp"]
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "model.py").write_text("VERSION = 1\n")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "first model")
    git(work, "push", "-q", url, "main")
    data_version = aws.s3.put_object(Bucket=SOURCES, Key="data.csv", Body=b"1,2,3\n")["VersionId"]

    def source(name, provider, configuration, output):
        return {"name": name, "actionTypeId": {"category": "Source", "owner": "AWS", "provider": provider,
                                               "version": "1"},
                "configuration": configuration, "outputArtifacts": [{"name": output}], "runOrder": 1}
    code = source("Code", "CodeCommit", {"RepositoryName": "code", "BranchName": "main"}, "CodeOut")
    code["namespace"] = "CodeVars"
    first = aws.pipeline("sourced", [
        {"name": "Source", "actions": [code, source("Data", "S3", {"S3Bucket": SOURCES, "S3ObjectKey": "data.csv"},
                                                    "DataOut")]},
        {"name": "Use", "actions": [approval_action("Look")]},
    ])
    token = aws.waiting_token("sourced", "Use", "Look")
    execution = aws.cp.get_pipeline_execution(pipelineName="sourced", pipelineExecutionId=first)["pipelineExecution"]
    revisions = {r["name"]: r for r in execution["artifactRevisions"]}
    commit_id = revisions["CodeOut"]["revisionId"]
    assert len(commit_id) == 40 and revisions["CodeOut"]["revisionSummary"] == "first model"
    assert revisions["DataOut"]["revisionId"] == data_version
    details = {d["actionName"]: d for d in aws.cp.list_action_executions(
        pipelineName="sourced", filter={"pipelineExecutionId": first})["actionExecutionDetails"]}
    assert details["Code"]["output"]["outputVariables"]["CommitId"] == commit_id
    code_zip = details["Code"]["output"]["outputArtifacts"][0]["s3location"]
    assert files_of(aws.s3.get_object(Bucket=code_zip["bucket"], Key=code_zip["key"])["Body"].read()) == \
        {"model.py": "VERSION = 1\n"}
    data = details["Data"]["output"]["outputArtifacts"][0]["s3location"]
    assert aws.s3.get_object(Bucket=data["bucket"], Key=data["key"])["Body"].read() == b"1,2,3\n"
    aws.cp.put_approval_result(pipelineName="sourced", stageName="Use", actionName="Look", token=token,
                               result={"summary": "ok", "status": "Approved"})
    assert aws.finished("sourced", first)["status"] == "Succeeded"

    # A new commit is noticed by polling, as CodePipeline polls a source with PollForSourceChanges.
    (work / "model.py").write_text("VERSION = 2\n")
    git(work, "commit", "-q", "-am", "second model")
    git(work, "push", "-q", url, "main")
    summaries = wait_for(
        lambda: [s for s in aws.cp.list_pipeline_executions(pipelineName="sourced")["pipelineExecutionSummaries"]
                 if s["pipelineExecutionId"] != first], what="an execution started by the new commit")
    assert summaries[0]["trigger"] == {"triggerType": "PollForSourceChanges", "triggerDetail": "Code"}
    aws.waiting_token("sourced", "Use", "Look")
    second = aws.cp.get_pipeline_execution(pipelineName="sourced",
                                           pipelineExecutionId=summaries[0]["pipelineExecutionId"])
    revisions = {r["name"]: r for r in second["pipelineExecution"]["artifactRevisions"]}
    assert revisions["CodeOut"]["revisionId"] != commit_id
    assert revisions["CodeOut"]["revisionSummary"] == "second model"
    assert revisions["DataOut"]["revisionId"] == data_version


def test_an_eventbridge_rule_on_a_push_starts_the_pipeline(aws, tmp_path):
    url = aws.clients("codecommit").create_repository(repositoryName="pushed")["repositoryMetadata"]["cloneUrlHttp"]
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "a.txt").write_text("one\n")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "one")
    git(work, "push", "-q", url, "main")
    code = {"name": "Code", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit",
                                            "version": "1"},
            "configuration": {"RepositoryName": "pushed", "BranchName": "main", "PollForSourceChanges": "false"},
            "outputArtifacts": [{"name": "CodeOut"}], "runOrder": 1}
    first = aws.pipeline("on-push", [{"name": "Source", "actions": [code]},
                                     {"name": "Use", "actions": [approval_action("Look")]}])
    events = aws.clients("events")
    rule = events.put_rule(Name="on-push", EventPattern='{"source": ["aws.codecommit"], '
                                                       '"detail-type": ["CodeCommit Repository State Change"]}')
    pipeline_arn = "arn:aws:codepipeline:us-east-1:123456789012:on-push"
    role = starter_role(aws.clients("iam"), "on-push-starter", pipeline_arn, rule["RuleArn"])
    events.put_targets(Rule="on-push", Targets=[{"Id": "pipeline", "Arn": pipeline_arn, "RoleArn": role}])
    (work / "a.txt").write_text("two\n")
    git(work, "commit", "-q", "-am", "two")
    git(work, "push", "-q", url, "main")
    started = wait_for(
        lambda: [s for s in aws.cp.list_pipeline_executions(pipelineName="on-push")["pipelineExecutionSummaries"]
                 if s["pipelineExecutionId"] != first], what="an execution started by the push event")
    assert started[0]["trigger"] == {"triggerType": "CloudWatchEvent", "triggerDetail": rule["RuleArn"]}
