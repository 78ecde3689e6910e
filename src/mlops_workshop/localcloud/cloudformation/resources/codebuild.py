"""AWS::CodeBuild::Project, which moto's CloudFormation skips."""

from __future__ import annotations

from typing import Any

from .base import LocalResource, as_bool, camel, tag_list


class CodeBuildProject(LocalResource):
    type_name = "AWS::CodeBuild::Project"
    name_property = "Name"
    attributes = ("Arn",)

    def _request(self) -> dict[str, Any]:
        p = self.properties
        special = {"BuildSpec": "buildspec", "CloudWatchLogs": "cloudWatchLogs", "S3Logs": "s3Logs"}
        environment = camel(p.get("Environment") or {}, special)
        if "privilegedMode" in environment:
            environment["privilegedMode"] = as_bool(environment["privilegedMode"])
        for variable in environment.get("environmentVariables") or []:
            variable["value"] = str(variable.get("value", ""))
        request: dict[str, Any] = {
            "name": self.name,
            "source": camel(p.get("Source") or {}, special),
            "artifacts": camel(p.get("Artifacts") or {"Type": "NO_ARTIFACTS"}, special),
            "environment": environment,
            "serviceRole": p.get("ServiceRole", ""),
        }
        for key, target in (("Description", "description"), ("TimeoutInMinutes", "timeoutInMinutes"),
                            ("QueuedTimeoutInMinutes", "queuedTimeoutInMinutes"), ("SourceVersion", "sourceVersion"),
                            ("EncryptionKey", "encryptionKey")):
            if p.get(key) is not None:
                request[target] = int(p[key]) if target.endswith("Minutes") else p[key]
        if p.get("LogsConfig"):
            request["logsConfig"] = camel(p["LogsConfig"], special)
        if p.get("Cache"):
            request["cache"] = camel(p["Cache"], special)
        if p.get("SecondarySources"):
            request["secondarySources"] = camel(p["SecondarySources"], special)
        if p.get("SecondaryArtifacts"):
            request["secondaryArtifacts"] = camel(p["SecondaryArtifacts"], special)
        if p.get("Tags"):
            request["tags"] = tag_list(p["Tags"], "key", "value")
        return request

    # moto's CreateProject wrongly wants a location for CODEPIPELINE sources and has no UpdateProject,
    # so projects go to its backend directly.
    def _save(self, operation: str = "CreateProject") -> None:
        request = self._request()
        self.judged("codebuild", operation, request)
        backend = self.service.cloud.backend("codebuild", self.region)
        history = backend.build_history.get(self.name)
        metadata = backend.create_project(
            request["name"], request.get("description"), request["source"], request["artifacts"],
            request["environment"], request["serviceRole"], request.get("tags"), request.get("cache"),
            request.get("timeoutInMinutes"), request.get("queuedTimeoutInMinutes"), request.get("sourceVersion"),
            request.get("logsConfig"), None)
        if history:
            backend.build_history[self.name] = history
        self.values = {"Arn": metadata["arn"]}

    def create(self) -> None:
        if self.name in self.service.cloud.backend("codebuild", self.region).codebuild_projects:
            raise ValueError(f"{self.name} already exists (Service: AWSCodeBuild; Error Code: "
                             f"ResourceAlreadyExistsException)")
        self._save()

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        if new_name != self.name:
            return super().update(new_name, properties)
        self.properties = properties
        self._save("UpdateProject")
        return self

    def remove(self) -> None:
        self.judged("codebuild", "DeleteProject", {"name": self.name})
        self.service.cloud.backend("codebuild", self.region).delete_project(self.name)
