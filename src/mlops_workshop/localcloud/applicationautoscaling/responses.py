"""Application Auto Scaling's protocol beyond moto: DescribeScalingActivities (moto lacks it: the local cloud scales
nothing, so there are none), and each scalable target's RoleARN, the service-linked role AWS uses for it.

What Application Auto Scaling does with the caller's permissions (its user guide: "Permissions required to create a
service-linked role", "Permissions required for API actions on target services and CloudWatch") is judged as the
caller: the first registration in a namespace makes its service-linked role (iam:CreateServiceLinkedRole), a
target-tracking policy makes its two alarms (cloudwatch:PutMetricAlarm, DescribeAlarms) and deleting it deletes them
(cloudwatch:DeleteAlarms)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from ..protocol import AwsRequest, AwsResponse, BaseResponses
from ..server import ACCOUNT_ID

# The service-linked role Application Auto Scaling makes and uses for each namespace.
LINKED_ROLES = {
    "sagemaker": ("sagemaker.application-autoscaling.amazonaws.com/"
                  "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"),
    "ecs": "ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService",
    "dynamodb": "dynamodb.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_DynamoDBTable",
    "lambda": "lambda.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_LambdaConcurrency",
}


class ApplicationAutoScalingResponses(BaseResponses):
    def register_scalable_target(self, req: AwsRequest) -> AwsResponse | None:
        params = req.json()
        linked = LINKED_ROLES.get(params.get("ServiceNamespace", ""))
        if not linked or params.get("RoleARN"):
            return None
        service, name = linked.split("/")
        from moto.iam.models import iam_backends
        backend = iam_backends[ACCOUNT_ID]["aws"]
        if any(role.name == name for role in backend.roles.values()):
            return None
        refused = self._refused([("iam:CreateServiceLinkedRole", f"arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/"
                                  f"{linked}")], {"iam:AWSServiceName": service})
        if refused is None:
            trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": service},
                                                             "Action": "sts:AssumeRole"}]}
            backend.create_role(name, json.dumps(trust), f"/aws-service-role/{service}/", None,
                                "Service-linked role of Application Auto Scaling", [], None, linked_service=service)
        return refused

    def put_scaling_policy(self, req: AwsRequest) -> AwsResponse | None:
        params = req.json()
        if params.get("PolicyType") != "TargetTrackingScaling":
            return None
        return self._refused([(action, alarm) for alarm in _alarms(req.region, params)
                              for action in ("cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms")])

    def delete_scaling_policy(self, req: AwsRequest) -> AwsResponse | None:
        return self._refused([("cloudwatch:DeleteAlarms", alarm) for alarm in _alarms(req.region, req.json())])

    def _refused(self, needs: list[tuple[str, str]], context: dict[str, Any] | None = None) -> AwsResponse | None:
        iam = self.cloud.service("iam")
        caller = iam.caller()
        if caller is None or caller.kind == "administrator":
            return None
        for action, resource in needs:
            verdict = iam.judge(caller, action, resource, context=context)
            if not verdict.allowed:
                return verdict.response
        return None

    def describe_scaling_activities(self, req: AwsRequest) -> AwsResponse:
        return AwsResponse(200, {"ScalingActivities": []})

    def after_describe_scalable_targets(self, req: AwsRequest, status: int, body: bytes) -> AwsResponse | None:
        if status != 200:
            return None
        answer = json.loads(body)
        for target in answer.get("ScalableTargets", []):
            linked = LINKED_ROLES.get(target.get("ServiceNamespace", ""))
            if not target.get("RoleARN") and linked:
                target["RoleARN"] = f"arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/{linked}"
        return AwsResponse(200, answer)


def _alarms(region: str, params: dict[str, Any]) -> list[str]:
    """The alarms of a target-tracking policy, named as Application Auto Scaling names them (TargetTracking-<resource
    id>-AlarmHigh-<uuid>, ...-AlarmLow-<uuid>; the uuid here derived from the policy)."""
    resource = params.get("ResourceId", "")
    key = uuid.uuid5(uuid.NAMESPACE_URL, f"{params.get('ServiceNamespace')}/{resource}/{params.get('PolicyName')}")
    return [f"arn:aws:cloudwatch:{region}:{ACCOUNT_ID}:alarm:TargetTracking-{resource}-{kind}-{key}"
            for kind in ("AlarmHigh", "AlarmLow")]
