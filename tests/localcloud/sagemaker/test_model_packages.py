"""Model package groups and versions can be deleted (moto has no DeleteModelPackage or DeleteModelPackageGroup)."""

import pytest
from botocore.exceptions import ClientError


def test_a_group_is_deleted_once_its_versions_are_and_not_before(clients):
    sm = clients("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="abalone")
    arn = sm.create_model_package(
        ModelPackageGroupName="abalone", ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={"Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/abalone:latest",
                                                "ModelDataUrl": "s3://bucket/model.tar.gz"}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
    )["ModelPackageArn"]

    with pytest.raises(ClientError) as refused:
        sm.delete_model_package_group(ModelPackageGroupName="abalone")
    assert refused.value.response["Error"]["Code"] == "ConflictException"
    assert "delete them first" in refused.value.response["Error"]["Message"]

    sm.delete_model_package(ModelPackageName=arn)
    assert sm.list_model_packages(ModelPackageGroupName="abalone")["ModelPackageSummaryList"] == []
    with pytest.raises(ClientError) as gone:
        sm.describe_model_package(ModelPackageName=arn)
    assert gone.value.response["Error"]["Code"] == "ValidationException"

    sm.delete_model_package_group(ModelPackageGroupName="abalone")
    assert sm.list_model_package_groups()["ModelPackageGroupSummaryList"] == []
    for call, kwargs in ((sm.delete_model_package_group, {"ModelPackageGroupName": "abalone"}),
                         (sm.delete_model_package, {"ModelPackageName": arn})):
        with pytest.raises(ClientError) as missing:
            call(**kwargs)
        assert missing.value.response["Error"]["Code"] == "ValidationException"
        assert "does not exist" in missing.value.response["Error"]["Message"]
