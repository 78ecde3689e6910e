"""The local cloud: moto's WSGI app for state, behind a dispatcher that hands the calls its services answer to them.

`LocalCloud` owns the services of `services.SERVICES` (`cloud.service("lambda")`), the child processes they start
(stopped with the cloud), the boto3 clients its services use on it, and the state folder.
"""

from __future__ import annotations

import io
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from moto.core import DEFAULT_ACCOUNT_ID

from . import clients
from .clients import DEFAULT_REGION
from . import processes as children
from .persistence import StateStore
from .protocol import AwsError, AwsRequest, AwsResponse, json_error
from .services import SERVICES, Route, Service, ServiceSpec, load

log = logging.getLogger("mlops_workshop.localcloud")

DEFAULT_PORT = 4566
ACCOUNT_ID = DEFAULT_ACCOUNT_ID
HEALTH_PATH = "/_localcloud/health"
RESET_PATH = "/moto-api/reset"  # moto's own: it empties moto's backends, and the services forget their state
SIGNATURE = re.compile(r"Credential=[^/]+/[^/]+/([^/]+)/([^/]+)/aws4_request")
# Calls that only read: the others may change what the cloud keeps (REST calls are judged by their method).
READ_ACTIONS = re.compile(r"^(Describe|Get|List|Head|BatchGet|Search|Query|Scan|Lookup|Filter|Select|Invoke)")


