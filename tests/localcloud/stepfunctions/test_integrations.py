"""Step Functions' service integrations run on the local cloud as in AWS: the calls with the parameters as the APIs
name them, the outputs AWS gives (a `.sync` job's description once it ended), and every failure named as Step
Functions names it, through Retry and Catch."""

import json
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils import (
    LambdaFunctionErrorException)

from mlops_workshop.localcloud.stepfunctions.integrations import error_and_cause, error_name, known_failure
from testkit.localcloud import ACCOUNT, BUCKET, IMAGE_URI, REGION, service_role, training_job_done, training_request
from testkit.stepfunctions import allow, events, machine, output, pass_role, task
from testkit.waiting import wait_for

LAMBDA = "arn:aws:states:::lambda:invoke"
HANDLER = '''
def lambda_handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail at " + str(event["n"]))
    return {"doubled": event["n"] * 2}
'''
GLUE_SCRIPT_OK = "print('etl done')\n"
GLUE_SCRIPT_FAILS = "raise RuntimeError('row 3 has no rings')\n"


def caught(described):
    """The error a run's Catch routed to the Caught state."""
    assert described["status"] == "SUCCEEDED", described
    return output(described)["Error"]


def cause_of(error):
    return json.loads(error["Cause"])


# Lambda.
@pytest.fixture
def doubler(make_function):
    return make_function("doubler", HANDLER, Timeout=10)


@pytest.fixture
def lambda_role(machine_role, doubler):
    return machine_role(allow("lambda:InvokeFunction", [doubler, f"{doubler}:*"]))


def test_lambda_invoke_answers_the_invocation_and_a_function_error_is_caught_by_its_type(run_machine, lambda_role,
                                                                                        doubler):
    definition = machine(task(LAMBDA, {"FunctionName": doubler, "Payload.$": "$"}))
    done = run_machine(definition, lambda_role, {"n": 21})
    assert done["status"] == "SUCCEEDED", done
    answer = output(done)
    assert answer["Payload"] == {"doubled": 42}
    assert answer["StatusCode"] == 200 and answer["ExecutedVersion"] == "$LATEST"

    error = caught(run_machine(definition, lambda_role, {"n": 3, "fail": True}))
    assert error["Error"] == "ValueError"
    assert cause_of(error)["errorMessage"] == "asked to fail at 3"


def test_a_function_arn_resource_answers_the_payload_alone(run_machine, lambda_role, doubler):
    done = run_machine(machine(task(doubler)), lambda_role, {"n": 4})
    assert output(done) == {"doubled": 8}
    assert [e["type"] for e in done["history"]][2:5] == [
        "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded"]

    error = caught(run_machine(machine(task(doubler)), lambda_role, {"n": 4, "fail": True}))
    assert error["Error"] == "ValueError"


def test_lambda_invoke_of_a_missing_function_is_lambdas_own_exception(run_machine, machine_role):
    role = machine_role(allow("lambda:InvokeFunction", "*"))
    missing = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:nowhere"
    error = caught(run_machine(machine(task(LAMBDA, {"FunctionName": missing})), role))
    assert error["Error"] == "Lambda.ResourceNotFoundException"
    assert "(Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; Request ID: " in \
        error["Cause"]


def test_lambda_invoke_takes_the_invocation_type(run_machine, lambda_role, doubler):
    done = run_machine(machine(task(LAMBDA, {"FunctionName": doubler, "InvocationType": "Event",
                                             "Payload": {"n": 1}})), lambda_role)
    assert output(done)["StatusCode"] == 202


