"""What the CodeBuild tests share: source zips, an S3-source project (the `project` fixture in conftest.py), and
waiting for a build's end."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from testkit.localcloud import CODEBUILD_ROLE, service_role
from testkit.waiting import wait_for

SOURCES = "build-sources-123456789012"
OUTPUTS = "build-outputs-123456789012"
IMAGE = "aws/codebuild/standard:7.0"


def source_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def project_maker(clients):
    s3, cb = clients("s3"), clients("codebuild")
    s3.create_bucket(Bucket=SOURCES)
    s3.create_bucket(Bucket=OUTPUTS)
    service_role(clients, CODEBUILD_ROLE, "codebuild.amazonaws.com")

    def make(name: str, files: dict[str, str], buildspec: str | None = None, artifacts: dict | None = None,
             role: str = CODEBUILD_ROLE, environment: dict | None = None, **settings) -> str:
        s3.put_object(Bucket=SOURCES, Key=f"{name}/source.zip", Body=source_zip(files))
        source = {"type": "S3", "location": f"{SOURCES}/{name}/source.zip"}
        if buildspec:
            source["buildspec"] = buildspec
        cb.create_project(
            name=name, source=source, serviceRole=role,
            artifacts=artifacts or {"type": "S3", "location": OUTPUTS, "path": "builds", "name": "out.zip",
                                    "packaging": "ZIP", "namespaceType": "BUILD_ID"},
            environment={"type": "LINUX_CONTAINER", "image": IMAGE, "computeType": "BUILD_GENERAL1_SMALL",
                         "environmentVariables": [{"name": "FROM_PROJECT", "value": "project", "type": "PLAINTEXT"},
                                                  {"name": "FROM_CALL", "value": "project", "type": "PLAINTEXT"}],
                         **(environment or {})}, **settings)
        return name
    return make


def finished(cb, build_id: str, timeout: float = 120) -> dict:
    def check():
        build = cb.batch_get_builds(ids=[build_id])["builds"][0]
        return build if build["buildComplete"] else None
    return wait_for(check, timeout, 0.2, f"build {build_id}")


def phases(build: dict) -> list[tuple[str, str | None]]:
    return [(p["phaseType"], p.get("phaseStatus")) for p in build["phases"]]




def build_log(build: dict) -> str:
    return Path(build["logs"]["deepLink"].removeprefix("file://")).read_text()


def run(clients, project_name: str, **kwargs) -> dict:
    """Start a build and wait for its end."""
    cb = clients("codebuild")
    return finished(cb, cb.start_build(projectName=project_name, **kwargs)["build"]["id"])


def phase(build: dict, name: str) -> dict:
    return next(p for p in build["phases"] if p["phaseType"] == name)
