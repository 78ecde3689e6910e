"""Python interpreters and package folders for the code the local cloud runs in isolation: Lambda's runtimes and
Glue's Python shell.

`interpreter("3.12")` is python3.12 from PATH where the machine has it (a pyenv shim is asked for the interpreter it
stands for), else the Python the local cloud runs on; `Interpreter.describe()` says which. `package_folder(...)`
installs pip requirements once into a folder the local cloud owns under the cache (`pip install --target`, with the
interpreter that will import them), under a file lock, logging progress; a folder is complete once its manifest
(what was asked, what was installed, what was left out and why) is written.
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


def folder_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class InstallError(RuntimeError):
    """pip could not install what a folder needs; the message ends with pip's last words."""


def package_folder(folder: Path, python: Interpreter, attempts: list[list[str]], what: str,
                   options: list[str] | None = None) -> dict[str, Any]:
    """Install the first of `attempts` (lists of pip requirement specifiers) that pip can install for `python` into
    `folder`, once; returns the folder's manifest. Each later attempt is a fallback the manifest names."""
    manifest_path = folder / MANIFEST
    if manifest_path.is_file():
        return json.loads(manifest_path.read_text())
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest_path.is_file():
            return json.loads(manifest_path.read_text())
        pip_log = folder.parent / f"{folder.name}.pip.log"
        last = ""
        for number, specs in enumerate(attempts, 1):
            staging = folder.parent / f".{folder.name}.{uuid.uuid4().hex}"
            log.info("installing %s for %s into %s (attempt %d of %d: %s); pip's output goes to %s", what,
                     python.describe(), folder, number, len(attempts), " ".join(specs), pip_log)
            started = time.monotonic()
            ok, last = _pip(python, staging, specs, options or [], pip_log)
            if not ok:
                shutil.rmtree(staging, ignore_errors=True)
                log.warning("installing %s failed (attempt %d): %s", what, number, last)
                continue
            manifest = {"what": what, "python": python.describe(), "requested": specs, "attempt": number,
                        "attempts": attempts, "installed": installed_distributions(staging),
                        "seconds": round(time.monotonic() - started, 1)}
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
            shutil.rmtree(folder, ignore_errors=True)
            os.rename(staging, folder)
            log.info("installed %s in %.1f s", what, manifest["seconds"])
            return manifest
        raise InstallError(f"pip could not install {what} for {python.describe()} (see {pip_log}): {last}")


def _pip(python: Interpreter, target: Path, specs: list[str], options: list[str], pip_log: Path) -> tuple[bool, str]:
    # pip runs with the caller's environment (its index, proxy and certificates), never the isolated one.
    command = [python.path, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--no-warn-conflicts",
               "--only-binary=:all:", "--target", str(target), *options, *specs]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    with open(pip_log, "a") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        try:
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                  timeout=PIP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return False, f"pip did not finish within {PIP_TIMEOUT_S} s"
    if done.returncode == 0:
        return True, ""
    lines = [line.strip() for line in pip_log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines[-40:] if line.startswith("ERROR")]
    return False, (errors[-1] if errors else lines[-1] if lines else f"pip exited with {done.returncode}")[:400]


def installed_distributions(folder: Path) -> dict[str, str]:
    """{distribution name (lower case): version} of what a --target folder holds."""
    found = {}
    for info in folder.glob("*.dist-info"):
        name, _, version = info.name[:-len(".dist-info")].rpartition("-")
        found[name.lower().replace("_", "-")] = version
    return dict(sorted(found.items()))
