"""Lambda-backed custom resources: Create, Update and Delete requests with a working ResponseURL; a FAILED answer
fails the resource."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from .base import LocalResource, stringify

DEFAULT_CUSTOM_RESOURCE_TIMEOUT = 3600.0
# After a custom resource's function failed, how long an answer it sent just before may take to arrive.
CUSTOM_RESOURCE_ERROR_GRACE = 1.0

class CustomResource(LocalResource):
    """A Lambda-backed custom resource: each request invokes the function and waits for its ResponseURL."""

    type_name = "AWS::CloudFormation::CustomResource"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.resource_type = "AWS::CloudFormation::CustomResource"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any],
                                        account_id: str, region_name: str, **kwargs: Any) -> Any:
        resource = cls(resource_name, cloudformation_json.get("Properties") or {}, region_name,
                       kwargs.get("LogicalId", ""), kwargs.get("StackId", ""))
        resource.resource_type = kwargs.get("ResourceType", cls.type_name)
        resource.build()
        return resource

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self.values:
            raise ValueError(f"CustomResource attribute error: Vendor response doesn't contain {attribute_name} key "
                             f"in object {self.stack_id}|{self.logical_id}|{self.physical_id}")
        return self.values[attribute_name]

    def _request(self, request_type: str, extra: dict[str, Any]) -> dict[str, Any]:
        token = self.properties.get("ServiceToken")
        if not token:
            raise ValueError("The custom resource has no ServiceToken property: give it the ARN of its Lambda function")
        if ":lambda:" not in str(token):
            raise ValueError(f"ServiceToken {token} is not a Lambda function ARN; the local cloud runs Lambda-backed "
                             f"custom resources only")
        request_id = str(uuid.uuid4())
        event = {
            "RequestType": request_type,
            "ServiceToken": token,
            "ResponseURL": f"{self.service.cloud.endpoint_url}/_localcloud/cloudformation/response/{request_id}",
            "StackId": self.stack_id,
            "RequestId": request_id,
            "LogicalResourceId": self.logical_id,
            "ResourceType": self.resource_type,
            "ResourceProperties": stringify(self.properties),
            **extra,
        }
        slot: dict[str, Any] = {"event": threading.Event(), "request": event}
        with self.service.pending_lock:
            self.service.pending[request_id] = slot
        invoked = threading.Event()
        invocation: dict[str, Any] = {}

        def invoke() -> None:
            from botocore.exceptions import ClientError
            try:
                response = self.client("lambda", read_timeout=960).invoke(
                    FunctionName=token, InvocationType="RequestResponse", Payload=json.dumps(event).encode())
                payload = response["Payload"].read()
                if response.get("FunctionError"):
                    try:
                        body = json.loads(payload)
                        invocation["error"] = f"{body.get('errorType', 'Error')}: {body.get('errorMessage', '')}"
                    except ValueError:
                        invocation["error"] = payload.decode(errors="replace")
            except ClientError as exc:
                invocation["error"] = f"{exc.response['Error']['Code']}: {exc.response['Error'].get('Message', '')}"
            except Exception as exc:
                invocation["error"] = f"{type(exc).__name__}: {exc}"
            finally:
                invoked.set()

        threading.Thread(target=invoke, daemon=True, name=f"custom-resource-{self.logical_id}").start()
        timeout = float(self.service.setting("custom_resource_timeout_seconds", DEFAULT_CUSTOM_RESOURCE_TIMEOUT))
        deadline = time.monotonic() + timeout
        failed_at: float | None = None
        try:
            while not slot["event"].wait(0.1):
                now = time.monotonic()
                if invoked.is_set() and invocation.get("error"):
                    failed_at = failed_at or now
                    if now - failed_at >= CUSTOM_RESOURCE_ERROR_GRACE:
                        raise RuntimeError(f"The custom resource's function {token} failed without sending a "
                                           f"response: {invocation['error']}")
                if now >= deadline:
                    raise RuntimeError(f"CloudFormation did not receive a response from your Custom Resource within "
                                       f"{timeout:g} seconds. Please check your logs for requestId [{request_id}].")
        finally:
            with self.service.pending_lock:
                self.service.pending.pop(request_id, None)
        answer = slot["answer"]
        if answer.get("Status") != "SUCCESS":
            raise RuntimeError(f"Received response status [{answer.get('Status')}] from custom resource. "
                               f"Message returned: {answer.get('Reason') or 'no reason given'}")
        return answer

    def create(self) -> None:
        answer = self._request("Create", {})
        self.physical_id = answer.get("PhysicalResourceId") or f"{self.logical_id}-{uuid.uuid4().hex[:12]}"
        self.values = dict(answer.get("Data") or {})

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        updated = type(self)(self.name, properties, self.region, self.logical_id, self.stack_id)
        updated.resource_type = self.resource_type
        answer = updated._request("Update", {"PhysicalResourceId": self.physical_id,
                                             "OldResourceProperties": stringify(self.properties)})
        updated.physical_id = answer.get("PhysicalResourceId") or self.physical_id
        updated.values = dict(answer.get("Data") or {})
        return updated

    def remove(self) -> None:
        self._request("Delete", {"PhysicalResourceId": self.physical_id})
