"""The embedded AWS: moto for state, and an execution layer that runs what moto only records."""

from .server import DEFAULT_PORT, AwsRequest, AwsResponse, LocalCloud, json_error

__all__ = ["DEFAULT_PORT", "AwsRequest", "AwsResponse", "LocalCloud", "json_error"]
