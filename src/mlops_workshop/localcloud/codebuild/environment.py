"""What a CodeBuild image gives a build on the local cloud: its runtimes (`runtime-versions`), a Python of its own for
every build, and the tools on PATH.

The curated images and their runtimes are those of AWS's image repository (runtimes.json, written by
scripts/codebuild-runtimes.py). A build's Python is a new virtual environment (one per build, so nothing a build
installs is there for the next) over a read-only layer of what the images install into each of their Pythons (pip,
setuptools, wheel, boto3, PyYAML, virtualenv, pipenv: the images' Dockerfiles), taken from the local cloud's own
environment where it has them; never the project's other packages. It runs on the machine's pythonX.Y for the
version the buildspec (or the image's default) names, else on the local cloud's Python, and the log says so.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from .exceptions import BuildError

IMAGES: dict[str, Any] = json.loads(Path(__file__).with_name("runtimes.json").read_text())["images"]
# What the curated images' Dockerfiles install into every Python they carry.
IMAGE_PYTHON_PACKAGES = ("pip", "setuptools", "wheel", "boto3", "PyYAML", "virtualenv", "pipenv")
RUNTIME_TITLES = {"python": "Python", "nodejs": "Node.js", "java": "Corretto(OpenJDK)", "golang": "Go",
                  "ruby": "Ruby", "php": "PHP", "dotnet": ".NET"}
_lock = threading.Lock()


@dataclass(frozen=True)
class Runtime:
    """The Python a build runs on: the version the image selects, and the interpreter that stands for it here."""

    version: str            # as the image has it: "3.11.15"
    executable: str         # the machine's interpreter
    actual: str             # its own version: "3.11.7"


def image_spec(image: str) -> dict[str, Any] | None:
    """The curated image's runtimes, or None for another image (a custom one)."""
    return IMAGES.get(image.strip())


def select_runtimes(image: str, requested: dict[str, Any], expand: Any) -> tuple[list[str], str | None]:
    """The lines CodeBuild logs for `runtime-versions` on `image`, and the Python version it selects (None: the
    image's default). BuildError (YAML_FILE_ERROR, as CodeBuild reports it) for a runtime or version the image lacks."""
    spec = image_spec(image)
    if spec is None:
        raise BuildError("YAML_FILE_ERROR", f"runtime-versions is not supported by the build image {image}: only "
                                            "CodeBuild's curated images have runtimes to select")
    runtimes = spec["runtimes"]
    lines: list[str] = []
    python = None
    for name, raw in requested.items():
        name = str(name)
        if name not in runtimes:
            raise BuildError("YAML_FILE_ERROR", f"Unknown runtime named '{name}'. This build image has the following "
                                                f"runtimes: {', '.join(sorted(runtimes))}")
        version = expand(str(raw))
        versions = runtimes[name]["versions"]
        key = _match(version, list(versions))
        title = RUNTIME_TITLES.get(name, name)
        if key is not None:
            lines.append(f"Installing {title} version {key} ...")
            exact = versions[key]
        elif runtimes[name]["custom"] and re.fullmatch(r"\d+\.\d+\.\d+", version):
            lines.append(f"Installing custom {title} version {version} ...")
            exact = version
        else:
            raise BuildError("YAML_FILE_ERROR", f"Unknown runtime version named '{version}' of {name}. This build "
                                                f"image has the following versions: {', '.join(_ordered(versions))}")
        if name == "python":
            python = exact
    return lines, python


def _match(version: str, versions: list[str]) -> str | None:
    """The image's version for "3.12", "3.x" or "latest" (the forms CodeBuild's runtime versions take)."""
    if version in versions:
        return version
    ordered = _ordered(versions)
    if version == "latest":
        return ordered[-1] if ordered else None
    if version.endswith(".x"):
        major = version[:-2]
        found = [v for v in ordered if v.split(".")[0] == major or v.startswith(major)]
        return found[-1] if found else None
    return None


def _ordered(versions: Any) -> list[str]:
    def key(text: str) -> tuple:
        return tuple(int(p) if p.isdigit() else p for p in re.findall(r"\d+|[a-z]+", text))
    return sorted(versions, key=key)


def default_python(image: str) -> str:
    """The Python the image selects when a build names none (the local cloud's own for an image it does not know)."""
    spec = image_spec(image)
    return (spec or {}).get("python") or ".".join(map(str, sys.version_info[:3]))


def runtime_for(version: str) -> Runtime:
    """The machine's interpreter for Python `version` (its minor version), else the local cloud's own."""
    found = machine_python(".".join(version.split(".")[:2]))
    if found:
        return Runtime(version, found[0], found[1])
    return Runtime(version, _base_python(), ".".join(map(str, sys.version_info[:3])))


@functools.lru_cache(maxsize=None)
def machine_python(minor: str) -> tuple[str, str] | None:
    """(interpreter, "3.12.1"): this machine's Python `minor` with venv (on PATH, or among pyenv's versions)."""
    if minor == ".".join(map(str, sys.version_info[:2])):
        return _base_python(), ".".join(map(str, sys.version_info[:3]))
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates = [shutil.which(f"python{minor}") or ""]
    candidates += sorted((str(p) for p in Path(root).glob(f"versions/{minor}.*/bin/python{minor}")), reverse=True)
    for exe in filter(None, candidates):
        try:
            out = subprocess.run([exe, "-c", "import sys, venv; print('%d.%d.%d' % sys.version_info[:3])"],
                                 capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and out.stdout.strip().startswith(f"{minor}."):
            return exe, out.stdout.strip()
    return None


def _base_python() -> str:
    return str(getattr(sys, "_base_executable", None) or sys.executable)


def image_layer(folder: Path) -> Path:
    """A folder of links to the image's Python packages in this environment (made once per cloud)."""
    with _lock:
        marker = folder / ".complete"
        if marker.is_file():
            return folder
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for dist in _closure(IMAGE_PYTHON_PACKAGES):
            base = Path(str(dist.locate_file("")))
            for top in {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
                source, link = base / top, folder / top
                if top != "__pycache__" and source.exists() and not link.exists():
                    link.symlink_to(source)
        marker.touch()
        return folder


def _closure(names: tuple[str, ...]) -> list[metadata.Distribution]:
    found: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue   # the image has it; this environment does not, and a build can install it
        found[name] = dist
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return list(found.values())


def make_python(runtime: Runtime, folder: Path, layer: Path) -> Path:
    """A new virtual environment of `runtime` in `folder` over the image's layer; returns its bin folder."""
    proc = subprocess.run([runtime.executable, "-m", "venv", "--without-pip", str(folder)], capture_output=True,
                          text=True, env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")})
    if proc.returncode:
        raise BuildError("CLIENT_ERROR", f"the local cloud could not make the build's Python ({runtime.executable} "
                                         f"-m venv): {proc.stderr.strip()}")
    minor = ".".join(runtime.actual.split(".")[:2])
    site = folder / "lib" / f"python{minor}" / "site-packages"
    (site / "_codebuild_image.pth").write_text(f"{layer}\n")
    bin_dir = folder / "bin"
    for name in ("pip", "pip3", f"pip{minor}"):
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\nexec "{bin_dir / "python"}" -m pip "$@"\n')
        wrapper.chmod(0o755)
    return bin_dir
