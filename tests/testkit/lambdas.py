"""The pipeline's Lambda functions as they are deployed: each package built by mlops_workshop.packaging, then
imported the way Lambda imports it, with the package's root first on sys.path so that a handler's `import
pipeline_jobs` finds the copy in its own package.

`load_lambda(name)` gives lambdas/<name> as a fresh module (its clients, made at import, talk to whatever moto is
active); `DeployedLambdas` runs the packages moto's Lambda holds when something invokes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import sys
import tempfile
import traceback
import types
import uuid
import zipfile
from pathlib import Path

from moto.awslambda.models import LambdaFunction

from mlops_workshop import packaging
from testkit.modules import load_module

# One folder per distinct package for the whole test run; packages are deterministic, so their digest names them.
_EXTRACTED = tempfile.TemporaryDirectory(prefix="testkit-lambda-packages-")


def lambda_context(function_name: str = "test") -> types.SimpleNamespace:
    """The parts of Lambda's context object the functions read."""
    return types.SimpleNamespace(
        aws_request_id="5d1e8a2b-request", log_stream_name="2025/01/01/[$LATEST]0123abcd", function_name=function_name
    )


def extract(code: bytes) -> Path:
    """The folder a code package is unzipped in, as Lambda's /var/task."""
    folder = Path(_EXTRACTED.name) / hashlib.sha256(code).hexdigest()[:16]
    if not folder.is_dir():
        partial = Path(tempfile.mkdtemp(dir=_EXTRACTED.name))
        with zipfile.ZipFile(io.BytesIO(code)) as archive:
            archive.extractall(partial)
        try:
            partial.rename(folder)
        except OSError:  # another thread unzipped the same package meanwhile
            shutil.rmtree(partial, ignore_errors=True)
    return folder


@contextlib.contextmanager
def _package_first_on_path(folder: Path):
    """The package's root heads sys.path, and its own top-level modules shadow any imported before."""
    names = {path.stem for path in folder.glob("*.py")} | {path.parent.name for path in folder.glob("*/__init__.py")}
    shadowed = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(shadowed)


def import_package(code: bytes, module: str = "lambda", label: str = "package") -> types.ModuleType:
    """Import the handler module of a code package (a zip), as a fresh module."""
    folder = extract(code)
    with _package_first_on_path(folder):
        return load_module(folder / f"{module}.py", f"{module}_{label}_{uuid.uuid4().hex[:8]}")


def load_lambda(name: str, lambdas_dir: str | Path = packaging.LAMBDAS_DIR) -> types.ModuleType:
    """lambdas/<name>/lambda.py from the package the build makes of it."""
    return import_package(packaging.build_package(Path(lambdas_dir) / name), label=name)


class DeployedLambdas:
    """Runs a deployed function's package in this process when moto invokes it (moto without Docker only echoes).

    `setup[part](module)` adjusts the freshly loaded module of each function whose name holds `part`;
    `rewrite(event)` may change an event before the function sees it; `calls` keeps (function name, event)."""

    def __init__(self, rewrite=None):
        self.setup = {}
        self.calls = []
        self.rewrite = rewrite

    def install(self, monkeypatch) -> DeployedLambdas:
        """Make every invocation moto makes (the Invoke API, Step Functions' tasks, custom resources) run here."""
        monkeypatch.setattr(LambdaFunction, "_invoke_lambda", lambda function, event=None: self.run(function, event))
        return self

    def run(self, function, event) -> tuple[str, bool, str]:
        """(payload, is it an error, logs), what moto's LambdaFunction._invoke_lambda answers."""
        event = json.loads(event) if isinstance(event, (str, bytes)) else (event or {})
        if self.rewrite:
            event = self.rewrite(event)
        module_file, handler_name = function.handler.rsplit(".", 1)
        module = import_package(function.code_bytes, module_file, function.function_name)
        for part, adjust in self.setup.items():
            if part in function.function_name:
                adjust(module)
        self.calls.append((function.function_name, event))
        try:
            result = getattr(module, handler_name)(event, lambda_context(function.function_name))
        except Exception as error:  # noqa: BLE001 - the error is the function's answer, as Lambda gives it
            payload = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_exception(error)[-3:],
            }
            return json.dumps(payload), True, ""
        return json.dumps(result), False, ""
