"""CodePipeline's action providers, one module per family: each runs one action to its end and returns an
ActionResult, or raises ActionFailed with the action's own message."""

from __future__ import annotations

from .approval import manual_approval
from .cloudformation import cloudformation_deploy
from .codebuild import codebuild_build
from .lambda_invoke import invoke_lambda
from .source import codecommit_source, s3_source
from .stepfunctions import stepfunctions_invoke

PROVIDERS = {
    ("Source", "S3"): s3_source,
    ("Source", "CodeCommit"): codecommit_source,
    ("Invoke", "Lambda"): invoke_lambda,
    ("Approval", "Manual"): manual_approval,
    ("Build", "CodeBuild"): codebuild_build,
    ("Test", "CodeBuild"): codebuild_build,
    ("Deploy", "CloudFormation"): cloudformation_deploy,
    ("Invoke", "StepFunctions"): stepfunctions_invoke,
}
