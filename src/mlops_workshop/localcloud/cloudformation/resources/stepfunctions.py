"""AWS::StepFunctions::StateMachine through the Step Functions API: moto's own puts state machines in a backend the
API does not read (its interpreter's), and drops Definition, DefinitionS3Location and DefinitionSubstitutions."""

from __future__ import annotations

import json
from typing import Any

from .base import LocalResource, camel, tag_list


class StateMachine(LocalResource):
    type_name = "AWS::StepFunctions::StateMachine"
    name_property = "StateMachineName"
    attributes = ("Arn", "Name", "StateMachineRevisionId")

    def _definition(self) -> str:
        p = self.properties
        if p.get("Definition") is not None:
            text = json.dumps(p["Definition"])
        elif p.get("DefinitionS3Location"):
            location = p["DefinitionS3Location"]
            request = {"Bucket": location["Bucket"], "Key": location["Key"],
                       **({"VersionId": location["Version"]} if location.get("Version") else {})}
            text = self.service.cloud.client("s3", self.region).get_object(**request)["Body"].read().decode()
        else:
            text = str(p.get("DefinitionString") or "")
        for key, value in (p.get("DefinitionSubstitutions") or {}).items():
            text = text.replace("${" + key + "}", str(value).lower() if isinstance(value, bool) else str(value))
        return text

    def _optional(self) -> dict[str, Any]:
        p = self.properties
        request: dict[str, Any] = {}
        if p.get("LoggingConfiguration"):
            request["loggingConfiguration"] = camel(p["LoggingConfiguration"])
        if p.get("TracingConfiguration"):
            request["tracingConfiguration"] = camel(p["TracingConfiguration"])
        return request

    def create(self) -> None:
        self.name = self.name[:80]
        answer = self.service.cloud.client("stepfunctions", self.region).create_state_machine(
            name=self.name, definition=self._definition(), roleArn=self.properties["RoleArn"],
            type=self.properties.get("StateMachineType", "STANDARD"),
            tags=tag_list(self.properties.get("Tags"), "key", "value"), **self._optional())
        self.physical_id = answer["stateMachineArn"]
        self.values = {"Arn": self.physical_id, "Name": self.name,
                       "StateMachineRevisionId": answer.get("stateMachineVersionArn") or self.physical_id}

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        if new_name[:80] != self.name or properties.get("StateMachineType") != self.properties.get("StateMachineType"):
            return super().update(new_name, properties)
        self.properties = properties
        self.service.cloud.client("stepfunctions", self.region).update_state_machine(
            stateMachineArn=self.physical_id, definition=self._definition(), roleArn=properties["RoleArn"],
            **self._optional())
        return self

    def remove(self) -> None:
        self.service.cloud.client("stepfunctions", self.region).delete_state_machine(stateMachineArn=self.physical_id)
