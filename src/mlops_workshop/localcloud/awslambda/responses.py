"""Lambda's Invoke protocol: RequestResponse, Event and DryRun invocations; FunctionError, LogResult. A code package
in S3 (CreateFunction, UpdateFunctionCode) is read with the caller's credentials, as Lambda reads it."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any
from urllib.parse import unquote

from ..protocol import AwsError, AwsRequest, AwsResponse, BaseResponses
from .exceptions import AccessDeniedException, InvalidParameterValueException, InvalidRequestContentException

MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
LOG_RESULT_BYTES = 4096


class LambdaResponses(BaseResponses):
    def _function_and_event(self, req: AwsRequest) -> tuple[Any, bytes]:
        """The function the call names and its event; the error Lambda answers when either is wrong."""
        from moto.core.exceptions import JsonRESTError
        name = unquote(req.path_params["name"])
        qualifier = (req.query.get("Qualifier") or [None])[0]
        region = name.split(":")[3] if name.startswith("arn:") else req.region
        try:
            fn = self.cloud.backend("lambda", region).get_function(name, qualifier)
        except JsonRESTError as exc:
            raise AwsError(exc.message, exc.error_type, exc.code) from None
        body = req.body or b"{}"
        try:
            json.loads(body)
        except ValueError as exc:
            raise InvalidRequestContentException(f"Could not parse request body into json: {exc}") from None
        return fn, body

    def create_function(self, req: AwsRequest) -> AwsResponse | None:
        return self._package_refused(req.json().get("Code") or {})

    def update_function_code(self, req: AwsRequest) -> AwsResponse | None:
        return self._package_refused(req.json())

    def _package_refused(self, code: dict[str, Any]) -> AwsResponse | None:
        """Lambda's refusal when the caller may not read the S3 package (None when it may, or none is named)."""
        bucket, key = code.get("S3Bucket"), code.get("S3Key")
        iam = self.cloud.service("iam")
        caller = iam.caller()
        if not bucket or not key or caller is None or caller.kind == "administrator":
            return None
        action = "s3:GetObjectVersion" if code.get("S3ObjectVersion") else "s3:GetObject"
        if iam.judge(caller, action, f"arn:aws:s3:::{bucket}/{key}").allowed:
            return None
        raise AccessDeniedException(
            f"Your access has been denied by S3, please make sure your request credentials have permission to "
            f"GetObject for {bucket}/{key}. S3 Error Code: AccessDenied. S3 Error Message: Access Denied")

    def invoke(self, req: AwsRequest) -> AwsResponse:
        fn, body = self._function_and_event(req)
        invocation_type = req.headers.get("x-amz-invocation-type", "RequestResponse")
        if invocation_type == "DryRun":
            return AwsResponse(204, b"")
        if invocation_type == "Event":
            self.service.executor.invoke_async(fn, body, fn.function_arn)
            return AwsResponse(202, b"", {"x-amzn-RequestId": str(uuid.uuid4())})
        if invocation_type != "RequestResponse":
            raise InvalidParameterValueException(
                f"Invalid InvocationType {invocation_type!r}: use RequestResponse, Event or DryRun")
        client_context = req.headers.get("x-amz-client-context")
        if client_context:
            client_context = base64.b64decode(client_context).decode()
        result = self.service.executor.invoke(fn, body, fn.function_arn, client_context)
        payload, errored = result.payload, result.error
        if not errored and len(payload) > MAX_SYNC_PAYLOAD:
            payload, errored = json.dumps({
                "errorMessage": f"Response payload size ({len(payload)} bytes) exceeded maximum allowed payload "
                                f"size ({MAX_SYNC_PAYLOAD} bytes).",
                "errorType": "Function.ResponseSizeTooLarge"}).encode(), True
        headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": str(fn.version),
                   "x-amzn-RequestId": result.request_id}
        if errored:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if req.headers.get("x-amz-log-type") == "Tail":
            headers["X-Amz-Log-Result"] = base64.b64encode(result.logs.encode()[-LOG_RESULT_BYTES:]).decode()
        return AwsResponse(200, payload, headers)

    def invoke_async(self, req: AwsRequest) -> AwsResponse:
        fn, body = self._function_and_event(req)
        self.service.executor.invoke_async(fn, body, fn.function_arn)
        return AwsResponse(202, {"Status": 202}, {"Content-Type": "application/json"})
