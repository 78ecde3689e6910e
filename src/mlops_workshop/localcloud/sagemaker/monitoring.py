"""SageMaker Model Monitor's monitoring schedules and their executions (moto has neither).

A schedule (CreateMonitoringSchedule: its MonitoringJobDefinition inline, or MonitoringJobDefinitionName naming a
data quality job definition) is Pending until its endpoint is found capturing, then Scheduled. Its
ScheduleExpression (hourly `cron(0 * ? * * *)`, every N hours, daily, or NOW for one run) fires on the clock of
EventBridge's schedules, `schedule_speedup` times faster than real time (setting of the events service): locally an
hour lasts 3600 / speedup seconds. Each firing is an execution: the captured data of its window (the period before
it, or DataAnalysisStartTime to DataAnalysisEndTime, scaled the same way) goes to a processing job of the
schedule's image (the analyzer) with the environment SageMaker gives it; the execution ends Completed,
CompletedWithViolations (the job's ExitMessage says so) or Failed, and a window without captured data fails as
SageMaker fails it ("Job inputs had no data") without a job. Reports go to
<S3Uri>/<endpoint>/<schedule>/yyyy/mm/dd/hh (and /MM-SS below the hour when the clock runs faster than real time,
where a real hour holds many executions).
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from moto.core.utils import utcnow

from ..events.schedules import Cron, ScheduleError, parse_schedule
from ..protocol import AwsError
from .exceptions import ResourceInUse, ResourceNotFound, ValidationException
from .models import split_s3

if TYPE_CHECKING:
    from .service import SageMakerService

log = logging.getLogger("mlops_workshop.localcloud.sagemaker")

NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
DURATION = re.compile(r"^-?PT(?:(\d+)H)?(?:(\d+)M)?$")
NO_DATA = "Job inputs had no data"
TYPES = ("DataQuality", "ModelQuality", "ModelBias", "ModelExplainability")
DEFAULT_FORMAT = '{"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}'
TICK_S = 0.1


@dataclass
class MonitoringExecution:
    schedule: str
    scheduled_time: datetime
    endpoint_name: str | None
    job_definition_name: str | None
    monitoring_type: str
    status: str = "Pending"
    processing_job_arn: str | None = None
    failure_reason: str | None = None
    creation_time: datetime = field(default_factory=utcnow)
    last_modified_time: datetime = field(default_factory=utcnow)

    def set(self, status: str, failure_reason: str | None = None) -> None:
        self.status, self.last_modified_time = status, utcnow()
        if failure_reason:
            self.failure_reason = failure_reason[:1024]

    def summary(self) -> dict[str, Any]:
        found = {"MonitoringScheduleName": self.schedule, "ScheduledTime": self.scheduled_time,
                 "CreationTime": self.creation_time, "LastModifiedTime": self.last_modified_time,
                 "MonitoringExecutionStatus": self.status, "ProcessingJobArn": self.processing_job_arn,
                 "EndpointName": self.endpoint_name, "FailureReason": self.failure_reason,
                 "MonitoringJobDefinitionName": self.job_definition_name, "MonitoringType": self.monitoring_type}
        return {k: v for k, v in found.items() if v is not None}


@dataclass
class MonitoringSchedule:
    name: str
    arn: str
    account: str
    region: str
    config: dict[str, Any]
    monitoring_type: str
    endpoint_name: str | None
    tags: list[dict[str, str]]
    status: str = "Pending"
    failure_reason: str | None = None
    creation_time: datetime = field(default_factory=utcnow)
    last_modified_time: datetime = field(default_factory=utcnow)
    executions: list[MonitoringExecution] = field(default_factory=list)

    @property
    def job_definition_name(self) -> str | None:
        return self.config.get("MonitoringJobDefinitionName")

    def describe(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "MonitoringScheduleArn": self.arn, "MonitoringScheduleName": self.name,
            "MonitoringScheduleStatus": self.status, "MonitoringType": self.monitoring_type,
            "FailureReason": self.failure_reason, "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time, "MonitoringScheduleConfig": self.config,
            "EndpointName": self.endpoint_name}
        if self.executions:
            found["LastMonitoringExecutionSummary"] = self.executions[-1].summary()
        return {k: v for k, v in found.items() if v is not None}

    def summary(self) -> dict[str, Any]:
        found = {"MonitoringScheduleName": self.name, "MonitoringScheduleArn": self.arn,
                 "CreationTime": self.creation_time, "LastModifiedTime": self.last_modified_time,
                 "MonitoringScheduleStatus": self.status, "EndpointName": self.endpoint_name,
                 "MonitoringJobDefinitionName": self.job_definition_name, "MonitoringType": self.monitoring_type}
        return {k: v for k, v in found.items() if v is not None}


def duration(text: str, what: str) -> timedelta:
    """DataAnalysisStartTime / EndTime: ISO 8601 durations such as -PT1H, -PT30M."""
    found = DURATION.match(text or "")
    if not found or not (found.group(1) or found.group(2)):
        raise ValidationException(f"{what} {text!r} is not an ISO 8601 duration such as -PT1H")
    sign = -1 if text.startswith("-") else 1
    return sign * timedelta(hours=int(found.group(1) or 0), minutes=int(found.group(2) or 0))


def schedule_of(config: dict[str, Any]) -> Cron | None:
    """The schedule's cron, or None for NOW; ValidationException for an expression Model Monitor refuses."""
    schedule = config.get("ScheduleConfig") or {}
    expression = str(schedule.get("ScheduleExpression") or "").strip()
    for key in ("DataAnalysisStartTime", "DataAnalysisEndTime"):
        if schedule.get(key):
            duration(schedule[key], key)
    if expression == "NOW":
        return None
    try:
        parsed = parse_schedule(expression)
    except (ScheduleError, ValueError) as exc:
        raise ValidationException(f"Invalid ScheduleExpression {expression!r}: {exc}") from None
    if not isinstance(parsed, Cron) or parsed.minutes != [0]:
        raise ValidationException(f"Invalid ScheduleExpression {expression!r}: a monitoring schedule runs hourly or "
                                  f"less often: cron(0 * ? * * *), cron(0 */N ? * * *), cron(0 H ? * * *) or NOW")
    return parsed


