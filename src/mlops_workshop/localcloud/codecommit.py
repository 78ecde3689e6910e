"""CodeCommit: each repository is a bare git repository in the state folder, served over git's smart HTTP.

moto keeps the repository's metadata; `GitRepository` is the git side (refs, commits, archives) and the
route handlers answer GetBranch, ListBranches, GetCommit, CreateBranch, DeleteBranch and UpdateDefaultBranch
from git, with CodeCommit's error codes. `cloneUrlHttp` is `<endpoint>/v1/repos/<name>`, served by
`git http-backend`, so `git clone` and `git push` work with no credential helper. A push emits "CodeCommit
Repository State Change" events (referenceCreated / referenceUpdated / referenceDeleted), which is how
CodePipeline notices a new commit; the first branch pushed becomes the default branch, as in CodeCommit.
Repository names are one namespace across regions here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from . import server
from .server import AwsRequest, AwsResponse, LocalCloud, json_error

GIT_PATH = r"^/v1/repos/(?P<repo>[A-Za-z0-9._-]+?)(?:\.git)?/(?P<rest>{})$"
GIT_ROUTES = [
    ("", "GET", re.compile(GIT_PATH.format(r"info/refs")), "GitSmartHttp"),
    ("", "POST", re.compile(GIT_PATH.format(r"git-upload-pack|git-receive-pack")), "GitSmartHttp"),
]
COMMIT_ID = re.compile(r"^[0-9a-f]{40}$")


class CodeCommitError(Exception):
    """An error CodeCommit reports with this code; `response()` is the AWS error to return."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code

    def response(self) -> AwsResponse:
        return json_error(self.code, str(self), 400)


class GitRepository:
    """One bare repository: the git commands behind the CodeCommit calls."""

    def __init__(self, path: Path, name: str):
        self.path = path
        self.name = name

    def git(self, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env["GIT_DIR"] = str(self.path)
        done = subprocess.run(["git", *args], input=input, env=env, capture_output=True)
        if check and done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed in {self.path}: {done.stderr.decode(errors='replace')}")
        return done

    def init(self) -> None:
        if not (self.path / "HEAD").exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["git", "init", "--bare", "--quiet", str(self.path)], check=True, capture_output=True)
            self.git("config", "http.receivepack", "true")

    def refs(self) -> dict[str, str]:
        out = self.git("for-each-ref", "--format=%(refname) %(objectname)").stdout.decode()
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    def branches(self) -> dict[str, str]:
        prefix = "refs/heads/"
        return {ref[len(prefix):]: sha for ref, sha in self.refs().items() if ref.startswith(prefix)}

    def branch(self, name: str) -> str:
        if not name:
            raise CodeCommitError("BranchNameRequiredException", "A branch name is required but was not specified.")
        commit = self.branches().get(name)
        if commit is None:
            raise CodeCommitError("BranchDoesNotExistException",
                                  f"Branch {name} does not exist in repository {self.name}")
        return commit

    def default_branch(self) -> str | None:
        head = self.git("symbolic-ref", "--short", "HEAD", check=False).stdout.decode().strip()
        return head if head and head in self.branches() else None

    def set_default_branch(self, name: str) -> None:
        self.branch(name)
        self.git("symbolic-ref", "HEAD", f"refs/heads/{name}")

    def commit(self, commit_id: str) -> dict[str, Any]:
        if not commit_id:
            raise CodeCommitError("CommitIdRequiredException", "A commit ID is required but was not specified.")
        if not COMMIT_ID.match(commit_id):
            raise CodeCommitError("InvalidCommitIdException", f"The specified commit ID {commit_id} is not valid.")
        done = self.git("cat-file", "commit", commit_id, check=False)
        if done.returncode != 0:
            raise CodeCommitError("CommitIdDoesNotExistException",
                                  f"Could not find commit {commit_id} in repository {self.name}")
        header, _, message = done.stdout.decode(errors="replace").partition("\n\n")
        commit: dict[str, Any] = {"commitId": commit_id, "parents": [], "message": message,
                                  "additionalData": ""}
        for line in header.splitlines():
            key, _, value = line.partition(" ")
            if key == "tree":
                commit["treeId"] = value
            elif key == "parent":
                commit["parents"].append(value)
            elif key in ("author", "committer"):
                person = re.match(r"^(.*) <(.*)> (\d+ [+-]\d{4})$", value)
                if person:
                    commit[key] = {"name": person.group(1), "email": person.group(2), "date": person.group(3)}
        return commit

    def archive(self, commit_id: str) -> bytes:
        return self.git("archive", "--format=zip", commit_id).stdout


def repository_root(cloud: LocalCloud) -> Path:
    return cloud.state_dir / "codecommit"


