"""The resource types moto lacks or gets wrong for the project's templates, one module per family."""

from __future__ import annotations

from .autoscaling import ScalableTarget, ScalingPolicy
from .awslambda import LambdaFunction, LayerVersion
from .base import LocalResource
from .cdk import CdkMetadata
from .cloudwatch import CloudWatchAlarm
from .codebuild import CodeBuildProject
from .codepipeline import CodePipelinePipeline
from .custom import CustomResource
from .glue import GlueJob
from .policies import BucketPolicy, QueuePolicy
from .sagemaker import SageMakerEndpoint, SageMakerEndpointConfig, SageMakerModel, SageMakerMonitoringSchedule
from .secretsmanager import Secret
from .stepfunctions import StateMachine

RESOURCE_TYPES: dict[str, type[LocalResource]] = {
    cls.type_name: cls for cls in (CodeBuildProject, CodePipelinePipeline, SageMakerModel, SageMakerEndpointConfig,
                                   SageMakerEndpoint, SageMakerMonitoringSchedule, ScalableTarget, ScalingPolicy,
                                   CustomResource, LambdaFunction, StateMachine, LayerVersion, BucketPolicy,
                                   QueuePolicy, Secret, CloudWatchAlarm, CdkMetadata, GlueJob)
}

__all__ = ["RESOURCE_TYPES", "CustomResource", "LocalResource"]
