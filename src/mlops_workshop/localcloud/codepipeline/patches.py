"""What the CodePipeline service replaces in moto: CreatePipeline accepts a role whose trust policy lists CodePipeline
among other services (as AWS does; moto wants CodePipeline alone), and refuses a pipeline of fewer than two stages."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from moto.codepipeline.models import CodePipelineBackend

if TYPE_CHECKING:
    from .service import CodePipelineService


def apply(service: "CodePipelineService") -> None:
    service.patches.replace(CodePipelineBackend, "create_pipeline", create_pipeline)


def create_pipeline(self: Any, pipeline: dict[str, Any], tags: list[dict[str, str]]) -> Any:
    """moto's CreatePipeline, with a role trusting CodePipeline among a list of services accepted, as AWS does."""
    from moto.codepipeline.exceptions import InvalidStructureException
    from moto.codepipeline.models import CodePipeline
    from moto.iam.exceptions import NotFoundException
    if pipeline["name"] in self.pipelines:
        raise InvalidStructureException(
            f"A pipeline with the name '{pipeline['name']}' already exists in account '{self.account_id}'")
    try:
        role = self.iam_backend.get_role_by_arn(pipeline["roleArn"])
        services: list[str] = []
        for statement in json.loads(role.assume_role_policy_document)["Statement"]:
            service = (statement.get("Principal") or {}).get("Service", [])
            services += [service] if isinstance(service, str) else list(service)
        trusted = "codepipeline.amazonaws.com" in services
    except NotFoundException:
        trusted = False
    if not trusted:
        raise InvalidStructureException(
            f"CodePipeline is not authorized to perform AssumeRole on role {pipeline['roleArn']}")
    if len(pipeline["stages"]) < 2:
        raise InvalidStructureException(
            f"Pipeline has only {len(pipeline['stages'])} stage(s). There should be a minimum of 2 stages in a pipeline")
    created = CodePipeline(self.account_id, self.region_name, pipeline)
    if tags:
        created.validate_tags(tags)
        created.tags.update({tag["key"]: tag["value"] for tag in tags})
    self.pipelines[pipeline["name"]] = created
    return pipeline, sorted(tags or [], key=lambda i: i["key"])
