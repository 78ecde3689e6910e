"""AWS::SageMaker::Model / EndpointConfig / Endpoint / MonitoringSchedule: names honoured, endpoints waited for and
updated in place, monitoring schedules updated in place."""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

from .base import LocalResource, as_bool, sagemaker_request

log = logging.getLogger("mlops_workshop.localcloud.cloudformation")

DEFAULT_RESOURCE_TIMEOUT = 3600.0
# CloudFormation hands parameters over as strings; these members of a monitoring schedule are numbers in the API.
NUMBERS = {"InstanceCount", "VolumeSizeInGB", "MaxRuntimeInSeconds", "ProbabilityThresholdAttribute"}

def _sagemaker_name(name: str) -> str:
    return name[:63].rstrip("-")


class SageMakerModel(LocalResource):
    type_name = "AWS::SageMaker::Model"
    name_property = "ModelName"
    attributes = ("ModelName",)

    def create(self) -> None:
        p = self.properties
        self.name = _sagemaker_name(self.name)
        request = sagemaker_request(p, {"ModelName": self.name, "ExecutionRoleArn": p["ExecutionRoleArn"]},
                                     ("PrimaryContainer", "Containers", "VpcConfig", "InferenceExecutionConfig"))
        if p.get("EnableNetworkIsolation") is not None:
            request["EnableNetworkIsolation"] = as_bool(p["EnableNetworkIsolation"])
        self.physical_id = self.service.cloud.client("sagemaker", self.region).create_model(**request)["ModelArn"]
        self.values = {"ModelName": self.name}

    def remove(self) -> None:
        self.service.cloud.client("sagemaker", self.region).delete_model(ModelName=self.name)


class SageMakerEndpointConfig(LocalResource):
    type_name = "AWS::SageMaker::EndpointConfig"
    name_property = "EndpointConfigName"
    attributes = ("EndpointConfigName",)

    def create(self) -> None:
        p = self.properties
        self.name = _sagemaker_name(self.name)
        variants = copy.deepcopy(p.get("ProductionVariants") or [])
        for variant in variants:
            if "InitialInstanceCount" in variant:
                variant["InitialInstanceCount"] = int(variant["InitialInstanceCount"])
            if "InitialVariantWeight" in variant:
                variant["InitialVariantWeight"] = float(variant["InitialVariantWeight"])
        request = sagemaker_request(p, {"EndpointConfigName": self.name, "ProductionVariants": variants},
                                     ("KmsKeyId", "AsyncInferenceConfig"))
        if p.get("DataCaptureConfig"):
            capture = copy.deepcopy(p["DataCaptureConfig"])
            capture["EnableCapture"] = as_bool(capture.get("EnableCapture", True))
            if "InitialSamplingPercentage" in capture:
                capture["InitialSamplingPercentage"] = int(capture["InitialSamplingPercentage"])
            request["DataCaptureConfig"] = capture
        self.physical_id = self.service.cloud.client("sagemaker", self.region).create_endpoint_config(**request)["EndpointConfigArn"]
        self.values = {"EndpointConfigName": self.name}

    def remove(self) -> None:
        self.service.cloud.client("sagemaker", self.region).delete_endpoint_config(EndpointConfigName=self.name)


