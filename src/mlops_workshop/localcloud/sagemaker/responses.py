"""SageMaker's protocol beyond moto: training jobs run and stop, endpoints update and answer InvokeEndpoint, model
packages and their groups can be deleted (moto lacks DeleteModelPackage(Group): without them a stack with the model
group cannot be deleted), and the Describe answers hold what SageMaker always returns, in its shapes, so that the
SageMaker Python SDK's models (sagemaker.core.resources) and the AWS CLI read them: moto leaves out some members and
sends empty structures (`"VpcConfig": {}`) where SageMaker sends none."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from ..images.exceptions import ImageNotFound
from ..protocol import AwsRequest, AwsResponse, BaseResponses
from .exceptions import ConflictException, ResourceInUse, ValidationException
from .models import epoch_s
from .training import TrainingJob


class SageMakerResponses(BaseResponses):
    def create_training_job(self, req: AwsRequest) -> None:
        name = req.json().get("TrainingJobName", "")
        backend = self.cloud.backend("sagemaker", req.region)
        if name in backend.training_jobs:
            raise ResourceInUse(f"Training job names must be unique within an AWS account and region, and a training "
                                f"job with this name already exists ({backend.training_jobs[name].arn})")
        image = (req.json().get("AlgorithmSpecification") or {}).get("TrainingImage")
        if image:
            self._pullable(image, req.json().get("RoleArn"), req.region)
        return None

    def create_model(self, req: AwsRequest) -> None:
        """SageMaker checks at CreateModel that the execution role can pull each container's image."""
        body = req.json()
        for container in [body.get("PrimaryContainer") or {}, *(body.get("Containers") or [])]:
            if container.get("Image"):
                self._pullable(container["Image"], body.get("ExecutionRoleArn"), req.region)
        return None

    def _pullable(self, image: str, role: str | None, region: str) -> None:
        try:
            self.cloud.service("images").check(image, role, region)
        except ImageNotFound as exc:
            raise ValidationException(str(exc)) from None

    def after_create_training_job(self, req: AwsRequest, status: int, body: bytes) -> None:
        if status != 200:
            return None
        request = req.json()
        backend = self.cloud.backend("sagemaker", req.region)
        job = backend.training_jobs[request["TrainingJobName"]]
        runner = TrainingJob(self.service, job, request, req.region)
        runner.reset_record()
        self.service.jobs[(backend.account_id, req.region, runner.name)] = runner
        self.cloud.spawn(f"training-{runner.name}", runner.run)
        return None

    def stop_training_job(self, req: AwsRequest) -> AwsResponse:
        name = req.json().get("TrainingJobName", "")
        backend = self.cloud.backend("sagemaker", req.region)
        job = backend.training_jobs.get(name)
        if job is None:
            arn = f"arn:aws:sagemaker:{req.region}:{backend.account_id}:training-job/{name}"
            raise ValidationException(f"Requested resource not found: training job {arn}")
        runner = self.service.jobs.get((backend.account_id, req.region, name))
        if runner is None or job.training_job_status != "InProgress":
            raise ValidationException(f"The request was rejected because the training job is in status "
                                      f"{job.training_job_status}.")
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
            raise ValidationException(f"Could not find endpoint \"arn:aws:sagemaker:{req.region}:"
                                      f"{backend.account_id}:endpoint/{name}\".")
        if config not in backend.endpoint_configs:
            raise ValidationException(f"Could not find endpoint configuration \"arn:aws:sagemaker:{req.region}:"
                                      f"{backend.account_id}:endpoint-config/{config}\".")
        if endpoint.endpoint_status not in ("InService", "Failed"):
            raise ValidationException(f"Cannot update in-progress endpoint \"{endpoint.arn}\".")
        self.service.endpoints.updated(backend, endpoint, config)
        return AwsResponse(200, {"EndpointArn": endpoint.arn})

    def invoke_endpoint(self, req: AwsRequest) -> AwsResponse:
        headers = {"Content-Type": req.headers.get("content-type", "application/octet-stream")}
        for name_in, name_out in (("accept", "Accept"),
                                  ("x-amzn-sagemaker-custom-attributes", "X-Amzn-SageMaker-Custom-Attributes")):
            if req.headers.get(name_in):
                headers[name_out] = req.headers[name_in]
        backend = self.cloud.backend("sagemaker", req.region)
        body, out = self.service.endpoints.invoke(backend, unquote(req.path_params["name"]), req.body, headers,
                                                  req.headers.get("x-amzn-sagemaker-inference-id"))
        return AwsResponse(200, body, out)

    def delete_model_package(self, req: AwsRequest) -> AwsResponse:
        name = str(req.json().get("ModelPackageName") or "")
        backend = self.cloud.backend("sagemaker", req.region)
        key = backend.model_package_name_mapping.get(name, name)
        if key not in backend.model_packages:
            raise ValidationException(f"Model package {name} does not exist.")
        del backend.model_packages[key]
        for alias in [a for a, target in backend.model_package_name_mapping.items() if target == key]:
            del backend.model_package_name_mapping[alias]
        return AwsResponse(200, {})

    def delete_model_package_group(self, req: AwsRequest) -> AwsResponse:
        name = str(req.json().get("ModelPackageGroupName") or "").rsplit("/", 1)[-1]
        backend = self.cloud.backend("sagemaker", req.region)
        if name not in backend.model_package_groups:
            raise ValidationException(f"Model package group {name} does not exist.")
        versions = [p for p in backend.model_packages.values() if p.model_package_group_name == name]
        if versions:
            raise ConflictException(f"Model package group {name} still holds {len(versions)} model package(s); "
                                    f"delete them first (DeleteModelPackage).")
        del backend.model_package_groups[name]
        return AwsResponse(200, {})

    # Monitoring schedules (monitoring.py).
    def create_monitoring_schedule(self, req: AwsRequest) -> AwsResponse:
        params = req.json()
        schedule = self.service.monitor.create(self._account(req), req.region, params.get("MonitoringScheduleName", ""),
                                               params.get("MonitoringScheduleConfig") or {}, params.get("Tags") or [])
        return AwsResponse(200, {"MonitoringScheduleArn": schedule.arn})

    def describe_monitoring_schedule(self, req: AwsRequest) -> AwsResponse:
        return AwsResponse(200, epoch_s(self._schedule(req).describe()))

    def update_monitoring_schedule(self, req: AwsRequest) -> AwsResponse:
        params = req.json()
        schedule = self.service.monitor.update(self._account(req), req.region, params.get("MonitoringScheduleName", ""),
                                               params.get("MonitoringScheduleConfig") or {})
        return AwsResponse(200, {"MonitoringScheduleArn": schedule.arn})

    def delete_monitoring_schedule(self, req: AwsRequest) -> AwsResponse:
        self.service.monitor.delete(self._account(req), req.region, req.json().get("MonitoringScheduleName", ""))
        return AwsResponse(200, {})

    def stop_monitoring_schedule(self, req: AwsRequest) -> AwsResponse:
        self.service.monitor.set_state(self._account(req), req.region, req.json().get("MonitoringScheduleName", ""),
                                       running=False)
        return AwsResponse(200, {})

    def start_monitoring_schedule(self, req: AwsRequest) -> AwsResponse:
        self.service.monitor.set_state(self._account(req), req.region, req.json().get("MonitoringScheduleName", ""),
                                       running=True)
        return AwsResponse(200, {})

    def list_monitoring_schedules(self, req: AwsRequest) -> AwsResponse:
        params = req.json()
        account = self._account(req)
        found = [s for (a, r, _), s in list(self.service.monitor.schedules.items()) if (a, r) == (account, req.region)]
        found = [s for s in found if _matches(params, {
            "EndpointName": s.endpoint_name, "NameContains": s.name, "StatusEquals": s.status,
            "MonitoringJobDefinitionName": s.job_definition_name, "MonitoringTypeEquals": s.monitoring_type,
            "CreationTime": s.creation_time, "LastModifiedTime": s.last_modified_time})]
        keys = {"Name": lambda s: s.name, "CreationTime": lambda s: s.creation_time, "Status": lambda s: s.status}
        page, token = _page(params, found, keys, "CreationTime")
        return AwsResponse(200, {"MonitoringScheduleSummaries": [epoch_s(s.summary()) for s in page], **token})

    def list_monitoring_executions(self, req: AwsRequest) -> AwsResponse:
        params = req.json()
        account = self._account(req)
        found = [e for (a, r, _), s in list(self.service.monitor.schedules.items()) if (a, r) == (account, req.region)
                 for e in list(s.executions)]
        found = [e for e in found if _matches(params, {
            "MonitoringScheduleName": e.schedule, "EndpointName": e.endpoint_name, "StatusEquals": e.status,
            "MonitoringJobDefinitionName": e.job_definition_name, "MonitoringTypeEquals": e.monitoring_type,
            "ScheduledTime": e.scheduled_time, "CreationTime": e.creation_time,
            "LastModifiedTime": e.last_modified_time})]
        keys = {"CreationTime": lambda e: e.creation_time, "ScheduledTime": lambda e: e.scheduled_time,
                "Status": lambda e: e.status}
        page, token = _page(params, found, keys, "ScheduledTime")
        return AwsResponse(200, {"MonitoringExecutionSummaries": [epoch_s(e.summary()) for e in page], **token})

    def _schedule(self, req: AwsRequest) -> Any:
        return self.service.monitor.get(self._account(req), req.region, req.json().get("MonitoringScheduleName", ""))

    def _account(self, req: AwsRequest) -> str:
        return self.cloud.backend("sagemaker", req.region).account_id

    # Data quality job definitions: moto keeps them; SageMaker refuses a second of a name and answers in its shapes.
    def create_data_quality_job_definition(self, req: AwsRequest) -> None:
        name = req.json().get("JobDefinitionName", "")
        found = self.cloud.backend("sagemaker", req.region).data_quality_job_definitions.get(name)
        if found is not None:
            raise ResourceInUse(f"Job definition {found.arn} already exists.")
        return None

    def after_describe_data_quality_job_definition(self, req: AwsRequest, status: int,
                                                   body: bytes) -> AwsResponse | None:
        return self._complete(status, body, lambda answer: _drop_keys(answer, "Tags", "Environment",
                                                                      "LastModifiedTime"))

    def after_list_data_quality_job_definitions(self, req: AwsRequest, status: int,
                                                body: bytes) -> AwsResponse | None:
        backend = self.cloud.backend("sagemaker", req.region)

        def complete(answer: dict[str, Any]) -> None:
            for summary in answer.get("JobDefinitionSummaries") or []:
                job = backend.data_quality_job_definitions.get(summary["MonitoringJobDefinitionName"])
                endpoint = ((getattr(job, "data_quality_job_input", None) or {}).get("EndpointInput") or {}).get(
                    "EndpointName")
                summary["EndpointName"] = endpoint or ""
        return self._complete(status, body, complete)

    def create_processing_job(self, req: AwsRequest) -> AwsResponse:
        runner = self.service.start_processing_job(req.region, req.json())
        return AwsResponse(200, {"ProcessingJobArn": runner.job.arn})

    def describe_processing_job(self, req: AwsRequest) -> AwsResponse:
        job = self._processing_job(req)
        return AwsResponse(200, epoch_s(processing_job_answer(job.response_object)))

    def stop_processing_job(self, req: AwsRequest) -> AwsResponse:
        job = self._processing_job(req)
        runner = self.service.processing_job(job.processing_job_name, req.region)
        if runner is None or job.processing_job_status != "InProgress":
            raise ValidationException(f"The request was rejected because the processing job is in status "
                                      f"{job.processing_job_status}.")
        runner.stop_requested.set()
        runner.set_status("Stopping")
        self.cloud.spawn(f"processing-{job.processing_job_name}-stop", runner.stop)
        return AwsResponse(200, {})

    def after_list_processing_jobs(self, req: AwsRequest, status: int, body: bytes) -> AwsResponse | None:
        backend = self.cloud.backend("sagemaker", req.region)

        def complete(answer: dict[str, Any]) -> None:
            for summary in answer.get("ProcessingJobSummaries") or []:
                job = backend.processing_jobs.get(summary["ProcessingJobName"])
                for key, value in (("FailureReason", getattr(job, "failure_reason", None)),
                                   ("ExitMessage", getattr(job, "exit_message", None))):
                    if value:
                        summary[key] = value
                _drop_empty(summary, "ProcessingEndTime")
        return self._complete(status, body, complete)

    def _processing_job(self, req: AwsRequest) -> Any:
        name = str(req.json().get("ProcessingJobName") or "")
        job = self.cloud.backend("sagemaker", req.region).processing_jobs.get(name)
        if job is None:
            raise ValidationException(f"Could not find requested job with name {name}")
        return job

    def after_describe_endpoint(self, req: AwsRequest, status: int, body: bytes) -> AwsResponse | None:
        return self._complete(status, body, lambda answer: endpoint_answer(
            answer, self.cloud.backend("sagemaker", req.region)))

    def after_describe_endpoint_config(self, req: AwsRequest, status: int, body: bytes) -> AwsResponse | None:
        return self._complete(status, body, endpoint_config_answer)

    def after_describe_model(self, req: AwsRequest, status: int, body: bytes) -> AwsResponse | None:
        return self._complete(status, body, model_answer)

    def after_describe_model_package(self, req: AwsRequest, status: int, body: bytes) -> AwsResponse | None:
        return self._complete(status, body, model_package_answer)

    def after_describe_model_package_group(self, req: AwsRequest, status: int, body: bytes) -> AwsResponse | None:
        return self._complete(status, body, model_package_group_answer)

    @staticmethod
    def _complete(status: int, body: bytes, complete: Any) -> AwsResponse | None:
        if status != 200:
            return None
        answer = json.loads(body)
        complete(answer)
        return AwsResponse(200, answer)