class Monitor:
    """The schedules of every account and region, and the clock that starts their executions."""

    def __init__(self, service: "SageMakerService"):
        self.service = service
        self.cloud = service.cloud
        self.schedules: dict[tuple[str, str, str], MonitoringSchedule] = {}
        self._due: dict[tuple[str, str, str], tuple[str, float, datetime]] = {}
        self._stop = threading.Event()
        self.lock = threading.RLock()

    def start(self) -> None:
        self.cloud.spawn("sagemaker-monitoring", self._loop)

    def stop(self) -> None:
        self._stop.set()

    @property
    def clock(self) -> Any:
        return self.cloud.service("events").scheduler

    # The calls.
    def create(self, account: str, region: str, name: str, config: dict[str, Any],
               tags: list[dict[str, str]]) -> MonitoringSchedule:
        if not NAME.match(name or ""):
            raise ValidationException(f"Value '{name}' at 'monitoringScheduleName' failed to satisfy constraint: "
                                      f"Member must satisfy regular expression pattern: "
                                      f"^[a-zA-Z0-9](-*[a-zA-Z0-9]){{0,62}}$")
        key = (account, region, name)
        with self.lock:
            if key in self.schedules:
                raise ResourceInUse(f"Monitoring schedule {self.schedules[key].arn} already exists.")
            monitoring_type, endpoint = self.check(account, region, config)
            schedule = MonitoringSchedule(name, f"arn:aws:sagemaker:{region}:{account}:monitoring-schedule/{name}",
                                          account, region, config, monitoring_type, endpoint, list(tags or []))
            self.schedules[key] = schedule
        self.cloud.spawn(f"monitoring-{name}-validate", self.validate, schedule)
        return schedule

    def get(self, account: str, region: str, name: str) -> MonitoringSchedule:
        schedule = self.schedules.get((account, region, name))
        if schedule is None:
            raise ResourceNotFound(f"Monitoring schedule arn:aws:sagemaker:{region}:{account}:monitoring-schedule/"
                                   f"{name} does not exist.")
        return schedule

    def update(self, account: str, region: str, name: str, config: dict[str, Any]) -> MonitoringSchedule:
        with self.lock:
            schedule = self.get(account, region, name)
            if schedule.status == "Pending":
                raise ValidationException(f"Monitoring schedule {schedule.arn} is Pending; update it once it is "
                                          f"Scheduled")
            schedule.monitoring_type, schedule.endpoint_name = self.check(account, region, config)
            schedule.config, schedule.status, schedule.failure_reason = config, "Pending", None
            schedule.last_modified_time = utcnow()
            self._due.pop((account, region, name), None)
        self.cloud.spawn(f"monitoring-{name}-validate", self.validate, schedule)
        return schedule

    def delete(self, account: str, region: str, name: str) -> None:
        with self.lock:
            self.get(account, region, name)
            del self.schedules[(account, region, name)]
            self._due.pop((account, region, name), None)

    def set_state(self, account: str, region: str, name: str, running: bool) -> None:
        with self.lock:
            schedule = self.get(account, region, name)
            if schedule.status in ("Pending", "Failed"):
                raise ValidationException(f"Monitoring schedule {schedule.arn} is {schedule.status}")
            schedule.status = "Scheduled" if running else "Stopped"
            schedule.last_modified_time = utcnow()
            self._due.pop((account, region, name), None)

    def check(self, account: str, region: str, config: dict[str, Any]) -> tuple[str, str | None]:
        """The schedule's monitoring type and endpoint, refusing what SageMaker (or the local cloud) cannot run."""
        schedule_of(config)
        inline, named = config.get("MonitoringJobDefinition"), config.get("MonitoringJobDefinitionName")
        if bool(inline) == bool(named):
            raise ValidationException("MonitoringScheduleConfig must give exactly one of MonitoringJobDefinition and "
                                      "MonitoringJobDefinitionName")
        monitoring_type = config.get("MonitoringType") or ("DataQuality" if inline else None)
        if named and not monitoring_type:
            raise ValidationException("MonitoringType is required with MonitoringJobDefinitionName")
        if monitoring_type not in TYPES:
            raise ValidationException(f"MonitoringType {monitoring_type} is not one of {', '.join(TYPES)}")
        if monitoring_type != "DataQuality":
            raise ValidationException(f"MonitoringType {monitoring_type}: the local cloud runs DataQuality "
                                      f"monitoring only")
        definition = self.definition(account, region, config)
        inputs = definition.get("MonitoringInputs") or []
        endpoint_input = (inputs[0] if inputs else {}).get("EndpointInput")
        if not endpoint_input:
            raise ValidationException("the local cloud monitors endpoints only (MonitoringInputs[0].EndpointInput)")
        return monitoring_type, endpoint_input.get("EndpointName")

    def definition(self, account: str, region: str, config: dict[str, Any]) -> dict[str, Any]:
        """The schedule's job as a MonitoringJobDefinition, looked up when it is named."""
        if config.get("MonitoringJobDefinition"):
            return config["MonitoringJobDefinition"]
        name = config["MonitoringJobDefinitionName"]
        job = self.cloud.backend("sagemaker", region, account).data_quality_job_definitions.get(name)
        if job is None:
            raise ValidationException(f"Job definition {name} (DataQuality) does not exist.")
        app = dict(job.data_quality_app_specification)
        baseline = job.data_quality_baseline_config or {}
        return {"BaselineConfig": {k: v for k, v in baseline.items() if k != "BaseliningJobName"} or None,
                "MonitoringInputs": [{"EndpointInput": (job.data_quality_job_input or {}).get("EndpointInput")}],
                "MonitoringOutputConfig": job.data_quality_job_output_config,
                "MonitoringResources": job.job_resources, "MonitoringAppSpecification": app,
                "Environment": app.get("Environment") or {}, "StoppingCondition": job.stopping_condition,
                "NetworkConfig": job.network_config or None, "RoleArn": job.role_arn}

    def validate(self, schedule: MonitoringSchedule) -> None:
        """Pending -> Scheduled once its endpoint is known to capture; Failed, saying why, otherwise."""
        backend = self.cloud.backend("sagemaker", schedule.region, schedule.account)
        endpoint = backend.endpoints.get(schedule.endpoint_name or "")
        config = backend.endpoint_configs.get(endpoint.endpoint_config_name) if endpoint else None
        capture = getattr(config, "data_capture_config", None) or {}
        with self.lock:
            if endpoint is None:
                schedule.status = "Failed"
                schedule.failure_reason = f"Endpoint {schedule.endpoint_name} does not exist."
            elif not capture.get("EnableCapture"):
                schedule.status = "Failed"
                schedule.failure_reason = (f"Data capture is not enabled for endpoint {schedule.endpoint_name}: its "
                                           f"configuration {endpoint.endpoint_config_name} needs DataCaptureConfig")
            else:
                schedule.status = "Scheduled"
            schedule.last_modified_time = utcnow()
        if schedule.status == "Scheduled" and schedule_of(schedule.config) is None:
            self.fire(schedule, time.time())

    # The clock.
    def _loop(self) -> None:
        while not self._stop.wait(TICK_S):
            try:
                self.tick(time.time())
            except Exception:
                log.exception("the monitoring schedules' tick failed")

    def tick(self, now: float) -> None:
        clock = self.clock
        with self.lock:
            scheduled = [(k, s) for k, s in self.schedules.items() if s.status == "Scheduled"]
        for key, schedule in scheduled:
            expression = str((schedule.config.get("ScheduleConfig") or {}).get("ScheduleExpression"))
            cron = schedule_of(schedule.config)
            if cron is None:
                continue
            kept = self._due.get(key)
            if kept is None or kept[0] != expression:
                moment = cron.next_after(clock.clock(now))
                if moment is None:  # a cron whose years are over fires no more
                    continue
                kept = self._due[key] = (expression, clock.real(moment), moment)
            if now >= kept[1]:
                following = cron.next_after(max(kept[2], clock.clock(now)))
                if following is None:
                    del self._due[key]
                else:
                    self._due[key] = (expression, clock.real(following), following)
                self.fire(schedule, kept[1], _period(cron, kept[2]))

    def fire(self, schedule: MonitoringSchedule, at: float, period: float = 3600.0) -> MonitoringExecution:
        """One execution of the schedule, scheduled at real time `at` (its window: the `period` seconds of the
        schedule's clock before it, unless the schedule says otherwise), in a thread."""
        clock = self.clock
        scheduled = datetime.fromtimestamp(at, timezone.utc).replace(microsecond=0)
        config = schedule.config.get("ScheduleConfig") or {}
        start_offset, end_offset = timedelta(seconds=-period), timedelta(0)
        if config.get("DataAnalysisStartTime"):
            start_offset = duration(config["DataAnalysisStartTime"], "DataAnalysisStartTime")
        if config.get("DataAnalysisEndTime"):
            end_offset = duration(config["DataAnalysisEndTime"], "DataAnalysisEndTime")
        # To whole seconds, as capture records carry their time: the window is widened, never narrowed.
        start = datetime.fromtimestamp(math.floor(at + start_offset.total_seconds() / clock.speedup), timezone.utc)
        end = datetime.fromtimestamp(math.ceil(at + end_offset.total_seconds() / clock.speedup), timezone.utc)
        execution = MonitoringExecution(schedule.name, scheduled, schedule.endpoint_name,
                                        schedule.job_definition_name, schedule.monitoring_type)
        with self.lock:
            schedule.executions.append(execution)
        self.cloud.spawn(f"monitoring-{schedule.name}-execution", self.execute, schedule, execution, start, end)
        return execution

    # An execution.
    def execute(self, schedule: MonitoringSchedule, execution: MonitoringExecution, start: datetime,
                end: datetime) -> None:
        try:
            self._execute(schedule, execution, start, end)
        except AwsError as exc:
            execution.set("Failed", exc.message)
        except Exception as exc:
            log.exception("monitoring execution of %s", schedule.name)
            execution.set("Failed", f"InternalServerError: the local cloud failed to run the execution: {exc}")

    def _execute(self, schedule: MonitoringSchedule, execution: MonitoringExecution, start: datetime,
                 end: datetime) -> None:
        definition = self.definition(schedule.account, schedule.region, schedule.config)
        backend = self.cloud.backend("sagemaker", schedule.region, schedule.account)
        endpoint_input = definition["MonitoringInputs"][0]["EndpointInput"]
        endpoint_name = endpoint_input["EndpointName"]
        endpoint = backend.endpoints.get(endpoint_name)
        if endpoint is None:
            return execution.set("Failed", f"Endpoint {endpoint_name} does not exist.")
        config = backend.endpoint_configs.get(endpoint.endpoint_config_name)
        capture = getattr(config, "data_capture_config", None) or {}
        destination = str(capture.get("DestinationS3Uri") or "").rstrip("/")
        if not destination:
            return execution.set("Failed", f"Data capture is not enabled for endpoint {endpoint_name}")
        credentials = self.service.role_credentials(definition["RoleArn"])
        folders = self.captured(destination, endpoint_name, start, end, schedule.region, credentials)
        if not folders:
            return execution.set("Failed", NO_DATA)
        request = self.job_request(schedule, definition, endpoint_input, destination, folders, start, end, execution)
        runner = self.service.start_processing_job(schedule.region, request, schedule.arn)
        execution.processing_job_arn = runner.job.arn
        execution.set("InProgress")
        runner.done.wait()
        job = runner.job
        if job.processing_job_status == "Completed":
            violations = str(job.exit_message or "").startswith("CompletedWithViolations")
            execution.set("CompletedWithViolations" if violations else "Completed")
        elif job.processing_job_status == "Stopped":
            execution.set("Stopped")
        else:
            execution.set("Failed", job.failure_reason or "the monitoring job failed")

    def captured(self, destination: str, endpoint: str, start: datetime, end: datetime, region: str,
                 credentials: dict[str, str]) -> list[str]:
        """The hour folders of the endpoint's captured data that hold files written in the window (SageMaker hands
        the job whole hours; the analyzer keeps the records of the window)."""
        bucket, prefix = split_s3(destination)
        base = "/".join(p for p in (prefix.strip("/"), endpoint) if p) + "/"
        s3 = self.cloud.client("s3", region, credentials=credentials)
        latest = end + timedelta(seconds=self.service.capture.interval + 5)
        folders: list[str] = []
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
                for item in page.get("Contents", []):
                    folder = item["Key"].rsplit("/", 1)[0]
                    if start <= item["LastModified"] < latest and folder not in folders:
                        folders.append(folder)
        except Exception as exc:
            raise ValidationException(f"ClientError: cannot list the captured data under s3://{bucket}/{base}: "
                                      f"{exc}") from exc
        return [f"s3://{bucket}/{folder}" for folder in folders]

    def job_request(self, schedule: MonitoringSchedule, definition: dict[str, Any], endpoint_input: dict[str, Any],
                    destination: str, folders: list[str], start: datetime, end: datetime,
                    execution: MonitoringExecution) -> dict[str, Any]:
        """The processing job of one execution, as SageMaker makes it from the schedule."""
        source = endpoint_input.get("LocalPath") or "/opt/ml/processing/input/endpoint"
        inputs = [{"InputName": f"endpoint_input_{i + 1}", "S3Input": {
            "S3Uri": folder, "LocalPath": f"{source.rstrip('/')}/{folder[len(destination) + 1:]}",
            "S3DataType": "S3Prefix", "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}}
            for i, folder in enumerate(folders)]
        env = {"dataset_format": DEFAULT_FORMAT, "dataset_source": source, "publish_cloudwatch_metrics": "Enabled",
               **{str(k): str(v) for k, v in (definition.get("Environment") or {}).items()},
               "sagemaker_endpoint_name": endpoint_input["EndpointName"],
               "sagemaker_monitoring_schedule_name": schedule.name, "sagemaker_endpoint_datacapture_prefix":
               split_s3(destination)[1], "start_time": _iso(start), "end_time": _iso(end),
               "metric_time": _iso(start)}
        baseline = definition.get("BaselineConfig") or {}
        for resource, folder, file, variable in (("ConstraintsResource", "constraints", "constraints.json",
                                                  "baseline_constraints"),
                                                 ("StatisticsResource", "stats", "statistics.json",
                                                  "baseline_statistics")):
            uri = (baseline.get(resource) or {}).get("S3Uri")
            if uri:
                path = f"/opt/ml/processing/baseline/{folder}"
                inputs.append({"InputName": folder if folder == "constraints" else "baseline", "S3Input": {
                    "S3Uri": uri, "LocalPath": path, "S3DataType": "S3Prefix", "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated"}})
                env[variable] = f"{path}/{uri.rsplit('/', 1)[-1] or file}"
        report = f"{schedule.endpoint_name}/{schedule.name}/{execution.scheduled_time:%Y/%m/%d/%H}"
        if self.clock.speedup != 1:
            report += f"/{execution.scheduled_time:%M-%S}"
        outputs = []
        for output in (definition.get("MonitoringOutputConfig") or {}).get("MonitoringOutputs") or []:
            s3 = output["S3Output"]
            outputs.append({"OutputName": "result", "S3Output": {
                "S3Uri": f"{s3['S3Uri'].rstrip('/')}/{report}", "LocalPath": s3["LocalPath"],
                "S3UploadMode": s3.get("S3UploadMode", "EndOfJob")}})
        if outputs:
            env.setdefault("output_path", outputs[0]["S3Output"]["LocalPath"])
        app = definition.get("MonitoringAppSpecification") or {}
        request = {
            "ProcessingJobName": f"model-monitoring-{execution.scheduled_time:%Y%m%d%H%M}-{secrets.token_hex(12)}",
            "ProcessingInputs": inputs, "ProcessingOutputConfig": {"Outputs": outputs},
            "ProcessingResources": {"ClusterConfig": (definition.get("MonitoringResources") or {}).get(
                "ClusterConfig") or {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}},
            "StoppingCondition": definition.get("StoppingCondition") or {"MaxRuntimeInSeconds": 3600},
            "AppSpecification": {k: app[k] for k in ("ImageUri", "ContainerEntrypoint", "ContainerArguments")
                                 if app.get(k)},
            "Environment": env, "RoleArn": definition["RoleArn"]}
        if definition.get("NetworkConfig"):
            request["NetworkConfig"] = definition["NetworkConfig"]
        return request

    # Across a restart.
    def recover(self) -> None:
        """Executions the local cloud was running end Failed; Pending schedules are validated again."""
        for schedule in list(self.schedules.values()):
            for execution in schedule.executions:
                if execution.status in ("Pending", "InProgress", "Stopping"):
                    execution.set("Failed", "InternalServerError: the local cloud stopped while the monitoring "
                                            "execution ran")
            if schedule.status == "Pending":
                self.cloud.spawn(f"monitoring-{schedule.name}-validate", self.validate, schedule)


def _period(cron: Cron, moment: datetime) -> float:
    """The time between a firing and the one before it: an hour for an hourly schedule, a day for a daily one (the
    longest Model Monitor allows)."""
    previous, last = moment - timedelta(hours=25), None
    while (following := cron.next_after(previous)) is not None and following < moment:
        last = previous = following
    return (moment - last).total_seconds() if last else 3600.0


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