class LocalCloud:
    """moto for state, plus the services that run the work behind the calls moto only records."""

    def __init__(self, state_dir: str | Path, port: int = DEFAULT_PORT, host: str = "127.0.0.1",
                 region: str = DEFAULT_REGION, settings: dict[str, Any] | None = None):
        self.state_dir = Path(state_dir).resolve()
        self.port = port
        self.host = host
        self.region = region
        self.settings: dict[str, Any] = dict(settings or {})
        self._specs = {spec.name: spec for spec in SERVICES}
        self._signing = {name: spec.name for spec in SERVICES for name in spec.signing_names}
        self._moto_names = {name: spec.name for spec in SERVICES for name in spec.moto_names}
        self._services: dict[str, Service] = {}
        self._started: list[Service] = []
        self._routes: list[tuple[Route, str]] = []
        self._install_lock = threading.RLock()
        self._stopping = False
        self._processes: dict[int, tuple[str, subprocess.Popen[Any]]] = {}
        self._lock = threading.Lock()
        self._server: Any = None
        self._moto_app: Any = None
        self._ready = False
        self._restoring_lazy = False
        (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.store = StateStore(self)
        self._table = children.ProcessTable(self.state_dir)
        self._watchdog: tuple[subprocess.Popen[Any], int] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # The services.
    def service(self, name: str) -> Any:
        """The service `name` of this cloud, installed now if it was waiting for its first use (with its part of
        a restored state)."""
        found = self._services.get(name)
        if found is not None and not (found.spec.lazy and self.store.lazy_pending):
            return found
        if name not in self._specs:
            raise KeyError(f"the local cloud has no service {name!r}; it runs {', '.join(self._specs)}")
        with self._install_lock:
            service = self._install(self._specs[name])
            if service.spec.lazy and self.store.lazy_pending and not self._restoring_lazy:
                self._restore_lazy()
            return service

    def installed(self) -> list[str]:
        return [service.spec.name for service in self._started]

    def running_services(self) -> list[Service]:
        return list(self._started)

    def waiting(self) -> list[str]:
        """The lazy services not installed yet."""
        return [spec.name for spec in SERVICES if spec.name not in self._services]

    def _install(self, spec: ServiceSpec) -> Service:
        with self._install_lock:
            if spec.name in self._services:
                return self._services[spec.name]
            if self._stopping:
                raise RuntimeError("the local cloud is stopping")
            if spec.lazy:
                log.info("installing the %s service", spec.name)
            service = load(spec)(self, spec)
            service.start()
            self._routes.extend((route, spec.name) for route in service.routes)
            self._started.append(service)
            self._services[spec.name] = service
            return service

    def _install_waiting(self) -> None:
        for spec in SERVICES:
            if self._stopping:
                return
            try:
                self.service(spec.name)
            except Exception:
                if not self._stopping:
                    log.exception("installing the %s service failed", spec.name)

    # What the services use.
    def backend(self, service: str, region: str | None = None, account: str = ACCOUNT_ID) -> Any:
        """moto's backend of `service` (moto's name for it) in a region."""
        from moto.backends import get_backend
        if service in self._moto_names:
            self.service(self._moto_names[service])
        return get_backend(service)[account][region or self.region]

    def client(self, service: str, region: str | None = None, read_timeout: float = 120,
               credentials: dict[str, str] | None = None, max_attempts: int = 2) -> Any:
        """A boto3 client on this cloud, for a call a service makes through the API."""
        return clients.client(self.endpoint_url, service, region or self.region, read_timeout, credentials,
                              max_attempts)

    def child_env(self, extra: dict[str, str] | None = None, region: str | None = None,
                  credentials: dict[str, str] | None = None, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment every process the local cloud starts gets: it talks to this cloud, as the administrator
        or with `credentials` (a role's, from IAM's credentials_for); `base` in place of this process's variables."""
        return clients.child_env(self.endpoint_url, region or self.region, credentials=credentials, extra=extra,
                                 base=base)

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
        self._table.add(proc.pid, label)
        return proc

    def forget(self, proc: subprocess.Popen[Any]) -> None:
        with self._lock:
            self._processes.pop(proc.pid, None)
        self._table.remove(proc.pid)

    def processes(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"pid": pid, "label": label, "running": proc.poll() is None}
                    for pid, (label, proc) in self._processes.items()]

    def spawn(self, name: str, target: Callable[..., Any], *args: Any) -> threading.Thread:
        """Background work (a job run, a build) in a daemon thread that logs its exceptions."""
        def run() -> None:
            self.store.busy(+1)
            try:
                target(*args)
            except Exception:
                log.exception("background task %s failed", name)
            finally:
                self.store.busy(-1)
        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        return thread

    def reset(self) -> None:
        """Before moto empties its backends (`/moto-api/reset`): every service stops its work and forgets its state."""
        for service in reversed(self._started):
            try:
                service.reset()
            except Exception:
                log.exception("resetting the %s service failed", service.spec.name)

    # The WSGI side.
    def health(self) -> dict[str, Any]:
        return {"status": "running" if self._ready else "starting", "services": self.installed(),
                "installing": self.waiting(), "changes": self.store.changes, "saved_changes": self.store.saved_changes,
                "saved_at": self.store.saved_at,
                "processes": self.processes(), "state_dir": str(self.state_dir)}

    def _parse(self, environ: dict[str, Any]) -> tuple[AwsRequest, str | None]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        if not length and environ.get("wsgi.input_terminated"):  # chunked (git pushes over 1 MiB): read to the end
            body = environ["wsgi.input"].read()
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        signing, region = "", self.region
        match = SIGNATURE.search(headers.get("authorization", ""))
        if match:
            region, signing = match.group(1), match.group(2).lower()
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        owner = self._signing.get(signing)
        if owner is not None:
            self.service(owner)
        action, params = None, {}
        target = headers.get("x-amz-target")
        if target and "." in target:
            action = target.rsplit(".", 1)[1]
        else:
            query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            for route, service in list(self._routes):
                if route.method != method or (route.signed and service != owner):
                    continue
                if route.query is not None and route.query not in query:
                    continue
                found = route.pattern.match(path)
                if found:
                    action, params, owner = route.action, found.groupdict(), service
                    break
        request = AwsRequest(signing, action, region, method, path, headers, body,
                             parse_qs(environ.get("QUERY_STRING", "")), params)
        return request, owner

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO", "") == HEALTH_PATH:
            return AwsResponse(200, self.health()).wsgi(start_response)
        request, owner = self._parse(environ)
        if request.path == RESET_PATH and request.method == "POST":
            self.reset()
        refused = self.service("iam").authorize(request, owner, environ)
        if refused is not None:
            return refused.wsgi(start_response)
        writes = not READ_ACTIONS.match(request.action) if request.action else request.method not in ("GET", "HEAD")
        if writes:
            if self.store.lazy_pending:
                self._whole()  # a write waits until the restored state is whole, so that it can be kept
            self.store.changed()
        service = self._services.get(owner or "")
        responses = service.responses if service is not None else None
        if responses is None or not request.action:
            return self._moto_app(environ, start_response)
        handler = responses.handler(request.action)
        if handler is not None:
            response = _answer(owner, request.action, lambda: handler(request))
            if response is not None:
                return response.wsgi(start_response)
        after = responses.after_handler(request.action)
        if after is None:
            return self._moto_app(environ, start_response)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None
        body = b"".join(self._moto_app(environ, capture))
        status = int(captured["status"].split()[0])
        replaced = _answer(owner, request.action, lambda: after(request, status, body))
        if replaced is not None:
            return replaced.wsgi(start_response)
        start_response(captured["status"], [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
                       + [("Content-Length", str(len(body)))])
        return [body]

    # Lifecycle.
    def start(self) -> None:
        """Serve in a background thread of this process (tests, notebooks); see lifecycle for a daemon.

        With a snapshot in the state folder, the cloud comes back as it was saved: every service is installed first
        (the snapshot may hold their objects), the state is loaded, and what served serves again before this
        returns; work that was in flight when it stopped ends Failed or Stopped, saying why."""
        from moto.core.config import default_user_config
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server
        default_user_config["stepfunctions"]["execute_state_machine"] = True
        self._moto_app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(self.host, self.port, self, threaded=True, request_handler=MotoRequestHandler)
        self.port = self._server.server_address[1]
        # moto's Step Functions service integrations call back into this server.
        os.environ["MOTO_PORT"] = str(self.port)
        left = children.reap(self.state_dir)
        if left:
            log.warning("ended %d process(es) a local cloud that stopped left behind: %s", len(left), ", ".join(left))
        self._table.owner(os.getpid())
        self._watchdog = children.start_watchdog(self.state_dir)
        restoring = self.store.exists()
        if restoring:
            self.store.check_version()
        for spec in SERVICES:
            if not spec.lazy:
                self.service(spec.name)
        saved = self.store.load() if restoring else None
        if saved is not None:
            self._restore(saved, lazy=False)
        # A short poll interval lets stop() return at once instead of after up to half a second.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="localcloud-http",
                         daemon=True).start()
        if saved is not None:
            self._recover(lazy=False)
            log.info("state restored from %s (%s follow in the background)", self.store.folder,
                     ", ".join(spec.name for spec in SERVICES if spec.lazy))
        self._ready = True
        self.store.start()
        if self.waiting() or self.store.lazy_pending:
            threading.Thread(target=self._install_waiting, name="localcloud-install", daemon=True).start()

    def _whole(self) -> None:
        """Load the lazy part of a restored state now (installing the lazy services it needs)."""
        for spec in SERVICES:
            if spec.lazy:
                self.service(spec.name)

    def _restore_lazy(self) -> None:
        self._restoring_lazy = True
        try:
            for spec in SERVICES:
                if spec.lazy:
                    self._install(spec)
            self._restore(self.store.load_lazy(), lazy=True)
            self._recover(lazy=True)
        finally:
            self._restoring_lazy = False

    def _recover(self, lazy: bool) -> None:
        for service in list(self._started):
            if service.spec.lazy == lazy:
                try:
                    service.recover()
                except Exception:
                    log.exception("the %s service could not recover its state", service.spec.name)

    def snapshot(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Everything the cloud keeps, in two parts: what the lazy services hold (their moto backends and their own
        state), and everything else."""
        from moto.core.base_backend import BackendDict

        from .persistence import backend_kind
        lazy_modules = tuple(f"moto.{name}" for spec in SERVICES if spec.lazy for name in spec.moto_names)
        parts: dict[bool, dict[str, Any]] = {False: {"moto": {}, "services": {}}, True: {"moto": {}, "services": {}}}
        for registry in list(BackendDict._instances):
            kind = backend_kind(registry)
            part = parts[kind.startswith(lazy_modules)]
            for account, regions in list(registry.items()):
                for region in list(dict.keys(regions)):
                    part["moto"][(kind, account, region)] = dict.__getitem__(regions, region)
        for service in self._started:
            parts[service.spec.lazy]["services"][service.spec.name] = service.snapshot()
        return parts[False], parts[True]

    def _restore(self, saved: dict[str, Any], lazy: bool) -> None:
        from moto.core.base_backend import BackendDict

        from .persistence import backend_dict
        if not lazy:
            BackendDict.reset()
        for (kind, account, region), backend in saved["moto"].items():
            dict.__setitem__(backend_dict(kind)[account], region, backend)  # type: ignore[arg-type]
        for service in self._started:
            if service.spec.lazy == lazy:
                service.restore(saved["services"].get(service.spec.name))

    def stop(self) -> None:
        with self._install_lock:  # an install under way finishes; none starts after
            self._stopping = True
        if self._ready:
            if self.store.lazy_pending and self.store.changes != self.store.saved_changes:
                self._restoring_lazy = False
                with self._install_lock:
                    self._stopping = False
                    self._whole()
                    self._stopping = True
            self.store.stop()  # what the cloud holds now, before its services stop the work they run
        for service in reversed(self._started):
            try:
                service.stop()
            except Exception:
                log.exception("stopping the %s service failed", service.spec.name)
        self._stop_processes()
        if self._watchdog is not None:
            watchdog, pipe = self._watchdog
            self._table.path.unlink(missing_ok=True)
            os.close(pipe)
            watchdog.wait(10)
            self._watchdog = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        clients.forget_clients(self.endpoint_url)

    def _stop_processes(self) -> None:
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
        # A session's other members (nginx and gunicorn workers) may outlive its leader.
        for _, proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.forget(proc)

    def __enter__(self) -> "LocalCloud":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _answer(service: str | None, action: str, call: Callable[[], AwsResponse | None]) -> AwsResponse | None:
    try:
        return call()
    except AwsError as error:
        return error.response()
    except Exception as exc:  # a service's bug must surface as an AWS error, not a dropped call
        log.exception("the %s service failed on %s", service, action)
        return json_error("ServiceException", f"the local cloud's {service} service failed: {exc}", 500)
