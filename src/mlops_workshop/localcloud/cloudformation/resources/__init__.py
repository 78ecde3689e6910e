"""The resource types moto lacks or gets wrong for the project's templates, one module per family."""

from __future__ import annotations

from .autoscaling import ScalableTarget, ScalingPolicy
from .base import LocalResource
from .codebuild import CodeBuildProject
from .codepipeline import CodePipelinePipeline
from .custom import CustomResource
from .sagemaker import SageMakerEndpoint, SageMakerEndpointConfig, SageMakerModel, SageMakerMonitoringSchedule

RESOURCE_TYPES: dict[str, type[LocalResource]] = {
    cls.type_name: cls for cls in (CodeBuildProject, CodePipelinePipeline, SageMakerModel, SageMakerEndpointConfig,
                                   SageMakerEndpoint, SageMakerMonitoringSchedule, ScalableTarget, ScalingPolicy,
                                   CustomResource)
}

__all__ = ["RESOURCE_TYPES", "CustomResource", "LocalResource"]
