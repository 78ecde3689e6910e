"""The stack's S3 code source (for accounts without CodeCommit): the same pipeline, its code read from zips."""

from __future__ import annotations

import io
import zipfile

import pytest

from mlops_workshop import pipeline

pytestmark = pytest.mark.slow


def test_the_pipeline_switches_to_zips_in_the_data_bucket_and_runs_to_production(e2e, first_run, model_source):
    names = e2e.names
    (model_source / "MARKER.txt").write_text("this execution's model source came from S3\n")
    result = e2e.run(source_provider="S3", sources={names.model_branch: model_source})
    log = "\n".join(result.lines)
    assert result.run.succeeded, log[-6000:]
    assert "codecommit:" not in log  # no repository made or checked for this source
    for key in (names.model_source_key, names.etl_source_key, names.test_source_key):
        assert f"s3://{names.data_bucket}/{key} uploaded" in log
    cp = e2e.client("codepipeline")
    source = cp.get_pipeline(name=names.pipeline_stack_name)["pipeline"]["stages"][0]
    providers = {action["name"]: action["actionTypeId"]["provider"] for action in source["actions"]}
    assert providers == {"ModelSource": "S3", "ETLSource": "S3", "DataSource": "S3", "TestSource": "S3"}
    revisions = cp.get_pipeline_execution(pipelineName=names.pipeline_stack_name,
                                          pipelineExecutionId=result.run.execution_id)["pipelineExecution"]
    model = next(r for r in revisions["artifactRevisions"] if r["name"] == "ModelSourceOutput")
    assert model["revisionSummary"] == f"s3://{names.data_bucket}/{names.model_source_key}"
    s3 = e2e.client("s3")
    uploaded = s3.get_object(Bucket=names.data_bucket, Key=names.model_source_key)
    assert model["revisionId"] == uploaded["VersionId"]  # the execution read the zip this run uploaded
    with zipfile.ZipFile(io.BytesIO(uploaded["Body"].read())) as archive:
        assert archive.read("MARKER.txt").startswith(b"this execution's model source")
    package = pipeline.results.model_package(e2e.session, names, result.run.execution_id)
    assert package["ModelApprovalStatus"] == "Approved"
    assert pipeline.results.endpoint_package(e2e.session, pipeline.results.endpoint_names(names)["Prd"]) == package["ModelPackageArn"]
