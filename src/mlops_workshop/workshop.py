"""What the notebooks call: one connection to the target cloud, and the steps each notebook walks through.

    ws = workshop.connect()            # MLOPS_TARGET=local (the default) or aws
    ws.session.client("s3")            # boto3 for that target: the local cloud, or your account

The notebooks hold prose, calls into this module and plots; everything they do is reachable from tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from . import REPO_ROOT, foundation, target
from .config import WorkshopNames
from .localcloud.server import DEFAULT_PORT
from .modelserver import ModelServer
from .pipeline import Progress
from .pipeline.stack import SOURCE_OPTIONS, TEMPLATE
from .target import DEFAULT_STATE_DIR, TARGETS, CloudSession, account_session, ensure_cloud, names_for_session

WORKSHOP_PREFIX = "workshop"
LOCAL_RUN_TIMEOUT, AWS_RUN_TIMEOUT = 1800.0, 5400.0


class WorkshopError(RuntimeError):
    """A step cannot go on; the message says why and what to do."""


@dataclass
class Workshop:
    """The target a notebook works on: its boto3 session, the workshop's names there, and a local work folder."""

    target: str
    session: Any
    names: WorkshopNames
    state_dir: Path
    endpoint_url: str | None = None
    source: str = "CodeCommit"  # the stack's SourceProvider: CodeCommit branches, or S3 zips in the data bucket

    @property
    def codecommit(self) -> bool:
        return self.source == "CodeCommit"

    def work_dir(self, name: str) -> Path:
        folder = self.state_dir / "notebooks" / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def child_env(self) -> dict[str, str]:
        """The environment for processes that talk to this target as this session does."""
        if self.endpoint_url:
            return target.child_env(self.endpoint_url, self.names.region)
        frozen = self.session.get_credentials().get_frozen_credentials()
        credentials = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
        if frozen.token:
            credentials["AWS_SESSION_TOKEN"] = frozen.token
        return target.child_env(None, self.names.region, credentials)

    def __str__(self) -> str:
        where = f"the local cloud at {self.endpoint_url}" if self.endpoint_url else f"AWS account {self.names.account}"
        code = (f"CodeCommit repository {self.names.code_repo_name}" if self.codecommit
                else f"zips under s3://{self.names.data_bucket}/{self.names.model_source_key.rsplit('/', 1)[0]}/")
        return (f"target {self.target}: {where}, region {self.names.region}; data bucket {self.names.data_bucket}, "
                f"artifact bucket {self.names.artifact_bucket}; code in {code}; local files under {self.state_dir}")


def choose_target(target: str | None = None) -> str:
    chosen = (target or os.environ.get("MLOPS_TARGET") or "local").strip().lower()
    if chosen not in TARGETS:
        raise WorkshopError(f"unknown target {chosen!r}: use one of {', '.join(TARGETS)} "
                            f"(the notebook's `target` parameter, or MLOPS_TARGET)")
    return chosen


def choose_source(source: str | None = None) -> str:
    """codecommit (the default) or s3, as the stack's SourceProvider spells them."""
    chosen = (source or os.environ.get("MLOPS_SOURCE") or "codecommit").strip().lower()
    if chosen not in SOURCE_OPTIONS:
        raise WorkshopError(f"unknown code source {chosen!r}: use codecommit or s3 (the notebook's `source` "
                            "parameter, or MLOPS_SOURCE)")
    return SOURCE_OPTIONS[chosen]


def connect(target: str | None = None, state_dir: str | os.PathLike | None = None, region: str | None = None,
            port: int | None = None, source: str | None = None, progress: Progress = print) -> Workshop:
    """The target's session: `local` starts the local cloud on state_dir (or reuses the one running there),
    `aws` uses your credentials and checks them first. `source`: where the pipeline reads its code
    (codecommit, or s3 for accounts without CodeCommit)."""
    chosen = choose_target(target)
    code = choose_source(source)
    folder = Path(state_dir).resolve() if state_dir else DEFAULT_STATE_DIR
    if chosen == "local":
        state = ensure_cloud(folder, port or DEFAULT_PORT, progress=progress)
        session = CloudSession(state["endpoint"], region or WorkshopNames.region)
        return Workshop("local", session, names_for_session(session), folder, state["endpoint"], code)
    if os.environ.get("AWS_ENDPOINT_URL"):
        raise WorkshopError(f"AWS_ENDPOINT_URL is set ({os.environ['AWS_ENDPOINT_URL']}): boto3 would send the "
                            "target aws's calls there; unset it to use your AWS account")
    session = account_session(region)
    try:
        names = names_for_session(session)
    except NoCredentialsError:
        raise WorkshopError("no AWS credentials found: run `aws configure` (or set AWS_PROFILE), or use the "
                            "target local") from None
    except (ClientError, BotoCoreError) as error:
        raise WorkshopError(f"your AWS credentials were refused: {error}; check them with "
                            "`aws sts get-caller-identity`") from None
    workshop = Workshop("aws", session, names, folder, source=code)
    progress(f"AWS account {names.account}, region {names.region}: resources created here are billed")
    return workshop


