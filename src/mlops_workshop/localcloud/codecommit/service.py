"""CodeCommit: each repository is a bare git repository in the state folder, served over git's smart HTTP.

moto keeps the repository's metadata; `GitRepository` is the git side (refs, commits, archives). `cloneUrlHttp` is
`<endpoint>/v1/repos/<name>`. Repository names are one namespace across regions here.
"""

from __future__ import annotations

import shutil
from typing import Any

from ..server import ACCOUNT_ID
from ..services import Service
from . import urls
from .exceptions import CodeCommitError
from .git_http import GitHttp
from .models import GitRepository
from .responses import CodeCommitResponses


class CodeCommitService(Service):
    name = "codecommit"
    responses_class = CodeCommitResponses
    urls = urls

    def start(self) -> None:
        self.root = self.cloud.state_dir / "codecommit"
        self.git_http = GitHttp(self)

    def reset(self) -> None:
        """The git side of every repository goes with moto's records of them."""
        shutil.rmtree(self.root, ignore_errors=True)

    def clone_url(self, name: str) -> str:
        return f"{self.cloud.endpoint_url}/v1/repos/{name}"

    def git_repository(self, name: str) -> GitRepository:
        return GitRepository(self.root / f"{name}.git", name)

    def metadata(self, name: str, region: str | None = None) -> dict[str, Any]:
        """moto's record of the repository (in this region, else any region of the account)."""
        if not name:
            raise CodeCommitError("RepositoryNameRequiredException",
                                  "A repository name is required but was not specified.")
        from moto.codecommit.models import codecommit_backends
        first = region or self.cloud.region
        regions = [first] + [r for r in codecommit_backends[ACCOUNT_ID].keys()
                             if r != first]
        for candidate in regions:
            found = self.cloud.backend("codecommit", candidate).repositories.get(name)
            if found is not None:
                return found.repository_metadata
        raise CodeCommitError("RepositoryDoesNotExistException", f"{name} does not exist")

    def repository(self, name: str, region: str | None = None) -> GitRepository:
        self.metadata(name, region)
        repo = self.git_repository(name)
        repo.init()
        return repo

    def archive_branch(self, repo: str, branch: str) -> tuple[str, bytes]:
        """The branch's head commit and its tree as a zip, as a CodePipeline CodeCommit source action outputs it."""
        git = self.repository(repo)
        commit_id = git.branch(branch)
        return commit_id, git.archive(commit_id)
