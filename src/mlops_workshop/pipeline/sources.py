"""The pipeline's code: the three source trees pushed to their CodeCommit branches with real git, or uploaded as
zips in the data bucket for the stack's S3 sources (accounts without CodeCommit)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .. import REPO_ROOT, codecommit_auth
from ..config import WorkshopNames
from . import PipelineError, Progress
from .stack import put_if_changed

# What git leaves out of the branches, beside what the folders' own .gitignore files say.
GIT_EXCLUDES = ("__pycache__/", "*.py[co]", ".pytest_cache/", ".ipynb_checkpoints/", ".DS_Store",
                "build-ca/*", "!build-ca/.keep")


def source_folders(names: WorkshopNames, root: Path = REPO_ROOT) -> dict[str, Path]:
    """Each CodeCommit branch the pipeline reads and the project folder that is its content."""
    return {names.model_branch: root / "container", names.etl_branch: root / "etl",
            names.test_branch: root / "tests" / "system_test"}


def _git(git_dir: Path, *args: str, env: dict[str, str] | None = None, check: bool = True,
         work_tree: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = ["git", f"--git-dir={git_dir}"] + ([f"--work-tree={work_tree}"] if work_tree else []) + list(args)
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    result = subprocess.run(command, capture_output=True, text=True, env=full_env, check=False,
                            cwd=work_tree or git_dir)
    if check and result.returncode != 0:
        raise PipelineError(codecommit_auth.redact(
            f"git {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"))
    return result


AUTHOR = {"GIT_AUTHOR_NAME": "mlops-workshop", "GIT_AUTHOR_EMAIL": "mlops-workshop@example.com",
          "GIT_COMMITTER_NAME": "mlops-workshop", "GIT_COMMITTER_EMAIL": "mlops-workshop@example.com"}


def _git_dir(git_dir: Path) -> Path:
    if not (git_dir / "HEAD").exists():
        git_dir.mkdir(parents=True, exist_ok=True)
        _git(git_dir, "init", "--quiet", "--bare")
    (git_dir / "info").mkdir(exist_ok=True)
    (git_dir / "info" / "exclude").write_text("\n".join(GIT_EXCLUDES) + "\n")
    return git_dir


def _write_tree(git_dir: Path, folder: Path, label: str) -> str:
    """The git tree of `folder`'s files as a push would send them (GIT_EXCLUDES and .gitignore files honoured)."""
    index = {"GIT_INDEX_FILE": str(git_dir / f"index-{label}")}
    Path(index["GIT_INDEX_FILE"]).unlink(missing_ok=True)
    _git(git_dir, "add", "--all", ".", env=index, work_tree=folder)
    tree = _git(git_dir, "write-tree", env=index).stdout.strip()
    Path(index["GIT_INDEX_FILE"]).unlink(missing_ok=True)
    return tree


def push_folder(clone_url: str, branch: str, folder: Path, git_dir: Path, message: str) -> tuple[str, bool]:
    """Make `branch` hold exactly `folder`'s files: a commit on the branch's tip when they differ.

    Returns (commit id, whether a commit was pushed). Running it again with unchanged files pushes nothing, so
    the pipeline's sources see no new revision."""
    if not folder.is_dir():
        raise PipelineError(f"{folder} is missing: it is what the pipeline's {branch} branch holds")
    _git_dir(git_dir)
    fetched = _git(git_dir, "fetch", "--quiet", "--no-tags", clone_url, f"+refs/heads/{branch}:refs/remotes/{branch}",
                   check=False)
    if fetched.returncode != 0:
        if "couldn't find remote ref" not in fetched.stderr.lower():
            raise PipelineError(codecommit_auth.redact(f"git fetch from {clone_url} failed: {fetched.stderr.strip()}"))
        _git(git_dir, "update-ref", "-d", f"refs/remotes/{branch}", check=False)  # a new (or deleted) branch
    parent = _git(git_dir, "rev-parse", "--verify", "--quiet", f"refs/remotes/{branch}", check=False).stdout.strip()
    tree = _write_tree(git_dir, folder, branch)
    if parent and _git(git_dir, "rev-parse", f"{parent}^{{tree}}").stdout.strip() == tree:
        return parent, False
    commit = _git(git_dir, "commit-tree", tree, *(["-p", parent] if parent else []), "-m", message,
                  env=AUTHOR).stdout.strip()
    _git(git_dir, "push", "--quiet", clone_url, f"{commit}:refs/heads/{branch}")
    return commit, True


