"""The S3 calls the local cloud answers beyond moto (S3 names an operation by its method, path and query)."""

url_paths = {
    r"^/(?P<bucket>[^/]+)/?$": {"GET?ownershipControls": "GetBucketOwnershipControls",
                                "PUT?ownershipControls": "PutBucketOwnershipControls",
                                "DELETE?ownershipControls": "DeleteBucketOwnershipControls"},
}
