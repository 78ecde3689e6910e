"""SageMaker endpoints: one `serve` per endpoint with the model of ProductionVariants[0] (its ModelDataUrl, or its
model package's), Creating -> InService/Failed, Updating -> InService (a new server is started and healthy before
the old one stops; a failed update keeps the old one serving and says why in FailureReason). Endpoints are caught
in moto's backend (patches.py), so endpoints that CloudFormation creates run too. Logs:
<state>/logs/endpoints/<endpoint>.log, and, as the server writes them, CloudWatch Logs where SageMaker puts them:
group /aws/sagemaker/Endpoints/<endpoint>, one stream per variant and instance (<variant>/i-<17 hex digits>; each
deployment of the endpoint is a new instance).

InvokeEndpoint forwards the body, ContentType and Accept to the server's /invocations: a 2xx comes back as the
Body; an error from the model is a ModelError (HTTP 424) with OriginalStatusCode and OriginalMessage; an endpoint
that does not exist or is not in service is a ValidationError.
"""

from __future__ import annotations

import secrets
import shutil
import tarfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moto.core.utils import utcnow

from ..images.exceptions import ImageError
from ..images.runs import Run
from ..logstreams import follow
from .exceptions import DeployError, JobError, ModelError, ValidationError
from .models import Host, split_s3, tail
from .jobs import STOP_GRACE_S

if TYPE_CHECKING:
    from .service import SageMakerService

INVOKE_TIMEOUT_S = 60


def log_group(endpoint: str) -> str:
    return f"/aws/sagemaker/Endpoints/{endpoint}"


