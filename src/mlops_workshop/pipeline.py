"""Create the pipeline stack and watch it run: the library behind `mlops-workshop demo`, for any target.

Everything here talks to AWS through the boto3 session it is given (the local cloud's, or a real account's):

- `push_sources`: the three code trees to the CodeCommit branches the pipeline's sources read, with real git;
  `upload_sources`: the same trees as zips in the data bucket, for the stack's S3 sources;
- `upload_packages`: the Lambda packages, and the deployed functions' code when a package changed;
- `upload_dataset`: the data set, only when its bytes changed (a new version of the data starts an execution);
- `deploy_stack`: create or update `cloudformation/mlops-pipeline.yml` and wait for it;
- `follow`: report a pipeline execution stage by stage until it ends; `PipelineRun` holds the outcome;
- `set_monitors`, `waiting_approvals`, `answer_approval`: approvals by the monitors or by a person;
- `evaluation_report`, `model_package`, `sample_prediction`: what the summary shows.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from . import REPO_ROOT, codecommit_auth, packaging, pipeline_jobs
from .config import WorkshopNames

TEMPLATE = REPO_ROOT / "cloudformation" / "mlops-pipeline.yml"
STAGES = ("Source", "Build", "ETL", "ETLApproval", "Train", "TrainApproval", "DeployDev", "SystemTest", "DeployPrd")
APPROVALS = {"ETLApproval": "ApproveETL", "TrainApproval": "ApproveTrain"}
# CloudFormation takes a template body up to this size; larger ones go through S3.
MAX_TEMPLATE_BODY = 51_200
# What git leaves out of the branches, beside what the folders' own .gitignore files say.
GIT_EXCLUDES = ("__pycache__/", "*.py[co]", ".pytest_cache/", ".ipynb_checkpoints/", ".DS_Store",
                "build-ca/*", "!build-ca/.keep")
# A raw abalone row without rings (sex, then the seven sizes): what the summary asks each endpoint.
SAMPLE_ROW = "M,0.455,0.365,0.095,0.514,0.2245,0.101,0.15"
FINAL_STACK = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
# The stack's SourceProvider: CodeCommit branches, or zips in the data bucket for accounts without CodeCommit.
SOURCE_PROVIDERS = ("CodeCommit", "S3")
SOURCE_OPTIONS = {provider.lower(): provider for provider in SOURCE_PROVIDERS}  # as a command line or notebook says it

Progress = Callable[[str], None]


class PipelineError(RuntimeError):
    """Something the pipeline needs failed; the message says what and where to look."""


def source_folders(names: WorkshopNames, root: Path = REPO_ROOT) -> dict[str, Path]:
    """Each CodeCommit branch the pipeline reads and the project folder that is its content."""
    return {names.model_branch: root / "container", names.etl_branch: root / "etl",
            names.test_branch: root / "tests" / "system_test"}


# ---------- code ----------
def _git(git_dir: Path, *args: str, env: dict[str, str] | None = None, check: bool = True,
         work_tree: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = ["git", f"--git-dir={git_dir}"] + ([f"--work-tree={work_tree}"] if work_tree else []) + list(args)
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    result = subprocess.run(command, capture_output=True, text=True, env=full_env, check=False,
                            cwd=work_tree or git_dir)
    if check and result.returncode != 0:
        raise PipelineError(codecommit_auth.redact(
            f"git {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"))
    return result


AUTHOR = {"GIT_AUTHOR_NAME": "mlops-workshop", "GIT_AUTHOR_EMAIL": "mlops-workshop@example.com",
          "GIT_COMMITTER_NAME": "mlops-workshop", "GIT_COMMITTER_EMAIL": "mlops-workshop@example.com"}


def _git_dir(git_dir: Path) -> Path:
    if not (git_dir / "HEAD").exists():
        git_dir.mkdir(parents=True, exist_ok=True)
        _git(git_dir, "init", "--quiet", "--bare")
    (git_dir / "info").mkdir(exist_ok=True)
    (git_dir / "info" / "exclude").write_text("\n".join(GIT_EXCLUDES) + "\n")
    return git_dir


def _write_tree(git_dir: Path, folder: Path, label: str) -> str:
    """The git tree of `folder`'s files as a push would send them (GIT_EXCLUDES and .gitignore files honoured)."""
    index = {"GIT_INDEX_FILE": str(git_dir / f"index-{label}")}
    Path(index["GIT_INDEX_FILE"]).unlink(missing_ok=True)
    _git(git_dir, "add", "--all", ".", env=index, work_tree=folder)
    tree = _git(git_dir, "write-tree", env=index).stdout.strip()
    Path(index["GIT_INDEX_FILE"]).unlink(missing_ok=True)
    return tree


