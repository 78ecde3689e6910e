"""SageMaker's state on the local cloud beyond moto's records: the server behind an endpoint, and the shapes shared
by training jobs and endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..images.runs import Run
from .exceptions import JobError


def split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise JobError(f"ClientError: {uri!r} is not an S3 URI (s3://bucket/key)")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def epoch_ms(value: Any) -> Any:
    """Events carry times as epoch milliseconds, as SageMaker's do."""
    if isinstance(value, datetime):
        return int(value.replace(tzinfo=value.tzinfo or timezone.utc).timestamp() * 1000)
    if isinstance(value, dict):
        return {k: epoch_ms(v) for k, v in value.items()}
    if isinstance(value, list):
        return [epoch_ms(v) for v in value]
    return value


def epoch_s(value: Any) -> Any:
    """Times as the JSON protocol sends them: epoch seconds (moto's naive datetimes are UTC)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=value.tzinfo or timezone.utc).timestamp()
    if isinstance(value, dict):
        return {k: epoch_s(v) for k, v in value.items()}
    if isinstance(value, list):
        return [epoch_s(v) for v in value]
    return value


def tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").rstrip().splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Host:
    endpoint: str
    config: str
    variant: str
    run: Run
    folder: Path
    log_stream: str = ""
    follower: Any = None    # the logstreams.Follower copying the server's output to its CloudWatch Logs stream