def clone_url(cloud: LocalCloud, name: str) -> str:
    return f"{cloud.endpoint_url}/v1/repos/{name}"


def _metadata(cloud: LocalCloud, name: str, region: str | None = None) -> dict[str, Any]:
    """moto's record of the repository (in this region, else any region of the account)."""
    if not name:
        raise CodeCommitError("RepositoryNameRequiredException",
                              "A repository name is required but was not specified.")
    from moto.codecommit.models import codecommit_backends
    regions = [region or cloud.region] + [r for r in codecommit_backends[server.ACCOUNT_ID].keys()
                                          if r != (region or cloud.region)]
    for candidate in regions:
        found = cloud.backend("codecommit", candidate).repositories.get(name)
        if found is not None:
            return found.repository_metadata
    raise CodeCommitError("RepositoryDoesNotExistException", f"{name} does not exist")


def repository(cloud: LocalCloud, name: str, region: str | None = None) -> GitRepository:
    _metadata(cloud, name, region)
    repo = GitRepository(repository_root(cloud) / f"{name}.git", name)
    repo.init()
    return repo


def archive_branch(cloud: LocalCloud, repo: str, branch: str) -> tuple[str, bytes]:
    """The branch's head commit and its tree as a zip, as a CodePipeline CodeCommit source action outputs it.

    Raises CodeCommitError (RepositoryDoesNotExistException, BranchDoesNotExistException).
    """
    git = repository(cloud, repo)
    commit_id = git.branch(branch)
    return commit_id, git.archive(commit_id)