def test_retry_waits_interval_times_backoff_for_max_attempts_then_catch_routes_the_error(run_machine, lambda_role,
                                                                                        doubler):
    retrying = task(LAMBDA, {"FunctionName": doubler, "Payload.$": "$"}, Retry=[
        {"ErrorEquals": ["Lambda.TooManyRequestsException"], "MaxAttempts": 5},
        {"ErrorEquals": ["ValueError"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 2}])
    done = run_machine(machine(retrying), lambda_role, {"n": 1, "fail": True})
    assert caught(done)["Error"] == "ValueError"
    scheduled = [e["timestamp"] for e in events(done, "TaskScheduled")]
    assert len(scheduled) == 3   # the first attempt and two retries
    first_wait, second_wait = scheduled[1] - scheduled[0], scheduled[2] - scheduled[1]
    assert timedelta(seconds=1) <= first_wait < timedelta(seconds=2)
    assert timedelta(seconds=2) <= second_wait < timedelta(seconds=3)


def test_states_task_failed_catches_a_task_error_but_not_a_timeout(run_machine, machine_role, make_function):
    slow = make_function("slow", "import time\ndef lambda_handler(event, context):\n    time.sleep(5)\n", Timeout=10)
    role = machine_role(allow("lambda:InvokeFunction", [slow, f"{slow}:*"]))
    timing_out = task(LAMBDA, {"FunctionName": slow}, TimeoutSeconds=1, Catch=[
        {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.Error", "Next": "Caught"}])
    done = run_machine(machine(timing_out), role)
    assert done["status"] == "FAILED" and done["error"] == "States.Timeout", done

    timing_out["Catch"].append({"ErrorEquals": ["States.Timeout"], "ResultPath": "$.Error", "Next": "Caught"})
    assert caught(run_machine(machine(timing_out), role))["Error"] == "States.Timeout"


# Glue.
@pytest.fixture
def glue_job(clients):
    """glue_job(name, script) -> the job, its script in S3."""
    s3, glue = clients("s3"), clients("glue")
    s3.create_bucket(Bucket="sfn-glue-scripts")
    # A run fetches its script as the job's role.
    service_role(clients, f"arn:aws:iam::{ACCOUNT}:role/glue", "glue.amazonaws.com",
                 [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::sfn-glue-scripts/*"}])

    def make(name, script):
        s3.put_object(Bucket="sfn-glue-scripts", Key=f"{name}.py", Body=script.encode())
        glue.create_job(Name=name, Role=f"arn:aws:iam::{ACCOUNT}:role/glue", GlueVersion="3.0",
                        Command={"Name": "pythonshell", "PythonVersion": "3.9",
                                 "ScriptLocation": f"s3://sfn-glue-scripts/{name}.py"})
        return name
    return make


@pytest.fixture
def glue_role(machine_role):
    return machine_role(allow(["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"],
                              f"arn:aws:glue:{REGION}:{ACCOUNT}:job/*"))


def test_glue_start_job_run_answers_the_run_and_sync_waits_for_its_end(run_machine, glue_role, glue_job, clients):
    job = glue_job("etl-ok", GLUE_SCRIPT_OK)
    started = output(run_machine(machine(task("arn:aws:states:::glue:startJobRun", {"JobName": job})), glue_role))
    assert started["JobName"] == job and started["JobRunId"].startswith("jr_")
    # The job allows one run at a time (MaxConcurrentRuns 1), as in Glue: the next waits for this one's end.
    glue = clients("glue")
    wait_for(lambda: glue.get_job_run(JobName=job, RunId=started["JobRunId"])["JobRun"]["JobRunState"]
             in ("SUCCEEDED", "FAILED"), what="the first run to end")

    done = run_machine(machine(task("arn:aws:states:::glue:startJobRun.sync", {"JobName": job,
                                                                              "Arguments": {"--day": "1"}})),
                       glue_role)
    run = output(done)
    assert run["JobRunState"] == "SUCCEEDED", run
    assert run["JobName"] == job and run["Arguments"] == {"--day": "1"}
    assert isinstance(run["StartedOn"], int) and run["CompletedOn"] >= run["StartedOn"]   # epoch milliseconds


def test_a_glue_run_that_fails_fails_its_sync_task_with_the_run_as_the_cause(run_machine, glue_role, glue_job):
    job = glue_job("etl-fails", GLUE_SCRIPT_FAILS)
    error = caught(run_machine(machine(task("arn:aws:states:::glue:startJobRun.sync", {"JobName": job})), glue_role))
    assert error["Error"] == "States.TaskFailed"
    run = cause_of(error)
    assert run["JobRunState"] == "FAILED" and "row 3 has no rings" in run["ErrorMessage"]


def test_a_missing_glue_job_is_glues_entity_not_found(run_machine, glue_role):
    error = caught(run_machine(machine(task("arn:aws:states:::glue:startJobRun", {"JobName": "nowhere"})),
                               glue_role))
    assert error["Error"] == "Glue.EntityNotFoundException"
    assert "(Service: AWSGlue; Status Code: 400; Error Code: EntityNotFoundException;" in error["Cause"]


# Step Functions.
CHILD = {"StartAt": "Double", "States": {"Double": {
    "Type": "Pass", "Parameters": {"twice.$": "States.MathAdd($.n, $.n)"}, "End": True}}}
FAILING_CHILD = {"StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "ChildSaidNo", "Cause": "because"}}}


@pytest.fixture
def children(clients, machine_role):
    """The state machines the parent starts, and the parent's role (it may start, describe and stop them)."""
    role = machine_role(allow(["states:StartExecution"], f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:child-*"),
                        allow(["states:DescribeExecution", "states:StopExecution"],
                              f"arn:aws:states:{REGION}:{ACCOUNT}:execution:child-*"))
    sfn = clients("stepfunctions")
    made = {name: sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)[
        "stateMachineArn"] for name, definition in (("child-ok", CHILD), ("child-fails", FAILING_CHILD))}
    return role, made


@pytest.mark.parametrize("pattern", ["", ".sync", ".sync:2"])
def test_start_execution_answers_as_step_functions_does(run_machine, children, pattern):
    role, made = children
    started = task(f"arn:aws:states:::states:startExecution{pattern}",
                   {"StateMachineArn": made["child-ok"], "Input": {"n": 4}})
    answer = output(run_machine(machine(started), role))
    assert answer["ExecutionArn"].startswith(f"arn:aws:states:{REGION}:{ACCOUNT}:execution:child-ok:")
    assert isinstance(answer["StartDate"], int)
    if pattern:
        assert answer["Status"] == "SUCCEEDED"
        assert answer["Output"] == ({"twice": 8} if pattern == ".sync:2" else json.dumps({"twice": 8}))


def test_a_child_execution_that_fails_fails_the_sync_task(run_machine, children):
    role, made = children
    error = caught(run_machine(machine(task("arn:aws:states:::states:startExecution.sync",
                                            {"StateMachineArn": made["child-fails"]})), role))
    assert error["Error"] == "States.TaskFailed"
    assert cause_of(error)["Error"] == "ChildSaidNo" and cause_of(error)["Status"] == "FAILED"


def test_starting_a_missing_state_machine_is_step_functions_own_exception(run_machine, children):
    role, _ = children
    missing = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:child-nowhere"
    error = caught(run_machine(machine(task("arn:aws:states:::states:startExecution",
                                            {"StateMachineArn": missing})), role))
    assert error["Error"] == "StepFunctions.StateMachineDoesNotExistException"
    assert "(Service: AWSStepFunctions; Status Code: 400; Error Code: StateMachineDoesNotExist;" in error["Cause"]


# SageMaker.
@pytest.fixture
def sagemaker_tasks_role(machine_role, sagemaker_role):
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
    return machine_role(
        allow(["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"],
              f"{arn}:training-job/*"),
        allow(["sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob"],
              f"{arn}:processing-job/*"),
        allow(["sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"],
              f"{arn}:transform-job/*"),
        allow(["sagemaker:CreateModel"], f"{arn}:model/*"),
        allow(["sagemaker:CreateEndpointConfig"], f"{arn}:endpoint-config/*"),
        allow(["sagemaker:CreateEndpoint"], [f"{arn}:endpoint/*", f"{arn}:endpoint-config/*"]),
        pass_role(sagemaker_role))


def training(name, **hyperparameters):
    return task("arn:aws:states:::sagemaker:createTrainingJob.sync", training_request(name, hyperparameters))


def test_a_sync_training_job_answers_its_description_once_completed(run_machine, sagemaker_tasks_role):
    done = run_machine(machine(training("sfn-train-ok", epochs="2")), sagemaker_tasks_role)
    job = output(done)
    assert job["TrainingJobStatus"] == "Completed", job
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{BUCKET}/models/sfn-train-ok/output/model.tar.gz"
    assert job["HyperParameters"] == {"epochs": "2"}
    assert isinstance(job["TrainingStartTime"], int) and job["TrainingEndTime"] >= job["TrainingStartTime"]
    assert [e["type"] for e in done["history"]][2:6] == ["TaskScheduled", "TaskStarted", "TaskSubmitted",
                                                         "TaskSucceeded"]
    submitted = json.loads(events(done, "TaskSubmitted")[0]["taskSubmittedEventDetails"]["output"])
    assert submitted["TrainingJobArn"].endswith(":training-job/sfn-train-ok")


def test_a_training_job_that_fails_fails_its_task_with_the_job_as_the_cause(run_machine, sagemaker_tasks_role):
    error = caught(run_machine(machine(training("sfn-train-bad", epochs="many")), sagemaker_tasks_role))
    assert error["Error"] == "States.TaskFailed"
    job = cause_of(error)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: hyperparameter epochs='many' is not a whole number"


def test_request_response_training_answers_the_arn_without_waiting(run_machine, sagemaker_tasks_role, clients):
    started = task("arn:aws:states:::sagemaker:createTrainingJob", training_request("sfn-train-rr", {"sleep": "3"}))
    answer = output(run_machine(machine(started), sagemaker_tasks_role))
    assert answer == {"TrainingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/sfn-train-rr"}
    assert clients("sagemaker").describe_training_job(TrainingJobName="sfn-train-rr")["TrainingJobStatus"] == \
        "InProgress"


def test_a_sync_processing_job_waits_on_the_jobs_status(run_machine, sagemaker_tasks_role, sagemaker_role):
    processing = task("arn:aws:states:::sagemaker:createProcessingJob.sync", {
        "ProcessingJobName": "sfn-processing", "RoleArn": sagemaker_role,
        "AppSpecification": {"ImageUri": IMAGE_URI, "ContainerEntrypoint": ["sh", "-c", "sleep 1"]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 5}}})
    job = output(run_machine(machine(processing), sagemaker_tasks_role))
    assert job["ProcessingJobName"] == "sfn-processing"
    assert job["ProcessingJobStatus"] == "Completed"


def test_a_sync_transform_job_answers_its_description(clients, run_machine, sagemaker_tasks_role, sagemaker_role):
    clients("sagemaker").create_model(ModelName="sfn-transform-model", ExecutionRoleArn=sagemaker_role,
                                      PrimaryContainer={"Image": IMAGE_URI})
    transform = task("arn:aws:states:::sagemaker:createTransformJob.sync", {
        "TransformJobName": "sfn-transform", "ModelName": "sfn-transform-model",
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                           "S3Uri": f"s3://{BUCKET}/training/"}}},
        "TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/transformed/"},
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"}})
    job = output(run_machine(machine(transform), sagemaker_tasks_role))
    assert job["TransformJobName"] == "sfn-transform" and job["TransformJobStatus"] == "Completed", job


def test_a_sagemaker_error_is_amazon_sagemaker_exception_with_the_api_error_in_the_cause(run_machine,
                                                                                        sagemaker_tasks_role):
    create = task("arn:aws:states:::sagemaker:createEndpoint",
                  {"EndpointName": "sfn-nothing", "EndpointConfigName": "no-such-config"})
    error = caught(run_machine(machine(create), sagemaker_tasks_role))
    assert error["Error"] == "SageMaker.AmazonSageMakerException"
    assert "(Service: AmazonSageMaker; Status Code: 400; Error Code: ValidationException; Request ID: " in \
        error["Cause"]


def test_a_stopped_execution_stops_its_sync_training_job(clients, sagemaker_tasks_role):
    sfn, sm = clients("stepfunctions"), clients("sagemaker")
    arn = sfn.create_state_machine(name="stops", roleArn=sagemaker_tasks_role, definition=json.dumps(
        machine(training("sfn-train-stopped", sleep="30"))))["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    wait_for(lambda: sm.list_training_jobs(NameContains="sfn-train-stopped")["TrainingJobSummaries"], 30,
             what="the training job to start")
    sfn.stop_execution(executionArn=execution, error="Enough", cause="stopped by the test")
    assert training_job_done(sm, "sfn-train-stopped", 60)["TrainingJobStatus"] == "Stopped"


# What Step Functions refuses.
@pytest.mark.parametrize("resource", ["arn:aws:states:::sagemaker:createEndpoint.sync",
                                      "arn:aws:states:::sagemaker:createModel.waitForTaskToken",
                                      "arn:aws:states:::sagemaker:createSomething",
                                      "arn:aws:states:::lambda:invoke.sync",
                                      "arn:aws:states:::glue:startJobRun.waitForTaskToken"])
def test_an_integration_step_functions_does_not_offer_is_an_invalid_definition(clients, machine_role, resource):
    with pytest.raises(ClientError) as refused:
        clients("stepfunctions").create_state_machine(name="refused", roleArn=machine_role(), definition=json.dumps(
            machine(task(resource, {}), caught=False)))
    assert refused.value.response["Error"]["Code"] == "InvalidDefinition"
    assert refused.value.response["Error"]["Message"] == (
        f"Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: The resource provided {resource} is not "
        "recognized. The value is not a valid resource ARN, or the resource is not available in this region. "
        "at /States/Task1/Resource'")


def test_a_field_the_api_lacks_is_a_runtime_error_no_catch_can_route(run_machine, sagemaker_tasks_role):
    misspelt = task("arn:aws:states:::sagemaker:createModel", {"ModelName": "m", "executionRoleArn": "x"})
    done = run_machine(machine(misspelt), sagemaker_tasks_role)
    assert done["status"] == "FAILED" and done["error"] == "States.Runtime", done
    assert 'The field "executionRoleArn" is not supported by Step Functions' in done["cause"]
    assert done["cause"].startswith("An error occurred while executing the state 'Task1'")


def test_a_wrong_type_is_a_runtime_error(run_machine, sagemaker_tasks_role):
    wrong = training("sfn-train-typed")
    wrong["Parameters"]["ResourceConfig"]["InstanceCount"] = "one"
    done = run_machine(machine(wrong), sagemaker_tasks_role)
    assert done["status"] == "FAILED" and done["error"] == "States.Runtime", done
    assert "could not be used to start the Task" in done["cause"] and "InstanceCount" in done["cause"]


def test_an_integration_the_local_cloud_cannot_run_to_its_end_fails_its_task_where_a_catch_routes_it(run_machine,
                                                                                                    machine_role):
    build = task("arn:aws:states:::codebuild:startBuild.sync", {"ProjectName": "anything"})
    error = caught(run_machine(machine(build), machine_role()))
    assert error["Error"] == "States.TaskFailed"
    assert "does not run the .sync integration of codebuild:startBuild" in error["Cause"]


def test_an_error_of_an_integration_the_local_cloud_only_forwards_is_named_and_caught(run_machine, machine_role):
    build = task("arn:aws:states:::codebuild:startBuild", {"ProjectName": "anything"})
    error = caught(run_machine(machine(build), machine_role()))
    assert error["Error"] == "CodeBuild.AWSCodeBuildException"
    assert "is not authorized to perform: codebuild:StartBuild" in error["Cause"]
    assert "(Service: AWSCodeBuild; Status Code: 400; Error Code: AccessDeniedException;" in error["Cause"]


# The names, as Step Functions gives them for what the local cloud rarely produces.
@pytest.mark.parametrize("service, code, name", [
    ("lambda", "ServiceException", "Lambda.ServiceException"),
    ("lambda", "TooManyRequestsException", "Lambda.TooManyRequestsException"),
    ("lambda", "AccessDeniedException", "Lambda.AWSLambdaException"),
    ("sagemaker", "ResourceLimitExceeded", "SageMaker.ResourceLimitExceededException"),
    ("sagemaker", "ResourceInUse", "SageMaker.ResourceInUseException"),
    ("sagemaker", "ThrottlingException", "SageMaker.AmazonSageMakerException"),
    ("glue", "ConcurrentRunsExceededException", "Glue.ConcurrentRunsExceededException"),
    ("stepfunctions", "ExecutionAlreadyExists", "StepFunctions.ExecutionAlreadyExistsException"),
    ("athena", "InvalidRequestException", "Athena.InvalidRequestException"),
    ("athena", "AccessDeniedException", "Athena.AmazonAthenaException"),
])
def test_a_services_error_is_named_as_the_java_sdk_names_its_exception(service, code, name):
    assert error_name(service, code) == name


def test_a_function_error_without_an_error_type_is_lambda_unknown_and_a_client_failure_sdk_client_exception():
    class Env:   # what a failure reads of its environment
        next_state_name = "Invoke"

        class event_history_context:  # noqa: N801
            source_event_id = 2

    crashed = known_failure(Env(), LambdaFunctionErrorException("Unhandled", '{"errorMessage": "out of memory"}'),
                            "lambda", "invoke", "lambda")
    assert crashed.error_name.error_name == "Lambda.Unknown"
    assert crashed.event_details["taskFailedEventDetails"]["cause"] == '{"errorMessage": "out of memory"}'
    assert known_failure(Env(), LambdaFunctionErrorException("Unhandled", '{"errorType": "KeyError"}'), "lambda") \
        is None   # moto names it by its errorType
    error, cause = error_and_cause("lambda", EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    assert error == "Lambda.SdkClientException" and "Unable to execute HTTP request" in cause


def test_a_definition_that_does_not_parse_is_an_invalid_definition_with_its_code(clients, machine_role):
    with pytest.raises(ClientError) as refused:
        clients("stepfunctions").create_state_machine(name="broken", roleArn=machine_role(),
                                                      definition='{"StartAt": "Nowhere", "States": {"X": 1}}')
    assert refused.value.response["Error"]["Code"] == "InvalidDefinition"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
