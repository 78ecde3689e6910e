"""Application Auto Scaling's answers where moto leaves out what AWS says."""


def test_a_scalable_target_names_its_service_linked_role_and_activities_are_listed(clients):
    scaling = clients("application-autoscaling")
    scaling.register_scalable_target(ServiceNamespace="sagemaker", ResourceId="endpoint/prd/variant/AllTraffic",
                                     ScalableDimension="sagemaker:variant:DesiredInstanceCount",
                                     MinCapacity=1, MaxCapacity=2)
    [target] = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["RoleARN"] == ("arn:aws:iam::123456789012:role/aws-service-role/sagemaker.application-autoscaling."
                                 "amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")
    assert scaling.describe_scaling_activities(ServiceNamespace="sagemaker")["ScalingActivities"] == []
