"""moto's /moto-api/reset (what moto's own tests call before each test in server mode) empties the engine too: a
pipeline created again after it has only its own executions, and the ones that ran before are gone."""

import urllib.request

import pytest
from botocore.exceptions import ClientError

from testkit.localcloud import ARTIFACTS, SOURCES, PipelineHelpers, approval_action, source_action, trust


def reset(cloud) -> None:
    request = urllib.request.Request(f"{cloud.endpoint_url}/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def set_up(cloud, clients) -> PipelineHelpers:
    clients("iam").create_role(RoleName="pipeline-test", AssumeRolePolicyDocument=trust("codepipeline.amazonaws.com"))
    s3 = clients("s3")
    for bucket in (ARTIFACTS, SOURCES):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=SOURCES, VersioningConfiguration={"Status": "Enabled"})
    helpers = PipelineHelpers(cloud, clients)
    helpers.source("app.zip", {"a.txt": "a"})
    return helpers


STAGES = [{"name": "Source", "actions": [source_action("Fetch", "app.zip", "Src")]},
          {"name": "Approve", "actions": [approval_action("Check")]}]


def test_a_reset_ends_the_running_executions_and_forgets_them(cloud, clients):
    aws = set_up(cloud, clients)
    before = aws.pipeline("reset-me", STAGES)
    aws.waiting_token("reset-me", "Approve", "Check")

    reset(cloud)

    with pytest.raises(ClientError) as error:
        aws.cp.list_pipeline_executions(pipelineName="reset-me")
    assert error.value.response["Error"]["Code"] == "PipelineNotFoundException"
    aws = set_up(cloud, clients)
    after = aws.pipeline("reset-me", STAGES)
    summaries = aws.cp.list_pipeline_executions(pipelineName="reset-me")["pipelineExecutionSummaries"]
    assert [s["pipelineExecutionId"] for s in summaries] == [after] != [before]
    with pytest.raises(ClientError) as error:
        aws.cp.get_pipeline_execution(pipelineName="reset-me", pipelineExecutionId=before)
    assert error.value.response["Error"]["Code"] == "PipelineExecutionNotFoundException"
