"""CreateModelGroup answers CloudFormation on every path: create, update, delete, and each kind of failure."""

import boto3
import pytest
from botocore.stub import Stubber

from testkit.lambdas import load_lambda
from testkit.moto import REGION

STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/mlops-pipeline/abc"


def request(url, request_type="Create", name="abalone", physical_id=None, **extra):
    event = {
        "RequestType": request_type,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:create-model-group-abalone",
        "ResponseURL": url,
        "StackId": STACK_ID,
        "RequestId": "req-42",
        "ResourceType": "Custom::ModelPackageGroup",
        "LogicalResourceId": "ModelPackageGroup",
        "ResourceProperties": {"ServiceToken": "x", "GroupName": name, "GroupDescription": "Models of a test"},
    }
    if physical_id:
        event["PhysicalResourceId"] = physical_id
    event.update(extra)
    return event


def only_response(listener):
    assert len(listener.requests) == 1, listener.requests
    return listener.requests[0]


def test_create_makes_the_group_and_answers_success(aws, cfn_listener, context):
    module = load_lambda("CreateModelGroup")
    result = module.lambda_handler(request(cfn_listener.url), context)

    put = only_response(cfn_listener)
    body = put["body"]
    assert put["path"] == "/cfn-response?signature=abc"
    assert put["headers"].get("Content-Type", "") == ""
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == "abalone"
    assert (body["StackId"], body["RequestId"], body["LogicalResourceId"]) == (STACK_ID, "req-42", "ModelPackageGroup")
    assert body["Data"]["Name"] == "abalone"
    group = boto3.client("sagemaker", region_name=REGION).describe_model_package_group(ModelPackageGroupName="abalone")
    assert body["Data"]["Arn"] == group["ModelPackageGroupArn"]
    assert group["ModelPackageGroupDescription"] == "Models of a test"
    assert result == {"Status": "SUCCESS", "PhysicalResourceId": "abalone"}


def test_create_adopts_an_existing_group(aws, cfn_listener, context):
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    arn = sagemaker.create_model_package_group(ModelPackageGroupName="abalone")["ModelPackageGroupArn"]
    module = load_lambda("CreateModelGroup")
    module.lambda_handler(request(cfn_listener.url), context)
    body = only_response(cfn_listener)["body"]
    assert body["Status"] == "SUCCESS"
    assert body["Data"]["Arn"] == arn


@pytest.mark.parametrize(
    "name, expected",
    [("not_valid!", "not a valid model package group name"), ("", "needs a GroupName property")],
)
def test_create_with_a_bad_name_answers_failed(aws, cfn_listener, context, name, expected):
    module = load_lambda("CreateModelGroup")
    result = module.lambda_handler(request(cfn_listener.url, name=name), context)
    body = only_response(cfn_listener)["body"]
    assert body["Status"] == "FAILED"
    assert expected in body["Reason"]
    assert context.log_stream_name in body["Reason"]
    # The rollback's Delete of this id must find nothing to remove.
    assert body["PhysicalResourceId"] == "failed_req-42"
    assert result["Status"] == "FAILED"


def test_a_service_error_answers_failed_with_the_error(aws_env, cfn_listener, context):
    module = load_lambda("CreateModelGroup")
    client = boto3.client("sagemaker", region_name=REGION)
    module.sagemaker = client
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "describe_model_package_group", "ValidationException", "ModelPackageGroup abalone does not exist."
        )
        stubber.add_client_error(
            "create_model_package_group",
            "AccessDeniedException",
            "not authorized to perform CreateModelPackageGroup",
            http_status_code=400,
        )
        module.lambda_handler(request(cfn_listener.url), context)
    body = only_response(cfn_listener)["body"]
    assert body["Status"] == "FAILED"
    assert "AccessDeniedException" in body["Reason"] and "CreateModelPackageGroup" in body["Reason"]


def test_a_malformed_request_still_gets_an_answer(aws, cfn_listener, context):
    module = load_lambda("CreateModelGroup")
    event = request(cfn_listener.url)
    del event["RequestType"]
    module.lambda_handler(event, context)
    body = only_response(cfn_listener)["body"]
    assert body["Status"] == "FAILED"
    assert "RequestType" in body["Reason"]


def test_update_to_a_new_name_creates_the_new_group(aws, cfn_listener, context):
    module = load_lambda("CreateModelGroup")
    module.lambda_handler(request(cfn_listener.url, "Update", name="abalone-v2", physical_id="abalone"), context)
    body = only_response(cfn_listener)["body"]
    assert (body["Status"], body["PhysicalResourceId"]) == ("SUCCESS", "abalone-v2")
    boto3.client("sagemaker", region_name=REGION).describe_model_package_group(ModelPackageGroupName="abalone-v2")


def test_delete_removes_the_packages_then_the_group(aws_env, cfn_listener, context):
    # moto has no DeleteModelPackage(Group): the calls are checked in order with a Stubber.
    module = load_lambda("CreateModelGroup")
    client = boto3.client("sagemaker", region_name=REGION)
    module.sagemaker = client
    packages = [f"arn:aws:sagemaker:us-east-1:123456789012:model-package/abalone/{n}" for n in (1, 2)]
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_model_package_group",
            {
                "ModelPackageGroupName": "abalone",
                "ModelPackageGroupArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/abalone",
                "CreationTime": "2025-01-01T00:00:00Z",
                "CreatedBy": {},
                "ModelPackageGroupStatus": "Completed",
            },
            {"ModelPackageGroupName": "abalone"},
        )
        stubber.add_response(
            "list_model_packages",
            {
                "ModelPackageSummaryList": [
                    {
                        "ModelPackageArn": arn,
                        "CreationTime": "2025-01-01T00:00:00Z",
                        "ModelPackageStatus": "Completed",
                        "ModelPackageGroupName": "abalone",
                    }
                    for arn in packages
                ]
            },
            {"ModelPackageGroupName": "abalone"},
        )
        for arn in packages:
            stubber.add_response("delete_model_package", {}, {"ModelPackageName": arn})
        stubber.add_response("delete_model_package_group", {}, {"ModelPackageGroupName": "abalone"})
        module.lambda_handler(request(cfn_listener.url, "Delete", physical_id="abalone"), context)
        stubber.assert_no_pending_responses()
    body = only_response(cfn_listener)["body"]
    assert (body["Status"], body["PhysicalResourceId"]) == ("SUCCESS", "abalone")


@pytest.mark.parametrize("physical_id", ["failed_req-41", "gone-already"])
def test_delete_of_nothing_succeeds(aws, cfn_listener, context, physical_id):
    module = load_lambda("CreateModelGroup")
    module.lambda_handler(request(cfn_listener.url, "Delete", physical_id=physical_id), context)
    body = only_response(cfn_listener)["body"]
    assert (body["Status"], body["PhysicalResourceId"]) == ("SUCCESS", physical_id)


def test_a_failed_delete_answers_failed_and_keeps_the_id(aws_env, cfn_listener, context):
    module = load_lambda("CreateModelGroup")
    client = boto3.client("sagemaker", region_name=REGION)
    module.sagemaker = client
    with Stubber(client) as stubber:
        stubber.add_client_error("describe_model_package_group", "ThrottlingException", "Rate exceeded")
        module.lambda_handler(request(cfn_listener.url, "Delete", physical_id="abalone"), context)
    body = only_response(cfn_listener)["body"]
    assert (body["Status"], body["PhysicalResourceId"]) == ("FAILED", "abalone")
    assert "Rate exceeded" in body["Reason"]
