"""The AWS::LanguageExtensions transform on the examples of AWS's template reference (Fn::ForEach, Fn::ToJsonString,
Fn::Length, Fn::FindInMap's DefaultValue, intrinsic functions in DeletionPolicy) and on what it refuses."""

import pytest

from mlops_workshop.localcloud.cloudformation.language_extensions import TransformError, transform

PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::StackName": "docs"}


def test_foreach_replicates_a_resource_per_item_with_the_identifier_in_its_key_and_values():
    template = {"Resources": {"Fn::ForEach::Topics": ["TopicName", ["Success", "Failure", "Timeout", "Unknown"], {
        "SnsTopic${TopicName}": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Ref": "TopicName"}}}}]}}
    resources = transform(template, {}, PSEUDO)["Resources"]
    assert resources == {f"SnsTopic{name}": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": name}}
                         for name in ("Success", "Failure", "Timeout", "Unknown")}


def test_the_ampersand_form_drops_what_a_logical_id_cannot_hold_and_loops_nest():
    template = {"Parameters": {"Cidrs": {"Type": "CommaDelimitedList"}}, "Resources": {"Fn::ForEach::Subnets": [
        "Cidr", {"Ref": "Cidrs"}, {"Fn::ForEach::Zones": ["Zone", ["a", "b"], {
            "Subnet&{Cidr}${Zone}": {"Type": "AWS::EC2::Subnet",
                                     "Properties": {"CidrBlock": {"Ref": "Cidr"},
                                                    "AvailabilityZone": {"Fn::Sub": "${AWS::Region}${Zone}"}}}}]}]}}
    resources = transform(template, {"Cidrs": "10.0.0.0/24,10.0.1.0/24"}, PSEUDO)["Resources"]
    assert sorted(resources) == ["Subnet1000024a", "Subnet1000024b", "Subnet1001024a", "Subnet1001024b"]
    # The pseudo parameter is the stack's to resolve; the loop's identifier is the transform's.
    assert resources["Subnet1001024b"]["Properties"] == {"CidrBlock": "10.0.1.0/24",
                                                         "AvailabilityZone": {"Fn::Sub": "${AWS::Region}b"}}


def test_to_json_string_length_find_in_map_default_and_deletion_policy_resolve_as_documented():
    template = {
        "Parameters": {"ParameterName": {"Type": "String"}, "Stage": {"Type": "String"}},
        "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}},
        "Mappings": {"RegionMap": {"us-east-1": {"HVM64": "ami-0ff8a91507f77f867"}}},
        "Resources": {"Queue": {
            "Type": "AWS::SQS::Queue",
            "DeletionPolicy": {"Fn::If": ["IsProd", "Retain", "Delete"]},
            "Properties": {
                "Object": {"Fn::ToJsonString": {"key1": "value1", "key2": {"Ref": "ParameterName"}}},
                "Array": {"Fn::ToJsonString": [{"key1": "value1"}, {"key2": {"Ref": "ParameterName"}}]},
                "DelaySeconds": {"Fn::Length": [1, {"Ref": "ParameterName"}, 3]},
                "Found": {"Fn::FindInMap": ["RegionMap", {"Ref": "AWS::Region"}, "HVM64"]},
                "Default": {"Fn::FindInMap": ["RegionMap", "us-west-2", "HVM64",
                                              {"DefaultValue": "ami-default"}]}}}}}
    queue = transform(template, {"ParameterName": "resolvedValue", "Stage": "prod"}, PSEUDO)["Resources"]["Queue"]
    assert queue["DeletionPolicy"] == "Retain"
    assert queue["Properties"] == {"Object": '{"key1":"value1","key2":"resolvedValue"}',
                                   "Array": '[{"key1":"value1"},{"key2":"resolvedValue"}]',
                                   "DelaySeconds": 3, "Found": "ami-0ff8a91507f77f867", "Default": "ami-default"}


@pytest.mark.parametrize("resources, message", [
    ({"Fn::ForEach::X": ["Item", {"Fn::GetAtt": ["Other", "Arn"]}, {"Q${Item}": {"Type": "AWS::SQS::Queue"}}]},
     "the collection must resolve"),
    ({"Fn::ForEach::X": ["Item", ["a"]]}, "layout is incorrect"),
    ({"Fn::ForEach::X": ["Item", ["a", "a"], {"Q${Item}": {"Type": "AWS::SQS::Queue"}}]}, "duplicate key Qa"),
    ({"Q": {"Type": "AWS::SQS::Queue",
            "Properties": {"Tags": {"Fn::ToJsonString": {"a": {"Fn::GetAtt": ["R", "A"]}}}}}},
     "Fn::ToJsonString does not support"),
    ({"Q": {"Type": "AWS::SQS::Queue", "DeletionPolicy": {"Fn::GetAtt": ["R", "A"]}}},
     "Unsupported expression for DeletionPolicy in resource Q"),
    ({"Q": {"Type": "AWS::SQS::Queue", "Properties": {"DelaySeconds": {"Fn::Length": "abc"}}}},
     "Fn::Length layout is incorrect"),
])
def test_what_the_transform_cannot_process_is_refused(resources, message):
    with pytest.raises(TransformError, match=message):
        transform({"Resources": resources}, {}, PSEUDO)