class SageMakerEndpoint(LocalResource):
    type_name = "AWS::SageMaker::Endpoint"
    name_property = "EndpointName"
    attributes = ("EndpointName",)

    def _wait(self, action: str) -> None:
        timeout = float(self.service.setting("resource_timeout_seconds", DEFAULT_RESOURCE_TIMEOUT))
        deadline = time.monotonic() + timeout
        client = self.service.cloud.client("sagemaker", self.region)
        while True:
            described = client.describe_endpoint(EndpointName=self.name)
            status = described["EndpointStatus"]
            if status == "InService":
                return
            if status == "Failed" or (action == "update" and status not in ("Updating", "Creating", "SystemUpdating")):
                raise RuntimeError(f"Endpoint {self.name} is {status}: "
                                   f"{described.get('FailureReason') or 'no failure reason given'}")
            if time.monotonic() >= deadline:
                raise RuntimeError(f"Endpoint {self.name} did not become InService within {timeout:g} seconds "
                                   f"(it is {status})")
            time.sleep(0.25)

    def create(self) -> None:
        p = self.properties
        self.name = _sagemaker_name(self.name)
        request = sagemaker_request(p, {"EndpointName": self.name, "EndpointConfigName": p["EndpointConfigName"]})
        client = self.service.cloud.client("sagemaker", self.region)
        self.physical_id = client.create_endpoint(**request)["EndpointArn"]
        self.values = {"EndpointName": self.name}
        try:
            self._wait("create")
        except Exception:
            # A failed endpoint is removed, as CloudFormation's rollback would.
            try:
                client.delete_endpoint(EndpointName=self.name)
            except Exception:
                log.info("could not remove failed endpoint %s", self.name)
            raise

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        if _sagemaker_name(new_name) != self.name:
            return super().update(new_name, properties)
        self.properties = properties
        request: dict[str, Any] = {"EndpointName": self.name, "EndpointConfigName": properties["EndpointConfigName"]}
        if properties.get("RetainAllVariantProperties") is not None:
            request["RetainAllVariantProperties"] = as_bool(properties["RetainAllVariantProperties"])
        if properties.get("ExcludeRetainedVariantProperties"):
            request["ExcludeRetainedVariantProperties"] = properties["ExcludeRetainedVariantProperties"]
        if properties.get("RetainDeploymentConfig") is not None:
            request["RetainDeploymentConfig"] = as_bool(properties["RetainDeploymentConfig"])
        client = self.service.cloud.client("sagemaker", self.region)
        current = client.describe_endpoint(EndpointName=self.name)
        if current.get("EndpointConfigName") != properties["EndpointConfigName"]:
            client.update_endpoint(**request)
            self._wait("update")
        return self

    def remove(self) -> None:
        self.service.cloud.client("sagemaker", self.region).delete_endpoint(EndpointName=self.name)


def _numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (float(v) if k == "ProbabilityThresholdAttribute" else int(v)) if k in NUMBERS
                and isinstance(v, str) else _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


class SageMakerMonitoringSchedule(LocalResource):
    type_name = "AWS::SageMaker::MonitoringSchedule"
    name_property = "MonitoringScheduleName"
    attributes = ("MonitoringScheduleArn", "CreationTime", "LastModifiedTime")

    def create(self) -> None:
        self.name = _sagemaker_name(self.name)
        request = sagemaker_request(self.properties, {
            "MonitoringScheduleName": self.name,
            "MonitoringScheduleConfig": _numbers(copy.deepcopy(self.properties["MonitoringScheduleConfig"]))})
        client = self.service.cloud.client("sagemaker", self.region)
        self.physical_id = client.create_monitoring_schedule(**request)["MonitoringScheduleArn"]
        self._read(client)

    def _read(self, client: Any) -> None:
        described = client.describe_monitoring_schedule(MonitoringScheduleName=self.name)
        self.values = {"MonitoringScheduleArn": described["MonitoringScheduleArn"],
                       "CreationTime": described["CreationTime"].isoformat(),
                       "LastModifiedTime": described["LastModifiedTime"].isoformat()}

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        if _sagemaker_name(new_name) != self.name:
            return super().update(new_name, properties)
        self.properties = properties
        client = self.service.cloud.client("sagemaker", self.region)
        # An update waits while the schedule is Pending, as SageMaker refuses to update it then.
        deadline = time.monotonic() + float(self.service.setting("resource_timeout_seconds", DEFAULT_RESOURCE_TIMEOUT))
        while client.describe_monitoring_schedule(MonitoringScheduleName=self.name)[
                "MonitoringScheduleStatus"] == "Pending" and time.monotonic() < deadline:
            time.sleep(0.25)
        client.update_monitoring_schedule(
            MonitoringScheduleName=self.name,
            MonitoringScheduleConfig=_numbers(copy.deepcopy(properties["MonitoringScheduleConfig"])))
        self._read(client)
        return self

    def remove(self) -> None:
        self.service.cloud.client("sagemaker", self.region).delete_monitoring_schedule(
            MonitoringScheduleName=self.name)
