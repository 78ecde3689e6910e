"""The demo's git push of the code trees (pipeline.sources.push_folder), against a local bare repository."""

import subprocess

import pytest

from mlops_workshop import approve, pipeline, target
from mlops_workshop.config import WorkshopNames
from testkit.tools import require_git



@pytest.fixture(autouse=True)
def _git():
    require_git()


def git(repo, *args):
    return subprocess.run(["git", f"--git-dir={repo}", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def remote(tmp_path):
    path = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(path)], check=True)
    return path


def test_a_folder_becomes_the_branch_and_an_unchanged_folder_pushes_nothing(tmp_path, remote):
    folder = tmp_path / "etl"
    (folder / "__pycache__").mkdir(parents=True)
    (folder / "job.json").write_text("{}\n")
    (folder / "preprocess.py").write_text("print('etl')\n")
    (folder / "run.sh").write_text("#!/bin/sh\n")
    (folder / "run.sh").chmod(0o755)
    (folder / "__pycache__" / "preprocess.cpython-311.pyc").write_bytes(b"\0")
    work = tmp_path / "work.git"

    commit, pushed = pipeline.sources.push_folder(str(remote), "etl", folder, work, "etl/ from the workshop")
    assert pushed
    assert git(remote, "rev-parse", "refs/heads/etl").strip() == commit
    listing = git(remote, "ls-tree", "-r", "etl").splitlines()
    assert sorted(line.split("\t")[1] for line in listing) == ["job.json", "preprocess.py", "run.sh"]
    assert any(line.startswith("100755") and line.endswith("run.sh") for line in listing)

    assert pipeline.sources.push_folder(str(remote), "etl", folder, work, "again") == (commit, False)

    (folder / "preprocess.py").write_text("print('etl, better')\n")
    second, pushed = pipeline.sources.push_folder(str(remote), "etl", folder, work, "changed")
    assert pushed and second != commit
    assert git(remote, "rev-parse", f"{second}^").strip() == commit  # history: the new commit sits on the old one


def test_a_branch_deleted_on_the_remote_is_pushed_again(tmp_path, remote):
    folder = tmp_path / "test"
    folder.mkdir()
    (folder / "build.py").write_text("pass\n")
    work = tmp_path / "work.git"
    commit, _ = pipeline.sources.push_folder(str(remote), "test", folder, work, "first")
    git(remote, "update-ref", "-d", "refs/heads/test")
    again, pushed = pipeline.sources.push_folder(str(remote), "test", folder, work, "first")
    assert pushed
    assert git(remote, "rev-parse", "refs/heads/test").strip() == again


def test_a_missing_folder_or_remote_fails_clearly(tmp_path, remote):
    with pytest.raises(pipeline.PipelineError, match="is missing: it is what the pipeline's main branch holds"):
        pipeline.sources.push_folder(str(remote), "main", tmp_path / "nowhere", tmp_path / "work.git", "x")
    folder = tmp_path / "main"
    folder.mkdir()
    (folder / "train").write_text("#!/bin/sh\n")
    with pytest.raises(pipeline.PipelineError, match="git fetch from .* failed"):
        pipeline.sources.push_folder(str(tmp_path / "no-such-remote.git"), "main", folder, tmp_path / "work.git", "x")


def test_the_branches_hold_the_folders_the_pipeline_stack_reads(repo_root):
    folders = pipeline.sources.source_folders(WorkshopNames())
    assert folders == {"main": repo_root / "container", "etl": repo_root / "etl",
                       "test": repo_root / "tests" / "system_test"}
    assert (folders["main"] / "buildspec.yml").is_file() and (folders["etl"] / "job.json").is_file()
    assert (folders["test"] / "buildspec.yml").is_file()


def test_the_cloud_session_points_every_client_at_the_local_cloud():
    session = target.CloudSession("http://127.0.0.1:4999")
    assert session.client("s3").meta.endpoint_url == "http://127.0.0.1:4999"
    assert session.client("sagemaker-runtime").meta.endpoint_url == "http://127.0.0.1:4999"
    assert session.region_name == "us-east-1"


def test_approve_without_a_local_cloud_says_to_run_the_demo(tmp_path, capsys):
    assert approve.main(["--state-dir", str(tmp_path)]) == 2
    assert "no local cloud runs on" in capsys.readouterr().err


def zip_entries(body):
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return {info.filename: (info.external_attr >> 16) & 0o777 for info in archive.infolist()
                if not info.filename.endswith("/")}


def test_a_source_zip_holds_what_a_push_would_with_modes_and_the_same_bytes_each_time(tmp_path, remote, repo_root):
    folder = repo_root / "container"
    body = pipeline.sources.source_zip(folder, tmp_path / "zip.git")
    assert pipeline.sources.source_zip(folder, tmp_path / "other.git") == body  # same files, same bytes: no new S3 version
    pipeline.sources.push_folder(str(remote), "main", folder, tmp_path / "push.git", "m")
    pushed = {line.split("\t")[1]: line.split()[0] for line in git(remote, "ls-tree", "-r", "main").splitlines()}
    entries = zip_entries(body)
    assert set(entries) == set(pushed)
    assert entries["train"] == entries["serve"] == 0o755 and pushed["train"] == "100755"
    assert entries["training.py"] & 0o111 == 0  # git archive leaves plain files at the extractor's default mode
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in entries)


def test_a_changed_file_changes_the_zip_and_a_missing_folder_is_named(tmp_path):
    folder = tmp_path / "etl"
    folder.mkdir()
    (folder / "preprocess.py").write_text("print('a')\n")
    first = pipeline.sources.source_zip(folder, tmp_path / "git")
    (folder / "preprocess.py").write_text("print('b')\n")
    assert pipeline.sources.source_zip(folder, tmp_path / "git") != first
    with pytest.raises(pipeline.PipelineError, match="missing"):
        pipeline.sources.source_zip(tmp_path / "nowhere", tmp_path / "git")


def test_the_stack_gets_the_source_provider_and_an_unknown_one_is_refused():
    names = WorkshopNames()
    values = {p["ParameterKey"]: p["ParameterValue"] for p in pipeline.stack.stack_parameters(names, None, None, "S3")}
    assert values["SourceProvider"] == "S3"
    assert (values["ModelSourceKey"], values["EtlSourceKey"], values["TestSourceKey"]) == (
        "source/model.zip", "source/etl.zip", "source/test.zip")
    with pytest.raises(pipeline.PipelineError, match="unknown source provider 'GitHub': use CodeCommit or S3"):
        pipeline.stack.stack_parameters(names, None, None, "GitHub")
