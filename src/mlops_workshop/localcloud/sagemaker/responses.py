"""SageMaker's protocol beyond moto: training jobs run and stop, endpoints update and answer InvokeEndpoint, model
packages and their groups can be deleted (moto lacks DeleteModelPackage(Group): without them a stack with the model
group cannot be deleted)."""

from __future__ import annotations

from urllib.parse import unquote

from ..protocol import AwsRequest, AwsResponse, BaseResponses
from .exceptions import ConflictException, ResourceInUse, ValidationException
from .training import TrainingJob


class SageMakerResponses(BaseResponses):
    def create_training_job(self, req: AwsRequest) -> None:
        name = req.json().get("TrainingJobName", "")
        backend = self.cloud.backend("sagemaker", req.region)
        if name in backend.training_jobs:
            raise ResourceInUse(f"Training job names must be unique within an AWS account and region, and a training "
                                f"job with this name already exists ({backend.training_jobs[name].arn})")
        return None

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
        body, out = self.service.endpoints.invoke(backend, unquote(req.path_params["name"]), req.body, headers)
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
