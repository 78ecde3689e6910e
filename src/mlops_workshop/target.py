"""The target the workshop runs on: the embedded local cloud (the default) or an AWS account.

One place for what the demo, the notebooks, cleanup, approve and the benchmarks share: the state folder (one default,
at the repository root, whatever the working folder), starting or reusing the local cloud on it, a boto3 session on
either target, the workshop's names there, and the environment of a process that works on it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from . import REPO_ROOT
from .config import WorkshopNames
from .localcloud import clients, lifecycle
from .localcloud.clients import DUMMY_CREDENTIALS
from .localcloud.server import DEFAULT_PORT
from .pipeline import Progress

TARGETS = ("local", "aws")
DEFAULT_STATE_DIR = REPO_ROOT / ".state"
IMAGE_MODES = ("process", "engine", "auto")


class TargetError(RuntimeError):
    """The target cannot be reached; the message says why and what to do, `code` the exit status (1: a failure,
    2: the user's input or set-up)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


@contextlib.contextmanager
def local_cloud_answering(state_dir: str | os.PathLike, again: str) -> Iterator[None]:
    """Calls to the local cloud of a state folder: when it stops answering mid-way, one line says so, where its log
    is, and `again` (what to run to go on)."""
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
    try:
        yield
    except (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError) as error:
        folder = cloud_dir(state_dir)
        raise TargetError(f"the local cloud stopped answering ({type(error).__name__}): its log is at "
                          f"{folder / 'logs' / 'localcloud.log'}; run {again} again (the local cloud starts "
                          f"again with what it kept)") from None


class CloudSession(boto3.session.Session):
    """A boto3 session whose clients talk to one endpoint (the local cloud) with its dummy credentials."""

    def __init__(self, endpoint_url: str, region: str = WorkshopNames.region):
        super().__init__(aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                         aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"], region_name=region)
        self.endpoint_url = endpoint_url

    def client(self, service_name: str, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("endpoint_url", self.endpoint_url)
        kwargs.setdefault("config", Config(retries={"max_attempts": 3, "mode": "standard"}, read_timeout=300))
        return super().client(service_name, **kwargs)


def cloud_dir(state_dir: str | os.PathLike = DEFAULT_STATE_DIR) -> Path:
    """Where the local cloud of a state folder keeps its state."""
    return Path(state_dir).resolve() / "localcloud"


def state_dir_option(state_dir: str | os.PathLike) -> str:
    """` --state-dir X` for a command to show, or nothing when X is the default."""
    folder = Path(state_dir).resolve()
    return "" if folder == DEFAULT_STATE_DIR else f" --state-dir {folder}"


def cloud_settings(images: str = "process") -> dict[str, Any]:
    """What the workshop asks of the local cloud: how images run (processes, or a container engine)."""
    return {"images": images}


def ensure_cloud(state_dir: str | os.PathLike = DEFAULT_STATE_DIR, port: int = DEFAULT_PORT, images: str = "process",
                 progress: Progress = print) -> dict[str, Any]:
    """Start the local cloud on the state folder as a background process, or reuse the one running there."""
    folder = cloud_dir(state_dir)
    current = lifecycle.status(folder)
    if current["running"]:
        progress(f"local cloud: reusing {current['endpoint']} (pid {current['pid']}), state in {folder}")
        return current
    started = time.monotonic()
    state = lifecycle.start(folder, port=port, settings=cloud_settings(images))
    progress(f"local cloud: started {state['endpoint']} (pid {state['pid']}) in {time.monotonic() - started:.1f} s, "
             f"state in {folder}, images run as {images}")
    return state


def running_cloud(state_dir: str | os.PathLike = DEFAULT_STATE_DIR) -> CloudSession | None:
    """A session on the local cloud that runs on the state folder, or None when none runs there."""
    folder = cloud_dir(state_dir)
    status = lifecycle.status(folder)
    return CloudSession(status["endpoint"]) if status["running"] else None


def no_running_cloud(state_dir: str | os.PathLike = DEFAULT_STATE_DIR) -> str:
    """The one line for a command that needs the local cloud on a folder where none runs."""
    return f"error: no local cloud runs on {cloud_dir(state_dir)}; run `mlops-workshop demo` first"


def account_session(region: str | None = None) -> boto3.session.Session:
    """A session on the account of the user's credentials, in `region`, else the configured one, else us-east-1."""
    session = boto3.session.Session(region_name=region)
    return session if session.region_name else boto3.session.Session(region_name=WorkshopNames.region)


def names_for_session(session: Any, base: WorkshopNames | None = None) -> WorkshopNames:
    """The workshop's names for the session's account and region."""
    base = base or WorkshopNames()
    account = session.client("sts").get_caller_identity()["Account"]
    return replace(base, account=account, region=session.region_name or base.region)


def child_env(endpoint_url: str | None, region: str, credentials: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the ETL, train and serve processes the workshop starts on a target.

    endpoint_url: the local cloud (its dummy credentials); None for an account, with `credentials` (or the
    user's own)."""
    # The container's entrypoints run with `python3` from PATH: this environment's, which has TensorFlow.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return clients.child_env(endpoint_url, region, credentials, extra={"PATH": path})
