"""git's smart HTTP protocol through `git http-backend`: `git clone` and `git push` work with no credential helper;
a push emits "CodeCommit Repository State Change" events (referenceCreated / referenceUpdated / referenceDeleted),
which is how CodePipeline notices a new commit; the first branch pushed becomes the default branch."""

from __future__ import annotations

import os
import subprocess
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ..protocol import AwsRequest, AwsResponse
from .exceptions import CodeCommitError
from .models import GitRepository

if TYPE_CHECKING:
    from .service import CodeCommitService


class GitHttp:
    """git's smart HTTP protocol through `git http-backend`, with push events."""

    def __init__(self, service: "CodeCommitService"):
        self.service = service
        self.cloud = service.cloud
        self._push_lock = threading.Lock()

    def handle(self, req: AwsRequest) -> AwsResponse:
        name, rest = req.path_params["repo"], req.path_params["rest"]
        try:
            metadata = self.service.metadata(name)
        except CodeCommitError:
            return AwsResponse(404, f"repository {name} does not exist\n", {"Content-Type": "text/plain"})
        repo = self.service.repository(name)
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
            "GIT_PROJECT_ROOT": str(self.service.root),
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
            self.cloud.service("events").put_event("aws.codecommit", "CodeCommit Repository State Change", detail,
                                 [metadata["Arn"]], region=region)
