"""S3's protocol beyond moto: a bucket without its own ownership controls has S3's default since April 2023,
BucketOwnerEnforced (ACLs off), where moto answers OwnershipControlsNotFoundError."""

from __future__ import annotations

from ..protocol import AwsRequest, AwsResponse, BaseResponses

DEFAULT_OWNERSHIP = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                     '<OwnershipControls xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule>'
                     '<ObjectOwnership>BucketOwnerEnforced</ObjectOwnership></Rule></OwnershipControls>')


class S3Responses(BaseResponses):
    def after_get_bucket_ownership_controls(self, req: AwsRequest, status: int, body: bytes) -> AwsResponse | None:
        if status == 404 and b"OwnershipControlsNotFoundError" in body:
            return AwsResponse(200, DEFAULT_OWNERSHIP, {"Content-Type": "application/xml"})
        return None
