"""Glue's protocol beyond moto: a started run really runs, UpdateJob (moto lacks it), BatchStopJobRun."""

from __future__ import annotations

import json
from typing import Any

from ..protocol import AwsRequest, AwsResponse, BaseResponses
from .exceptions import EntityNotFoundException, InvalidInputException
from . import models
from .models import LocalJobRun


class GlueResponses(BaseResponses):
    def _job(self, req: AwsRequest, name: str) -> Any:
        try:
            return self.cloud.backend("glue", req.region).get_job(name)
        except Exception:
            raise EntityNotFoundException(f"Job {name} not found") from None

    def after_start_job_run(self, req: AwsRequest, status: int, body: bytes) -> None:
        if status != 200:
            return None
        run_id = json.loads(body)["JobRunId"]
        job = self._job(req, req.json()["JobName"])
        for index, run in enumerate(job.job_runs):
            if run.job_run_id == run_id:
                local = LocalJobRun.adopt(run, job.glue_version)
                job.job_runs[index] = local
                self.service.runner.start(job, local, req.region)
        return None

    def update_job(self, req: AwsRequest) -> AwsResponse:
        params = req.json()
        name = params.get("JobName", "")
        job = self._job(req, name)
        try:
            models.update_job(job, params.get("JobUpdate") or {})
        except ValueError as exc:
            raise InvalidInputException(str(exc)) from None
        return AwsResponse(200, {"JobName": name})

    def batch_stop_job_run(self, req: AwsRequest) -> AwsResponse:
        params = req.json()
        name = params.get("JobName", "")
        job = self._job(req, name)
        stopped, errors = [], []
        runs = {run.job_run_id: run for run in job.job_runs}
        for run_id in params.get("JobRunIds", []):
            run = runs.get(run_id)
            if isinstance(run, LocalJobRun) and run.status in ("STARTING", "RUNNING"):
                self.service.runner.stop(run)
                stopped.append({"JobName": name, "JobRunId": run_id})
            else:
                reason = "not found" if run is None else f"in state {run.status}"
                errors.append({"JobName": name, "JobRunId": run_id, "ErrorDetail": {
                    "ErrorCode": "InvalidInputException", "ErrorMessage": f"Job run {run_id} is {reason}"}})
        return AwsResponse(200, {"SuccessfulSubmissions": stopped, "Errors": errors})