class Endpoints:
    """One `serve` per endpoint, started, replaced and stopped as moto's endpoint records change."""

    def __init__(self, service: "SageMakerService"):
        self.service = service
        self.cloud = service.cloud
        self.hosts: dict[tuple[str, str, str], Host] = {}
        self.generations: dict[tuple[str, str, str], int] = {}
        self.deployments = 0
        self.lock = threading.Lock()

    @staticmethod
    def key(backend: Any, name: str) -> tuple[str, str, str]:
        return backend.account_id, backend.region_name, name

    def _bump(self, key: tuple[str, str, str]) -> int:
        with self.lock:
            self.generations[key] = self.generations.get(key, 0) + 1
            return self.generations[key]

    def _current(self, key: tuple[str, str, str], generation: int) -> bool:
        return self.generations.get(key) == generation

    def created(self, backend: Any, endpoint: Any) -> None:
        key = self.key(backend, endpoint.endpoint_name)
        generation = self._bump(key)
        endpoint.endpoint_status = "Creating"
        endpoint.failure_reason = None
        self.cloud.spawn(f"endpoint-{endpoint.endpoint_name}", self._deploy, backend, endpoint,
                         endpoint.endpoint_config_name, generation, False)

    def updated(self, backend: Any, endpoint: Any, config_name: str) -> None:
        key = self.key(backend, endpoint.endpoint_name)
        generation = self._bump(key)
        endpoint.endpoint_status = "Updating"
        endpoint.last_modified_time = utcnow()
        self.cloud.spawn(f"endpoint-{endpoint.endpoint_name}", self._deploy, backend, endpoint, config_name,
                         generation, True)

    def resume(self, backend: Any, endpoint: Any) -> None:
        """An endpoint that served before the local cloud stopped serves again, with its current configuration
        (an update it was in the middle of is rolled back, as a failed update is); returns once it answers or
        failed."""
        was = endpoint.endpoint_status
        generation = self._bump(self.key(backend, endpoint.endpoint_name))
        self._deploy(backend, endpoint, endpoint.endpoint_config_name, generation, False)
        if was == "Updating" and endpoint.endpoint_status == "InService":
            endpoint.failure_reason = ("The local cloud stopped while the endpoint was updating; it serves its "
                                       "previous configuration")

    def deleted(self, backend: Any, name: str) -> None:
        key = self.key(backend, name)
        self._bump(key)
        with self.lock:
            host = self.hosts.pop(key, None)
        if host is not None:
            self.cloud.spawn(f"endpoint-{name}-stop", self._stop_host, host)

    def _stop_host(self, host: Host) -> None:
        host.run.stop(STOP_GRACE_S)
        if host.follower is not None:
            host.follower.stop()
        with open(host.run.log_path, "a") as out:
            out.write(f"[localcloud] {time.strftime('%H:%M:%S')} stopped the server of config {host.config}\n")

    def reset(self) -> None:
        """Every endpoint's server stops, and a deployment under way finds itself superseded."""
        with self.lock:
            self.generations = {key: generation + 1 for key, generation in self.generations.items()}
        self.stop_all()

    def stop_all(self) -> None:
        with self.lock:
            hosts, self.hosts = list(self.hosts.values()), {}
        for host in hosts:
            host.run.stop(3)
            if host.follower is not None:
                host.follower.stop()

    def _deploy(self, backend: Any, endpoint: Any, config_name: str, generation: int, update: bool) -> None:
        key = self.key(backend, endpoint.endpoint_name)
        log_path = self.cloud.log_path("endpoints", endpoint.endpoint_name)
        try:
            host = self._start(backend, endpoint.endpoint_name, config_name, log_path)
        except (DeployError, ImageError) as exc:
            reason = str(exc)
            with open(log_path, "a") as out:
                out.write(f"[localcloud] {time.strftime('%H:%M:%S')} {'update' if update else 'create'} "
                          f"failed: {reason}\n")
            if self._current(key, generation):
                endpoint.failure_reason = reason
                endpoint.endpoint_status = "InService" if update and key in self.hosts else "Failed"
                endpoint.last_modified_time = utcnow()
            return
        with self.lock:
            if not self._current(key, generation):
                stale, old = host, None
            else:
                stale, old = None, self.hosts.get(key)
                self.hosts[key] = host
        if stale is not None:
            self._stop_host(stale)
            return
        config = backend.endpoint_configs[config_name]
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = endpoint._process_production_variants(config.production_variants)
        endpoint.failure_reason = None
        endpoint.endpoint_status = "InService"
        endpoint.last_modified_time = utcnow()
        if old is not None:
            self._stop_host(old)

    def _start(self, backend: Any, name: str, config_name: str, log_path: Path) -> Host:
        config = backend.endpoint_configs.get(config_name)
        if config is None or not config.production_variants:
            raise DeployError(f"endpoint configuration {config_name} does not exist or has no production variants")
        variant = config.production_variants[0]
        model = backend._models.get(variant.get("ModelName"))
        if model is None:
            raise DeployError(f"Could not find model \"{variant.get('ModelName')}\" of production variant "
                              f"{variant.get('VariantName')}")
        container = dict(model.primary_container or (model.containers[0] if model.containers else {}))
        image, data_url = container.get("Image"), container.get("ModelDataUrl")
        env = {str(k): str(v) for k, v in (container.get("Environment") or {}).items()}
        if container.get("ModelPackageName"):
            try:
                package = backend.describe_model_package(container["ModelPackageName"])
            except Exception as exc:
                raise DeployError(f"model {model.model_name}: model package {container['ModelPackageName']} "
                                  f"not found ({exc})") from exc
            spec = ((package.inference_specification or {}).get("Containers") or [{}])[0]
            image = image or spec.get("Image")
            data_url = data_url or spec.get("ModelDataUrl")
            env = {**{str(k): str(v) for k, v in (spec.get("Environment") or {}).items()}, **env}
        if not image:
            raise DeployError(f"model {model.model_name} has no container image (PrimaryContainer.Image)")
        with self.lock:
            self.deployments += 1
            folder = self.cloud.state_dir / "endpoints" / f"{name}-{self.deployments}"
        if folder.exists():
            shutil.rmtree(folder)
        (folder / "model").mkdir(parents=True)
        with open(log_path, "a") as out:
            out.write(f"[localcloud] {time.strftime('%H:%M:%S')} starting config {config_name}: model "
                      f"{model.model_name}, image {image}, model data {data_url or '(none)'}\n")
        if data_url:
            self._fetch_model(data_url, folder, backend.region_name)
        env.setdefault("MODEL_SERVER_WORKERS", str(self.cloud.settings.get("model_server_workers", 1)))
        env.setdefault("SAGEMAKER_ENDPOINT_NAME", name)
        variant_name = variant.get("VariantName", "AllTraffic")
        stream = f"{variant_name}/i-{secrets.token_hex(9)[:17]}"
        follower = follow(self.cloud, backend.region_name, log_group(name), stream, log_path)
        try:
            images = self.cloud.service("images")
            pulled = images.pull(image, model.execution_role_arn, backend.region_name)
            run = images.serve(pulled, folder, log_path, env, label=f"endpoint {name}")
        except BaseException:
            follower.stop()
            raise
        try:
            self._wait_ready(run, variant_name, f"Please check CloudWatch logs for this endpoint: log group "
                                                f"{log_group(name)}, stream {stream}.")
        except DeployError:
            run.stop(3)
            follower.stop()
            raise
        return Host(name, config_name, variant_name, run, folder, stream, follower)

    def _fetch_model(self, data_url: str, folder: Path, region: str) -> None:
        try:
            bucket, key = split_s3(data_url)
            archive = folder / "model.tar.gz"
            self.cloud.client("s3", region).download_file(bucket, key, str(archive))
            with tarfile.open(archive) as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(folder / "model", filter="data")
                else:
                    tar.extractall(folder / "model")
        except (JobError, tarfile.TarError, OSError) as exc:
            raise DeployError(f"Failed to extract model data archive from URL \"{data_url}\": {exc}") from exc
        except Exception as exc:
            raise DeployError(f"Failed to download model data from URL \"{data_url}\": {exc}. Please ensure "
                              f"that there is an object located at the URL") from exc

    def _wait_ready(self, run: Run, variant: str, logs: str) -> None:
        timeout = float(self.cloud.settings.get("endpoint_ready_timeout", 120))
        deadline = time.monotonic() + timeout
        while True:
            code = run.poll()
            if code is not None:
                raise DeployError(f"The primary container for production variant {variant} did not pass the ping "
                                  f"health check: serve exited with code {code}. {logs} The end of its log "
                                  f"({run.log_path}):\n{tail(run.log_path)}")
            try:
                with urllib.request.urlopen(f"{run.url}/ping", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise DeployError(f"The primary container for production variant {variant} did not pass the ping "
                                  f"health check within {timeout:.0f} s. {logs} Locally: {run.log_path}")
            time.sleep(0.1)

    def invoke(self, backend: Any, name: str, body: bytes, headers: dict[str, str],
               inference_id: str | None = None) -> tuple[bytes, dict[str, str]]:
        """Forward a request to the endpoint's /invocations: its body and headers, or the error SageMaker answers;
        the request is captured and counted (capture.py)."""
        arrived = time.monotonic()
        endpoint = backend.endpoints.get(name)
        host = self.hosts.get(self.key(backend, name))
        if endpoint is None:
            raise ValidationError(f"Endpoint {name} of account {backend.account_id} not found.")
        if host is None or endpoint.endpoint_status not in ("InService", "Updating"):
            raise ValidationError(f"Endpoint {name} of account {backend.account_id} is {endpoint.endpoint_status}, "
                                  f"not InService; wait for it (boto3: sagemaker.get_waiter('endpoint_in_service'))")
        request = urllib.request.Request(f"{host.run.url}/invocations", data=body, headers=headers, method="POST")
        region, group = backend.region_name, log_group(name)
        log_arn = f"arn:aws:logs:{region}:{backend.account_id}:log-group:{group}"
        # SageMaker's own words, with the console's link to the endpoint's log group.
        see = (f"See https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:"
               f"group={group} in account {backend.account_id} for more information.")
        sent = (body, headers["Content-Type"])
        times = [arrived, time.monotonic()]
        try:
            with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT_S) as response:
                out = {"Content-Type": response.headers.get("Content-Type", "application/octet-stream"),
                       "x-Amzn-Invoked-Production-Variant": host.variant}
                custom = response.headers.get("X-Amzn-SageMaker-Custom-Attributes")
                if custom:
                    out["X-Amzn-SageMaker-Custom-Attributes"] = custom
                answer = response.read()
            self._record(backend, name, host, times, sent, 200, (answer, out["Content-Type"]), inference_id)
            return answer, out
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode(errors="replace")
            self._record(backend, name, host, times, sent, status, None, inference_id)
            kind = "client" if status < 500 else "server"
            raise ModelError(f"Received {kind} error ({status}) from primary with message \"{text}\". {see}",
                             status, text, log_arn) from None
        except (urllib.error.URLError, OSError) as exc:
            self._record(backend, name, host, times, sent, 500, None, inference_id)
            text = f"Your invocation could not reach the model container: {exc}"
            raise ModelError(f"Received server error (0) from primary with message \"{text}\". {see}",
                             0, text, log_arn) from None

    def _record(self, backend: Any, name: str, host: Host, times: list[float], request: tuple[bytes, str],
                status: int, response: tuple[bytes, str] | None, inference_id: str | None) -> None:
        """`times`: when the call arrived and when it was sent to the model, so that the model's latency and
        SageMaker's overhead around it are told apart."""
        arrived, sent = times
        now = time.monotonic()
        self.service.capture.invoked(backend, name, host, request, status, response, now - sent,
                                     max(0.0, sent - arrived), inference_id)
