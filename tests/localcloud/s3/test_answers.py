"""S3's answers where moto leaves out what AWS says."""


def test_a_bucket_without_ownership_controls_has_s3s_default(clients):
    s3 = clients("s3")
    s3.create_bucket(Bucket="owned")
    rules = s3.get_bucket_ownership_controls(Bucket="owned")["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    s3.put_bucket_ownership_controls(Bucket="owned", OwnershipControls={
        "Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    rules = s3.get_bucket_ownership_controls(Bucket="owned")["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "ObjectWriter"}]


def test_a_missing_bucket_is_still_no_such_bucket(clients):
    import pytest
    s3 = clients("s3")
    with pytest.raises(s3.exceptions.NoSuchBucket):
        s3.get_bucket_ownership_controls(Bucket="nowhere")


def test_deleted_ownership_controls_are_gone_until_put_again_and_a_new_bucket_has_the_default(clients):
    from botocore.exceptions import ClientError
    import pytest
    s3 = clients("s3")
    s3.create_bucket(Bucket="unowned")
    s3.delete_bucket_ownership_controls(Bucket="unowned")
    with pytest.raises(ClientError) as error:
        s3.get_bucket_ownership_controls(Bucket="unowned")
    assert error.value.response["Error"]["Code"] == "OwnershipControlsNotFoundError"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    s3.put_bucket_ownership_controls(Bucket="unowned", OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    rules = s3.get_bucket_ownership_controls(Bucket="unowned")["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerPreferred"}]
    s3.delete_bucket_ownership_controls(Bucket="unowned")
    s3.delete_bucket(Bucket="unowned")
    s3.create_bucket(Bucket="unowned")
    rules = s3.get_bucket_ownership_controls(Bucket="unowned")["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
