"""What CodePipeline sends the pipeline's functions and what they answer it.

moto has no CodePipeline job or approval calls, so the tests script each one on a Stubber: `expect_state`,
`expect_answer`, `expect_success`, `expect_failure`.
"""

from __future__ import annotations

import io
import json
import zipfile

from botocore.stub import ANY

from testkit.moto import ACCOUNT, ARTIFACT_BUCKET, NAMES

PIPELINE = NAMES.pipeline_stack_name
EXECUTION_ID = "0d9f8c7e-1234-4abc-9def-0123456789ab"
JOB_ID = "11111111-2222-3333-4444-555555555555"


class Matching:
    """A Stubber parameter that matches when the predicate holds."""

    def __init__(self, predicate):
        self.predicate = predicate

    def __eq__(self, other):
        return self.predicate(other)

    def __repr__(self):
        return "<matching value>"


def artifact_zip(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def put_artifact(s3, key: str, files: dict[str, str | bytes]) -> dict:
    """Store an input artifact in the artifact bucket; returns it as a job event lists it."""
    s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=artifact_zip(files))
    return {
        "name": key.split("/")[1],
        "revision": None,
        "location": {"type": "S3", "s3Location": {"bucketName": ARTIFACT_BUCKET, "objectKey": key}},
    }


def job_event(artifacts: list[dict], user_parameters: str | None = None, job_id: str = JOB_ID) -> dict:
    """A CodePipeline job event for a Lambda invoke action, as Lambda receives it."""
    if user_parameters is None:
        user_parameters = json.dumps({"ExecutionId": EXECUTION_ID})
    return {
        "CodePipeline.job": {
            "id": job_id,
            "accountId": ACCOUNT,
            "data": {
                "actionConfiguration": {"configuration": {"FunctionName": "fn", "UserParameters": user_parameters}},
                "inputArtifacts": artifacts,
                "outputArtifacts": [],
                "artifactCredentials": {"accessKeyId": "a", "secretAccessKey": "b", "sessionToken": "c"},
            },
        }
    }


def pipeline_state(stage, action, execution_id=EXECUTION_ID, status="InProgress", token="approval-token") -> dict:
    """GetPipelineState's answer with one approval stage; `status` None leaves the action without an execution."""
    action_state = {"actionName": action}
    if status:
        action_state["latestExecution"] = {"status": status}
        if status == "InProgress":
            action_state["latestExecution"]["token"] = token
    return {
        "pipelineName": PIPELINE,
        "pipelineVersion": 1,
        "stageStates": [
            {
                "stageName": "Source",
                "latestExecution": {"pipelineExecutionId": execution_id, "status": "Succeeded"},
                "actionStates": [],
            },
            {
                "stageName": stage,
                "latestExecution": {"pipelineExecutionId": execution_id, "status": status or "InProgress"},
                "actionStates": [action_state],
            },
        ],
    }


def expect_state(stubber, stage, action, **kwargs) -> None:
    """The next GetPipelineState answers `pipeline_state(stage, action, **kwargs)`."""
    stubber.add_response("get_pipeline_state", pipeline_state(stage, action, **kwargs), {"name": PIPELINE})


def expect_answer(stubber, stage, action, status, summary_part, seen: list) -> None:
    """The next PutApprovalResult answers the approval with `status` and a summary holding `summary_part`."""

    def matches(result):
        seen.append(result)
        return result["status"] == status and summary_part in result["summary"] and len(result["summary"]) <= 512

    stubber.add_response(
        "put_approval_result",
        {"approvedAt": "2025-01-01T00:00:00Z"},
        {
            "pipelineName": PIPELINE,
            "stageName": stage,
            "actionName": action,
            "result": Matching(matches),
            "token": "approval-token",
        },
    )


def expect_success(stubber, job_id: str = JOB_ID, external_id=ANY) -> None:
    stubber.add_response(
        "put_job_success_result",
        {},
        {"jobId": job_id, "executionDetails": {"summary": ANY, "externalExecutionId": external_id}},
    )


def expect_failure(stubber, job_id: str, failure_type: str, seen: list) -> None:
    """The next PutJobFailureResult reports `failure_type`; `seen` keeps its failure details."""

    def matches(details):
        seen.append(details)
        return details.get("type") == failure_type

    stubber.add_response("put_job_failure_result", {}, {"jobId": job_id, "failureDetails": Matching(matches)})