def source_zip(folder: Path, git_dir: Path) -> bytes:
    """The zip an S3 source action reads: the files a push would send, with their modes, byte for byte the same
    for the same files (so that an unchanged folder leaves the S3 object, and the pipeline, alone)."""
    if not folder.is_dir():
        raise PipelineError(f"{folder} is missing: it is what the pipeline's S3 source reads")
    _git_dir(git_dir)
    tree = _write_tree(git_dir, folder, "zip")
    fixed = {**AUTHOR, "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z"}
    commit = _git(git_dir, "commit-tree", tree, "-m", "source", env=fixed).stdout.strip()
    archive = subprocess.run(["git", f"--git-dir={git_dir}", "archive", "--format=zip", commit],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        raise PipelineError(f"git archive of {folder} failed: {archive.stderr.decode(errors='replace').strip()}")
    return archive.stdout


def source_keys(names: WorkshopNames) -> dict[str, str]:
    """Each branch's zip in the data bucket, where the stack's S3 sources read them (SourceProvider S3)."""
    return {names.model_branch: names.model_source_key, names.etl_branch: names.etl_source_key,
            names.test_branch: names.test_source_key}


def upload_sources(session, names: WorkshopNames, work_dir: Path, folders: dict[str, Path] | None = None,
                   progress: Progress = print) -> dict[str, tuple[str, bool]]:
    """Each source folder as a zip in the data bucket (SourceProvider S3, for accounts without CodeCommit); an
    unchanged zip is not uploaded again."""
    s3 = session.client("s3")
    folders = {**source_folders(names), **(folders or {})}
    git_dir = Path(work_dir) / "sources.git"
    uploaded = {}
    for branch, key in source_keys(names).items():
        folder = folders[branch]
        changed = put_if_changed(s3, names.data_bucket, key, source_zip(folder, git_dir), "application/zip")
        where = folder.relative_to(REPO_ROOT) if folder.is_relative_to(REPO_ROOT) else folder
        uploaded[branch] = (f"s3://{names.data_bucket}/{key}", changed)
        progress(f"  {branch:<6} s3://{names.data_bucket}/{key} {'uploaded' if changed else 'unchanged'} ({where}/)")
    return uploaded


def push_sources(session, names: WorkshopNames, work_dir: Path, folders: dict[str, Path] | None = None,
                 progress: Progress = print) -> dict[str, tuple[str, bool]]:
    """Push each source folder to its branch of the CodeCommit repository (git over its HTTPS clone URL);
    `folders` ({branch: folder}) replaces some of the project's folders."""
    codecommit = session.client("codecommit")
    clone_url = codecommit.get_repository(repositoryName=names.code_repo_name)["repositoryMetadata"]["cloneUrlHttp"]
    # CodeCommit in an account takes the session's credentials as a signed URL; the local cloud needs none.
    remote = codecommit_auth.signed_url(clone_url, session)
    folders = {**source_folders(names), **(folders or {})}
    git_dir = Path(work_dir) / "sources.git"
    git_dir.parent.mkdir(parents=True, exist_ok=True)
    pushed = {}
    for branch, folder in folders.items():
        where = folder.relative_to(REPO_ROOT) if folder.is_relative_to(REPO_ROOT) else folder
        commit, changed = push_folder(remote, branch, folder, git_dir, f"{where}/ from the workshop")
        pushed[branch] = (commit, changed)
        progress(f"  {branch:<6} {commit[:12]} {'pushed' if changed else 'unchanged'} ({where}/)")
    return pushed
