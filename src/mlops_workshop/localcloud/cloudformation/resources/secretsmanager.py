"""AWS::SecretsManager::Secret through Secrets Manager's API, with GenerateSecretString as CloudFormation runs it
(a random password, alone or under GenerateStringKey of SecretStringTemplate)."""

from __future__ import annotations

import json
from typing import Any

from .base import LocalResource, as_bool, tag_list

PASSWORD_OPTIONS = {"ExcludeCharacters": str, "PasswordLength": int, "ExcludeLowercase": as_bool,
                    "ExcludeNumbers": as_bool, "ExcludePunctuation": as_bool, "ExcludeUppercase": as_bool,
                    "IncludeSpace": as_bool, "RequireEachIncludedType": as_bool}


class Secret(LocalResource):
    type_name = "AWS::SecretsManager::Secret"
    name_property = "Name"
    attributes = ("Id",)

    def _client(self) -> Any:
        return self.service.cloud.client("secretsmanager", self.region)

    def _secret_string(self) -> str | None:
        p = self.properties
        generate = p.get("GenerateSecretString")
        if not generate:
            return p.get("SecretString")
        options = {k: cast(generate[k]) for k, cast in PASSWORD_OPTIONS.items() if k in generate}
        password = self._client().get_random_password(**options)["RandomPassword"]
        if generate.get("SecretStringTemplate"):
            return json.dumps({**json.loads(generate["SecretStringTemplate"]),
                               generate["GenerateStringKey"]: password})
        return password

    def create(self) -> None:
        p = self.properties
        request: dict[str, Any] = {"Name": self.name}
        for key in ("Description", "KmsKeyId"):
            if p.get(key):
                request[key] = p[key]
        secret = self._secret_string()
        if secret is not None:
            request["SecretString"] = secret
        if p.get("Tags"):
            request["Tags"] = tag_list(p["Tags"])
        self.physical_id = self._client().create_secret(**request)["ARN"]
        self.values = {"Id": self.physical_id}

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        if new_name != self.name:
            return super().update(new_name, properties)
        old, self.properties = self.properties, properties
        request: dict[str, Any] = {"SecretId": self.physical_id}
        if properties.get("Description") != old.get("Description"):
            request["Description"] = properties.get("Description") or ""
        if (properties.get("SecretString"), properties.get("GenerateSecretString")) != (
                old.get("SecretString"), old.get("GenerateSecretString")):
            request["SecretString"] = self._secret_string() or ""
        if len(request) > 1:
            self._client().update_secret(**request)
        return self

    def remove(self) -> None:
        self._client().delete_secret(SecretId=self.physical_id, ForceDeleteWithoutRecovery=True)