def push_folder(clone_url: str, branch: str, folder: Path, git_dir: Path, message: str) -> tuple[str, bool]:
    """Make `branch` hold exactly `folder`'s files: a commit on the branch's tip when they differ.

    Returns (commit id, whether a commit was pushed). Running it again with unchanged files pushes nothing, so
    the pipeline's sources see no new revision."""
    if not folder.is_dir():
        raise PipelineError(f"{folder} is missing: it is what the pipeline's {branch} branch holds")
    _git_dir(git_dir)
    fetched = _git(git_dir, "fetch", "--quiet", "--no-tags", clone_url, f"+refs/heads/{branch}:refs/remotes/{branch}",
                   check=False)
    if fetched.returncode != 0:
        if "couldn't find remote ref" not in fetched.stderr.lower():
            raise PipelineError(codecommit_auth.redact(f"git fetch from {clone_url} failed: {fetched.stderr.strip()}"))
        _git(git_dir, "update-ref", "-d", f"refs/remotes/{branch}", check=False)  # a new (or deleted) branch
    parent = _git(git_dir, "rev-parse", "--verify", "--quiet", f"refs/remotes/{branch}", check=False).stdout.strip()
    tree = _write_tree(git_dir, folder, branch)
    if parent and _git(git_dir, "rev-parse", f"{parent}^{{tree}}").stdout.strip() == tree:
        return parent, False
    commit = _git(git_dir, "commit-tree", tree, *(["-p", parent] if parent else []), "-m", message,
                  env=AUTHOR).stdout.strip()
    _git(git_dir, "push", "--quiet", clone_url, f"{commit}:refs/heads/{branch}")
    return commit, True


