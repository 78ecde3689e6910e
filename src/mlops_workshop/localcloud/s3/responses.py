"""S3's protocol beyond moto: a bucket without its own ownership controls has S3's default since April 2023,
BucketOwnerEnforced (ACLs off), where moto answers OwnershipControlsNotFoundError; once they are deleted, the bucket
has none, as in S3."""

from __future__ import annotations

from typing import Any

from ..protocol import AwsRequest, AwsResponse, BaseResponses

DEFAULT_OWNERSHIP = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                     '<OwnershipControls xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule>'
                     '<ObjectOwnership>BucketOwnerEnforced</ObjectOwnership></Rule></OwnershipControls>')
DELETED = "_lc_ownership_deleted"  # kept on moto's bucket, so that it goes with the bucket


class S3Responses(BaseResponses):
    def after_get_bucket_ownership_controls(self, req: AwsRequest, status: int, body: bytes) -> AwsResponse | None:
        if status == 404 and b"OwnershipControlsNotFoundError" in body and not self._deleted(req):
            return AwsResponse(200, DEFAULT_OWNERSHIP, {"Content-Type": "application/xml"})
        return None

    def after_put_bucket_ownership_controls(self, req: AwsRequest, status: int, body: bytes) -> None:
        self._mark(req, status, False)

    def after_delete_bucket_ownership_controls(self, req: AwsRequest, status: int, body: bytes) -> None:
        self._mark(req, status, True)

    def _bucket(self, req: AwsRequest) -> Any:
        return self.cloud.backend("s3", "aws").buckets.get(req.path_params.get("bucket", ""))

    def _deleted(self, req: AwsRequest) -> bool:
        return bool(getattr(self._bucket(req), DELETED, False))

    def _mark(self, req: AwsRequest, status: int, deleted: bool) -> None:
        bucket = self._bucket(req)
        if status < 300 and bucket is not None:
            setattr(bucket, DELETED, deleted)
