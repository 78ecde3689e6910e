"""Python interpreters and package folders for the code the local cloud runs in isolation: Lambda's runtimes and
Glue's Python shell.

`interpreter("3.12")` is python3.12 from PATH where the machine has it (a pyenv shim is asked for the interpreter it
stands for), else the Python the local cloud runs on; `Interpreter.describe()` says which. `package_folder(...)`
installs pip requirements once into a virtual environment the local cloud owns under the cache (made by the
interpreter that will import them; pip uses the index it is configured with), under a file lock, logging progress;
the isolated code gets only its site-packages on sys.path. A folder is complete once its manifest (what was
installed, what was left out and why) is written.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("mlops_workshop.localcloud.pythons")

MANIFEST = "localcloud-manifest.json"
PIP_TIMEOUT_S = 1800
# What a virtual environment starts with, to install the rest: never held to its version.
SET_UP = ("pip", "setuptools", "wheel")


def cache_dir() -> Path:
    """Where the local cloud keeps what it installs for the code it runs (``MLOPS_RUNTIME_CACHE`` overrides)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("MLOPS_RUNTIME_CACHE") or Path(base) / "mlops-workshop" / "runtimes")


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str   # what runs, "3.11"
    wanted: str    # what the runtime is, "3.12"
    full_version: str

    @property
    def exact(self) -> bool:
        return self.version == self.wanted

    @property
    def tag(self) -> str:
        return f"python{self.version}"

    def describe(self) -> str:
        """One line for a log: which Python runs, and why when it is not the one asked for."""
        if self.exact:
            return f"Python {self.full_version} ({self.path})"
        return (f"Python {self.full_version} ({self.path}) in place of Python {self.wanted}: this machine has no "
                f"python{self.wanted} on PATH")


@functools.lru_cache(maxsize=None)
def interpreter(version: str) -> Interpreter:
    """The interpreter for Python `version` ("3.12"): python3.12 from PATH, else this process's own Python."""
    found = shutil.which(f"python{version}")
    probed = _probe(found, version) if found else None
    if probed is not None:
        return Interpreter(probed[0], version, version, probed[1])
    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    return Interpreter(sys.executable, own, version, ".".join(map(str, sys.version_info[:3])))