def create_repositories(ws: Workshop, progress: Progress = print) -> dict[str, str]:
    """The buckets, the image repository and (with the CodeCommit source) the code repository: made when missing,
    their settings applied either way."""
    from .repository_validation import create_repositories as create

    outcomes = create(ws.names, ws.session, with_codecommit=ws.codecommit)
    for resource, outcome in outcomes.items():
        progress(f"{outcome:<8} {resource}")
    return outcomes


def push_code(ws: Workshop, progress: Progress = print) -> dict[str, tuple[str, bool]]:
    """The three source folders where the pipeline reads them: CodeCommit branches, or zips in the data bucket."""
    from .pipeline import sources

    if ws.codecommit:
        return sources.push_sources(ws.session, ws.names, ws.work_dir("sources"), progress=progress)
    return sources.upload_sources(ws.session, ws.names, ws.work_dir("sources"), progress=progress)


def run_etl(ws: Workshop, prefix: str = WORKSHOP_PREFIX, seed: int = 42, progress: Progress = print) -> dict[str, str]:
    """etl/preprocess.py on the raw data in the data bucket, the way the Glue job runs it, from this machine."""
    started = time.monotonic()
    log_path = ws.work_dir("etl") / "etl.log"
    try:
        outputs = foundation.run_etl(ws.child_env(), ws.names, prefix, log_path, seed)
    except foundation.StageError as error:
        raise WorkshopError(str(error)) from None
    progress(f"ETL job done in {time.monotonic() - started:.1f} s (log {log_path})")
    return outputs


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def read_split(ws: Workshop, uri: str):
    """One of the ETL job's CSV outputs as a DataFrame with the data contract's column names."""
    import io

    import pandas as pd

    from .data import FEATURES, LABEL

    bucket, key = _split_s3(uri)
    body = ws.session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    header = 0 if key.endswith("/baseline/baseline.csv") else None
    frame = pd.read_csv(io.BytesIO(body), header=header)
    if header is None:
        frame.columns = [LABEL, *FEATURES]
    return frame


def train(ws: Workshop, prefix: str = WORKSHOP_PREFIX, settings: dict[str, str] | None = None,
          progress: Progress = print) -> tuple[Path, dict]:
    """container/train on the ETL job's training split under a local /opt/ml; (that root, the model's metadata)."""
    opt_ml = ws.work_dir("model") / "opt_ml"
    log_path = ws.work_dir("model") / "train.log"
    started = time.monotonic()
    try:
        metadata = foundation.train(ws.session.client("s3"), ws.child_env(), ws.names, prefix, opt_ml, log_path,
                                    settings)
    except foundation.StageError as error:
        raise WorkshopError(str(error)) from None
    progress(f"trained in {time.monotonic() - started:.1f} s: {metadata['epochs_run']} epochs (best "
             f"{metadata['best_epoch']}), validation RMSE {metadata['validation']['rmse']:.3f} rings; "
             f"model in {opt_ml / 'model'}")
    return opt_ml, metadata


def serve(opt_ml: Path, progress: Progress = print) -> ModelServer:
    """container/serve (nginx → gunicorn → Flask) on a free port with that model; stop() it when done."""
    server = ModelServer(opt_ml, workers=1, log_path=Path(opt_ml).parent / "serve.log").start()
    try:
        seconds = server.wait_healthy(120)
    except RuntimeError as error:
        server.stop()
        raise WorkshopError(str(error)) from None
    progress(f"serving at {server.url} (healthy after {seconds:.1f} s; log {server.log_path})")
    return server


