"""Which API operation a request is, and its parameters, read from botocore's service models.

The credential scope's service (the signing name) picks the models: every botocore service signed with that name
(`sagemaker` signs SageMaker and SageMaker Runtime). Then, by the model's protocol:
- `json`: the operation is X-Amz-Target's suffix; the parameters are the JSON body;
- `query`: the `Action` form field; the parameters are the form's top-level fields;
- `rest-json` / `rest-xml`: the method and the path against each operation's `requestUri` template (labels, and the
  query keys the template fixes), then the operation's required query-string and header members; among equal
  matches the one with more of its members in the request wins, deprecated operations lose.
  The parameters are the URI labels, the query-string and header members (by their botocore names) and, for
  rest-json, the JSON body's top-level members.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import botocore.session

from ..protocol import AwsRequest

_LABEL = re.compile(r"\{([^}+]+)(\+?)\}")
# The botocore services signed with a credential scope whose name is not (only) a botocore service's own; any other
# scope is taken as a service's name. (Reading every model to find the others would take 8 s.)
SIGNED_AS = {
    "s3express": ("s3",),
    "sagemaker": ("sagemaker", "sagemaker-runtime"),
    "states": ("stepfunctions",),
    "monitoring": ("cloudwatch",),
    "elasticloadbalancing": ("elbv2", "elb"),
}


@dataclass
class Operation:
    service: str                  # botocore's service name (sagemaker-runtime)
    name: str                     # the operation (InvokeEndpoint)
    protocol: str                 # json, query, rest-json, rest-xml, smithy-rpc-v2-cbor
    prefix: str                   # the IAM service prefix (sagemaker)
    params: dict[str, Any] = field(default_factory=dict)
    query_compatible: bool = False
    members: frozenset[str] = frozenset()   # the input's member names (and wire names), normalized


@dataclass
class _Route:
    operation: str
    method: str
    pattern: re.Pattern[str]
    labels: dict[str, str]        # regex group -> member name
    fixed_query: dict[str, str | None]
    required_query: tuple[str, ...]
    required_headers: tuple[str, ...]
    members: dict[str, tuple[str, str]]   # member -> (location, locationName)
    deprecated: bool
    literal_length: int
    raw_payload: bool = False     # the body is data (Lambda Invoke's Payload), not the call's parameters


class _Model:
    def __init__(self, name: str, model: Any, prefix: str):
        self.name = name
        self.model = model
        self.protocol = model.metadata.get("protocol", "")
        protocols = model.metadata.get("protocols") or []
        if self.protocol not in ("json", "query", "rest-json", "rest-xml") and protocols:
            self.protocol = next((p for p in protocols if p in ("json", "query", "rest-json", "rest-xml")),
                                 self.protocol)
        self.target_prefix = model.metadata.get("targetPrefix")
        self.query_compatible = "awsQueryCompatible" in model.metadata
        self.prefix = prefix
        self.operations = set(model.operation_names)
        self._members: dict[str, frozenset[str]] = {}
        self.routes: list[_Route] = []
        if self.protocol.startswith("rest-"):
            self.routes = sorted((self._route(op) for op in model.operation_names),
                                 key=lambda r: (-len(r.fixed_query), -r.literal_length))

    def _route(self, name: str) -> _Route:
        op = self.model.operation_model(name)
        uri = op.http.get("requestUri", "/")
        path, _, query = uri.partition("?")
        labels: dict[str, str] = {}
        regex, literal = "", 0
        position = 0
        for index, match in enumerate(_LABEL.finditer(path)):
            literal += match.start() - position
            regex += re.escape(path[position:match.start()])
            group = f"l{index}"
            regex += f"(?P<{group}>.+)" if match.group(2) else f"(?P<{group}>[^/]+)"
            labels[group] = match.group(1)
            position = match.end()
        regex += re.escape(path[position:])
        literal += len(path) - position
        fixed: dict[str, str | None] = {}
        for part in filter(None, query.split("&")):
            key, eq, value = part.partition("=")
            fixed[key] = value if eq else None
        members: dict[str, tuple[str, str]] = {}
        required_query, required_headers = [], []
        shape = op.input_shape
        if shape is not None:
            required = set(shape.required_members)
            for member, member_shape in shape.members.items():
                location = member_shape.serialization.get("location", "")
                location_name = member_shape.serialization.get("name", member)
                members[member] = (location, location_name)
                if member in required and location == "querystring":
                    required_query.append(location_name)
                if member in required and location == "header":
                    required_headers.append(location_name.lower())
        trailing = "/?" if not path.endswith("/") else ""
        payload = shape.serialization.get("payload") if shape is not None else None
        raw = payload is not None and shape.members[payload].type_name != "structure"
        return _Route(name, op.http.get("method", "GET"), re.compile(f"^{regex}{trailing}$"), labels, fixed,
                      tuple(required_query), tuple(required_headers), members, bool(op.deprecated), literal, raw)

    def members(self, name: str) -> frozenset[str]:
        found = self._members.get(name)
        if found is None:
            shape = self.model.operation_model(name).input_shape
            names: set[str] = set()
            if shape is not None:
                for member, member_shape in shape.members.items():
                    names.add(_norm(member))
                    names.add(_norm(member_shape.serialization.get("name", member)))
            found = self._members[name] = frozenset(names)
        return found

    def match(self, req: AwsRequest, path: str) -> tuple[_Route, dict[str, str]] | None:
        best: tuple[tuple[int, int, int, int], _Route, dict[str, str]] | None = None
        for route in self.routes:
            if route.method != req.method:
                continue
            found = route.pattern.match(path)
            if not found:
                continue
            if any(key not in req.query or (value is not None and value not in req.query[key])
                   for key, value in route.fixed_query.items()):
                continue
            if any(key not in req.query for key in route.required_query):
                continue
            if any(header not in req.headers for header in route.required_headers):
                continue
            score = (len(route.fixed_query), len(route.required_query) + len(route.required_headers),
                     0 if route.deprecated else 1, route.literal_length)
            if best is None or score > best[0]:
                best = (score, route, {route.labels[g]: v for g, v in found.groupdict().items()})
        return (best[1], best[2]) if best else None


class Operations:
    """Resolves requests to operations; one per process (the models are read once, on demand)."""

    _shared: "Operations | None" = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self._session = botocore.session.get_session()
        self._by_signing: dict[str, list[_Model]] = {}
        self._models: dict[str, _Model] = {}
        self._model_lock = threading.RLock()

    @classmethod
    def shared(cls) -> "Operations":
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    # Models.
    def model(self, service: str, prefixes: set[str] | None = None) -> _Model:
        with self._model_lock:
            if service not in self._models:
                model = self._session.get_service_model(service)
                self._models[service] = _Model(service, model, iam_prefix(model, prefixes))
            return self._models[service]

    def models_for(self, signing: str, prefixes: set[str] | None = None) -> list[_Model]:
        with self._model_lock:
            if signing in self._by_signing:
                return self._by_signing[signing]
            available = self._available()
            names = [n for n in SIGNED_AS.get(signing, (signing,)) if n in available]
            found = [self.model(name, prefixes) for name in names]
            self._by_signing[signing] = found
            return found

    def _available(self) -> set[str]:
        if not hasattr(self, "_available_names"):
            loader = self._session.get_component("data_loader")
            self._available_names = set(loader.list_available_services("service-2"))
        return self._available_names

    # Requests.
    def resolve(self, req: AwsRequest, prefixes: frozenset[str] | set[str] | None = None) -> Operation | None:
        models = self.models_for(req.service, prefixes)
        target = req.headers.get("x-amz-target")
        for model in models:
            if model.protocol == "json" and target:
                target_prefix, _, name = target.rpartition(".")
                if (model.target_prefix is None or target_prefix == model.target_prefix) and name in model.operations:
                    return Operation(model.name, name, "json", model.prefix, _json(req.body), model.query_compatible,
                                     model.members(name))
            elif model.protocol == "query":
                form = _form(req)
                name = form.get("Action")
                if name and name in model.operations:
                    return Operation(model.name, name, "query", model.prefix, form, members=model.members(name))
            elif model.protocol.startswith("smithy-rpc-v2") or "cbor" in model.protocol:
                match = re.match(r"^/service/[^/]+/operation/([^/]+)$", req.path)
                if match and match.group(1) in model.operations:
                    return Operation(model.name, match.group(1), model.protocol, model.prefix, {},
                                     model.query_compatible, model.members(match.group(1)))
        path, host_params = _virtual_host(req)
        for model in models:
            if not model.protocol.startswith("rest-"):
                continue
            found = model.match(req, path)
            if found is None:
                continue
            route, labels = found
            params: dict[str, Any] = dict(host_params)
            params.update(labels)
            headers = {k.lower(): v for k, v in req.headers.items()}
            for member, (location, location_name) in route.members.items():
                if location == "querystring" and location_name in req.query:
                    values = req.query[location_name]
                    params[member] = values[0] if len(values) == 1 else values
                elif location == "header" and location_name.lower() in headers:
                    params[member] = headers[location_name.lower()]
            if model.protocol == "rest-json" and req.body[:1] == b"{" and not route.raw_payload:
                for key, value in _json(req.body).items():
                    params.setdefault(key, value)
            return Operation(model.name, route.operation, model.protocol, model.prefix, params,
                             members=model.members(route.operation))
        return None


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def iam_prefix(model: Any, prefixes: set[str] | None) -> str:
    """The IAM prefix of a botocore service: its signing name, else its endpoint prefix, else its serviceId."""
    metadata = model.metadata
    candidates = [metadata.get("signingName"), metadata.get("endpointPrefix"),
                  (metadata.get("serviceId") or "").lower().replace(" ", "")]
    for candidate in candidates:
        if candidate and (prefixes is None or candidate in prefixes):
            return candidate
    return candidates[0] or candidates[1] or model.service_name


def _json(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _form(req: AwsRequest) -> dict[str, Any]:
    fields = {k: v[0] for k, v in req.query.items() if v}
    if req.body and "x-www-form-urlencoded" in req.headers.get("content-type", ""):
        fields.update({k: v[0] for k, v in parse_qs(req.body.decode(errors="replace")).items() if v})
    return fields


def _virtual_host(req: AwsRequest) -> tuple[str, dict[str, str]]:
    """A virtual-hosted S3 request (`bucket.localhost:4566`, `bucket.s3.amazonaws.com`) as its path-style form."""
    if req.service != "s3":
        return req.path, {}
    host = req.headers.get("host", "").split(":")[0]
    if not host or re.match(r"^[0-9.]+$", host) or host == "localhost":
        return req.path, {}
    bucket, _, rest = host.partition(".")
    if rest == "localhost" or rest.startswith("s3.") or rest.startswith("s3-") or rest == "s3.amazonaws.com":
        return f"/{bucket}{req.path if req.path.startswith('/') else '/' + req.path}", {}
    return req.path, {}
