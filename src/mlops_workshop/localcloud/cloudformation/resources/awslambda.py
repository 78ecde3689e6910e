"""AWS::Lambda::Function through Lambda's CreateFunction, as CloudFormation makes it: what Lambda refuses (a
deprecated runtime, a missing role or package) fails the resource with Lambda's message, and every property
CreateFunction takes is kept (moto's own drops Layers, Architectures and most of the configuration)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from .base import LocalResource

# Properties passed to CreateFunction and UpdateFunctionConfiguration as they are.
CONFIGURATION = ("Handler", "Runtime", "Description", "Environment", "Layers", "VpcConfig", "TracingConfig",
                 "DeadLetterConfig", "KMSKeyArn", "EphemeralStorage", "ImageConfig", "LoggingConfig", "SnapStart",
                 "FileSystemConfigs")
NUMBERS = ("MemorySize", "Timeout")
INLINE_FILES = {"python": "index.py", "nodejs": "index.js"}
CFN_RESPONSE = Path(__file__).with_name("cfnresponse.py")


class LambdaFunction(LocalResource):
    type_name = "AWS::Lambda::Function"
    name_property = "FunctionName"
    attributes = ("Arn", "SnapStartResponse", "SnapStartResponse.ApplyOn", "SnapStartResponse.OptimizationStatus")

    def _client(self) -> Any:
        return self.service.cloud.client("lambda", self.region)

    def _configuration(self) -> dict[str, Any]:
        p = self.properties
        request = {key: p[key] for key in CONFIGURATION if p.get(key) is not None}
        request.update({key: int(p[key]) for key in NUMBERS if p.get(key) is not None})
        if p.get("Role"):
            request["Role"] = p["Role"]
        return request

    def _code(self) -> dict[str, Any]:
        code = dict(self.properties.get("Code") or {})
        if "ZipFile" in code:
            # Inline code is the function's index file, as CloudFormation packages it.
            runtime = str(self.properties.get("Runtime", "python"))
            name = next((f for prefix, f in INLINE_FILES.items() if runtime.startswith(prefix)), "index")
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr(name, str(code["ZipFile"]))
                if name == "index.py":  # CloudFormation's cfn-response module comes with inline Python code
                    archive.write(CFN_RESPONSE, "cfnresponse.py")
            code["ZipFile"] = buffer.getvalue()
        return code

    def create(self) -> None:
        self.name = self.name[:64].rstrip("-")
        p = self.properties
        request = {"FunctionName": self.name, "Code": self._code(), **self._configuration()}
        for key in ("PackageType", "Architectures", "CodeSigningConfigArn"):
            if p.get(key):
                request[key] = p[key]
        if p.get("Tags"):
            request["Tags"] = {str(t["Key"]): str(t["Value"]) for t in p["Tags"]}
        answer = self._client().create_function(**request)
        if p.get("ReservedConcurrentExecutions") is not None:
            self._client().put_function_concurrency(
                FunctionName=self.name, ReservedConcurrentExecutions=int(p["ReservedConcurrentExecutions"]))
        self.physical_id = self.name
        self.values = {"Arn": answer["FunctionArn"]}

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        if new_name[:64].rstrip("-") != self.name or properties.get("PackageType") != self.properties.get(
                "PackageType"):
            return super().update(new_name, properties)
        old = self.properties
        self.properties = properties
        client = self._client()
        if properties.get("Code") != old.get("Code") or properties.get("Architectures") != old.get("Architectures"):
            code = self._code()
            request = {"ZipFile": code["ZipFile"]} if "ZipFile" in code else {
                key: code[key] for key in ("S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri") if key in code}
            if properties.get("Architectures"):
                request["Architectures"] = properties["Architectures"]
            client.update_function_code(FunctionName=self.name, **request)
        client.update_function_configuration(FunctionName=self.name, **self._configuration())
        return self

    def remove(self) -> None:
        self._client().delete_function(FunctionName=self.name)


class LayerVersion(LocalResource):
    """A layer version through PublishLayerVersion; its Ref and physical id are its ARN, as on AWS."""

    type_name = "AWS::Lambda::LayerVersion"
    name_property = "LayerName"
    attributes = ("LayerVersionArn",)

    def create(self) -> None:
        p = self.properties
        content = {key: p["Content"][key] for key in ("S3Bucket", "S3Key", "S3ObjectVersion") if key in p["Content"]}
        request = {"LayerName": self.name[:140], "Content": content,
                   **{key: p[key] for key in ("Description", "CompatibleRuntimes", "CompatibleArchitectures",
                                              "LicenseInfo") if p.get(key)}}
        answer = self.service.cloud.client("lambda", self.region).publish_layer_version(**request)
        self.physical_id = answer["LayerVersionArn"]
        self.values = {"LayerVersionArn": self.physical_id}

    def remove(self) -> None:
        name, version = self.physical_id.rsplit(":", 2)[-2:]
        self.service.cloud.client("lambda", self.region).delete_layer_version(LayerName=name,
                                                                              VersionNumber=int(version))
