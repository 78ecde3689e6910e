"""The wire side every service shares: a call as the services see it, an answer, AWS's error shape, and the base of
each service's `responses.py` (parse the call, call the service, answer in AWS's shape)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .services import Service

REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request", 403: "Forbidden",
           404: "Not Found", 409: "Conflict", 424: "Failed Dependency", 500: "Internal Server Error"}


@dataclass
class AwsRequest:
    """One call: the service it is signed for, its action, region, and the HTTP request it came in."""

    service: str
    action: str | None
    region: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, list[str]]
    path_params: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        return json.loads(self.body)


@dataclass
class AwsResponse:
    status: int = 200
    body: bytes | str | dict[str, Any] = b""
    headers: dict[str, str] = field(default_factory=dict)

    def wsgi(self, start_response: Callable[..., Any]) -> list[bytes]:
        body = self.body
        headers = dict(self.headers)
        if isinstance(body, dict):
            body = json.dumps(body, default=str).encode()
            headers.setdefault("Content-Type", "application/x-amz-json-1.1")
        elif isinstance(body, str):
            body = body.encode()
        headers["Content-Length"] = str(len(body))
        start_response(f"{self.status} {REASONS.get(self.status, 'Error')}", list(headers.items()))
        return [body]


def json_error(code: str, message: str, status: int = 400) -> AwsResponse:
    """An error in the shape the JSON protocols use, so botocore raises ClientError with this code."""
    return AwsResponse(status, {"__type": code, "message": message, "Message": message}, {"x-amzn-ErrorType": code})


class AwsError(Exception):
    """An error the service itself would answer (its code, message and status); the dispatcher sends it."""

    code = "ServiceException"
    status = 400

    def __init__(self, message: str, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or type(self).code
        self.status = status or type(self).status

    def response(self) -> AwsResponse:
        return json_error(self.code, self.message, self.status)


def underscore(action: str) -> str:
    """`GetPipelineState` -> `get_pipeline_state`, as moto names its response methods."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", action).lower()


class BaseResponses:
    """A service's protocol: a public method named by an action (`get_pipeline_state`) answers that call instead of
    moto; `after_<action>` sees moto's answer to it (status, body) and may replace it. Both return an AwsResponse,
    or None to let moto's answer stand."""

    def __init__(self, service: "Service"):
        self.service = service
        self.cloud = service.cloud

    def handler(self, action: str) -> Callable[[AwsRequest], AwsResponse | None] | None:
        return _public(self, underscore(action))

    def after_handler(self, action: str) -> Callable[[AwsRequest, int, bytes], AwsResponse | None] | None:
        return _public(self, "after_" + underscore(action))


def _public(owner: object, name: str) -> Any:
    if not name or name.startswith("_") or name in ("handler", "after_handler", "service", "cloud"):
        return None
    found = getattr(owner, name, None)
    return found if callable(found) else None
