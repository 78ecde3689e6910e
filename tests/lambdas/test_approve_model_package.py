"""ApproveModelPackage against moto: it approves the package the Dev endpoint serves, or the one named."""

import pytest

from testkit.lambdas import load_lambda
from testkit.moto import IMAGE, endpoint_config, register_package

EXECUTION = "5b0c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d"


@pytest.fixture
def dev_endpoint(model_group):
    """The Dev endpoint as the Dev stack makes it: model from a package, configuration, endpoint."""
    sm = model_group
    package = register_package(sm, EXECUTION)
    config = endpoint_config(sm, "dev", {"ModelPackageName": package})
    sm.create_endpoint(EndpointName="abalone-dev", EndpointConfigName=config)
    return package


def test_the_package_the_endpoint_serves_is_approved(dev_endpoint, model_group):
    approve = load_lambda("ApproveModelPackage")
    evaluation = {"rmse": 2.01, "report": "s3://bucket/report.json"}

    result = approve.lambda_handler({"EndpointName": "abalone-dev", "Evaluation": evaluation, "Threshold": 2.5,
                                     "MonitoringBaselineUri": "s3://bucket/e1/monitoring/baseline"}, None)

    assert result == {"ModelPackageArn": dev_endpoint, "ModelApprovalStatus": "Approved"}
    package = model_group.describe_model_package(ModelPackageName=dev_endpoint)
    assert package["ModelApprovalStatus"] == "Approved"
    assert "RMSE 2.0100 within the threshold 2.5" in package["ApprovalDescription"]
    properties = package["CustomerMetadataProperties"]
    assert properties["PipelineExecutionId"] == EXECUTION  # kept
    assert properties["SystemTestReport"] == "s3://bucket/report.json"
    assert properties["MonitoringBaselineUri"] == "s3://bucket/e1/monitoring/baseline"


def test_a_named_package_is_approved(model_group):
    approve = load_lambda("ApproveModelPackage")
    package = register_package(model_group, EXECUTION)
    assert approve.lambda_handler({"ModelPackageArn": package}, None)["ModelApprovalStatus"] == "Approved"
    assert model_group.describe_model_package(ModelPackageName=package)["ModelApprovalStatus"] == "Approved"


def test_an_endpoint_without_a_package_has_nothing_to_approve(model_group):
    approve = load_lambda("ApproveModelPackage")
    plain = endpoint_config(model_group, "plain", {"Image": IMAGE, "ModelDataUrl": "s3://b/m.tar.gz"})
    model_group.create_endpoint(EndpointName="plain", EndpointConfigName=plain)
    with pytest.raises(approve.ModelPackageNotFound, match="not created from a model package"):
        approve.package_to_approve(model_group, endpoint="plain")
    with pytest.raises(approve.ModelPackageNotFound, match="neither"):
        approve.lambda_handler({}, None)
