"""What a Glue Python-shell run sees, as Glue provides it: Python 3.9 (the machine's python3.9 where it has one,
otherwise the local cloud's own Python, and the run's log says which), the standard library, Glue's `awsglue`
package, the job's library set, --extra-py-files and --additional-python-modules; nothing of the local cloud's own
environment (`pythonshell/launch.py` runs the script isolated with that sys.path).

Library sets, as AWS documents them for Python shell 3.9 (add-job-python.html, "Supported libraries for Python shell
jobs"): `library-set` "analytics" preloads the versions below; "none" (or no library-set) only boto3. They are
installed once per interpreter into a folder the local cloud owns (`pythons.package_folder`), binary wheels only,
each held to what the ones before it installed: a library without a wheel for the Python that runs, or one that
needs other versions of those, is left out, and the run's log names it. boto3 and botocore are
the project's pin, not Glue's 1.22: boto3 before 1.28 ignores AWS_ENDPOINT_URL, by which every script reaches the
local cloud. On a Python other than 3.9 a documented version may not install: the newest of the same major stands in.

--extra-py-files: S3 paths, comma-separated; a .py goes on the path by its folder, a .zip as a zip, a .whl
unpacked (Python 3.9 shell jobs take no .egg). --additional-python-modules: pip requirements or S3 paths of .whl
files, comma-separated, installed with pip (and --python-modules-installer-option's options) into a folder cached
per interpreter, requirements and wheels, in front of the library set.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import pythons

PYTHON_SHELL = Path(__file__).with_name("pythonshell")
LAUNCHER = PYTHON_SHELL / "launch.py"
GLUE_PYTHON = "3.9"
# Python shell 3.9 with library-set analytics, as documented: the scientific core, then the rest, the libraries that
# depend on others last (so that those get their documented versions first).
ANALYTICS_CORE = [("numpy", "1.22.3"), ("pandas", "1.4.2"), ("scipy", "1.8.0"), ("scikit-learn", "1.0.2")]
ANALYTICS_MORE = [("requests", "2.27.1"), ("PyMySQL", "1.0.2"), ("SQLAlchemy", "1.4.36"),
                  ("redshift-connector", "2.0.907"), ("elasticsearch", "8.2.0"), ("avro", "1.11.0"), ("pyorc", "0.6.0"),
                  ("pyodbc", "4.0.32"), ("psycopg2", "2.9.3"), ("pyathena", "2.5.3"), ("awswrangler", "2.15.1"),
                  ("s3fs", "2022.3.0"), ("awscli", "1.23.5")]
LIBRARY_SETS = ("analytics", "none")


class RunSetupError(Exception):
    """The run cannot start as configured; the message is the run's ErrorMessage."""


@dataclass
class Layout:
    """The run's interpreter and sys.path, and the lines its log starts with."""

    python: pythons.Interpreter
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps({"before": self.before, "after": self.after}))
        return path


def _relaxed(name: str, version: str) -> str:
    return f"{name}>={version},<{int(version.split('.')[0]) + 1}"


def library_steps(library_set: str, python: pythons.Interpreter) -> list[pythons.Step]:
    if library_set != "analytics":
        return [pythons.sdk_step()]
    steps = [pythons.sdk_step(),
             pythons.Step.of([f"{name}=={version}" for name, version in ANALYTICS_CORE],
                             [_relaxed(name, version) for name, version in ANALYTICS_CORE])]
    for name, version in ANALYTICS_MORE:
        alternatives = [[f"{name}=={version}"]] + ([] if python.exact else [[_relaxed(name, version)]])
        steps.append(pythons.Step.of(*alternatives, required=False))
    return steps


def library_set_folder(library_set: str, python: pythons.Interpreter) -> dict[str, Any]:
    """The library set installed once for `python` (its manifest)."""
    steps = library_steps(library_set, python)
    folder = pythons.cache_dir() / "glue" / f"{library_set}-{python.tag}-{pythons.folder_key(steps)}"
    return pythons.package_folder(folder, python, steps, f"Glue's {library_set} library set")


