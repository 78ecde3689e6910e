"""Source actions: an S3 object or a CodeCommit branch becomes the output artifact, with its revision, read as the
pipeline's role (a CodeCommit source needs GetBranch, GetCommit, UploadArchive and GetUploadArchiveStatus on the
repository, as CodePipeline archives the branch there)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from ...server import ACCOUNT_ID
from ..exceptions import DENIED, ActionFailed
from ..models import ActionExecution, ActionResult

if TYPE_CHECKING:
    from ..engine import PipelineEngine


log = logging.getLogger("mlops_workshop.localcloud.codepipeline")


def s3_source(rt: "PipelineEngine", run: ActionExecution) -> ActionResult:
    config = run.resolved_configuration
    bucket, key = config.get("S3Bucket"), config.get("S3ObjectKey")
    if not bucket or not key:
        raise ActionFailed("An S3 source action needs S3Bucket and S3ObjectKey", "ConfigurationError")
    from botocore.exceptions import ClientError
    try:
        obj = rt.client("s3", run.execution.pipeline, run.execution.region).get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in DENIED:
            raise rt.refused(exc.response["Error"].get("Message", str(exc))) from None
        if code in ("NoSuchKey", "404", "NoSuchBucket"):
            raise ActionFailed(f"The object s3://{bucket}/{key} does not exist: upload it, then start the pipeline "
                               f"again ({code})", "ConfigurationError") from None
        raise ActionFailed(f"Could not read s3://{bucket}/{key}: {exc}") from None
    body = obj["Body"].read()
    revision = obj.get("VersionId") or obj.get("ETag", "").strip('"')
    outputs = run.action.get("outputArtifacts") or []
    for item in outputs:
        artifact = rt.new_artifact(run, item["name"])
        artifact.revision = revision
        rt.put_artifact(run, artifact, body)
    rt.note_revision(run, revision)
    run.execution.revisions.append({"name": outputs[0]["name"] if outputs else run.name, "actionName": run.name,
                                    "revisionId": revision, "revisionSummary": f"s3://{bucket}/{key}",
                                    "created": time.time()})
    variables = {"ETag": obj.get("ETag", "").strip('"')}
    if obj.get("VersionId"):
        variables["VersionId"] = obj["VersionId"]
    return ActionResult(summary=f"s3://{bucket}/{key} ({len(body)} bytes)", external_id=revision, variables=variables)


def codecommit_source(rt: "PipelineEngine", run: ActionExecution) -> ActionResult:
    config = run.resolved_configuration
    repo, branch = config.get("RepositoryName"), config.get("BranchName")
    if not repo or not branch:
        raise ActionFailed("A CodeCommit source action needs RepositoryName and BranchName", "ConfigurationError")
    codecommit = rt.cloud.service("codecommit")
    region = run.action.get("region") or run.execution.region
    rt.judged_call(run, "codecommit", "GetBranch", {"repositoryName": repo, "branchName": branch})
    try:
        commit_id, body = codecommit.archive_branch(repo, branch)
    except Exception as exc:
        raise ActionFailed(f"Could not read branch {branch} of repository {repo}: {exc}") from None
    rt.judged_call(run, "codecommit", "GetCommit", {"repositoryName": repo, "commitId": commit_id})
    for action in ("codecommit:UploadArchive", "codecommit:GetUploadArchiveStatus"):
        rt.judged(run, action, f"arn:aws:codecommit:{region}:{ACCOUNT_ID}:{repo}")
    for item in run.action.get("outputArtifacts") or []:
        artifact = rt.new_artifact(run, item["name"])
        artifact.revision = commit_id
        rt.put_artifact(run, artifact, body)
    rt.note_revision(run, commit_id)
    variables = {"CommitId": commit_id, "BranchName": branch, "RepositoryName": repo}
    try:
        commit = codecommit.repository(repo).commit(commit_id)
        variables["CommitMessage"] = commit.get("message", "").strip()
        for key, name in (("author", "AuthorDate"), ("committer", "CommitterDate")):
            if commit.get(key, {}).get("date"):
                variables[name] = commit[key]["date"]
    except Exception:
        log.debug("no commit details for %s in %s", commit_id, repo)
    outputs = run.action.get("outputArtifacts") or []
    run.execution.revisions.append({"name": outputs[0]["name"] if outputs else run.name, "actionName": run.name,
                                    "revisionId": commit_id,
                                    "revisionSummary": variables.get("CommitMessage") or f"{repo}@{branch}",
                                    "created": time.time()})
    return ActionResult(summary=f"{repo} branch {branch} at {commit_id[:12]}", external_id=commit_id,
                        variables=variables)
