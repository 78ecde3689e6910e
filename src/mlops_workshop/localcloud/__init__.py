"""The embedded AWS: moto for state, and services that run what moto only records (see services.py)."""

from .server import DEFAULT_PORT, LocalCloud

__all__ = ["DEFAULT_PORT", "LocalCloud"]
