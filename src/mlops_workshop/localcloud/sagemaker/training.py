"""SageMaker training jobs: each runs the image's `train` on a local /opt/ml tree and keeps moto's record true.

`TrainingJob` runs one job: a local /opt/ml tree under <state>/training/<job> (hyperparameters, input data config,
resource config, each channel's S3 data), the image's `train` (the images service says which context and how),
model.tar.gz to <S3OutputPath>/<job>/output/. DescribeTrainingJob shows InProgress (Starting, Downloading,
Training, Uploading) and then Completed, Failed (FailureReason from /opt/ml/output/failure) or Stopped, with real
times, the model artifacts and the final metrics the job's MetricDefinitions find in its log
(<state>/logs/training/<job>.log). What SageMaker does itself (reading the channels, writing the model and the output)
it does with the job's execution role, and the container gets that role's credentials: a refusal fails the job
with the AccessDenied message in its FailureReason. The container's output also goes, as it runs, to CloudWatch Logs
where SageMaker puts it: group /aws/sagemaker/TrainingJobs, stream <job>/algo-1-<epoch seconds of the start>. Final
states emit "SageMaker Training Job State Change" events.
"""

from __future__ import annotations

import json
import logging
import re
import tarfile
import time
from typing import TYPE_CHECKING, Any

from moto.core.utils import utcnow

from ..images.exceptions import ImageError
from .exceptions import JobError
from .jobs import Job, exit_text, no_objects_reason
from .models import epoch_ms, split_s3, tail

if TYPE_CHECKING:
    from .service import SageMakerService

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
LOG_GROUP = "/aws/sagemaker/TrainingJobs"


class TrainingJob(Job):
    """Runs one training job and keeps moto's FakeTrainingJob in step with it."""

    kind = "training"
    log_group = LOG_GROUP

    def __init__(self, service: "SageMakerService", job: Any, request: dict[str, Any], region: str):
        super().__init__(service, job.training_job_name, region)
        self.job, self.request = job, request
        self.train_seconds: float | None = None

    # The record.
    def reset_record(self) -> None:
        """moto records a job as Completed at once, with made-up metrics: start it from the beginning."""
        job = self.job
        now = utcnow()
        job.algorithm_specification = dict(self.request.get("AlgorithmSpecification") or {})
        job.training_job_status = "InProgress"
        job.secondary_status = "Starting"
        # A required member of DescribeTrainingJob from the start: where the model will be, as moto names it too.
        job.model_artifacts = {"S3ModelArtifacts": self.model_location()}
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
        self.credentials = self.role_session()
        self.fresh_root("input/config", "input/data", "model", "output/data", "code", "checkpoints")
        self.write_config()
        self.job.training_start_time = utcnow()
        self.set_status("InProgress", "Downloading")
        self.download_channels()
        if self.stop_requested.is_set():
            return self.finish("Stopped", "Stopped")
        self.set_status("InProgress", "Training")
        images = self.cloud.service("images")
        env = {str(k): str(v) for k, v in (self.request.get("Environment") or {}).items()}
        env.setdefault("TRAINING_JOB_NAME", self.name)
        env.setdefault("TRAINING_JOB_ARN", self.job.arn)
        env.update({k: v for k, v in self.credentials.items() if k.startswith("AWS_")})
        started = time.monotonic()
        self.note("starting train")
        self.follow_logs()
        try:
            pulled = images.pull(image, self.request.get("RoleArn"), self.region)
            self.run_handle = images.train(pulled, self.root, self.log_path, env)
        except ImageError as exc:
            raise JobError(f"ClientError: {exc}") from exc
        max_runtime = (self.request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") or 86400
        code, timed_out = self.wait(max_runtime)
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
                last = tail(self.log_path, 3).replace("\n", " | ")
                reason = (f"the training container {exit_text(code)}; see its log: group {LOG_GROUP}, stream "
                          f"{self.log_stream} (locally {self.log_path}; last lines: {last})")
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

    def role_session(self) -> dict[str, str]:
        """The execution role's session, as SageMaker assumes it for the job (named SageMaker)."""
        from ..iam.exceptions import AssumeRoleRefused
        try:
            return self.cloud.service("iam").session_credentials(self.request.get("RoleArn", ""),
                                                                 "sagemaker.amazonaws.com", "SageMaker")
        except AssumeRoleRefused as exc:
            raise JobError(f"ClientError: {exc.message}") from None

    def download_channels(self) -> None:
        for channel in self.request.get("InputDataConfig") or []:
            name = channel["ChannelName"]
            source = (channel.get("DataSource") or {}).get("S3DataSource")
            if not source:
                raise JobError(f"ClientError: channel {name}: the local cloud reads only S3 data sources")
            uri = source["S3Uri"]
            objects = self.objects(uri, source.get("S3DataType", "S3Prefix"))
            if not objects:
                raise JobError(no_objects_reason(uri, self.region))
            self.download(objects, self.root / "input" / "data" / name)
            self.note(f"channel {name}: {len(objects)} object(s) from {uri}")

    def model_location(self) -> str:
        """s3://<S3OutputPath>/<job>/output/model.tar.gz, where SageMaker puts the model."""
        output = (self.request.get("OutputDataConfig") or {}).get("S3OutputPath") or ""
        return "/".join(p for p in (output.removesuffix("/"), self.name, "output", "model.tar.gz") if p)

    def upload_outputs(self) -> None:
        output = (self.request.get("OutputDataConfig") or {}).get("S3OutputPath")
        if not output:
            raise JobError("ClientError: OutputDataConfig.S3OutputPath is required")
        bucket, key = split_s3(self.model_location())
        for folder, name in (("model", "model.tar.gz"), ("output/data", "output.tar.gz")):
            source = self.root / folder
            if folder != "model" and not any(source.iterdir()):
                continue
            archive = self.root / "output" / name
            with tarfile.open(archive, "w:gz") as tar:
                for path in sorted(source.iterdir()):
                    tar.add(path, arcname=path.name)
            target = key.rsplit("/", 1)[0] + "/" + name
            self.upload(archive, f"s3://{bucket}/{target}")
            self.note(f"uploaded s3://{bucket}/{target}")

    def finish(self, status: str, secondary: str, reason: str | None = None) -> None:
        job = self.job
        self.stop_logs()
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
        self.cloud.service("events").put_event("aws.sagemaker", "SageMaker Training Job State Change", detail,
                                               [job.arn], region=self.region)

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