def source_zip(folder: Path, git_dir: Path) -> bytes:
    """The zip an S3 source action reads: the files a push would send, with their modes, byte for byte the same
    for the same files (so that an unchanged folder leaves the S3 object, and the pipeline, alone)."""
    if not folder.is_dir():
        raise PipelineError(f"{folder} is missing: it is what the pipeline's S3 source reads")
    _git_dir(git_dir)
    tree = _write_tree(git_dir, folder, "zip")
    fixed = {**AUTHOR, "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z"}
    commit = _git(git_dir, "commit-tree", tree, "-m", "source", env=fixed).stdout.strip()
    archive = subprocess.run(["git", f"--git-dir={git_dir}", "archive", "--format=zip", commit],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        raise PipelineError(f"git archive of {folder} failed: {archive.stderr.decode(errors='replace').strip()}")
    return archive.stdout


def source_keys(names: WorkshopNames) -> dict[str, str]:
    """Each branch's zip in the data bucket, where the stack's S3 sources read them (SourceProvider S3)."""
    return {names.model_branch: names.model_source_key, names.etl_branch: names.etl_source_key,
            names.test_branch: names.test_source_key}


def upload_sources(session, names: WorkshopNames, work_dir: Path, folders: dict[str, Path] | None = None,
                   progress: Progress = print) -> dict[str, tuple[str, bool]]:
    """Each source folder as a zip in the data bucket (SourceProvider S3, for accounts without CodeCommit); an
    unchanged zip is not uploaded again."""
    s3 = session.client("s3")
    folders = {**source_folders(names), **(folders or {})}
    git_dir = Path(work_dir) / "sources.git"
    uploaded = {}
    for branch, key in source_keys(names).items():
        folder = folders[branch]
        changed = _put_if_changed(s3, names.data_bucket, key, source_zip(folder, git_dir), "application/zip")
        where = folder.relative_to(REPO_ROOT) if folder.is_relative_to(REPO_ROOT) else folder
        uploaded[branch] = (f"s3://{names.data_bucket}/{key}", changed)
        progress(f"  {branch:<6} s3://{names.data_bucket}/{key} {'uploaded' if changed else 'unchanged'} ({where}/)")
    return uploaded


def push_sources(session, names: WorkshopNames, work_dir: Path, folders: dict[str, Path] | None = None,
                 progress: Progress = print) -> dict[str, tuple[str, bool]]:
    """Push each source folder to its branch of the CodeCommit repository (git over its HTTPS clone URL);
    `folders` ({branch: folder}) replaces some of the project's folders."""
    codecommit = session.client("codecommit")
    clone_url = codecommit.get_repository(repositoryName=names.code_repo_name)["repositoryMetadata"]["cloneUrlHttp"]
    # CodeCommit in an account takes the session's credentials as a signed URL; the local cloud needs none.
    remote = codecommit_auth.signed_url(clone_url, session)
    folders = {**source_folders(names), **(folders or {})}
    git_dir = Path(work_dir) / "sources.git"
    git_dir.parent.mkdir(parents=True, exist_ok=True)
    pushed = {}
    for branch, folder in folders.items():
        where = folder.relative_to(REPO_ROOT) if folder.is_relative_to(REPO_ROOT) else folder
        commit, changed = push_folder(remote, branch, folder, git_dir, f"{where}/ from the workshop")
        pushed[branch] = (commit, changed)
        progress(f"  {branch:<6} {commit[:12]} {'pushed' if changed else 'unchanged'} ({where}/)")
    return pushed


# ---------- S3 inputs ----------
def _etag(s3, bucket: str, key: str) -> str | None:
    try:
        return s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def _put_if_changed(s3, bucket: str, key: str, body: bytes, content_type: str) -> bool:
    """Put the object unless the same bytes are there (a new version would start an execution); True if put."""
    if _etag(s3, bucket, key) == hashlib.md5(body).hexdigest():  # noqa: S324 - S3's ETag
        return False
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    return True


def upload_dataset(session, names: WorkshopNames, source: str | os.PathLike | bytes | None = None) -> bool:
    """Put the raw data in the data bucket unless the same bytes are there; True when uploaded.

    `source`: a CSV file (checked against the abalone schema), raw bytes (uploaded as they are, unchecked), or
    None for the bundled data set. A new object version is what starts a pipeline execution."""
    body = source if isinstance(source, bytes) else packaging.dataset_csv(source)
    return _put_if_changed(session.client("s3"), names.data_bucket, names.raw_data_key, body, "text/csv")


def upload_dataset_step(session, names: WorkshopNames, source: str | os.PathLike | bytes | None = None,
                        progress: Progress = print) -> bool:
    uploaded = upload_dataset(session, names, source)
    progress(f"  data set s3://{names.data_bucket}/{names.raw_data_key} {'uploaded' if uploaded else 'unchanged'}")
    return uploaded


def upload_packages(session, names: WorkshopNames, progress: Progress = print) -> dict[str, str]:
    """The Lambda packages, and new code for the stack's functions whose package changed."""
    packages = packaging.upload_lambda_packages(session.client("s3"), names.artifact_bucket, names.lambda_prefix)
    progress(f"  {len(packages)} Lambda packages to s3://{names.artifact_bucket}/{names.lambda_prefix}/")
    refresh_functions(session, names.pipeline_stack_name, names.lambda_prefix, names.artifact_bucket, progress)
    return packages


def refresh_functions(session, stack_name: str, prefix: str, bucket: str, progress: Progress = print) -> list[str]:
    """Give the stack's functions their package's code when it changed (CloudFormation does not see a new zip
    under the same key). The stack's logical ids are the package names."""
    cfn, aws_lambda = session.client("cloudformation"), session.client("lambda")
    try:
        resources = cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    except ClientError:
        return []
    updated = []
    for resource in resources:
        if resource["ResourceType"] != "AWS::Lambda::Function":
            continue
        folder = packaging.LAMBDAS_DIR / resource["LogicalResourceId"]
        if not (folder / packaging.HANDLER_FILE).is_file():
            continue
        digest = base64.b64encode(hashlib.sha256(packaging.build_package(folder)).digest()).decode()
        name = resource["PhysicalResourceId"]
        if aws_lambda.get_function(FunctionName=name)["Configuration"].get("CodeSha256") == digest:
            continue
        aws_lambda.update_function_code(FunctionName=name, S3Bucket=bucket,
                                        S3Key=packaging.package_key(folder.name, prefix))
        updated.append(name)
    if updated:
        progress(f"  new code for {', '.join(updated)}")
    return updated


# ---------- the stack ----------
def stack_status(cfn, name: str) -> dict[str, Any] | None:
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in error.response["Error"].get("Message", ""):
            return None
        raise


def stack_failures(cfn, name: str, limit: int = 5) -> str:
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    failed = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}" for e in events
              if e.get("ResourceStatus", "").endswith("FAILED") and e.get("ResourceStatusReason")]
    return "; ".join(reversed(failed[:limit])) or "no failure reason recorded"