class GitHttp:
    """git's smart HTTP protocol through `git http-backend`, with push events."""

    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud
        self._push_lock = threading.Lock()

    def handle(self, req: AwsRequest) -> AwsResponse:
        name, rest = req.path_params["repo"], req.path_params["rest"]
        try:
            metadata = _metadata(self.cloud, name)
        except CodeCommitError:
            return AwsResponse(404, f"repository {name} does not exist\n", {"Content-Type": "text/plain"})
        repo = repository(self.cloud, name)
        if rest != "git-receive-pack":
            return self._backend(req, name, rest)
        with self._push_lock:
            before = repo.refs()
            response = self._backend(req, name, rest)
            after = repo.refs()
        if after != before:
            self._pushed(repo, metadata, before, after)
        return response

    def _backend(self, req: AwsRequest, name: str, rest: str) -> AwsResponse:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update({
            "GIT_PROJECT_ROOT": str(repository_root(self.cloud)),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{name}.git/{rest}",
            "QUERY_STRING": urlencode([(k, v) for k, values in req.query.items() for v in values]),
            "REQUEST_METHOD": req.method,
            "CONTENT_TYPE": req.headers.get("content-type", ""),
            "CONTENT_LENGTH": str(len(req.body)),
            "REMOTE_USER": "localcloud",
            "REMOTE_ADDR": "127.0.0.1",
        })
        for header in ("content-encoding", "git-protocol"):
            if header in req.headers:
                env["HTTP_" + header.upper().replace("-", "_")] = req.headers[header]
        done = subprocess.run(["git", "http-backend"], input=req.body, env=env, capture_output=True)
        head, separator, body = done.stdout.partition(b"\r\n\r\n")
        if not separator:
            head, _, body = done.stdout.partition(b"\n\n")
        status, headers = 200, {}
        for line in head.decode(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers[key.strip()] = value.strip()
        if done.returncode != 0 and status == 200:
            status, body = 500, done.stderr
        return AwsResponse(status, body, headers)

    def _pushed(self, repo: GitRepository, metadata: dict[str, Any], before: dict[str, str],
                after: dict[str, str]) -> None:
        if repo.default_branch() is None:
            branches = [ref[len("refs/heads/"):] for ref in after if ref.startswith("refs/heads/")
                        and ref not in before]
            if branches:
                repo.set_default_branch(branches[0])
        region = metadata["Arn"].split(":")[3]
        for ref in sorted(set(before) | set(after)):
            old, new = before.get(ref), after.get(ref)
            if old == new:
                continue
            kind = "branch" if ref.startswith("refs/heads/") else "tag" if ref.startswith("refs/tags/") else "ref"
            detail = {
                "callerUserArn": f"arn:aws:iam::{metadata['accountId']}:user/localcloud",
                "event": "referenceCreated" if old is None else "referenceDeleted" if new is None
                else "referenceUpdated",
                "referenceFullName": ref,
                "referenceName": ref.split("/", 2)[-1],
                "referenceType": kind,
                "repositoryId": metadata["repositoryId"],
                "repositoryName": metadata["repositoryName"],
            }
            if new is not None:
                detail["commitId"] = new
            if old is not None:
                detail["oldCommitId"] = old
            self.cloud.put_event("aws.codecommit", "CodeCommit Repository State Change", detail,
                                 [metadata["Arn"]], region=region)


def make_handlers(cloud: LocalCloud) -> dict[str, Any]:
    def answer(fn: Any) -> Any:
        def handler(req: AwsRequest) -> AwsResponse:
            try:
                return AwsResponse(200, fn(req, req.json()))
            except CodeCommitError as exc:
                return exc.response()
        return handler

    def repo_of(req: AwsRequest, params: dict[str, Any]) -> GitRepository:
        return repository(cloud, params.get("repositoryName", ""), req.region)

    def get_branch(req: AwsRequest, params: dict[str, Any]) -> dict[str, Any]:
        branch = params.get("branchName", "")
        return {"branch": {"branchName": branch, "commitId": repo_of(req, params).branch(branch)}}

    def list_branches(req: AwsRequest, params: dict[str, Any]) -> dict[str, Any]:
        return {"branches": sorted(repo_of(req, params).branches())}

    def get_commit(req: AwsRequest, params: dict[str, Any]) -> dict[str, Any]:
        return {"commit": repo_of(req, params).commit(params.get("commitId", ""))}

    def create_branch(req: AwsRequest, params: dict[str, Any]) -> dict[str, Any]:
        repo, branch, commit_id = repo_of(req, params), params.get("branchName", ""), params.get("commitId", "")
        if not branch:
            raise CodeCommitError("BranchNameRequiredException", "A branch name is required but was not specified.")
        if branch in repo.branches():
            raise CodeCommitError("BranchNameExistsException", f"Branch {branch} already exists")
        repo.commit(commit_id)
        repo.git("update-ref", f"refs/heads/{branch}", commit_id)
        return {}

    def delete_branch(req: AwsRequest, params: dict[str, Any]) -> dict[str, Any]:
        repo, branch = repo_of(req, params), params.get("branchName", "")
        commit_id = repo.branch(branch)
        if branch == repo.default_branch():
            raise CodeCommitError("DefaultBranchCannotBeDeletedException",
                                  f"Branch {branch} is the default branch and cannot be deleted")
        repo.git("update-ref", "-d", f"refs/heads/{branch}")
        return {"deletedBranch": {"branchName": branch, "commitId": commit_id}}

    def update_default_branch(req: AwsRequest, params: dict[str, Any]) -> dict[str, Any]:
        repo_of(req, params).set_default_branch(params.get("defaultBranchName", ""))
        return {}

    return {name: answer(fn) for name, fn in {
        "GetBranch": get_branch, "ListBranches": list_branches, "GetCommit": get_commit,
        "CreateBranch": create_branch, "DeleteBranch": delete_branch,
        "UpdateDefaultBranch": update_default_branch}.items()}


def _with_git(cloud: LocalCloud, name: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """moto's metadata with the clone URL this cloud serves and the default branch from git."""
    metadata["cloneUrlHttp"] = clone_url(cloud, name)
    default = GitRepository(repository_root(cloud) / f"{name}.git", name).default_branch()
    answer = dict(metadata)
    if default:
        answer["defaultBranch"] = default
    return answer


def install(cloud: LocalCloud) -> None:
    import json

    for entry in GIT_ROUTES:
        if entry not in server.REST_ACTIONS:
            server.REST_ACTIONS.append(entry)
    cloud.route("", "GitSmartHttp", GitHttp(cloud).handle)
    for action, handler in make_handlers(cloud).items():
        cloud.route("codecommit", action, handler)

    @cloud.after("codecommit", "CreateRepository")
    def create_repository(req: AwsRequest, status: int, body: bytes) -> AwsResponse | None:
        if status != 200:
            return None
        name = req.json()["repositoryName"]
        repo = GitRepository(repository_root(cloud) / f"{name}.git", name)
        repo.init()
        metadata = _metadata(cloud, name, req.region)
        return AwsResponse(200, {"repositoryMetadata": _with_git(cloud, name, metadata)})

    @cloud.after("codecommit", "GetRepository")
    def get_repository(req: AwsRequest, status: int, body: bytes) -> AwsResponse | None:
        if status != 200:
            return None
        name = req.json()["repositoryName"]
        return AwsResponse(200, {"repositoryMetadata": _with_git(cloud, name, json.loads(body)["repositoryMetadata"])})

    @cloud.after("codecommit", "DeleteRepository")
    def delete_repository(req: AwsRequest, status: int, body: bytes) -> AwsResponse | None:
        if status == 200 and json.loads(body or b"{}").get("repositoryId"):
            shutil.rmtree(repository_root(cloud) / f"{req.json()['repositoryName']}.git", ignore_errors=True)
        return None
