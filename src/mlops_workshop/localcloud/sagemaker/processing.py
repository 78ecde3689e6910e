"""SageMaker processing jobs: each runs its image on a local /opt/ml tree and keeps moto's record true.

`ProcessingJob` runs one job with its role's credentials: /opt/ml/config/processingjobconfig.json and
resourceconfig.json, each ProcessingInput's S3 data under its LocalPath (/opt/ml/processing/...), the image's
ContainerEntrypoint and ContainerArguments with the job's Environment (the images service says which context and
how; AWS's Model Monitor analyzer is the local cloud's own program), then each ProcessingOutput's LocalPath uploaded
to its S3Uri (at the end, or as files appear with S3UploadMode Continuous). DescribeProcessingJob shows InProgress
(Stopping) and then Completed, Failed or Stopped with real times, ExitMessage (the first KB of
/opt/ml/output/message) and FailureReason. With the environment's publish_cloudwatch_metrics Enabled, the metrics
the container writes to /opt/ml/output/metrics/cloudwatch go to CloudWatch (the data-metrics namespace of an
endpoint's monitor). Logs: <state>/logs/processing/<job>.log and CloudWatch Logs group /aws/sagemaker/ProcessingJobs,
stream <job>/algo-1-<epoch seconds>. Final states emit "SageMaker Processing Job State Change" events.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from moto.core.utils import utcnow

from ..images.exceptions import ImageError
from .exceptions import JobError
from .jobs import Job, exit_text, no_objects_reason
from .models import epoch_ms, tail

if TYPE_CHECKING:
    from .service import SageMakerService

log = logging.getLogger("mlops_workshop.localcloud.sagemaker")

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
PROCESSING_ROOT = "/opt/ml/processing/"
MAX_MESSAGE = 1024
METRICS_FOLDER = "output/metrics/cloudwatch"
ENDPOINT_METRICS = "aws/sagemaker/Endpoints/data-metrics"
BATCH_METRICS = "aws/sagemaker/ModelMonitoring/data-metrics"
CONTINUOUS_INTERVAL_S = 1.0


def local_path(path: str) -> str:
    """A LocalPath below /opt/ml (where SageMaker lays inputs and outputs out), relative to it."""
    return str(PurePosixPath(path).relative_to("/opt/ml"))


class ProcessingJob(Job):
    """Runs one processing job and keeps moto's FakeProcessingJob in step with it."""

    kind = "processing"
    log_group = LOG_GROUP

    def __init__(self, service: "SageMakerService", job: Any, request: dict[str, Any], region: str,
                 credentials: dict[str, str]):
        super().__init__(service, job.processing_job_name, region, credentials)
        self.job, self.request = job, request
        self.uploaded: dict[Path, float] = {}
        self._upload_lock = threading.Lock()

    # The record.
    def reset_record(self, monitoring_schedule_arn: str | None = None) -> None:
        """moto records a job as Completed at once and drops parts of the request: start it from the beginning."""
        job, request = self.job, self.request
        job.processing_job_status = "InProgress"
        job.creation_time = job.last_modified_time = utcnow()
        # Every attribute the run sets exists from here on: DescribeProcessingJob iterates the object's __dict__.
        job.processing_start_time = job.processing_end_time = None
        job.failure_reason = job.exit_message = None
        job.environment = request.get("Environment") or None
        job.processing_resources = request.get("ProcessingResources")
        job.monitoring_schedule_arn = monitoring_schedule_arn

    def set_status(self, status: str) -> None:
        if status == "InProgress" and self.stop_requested.is_set():
            status = "Stopping"
        self.job.processing_job_status = status
        self.job.last_modified_time = utcnow()

    # The work.
    def run(self) -> None:
        try:
            self._run()
        except JobError as exc:
            self.finish("Failed", str(exc))
        except Exception as exc:
            log.exception("processing job %s", self.name)
            self.finish("Failed", f"InternalServerError: the local cloud failed to run the job: {exc}")
        finally:
            self.done.set()

    def _run(self) -> None:
        spec = self.request.get("AppSpecification") or {}
        self.fresh_root("config", "output", "processing")
        self.write_config()
        self.job.processing_start_time = self.job.last_modified_time = utcnow()
        self.download_inputs()
        for output in self._outputs():
            (self.root / local_path(output["LocalPath"])).mkdir(parents=True, exist_ok=True)
        if self.stop_requested.is_set():
            return self.finish("Stopped")
        env = {str(k): str(v) for k, v in (self.request.get("Environment") or {}).items()}
        env.update({k: v for k, v in self.credentials.items() if k.startswith("AWS_")})
        self.note(f"starting {spec.get('ImageUri')}")
        self.follow_logs()
        continuous = self.cloud.spawn(f"processing-{self.name}-continuous", self._continuous)
        try:
            images = self.cloud.service("images")
            pulled = images.pull(spec["ImageUri"], self.request.get("RoleArn"), self.region)
            self.run_handle = images.process(pulled, self.root, self.log_path, env, spec.get("ContainerEntrypoint"),
                                             spec.get("ContainerArguments"), label=f"processing {self.name}")
        except ImageError as exc:
            raise JobError(f"ClientError: {exc}") from exc
        max_runtime = (self.request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") or 86400
        code, timed_out = self.wait(max_runtime)
        self.note(f"the container {exit_text(code) if code is not None else 'ended'}")
        message = self.root / "output" / "message"
        if message.is_file():
            self.job.exit_message = message.read_bytes()[:MAX_MESSAGE].decode("utf-8", errors="replace").strip()
        continuous.join()
        if timed_out:
            return self.finish("Stopped", f"ClientError: the job exceeded MaxRuntimeInSeconds ({max_runtime} s) and "
                                          f"was stopped")
        if self.stop_requested.is_set():
            return self.finish("Stopped")
        if code != 0:
            last = tail(self.log_path, 3).replace("\n", " | ")
            detail = self.job.exit_message or (f"the container {exit_text(code)}; see the job's log: "
                                               f"{self.logs_text()}; last lines: {last}")
            return self.finish("Failed", f"AlgorithmError: {detail}")
        self.upload_outputs(final=True)
        if (self.request.get("Environment") or {}).get("publish_cloudwatch_metrics") == "Enabled":
            self.publish_metrics()
        self.finish("Completed")

    def write_config(self) -> None:
        config = self.root / "config"
        described = {key: self.request[key] for key in ("ProcessingJobName", "AppSpecification", "Environment",
                                                         "ProcessingInputs", "ProcessingOutputConfig",
                                                         "ProcessingResources", "RoleArn", "StoppingCondition")
                     if key in self.request}
        (config / "processingjobconfig.json").write_text(json.dumps({"ProcessingJobArn": self.job.arn, **described},
                                                                    indent=2))
        cluster = (self.request.get("ProcessingResources") or {}).get("ClusterConfig") or {}
        hosts = [f"algo-{i + 1}" for i in range(int(cluster.get("InstanceCount") or 1))]
        (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": hosts},
                                                               indent=2))

    def download_inputs(self) -> None:
        for item in self.request.get("ProcessingInputs") or []:
            name, source = item.get("InputName"), item.get("S3Input")
            if not source:
                raise JobError(f"ClientError: input {name}: the local cloud reads only S3Input data sources")
            if source.get("S3InputMode", "File") != "File":
                raise JobError(f"ClientError: input {name}: the local cloud supports S3InputMode File only")
            uri = source["S3Uri"]
            objects = self.objects(uri, source.get("S3DataType", "S3Prefix"))
            if not objects:
                raise JobError(no_objects_reason(uri, self.region, f"ProcessingInput {name}"))
            self.download(objects, self.root / local_path(source["LocalPath"]))
            self.note(f"input {name}: {len(objects)} object(s) from {uri} in {source['LocalPath']}")

    def _outputs(self, mode: str | None = None) -> list[dict[str, Any]]:
        found = [o["S3Output"] for o in (self.request.get("ProcessingOutputConfig") or {}).get("Outputs") or []
                 if o.get("S3Output")]
        return [o for o in found if mode is None or o.get("S3UploadMode", "EndOfJob") == mode]

    def _continuous(self) -> None:
        """Continuous outputs: new and changed files go up every second while the container runs."""
        if not self._outputs("Continuous"):
            return
        while self.run_handle is None or self.run_handle.poll() is None:
            if self.done.is_set() or self.stop_requested.wait(CONTINUOUS_INTERVAL_S):
                return
            self.upload_outputs(final=False)

    def upload_outputs(self, final: bool) -> None:
        with self._upload_lock:
            for output in self._outputs(None if final else "Continuous"):
                folder = self.root / local_path(output["LocalPath"])
                if not folder.is_dir():
                    continue
                count = 0
                for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                    changed = path.stat().st_mtime
                    if self.uploaded.get(path) == changed:
                        continue
                    self.upload(path, f"{output['S3Uri'].rstrip('/')}/{path.relative_to(folder).as_posix()}")
                    self.uploaded[path] = changed
                    count += 1
                if count:
                    self.note(f"uploaded {count} file(s) from {output['LocalPath']} to {output['S3Uri']}")

    def publish_metrics(self) -> None:
        """The metrics the container wrote (CloudWatch PutMetricData's MetricDatum, one JSON object a line or a
        list), in the namespace SageMaker gives an endpoint's monitor (or a batch transform's)."""
        folder = self.root / METRICS_FOLDER
        data: list[dict[str, Any]] = []
        for path in sorted(folder.glob("*")) if folder.is_dir() else []:
            text = path.read_text(errors="replace").strip()
            try:
                parsed = json.loads(text)
                data.extend(parsed if isinstance(parsed, list) else [parsed])
            except ValueError:
                data.extend(json.loads(line) for line in text.splitlines() if line.strip())
        if not data:
            return
        namespace = ENDPOINT_METRICS if (self.request.get("Environment") or {}).get("sagemaker_endpoint_name") \
            else BATCH_METRICS
        cloudwatch = self.cloud.client("cloudwatch", self.region, credentials=self.credentials)
        try:
            for start in range(0, len(data), 1000):
                cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start:start + 1000])
        except Exception as exc:
            raise JobError(f"ClientError: cannot publish the job's CloudWatch metrics to {namespace}: {exc}") from exc
        self.note(f"published {len(data)} metric(s) to {namespace}")

    def finish(self, status: str, reason: str | None = None) -> None:
        self.stop_logs()
        job = self.job
        if reason:
            job.failure_reason = reason
            self.note(f"{status}: {reason}")
        self.set_status(status)
        job.processing_end_time = job.last_modified_time
        self.note(f"{status} after {time.monotonic() - self.started:.1f} s")
        self.cloud.service("events").put_event("aws.sagemaker", "SageMaker Processing Job State Change",
                                               epoch_ms(job.response_object), [job.arn], region=self.region)
