"""AWS::ApplicationAutoScaling::ScalableTarget / ScalingPolicy."""

from __future__ import annotations

import copy
from typing import Any

from .base import LocalResource, as_bool


class ScalableTarget(LocalResource):
    type_name = "AWS::ApplicationAutoScaling::ScalableTarget"
    attributes = ("Id",)

    def _request(self) -> dict[str, Any]:
        p = self.properties
        request = {"ServiceNamespace": p["ServiceNamespace"], "ResourceId": p["ResourceId"],
                   "ScalableDimension": p["ScalableDimension"], "MinCapacity": int(p["MinCapacity"]),
                   "MaxCapacity": int(p["MaxCapacity"])}
        if p.get("RoleARN"):
            request["RoleARN"] = p["RoleARN"]
        return request

    def create(self) -> None:
        request = self._request()
        self.client("application-autoscaling").register_scalable_target(**request)
        self.physical_id = f"{request['ResourceId']}|{request['ScalableDimension']}|{request['ServiceNamespace']}"
        self.values = {"Id": self.physical_id}

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        old = self._request()
        new = type(self)(new_name, properties, self.region, self.logical_id, self.stack_id)._request()
        if any(old[k] != new[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")):
            return super().update(new_name, properties)
        self.properties = properties
        self.client("application-autoscaling").register_scalable_target(**new)
        return self

    def remove(self) -> None:
        request = self._request()
        self.client("application-autoscaling").deregister_scalable_target(
            ServiceNamespace=request["ServiceNamespace"], ResourceId=request["ResourceId"],
            ScalableDimension=request["ScalableDimension"])


class ScalingPolicy(LocalResource):
    type_name = "AWS::ApplicationAutoScaling::ScalingPolicy"
    attributes = ("Arn",)

    def _target(self) -> dict[str, str]:
        p = self.properties
        if p.get("ScalingTargetId"):
            resource_id, dimension, namespace = str(p["ScalingTargetId"]).split("|")
            return {"ResourceId": resource_id, "ScalableDimension": dimension, "ServiceNamespace": namespace}
        return {"ResourceId": p["ResourceId"], "ScalableDimension": p["ScalableDimension"],
                "ServiceNamespace": p["ServiceNamespace"]}

    def create(self) -> None:
        p = self.properties
        request: dict[str, Any] = {"PolicyName": p["PolicyName"], "PolicyType": p.get("PolicyType"),
                                   **self._target()}
        if p.get("TargetTrackingScalingPolicyConfiguration"):
            config = copy.deepcopy(p["TargetTrackingScalingPolicyConfiguration"])
            config["TargetValue"] = float(config["TargetValue"])
            for key in ("ScaleInCooldown", "ScaleOutCooldown"):
                if key in config:
                    config[key] = int(config[key])
            if "DisableScaleIn" in config:
                config["DisableScaleIn"] = as_bool(config["DisableScaleIn"])
            request["TargetTrackingScalingPolicyConfiguration"] = config
        if p.get("StepScalingPolicyConfiguration"):
            request["StepScalingPolicyConfiguration"] = p["StepScalingPolicyConfiguration"]
        response = self.client("application-autoscaling").put_scaling_policy(**request)
        self.physical_id = response["PolicyARN"]
        self.values = {"Arn": self.physical_id}

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        if properties.get("PolicyName") != self.properties.get("PolicyName"):
            return super().update(new_name, properties)
        self.properties = properties
        self.create()
        return self

    def remove(self) -> None:
        self.client("application-autoscaling").delete_scaling_policy(
            PolicyName=self.properties["PolicyName"], **self._target())
