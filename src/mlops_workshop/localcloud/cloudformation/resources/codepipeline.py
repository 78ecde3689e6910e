"""AWS::CodePipeline::Pipeline, which moto's CloudFormation skips: created through the API, so an execution
starts on create, as on AWS."""

from __future__ import annotations

import json
from typing import Any

from .base import LocalResource, as_bool, camel, tag_list


class CodePipelinePipeline(LocalResource):
    type_name = "AWS::CodePipeline::Pipeline"
    name_property = "Name"
    attributes = ("Version",)

    def _definition(self) -> dict[str, Any]:
        p = self.properties
        stages = []
        for stage in p.get("Stages") or []:
            actions = []
            for action in stage.get("Actions") or []:
                item: dict[str, Any] = {
                    "name": action["Name"],
                    "actionTypeId": camel(action["ActionTypeId"]),
                    "runOrder": int(action.get("RunOrder", 1)),
                    "configuration": {k: (str(v).lower() if isinstance(v, bool) else
                                          v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list))
                                          else str(v)) for k, v in (action.get("Configuration") or {}).items()},
                    "inputArtifacts": [{"name": a["Name"]} for a in action.get("InputArtifacts") or []],
                    "outputArtifacts": [{"name": a["Name"]} for a in action.get("OutputArtifacts") or []],
                }
                for key in ("RoleArn", "Region", "Namespace"):
                    if action.get(key):
                        item[key[:1].lower() + key[1:]] = action[key]
                if action.get("TimeoutInMinutes"):
                    item["timeoutInMinutes"] = int(action["TimeoutInMinutes"])
                actions.append(item)
            stages.append({"name": stage["Name"], "actions": actions})
        definition: dict[str, Any] = {"name": self.name, "roleArn": p.get("RoleArn", ""), "stages": stages}
        if p.get("ArtifactStore"):
            definition["artifactStore"] = camel(p["ArtifactStore"])
        if p.get("ArtifactStores"):
            definition["artifactStores"] = {s["Region"]: camel(s["ArtifactStore"]) for s in p["ArtifactStores"]}
        if p.get("PipelineType"):
            definition["pipelineType"] = p["PipelineType"]
        if p.get("ExecutionMode"):
            definition["executionMode"] = p["ExecutionMode"]
        if p.get("Variables"):
            definition["variables"] = camel(p["Variables"])
        return definition

    def create(self) -> None:
        kwargs: dict[str, Any] = {"pipeline": self._definition()}
        if self.properties.get("Tags"):
            kwargs["tags"] = tag_list(self.properties["Tags"], "key", "value")
        # CreatePipeline through the API starts the first execution, as on AWS.
        pipeline = self.client("codepipeline").create_pipeline(**kwargs)["pipeline"]
        self.values = {"Version": str(pipeline.get("version", 1))}

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        if new_name != self.name:
            return super().update(new_name, properties)
        self.properties = properties
        client = self.client("codepipeline")
        pipeline = client.update_pipeline(pipeline=self._definition())["pipeline"]
        self.values = {"Version": str(pipeline.get("version", 1))}
        if as_bool(properties.get("RestartExecutionOnUpdate", False)):
            client.start_pipeline_execution(name=self.name)
        return self

    def remove(self) -> None:
        self.client("codepipeline").delete_pipeline(name=self.name)