def _drop_keys(answer: dict[str, Any], *keys: str) -> None:
    for key in keys:
        answer.pop(key, None)


def _matches(params: dict[str, Any], values: dict[str, Any]) -> bool:
    """A List call's filters: equality, NameContains, and the <Time>Before / <Time>After bounds."""
    for key, value in values.items():
        if key.endswith("Time"):
            before, after = params.get(f"{key}Before"), params.get(f"{key}After")
            stamp = epoch_s(value)
            if (before is not None and stamp >= float(before)) or (after is not None and stamp <= float(after)):
                return False
        elif key == "NameContains":
            if params.get(key) and params[key] not in value:
                return False
        elif params.get(key) and params[key] != value:
            return False
    return True


def _page(params: dict[str, Any], items: list[Any], keys: dict[str, Any], default: str) -> tuple[list[Any],
                                                                                                dict[str, str]]:
    """Sorted (SortBy, SortOrder: Descending by default) and paged (MaxResults: 10 by default, NextToken)."""
    sort_by = params.get("SortBy") or default
    if sort_by not in keys:
        raise ValidationException(f"Value '{sort_by}' at 'sortBy' failed to satisfy constraint: Member must satisfy "
                                  f"enum value set: [{', '.join(keys)}]")
    ordered = sorted(items, key=keys[sort_by], reverse=(params.get("SortOrder") or "Descending") == "Descending")
    start = int(params.get("NextToken") or 0)
    size = int(params.get("MaxResults") or 10)
    following = {"NextToken": str(start + size)} if start + size < len(ordered) else {}
    return ordered[start:start + size], following


