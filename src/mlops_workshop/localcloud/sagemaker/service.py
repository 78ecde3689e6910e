"""SageMaker: training jobs run the image's `train`, processing jobs its entrypoint, endpoints run its `serve`,
InvokeEndpoint reaches them.

moto keeps the records (training and processing jobs, endpoints, models, endpoint configs, model packages, data
quality job definitions); the training jobs (training.py), the processing jobs (processing.py) and the endpoints
(endpoints.py, with their data capture and metrics in capture.py) do the work behind them and keep those records
true. Monitoring schedules and their executions (monitoring.py) are the service's own state, kept with the cloud's.

Settings: ``endpoint_ready_timeout`` (seconds for /ping to answer 200, default 120),
``model_server_workers`` (MODEL_SERVER_WORKERS for local endpoints unless the model sets it; default 1),
``capture_flush_seconds`` and ``capture_seed`` (capture.py).
"""

from __future__ import annotations

import time

from typing import Any

from ..iam.exceptions import AssumeRoleRefused
from ..iam.service import TRUST_ERRORS
from ..server import ACCOUNT_ID
from ..services import Service
from . import analyzer, patches, urls
from .capture import Capture
from .endpoints import Endpoints
from .exceptions import ResourceInUse, ValidationException
from .monitoring import Monitor
from .processing import PROCESSING_ROOT, ProcessingJob
from .responses import SageMakerResponses
from .training import TrainingJob

SAGEMAKER = "sagemaker.amazonaws.com"