def check_source_provider(source_provider: str) -> str:
    if source_provider not in SOURCE_PROVIDERS:
        raise PipelineError(f"unknown source provider {source_provider!r}: use {' or '.join(SOURCE_PROVIDERS)}")
    return source_provider


def _parameters(names: WorkshopNames, rmse_threshold: float | None, existing: dict[str, Any] | None,
                source_provider: str = "CodeCommit") -> list[dict[str, Any]]:
    values = {
        "ModelName": names.model_name, "ImageRepoName": names.image_repo_name, "ImageTagName": names.image_tag_name,
        "DataBucket": names.data_bucket, "ArtifactBucket": names.artifact_bucket, "RawDataKey": names.raw_data_key,
        "LambdaCodePrefix": names.lambda_prefix, "SourceProvider": check_source_provider(source_provider),
        "CodeRepositoryName": names.code_repo_name, "ModelBranch": names.model_branch,
        "EtlBranch": names.etl_branch, "TestBranch": names.test_branch, "ModelSourceKey": names.model_source_key,
        "EtlSourceKey": names.etl_source_key, "TestSourceKey": names.test_source_key,
    }
    parameters = [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]
    if rmse_threshold is not None:
        parameters.append({"ParameterKey": "RmseThreshold", "ParameterValue": f"{rmse_threshold:g}"})
    elif existing:
        # The current value, given again: UsePreviousValue would do on AWS but not for a value left at its default
        # in moto's stacks.
        current = {p["ParameterKey"]: p["ParameterValue"] for p in existing.get("Parameters") or []}
        if "RmseThreshold" in current:
            parameters.append({"ParameterKey": "RmseThreshold", "ParameterValue": current["RmseThreshold"]})
    return parameters