def invoke(url: str, body: str | bytes, content_type: str = "text/csv", accept: str = "application/json"
           ) -> tuple[int, str]:
    """One POST /invocations to a model server: (HTTP status, body text), errors included."""
    import urllib.error
    import urllib.request

    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(f"{url}/invocations", data=data,
                                     headers={"Content-Type": content_type, "Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_predictions(ws: Workshop, url: str, prefix: str = WORKSHOP_PREFIX) -> tuple[list[float], list[float]]:
    """The test split's labels, and a model server's predictions for its rows."""
    labels, lines = foundation.test_split(ws.session.client("s3"), ws.names, prefix)
    return labels, foundation.predict_rows(url, lines)


def endpoint_predictions(ws: Workshop, endpoint: str, test_uri: str, batch: int = 500
                         ) -> tuple[list[float], list[float]]:
    """The labels of a test CSV in S3, and a SageMaker endpoint's predictions for its rows (InvokeEndpoint)."""
    from .pipeline import PipelineError
    from .pipeline.results import endpoint_predictions as predict

    labels, lines = foundation.labelled_rows(ws.session.client("s3"), *_split_s3(test_uri))
    try:
        predictions = [p for start in range(0, len(lines), batch)
                       for p in predict(ws.session, endpoint, lines[start:start + batch])]
    except PipelineError as error:
        raise WorkshopError(str(error)) from None
    return labels, predictions


def run_tests(*paths: str, args: tuple[str, ...] = ("-q",), progress: Progress = print) -> int:
    """pytest on the project's tests (paths under tests/); its exit status, the output shown as it comes."""
    command = [sys.executable, "-m", "pytest", *args, "--color=no", "-p", "no:cacheprovider", *paths]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        progress(line.rstrip())
    return process.wait()


def read_template(path: str | os.PathLike = TEMPLATE) -> dict[str, Any]:
    """A CloudFormation template as cfn-lint reads it (short tags such as !If become {"Fn::If": ...})."""
    from cfnlint.decode import decode_str

    template, problems = decode_str(Path(path).read_text())
    if problems:
        raise WorkshopError(f"{path} cannot be read as a template: {problems[0]}")
    return template


def template_resources(path: str | os.PathLike = TEMPLATE):
    """The template's resources as a table: logical id, type, and the service the type belongs to."""
    import pandas as pd

    resources = read_template(path).get("Resources", {})
    rows = [{"resource": name, "type": body["Type"],
             "service": "custom resource" if body["Type"].startswith("Custom::") else body["Type"].split("::")[1]}
            for name, body in resources.items()]
    return pd.DataFrame(rows).sort_values(["service", "type", "resource"], ignore_index=True)


def pipeline_stages(path: str | os.PathLike = TEMPLATE) -> list[tuple[str, list[str]]]:
    """The CodePipeline's stages in order, each with its actions' names, as the template defines them."""
    resources = read_template(path).get("Resources", {})
    pipelines = [body for body in resources.values() if body["Type"] == "AWS::CodePipeline::Pipeline"]
    if len(pipelines) != 1:
        raise WorkshopError(f"{path} should define one AWS::CodePipeline::Pipeline, it defines {len(pipelines)}")
    def name(action: dict) -> str:
        # `!If [UseCodeCommit, a, b]`: both branches name the action alike.
        return name(action["Fn::If"][1]) if "Fn::If" in action else action["Name"]

    return [(stage["Name"], [name(action) for action in stage["Actions"]])
            for stage in pipelines[0]["Properties"]["Stages"]]


def lint_template(path: str | os.PathLike = TEMPLATE) -> list[str]:
    """cfn-lint's findings on a template, one line each (none: it lints clean)."""
    result = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", str(path)],
                            capture_output=True, text=True, check=False)
    if result.returncode == 1 or result.returncode >= 16:  # the others are bit flags: errors, warnings, notes found
        raise WorkshopError(f"cfn-lint could not run on {path}: {result.stderr.strip() or result.returncode}")
    return [line for line in result.stdout.splitlines() if line.strip()]


SYSTEM_TEST_BUILD = REPO_ROOT / "tests" / "system_test" / "build.py"


def _system_test_build():
    import importlib.util

    spec = importlib.util.spec_from_file_location("system_test_build", SYSTEM_TEST_BUILD)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def system_test_definition(names: WorkshopNames) -> dict[str, Any]:
    """The system test's state machine (Amazon States Language) as tests/system_test/build.py writes it, with
    the ARNs the pipeline would give its functions in this account."""
    build = _system_test_build()
    functions = {name: f"arn:aws:lambda:{names.region}:{names.account}:function:{names.model_name}-{name}"
                 for name in build.FUNCTIONS}
    settings = build.parse_args(["--model-name", names.model_name, "--sagemaker-role-arn",
                                 f"arn:aws:iam::{names.account}:role/{names.model_name}-sagemaker",
                                 "--monitor-image-uri", "model-monitor-analyzer", "--artifact-bucket",
                                 names.artifact_bucket, "--pipeline-execution-id", "example"])
    return build.definition(functions, settings)


def rmse_threshold(path: str | os.PathLike = TEMPLATE) -> float:
    """The system test's RMSE threshold unless the stack overrides it: the template's RmseThreshold default."""
    return float(read_template(path)["Parameters"]["RmseThreshold"]["Default"])


def system_test_verdict(labels: list[float], predictions: list[float], threshold: float) -> dict[str, Any]:
    """What the state machine's EvaluateEndpoint and CheckThreshold decide for these predictions."""
    rmse = foundation.rmse(labels, predictions)
    mae = sum(abs(p - y) for p, y in zip(predictions, labels, strict=True)) / len(labels)
    passed = rmse <= threshold
    return {"rmse": rmse, "mae": mae, "rows": len(labels), "threshold": threshold, "passed": passed,
            "next": "StartMonitoringBaseline" if passed else "ThresholdNotMet"}


def run_pipeline(ws: Workshop, manual_approvals: bool = False, rmse_threshold: float | None = None,
                 data: str | os.PathLike | None = None, timeout: float | None = None, progress: Progress = print):
    """The pipeline stack and one execution followed to its end, as `mlops-workshop demo` runs them; raises
    WorkshopError when the execution does not succeed (the failed stage and its message).

    data: a CSV in the abalone schema to upload instead of the bundled data set (checked first).
    timeout: seconds to follow the execution; by default 30 min locally, 90 min in an account (its endpoints and
    image build take most of half an hour)."""
    from .data import DataValidationError
    from .demo import print_summary
    from .demo import run_pipeline as run
    from .pipeline import PipelineError

    try:
        result = run(ws.session, ws.work_dir("pipeline"), ws.names, manual_approvals=manual_approvals,
                     rmse_threshold=rmse_threshold, data_source=data, progress=progress,
                     timeout=timeout or (LOCAL_RUN_TIMEOUT if ws.target == "local" else AWS_RUN_TIMEOUT),
                     source_provider=ws.source,
                     approve_hint=".venv/bin/mlops-workshop approve" + (
                         f" --aws --region {ws.names.region}" if ws.target == "aws"
                         else target.state_dir_option(ws.state_dir)))
    except (PipelineError, DataValidationError, FileNotFoundError) as error:
        raise WorkshopError(str(error)) from None
    print_summary(result, ws.names, progress)
    if not result.run.succeeded:
        failed = result.run.failed_stage
        where = f"stage {failed.name}: {failed.message}" if failed else result.run.summary
        raise WorkshopError(f"execution {result.run.execution_id} {result.run.status} at {where}")
    return result


def cleanup(ws: Workshop, keep_data: bool = False, stop_local_cloud: bool = True, confirm: bool = False,
            progress: Progress = print) -> bool:
    """Delete what the workshop made on the target (mlops_workshop.cleanup); in an AWS account only with
    confirm=True. Stops the local cloud afterwards unless told not to."""
    from . import cleanup as cleaning
    from .localcloud import lifecycle
    from .target import cloud_dir

    if ws.target == "aws" and not confirm:
        raise WorkshopError(f"this deletes the workshop's stacks{'' if keep_data else ', buckets and repositories'} "
                            f"in AWS account {ws.names.account} ({ws.names.region}): set confirm_delete = True "
                            "to go ahead")
    ok = cleaning.cleanup(ws.session, ws.names, keep_data=keep_data, progress=progress)
    if ws.target == "local" and stop_local_cloud:
        lifecycle.stop(cloud_dir(ws.state_dir))
        progress(f"local cloud on {cloud_dir(ws.state_dir)} stopped")
    if not ok:
        raise WorkshopError("some resources remain (see FAILED above); run this again once fixed")
    return ok


def validate(ws: Workshop, code_pushed: bool = True) -> list:
    """The repositories' checks as a table (`mlops-workshop validate`); raises WorkshopError when one fails.

    code_pushed=False: the branches are not there yet (notebook 2 pushes them), so their checks may fail."""
    from .repository_validation import print_report, validate_repositories

    checks = validate_repositories(ws.names, ws.session, with_codecommit=ws.codecommit)
    print_report(checks)
    failed = [c for c in checks if c.passed is False and (code_pushed or not c.name.startswith("code repository branch"))]
    if failed:
        raise WorkshopError(f"{len(failed)} check(s) failed: {', '.join(c.name for c in failed)}; see 'To fix' above")
    return checks