class SageMakerService(Service):
    name = "sagemaker"
    responses_class = SageMakerResponses
    urls = urls

    def start(self) -> None:
        self.jobs: dict[tuple[str, str, str], TrainingJob] = {}
        self.processing: dict[tuple[str, str, str], ProcessingJob] = {}
        self.endpoints = Endpoints(self)
        self.capture = Capture(self)
        self.capture.start()
        self.monitor = Monitor(self)
        self.monitor.start()
        self.cloud.service("images").provide(analyzer.REPOSITORY, analyzer.PROGRAM)
        patches.apply(self)

    def stop(self) -> None:
        super().stop()
        self.monitor.stop()
        self.capture.stop()
        self.endpoints.stop_all()

    def reset(self) -> None:
        for job in list(self.jobs.values()):
            job.stop()
        self.jobs.clear()
        with self.monitor.lock:
            self.monitor.schedules.clear()
        self.endpoints.reset()

    def snapshot(self) -> dict[str, Any]:
        with self.monitor.lock:
            return {"schedules": dict(self.monitor.schedules)}

    def restore(self, state: dict[str, Any] | None) -> None:
        self.monitor.schedules = dict((state or {}).get("schedules") or {})

    def recover(self) -> None:
        """Training and processing jobs and monitoring executions the local cloud was running when it stopped end
        Failed (Stopped if they were being stopped); endpoints that served serve again, all at once, before the
        cloud answers as started."""
        self.monitor.recover()
        from moto.core.utils import utcnow
        from moto.sagemaker.models import sagemaker_backends

        resumed = []
        for regions in list(sagemaker_backends.values()):
            for backend in list(regions.values()):
                for job in list(backend.training_jobs.values()):
                    if job.training_job_status in ("InProgress", "Stopping"):
                        stopping = job.training_job_status == "Stopping"
                        now = utcnow()
                        job.training_job_status = job.secondary_status = "Stopped" if stopping else "Failed"
                        if not stopping:
                            job.failure_reason = ("InternalServerError: the local cloud stopped while the training "
                                                  "job ran; start a new one")
                        job.training_end_time = job.last_modified_time = now
                for processing in list(backend.processing_jobs.values()):
                    if processing.processing_job_status in ("InProgress", "Stopping"):
                        stopping = processing.processing_job_status == "Stopping"
                        processing.processing_job_status = "Stopped" if stopping else "Failed"
                        if not stopping:
                            processing.failure_reason = ("InternalServerError: the local cloud stopped while the "
                                                         "processing job ran; start a new one")
                        processing.processing_end_time = processing.last_modified_time = utcnow()
                for endpoint in list(backend.endpoints.values()):
                    if endpoint.endpoint_status in ("InService", "Creating", "Updating", "SystemUpdating"):
                        resumed.append(self.cloud.spawn(f"endpoint-{endpoint.endpoint_name}-resume",
                                                        self.endpoints.resume, backend, endpoint))
        for thread in resumed:
            thread.join()

    def training_job(self, name: str, region: str, account: str = ACCOUNT_ID) -> TrainingJob | None:
        return self.jobs.get((account, region, name))

    def processing_job(self, name: str, region: str, account: str = ACCOUNT_ID) -> ProcessingJob | None:
        return self.processing.get((account, region, name))

    def role_credentials(self, role_arn: str) -> dict[str, str]:
        """The credentials SageMaker works with for a role it was given; the error AWS answers when it cannot."""
        try:
            return self.cloud.service("iam").credentials_for(role_arn, SAGEMAKER)
        except AssumeRoleRefused:
            raise ValidationException(TRUST_ERRORS[SAGEMAKER][2].format(role=role_arn)) from None

    def start_processing_job(self, region: str, request: dict[str, Any],
                             monitoring_schedule_arn: str | None = None) -> ProcessingJob:
        """Record a processing job in moto's backend and run it (CreateProcessingJob, and each monitoring
        execution); raises SageMaker's error for a request it refuses."""
        backend = self.cloud.backend("sagemaker", region)
        name = request.get("ProcessingJobName", "")
        if name in backend.processing_jobs:
            raise ResourceInUse(f"Job name must be unique within an AWS account and region, and a job with this "
                                f"name already exists ({backend.processing_jobs[name].arn})")
        paths = [i["S3Input"]["LocalPath"] for i in request.get("ProcessingInputs") or [] if i.get("S3Input")]
        paths += [o["S3Output"]["LocalPath"] for o in (request.get("ProcessingOutputConfig") or {}).get("Outputs")
                  or [] if o.get("S3Output")]
        for path in paths:
            if not path.startswith(PROCESSING_ROOT) or ".." in path.split("/"):
                raise ValidationException(f"LocalPath {path} is not valid: it must be an absolute path that begins "
                                          f"with {PROCESSING_ROOT}")
        credentials = self.role_credentials(request.get("RoleArn", ""))
        job = backend.create_processing_job(
            app_specification=request["AppSpecification"], experiment_config=request.get("ExperimentConfig"),
            network_config=request.get("NetworkConfig"), processing_inputs=request.get("ProcessingInputs"),
            processing_job_name=name, processing_output_config=request.get("ProcessingOutputConfig"),
            role_arn=request["RoleArn"], stopping_condition=request.get("StoppingCondition"),
            tags=request.get("Tags"))
        runner = ProcessingJob(self, job, request, region, credentials)
        runner.reset_record(monitoring_schedule_arn)
        self.processing[(backend.account_id, region, name)] = runner
        self.cloud.spawn(f"processing-{name}", runner.run)
        return runner

    def wait_for_endpoint(self, name: str, region: str | None = None, timeout: float = 600) -> tuple[str, str | None]:
        """Wait while endpoint `name` is Creating or Updating (as CloudFormation does before CREATE_COMPLETE);
        returns its status and FailureReason. A missing endpoint is ("Missing", None)."""
        backend = self.cloud.backend("sagemaker", region)
        deadline = time.monotonic() + timeout
        while True:
            endpoint = backend.endpoints.get(name)
            if endpoint is None:
                return "Missing", None
            if endpoint.endpoint_status not in ("Creating", "Updating") or time.monotonic() > deadline:
                return endpoint.endpoint_status, endpoint.failure_reason
            time.sleep(0.1)
