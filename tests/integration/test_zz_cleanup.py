"""`mlops-workshop cleanup` after the other integration tests (this file runs last): everything the workshop made
is deleted, the endpoints' servers stop, and a second run finds nothing left."""

from __future__ import annotations

import contextlib
import io

import pytest
from botocore.exceptions import ClientError

from mlops_workshop import cleanup, pipeline


def _run(e2e, *args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = cleanup.main(["--state-dir", str(e2e.state_dir), *args])
    return code, out.getvalue()


def test_cleanup_deletes_every_stack_bucket_and_repository_and_a_second_run_finds_nothing(e2e, first_run):
    names = e2e.names
    sm = e2e.client("sagemaker")
    assert sm.list_endpoints()["Endpoints"], "the demo's run should have left its endpoints"
    assert sm.list_model_packages(ModelPackageGroupName=names.model_name)["ModelPackageSummaryList"]

    code, output = _run(e2e)
    assert code == 0, output
    cfn = e2e.client("cloudformation")
    for stack in cleanup.stacks_to_delete(names):
        assert pipeline.stack.stack_status(cfn, stack) is None, f"{stack} is still there:\n{output}"
        assert f"stack {stack}" in output
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_model_package_groups()["ModelPackageGroupSummaryList"] == []
    assert not any(p["running"] and p["label"].startswith("endpoint") for p in e2e.processes())
    s3 = e2e.client("s3")
    for bucket in (names.data_bucket, names.artifact_bucket):
        with pytest.raises(ClientError):
            s3.head_bucket(Bucket=bucket)
    assert e2e.client("ecr").describe_repositories()["repositories"] == []
    with pytest.raises(ClientError) as no_repository:
        e2e.client("codecommit").get_repository(repositoryName=names.code_repo_name)
    assert no_repository.value.response["Error"]["Code"] == "RepositoryDoesNotExistException"

    code, output = _run(e2e)
    assert code == 0 and output.count("absent") == len(cleanup.stacks_to_delete(names)) + 4, output