def deploy_stack(session, names: WorkshopNames, rmse_threshold: float | None = None, template: Path = TEMPLATE,
                 timeout: float = 600, progress: Progress = print, source_provider: str = "CodeCommit"
                 ) -> tuple[str, dict[str, Any]]:
    """Create the pipeline stack, or update it; returns ("created" | "updated" | "unchanged", the stack).

    rmse_threshold None keeps the stack's current threshold (the template's default on create);
    source_provider: where the code comes from, CodeCommit branches or zips in the data bucket (S3)."""
    cfn = session.client("cloudformation")
    name = names.pipeline_stack_name
    current = stack_status(cfn, name)
    if current and current["StackStatus"].endswith("_IN_PROGRESS"):
        progress(f"  {name} is {current['StackStatus']}; waiting for it first")
        current = wait_stack(cfn, name, timeout)
    if current and current["StackStatus"] in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED"):
        progress(f"  {name} is {current['StackStatus']} (a failed create): deleting it to create it again")
        cfn.delete_stack(StackName=name)
        current = wait_stack(cfn, name, timeout)
    if current and current["StackStatus"] == "DELETE_COMPLETE":
        current = None
    body = template.read_text(encoding="utf-8")
    request: dict[str, Any] = {"StackName": name, "Capabilities": ["CAPABILITY_NAMED_IAM"],
                               "Parameters": _parameters(names, rmse_threshold, current, source_provider),
                               "Tags": [{"Key": "Project", "Value": "mlops-workshop"}]}
    if len(body.encode()) <= MAX_TEMPLATE_BODY:
        request["TemplateBody"] = body
    else:
        key = f"templates/{template.name}"
        session.client("s3").put_object(Bucket=names.artifact_bucket, Key=key, Body=body.encode())
        request["TemplateURL"] = f"https://{names.artifact_bucket}.s3.amazonaws.com/{key}"
    started = time.monotonic()
    if current is None:
        cfn.create_stack(**request)
        operation = "created"
    else:
        try:
            cfn.update_stack(**request)
            operation = "updated"
        except ClientError as error:
            if "No updates are to be performed" not in error.response["Error"].get("Message", ""):
                raise PipelineError(f"Stack {name} cannot be updated: {error.response['Error'].get('Message')}") \
                    from None
            return "unchanged", current
    final = wait_stack(cfn, name, timeout)
    status = final["StackStatus"] if final else "DELETE_COMPLETE"
    if status not in FINAL_STACK:
        raise PipelineError(f"Stack {name} ended {status} after {time.monotonic() - started:.0f} s: "
                            f"{stack_failures(cfn, name)}")
    return operation, final


def wait_stack(cfn, name: str, timeout: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while True:
        stack = stack_status(cfn, name)
        if stack is None or not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return stack
        if time.monotonic() > deadline:
            raise PipelineError(f"Stack {name} is still {stack['StackStatus']} after {timeout:.0f} s")
        time.sleep(0.5)


def stack_outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}


# ---------- executions ----------
def execution_ids(cp, pipeline: str) -> list[str]:
    """The pipeline's executions, newest first; none when it does not exist yet."""
    try:
        summaries = cp.list_pipeline_executions(pipelineName=pipeline)["pipelineExecutionSummaries"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "PipelineNotFoundException":
            return []
        raise
    return [s["pipelineExecutionId"] for s in summaries]


def new_execution(cp, pipeline: str, known: set[str], wait: float = 3.0) -> tuple[str, str]:
    """The execution that started after `known` was taken (creating the pipeline starts one), else a new one
    started now. Returns (execution id, how it started)."""
    deadline = time.monotonic() + wait
    while True:
        fresh = [e for e in execution_ids(cp, pipeline) if e not in known]
        if fresh:
            trigger = cp.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=fresh[-1])
            return fresh[-1], trigger["pipelineExecution"].get("trigger", {}).get("triggerType", "")
        if time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    return cp.start_pipeline_execution(name=pipeline)["pipelineExecutionId"], "StartPipelineExecution"


@dataclass
class StageResult:
    name: str
    status: str = "NotRun"
    seconds: float | None = None
    message: str = ""


@dataclass
class PipelineRun:
    pipeline: str
    execution_id: str
    status: str = "InProgress"
    summary: str = ""
    seconds: float = 0.0
    stages: dict[str, StageResult] = field(default_factory=dict)

    @property
    def failed_stage(self) -> StageResult | None:
        return next((s for s in self.stages.values() if s.status == "Failed"), None)

    @property
    def succeeded(self) -> bool:
        return self.status == "Succeeded"


def _message(latest: dict[str, Any]) -> str:
    return (latest.get("errorDetails") or {}).get("message") or latest.get("summary") or ""


