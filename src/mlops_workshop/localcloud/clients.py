"""How code reaches a cloud: the environment of a process that talks to it, and boto3 clients (one factory)."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

DEFAULT_REGION = "us-east-1"
# The local cloud's administrator: what the user, the demo and the tests sign with.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "localcloud",
    "AWS_SECRET_ACCESS_KEY": "localcloud",
}


def aws_variables(endpoint_url: str | None, region: str = DEFAULT_REGION,
                  credentials: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables that point boto3 (and the AWS CLI) at a cloud: its endpoint, a region, credentials.

    With no endpoint (an account) and no credentials, boto3's own chain (profile, role) finds them."""
    given = DUMMY_CREDENTIALS if credentials is None and endpoint_url else credentials or {}
    # credentials_for's answer also says when they expire; only the AWS_ variables go into an environment.
    variables = {k: v for k, v in given.items() if k.startswith("AWS_")}
    if endpoint_url:
        variables["AWS_ENDPOINT_URL"] = endpoint_url
    variables["AWS_DEFAULT_REGION"] = variables["AWS_REGION"] = region
    return variables


def child_env(endpoint_url: str | None, region: str = DEFAULT_REGION, credentials: Mapping[str, str] | None = None,
              extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a process started to work on a cloud: this one's, with every AWS_ variable replaced."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("AWS_")}
    if credentials is None and not endpoint_url:
        # An account: the caller's own AWS_ variables (profile, keys) are how boto3 finds its credentials there.
        env.update({k: v for k, v in (os.environ if base is None else base).items() if k.startswith("AWS_")
                    and k != "AWS_ENDPOINT_URL"})
    env.update(aws_variables(endpoint_url, region, credentials))
    env.update(extra or {})
    return env


_clients: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()
_session: Any = None


def client(endpoint_url: str, service: str, region: str = DEFAULT_REGION, read_timeout: float = 120,
           credentials: Mapping[str, str] | None = None, max_attempts: int = 2) -> Any:
    """A boto3 client on a cloud, kept: clients are thread-safe, and a new one costs a quarter of a second.
    `max_attempts` 1 makes no retry (a call that must happen once, as a Step Functions task's)."""
    global _session
    credentials = dict(credentials or DUMMY_CREDENTIALS)
    key = (endpoint_url, service, region, read_timeout, max_attempts, tuple(sorted(credentials.items())))
    with _lock:
        if key not in _clients:
            _session = _session or boto3.session.Session()
            _clients[key] = _session.client(
                service, endpoint_url=endpoint_url, region_name=region,
                aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=credentials.get("AWS_SESSION_TOKEN"),
                config=Config(retries={"max_attempts": max_attempts, "mode": "standard"}, read_timeout=read_timeout,
                              connect_timeout=10))
        return _clients[key]


def forget_clients(endpoint_url: str) -> None:
    """Drop the kept clients of a cloud that stopped (its port may serve another one next)."""
    with _lock:
        for key in [k for k in _clients if k[0] == endpoint_url]:
            del _clients[key]
