"""moto's /moto-api/reset forgets the repositories' git side with moto's records: a repository created again after it
is empty."""

import os
import subprocess
import urllib.request

from testkit.tools import require_git

ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "T",
       "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com",
       "GIT_TERMINAL_PROMPT": "0"}


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, env=ENV, check=True, capture_output=True, timeout=60)


def test_a_repository_made_again_after_a_reset_has_no_branches(cloud, clients, tmp_path):
    require_git()
    cc = clients("codecommit")
    url = cc.create_repository(repositoryName="kept")["repositoryMetadata"]["cloneUrlHttp"]
    work = tmp_path / "work"
    work.mkdir()
    git("init", "--quiet", "--initial-branch=main", cwd=work)
    (work / "a.txt").write_text("a\n")
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "first", cwd=work)
    git("push", "--quiet", url, "main", cwd=work)
    assert cc.list_branches(repositoryName="kept")["branches"] == ["main"]

    request = urllib.request.Request(f"{cloud.endpoint_url}/moto-api/reset", data=b"", method="POST")
    urllib.request.urlopen(request, timeout=30).read()

    cc.create_repository(repositoryName="kept")
    assert cc.list_branches(repositoryName="kept")["branches"] == []
    assert "defaultBranch" not in cc.get_repository(repositoryName="kept")["repositoryMetadata"]
