"""Application Auto Scaling's answers where moto leaves out what AWS says, and what it does with the caller's
permissions."""

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from testkit.localcloud import ACCOUNT, REGION, allow


def test_a_scalable_target_names_its_service_linked_role_and_activities_are_listed(clients):
    scaling = clients("application-autoscaling")
    scaling.register_scalable_target(ServiceNamespace="sagemaker", ResourceId="endpoint/prd/variant/AllTraffic",
                                     ScalableDimension="sagemaker:variant:DesiredInstanceCount",
                                     MinCapacity=1, MaxCapacity=2)
    [target] = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["RoleARN"] == ("arn:aws:iam::123456789012:role/aws-service-role/sagemaker.application-autoscaling."
                                 "amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")
    assert scaling.describe_scaling_activities(ServiceNamespace="sagemaker")["ScalingActivities"] == []


def test_what_application_auto_scaling_does_for_the_caller_is_judged_as_the_caller(clients, cloud):
    iam = clients("iam")
    iam.create_role(RoleName="scaler", AssumeRolePolicyDocument=json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName="scaler", PolicyName="scaling",
                        PolicyDocument=allow("application-autoscaling:*"))
    session = clients("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/scaler",
                                         RoleSessionName="me")["Credentials"]
    scaling = boto3.client("application-autoscaling", endpoint_url=cloud.endpoint_url, region_name=REGION,
                           aws_access_key_id=session["AccessKeyId"], aws_secret_access_key=session["SecretAccessKey"],
                           aws_session_token=session["SessionToken"])
    target = {"ServiceNamespace": "sagemaker", "ResourceId": "endpoint/prd/variant/AllTraffic",
              "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"}
    linked = (f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
              f"AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")
    with pytest.raises(ClientError) as refused:
        scaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=2)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert refused.value.response["Error"]["Message"].startswith(
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/scaler/me is not authorized to perform: "
        f"iam:CreateServiceLinkedRole on resource: {linked}")
    iam.put_role_policy(RoleName="scaler", PolicyName="linked", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:CreateServiceLinkedRole",
                                                "Resource": linked}]}))
    scaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=2)
    assert iam.get_role(RoleName="AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")["Role"]["Arn"] == linked
    policy = {**target, "PolicyName": "p", "PolicyType": "TargetTrackingScaling",
              "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 70.0, "PredefinedMetricSpecification": {
                  "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}}
    with pytest.raises(ClientError) as refused:
        scaling.put_scaling_policy(**policy)
    assert "cloudwatch:PutMetricAlarm on resource: arn:aws:cloudwatch:us-east-1:123456789012:alarm:TargetTracking-" \
           "endpoint/prd/variant/AllTraffic-AlarmHigh-" in refused.value.response["Error"]["Message"]
