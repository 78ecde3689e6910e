"""The local cloud's server: moto's WSGI app behind a dispatcher that hands some calls to executors.

Each executor module in this package exposes ``install(cloud)``, which registers routes with
``cloud.route(...)`` (answer a call instead of moto, or after it) and may patch moto's models.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import pkgutil
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from moto.core import DEFAULT_ACCOUNT_ID

log = logging.getLogger("mlops_workshop.localcloud")

DEFAULT_PORT = 4566
DEFAULT_REGION = "us-east-1"
ACCOUNT_ID = DEFAULT_ACCOUNT_ID
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "localcloud",
    "AWS_SECRET_ACCESS_KEY": "localcloud",
}

# Executors installed on the first call to one of their services (by signing name) or in the background after the
# server answers: moto's CloudFormation and Step Functions parsers import all of EC2's region and instance data (~2 s).
INSTALL_ON_FIRST_CALL: dict[str, tuple[str, ...]] = {
    "cloudformation": ("cloudformation",),
    "stepfunctions": ("states", "stepfunctions"),  # its signing name, and moto's name for its backend
}

# REST-style operations the executors answer; JSON-protocol ones are named by X-Amz-Target.
REST_ACTIONS: list[tuple[str, str, re.Pattern[str], str]] = [
    ("lambda", "POST", re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$"), "Invoke"),
    ("lambda", "POST", re.compile(r"^/2014-11-13/functions/(?P<name>[^/]+)/invoke-async/?$"), "InvokeAsync"),
    ("sagemaker", "POST", re.compile(r"^/endpoints/(?P<name>[^/]+)/invocations$"), "InvokeEndpoint"),
]


@dataclass
class AwsRequest:
    """One call as the executors see it: service, action, region, parsed body."""

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
        reason = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content"}.get(self.status, "Error")
        start_response(f"{self.status} {reason}", list(headers.items()))
        return [body]


def json_error(code: str, message: str, status: int = 400) -> AwsResponse:
    """An error in the shape the JSON protocols use, so botocore raises ClientError with this code."""
    return AwsResponse(status, {"__type": code, "message": message, "Message": message}, {"x-amzn-ErrorType": code})


class AwsError(Exception):
    """Raised by a handler for an error the service itself would answer; the dispatcher sends it as one."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

    def response(self) -> AwsResponse:
        return json_error(self.code, self.message, self.status)


# A handler answers the call (an AwsResponse) or returns None to let moto answer it.
Handler = Callable[[AwsRequest], "AwsResponse | None"]
# An after-handler sees moto's answer and may replace it.
AfterHandler = Callable[[AwsRequest, int, bytes], "AwsResponse | None"]


