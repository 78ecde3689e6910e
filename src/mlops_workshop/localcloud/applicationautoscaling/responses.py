"""Application Auto Scaling's protocol beyond moto: DescribeScalingActivities (moto lacks it: the local cloud scales
nothing, so there are none), and each scalable target's RoleARN, the service-linked role AWS uses for it."""

from __future__ import annotations

import json

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