def action_details(cp, pipeline: str, execution_id: str) -> list[dict[str, Any]]:
    details, token = [], None
    while True:
        page = cp.list_action_executions(pipelineName=pipeline, filter={"pipelineExecutionId": execution_id},
                                         **({"nextToken": token} if token else {}))
        details += page["actionExecutionDetails"]
        token = page.get("nextToken")
        if not token:
            return details


def stage_results(cp, pipeline: str, execution_id: str, stage_names: list[str]) -> dict[str, StageResult]:
    """Each stage's outcome and time in one execution, from its action executions."""
    results = {name: StageResult(name) for name in stage_names}
    spans: dict[str, list[tuple[float, float]]] = {}
    rank = {"Failed": 4, "InProgress": 3, "Abandoned": 2, "Succeeded": 1}
    for detail in action_details(cp, pipeline, execution_id):
        result = results.setdefault(detail["stageName"], StageResult(detail["stageName"]))
        spans.setdefault(result.name, []).append((_epoch(detail["startTime"]), _epoch(detail["lastUpdateTime"])))
        status = detail["status"]
        if rank.get(status, 0) > rank.get(result.status, 0):
            result.status = status
            if status == "Failed":
                outcome = detail.get("output", {}).get("executionResult", {})
                result.message = ((outcome.get("errorDetails") or {}).get("message")
                                  or outcome.get("externalExecutionSummary") or "")
    for name, times in spans.items():
        results[name].seconds = max(end for _, end in times) - min(start for start, _ in times)
    return results


def _epoch(value: Any) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def pipeline_stages(cp, pipeline: str) -> list[str]:
    return [stage["name"] for stage in cp.get_pipeline(name=pipeline)["pipeline"]["stages"]]


def waiting_approvals(cp, pipeline: str, execution_id: str | None = None) -> list[tuple[str, str, str]]:
    """(stage, action, token) of each manual approval that waits, in `execution_id` when given."""
    waiting = []
    for stage in cp.get_pipeline_state(name=pipeline)["stageStates"]:
        latest = stage.get("latestExecution") or {}
        if execution_id and latest.get("pipelineExecutionId") != execution_id:
            continue
        for action in stage.get("actionStates", []):
            state = action.get("latestExecution") or {}
            if state.get("status") == "InProgress" and state.get("token"):
                waiting.append((stage["stageName"], action["actionName"], state["token"]))
    return waiting


def follow(cp, pipeline: str, execution_id: str, timeout: float = 1800, poll: float = 0.5,
           progress: Progress = print, on_approval: Callable[[str, str], None] | None = None,
           started: float | None = None) -> PipelineRun:
    """Watch one execution until it ends, printing each stage's status as it changes (with the time since
    `started`); `on_approval(stage, action)` is called once for each approval that waits in it."""
    started = started if started is not None else time.monotonic()
    deadline = time.monotonic() + timeout
    stage_names = pipeline_stages(cp, pipeline)
    seen: dict[str, str] = {}
    announced: set[tuple[str, str]] = set()
    while True:
        execution = cp.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution_id)
        status = execution["pipelineExecution"]["status"]
        for stage in cp.get_pipeline_state(name=pipeline)["stageStates"]:
            latest = stage.get("latestExecution") or {}
            if latest.get("pipelineExecutionId") != execution_id:
                continue
            name, stage_status = stage["stageName"], latest.get("status", "")
            if seen.get(name) != stage_status:
                seen[name] = stage_status
                note = ""
                if stage_status == "Failed":
                    note = next((_message(a.get("latestExecution") or {}) for a in stage.get("actionStates", [])
                                 if (a.get("latestExecution") or {}).get("status") == "Failed"), "")
                progress(f"  {_clock(time.monotonic() - started)}  {name:<14} {stage_status}"
                         + (f": {note}" if note else ""))
            for action in stage.get("actionStates", []):
                state = action.get("latestExecution") or {}
                key = (name, action["actionName"])
                if state.get("status") == "InProgress" and state.get("token") and key not in announced:
                    announced.add(key)
                    if on_approval:
                        on_approval(*key)
        if status not in ("InProgress", "Stopping"):
            break
        if time.monotonic() > deadline:
            raise PipelineError(f"Execution {execution_id} of {pipeline} is still {status} after {timeout:.0f} s; "
                                f"it goes on in the background")
        time.sleep(poll)
    run = PipelineRun(pipeline, execution_id, status, execution["pipelineExecution"].get("statusSummary", ""),
                      time.monotonic() - started)
    run.stages = stage_results(cp, pipeline, execution_id, stage_names)
    return run


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