def _drop_empty(answer: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if key in answer and not answer[key]:
            del answer[key]


def endpoint_answer(answer: dict[str, Any], backend: Any) -> None:
    """DataCaptureConfig only where the endpoint captures, as the summary SageMaker gives (CaptureStatus and the
    current sampling percentage); none at all otherwise."""
    capture = answer.get("DataCaptureConfig") or {}
    config = getattr(backend.endpoint_configs.get(answer.get("EndpointConfigName")), "data_capture_config", None) or {}
    if not capture.get("DestinationS3Uri") and not config.get("DestinationS3Uri"):
        answer.pop("DataCaptureConfig", None)
        return
    enabled = bool(capture.get("EnableCapture", config.get("EnableCapture", False)))
    summary = {"EnableCapture": enabled, "CaptureStatus": "Started" if enabled else "Stopped",
               "CurrentSamplingPercentage": int(config.get("InitialSamplingPercentage", 100)),
               "DestinationS3Uri": capture.get("DestinationS3Uri") or config["DestinationS3Uri"]}
    if config.get("KmsKeyId"):
        summary["KmsKeyId"] = config["KmsKeyId"]
    answer["DataCaptureConfig"] = summary


def processing_job_answer(answer: dict[str, Any]) -> dict[str, Any]:
    """What DescribeProcessingJob returns: the request's parts (not its tags) and the run's."""
    answer.pop("Tags", None)
    return answer


def endpoint_config_answer(answer: dict[str, Any]) -> None:
    _drop_empty(answer, "DataCaptureConfig", "AsyncInferenceConfig")


def model_answer(answer: dict[str, Any]) -> None:
    if not (answer.get("VpcConfig") or {}).get("Subnets"):
        answer.pop("VpcConfig", None)
    if answer.get("PrimaryContainer"):
        _drop_empty(answer, "Containers")


def model_package_answer(answer: dict[str, Any]) -> None:
    # A versioned package is named by its group (its ARN ends in <group>/<version>).
    if not answer.get("ModelPackageName"):
        answer["ModelPackageName"] = answer.get("ModelPackageGroupName") or answer["ModelPackageArn"].rsplit("/", 1)[-1]


def model_package_group_answer(answer: dict[str, Any]) -> None:
    # Who created it: a Studio user profile or an IAM identity, of which the local cloud knows neither.
    answer.setdefault("CreatedBy", {})
