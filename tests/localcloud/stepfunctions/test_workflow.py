"""A training-to-endpoint workflow in the style of AWS's examples runs to its end on the local cloud: `.sync`
training, CreateModel, CreateEndpointConfig, CreateEndpoint, each under a Catch, as the state machine's role; the
endpoint it made serves the model it trained. A training job that fails goes through the Catch instead."""

import json

import pytest

from testkit.localcloud import ACCOUNT, IMAGE_URI, REGION, endpoint_settled, training_request
from testkit.stepfunctions import allow, events, pass_role

SAGEMAKER = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"


def workflow(role_arn):
    training = training_request("placeholder", {"epochs": "2"})
    del training["TrainingJobName"]
    training["TrainingJobName.$"] = "$.JobName"
    training["HyperParameters.$"] = "$.HyperParameters"
    del training["HyperParameters"]
    catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.Failure", "Next": "Failed"}]
    return {
        "Comment": "Train a model, then deploy it to an endpoint",
        "StartAt": "Train",
        "States": {
            "Train": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                      "Parameters": training, "ResultSelector": {"ModelData.$": "$.ModelArtifacts.S3ModelArtifacts"},
                      "ResultPath": "$.Training", "Catch": catch, "Next": "CreateModel"},
            "CreateModel": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createModel",
                            "Parameters": {"ModelName.$": "$.JobName", "ExecutionRoleArn": role_arn,
                                           "PrimaryContainer": {"Image": IMAGE_URI,
                                                                "ModelDataUrl.$": "$.Training.ModelData"}},
                            "ResultPath": "$.Model", "Catch": catch, "Next": "CreateEndpointConfig"},
            "CreateEndpointConfig": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createEndpointConfig",
                                     "Parameters": {"EndpointConfigName.$": "$.JobName", "ProductionVariants": [{
                                         "VariantName": "AllTraffic", "ModelName.$": "$.JobName",
                                         "InitialInstanceCount": 1, "InstanceType": "ml.t2.medium"}]},
                                     "ResultPath": "$.EndpointConfig", "Catch": catch, "Next": "CreateEndpoint"},
            "CreateEndpoint": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createEndpoint",
                               "Parameters": {"EndpointName.$": "$.EndpointName", "EndpointConfigName.$": "$.JobName"},
                               "ResultPath": "$.Endpoint", "Catch": catch, "End": True},
            "Failed": {"Type": "Fail", "Error": "DeploymentFailed", "CausePath": "$.Failure.Cause"},
        },
    }


@pytest.fixture
def deployer_role(machine_role, sagemaker_role):
    """What the workflow's role needs, as the Step Functions guide's policies for these integrations name it."""
    return machine_role(
        allow(["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"],
              f"{SAGEMAKER}:training-job/abalone-*"),
        allow("sagemaker:CreateModel", f"{SAGEMAKER}:model/abalone-*"),
        allow("sagemaker:CreateEndpointConfig", f"{SAGEMAKER}:endpoint-config/abalone-*"),
        allow("sagemaker:CreateEndpoint", [f"{SAGEMAKER}:endpoint/abalone-*",
                                           f"{SAGEMAKER}:endpoint-config/abalone-*"]),
        pass_role(sagemaker_role))


def test_the_workflow_trains_deploys_and_the_endpoint_serves_the_model(clients, run_machine, deployer_role,
                                                                       sagemaker_role):
    done = run_machine(workflow(sagemaker_role), deployer_role, {
        "JobName": "abalone-sfn-1", "EndpointName": "abalone-sfn-dev", "HyperParameters": {"epochs": "2"}})
    assert done["status"] == "SUCCEEDED", done
    result = json.loads(done["output"])
    assert result["Training"]["ModelData"].endswith("/abalone-sfn-1/output/model.tar.gz")
    assert result["Model"]["ModelArn"] == f"{SAGEMAKER}:model/abalone-sfn-1"
    assert result["EndpointConfig"]["EndpointConfigArn"] == f"{SAGEMAKER}:endpoint-config/abalone-sfn-1"
    assert result["Endpoint"]["EndpointArn"] == f"{SAGEMAKER}:endpoint/abalone-sfn-dev"

    sm = clients("sagemaker")
    assert endpoint_settled(sm, "abalone-sfn-dev")["EndpointStatus"] == "InService"
    answer = clients("sagemaker-runtime").invoke_endpoint(EndpointName="abalone-sfn-dev", ContentType="text/csv",
                                                          Body=",".join(["0.5"] * 10))
    assert answer["Body"].read() == b"10.0\n"   # the mean label of the training rows


def test_a_failed_training_job_goes_through_the_catch_and_nothing_is_deployed(clients, run_machine, deployer_role,
                                                                              sagemaker_role):
    done = run_machine(workflow(sagemaker_role), deployer_role, {
        "JobName": "abalone-sfn-2", "EndpointName": "abalone-sfn-bad", "HyperParameters": {"epochs": "many"}})
    assert done["status"] == "FAILED" and done["error"] == "DeploymentFailed", done
    assert json.loads(done["cause"])["FailureReason"].startswith("AlgorithmError: hyperparameter epochs='many'")
    assert [e["stateEnteredEventDetails"]["name"] for e in events(done, "TaskStateEntered")] == ["Train"]
    assert not clients("sagemaker").list_models(NameContains="abalone-sfn-2")["Models"]
