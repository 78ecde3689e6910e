"""CodeCommit's state on the local cloud: each repository is a bare git repository in the state folder."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

from .exceptions import CodeCommitError

COMMIT_ID = re.compile(r"^[0-9a-f]{40}$")


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
