"""CodeCommit: repositories are real git repositories; git pushes to the clone URL and the API answers from git."""

import io
import json
import os
import subprocess
import zipfile

import pytest
from botocore.exceptions import ClientError
from testkit.waiting import wait_for
from testkit.tools import require_git



@pytest.fixture(autouse=True)
def _git():
    require_git()


@pytest.fixture
def git(tmp_path):
    """git(*args, cwd=...) runs the real git CLI with a fixed identity and no user configuration."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "Workshop Tester", "GIT_AUTHOR_EMAIL": "tester@example.com",
           "GIT_COMMITTER_NAME": "Workshop Tester", "GIT_COMMITTER_EMAIL": "tester@example.com",
           "GIT_TERMINAL_PROMPT": "0"}

    def run(*args, cwd=tmp_path, check=True):
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
        if check:
            assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
        return done
    return run


@pytest.fixture
def work(tmp_path, git):
    """A local repository with one commit on branch main."""
    folder = tmp_path / "work"
    folder.mkdir()
    git("init", "--quiet", "--initial-branch=main", cwd=folder)
    (folder / "job.json").write_text('{"Name": "etl"}\n')
    (folder / "scripts").mkdir()
    (folder / "scripts" / "run.sh").write_text("#!/bin/sh\necho run\n")
    os.chmod(folder / "scripts" / "run.sh", 0o755)
    git("add", ".", cwd=folder)
    git("commit", "--quiet", "-m", "First commit", cwd=folder)
    return folder


def test_push_then_the_api_answers_from_git(cloud, clients, git, work, tmp_path):
    cc = clients("codecommit")
    url = cc.create_repository(repositoryName="etl-source")["repositoryMetadata"]["cloneUrlHttp"]
    assert url == f"{cloud.endpoint_url}/v1/repos/etl-source"
    assert "defaultBranch" not in cc.get_repository(repositoryName="etl-source")["repositoryMetadata"]

    git("push", "--quiet", url, "main", cwd=work)
    head = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    assert cc.get_branch(repositoryName="etl-source", branchName="main")["branch"] == {
        "branchName": "main", "commitId": head}
    assert cc.list_branches(repositoryName="etl-source")["branches"] == ["main"]
    assert cc.get_repository(repositoryName="etl-source")["repositoryMetadata"]["defaultBranch"] == "main"
    commit = cc.get_commit(repositoryName="etl-source", commitId=head)["commit"]
    assert commit["message"] == "First commit\n"
    assert commit["parents"] == []
    assert commit["author"]["name"] == "Workshop Tester"
    assert commit["author"]["email"] == "tester@example.com"
    assert commit["treeId"] == git("rev-parse", "HEAD^{tree}", cwd=work).stdout.strip()

    git("clone", "--quiet", url, str(tmp_path / "clone"))
    assert (tmp_path / "clone" / "job.json").read_text() == '{"Name": "etl"}\n'

    commit_id, body = cloud.service("codecommit").archive_branch("etl-source", "main")
    assert commit_id == head
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert sorted(archive.namelist()) == ["job.json", "scripts/", "scripts/run.sh"]
        assert archive.read("job.json") == b'{"Name": "etl"}\n'
        assert (archive.getinfo("scripts/run.sh").external_attr >> 16) & 0o111


def test_missing_repositories_branches_and_commits_give_codecommits_errors(cloud, clients, git, work):
    cc = clients("codecommit")
    url = cc.create_repository(repositoryName="etl-source")["repositoryMetadata"]["cloneUrlHttp"]
    git("push", "--quiet", url, "main", cwd=work)
    cases = [
        (lambda: cc.get_branch(repositoryName="nowhere", branchName="main"), "RepositoryDoesNotExistException"),
        (lambda: cc.get_branch(repositoryName="etl-source", branchName="dev"), "BranchDoesNotExistException"),
        (lambda: cc.get_commit(repositoryName="etl-source", commitId="0" * 40), "CommitIdDoesNotExistException"),
        (lambda: cc.get_commit(repositoryName="etl-source", commitId="HEAD"), "InvalidCommitIdException"),
        (lambda: cc.list_branches(repositoryName="nowhere"), "RepositoryDoesNotExistException"),
    ]
    for call, code in cases:
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.response["Error"]["Code"] == code

    from mlops_workshop.localcloud.codecommit.exceptions import CodeCommitError
    with pytest.raises(CodeCommitError) as raised:
        cloud.service("codecommit").archive_branch("etl-source", "dev")
    assert raised.value.code == "BranchDoesNotExistException"


def test_a_push_to_a_missing_repository_fails(cloud, git, work):
    done = git("push", f"{cloud.endpoint_url}/v1/repos/nowhere", "main", cwd=work, check=False)
    assert done.returncode != 0
    assert "not found" in done.stderr


def test_a_large_push_and_its_state_change_events(cloud, clients, git, work):
    cc, events, sqs = clients("codecommit"), clients("events"), clients("sqs")
    queue = sqs.create_queue(QueueName="pushes")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="pushes", EventPattern=json.dumps({
        "source": ["aws.codecommit"], "detail-type": ["CodeCommit Repository State Change"]}))
    events.put_targets(Rule="pushes", Targets=[{"Id": "q", "Arn": queue_arn}])
    url = cc.create_repository(repositoryName="big")["repositoryMetadata"]["cloneUrlHttp"]
    git("push", "--quiet", url, "main", cwd=work)
    first = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    # Over git's 1 MiB post buffer, so the pack travels with chunked transfer encoding.
    (work / "data.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    git("add", "data.bin", cwd=work)
    git("commit", "--quiet", "-m", "Add data", cwd=work)
    git("push", "--quiet", url, "main", cwd=work)
    second = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    assert cc.get_branch(repositoryName="big", branchName="main")["branch"]["commitId"] == second

    received = []

    def two_events():
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        received.extend(json.loads(m["Body"])["detail"] for m in messages)
        return len(received) >= 2
    wait_for(two_events, timeout=10, what="two push events")
    assert [(d["event"], d["referenceName"], d.get("oldCommitId"), d["commitId"]) for d in received] == [
        ("referenceCreated", "main", None, first), ("referenceUpdated", "main", first, second)]
    assert {d["repositoryName"] for d in received} == {"big"}


def test_list_repositories_names_them_in_order(cloud, clients):
    cc = clients("codecommit")
    for name in ("zeta", "alpha"):
        cc.create_repository(repositoryName=name)
    ids = {r["repositoryName"]: r["repositoryId"] for r in cc.list_repositories()["repositories"]}
    assert list(ids) == ["alpha", "zeta"]
    assert ids["alpha"] == cc.get_repository(repositoryName="alpha")["repositoryMetadata"]["repositoryId"]
    assert [r["repositoryName"] for r in cc.list_repositories(order="descending")["repositories"]] == ["zeta", "alpha"]
