"""CodeCommit's protocol beyond moto: the branch and commit calls answered from git, with CodeCommit's error
codes; moto's repository records carry the clone URL this cloud serves and the default branch from git."""

from __future__ import annotations

import json
import shutil
from typing import Any

from ..protocol import AwsRequest, AwsResponse, BaseResponses
from .exceptions import CodeCommitError
from .models import GitRepository


class CodeCommitResponses(BaseResponses):
    def _repo(self, req: AwsRequest) -> GitRepository:
        return self.service.repository(req.json().get("repositoryName", ""), req.region)

    def git_smart_http(self, req: AwsRequest) -> AwsResponse:
        return self.service.git_http.handle(req)

    def get_branch(self, req: AwsRequest) -> AwsResponse:
        branch = req.json().get("branchName", "")
        return AwsResponse(200, {"branch": {"branchName": branch, "commitId": self._repo(req).branch(branch)}})

    def list_branches(self, req: AwsRequest) -> AwsResponse:
        return AwsResponse(200, {"branches": sorted(self._repo(req).branches())})

    def get_commit(self, req: AwsRequest) -> AwsResponse:
        return AwsResponse(200, {"commit": self._repo(req).commit(req.json().get("commitId", ""))})

    def create_branch(self, req: AwsRequest) -> AwsResponse:
        params = req.json()
        repo, branch, commit_id = self._repo(req), params.get("branchName", ""), params.get("commitId", "")
        if not branch:
            raise CodeCommitError("BranchNameRequiredException", "A branch name is required but was not specified.")
        if branch in repo.branches():
            raise CodeCommitError("BranchNameExistsException", f"Branch {branch} already exists")
        repo.commit(commit_id)
        repo.git("update-ref", f"refs/heads/{branch}", commit_id)
        return AwsResponse(200, {})

    def delete_branch(self, req: AwsRequest) -> AwsResponse:
        repo, branch = self._repo(req), req.json().get("branchName", "")
        commit_id = repo.branch(branch)
        if branch == repo.default_branch():
            raise CodeCommitError("DefaultBranchCannotBeDeletedException",
                                  f"Branch {branch} is the default branch and cannot be deleted")
        repo.git("update-ref", "-d", f"refs/heads/{branch}")
        return AwsResponse(200, {"deletedBranch": {"branchName": branch, "commitId": commit_id}})

    def update_default_branch(self, req: AwsRequest) -> AwsResponse:
        self._repo(req).set_default_branch(req.json().get("defaultBranchName", ""))
        return AwsResponse(200, {})

    def after_create_repository(self, req: AwsRequest, status: int, body: bytes) -> AwsResponse | None:
        if status != 200:
            return None
        name = req.json()["repositoryName"]
        self.service.git_repository(name).init()
        metadata = self.service.metadata(name, req.region)
        return AwsResponse(200, {"repositoryMetadata": self._with_git(name, metadata)})

    def after_get_repository(self, req: AwsRequest, status: int, body: bytes) -> AwsResponse | None:
        if status != 200:
            return None
        name = req.json()["repositoryName"]
        return AwsResponse(200, {"repositoryMetadata": self._with_git(name, json.loads(body)["repositoryMetadata"])})

    def after_delete_repository(self, req: AwsRequest, status: int, body: bytes) -> None:
        if status == 200 and json.loads(body or b"{}").get("repositoryId"):
            shutil.rmtree(self.service.git_repository(req.json()["repositoryName"]).path, ignore_errors=True)
        return None

    def _with_git(self, name: str, metadata: dict[str, Any]) -> dict[str, Any]:
        metadata["cloneUrlHttp"] = self.service.clone_url(name)
        default = self.service.git_repository(name).default_branch()
        answer = dict(metadata)
        if default:
            answer["defaultBranch"] = default
        return answer

    def list_repositories(self, req: AwsRequest) -> AwsResponse:
        """ListRepositories, which moto lacks: names and ids, sorted by name (or by last modified date) as asked."""
        params = req.json()
        records = [r.repository_metadata for r in self.cloud.backend("codecommit", req.region).repositories.values()]
        if params.get("sortBy") == "lastModifiedDate":
            records.sort(key=lambda r: r.get("lastModifiedDate") or 0, reverse=params.get("order") == "descending")
        else:
            records.sort(key=lambda r: r["repositoryName"], reverse=params.get("order") == "descending")
        return AwsResponse(200, {"repositories": [{"repositoryName": r["repositoryName"],
                                                   "repositoryId": r["repositoryId"]} for r in records]})
