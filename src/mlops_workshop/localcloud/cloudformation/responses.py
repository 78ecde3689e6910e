"""CloudFormation's protocol beyond moto: the answer a custom resource's function sends to its ResponseURL."""

from __future__ import annotations

import json

from ..protocol import AwsRequest, AwsResponse, BaseResponses
from .exceptions import AccessDenied, InvalidRequest


class CloudFormationResponses(BaseResponses):
    def custom_resource_response(self, req: AwsRequest) -> AwsResponse:
        request_id = req.path_params["request_id"]
        with self.service.pending_lock:
            slot = self.service.pending.get(request_id)
        if slot is None:
            raise AccessDenied(f"No custom resource request {request_id} is waiting for a response (it was answered "
                               f"already or timed out)")
        try:
            answer = json.loads(req.body or b"{}")
        except ValueError:
            raise InvalidRequest("The response body is not JSON") from None
        if answer.get("RequestId") not in (None, request_id) or answer.get("Status") not in ("SUCCESS", "FAILED"):
            raise InvalidRequest("The response needs Status SUCCESS or FAILED and this RequestId")
        slot["answer"] = answer
        slot["event"].set()
        return AwsResponse(200, b"")
