"""The embedded AWS: moto for state, and services that run what moto only records (see services.py)."""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_PORT", "LocalCloud"]


def __getattr__(name: str) -> Any:
    # The server (moto, boto3) is imported on first use, so that programs of the package's own (the Model
    # Monitor analyzer a processing job runs) start in a fraction of the time.
    if name in __all__:
        from . import server
        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
