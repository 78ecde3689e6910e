"""IAM's refusals in the shape of the protocol the call came in, as AWS answers them (access denied; unknown key;
expired session):

- query (IAM, STS, CloudFormation): AccessDenied 403; InvalidClientTokenId 403; ExpiredToken 403; XML ErrorResponse.
- json (SageMaker, Glue, CodePipeline, Step Functions, ECR, Logs, ...): AccessDeniedException 400;
  UnrecognizedClientException 400; ExpiredTokenException 400.
- rest-json (Lambda, SageMaker Runtime): AccessDeniedException 403; UnrecognizedClientException 403;
  ExpiredTokenException 403.
- rest-xml (S3): AccessDenied 403; InvalidAccessKeyId 403; ExpiredToken 400; XML Error.

The messages are AWS's: "User: <arn> is not authorized to perform: <action> on resource: <arn> because no
identity-based policy allows the <action> action" (S3 quotes the resource), "The security token included in the
request is invalid.", "The security token included in the request is expired", S3's "The AWS Access Key Id you
provided does not exist in our records." and "The provided token has expired."
"""

from __future__ import annotations

import random
import uuid
from xml.sax.saxutils import escape

from ..protocol import AwsError, AwsResponse

INVALID_TOKEN = "The security token included in the request is invalid."
EXPIRED_TOKEN = "The security token included in the request is expired"
S3_INVALID_KEY = "The AWS Access Key Id you provided does not exist in our records."
S3_EXPIRED = "The provided token has expired."
MISSING_TOKEN = "Request is missing Authentication Token"

# (access denied, unknown key, expired token, missing authentication): (code, status) per protocol.
SHAPES = {
    "query": (("AccessDenied", 403), ("InvalidClientTokenId", 403), ("ExpiredToken", 403),
              ("MissingAuthenticationToken", 403)),
    "json": (("AccessDeniedException", 400), ("UnrecognizedClientException", 400), ("ExpiredTokenException", 400),
             ("MissingAuthenticationTokenException", 400)),
    "rest-json": (("AccessDeniedException", 403), ("UnrecognizedClientException", 403),
                  ("ExpiredTokenException", 403), ("MissingAuthenticationTokenException", 403)),
    "rest-xml": (("AccessDenied", 403), ("InvalidAccessKeyId", 403), ("ExpiredToken", 400),
                 ("AccessDenied", 403)),
}
KINDS = ("denied", "invalid", "expired", "missing")


def message(principal_arn: str, action: str, resource: str, reason: str, s3: bool = False) -> str:
    """AWS's access-denied sentence; the resource is left out when the action has none ("*")."""
    text = f"User: {principal_arn} is not authorized to perform: {action}"
    if resource and resource != "*":
        text += f' on resource: "{resource}"' if s3 else f" on resource: {resource}"
    return f"{text} {reason}".rstrip()


def refusal(kind: str, protocol: str, text: str | None = None, query_compatible: bool = False,
            code: str | None = None, status: int | None = None) -> AwsResponse:
    """The error response of `kind` (denied, invalid, expired, missing) in `protocol`; `code` and `status` replace
    the kind's own (a service's error for a role that does not trust it)."""
    shape = SHAPES.get(protocol) or SHAPES["rest-json" if protocol != "query" else "query"]
    code, status = code or shape[KINDS.index(kind)][0], status or shape[KINDS.index(kind)][1]
    if text is None:
        text = {"invalid": INVALID_TOKEN, "expired": EXPIRED_TOKEN, "missing": MISSING_TOKEN}.get(kind, "")
        if protocol == "rest-xml":
            text = {"invalid": S3_INVALID_KEY, "expired": S3_EXPIRED}.get(kind, text)
    # Not uuid4: os.urandom can take milliseconds here, and a request id needs no secrecy.
    request_id = str(uuid.UUID(int=random.getrandbits(128), version=4))
    if protocol == "rest-xml":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{escape(text)}</Message>'
                f"<RequestId>{request_id.replace('-', '')[:16].upper()}</RequestId><HostId>{request_id}</HostId>"
                "</Error>")
        return AwsResponse(status, body, {"Content-Type": "application/xml", "x-amz-request-id": request_id})
    if protocol == "query":
        body = (f'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
                f"<Code>{code}</Code><Message>{escape(text)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>")
        return AwsResponse(status, body, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id})
    if "cbor" in protocol:
        body = _cbor({"__type": code, "message": text})
        headers = {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor", "x-amzn-RequestId": request_id}
        if query_compatible:
            headers["x-amzn-query-error"] = f"{SHAPES['query'][KINDS.index(kind)][0]};Sender"
        return AwsResponse(status, body, headers)
    headers = {"x-amzn-ErrorType": code, "x-amzn-RequestId": request_id, "Content-Type": "application/x-amz-json-1.1"}
    if query_compatible:
        headers["x-amzn-query-error"] = f"{SHAPES['query'][KINDS.index(kind)][0]};Sender"
    if protocol == "rest-json":
        headers["Content-Type"] = "application/json"
    return AwsResponse(status, {"__type": code, "message": text, "Message": text}, headers)


def _cbor(mapping: dict[str, str]) -> bytes:
    """A map of text strings in CBOR (RFC 8949), enough for an error body."""
    def head(major: int, length: int) -> bytes:
        if length < 24:
            return bytes([major << 5 | length])
        if length < 256:
            return bytes([major << 5 | 24, length])
        if length < 65536:
            return bytes([major << 5 | 25]) + length.to_bytes(2, "big")
        return bytes([major << 5 | 26]) + length.to_bytes(4, "big")

    out = head(5, len(mapping))
    for key, value in mapping.items():
        for text in (key, value):
            data = text.encode()
            out += head(3, len(data)) + data
    return out


class AccessDenied(AwsError):
    """A refusal a service raises itself (a passed role, a trust policy), in the JSON shape by default."""

    code = "AccessDeniedException"
    status = 400


class AssumeRoleRefused(AwsError):
    """A role's trust policy does not let the service assume it (credentials_for)."""

    code = "AccessDenied"
    status = 403

    def __init__(self, message: str, role_arn: str, service: str):
        super().__init__(message)
        self.role_arn = role_arn
        self.service = service