def layout(arguments: dict[str, str], python_version: str | None, run_dir: Path,
           fetch: Callable[[str, Path], Path]) -> Layout:
    """The run's interpreter and sys.path for its arguments; `fetch(s3_url, folder)` downloads with the job's role.
    RunSetupError says what Glue would fail the run with."""
    version = python_version or GLUE_PYTHON
    if version != GLUE_PYTHON:
        raise RunSetupError(f"Python shell jobs run Python {GLUE_PYTHON} (Command.PythonVersion \"3.9\"); this job "
                            f"asks for {version!r}, which Glue no longer supports")
    python = pythons.interpreter(GLUE_PYTHON)
    found = Layout(python, notes=[f"Python shell: {python.describe()}"])
    library_set = (arguments.get("library-set") or arguments.get("--library-set") or "none").strip()
    if library_set not in LIBRARY_SETS:
        raise RunSetupError(f"library-set must be one of {', '.join(LIBRARY_SETS)}, not {library_set!r}")
    try:
        manifest = library_set_folder(library_set, python)
    except pythons.InstallError as exc:
        raise RunSetupError(str(exc)) from exc
    found.after = [manifest["site"], str(PYTHON_SHELL)]
    installed = manifest["installed"]
    found.notes.append(f"library set {library_set}: " + ", ".join(f"{k} {v}" for k, v in installed.items()
                                                                    if k in _named(library_set)))
    if manifest["left_out"]:
        found.notes.append("not as documented (no wheel for this Python, or it needs other versions of the libraries "
                           "before it): " + ", ".join(_as_installed(spec, installed) for spec in manifest["left_out"]))
    found.before = _extra_py_files(arguments.get("--extra-py-files", ""), run_dir, fetch)
    modules = _additional_modules(arguments, python, run_dir, fetch, found.notes)
    if modules:
        found.before.append(modules)
    return found


def _as_installed(spec: str, installed: dict[str, str]) -> str:
    name = re.split(r"[=<>]", spec)[0].lower()
    return f"{spec} (another library brought {installed[name]})" if name in installed else f"{spec} (left out)"


def _named(library_set: str) -> set[str]:
    names = {"boto3", "botocore"}
    if library_set == "analytics":
        names |= {name.lower() for name, _ in ANALYTICS_CORE + ANALYTICS_MORE}
    return names


def _urls(value: str) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _extra_py_files(value: str, run_dir: Path, fetch: Callable[[str, Path], Path]) -> list[str]:
    folder = run_dir / "extra-py-files"
    paths: list[str] = []
    for url in _urls(value):
        suffix = Path(url).suffix.lower()
        if suffix == ".egg":
            raise RunSetupError(f"--extra-py-files: {url}: Python shell jobs on Python 3.9 take no .egg files; "
                                "package the library as a .whl")
        if suffix not in (".py", ".zip", ".whl"):
            raise RunSetupError(f"--extra-py-files: {url} is not a .py, .zip or .whl file")
        local = fetch(url, folder)
        if suffix == ".py":
            entry = str(local.parent)
        elif suffix == ".zip":
            entry = str(local)
        else:
            unpacked = folder / local.stem
            try:
                with zipfile.ZipFile(local) as wheel:
                    wheel.extractall(unpacked)
            except zipfile.BadZipFile:
                raise RunSetupError(f"--extra-py-files: {url} is not a wheel (zip) file") from None
            entry = str(unpacked)
        if entry not in paths:
            paths.append(entry)
    return paths


def _additional_modules(arguments: dict[str, str], python: pythons.Interpreter, run_dir: Path,
                        fetch: Callable[[str, Path], Path], notes: list[str]) -> str | None:
    requested = _urls(arguments.get("--additional-python-modules", ""))
    if not requested:
        return None
    options = shlex.split(arguments.get("--python-modules-installer-option", ""))
    specs, key_parts = [], []
    for item in requested:
        if item.startswith("s3://"):
            local = fetch(item, run_dir / "wheels")
            specs.append(str(local))
            key_parts.append(hashlib.sha256(local.read_bytes()).hexdigest())
        elif re.match(r"^[A-Za-z0-9]", item):
            specs.append(item)
            key_parts.append(item)
        else:
            raise RunSetupError(f"--additional-python-modules: {item!r} is neither a pip requirement nor an S3 path")
    folder = pythons.cache_dir() / "glue" / "modules" / f"{python.tag}-{pythons.folder_key(key_parts, options)}"
    try:
        manifest: dict[str, Any] = pythons.package_folder(folder, python, [pythons.Step.of(specs)],
                                                          f"--additional-python-modules {','.join(requested)}",
                                                          options=options, binary_only=False)
    except pythons.InstallError as exc:
        raise RunSetupError(f"Installation of Python modules failed: {exc}") from exc
    notes.append("additional modules: " + ", ".join(f"{k} {v}" for k, v in manifest["installed"].items()
                                                     if k not in pythons.SET_UP))
    return str(manifest["site"])
