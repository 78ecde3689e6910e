"""The path a custom resource's function answers on (its ResponseURL, a presigned S3 URL on AWS): unsigned."""

unsigned_paths = {
    r"^/_localcloud/cloudformation/response/(?P<request_id>[0-9a-f-]{36})$": {"PUT": "CustomResourceResponse"},
}
