"""`mlops-workshop cleanup`: delete what the workshop created, so that nothing is left running or billed.

First the stacks the pipeline made (the production and development endpoints, the system-test workflow),
then the pipeline stack itself (its Lambdas, builds, pipeline, and the model group with every model version),
then, unless --keep-data, the two buckets (every object version), the image repository and the code repository.
What is already gone is skipped, so running it again is safe.

    mlops-workshop cleanup                 the local cloud of the demo's state folder (default .state at the repository root)
    mlops-workshop cleanup --aws           the AWS account and region of your credentials (asks first)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from . import pipeline
from .config import WorkshopNames
from .localcloud import lifecycle

Progress = Callable[[str], None]


def stacks_to_delete(names: WorkshopNames) -> list[str]:
    """Newest first: the pipeline's own stacks before the pipeline stack whose roles they were made with."""
    stack = names.pipeline_stack_name
    return [f"{stack}-deploy-prd", f"{stack}-deploy-dev", f"{names.model_name}-system-test", stack]


def delete_stack(cfn: Any, name: str, timeout: float = 900) -> str:
    """Delete one stack and wait; returns "deleted" or "absent", raises PipelineError when AWS cannot delete it."""
    stack = pipeline.stack.stack_status(cfn, name)
    if stack is None or stack["StackStatus"] == "DELETE_COMPLETE":
        return "absent"
    if stack["StackStatus"].endswith("_IN_PROGRESS"):
        stack = pipeline.stack.wait_stack(cfn, name, timeout)
    cfn.delete_stack(StackName=name)
    stack = pipeline.stack.wait_stack(cfn, name, timeout)
    if stack is None or stack["StackStatus"] == "DELETE_COMPLETE":
        return "deleted"
    raise pipeline.PipelineError(f"stack {name} is {stack['StackStatus']}: {pipeline.stack.stack_failures(cfn, name)}; "
                                 f"fix or retain what blocks it, then run cleanup again")


def empty_and_delete_bucket(s3: Any, bucket: str) -> str:
    """Every object version and delete marker, then the bucket; "absent" when there is no such bucket."""
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchBucket", "NotFound"):
            return "absent"
        raise
    removed = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        objects = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                   for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for start in range(0, len(objects), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects[start:start + 1000], "Quiet": True})
        removed += len(objects)
    s3.delete_bucket(Bucket=bucket)
    return f"deleted, {removed} object versions"


def _delete_repository(call: Callable[[], Any], missing: str) -> str:
    try:
        call()
    except ClientError as error:
        if error.response["Error"]["Code"] == missing:
            return "absent"
        raise
    return "deleted"


def cleanup(session: Any, names: WorkshopNames, keep_data: bool = False, timeout: float = 900,
            progress: Progress = print) -> bool:
    """Delete the workshop's resources in the account and region of `session`; False when something remains."""
    cfn = session.client("cloudformation")
    steps: list[tuple[str, Callable[[], str]]] = [
        (f"stack {name}", lambda name=name: delete_stack(cfn, name, timeout)) for name in stacks_to_delete(names)]
    if not keep_data:
        s3, ecr, codecommit = session.client("s3"), session.client("ecr"), session.client("codecommit")
        steps += [(f"bucket {bucket}", lambda bucket=bucket: empty_and_delete_bucket(s3, bucket))
                  for bucket in (names.artifact_bucket, names.data_bucket)]
        steps.append((f"image repository {names.image_repo_name}", lambda: _delete_repository(
            lambda: ecr.delete_repository(repositoryName=names.image_repo_name, force=True),
            "RepositoryNotFoundException")))
        # CodeCommit answers a deleted repository with success and no repositoryId.
        steps.append((f"code repository {names.code_repo_name}", lambda: "deleted" if codecommit.delete_repository(
            repositoryName=names.code_repo_name).get("repositoryId") else "absent"))
    ok = True
    for label, step in steps:
        started = time.monotonic()
        try:
            outcome = step()
        except (ClientError, BotoCoreError, pipeline.PipelineError) as error:
            progress(f"  {label:<48} FAILED: {error}")
            ok = False
            if label.startswith("stack "):
                break  # the stacks after it were made with its roles; leave them for the next run
            continue
        progress(f"  {label:<48} {outcome} ({time.monotonic() - started:.1f} s)")
    return ok


def main(argv: list[str] | None = None) -> int:
    from .target import DEFAULT_STATE_DIR, account_session, cloud_dir, names_for_session, running_cloud

    parser = argparse.ArgumentParser(prog="mlops-workshop cleanup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="the demo's state folder")
    parser.add_argument("--aws", action="store_true", help="the AWS account of your credentials, not the local cloud")
    parser.add_argument("--region", help="with --aws: the region (default: your configuration's, else us-east-1)")
    parser.add_argument("--keep-data", action="store_true",
                        help="delete the stacks only; keep the buckets and the image and code repositories")
    parser.add_argument("--yes", action="store_true", help="with --aws: do not ask before deleting")
    parser.add_argument("--stop", action="store_true", help="stop the local cloud afterwards")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for each stack (default 900)")
    args = parser.parse_args(argv)
    try:
        if args.aws:
            session = account_session(args.region)
            names = names_for_session(session)
        else:
            session = running_cloud(args.state_dir)
            if session is None:
                print(f"no local cloud runs on {cloud_dir(args.state_dir)}: nothing to clean up there (its state "
                      f"folder holds everything; delete {args.state_dir} to remove it too)")
                return 0
            names = names_for_session(session)
    except (ClientError, BotoCoreError) as error:
        print(f"error: cannot reach the account: {error}; check your credentials (aws sts get-caller-identity)",
              file=sys.stderr)
        return 2
    where = f"AWS account {names.account}, {names.region}" if args.aws else f"the local cloud at {session.endpoint_url}"
    what = "the stacks" if args.keep_data else "the stacks, both buckets, the image and the code repository"
    if args.aws and not args.yes:
        answer = input(f"Delete {what} of the workshop in {where}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    print(f"cleanup in {where}: {what}")
    ok = cleanup(session, names, keep_data=args.keep_data, timeout=args.timeout)
    if not args.aws and args.stop:
        lifecycle.stop(cloud_dir(args.state_dir))
        print(f"  local cloud on {cloud_dir(args.state_dir)} stopped")
    print("done" if ok else "some resources remain (see FAILED above); run cleanup again once fixed")
    return 0 if ok else 1