class LocalCloud:
    """moto for state, plus executors that run the work behind the calls moto only records."""

    def __init__(self, state_dir: str | Path, port: int = DEFAULT_PORT, host: str = "127.0.0.1",
                 region: str = DEFAULT_REGION, settings: dict[str, Any] | None = None):
        self.state_dir = Path(state_dir).resolve()
        self.port = port
        self.host = host
        self.region = region
        self.settings: dict[str, Any] = dict(settings or {})
        self._routes: dict[tuple[str, str], Handler] = {}
        self._after: dict[tuple[str, str], AfterHandler] = {}
        self._processes: dict[int, tuple[str, subprocess.Popen[Any]]] = {}
        self._lock = threading.Lock()
        self._shutdown_hooks: list[Callable[[], None]] = []
        self._server: Any = None
        self._moto_app: Any = None
        self.executors: list[str] = []
        self._deferred: dict[str, str] = {}
        self._install_lock = threading.RLock()
        (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # Registration, used by the executors' install(cloud).
    def route(self, service: str, action: str, handler: Handler | None = None):
        def register(fn: Handler) -> Handler:
            self._routes[(service, action)] = fn
            return fn
        return register(handler) if handler else register

    def after(self, service: str, action: str, handler: AfterHandler | None = None):
        def register(fn: AfterHandler) -> AfterHandler:
            self._after[(service, action)] = fn
            return fn
        return register(handler) if handler else register

    def on_shutdown(self, hook: Callable[[], None]) -> None:
        self._shutdown_hooks.append(hook)

    # Services for the executors.
    def backend(self, service: str, region: str | None = None, account: str = ACCOUNT_ID) -> Any:
        from moto.backends import get_backend
        self.ensure_executor_for(service)
        return get_backend(service)[account][region or self.region]

    def child_env(self, extra: dict[str, str] | None = None, region: str | None = None) -> dict[str, str]:
        """The environment every process the local cloud starts gets: it talks to this cloud."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(DUMMY_CREDENTIALS)
        env["AWS_ENDPOINT_URL"] = self.endpoint_url
        env["AWS_DEFAULT_REGION"] = env["AWS_REGION"] = region or self.region
        env.update(extra or {})
        return env

    def log_path(self, kind: str, name: str) -> Path:
        path = self.state_dir / "logs" / kind / f"{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def work_dir(self, kind: str, name: str) -> Path:
        path = self.state_dir / kind / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def popen(self, label: str, args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a child process that the local cloud stops when it stops."""
        kwargs.setdefault("start_new_session", True)
        proc = subprocess.Popen(args, **kwargs)
        with self._lock:
            self._processes[proc.pid] = (label, proc)
        return proc

    def forget(self, proc: subprocess.Popen[Any]) -> None:
        with self._lock:
            self._processes.pop(proc.pid, None)

    def processes(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"pid": pid, "label": label, "running": proc.poll() is None}
                    for pid, (label, proc) in self._processes.items()]

    def spawn(self, name: str, target: Callable[..., Any], *args: Any) -> threading.Thread:
        """Background work (a job run, a build) in a daemon thread that logs its exceptions."""
        def run() -> None:
            try:
                target(*args)
            except Exception:
                log.exception("background task %s failed", name)
        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        return thread

    def put_event(self, source: str, detail_type: str, detail: dict[str, Any],
                  resources: list[str] | None = None, region: str | None = None) -> None:
        """Emit an event onto the default bus, as the AWS service itself would."""
        events = self.backend("events", region)
        events.put_events([{
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, default=str),
            "Resources": resources or [],
            "EventBusName": "default",
        }])

    # The WSGI side.
    def _parse(self, environ: dict[str, Any]) -> AwsRequest:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        if not length and environ.get("wsgi.input_terminated"):  # chunked (git pushes over 1 MiB): read to the end
            body = environ["wsgi.input"].read()
        import io
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        service, region = "", self.region
        auth = headers.get("authorization", "")
        match = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/([^/]+)/aws4_request", auth)
        if match:
            region, service = match.group(1), match.group(2).lower()
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        action = None
        params: dict[str, str] = {}
        target = headers.get("x-amz-target")
        if target and "." in target:
            action = target.rsplit(".", 1)[1]
        else:
            for svc, verb, pattern, name in REST_ACTIONS:
                found = pattern.match(path)
                if svc == service and verb == method and found:
                    action, params = name, found.groupdict()
                    break
        return AwsRequest(service, action, region, method, path, headers, body,
                          parse_qs(environ.get("QUERY_STRING", "")), params)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == "/_localcloud/health":
            return AwsResponse(200, {"status": "running", "executors": self.executors,
                                     "installed_on_first_call": self.deferred(),
                                     "processes": self.processes(),
                                     "state_dir": str(self.state_dir)}).wsgi(start_response)
        request = self._parse(environ)
        self.ensure_executor_for(request.service)
        key = (request.service, request.action or "")
        handler = self._routes.get(key)
        if handler is not None:
            try:
                response = handler(request)
            except AwsError as error:
                response = error.response()
            except Exception as exc:  # an executor bug must surface as an AWS error, not a dropped call
                log.exception("executor for %s.%s failed", *key)
                response = json_error("ServiceException", f"local cloud executor failed: {exc}", 500)
            if response is not None:
                return response.wsgi(start_response)
        after = self._after.get(key)
        if after is None:
            return self._moto_app(environ, start_response)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None
        body = b"".join(self._moto_app(environ, capture))
        status = int(captured["status"].split()[0])
        try:
            replaced = after(request, status, body)
        except AwsError as error:
            replaced = error.response()
        except Exception as exc:
            log.exception("executor after %s.%s failed", *key)
            replaced = json_error("ServiceException", f"local cloud executor failed: {exc}", 500)
        if replaced is not None:
            return replaced.wsgi(start_response)
        start_response(captured["status"], [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
                       + [("Content-Length", str(len(body)))])
        return [body]

    # Lifecycle.
    def configure_moto(self) -> None:
        from moto.core.config import default_user_config
        default_user_config["stepfunctions"]["execute_state_machine"] = True
        # moto's Step Functions service integrations call back into this server.
        os.environ["MOTO_PORT"] = str(self.port)

    def install_executors(self) -> None:
        package = importlib.import_module(__package__)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if info.name in {"server", "lifecycle", "__main__"}:
                continue
            if info.name in INSTALL_ON_FIRST_CALL:
                for service in INSTALL_ON_FIRST_CALL[info.name]:
                    self._deferred[service] = info.name
                continue
            self._install(info.name)

    def _install(self, name: str) -> None:
        module = importlib.import_module(f"{__package__}.{name}")
        install = getattr(module, "install", None)
        if callable(install):
            install(self)
            self.executors.append(name)

    def ensure_executor_for(self, service: str) -> None:
        """Install the executor of `service` now if it waits for its first call."""
        if service not in self._deferred:
            return
        with self._install_lock:
            name = self._deferred.get(service)
            if name is None:
                return
            log.info("installing the %s executor", name)
            self._install(name)
            for key in [k for k, v in self._deferred.items() if v == name]:
                del self._deferred[key]

    def deferred(self) -> list[str]:
        """The executors not installed yet (each is on its service's first call, or by the background install)."""
        return sorted(set(self._deferred.values()))

    def install_deferred(self) -> None:
        """Install every executor still waiting for its first call."""
        for service in list(self._deferred):
            try:
                self.ensure_executor_for(service)
            except Exception:
                log.exception("installing the executor for %s failed", service)

    def start(self) -> None:
        """Serve in a background thread of this process (tests, notebooks); see lifecycle for a daemon."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server
        self.configure_moto()
        self._moto_app = DomainDispatcherApplication(create_backend_app)
        self.install_executors()
        self._server = make_server(self.host, self.port, self, threaded=True, request_handler=MotoRequestHandler)
        self.port = self._server.server_address[1]
        os.environ["MOTO_PORT"] = str(self.port)
        # A short poll interval lets stop() return at once instead of after up to half a second.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="localcloud-http",
                         daemon=True).start()
        if self._deferred:
            threading.Thread(target=self.install_deferred, name="localcloud-install", daemon=True).start()

    def stop(self) -> None:
        with self._install_lock:  # an install under way finishes (and registers its shutdown hook); none starts after
            self._deferred.clear()
        for hook in reversed(self._shutdown_hooks):
            try:
                hook()
            except Exception:
                log.exception("shutdown hook failed")
        with self._lock:
            procs = list(self._processes.values())
        for _, proc in procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    proc.terminate()
        deadline = time.monotonic() + 10
        for _, proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "LocalCloud":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
