"""SageMaker: training jobs run the image's `train`, endpoints run its `serve`, InvokeEndpoint reaches them.

moto keeps the records (FakeTrainingJob, FakeEndpoint, models, endpoint configs, model packages); this
module does the work behind them and keeps those records true:

- `TrainingJob` runs one job: a local /opt/ml tree under <state>/training/<job> (hyperparameters,
  input data config, resource config, each channel's S3 data), the image's `train` (images.py says
  which context and how), model.tar.gz to <S3OutputPath>/<job>/output/. DescribeTrainingJob shows
  InProgress (Starting, Downloading, Training, Uploading) and then Completed, Failed (FailureReason from
  /opt/ml/output/failure) or Stopped, with real times, the model artifacts and the final metrics the
  job's MetricDefinitions find in its log (<state>/logs/training/<job>.log). Final states emit
  "SageMaker Training Job State Change" events.
- `Endpoints` hosts one `serve` per endpoint with the model of ProductionVariants[0] (its ModelDataUrl,
  or its model package's), Creating -> InService/Failed, Updating -> InService (a new server is
  started and healthy before the old one stops; a failed update keeps the old one serving and says why
  in FailureReason). CreateEndpoint and DeleteEndpoint are caught in moto's backend, so endpoints that
  CloudFormation creates run too. Logs: <state>/logs/endpoints/<endpoint>.log.
- InvokeEndpoint forwards the body, ContentType and Accept to the server's /invocations: a 2xx comes
  back as the Body; an error from the model is a ModelError (HTTP 424) with OriginalStatusCode and
  OriginalMessage; an endpoint that does not exist or is not in service is a ValidationError.

Settings: ``endpoint_ready_timeout`` (seconds for /ping to answer 200, default 120) and
``model_server_workers`` (MODEL_SERVER_WORKERS for local endpoints unless the model sets it; default 1).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import signal
import tarfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from moto.core.utils import utcnow

from . import images as images_module
from .images import ImageError, Run, aws_client
from .server import ACCOUNT_ID, AwsRequest, AwsResponse, LocalCloud, json_error

log = logging.getLogger("mlops_workshop.localcloud.sagemaker")

SECONDARY_MESSAGES = {
    "Starting": "Preparing the instances for training",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "The training job was stopped",
    "MaxRuntimeExceeded": "The job stopped because it exceeded the maximum allowed runtime",
}
INVOKE_TIMEOUT_S = 60
STOP_GRACE_S = 10


class JobError(Exception):
    """The job cannot go on; the message is its FailureReason."""


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


def _exit_text(code: int) -> str:
    """How a process ended, in words: killed by a signal is said so (a container reports 128 + the signal)."""
    number = -code if code < 0 else code - 128 if code > 128 else 0
    if number:
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"was killed ({name}) with exit code {code}"
    return f"exited with code {code}"


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").rstrip().splitlines()[-lines:])
    except OSError:
        return ""


class TrainingJob:
    """Runs one training job and keeps moto's FakeTrainingJob in step with it."""

    def __init__(self, cloud: LocalCloud, job: Any, request: dict[str, Any], region: str):
        self.cloud, self.job, self.request, self.region = cloud, job, request, region
        self.name = job.training_job_name
        self.root = cloud.state_dir / "training" / self.name
        self.log_path = cloud.log_path("training", self.name)
        self.run_handle: Run | None = None
        self.stop_requested = threading.Event()
        self.done = threading.Event()
        self.started = time.monotonic()
        self.train_seconds: float | None = None

    # The record.
    def reset_record(self) -> None:
        """moto records a job as Completed at once, with made-up metrics: start it from the beginning."""
        job = self.job
        now = utcnow()
        job.algorithm_specification = dict(self.request.get("AlgorithmSpecification") or {})
        job.training_job_status = "InProgress"
        job.secondary_status = "Starting"
        job.model_artifacts = None
        job.training_start_time = None
        job.training_end_time = None
        # Every attribute the run sets exists from here on: DescribeTrainingJob iterates the object's __dict__.
        job.failure_reason = None
        job.training_time_in_seconds = job.billable_time_in_seconds = None
        job.final_metric_data_list = None
        job.creation_time = job.last_modified_time = now
        job.secondary_status_transitions = [
            {"Status": "Starting", "StartTime": now, "StatusMessage": SECONDARY_MESSAGES["Starting"]}]

    def set_status(self, status: str, secondary: str, message: str | None = None) -> None:
        job = self.job
        now = utcnow()
        if status == "InProgress" and self.stop_requested.is_set():
            status = "Stopping"
        transitions = job.secondary_status_transitions
        if transitions and transitions[-1]["Status"] != secondary:
            transitions[-1]["EndTime"] = now
        if not transitions or transitions[-1]["Status"] != secondary:
            transitions.append({"Status": secondary, "StartTime": now,
                                "StatusMessage": message or SECONDARY_MESSAGES.get(secondary, secondary)})
        if status in ("Completed", "Failed", "Stopped"):
            transitions[-1]["EndTime"] = now
        job.training_job_status = status
        job.secondary_status = secondary
        job.last_modified_time = now

    def note(self, text: str) -> None:
        with open(self.log_path, "a") as out:
            out.write(f"[localcloud] {time.strftime('%H:%M:%S')} (+{time.monotonic() - self.started:.2f} s) {text}\n")

    # The work.
    def run(self) -> None:
        try:
            self._run()
        except JobError as exc:
            self.finish("Failed", "Failed", str(exc))
        except Exception as exc:
            log.exception("training job %s", self.name)
            self.finish("Failed", "Failed", f"InternalServerError: the local cloud failed to run the job: {exc}")
        finally:
            self.done.set()

    def _run(self) -> None:
        spec = self.request.get("AlgorithmSpecification") or {}
        image = spec.get("TrainingImage")
        if not image:
            raise JobError("ClientError: the local cloud runs training images only; give "
                           "AlgorithmSpecification.TrainingImage (not AlgorithmName)")
        if self.root.exists():
            shutil.rmtree(self.root)
        for folder in ("input/config", "input/data", "model", "output/data", "code", "checkpoints"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self.write_config()
        self.job.training_start_time = utcnow()
        self.set_status("InProgress", "Downloading")
        self.download_channels()
        if self.stop_requested.is_set():
            return self.finish("Stopped", "Stopped")
        self.set_status("InProgress", "Training")
        images = images_module.for_cloud(self.cloud)
        env = {str(k): str(v) for k, v in (self.request.get("Environment") or {}).items()}
        env.setdefault("TRAINING_JOB_NAME", self.name)
        env.setdefault("TRAINING_JOB_ARN", self.job.arn)
        started = time.monotonic()
        self.note("starting train")
        try:
            self.run_handle = images.train(image, self.root, self.log_path, env)
        except ImageError as exc:
            raise JobError(f"ClientError: {exc}") from exc
        if self.stop_requested.is_set():
            self.run_handle.stop(STOP_GRACE_S)
        max_runtime = (self.request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") or 86400
        code = self.run_handle.wait(max(0.0, max_runtime - (time.monotonic() - self.started)))
        timed_out = code is None
        if timed_out:
            self.note(f"MaxRuntimeInSeconds ({max_runtime}) exceeded: stopping the training container")
            code = self.run_handle.stop(STOP_GRACE_S)
        self.train_seconds = time.monotonic() - started
        self.note(f"train exited with code {code} after {self.train_seconds:.1f} s")
        if timed_out or self.stop_requested.is_set():
            # SageMaker keeps what the container saved in /opt/ml/model before it was stopped.
            if any((self.root / "model").iterdir()):
                self.set_status("Stopping", "Uploading")
                self.upload_outputs()
            return self.finish("Stopped", "MaxRuntimeExceeded" if timed_out else "Stopped")
        if code != 0:
            failure = self.root / "output" / "failure"
            if failure.is_file() and failure.read_text(errors="replace").strip():
                reason = failure.read_text(errors="replace").strip()
            else:
                last = _tail(self.log_path, 3).replace("\n", " | ")
                reason = f"the training container {_exit_text(code)}; see {self.log_path} (last lines: {last})"
            return self.finish("Failed", "Failed", f"AlgorithmError: {reason}")
        self.set_status("InProgress", "Uploading")
        self.upload_outputs()
        self.finish("Completed", "Completed")

    def write_config(self) -> None:
        config = self.root / "input" / "config"
        hyperparameters = {str(k): str(v) for k, v in (self.request.get("HyperParameters") or {}).items()}
        (config / "hyperparameters.json").write_text(json.dumps(hyperparameters, indent=2))
        channels = {}
        for channel in self.request.get("InputDataConfig") or []:
            s3 = (channel.get("DataSource") or {}).get("S3DataSource") or {}
            channels[channel["ChannelName"]] = {
                "TrainingInputMode": channel.get("InputMode")
                or (self.request.get("AlgorithmSpecification") or {}).get("TrainingInputMode", "File"),
                "S3DistributionType": s3.get("S3DataDistributionType", "FullyReplicated"),
                "RecordWrapperType": channel.get("RecordWrapperType", "None"),
                **({"ContentType": channel["ContentType"]} if channel.get("ContentType") else {}),
            }
        (config / "inputdataconfig.json").write_text(json.dumps(channels, indent=2))
        resource = self.request.get("ResourceConfig") or {}
        hosts = [f"algo-{i + 1}" for i in range(int(resource.get("InstanceCount") or 1))]
        (config / "resourceconfig.json").write_text(json.dumps({
            "current_host": "algo-1", "current_instance_type": resource.get("InstanceType", "local"),
            "current_group_name": "homogeneousCluster", "hosts": hosts, "network_interface_name": "eth0",
            "instance_groups": [{"instance_group_name": "homogeneousCluster",
                                 "instance_type": resource.get("InstanceType", "local"), "hosts": hosts}],
        }, indent=2))

    def download_channels(self) -> None:
        s3 = aws_client(self.cloud, "s3", self.region)
        for channel in self.request.get("InputDataConfig") or []:
            name = channel["ChannelName"]
            source = (channel.get("DataSource") or {}).get("S3DataSource")
            if not source:
                raise JobError(f"ClientError: channel {name}: the local cloud reads only S3 data sources")
            target = self.root / "input" / "data" / name
            target.mkdir(parents=True, exist_ok=True)
            uri = source["S3Uri"]
            if source.get("S3DataType", "S3Prefix") == "ManifestFile":
                objects = self._manifest_objects(s3, uri)
            else:
                objects = self._prefix_objects(s3, uri)
            if not objects:
                bucket, _ = split_s3(uri)
                raise JobError(f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. '
                               f'Please ensure that the bucket exists in the selected region ({self.region}), '
                               f'that objects exist under that S3 prefix, and that the role has "s3:ListBucket" '
                               f'permissions on bucket "{bucket}".')
            for bucket, key, rel in objects:
                path = target / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, key, str(path))
            self.note(f"channel {name}: {len(objects)} object(s) from {uri}")

    def _prefix_objects(self, s3: Any, uri: str) -> list[tuple[str, str, str]]:
        bucket, prefix = split_s3(uri)
        # s3://b/run/input/training and s3://b/run/input/training/ both put training/train.csv at the channel's
        # root, as SageMaker does; a prefix that ends inside a name keeps the path from its last folder.
        folder = prefix if prefix.endswith("/") or not prefix else prefix + "/"
        base = prefix[:prefix.rfind("/") + 1]
        found = []
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if key.endswith("/"):
                        continue
                    found.append((bucket, key, key[len(folder):] if key.startswith(folder) else key[len(base):]))
        except s3.exceptions.NoSuchBucket:
            return []
        return found

    def _manifest_objects(self, s3: Any, uri: str) -> list[tuple[str, str, str]]:
        bucket, key = split_s3(uri)
        try:
            entries = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception as exc:
            raise JobError(f"ClientError: cannot read the manifest file {uri}: {exc}") from exc
        prefix = next((e["prefix"] for e in entries if isinstance(e, dict) and "prefix" in e), None)
        if not prefix:
            raise JobError(f'ClientError: the manifest file {uri} has no {{"prefix": "s3://..."}} entry')
        prefix_bucket, prefix_key = split_s3(prefix)
        return [(prefix_bucket, prefix_key + rel, rel) for rel in entries if isinstance(rel, str)]

    def upload_outputs(self) -> None:
        output = (self.request.get("OutputDataConfig") or {}).get("S3OutputPath")
        if not output:
            raise JobError("ClientError: OutputDataConfig.S3OutputPath is required")
        bucket, prefix = split_s3(output.rstrip("/"))
        key = "/".join(p for p in (prefix, self.name, "output", "model.tar.gz") if p)
        s3 = aws_client(self.cloud, "s3", self.region)
        for folder, name in (("model", "model.tar.gz"), ("output/data", "output.tar.gz")):
            source = self.root / folder
            if folder != "model" and not any(source.iterdir()):
                continue
            archive = self.root / "output" / name
            with tarfile.open(archive, "w:gz") as tar:
                for path in sorted(source.iterdir()):
                    tar.add(path, arcname=path.name)
            target = key.rsplit("/", 1)[0] + "/" + name
            try:
                s3.upload_file(str(archive), bucket, target)
            except Exception as exc:
                raise JobError(f"ClientError: cannot upload {name} to s3://{bucket}/{target}: {exc}") from exc
            self.note(f"uploaded s3://{bucket}/{target}")
        self.job.model_artifacts = {"S3ModelArtifacts": f"s3://{bucket}/{key}"}

    def finish(self, status: str, secondary: str, reason: str | None = None) -> None:
        job = self.job
        if reason:
            job.failure_reason = reason
            self.note(f"{status}: {reason}")
        self.set_status(status, secondary)
        job.training_end_time = job.last_modified_time
        if job.training_start_time:
            seconds = max(1, int((job.training_end_time - job.training_start_time).total_seconds()))
            job.training_time_in_seconds = job.billable_time_in_seconds = seconds
        job.final_metric_data_list = self.metrics() or None
        self.note(f"{status} ({secondary}) after {time.monotonic() - self.started:.1f} s")
        detail = epoch_ms(job.response_object)
        # SageMaker's event carries the job's tags as a map, which is how a monitor knows whose job it was.
        detail["Tags"] = {tag["Key"]: tag["Value"] for tag in job.tags or []}
        self.cloud.put_event("aws.sagemaker", "SageMaker Training Job State Change", detail, [job.arn],
                             region=self.region)

    def metrics(self) -> list[dict[str, Any]]:
        definitions = (self.request.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        found = []
        for definition in definitions:
            try:
                values = re.findall(definition["Regex"], text)
            except re.error:
                continue
            for value in reversed(values):
                value = value[0] if isinstance(value, tuple) else value
                try:
                    found.append({"MetricName": definition["Name"], "Value": float(value), "Timestamp": utcnow()})
                    break
                except ValueError:
                    continue
        return found

    def stop(self) -> None:
        self.stop_requested.set()
        if self.run_handle is not None:
            self.run_handle.stop(STOP_GRACE_S)


class DeployError(Exception):
    """The endpoint cannot serve; the message is its FailureReason."""


@dataclass
class Host:
    endpoint: str
    config: str
    variant: str
    run: Run
    folder: Path


class Endpoints:
    """One `serve` per endpoint, started, replaced and stopped as moto's endpoint records change."""

    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud
        self.hosts: dict[tuple[str, str, str], Host] = {}
        self.generations: dict[tuple[str, str, str], int] = {}
        self.deployments = 0
        self.lock = threading.Lock()
        cloud.on_shutdown(self.stop_all)

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

    def deleted(self, backend: Any, name: str) -> None:
        key = self.key(backend, name)
        self._bump(key)
        with self.lock:
            host = self.hosts.pop(key, None)
        if host is not None:
            self.cloud.spawn(f"endpoint-{name}-stop", self._stop_host, host)

    def _stop_host(self, host: Host) -> None:
        host.run.stop(STOP_GRACE_S)
        with open(host.run.log_path, "a") as out:
            out.write(f"[localcloud] {time.strftime('%H:%M:%S')} stopped the server of config {host.config}\n")

    def stop_all(self) -> None:
        with self.lock:
            hosts, self.hosts = list(self.hosts.values()), {}
        for host in hosts:
            host.run.stop(3)

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
        run = images_module.for_cloud(self.cloud).serve(image, folder, log_path, env, label=f"endpoint {name}")
        try:
            self._wait_ready(run, variant.get("VariantName", "AllTraffic"))
        except DeployError:
            run.stop(3)
            raise
        return Host(name, config_name, variant.get("VariantName", "AllTraffic"), run, folder)

    def _fetch_model(self, data_url: str, folder: Path, region: str) -> None:
        try:
            bucket, key = split_s3(data_url)
            archive = folder / "model.tar.gz"
            aws_client(self.cloud, "s3", region).download_file(bucket, key, str(archive))
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

    def _wait_ready(self, run: Run, variant: str) -> None:
        timeout = float(self.cloud.settings.get("endpoint_ready_timeout", 120))
        deadline = time.monotonic() + timeout
        while True:
            code = run.poll()
            if code is not None:
                raise DeployError(f"The primary container for production variant {variant} did not pass the ping "
                                  f"health check: serve exited with code {code}. The end of its log "
                                  f"({run.log_path}):\n{_tail(run.log_path)}")
            try:
                with urllib.request.urlopen(f"{run.url}/ping", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise DeployError(f"The primary container for production variant {variant} did not pass the ping "
                                  f"health check within {timeout:.0f} s. Please check the log {run.log_path}")
            time.sleep(0.1)

    def invoke(self, req: AwsRequest) -> AwsResponse:
        name = unquote(req.path_params["name"])
        backend = self.cloud.backend("sagemaker", req.region)
        endpoint = backend.endpoints.get(name)
        host = self.hosts.get(self.key(backend, name))
        if endpoint is None:
            return json_error("ValidationError", f"Endpoint {name} of account {backend.account_id} not found.")
        if host is None or endpoint.endpoint_status not in ("InService", "Updating"):
            return json_error("ValidationError", f"Endpoint {name} of account {backend.account_id} is "
                                                 f"{endpoint.endpoint_status}, not InService; wait for it "
                                                 f"(boto3: sagemaker.get_waiter('endpoint_in_service'))")
        headers = {"Content-Type": req.headers.get("content-type", "application/octet-stream")}
        for name_in, name_out in (("accept", "Accept"),
                                  ("x-amzn-sagemaker-custom-attributes", "X-Amzn-SageMaker-Custom-Attributes")):
            if req.headers.get(name_in):
                headers[name_out] = req.headers[name_in]
        request = urllib.request.Request(f"{host.run.url}/invocations", data=req.body, headers=headers, method="POST")
        log_arn = (f"arn:aws:logs:{backend.region_name}:{backend.account_id}:log-group:"
                   f"/aws/sagemaker/Endpoints/{name}")
        try:
            with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT_S) as response:
                out = {"Content-Type": response.headers.get("Content-Type", "application/octet-stream"),
                       "x-Amzn-Invoked-Production-Variant": host.variant}
                custom = response.headers.get("X-Amzn-SageMaker-Custom-Attributes")
                if custom:
                    out["X-Amzn-SageMaker-Custom-Attributes"] = custom
                return AwsResponse(200, response.read(), out)
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode(errors="replace")
            kind = "client" if status < 500 else "server"
            message = (f"Received {kind} error ({status}) from primary with message \"{text}\". See "
                       f"{host.run.log_path} in account {backend.account_id} for more information.")
            return _model_error(message, status, text, log_arn)
        except (urllib.error.URLError, OSError) as exc:
            text = f"Your invocation could not reach the model container: {exc}"
            message = (f"Received server error (0) from primary with message \"{text}\". See "
                       f"{host.run.log_path} in account {backend.account_id} for more information.")
            return _model_error(message, 0, text, log_arn)


def _model_error(message: str, status: int, original: str, log_arn: str) -> AwsResponse:
    return AwsResponse(424, {"__type": "ModelError", "Message": message, "message": message,
                             "OriginalStatusCode": status, "OriginalMessage": original, "LogStreamArn": log_arn},
                       {"x-amzn-ErrorType": "ModelError"})


class SageMakerExecutor:
    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud
        self.jobs: dict[tuple[str, str, str], TrainingJob] = {}
        self.endpoints = Endpoints(cloud)

    def training_job(self, name: str, region: str, account: str = ACCOUNT_ID) -> TrainingJob | None:
        return self.jobs.get((account, region, name))

    def check_new_training_job(self, req: AwsRequest) -> AwsResponse | None:
        name = req.json().get("TrainingJobName", "")
        backend = self.cloud.backend("sagemaker", req.region)
        if name in backend.training_jobs:
            return json_error("ResourceInUse", f"Training job names must be unique within an AWS account and "
                                               f"region, and a training job with this name already exists "
                                               f"({backend.training_jobs[name].arn})")
        return None

    def on_create_training_job(self, req: AwsRequest, status: int, body: bytes) -> None:
        if status != 200:
            return None
        request = req.json()
        backend = self.cloud.backend("sagemaker", req.region)
        job = backend.training_jobs[request["TrainingJobName"]]
        runner = TrainingJob(self.cloud, job, request, req.region)
        runner.reset_record()
        self.jobs[(backend.account_id, req.region, runner.name)] = runner
        self.cloud.spawn(f"training-{runner.name}", runner.run)
        return None

    def stop_training_job(self, req: AwsRequest) -> AwsResponse:
        name = req.json().get("TrainingJobName", "")
        backend = self.cloud.backend("sagemaker", req.region)
        job = backend.training_jobs.get(name)
        if job is None:
            arn = f"arn:aws:sagemaker:{req.region}:{backend.account_id}:training-job/{name}"
            return json_error("ValidationException", f"Requested resource not found: training job {arn}")
        runner = self.jobs.get((backend.account_id, req.region, name))
        if runner is None or job.training_job_status != "InProgress":
            return json_error("ValidationException", f"The request was rejected because the training job is in "
                                                     f"status {job.training_job_status}.")
        runner.stop_requested.set()
        runner.set_status("Stopping", "Stopping")
        self.cloud.spawn(f"training-{name}-stop", runner.stop)
        return AwsResponse(200, {})

    def update_endpoint(self, req: AwsRequest) -> AwsResponse:
        params = req.json()
        backend = self.cloud.backend("sagemaker", req.region)
        name, config = params.get("EndpointName", ""), params.get("EndpointConfigName", "")
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            return json_error("ValidationException", f"Could not find endpoint \"arn:aws:sagemaker:{req.region}:"
                                                     f"{backend.account_id}:endpoint/{name}\".")
        if config not in backend.endpoint_configs:
            return json_error("ValidationException", f"Could not find endpoint configuration \"arn:aws:sagemaker:"
                                                     f"{req.region}:{backend.account_id}:endpoint-config/{config}\".")
        if endpoint.endpoint_status not in ("InService", "Failed"):
            return json_error("ValidationException", f"Cannot update in-progress endpoint \"{endpoint.arn}\".")
        self.endpoints.updated(backend, endpoint, config)
        return AwsResponse(200, {"EndpointArn": endpoint.arn})


_active: SageMakerExecutor | None = None


def active_executor() -> SageMakerExecutor | None:
    return _active


def wait_for_endpoint(cloud: LocalCloud, name: str, region: str | None = None,
                      timeout: float = 600) -> tuple[str, str | None]:
    """Wait while endpoint `name` is Creating or Updating (as CloudFormation does before CREATE_COMPLETE);
    returns its status and FailureReason. A missing endpoint is ("Missing", None)."""
    backend = cloud.backend("sagemaker", region)
    deadline = time.monotonic() + timeout
    while True:
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            return "Missing", None
        if endpoint.endpoint_status not in ("Creating", "Updating") or time.monotonic() > deadline:
            return endpoint.endpoint_status, endpoint.failure_reason
        time.sleep(0.1)


def install(cloud: LocalCloud) -> None:
    global _active
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import SageMakerModelBackend

    images_module.for_cloud(cloud)  # first, so that its engine stops after the endpoints that use it
    executor = SageMakerExecutor(cloud)
    cloud.route("sagemaker", "CreateTrainingJob", executor.check_new_training_job)
    cloud.after("sagemaker", "CreateTrainingJob", executor.on_create_training_job)
    cloud.route("sagemaker", "StopTrainingJob", executor.stop_training_job)
    cloud.route("sagemaker", "UpdateEndpoint", executor.update_endpoint)
    cloud.route("sagemaker", "InvokeEndpoint", executor.endpoints.invoke)

    def delete_model_package(req: AwsRequest) -> AwsResponse:
        name = str(req.json().get("ModelPackageName") or "")
        backend = cloud.backend("sagemaker", req.region)
        key = backend.model_package_name_mapping.get(name, name)
        if key not in backend.model_packages:
            return json_error("ValidationException", f"Model package {name} does not exist.")
        del backend.model_packages[key]
        for alias in [a for a, target in backend.model_package_name_mapping.items() if target == key]:
            del backend.model_package_name_mapping[alias]
        return AwsResponse(200, {})

    def delete_model_package_group(req: AwsRequest) -> AwsResponse:
        name = str(req.json().get("ModelPackageGroupName") or "").rsplit("/", 1)[-1]
        backend = cloud.backend("sagemaker", req.region)
        if name not in backend.model_package_groups:
            return json_error("ValidationException", f"Model package group {name} does not exist.")
        versions = [p for p in backend.model_packages.values() if p.model_package_group_name == name]
        if versions:
            return json_error("ConflictException", f"Model package group {name} still holds {len(versions)} model "
                                                   f"package(s); delete them first (DeleteModelPackage).")
        del backend.model_package_groups[name]
        return AwsResponse(200, {})

    # moto has no DeleteModelPackage(Group): without them a stack with the model group cannot be deleted.
    cloud.route("sagemaker", "DeleteModelPackage", delete_model_package)
    cloud.route("sagemaker", "DeleteModelPackageGroup", delete_model_package_group)

    original_create = SageMakerModelBackend.create_endpoint
    original_delete = SageMakerModelBackend.delete_endpoint

    # moto's backend methods, so that endpoints CloudFormation creates and deletes run too.
    def create_endpoint(self: Any, endpoint_name: str, endpoint_config_name: str, tags: Any) -> Any:
        if endpoint_name in self.endpoints:
            raise ValidationError(
                message=f'Cannot create already existing endpoint "{self.endpoints[endpoint_name].arn}".')
        endpoint = original_create(self, endpoint_name, endpoint_config_name, tags)
        if _active is not None:
            _active.endpoints.created(self, endpoint)
        return endpoint

    def delete_endpoint(self: Any, endpoint_name: str) -> None:
        original_delete(self, endpoint_name)
        if _active is not None:
            _active.endpoints.deleted(self, endpoint_name)

    SageMakerModelBackend.create_endpoint = create_endpoint  # type: ignore[method-assign]
    SageMakerModelBackend.delete_endpoint = delete_endpoint  # type: ignore[method-assign]
    _active = executor

    def uninstall() -> None:
        global _active
        SageMakerModelBackend.create_endpoint = original_create  # type: ignore[method-assign]
        SageMakerModelBackend.delete_endpoint = original_delete  # type: ignore[method-assign]
        if _active is executor:
            _active = None

    cloud.on_shutdown(uninstall)