# ---------- approvals ----------
def monitor_rules(names: WorkshopNames) -> list[str]:
    """The EventBridge rules that send the Glue and training job ends to the monitors (the stack's names)."""
    return [f"etl-job-state-{names.model_name}", f"training-job-state-{names.model_name}"]


def set_monitors(session, names: WorkshopNames, enabled: bool) -> None:
    """Let the monitors answer the approvals (enabled), or leave them to a person (the rules disabled)."""
    events = session.client("events")
    for rule in monitor_rules(names):
        (events.enable_rule if enabled else events.disable_rule)(Name=rule)


def answer_approval(session, names: WorkshopNames, stage: str, approve: bool, summary: str = "",
                    execution_id: str | None = None) -> str:
    """Approve or reject the approval that waits in `stage` (of `execution_id`, else whichever execution).

    Approving checks what the monitor would: for ETLApproval that the execution's Glue run succeeded; for
    TrainApproval that its training job completed, and then it registers the model, pending approval, as
    TrainingJobMonitor does (the deployment stages deploy that package). Returns what was done."""
    cp = session.client("codepipeline")
    pipeline = names.pipeline_stack_name
    action = APPROVALS.get(stage)
    if action is None:
        raise PipelineError(f"{stage} is not an approval stage: use one of {', '.join(APPROVALS)}")
    waiting = [w for w in waiting_approvals(cp, pipeline) if w[0] == stage]
    if not waiting:
        raise PipelineError(f"No approval waits in {pipeline}/{stage} now")
    state = next(s for s in cp.get_pipeline_state(name=pipeline)["stageStates"] if s["stageName"] == stage)
    execution = state["latestExecution"]["pipelineExecutionId"]
    if execution_id and execution != execution_id:
        raise PipelineError(f"The approval in {stage} waits for execution {execution}, not {execution_id}")
    note = summary or f"{'Approved' if approve else 'Rejected'} from the command line"
    if approve and stage == "ETLApproval":
        note = f"{_etl_succeeded(session, names, execution)}; {note}"
    if approve and stage == "TrainApproval":
        note = f"{_register_trained_model(session, names, execution)}; {note}"
    cp.put_approval_result(pipelineName=pipeline, stageName=stage, actionName=action, token=waiting[0][2],
                           result={"status": "Approved" if approve else "Rejected", "summary": note[:512]})
    return note


def _etl_succeeded(session, names: WorkshopNames, execution_id: str) -> str:
    """What a person checks before approving the ETL: this execution's Glue run succeeded (Train reads its output)."""
    job = f"{names.model_name}-preprocess"
    try:
        runs = session.client("glue").get_job_runs(JobName=job)["JobRuns"]
    except ClientError as error:
        raise PipelineError(f"The ETL job {job} cannot be read: {error}") from None
    run = next((r for r in runs if (r.get("Arguments") or {}).get("--PIPELINE_EXECUTION_ID") == execution_id), None)
    if run is None:
        raise PipelineError(f"No run of the ETL job {job} belongs to execution {execution_id}; wait for the ETL "
                            f"stage to start it")
    if run["JobRunState"] != "SUCCEEDED":
        reason = f": {run['ErrorMessage']}" if run.get("ErrorMessage") else ""
        advice = ("wait for it to end" if run["JobRunState"] in ("STARTING", "RUNNING", "STOPPING", "WAITING")
                  else "there is no data to train on (reject it instead)")
        raise PipelineError(f"Run {run['Id']} of the ETL job {job} is {run['JobRunState']}{reason}; {advice}")
    return f"Glue run {run['Id']} of {job} succeeded"