def _probe(path: str, version: str) -> tuple[str, str] | None:
    """(the real executable, its full version) when `path` runs Python `version`; pyenv shims need PYENV_VERSION."""
    code = "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])"
    for extra in ({}, {"PYENV_VERSION": version}):
        try:
            done = subprocess.run([path, "-I", "-c", code], env={**os.environ, **extra}, capture_output=True,
                                  text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return None
        lines = done.stdout.split()
        if done.returncode == 0 and len(lines) == 2 and lines[1].rsplit(".", 1)[0] == version:
            return lines[0], lines[1]
    return None


def sdk_step() -> Step:
    """boto3 and botocore at the project's pins (standing in for an AWS runtime's, which AWS does not publish),
    else, on a Python those no longer support, the newest of the minor release line before them."""
    import importlib.metadata
    boto3, botocore = importlib.metadata.version("boto3"), importlib.metadata.version("botocore")
    line = ".".join(boto3.split(".")[:2])
    return Step.of([f"boto3=={boto3}", f"botocore=={botocore}"], [f"boto3<{line}"], [f"boto3<={boto3}"])


def folder_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class InstallError(RuntimeError):
    """pip could not install what a folder needs; the message ends with pip's last words."""


@dataclass(frozen=True)
class Step:
    """One thing a folder holds: alternatives (each a list of pip requirements installed together) tried in order;
    a required step that none of them installs fails the folder, another is left out and named in the manifest."""

    alternatives: tuple[tuple[str, ...], ...]
    required: bool = True

    @classmethod
    def of(cls, *alternatives: list[str] | tuple[str, ...], required: bool = True) -> "Step":
        return cls(tuple(tuple(a) for a in alternatives), required)


def package_folder(folder: Path, python: Interpreter, steps: list[Step], what: str, options: list[str] | None = None,
                   binary_only: bool = True) -> dict[str, Any]:
    """Install `steps` for `python` once, in their order, into a virtual environment at `folder` whose
    site-packages (manifest["site"]) the isolated code gets on its sys.path; returns the folder's manifest. What an
    earlier step installed holds: later steps are constrained to it, so a library that needs other versions is left
    out rather than breaking them. InstallError when a required step fails."""
    manifest_path = folder / MANIFEST
    if manifest_path.is_file():
        return _manifest(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest_path.is_file():
            return _manifest(folder)
        for left in folder.parent.glob(f".{folder.name}.*"):
            if left.is_dir():  # an install a stopped process left half done
                shutil.rmtree(left, ignore_errors=True)
        pip_log = folder.parent / f"{folder.name}.pip.log"
        staging = folder.parent / f".{folder.name}.{uuid.uuid4().hex}"
        log.info("installing %s for %s into %s; pip's output goes to %s", what, python.describe(), folder, pip_log)
        started = time.monotonic()
        chosen: list[list[str]] = []
        left_out: dict[str, str] = {}
        try:
            ok, last = _run([python.path, "-m", "venv", str(staging)], pip_log)
            if not ok:
                raise InstallError(f"{python.describe()} could not make a virtual environment: {last}")
            site = _site(staging, python)
            for number, step in enumerate(steps, 1):
                constraints = staging / "constraints.txt"
                constraints.write_text("".join(f"{name}=={version}\n" for name, version
                                               in installed_distributions(site).items() if name not in SET_UP))
                for specs in step.alternatives:
                    command = [str(staging / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                               "--no-input", *(["--only-binary=:all:"] if binary_only else []),
                               *(["-c", str(constraints)] if chosen else []), *(options or []), *specs]
                    ok, last = _run(command, pip_log)
                    if ok:
                        chosen.append(list(specs))
                        break
                else:
                    if step.required:
                        raise InstallError(f"pip could not install {' '.join(step.alternatives[0])} for "
                                           f"{python.describe()} (see {pip_log}): {last}")
                    left_out[" ".join(step.alternatives[0])] = last
                log.info("%s: step %d of %d done after %.0f s", what, number, len(steps), time.monotonic() - started)
            manifest = {"what": what, "python": python.describe(), "site": str(site.relative_to(staging)),
                        "installed_with": chosen, "left_out": left_out, "installed": installed_distributions(site),
                        "seconds": round(time.monotonic() - started, 1)}
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        shutil.rmtree(folder, ignore_errors=True)
        os.rename(staging, folder)
        log.info("installed %s in %.1f s%s", what, manifest["seconds"],
                 f"; left out: {', '.join(left_out)}" if left_out else "")
        return _manifest(folder)


def _manifest(folder: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
    manifest["site"] = str(folder / manifest["site"])
    return manifest


def _site(venv: Path, python: Interpreter) -> Path:
    return venv / "lib" / python.tag / "site-packages"


def _run(command: list[str], pip_log: Path) -> tuple[bool, str]:
    """Run a set-up command, its output appended to pip_log; (succeeded, its last error line)."""
    # Set-up runs with the caller's environment (pip's index, proxy and certificates), never the isolated one.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    with open(pip_log, "a") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        try:
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                  timeout=PIP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return False, f"{command[0]} did not finish within {PIP_TIMEOUT_S} s"
    if done.returncode == 0:
        return True, ""
    lines = [line.strip() for line in pip_log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines[-40:] if line.startswith("ERROR")]
    return False, (errors[-1] if errors else lines[-1] if lines else f"exit status {done.returncode}")[:400]


def installed_distributions(folder: Path) -> dict[str, str]:
    """{distribution name (lower case): version} of what a site-packages folder holds."""
    found = {}
    for info in folder.glob("*.dist-info"):
        name, _, version = info.name[:-len(".dist-info")].rpartition("-")
        found[name.lower().replace("_", "-")] = version
    return dict(sorted(found.items()))


def project_runtimes() -> list[str]:
    """The Lambda runtimes the repository's templates name (a Runtime, or a parameter's default or allowed value)."""
    import re
    from mlops_workshop import REPO_ROOT
    found: set[str] = set()
    for folder in ("cloudformation", "container", "tests/system_test"):
        for template in sorted((REPO_ROOT / folder).rglob("*.y*ml")):
            found |= set(re.findall(r"\bpython3\.\d+\b", template.read_text(errors="replace")))
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    """`python -m mlops_workshop.localcloud.pythons`: set up what the project's own functions and ETL job run with
    (the Lambda runtimes its templates name, Glue's Python shell with the analytics set), so that their first run
    need not."""
    from .awslambda.executor import runtime
    from .glue.environment import GLUE_PYTHON, library_set_folder
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        for name in project_runtimes():
            print(runtime(name).init_line().strip())
        manifest = library_set_folder("analytics", interpreter(GLUE_PYTHON))
    except Exception as exc:  # the set-up goes on: each run says again what it lacks
        print(f"setting up the local cloud's runtimes failed: {exc}", file=sys.stderr)
        return 1
    print(f"Glue Python shell: {manifest['python']}; left out: {', '.join(manifest['left_out']) or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
