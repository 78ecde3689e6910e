"""The integration suite: the project's unchanged pipeline (templates, Lambdas, buildspecs, ETL, container) on a
real local cloud, started as `mlops-workshop demo` starts it (a background process owning a state folder).

One local cloud and one successful demo run serve the whole session (a run takes about a minute); each fault test
starts its own execution on that pipeline and puts back what it changed.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_workshop import demo, pipeline, target
from mlops_workshop.config import WorkshopNames
from mlops_workshop.localcloud import lifecycle
from mlops_workshop.modelserver import free_port
from mlops_workshop.target import names_for_session
from testkit.tools import require_git

# No source polling: every execution here is started by the code under test, so none races another. Short
# action timeouts: an approval that nobody answers fails the execution instead of holding the suite.
CLOUD_SETTINGS = {
    "images": "process",
    "codepipeline": {"poll_seconds": 0, "timeouts": {"Manual": 300, "Lambda": 300, "CodeBuild": 600,
                                                     "CloudFormation": 300, "StepFunctions": 300}},
}
RUN_TIMEOUT = 600


@dataclass
class Cloud:
    state_dir: Path
    endpoint: str
    port: int
    session: target.CloudSession
    names: WorkshopNames

    def client(self, service: str):
        return self.session.client(service)

    def processes(self) -> list[dict]:
        return lifecycle.status(target.cloud_dir(self.state_dir)).get("processes", [])

    def run(self, **kwargs) -> demo.DemoResult:
        """One pipeline run through the library, as the demo does it; its progress goes to `lines`."""
        lines: list[str] = []
        kwargs.setdefault("timeout", RUN_TIMEOUT)
        try:
            result = demo.run_pipeline(self.session, self.state_dir / "demo", self.names, progress=lines.append,
                                       **kwargs)
        finally:
            (self.state_dir / "last-run.log").write_text("\n".join(lines) + "\n")
        result.lines = lines  # type: ignore[attr-defined]
        return result


@pytest.fixture(scope="session")
def e2e(tmp_path_factory):
    """A local cloud on a free port with its state in a temporary folder, stopped after the session."""
    require_git()
    state_dir = tmp_path_factory.mktemp("e2e")
    folder = target.cloud_dir(state_dir)
    state = lifecycle.start(folder, port=free_port(), settings=CLOUD_SETTINGS)
    try:
        session = target.CloudSession(state["endpoint"])
        yield Cloud(state_dir, state["endpoint"], state["port"], session, names_for_session(session))
    finally:
        lifecycle.stop(folder)


@dataclass
class DemoRun:
    code: int
    output: str
    execution_id: str
    seconds: float


def run_demo_cli(e2e: Cloud, *args: str) -> tuple[int, str]:
    """`mlops-workshop demo` on the session's state folder (it finds the local cloud running and reuses it)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = demo.main(["--state-dir", str(e2e.state_dir), "--port", str(e2e.port),
                          "--timeout", str(RUN_TIMEOUT), *args])
    return code, out.getvalue()


@pytest.fixture(scope="session")
def first_run(e2e) -> DemoRun:
    """The demo's first run on the empty cloud: everything created, one execution through DeployPrd."""
    model = pipeline.sources.source_folders(e2e.names)[e2e.names.model_branch]
    if not (model / "trainingjob.json").is_file():
        pytest.fail(f"{model}/trainingjob.json is missing: the pipeline's Train stage reads it from the model source")
    began = time.monotonic()
    code, output = run_demo_cli(e2e)
    (e2e.state_dir / "first-run.log").write_text(output)
    executions = pipeline.execution.execution_ids(e2e.client("codepipeline"), e2e.names.pipeline_stack_name)
    if code != 0 or not executions:
        pytest.fail(f"the demo's first run failed (exit {code}):\n{output[-6000:]}")
    return DemoRun(code, output, executions[-1], time.monotonic() - began)


@pytest.fixture
def wait_for():
    def wait(check, timeout=120.0, interval=0.2, what="the condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(interval)
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
    return wait


def model_source_copy(tmp_path: Path, names: WorkshopNames) -> Path:
    """A copy of container/ to change as a user would before pushing it to the model branch."""
    target = tmp_path / "model-source"
    shutil.copytree(pipeline.sources.source_folders(names)[names.model_branch], target,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
    return target


@pytest.fixture
def demo_cli(e2e):
    """demo_cli(*args) -> (exit code, output) of `mlops-workshop demo` on the session's cloud."""
    return lambda *args: run_demo_cli(e2e, *args)


@pytest.fixture
def model_source(tmp_path, e2e):
    return model_source_copy(tmp_path, e2e.names)