def _register_trained_model(session, names: WorkshopNames, execution_id: str) -> str:
    sm = session.client("sagemaker")
    job_name = f"mlops-{names.model_name}-{execution_id}"
    try:
        job = sm.describe_training_job(TrainingJobName=job_name)
    except ClientError as error:
        raise PipelineError(f"Training job {job_name} of this execution cannot be read: {error}") from None
    if job["TrainingJobStatus"] != "Completed":
        raise PipelineError(f"Training job {job_name} is {job['TrainingJobStatus']}"
                            f"{': ' + job['FailureReason'] if job.get('FailureReason') else ''}; there is no model "
                            f"to approve (reject it instead, or wait for it to complete)")
    arn = pipeline_jobs.register_model_package(sm, names.model_name, job, execution_id)
    return f"model package {arn} registered"


# ---------- what the summary shows ----------
def evaluation_report(session, names: WorkshopNames, execution_id: str) -> dict[str, Any] | None:
    """The system test's evaluation report of the execution (tests/system_test: <execution>/evaluation/)."""
    try:
        body = session.client("s3").get_object(Bucket=names.artifact_bucket,
                                               Key=f"{execution_id}/evaluation/evaluation.json")["Body"].read()
    except ClientError:
        return None
    return json.loads(body)


def model_package(session, names: WorkshopNames, execution_id: str) -> dict[str, Any] | None:
    """The model package the execution's training registered (its PipelineExecutionId metadata), or None."""
    sm = session.client("sagemaker")
    try:
        summaries = sm.list_model_packages(ModelPackageGroupName=names.model_name, SortBy="CreationTime",
                                           SortOrder="Descending", MaxResults=50)["ModelPackageSummaryList"]
    except ClientError:
        return None
    for summary in summaries:
        package = sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        if package.get("CustomerMetadataProperties", {}).get("PipelineExecutionId") == execution_id:
            return package
    return None


def endpoint_package(session, endpoint: str) -> str | None:
    """The model package an endpoint serves now."""
    sm = session.client("sagemaker")
    try:
        config = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
        variant = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]
        return sm.describe_model(ModelName=variant["ModelName"]).get("PrimaryContainer", {}).get("ModelPackageName")
    except (ClientError, IndexError, KeyError):
        return None


def endpoint_answer(session, endpoint: str, row: str = SAMPLE_ROW) -> float | str:
    """The endpoint's prediction for the sample row, or why there is none."""
    try:
        status = session.client("sagemaker").describe_endpoint(EndpointName=endpoint)["EndpointStatus"]
    except ClientError:
        return "not deployed"
    if status != "InService":
        return f"{status}, not answering"
    try:
        return sample_prediction(session, endpoint, row)
    except PipelineError as error:
        return str(error)


def endpoint_predictions(session, endpoint: str, rows: list[str]) -> list[float]:
    """An endpoint's predictions (rings) for CSV rows, in one sagemaker-runtime InvokeEndpoint."""
    runtime = session.client("sagemaker-runtime")
    try:
        answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="application/json",
                                         Body="\n".join(rows).encode())
    except ClientError as error:
        raise PipelineError(f"Endpoint {endpoint} did not answer: {error}") from None
    return [float(p) for p in json.loads(answer["Body"].read())["predictions"]]


def sample_prediction(session, endpoint: str, row: str = SAMPLE_ROW) -> float:
    """Ask an endpoint for one prediction (rings) with sagemaker-runtime InvokeEndpoint."""
    return endpoint_predictions(session, endpoint, [row])[0]


def endpoint_names(names: WorkshopNames) -> dict[str, str]:
    """The endpoint of each deployment stage, as container/build.py names them."""
    return {"Dev": f"{names.model_name}-dev", "Prd": f"{names.model_name}-prd"}

