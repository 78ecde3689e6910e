"""SageMaker: training jobs run the image's `train`, endpoints run its `serve`, InvokeEndpoint reaches them.

moto keeps the records (training jobs, endpoints, models, endpoint configs, model packages); the training jobs
(training.py) and the endpoints (endpoints.py) do the work behind them and keep those records true.

Settings: ``endpoint_ready_timeout`` (seconds for /ping to answer 200, default 120) and
``model_server_workers`` (MODEL_SERVER_WORKERS for local endpoints unless the model sets it; default 1).
"""

from __future__ import annotations

import time

from ..server import ACCOUNT_ID
from ..services import Service
from . import patches, urls
from .endpoints import Endpoints
from .responses import SageMakerResponses
from .training import TrainingJob


class SageMakerService(Service):
    name = "sagemaker"
    responses_class = SageMakerResponses
    urls = urls

    def start(self) -> None:
        self.jobs: dict[tuple[str, str, str], TrainingJob] = {}
        self.endpoints = Endpoints(self)
        patches.apply(self)

    def stop(self) -> None:
        super().stop()
        self.endpoints.stop_all()

    def reset(self) -> None:
        for job in list(self.jobs.values()):
            job.stop()
        self.jobs.clear()
        self.endpoints.reset()

    def recover(self) -> None:
        """Training jobs the local cloud was running when it stopped end Failed (Stopped if they were being
        stopped); endpoints that served serve again, all at once, before the cloud answers as started."""
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
                for endpoint in list(backend.endpoints.values()):
                    if endpoint.endpoint_status in ("InService", "Creating", "Updating", "SystemUpdating"):
                        resumed.append(self.cloud.spawn(f"endpoint-{endpoint.endpoint_name}-resume",
                                                        self.endpoints.resume, backend, endpoint))
        for thread in resumed:
            thread.join()

    def training_job(self, name: str, region: str, account: str = ACCOUNT_ID) -> TrainingJob | None:
        return self.jobs.get((account, region, name))

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
