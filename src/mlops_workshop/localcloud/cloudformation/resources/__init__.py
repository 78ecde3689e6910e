"""The resource types moto lacks or gets wrong for the project's templates, one module per family."""

from __future__ import annotations

from .autoscaling import ScalableTarget, ScalingPolicy
from .base import LocalResource
from .cloudwatch import CloudWatchAlarm
from .codebuild import CodeBuildProject
from .codepipeline import CodePipelinePipeline
from .custom import CustomResource
from .sagemaker import SageMakerEndpoint, SageMakerEndpointConfig, SageMakerModel

RESOURCE_TYPES: dict[str, type[LocalResource]] = {
    cls.type_name: cls for cls in (CodeBuildProject, CodePipelinePipeline, SageMakerModel, SageMakerEndpointConfig,
                                   SageMakerEndpoint, ScalableTarget, ScalingPolicy, CloudWatchAlarm, CustomResource)
}

__all__ = ["RESOURCE_TYPES", "CustomResource", "LocalResource"]
