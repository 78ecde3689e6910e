"""What the notebooks call: one connection to the target cloud, and the steps each notebook walks through.

    ws = workshop.connect()            # MLOPS_TARGET=local (the default) or aws; says where it runs
    ws.session.client("s3")            # boto3 for that target: the local cloud, or your account
    with workshop.aws_calls(ws) as calls:
        ...                            # every boto3 call made through ws.session in the block, as a table

The notebooks hold prose, the key boto3 call of each step, calls into this module and plots; the plumbing
(idempotence, waiting, tables) is here, where tests reach it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from . import REPO_ROOT, foundation, target
from .config import WorkshopNames
from .localcloud import lifecycle
from .localcloud.server import DEFAULT_PORT
from .modelserver import ModelServer
from .pipeline import Progress
from .pipeline.stack import MAX_TEMPLATE_BODY, SOURCE_OPTIONS, TEMPLATE
from .target import (DEFAULT_STATE_DIR, TARGETS, CloudSession, account_session, cloud_dir, ensure_cloud,
                     names_for_session)

WORKSHOP_PREFIX = "workshop"
LOCAL_RUN_TIMEOUT, AWS_RUN_TIMEOUT = 1800.0, 5400.0
# What a notebook's parameters fall back to when they are None (make notebooks and make nbval set them).
STATE_DIR_VARIABLE, PORT_VARIABLE = "MLOPS_STATE_DIR", "MLOPS_PORT"
SYSTEM_TEST_TEMPLATE = REPO_ROOT / "tests" / "system_test" / "workflow-resources.yml"


class WorkshopError(RuntimeError):
    """A step cannot go on; the message says why and what to do."""


def shown(path: str | os.PathLike) -> str:
    """A path as the notebooks print it: relative to the repository when inside it (the same on every machine)."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(resolved)


@dataclass
class Workshop:
    """The target a notebook works on: its boto3 session, the workshop's names there, and a local work folder."""

    target: str
    session: Any
    names: WorkshopNames
    state_dir: Path
    endpoint_url: str | None = None
    source: str = "CodeCommit"  # the stack's SourceProvider: CodeCommit branches, or S3 zips in the data bucket
    started: dict[str, float] = field(default_factory=dict, repr=False)  # execution id -> when it was first followed
    reported: dict[str, int] = field(default_factory=dict, repr=False)  # execution id -> stages printed by follow()

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
                f"artifact bucket {self.names.artifact_bucket}; code in {code}; local files under "
                f"{shown(self.state_dir)}")


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


def choose_state_dir(state_dir: str | os.PathLike | None = None) -> Path:
    """The state folder: the parameter, else $MLOPS_STATE_DIR, else .state at the repository's root."""
    chosen = state_dir or os.environ.get(STATE_DIR_VARIABLE)
    return Path(chosen).resolve() if chosen else DEFAULT_STATE_DIR


def choose_port(port: int | None = None) -> int:
    """The local cloud's port when a notebook starts it: the parameter, else $MLOPS_PORT, else 4566."""
    chosen = port or os.environ.get(PORT_VARIABLE)
    try:
        return int(chosen) if chosen else DEFAULT_PORT
    except ValueError:
        raise WorkshopError(f"{PORT_VARIABLE}={chosen!r} is not a port number") from None


def where_it_runs(ws: Workshop) -> str:
    """What a notebook says about its target before it does anything there."""
    if ws.target == "local":
        return (f"Where it runs: the local cloud, an embedded AWS on this machine ({ws.endpoint_url}; its state, "
                f"and this notebook's local files, under {shown(ws.state_dir)}/). Every call below is plain boto3 "
                "on this endpoint; nothing is billed. Set target = \"aws\" (or MLOPS_TARGET=aws) for your account.")
    source = "CodeCommit" if ws.codecommit else "zips in the data bucket (source = \"s3\")"
    return (f"Where it runs: AWS account {ws.names.account}, region {ws.names.region}, with your credentials. "
            f"Every call below is plain boto3 there, and what it creates is billed (see the costs in notebook 1); "
            f"the code goes to {source}. Local files under {shown(ws.state_dir)}/.")


def _table_display() -> None:
    """Tables show their values whole (ARNs, S3 URIs, summaries), in a notebook as in its text."""
    import pandas as pd

    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.width", 250)


def connect(target: str | None = None, state_dir: str | os.PathLike | None = None, region: str | None = None,
            port: int | None = None, source: str | None = None, progress: Progress = print) -> Workshop:
    """The target's session, after saying where it runs: `local` starts the local cloud on the state folder (or
    reuses the one running there), `aws` uses your credentials and checks them first. `source`: where the
    pipeline reads its code (codecommit, or s3 for accounts without CodeCommit)."""
    chosen = choose_target(target)
    code = choose_source(source)
    folder = choose_state_dir(state_dir)
    _table_display()
    if chosen == "local":
        running = lifecycle.status(cloud_dir(folder))["running"]
        began = time.monotonic()
        try:
            state = ensure_cloud(folder, choose_port(port), progress=lambda _: None)
        except lifecycle.LocalCloudError as error:
            raise WorkshopError(f"the local cloud cannot start: {error}") from None
        session = CloudSession(state["endpoint"], region or WorkshopNames.region)
        ws = Workshop("local", session, names_for_session(session), folder, state["endpoint"], code)
        progress("local cloud: " + (f"reusing the one running on {shown(cloud_dir(folder))}" if running else
                                    f"started in {time.monotonic() - began:.1f} s on {shown(cloud_dir(folder))}"))
        progress(where_it_runs(ws))
        return ws
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
    ws = Workshop("aws", session, names, folder, source=code)
    progress(where_it_runs(ws))
    return ws


# ---------- The AWS calls a cell makes, recorded through botocore's event hooks ----------

# Parameters that say which resource a call is about; everything else (bodies, policies, settings) is left out.
IDENTIFYING_SUFFIXES = ("Name", "name", "Id", "id", "Arn", "arn", "Bucket", "Key", "Prefix", "Status", "status")
# Never shown, whatever their name: what could be a secret or a body.
HIDDEN = ("secret", "password", "token", "credential", "body", "template", "policy", "content")


def _identifying(params: dict[str, Any]) -> str:
    shown_params = []
    for key, value in params.items():
        if any(word in key.lower() for word in HIDDEN):
            continue
        if isinstance(value, (str, int)) and not isinstance(value, bool) and key.endswith(IDENTIFYING_SUFFIXES):
            shown_params.append(f"{key}={value}")
        elif key == "Delete" and isinstance(value, dict):  # DeleteObjects: how many, not which
            shown_params.append(f"Delete={len(value.get('Objects', []))} objects")
        elif isinstance(value, list) and key.endswith(("Names", "Ids")):
            shown_params.append(f"{key}={','.join(map(str, value))}")
    return ", ".join(shown_params)


@dataclass
class AwsCall:
    service: str
    operation: str
    parameters: str
    outcome: str = ""


class AwsCalls(list):
    """The AWS calls made in an `aws_calls` block, one row per distinct call; shown as a table in a notebook.

    A call repeated with the same parameters (a wait that polls) is one row, its outcomes in order."""

    def add(self, call: AwsCall) -> AwsCall:
        same = next((c for c in self if (c.service, c.operation, c.parameters) ==
                     (call.service, call.operation, call.parameters)), None)
        if same is None:
            self.append(call)
            return call
        return same

    def table(self):
        import pandas as pd

        rows = [{"service": c.service, "operation": c.operation, "parameters": c.parameters, "outcome": c.outcome}
                for c in self]
        frame = pd.DataFrame(rows, columns=["service", "operation", "parameters", "outcome"])
        frame.index = range(1, len(frame) + 1)
        return frame

    def _repr_html_(self) -> str:
        return self.table().to_html()

    def __repr__(self) -> str:
        return self.table().to_string() if self else "no AWS calls"


@contextlib.contextmanager
def aws_calls(ws: Workshop):
    """Record every boto3 call made through `ws.session` in the block (clients made inside it): service,
    operation, identifying parameters and outcome, never bodies or secrets. The same on both targets."""
    calls = AwsCalls()
    events = ws.session.events

    def before(params, model, context, **_):
        call = calls.add(AwsCall(model.service_model.service_id, model.name, _identifying(params)))
        context["workshop_call"] = call

    def after(http_response, parsed, model, context, **_):
        call = context.get("workshop_call")
        if call is None:
            return
        code = (parsed or {}).get("Error", {}).get("Code") or ("ok" if http_response.status_code < 400
                                                                 else str(http_response.status_code))
        steps = call.outcome.split(" → ") if call.outcome else []
        if not steps or steps[-1] != code:
            call.outcome = " → ".join([*steps, code])

    events.register("before-parameter-build", before, unique_id="workshop-aws-calls-before")
    events.register("after-call", after, unique_id="workshop-aws-calls-after")
    try:
        yield calls
    finally:
        events.unregister("before-parameter-build", unique_id="workshop-aws-calls-before")
        events.unregister("after-call", unique_id="workshop-aws-calls-after")


# ---------- Notebook 1: the data repositories ----------

def create_repositories(ws: Workshop, progress: Progress = print) -> dict[str, str]:
    """The buckets, the image repository and (with the CodeCommit source) the code repository: made when missing,
    their settings applied either way."""
    from .repository_validation import create_repositories as create

    try:
        outcomes = create(ws.names, ws.session, with_codecommit=ws.codecommit)
    except RuntimeError as error:
        raise WorkshopError(str(error)) from None
    for resource, outcome in outcomes.items():
        progress(f"{outcome:<8} {resource}")
    return outcomes


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


def upload_data(ws: Workshop, data: str | os.PathLike | None = None, progress: Progress = print) -> bool:
    """The raw data set to the data bucket unless the same bytes are there (a new version starts an execution)."""
    from .data import DataValidationError
    from .pipeline.stack import upload_dataset_step

    try:
        return upload_dataset_step(ws.session, ws.names, data, progress=progress)
    except (DataValidationError, FileNotFoundError) as error:
        raise WorkshopError(str(error)) from None


def height_outliers(frame, low: float = 0.01, high: float = 0.3):
    """The rows whose height is implausible for their other sizes (0, or several times the usual)."""
    return frame[(frame["height"] < low) | (frame["height"] > high)].sort_values("height")


def template_resources_of(path: str | os.PathLike, kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for name, body in read_template(path).get("Resources", {}).items() if body["Type"] == kind}


def iam_roles(path: str | os.PathLike = TEMPLATE):
    """The named IAM roles the pipeline stack creates (why it needs CAPABILITY_NAMED_IAM): name and principal."""
    import pandas as pd

    rows = []
    for logical, body in template_resources_of(path, "AWS::IAM::Role").items():
        properties = body["Properties"]
        name = properties.get("RoleName", "")
        name = name.get("Fn::Sub", name) if isinstance(name, dict) else name
        principals = [p for statement in properties["AssumeRolePolicyDocument"]["Statement"]
                      for p in _as_list(statement.get("Principal", {}).get("Service", []))]
        rows.append({"role": logical, "name": name, "assumed by": ", ".join(principals),
                     "inline policies": len(properties.get("Policies", []))})
    return pd.DataFrame(rows)


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


# List prices in us-east-1 (on demand) when this was written; check the services' pricing pages for yours.
PRICES = {
    "ml.m5.large": 0.115, "ml.m5.xlarge": 0.23,  # SageMaker, USD per instance-hour (training, hosting, processing)
    "BUILD_GENERAL1_SMALL": 0.005 * 60, "BUILD_GENERAL1_MEDIUM": 0.01 * 60,  # CodeBuild, USD per build-hour
    "glue-dpu": 0.44,  # Glue, USD per DPU-hour (Python shell: per second, one minute at least)
}


def costs():
    """What the pipeline runs on in an account, read from the templates, with what it costs while it exists."""
    import pandas as pd

    job = json.loads((REPO_ROOT / "container" / "trainingjob.json").read_text())["ResourceConfig"]
    glue = json.loads((REPO_ROOT / "etl" / "job.json").read_text())
    dev = json.loads((REPO_ROOT / "container" / "assets" / "Dev-config.json").read_text())["Parameters"]
    prd = json.loads((REPO_ROOT / "container" / "assets" / "Prd-config.json").read_text())["Parameters"]
    baseline = _system_test_build().parse_args(["--model-name", "m", "--sagemaker-role-arn", "r",
                                                "--monitor-image-uri", "i", "--artifact-bucket", "b",
                                                "--pipeline-execution-id", "e"]).baseline_instance_type
    builds = {body["Properties"]["Name"]["Fn::Sub"].replace("${ModelName}", "abalone"):
              body["Properties"]["Environment"]["ComputeType"]
              for body in template_resources_of(TEMPLATE, "AWS::CodeBuild::Project").values()}

    def hourly(kind: str, count: float = 1) -> str:
        return f"${PRICES[kind] * count:.3f} an hour"

    rows = [
        {"what": "Prd endpoint abalone-prd", "runs on": f"{prd['InstanceType']} × {prd.get('MinCapacity', 1)}"
         f"–{prd.get('MaxCapacity', 1)} (auto scaling)", "billed": "while it exists, until notebook 8",
         "price": hourly(prd["InstanceType"], float(prd.get("MinCapacity", 1))) + " at the minimum",
         "defined in": "container/assets/Prd-config.json"},
        {"what": "Dev endpoint abalone-dev", "runs on": f"{dev['InstanceType']} × {dev.get('InstanceCount', 1)}",
         "billed": "while it exists, until notebook 8", "price": hourly(dev["InstanceType"]),
         "defined in": "container/assets/Dev-config.json"},
        {"what": "training job (each execution)", "runs on": f"{job['InstanceType']} × {job['InstanceCount']}",
         "billed": "while it trains (minutes)", "price": hourly(job["InstanceType"], job["InstanceCount"]),
         "defined in": "container/trainingjob.json"},
        {"what": "Model Monitor baseline (each execution)", "runs on": f"{baseline} × 1",
         "billed": "while it runs (minutes)", "price": hourly(baseline),
         "defined in": "tests/system_test/build.py"},
        {"what": "ETL job run (each execution)", "runs on": f"Glue Python shell, {glue['MaxCapacity']} DPU",
         "billed": "per second, one minute at least", "price": f"${PRICES['glue-dpu'] * glue['MaxCapacity']:.3f} an hour",
         "defined in": "etl/job.json"},
    ]
    rows += [{"what": f"CodeBuild project {name} (each build)", "runs on": compute,
              "billed": "per build minute", "price": hourly(compute), "defined in": "cloudformation/mlops-pipeline.yml"}
             for name, compute in sorted(builds.items())]
    rows.append({"what": "S3 buckets, ECR image, CodeCommit, Lambda, Step Functions, CodePipeline",
                 "runs on": "", "billed": "per GB or per request", "price": "cents for this workshop (a pipeline: "
                 "$1 a month after its first 30 days)", "defined in": ""})
    return pd.DataFrame(rows)


# ---------- Notebook 2: the pipeline's assets ----------

def push_code(ws: Workshop, progress: Progress = print) -> dict[str, tuple[str, bool]]:
    """The three source folders where the pipeline reads them: CodeCommit branches, or zips in the data bucket."""
    from .pipeline import PipelineError, sources

    try:
        if ws.codecommit:
            return sources.push_sources(ws.session, ws.names, ws.work_dir("sources"), progress=progress)
        return sources.upload_sources(ws.session, ws.names, ws.work_dir("sources"), progress=progress)
    except PipelineError as error:
        raise WorkshopError(str(error)) from None


def run_etl(ws: Workshop, prefix: str = WORKSHOP_PREFIX, seed: int = 42, progress: Progress = print) -> dict[str, str]:
    """etl/preprocess.py on the raw data in the data bucket, the way the Glue job runs it, from this machine."""
    started = time.monotonic()
    log_path = ws.work_dir("etl") / "etl.log"
    try:
        outputs = foundation.run_etl(ws.child_env(), ws.names, prefix, log_path, seed)
    except foundation.StageError as error:
        raise WorkshopError(str(error)) from None
    progress(f"ETL job done in {time.monotonic() - started:.1f} s (log {shown(log_path)})")
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


def _lambda_module(name: str):
    """lambdas/<name>/lambda.py as Lambda imports it (its `import pipeline_jobs` finds the shared module)."""
    import importlib.util

    from . import pipeline_jobs

    saved = {key: os.environ.get(key) for key in ("AWS_DEFAULT_REGION",)}
    os.environ.setdefault("AWS_DEFAULT_REGION", WorkshopNames.region)  # its clients are made at import, used never
    previous = sys.modules.get("pipeline_jobs")
    sys.modules["pipeline_jobs"] = pipeline_jobs
    try:
        spec = importlib.util.spec_from_file_location(f"workshop_lambda_{name}", REPO_ROOT / "lambdas" / name / "lambda.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        if previous is None:
            sys.modules.pop("pipeline_jobs", None)
        else:
            sys.modules["pipeline_jobs"] = previous
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)


@dataclass
class FilledRequest:
    """A request file and what a Lambda function fills in before it sends it: shown as JSON with those parts marked."""

    original: dict[str, Any]
    filled: dict[str, Any]
    marker: str

    def changed(self) -> list[str]:
        """The JSON paths the function sets (a.b[0].c)."""
        return [path for path, _ in _differences(self.original, self.filled)]

    def lines(self) -> list[str]:
        return _annotated_json(self.original, self.filled, self.marker)

    def __repr__(self) -> str:
        return "\n".join(self.lines())


def _differences(original, filled, path: str = ""):
    if isinstance(filled, dict) and isinstance(original, dict):
        for key, value in filled.items():
            yield from _differences(original.get(key, _MISSING), value, f"{path}.{key}" if path else key)
    elif isinstance(filled, list) and isinstance(original, list) and len(original) == len(filled):
        for index, (old, new) in enumerate(zip(original, filled)):
            yield from _differences(old, new, f"{path}[{index}]")
    elif original is _MISSING or original != filled:
        yield path, filled


_MISSING = object()


def _annotated_json(original, filled, marker: str, indent: int = 0, prefix: str = "", last: bool = True) -> list[str]:
    pad, comma = "  " * indent, "" if last else ","
    if isinstance(filled, dict) and isinstance(original, dict) and filled:
        lines = [f"{pad}{prefix}{{"]
        items = list(filled.items())
        for number, (key, value) in enumerate(items):
            lines += _annotated_json(original.get(key, _MISSING), value, marker, indent + 1, f"{json.dumps(key)}: ",
                                     number == len(items) - 1)
        return lines + [f"{pad}}}{comma}"]
    if (isinstance(filled, list) and isinstance(original, list) and filled and len(original) == len(filled)
            and (original != filled or any(isinstance(item, dict) for item in filled))):
        lines = [f"{pad}{prefix}["]
        for number, (old, new) in enumerate(zip(original, filled)):
            lines += _annotated_json(old, new, marker, indent + 1, "", number == len(filled) - 1)
        return lines + [f"{pad}]{comma}"]
    text = f"{pad}{prefix}{json.dumps(filled)}{comma}"
    return [f"{text}   ← {marker}" if original is _MISSING or original != filled else text]


def training_job_request(ws: Workshop, execution_id: str = "<execution id>") -> FilledRequest:
    """container/trainingjob.json, and the CreateTrainingJob request the TrainingLaunchJob Lambda sends with it:
    its own training_job_request() with the settings the pipeline stack gives it in this account."""
    launcher = _lambda_module("TrainingLaunchJob")
    text = (REPO_ROOT / "container" / "trainingjob.json").read_text()
    names = ws.names
    settings = {"model_name": names.model_name, "pipeline_name": names.pipeline_stack_name,
                "image_uri": f"{names.account}.dkr.ecr.{names.region}.amazonaws.com/{names.image_repo_name}:"
                             f"{names.image_tag_name}",
                "role_arn": f"arn:aws:iam::{names.account}:role/MLOps-SageMaker-{names.region}",
                "artifact_bucket": names.artifact_bucket}
    return FilledRequest(json.loads(text), launcher.training_job_request(text, settings, execution_id),
                         "TrainingLaunchJob")


# ---------- Notebook 3: train, serve, the unit tests ----------

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
    progress(f"trained in {time.monotonic() - started:.1f} s, of which fitting {metadata['training_seconds']:.1f} s: "
             f"{metadata['epochs_run']} epochs (best {metadata['best_epoch']}), validation RMSE "
             f"{metadata['validation']['rmse']:.2f} rings; model in {shown(opt_ml / 'model')}")
    return opt_ml, metadata


def model_summary(metadata: dict):
    """What training reports, to the tolerance the notebooks hold it to (RMSE to two decimals)."""
    import pandas as pd

    rows = {"training rows": metadata["rows"]["train"], "validation rows": metadata["rows"]["validate"],
            "epochs run": metadata["epochs_run"], "epoch kept": metadata["best_epoch"],
            "training RMSE (rings)": f"{metadata['training']['rmse']:.2f}",
            "validation RMSE (rings)": f"{metadata['validation']['rmse']:.2f}",
            "validation MAE (rings)": f"{metadata['validation']['mae']:.2f}"}
    return pd.Series(rows, name="model").to_frame()


def serve(opt_ml: Path, progress: Progress = print) -> ModelServer:
    """container/serve (nginx → gunicorn → Flask) on a free port with that model; stop() it when done."""
    server = ModelServer(opt_ml, workers=1, log_path=Path(opt_ml).parent / "serve.log").start()
    try:
        seconds = server.wait_healthy(120)
    except RuntimeError as error:
        server.stop()
        raise WorkshopError(str(error)) from None
    progress(f"serving at {server.url} (healthy after {seconds:.1f} s; log {shown(server.log_path)})")
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


RING_BANDS = ((1, 7), (8, 10), (11, 14), (15, 29))


def error_by_band(labels: list[float], predictions: list[float], bands=RING_BANDS):
    """The errors by band of true rings: how many, the mean error (negative: under-predicted) and the RMSE."""
    import pandas as pd

    rows = []
    for low, high in bands:
        errors = [p - y for y, p in zip(labels, predictions, strict=True) if low <= y <= high]
        if errors:
            rows.append({"true rings": f"{low}–{high}", "rows": len(errors),
                         "mean error": f"{sum(errors) / len(errors):+.2f}",
                         "RMSE": f"{(sum(e * e for e in errors) / len(errors)) ** 0.5:.2f}"})
    return pd.DataFrame(rows)


def run_tests(*paths: str, args: tuple[str, ...] = ("-q",), progress: Progress = print) -> int:
    """pytest on the project's tests (paths under tests/); its exit status, the output shown as it comes."""
    command = [sys.executable, "-m", "pytest", *args, "--color=no", "-p", "no:cacheprovider", *paths]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        progress(line.rstrip())
    return process.wait()


def unit_tests(paths: str | list[str], what: str = "the unit tests", args: tuple[str, ...] = ("-q",),
               progress: Progress = print) -> None:
    """Run pytest on the paths (a space-separated string, as the notebooks' parameter is; "" runs none) and
    raise WorkshopError with pytest's exit status when they do not pass."""
    selected = paths.split() if isinstance(paths, str) else list(paths)
    if not selected:
        progress(f"{what}: none selected")
        return
    code = run_tests(*selected, args=args, progress=progress)
    if code != 0:
        reason = {1: "some failed", 2: "interrupted", 3: "pytest's internal error", 4: "bad usage or path",
                  5: "no test collected"}.get(code, "pytest failed")
        raise WorkshopError(f"{what} did not pass (pytest exit {code}: {reason}); see the output above")


# ---------- Notebook 4: the system test ----------

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


def verdict_table(verdict: dict[str, Any]):
    """A verdict as the notebook shows it: metrics to two decimals, the decision and the state it leads to."""
    import pandas as pd

    return pd.Series({"test rows": verdict["rows"], "RMSE (rings)": f"{verdict['rmse']:.2f}",
                      "MAE (rings)": f"{verdict['mae']:.2f}", "threshold": f"{verdict['threshold']:g}",
                      "CheckThreshold": "passed" if verdict["passed"] else "not met",
                      "next state": verdict["next"]}, name="system test").to_frame()


def baselines(ws: Workshop, model_predictions: list[float] | None = None, prefix: str = WORKSHOP_PREFIX):
    """The test RMSE of what a model must beat, on the ETL job's splits: the training rings' mean, and a linear
    regression fitted on the training split; with the model's when its predictions are given."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    frames = {name: read_split(ws, f"s3://{ws.names.data_bucket}/{prefix}/{key}")
              for name, key in (("train", foundation.ETL_OUTPUTS["train"]), ("test", foundation.ETL_OUTPUTS["test"]))}
    x_train, y_train = frames["train"].drop(columns="rings").to_numpy(), frames["train"]["rings"].to_numpy()
    x_test, y_test = frames["test"].drop(columns="rings").to_numpy(), frames["test"]["rings"].to_numpy()

    def rmse(predictions) -> str:
        return f"{float(np.sqrt(np.mean((np.asarray(predictions) - y_test) ** 2))):.2f}"

    rows = [{"predictor": "the training rings' mean, for every abalone", "test RMSE (rings)": rmse(
                np.full_like(y_test, y_train.mean(), dtype=float))},
            {"predictor": "linear regression on the 10 features",
             "test RMSE (rings)": rmse(LinearRegression().fit(x_train, y_train).predict(x_test))}]
    if model_predictions is not None:
        rows.append({"predictor": "the model of notebook 3", "test RMSE (rings)": rmse(model_predictions)})
    rows.append({"predictor": "the system test's threshold (RmseThreshold)", "test RMSE (rings)":
                 f"{rmse_threshold():.2f}"})
    return pd.DataFrame(rows)


# ---------- Notebook 5: the pipeline stack ----------

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


def _pipeline_stage_definitions(path: str | os.PathLike = TEMPLATE) -> list[dict[str, Any]]:
    resources = read_template(path).get("Resources", {})
    pipelines = [body for body in resources.values() if body["Type"] == "AWS::CodePipeline::Pipeline"]
    if len(pipelines) != 1:
        raise WorkshopError(f"{path} should define one AWS::CodePipeline::Pipeline, it defines {len(pipelines)}")
    return pipelines[0]["Properties"]["Stages"]


def _actions(stage: dict[str, Any], source: str = "CodeCommit") -> list[dict[str, Any]]:
    """A stage's actions; `!If [UseCodeCommit, a, b]` picks a (CodeCommit) or b (S3)."""
    return [action["Fn::If"][1 if source == "CodeCommit" else 2] if "Fn::If" in action else action
            for action in stage["Actions"]]


def pipeline_stages(path: str | os.PathLike = TEMPLATE) -> list[tuple[str, list[str]]]:
    """The CodePipeline's stages in order, each with its actions' names, as the template defines them."""
    return [(stage["Name"], [action["Name"] for action in _actions(stage)])
            for stage in _pipeline_stage_definitions(path)]


def _reference(value: Any) -> str:
    """A template value as a reader would say it: !Ref X → X, !Sub 'a-${B}' → a-${B}."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::Sub" in value:
            return value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        if "Fn::GetAtt" in value:
            return ".".join(_as_list(value["Fn::GetAtt"]))
    return str(value)


# What runs each kind of action, and where.
RUNS_ON = {
    ("Source", "CodeCommit"): "CodePipeline reads the branch's latest commit",
    ("Source", "S3"): "CodePipeline reads the object's latest version",
    ("Build", "CodeBuild"): "a CodeBuild container runs the buildspec",
    ("Invoke", "Lambda"): "a Lambda function (it starts the job and returns)",
    ("Approval", "Manual"): "nothing runs: it waits for PutApprovalResult (a monitor Lambda, or a person)",
    ("Deploy", "CloudFormation"): "CloudFormation creates or updates a stack",
    ("Invoke", "StepFunctions"): "a Step Functions execution (the system test's state machine)",
}


def stage_actions(path: str | os.PathLike = TEMPLATE, source: str = "CodeCommit"):
    """Each action of each stage: its provider, what it names (project, function, stack, state machine) and what
    runs it."""
    import pandas as pd

    rows = []
    for stage in _pipeline_stage_definitions(path):
        for action in _actions(stage, source):
            kind = action["ActionTypeId"]
            configuration = action.get("Configuration", {})
            names = [f"{key} {_reference(configuration[key])}" for key in
                     ("BranchName", "S3ObjectKey", "ProjectName", "FunctionName", "StackName", "StateMachineArn")
                     if key in configuration]
            rows.append({"stage": stage["Name"], "action": action["Name"],
                         "provider": f"{kind['Category']} / {kind['Provider']}",
                         "configuration": "; ".join(names).replace("arn:${AWS::Partition}:states:${AWS::Region}:"
                                                                  "${AWS::AccountId}:stateMachine:", ""),
                         "runs on": RUNS_ON.get((kind["Category"], kind["Provider"]), "")})
    return pd.DataFrame(rows)


def lambda_packages():
    """Each Lambda package under lambdas/ and the stack that makes a function of it: five are the pipeline
    stack's, three the system-test stack's (which the SystemTest stage's build creates)."""
    import pandas as pd

    from .packaging import lambda_names

    made_by = {}
    for template, stack in ((TEMPLATE, "mlops-pipeline (notebook 6)"),
                            (SYSTEM_TEST_TEMPLATE, "abalone-system-test (the SystemTest stage)")):
        for logical, body in template_resources_of(template, "AWS::Lambda::Function").items():
            key = _reference(body["Properties"]["Code"]["S3Key"])
            made_by[key.rsplit("/", 1)[-1].removesuffix(".zip")] = (logical, stack)
    rows = [{"package": f"{name}.zip", "function": made_by.get(name, ("", ""))[0],
             "created by stack": made_by.get(name, ("", "no stack: not deployed"))[1]} for name in lambda_names()]
    return pd.DataFrame(rows)


def lint_template(path: str | os.PathLike = TEMPLATE) -> list[str]:
    """cfn-lint's findings on a template, one line each (none: it lints clean)."""
    result = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", str(path)],
                            capture_output=True, text=True, check=False)
    if result.returncode == 1 or result.returncode >= 16:  # the others are bit flags: errors, warnings, notes found
        raise WorkshopError(f"cfn-lint could not run on {path}: {result.stderr.strip() or result.returncode}")
    return [line for line in result.stdout.splitlines() if line.strip()]


def check_template(path: str | os.PathLike = TEMPLATE, progress: Progress = print) -> None:
    """cfn-lint on the template; raises WorkshopError when it finds anything."""
    findings = lint_template(path)
    progress("\n".join(findings) or "cfn-lint: no errors, warnings or notes")
    if findings:
        raise WorkshopError(f"{len(findings)} cfn-lint findings in {shown(path)}")


def upload_packages(ws: Workshop, progress: Progress = print):
    """The Lambda packages to the artifact bucket (new code for the stack's functions whose package changed)."""
    import pandas as pd

    from .pipeline.stack import upload_packages as upload

    packages = upload(ws.session, ws.names, progress=progress)
    return pd.DataFrame([{"package": name, "S3 location": uri} for name, uri in sorted(packages.items())])


# ---------- Notebook 6: create the pipeline and watch it run ----------

def stack_exists(ws: Workshop) -> bool:
    """Whether the pipeline stack is there (in any state but deleted)."""
    from .pipeline.stack import stack_status

    stack = stack_status(ws.session.client("cloudformation"), ws.names.pipeline_stack_name)
    return stack is not None and stack["StackStatus"] != "DELETE_COMPLETE"


def prepare_pipeline(ws: Workshop, data: str | os.PathLike | None = None, progress: Progress = print) -> bool:
    """Everything the stack reads, as `mlops-workshop demo` puts it there: the repositories (made when missing),
    before a first stack the code and the data (the stack's creation starts the first execution on them), the
    repositories' checks, and the Lambda packages. Returns whether the stack exists already."""
    from .repository_validation import print_report, validate_repositories

    exists = stack_exists(ws)
    create_repositories(ws, progress=lambda line: None)
    if exists:
        progress("the stack exists: the code and the data go in after its update, right before the execution")
    else:
        push_code(ws, progress=progress)
        upload_data(ws, data, progress=progress)
    checks = validate_repositories(ws.names, ws.session, with_codecommit=ws.codecommit)
    failed = [c for c in checks if c.passed is False]
    if failed:
        print_report(checks)
        raise WorkshopError(f"the data repositories are not as the pipeline needs them: {failed[0].name} (see "
                            "'To fix' above)")
    progress(f"repositories: {sum(c.passed is True for c in checks)} checks passed")
    upload_packages(ws, progress=progress)
    return exists


def stack_parameters(ws: Workshop, rmse_threshold: float | None = None) -> list[dict[str, str]]:
    """The pipeline stack's parameters for this workshop's names (the template's defaults for the rest)."""
    from .pipeline import stack

    current = stack.stack_status(ws.session.client("cloudformation"), ws.names.pipeline_stack_name)
    return stack.stack_parameters(ws.names, rmse_threshold, current, ws.source)


def parameter_table(parameters: list[dict[str, str]]):
    import pandas as pd

    return pd.DataFrame(parameters).rename(columns={"ParameterKey": "parameter", "ParameterValue": "value"})


def template_argument(ws: Workshop, template: Path = TEMPLATE) -> dict[str, str]:
    """{"TemplateBody": the template} up to CloudFormation's 51,200 bytes; past that {"TemplateURL": its copy in
    the artifact bucket}."""
    body = template.read_text(encoding="utf-8")
    if len(body.encode()) <= MAX_TEMPLATE_BODY:
        return {"TemplateBody": body}
    key = f"templates/{template.name}"
    ws.session.client("s3").put_object(Bucket=ws.names.artifact_bucket, Key=key, Body=body.encode())
    return {"TemplateURL": f"https://{ws.names.artifact_bucket}.s3.amazonaws.com/{key}"}


def waiter_config(ws: Workshop) -> dict[str, int]:
    """How often a CloudFormation waiter asks: every 30 s for an hour in an account (boto3's default), every
    second for ten minutes on the local cloud."""
    return {"Delay": 30, "MaxAttempts": 120} if ws.target == "aws" else {"Delay": 1, "MaxAttempts": 600}


def update_stack(ws: Workshop, rmse_threshold: float | None = None, progress: Progress = print) -> str:
    """Update the existing stack (or create it again after a failed create): the library's deploy_stack.
    Returns "updated", "unchanged" or "created"."""
    from .pipeline import PipelineError
    from .pipeline.stack import deploy_stack

    try:
        operation, stack = deploy_stack(ws.session, ws.names, rmse_threshold, progress=progress,
                                        source_provider=ws.source)
    except PipelineError as error:
        raise WorkshopError(str(error)) from None
    progress(f"stack {ws.names.pipeline_stack_name} {operation}: {stack['StackStatus']}")
    return operation


def stack_summary(ws: Workshop):
    """The stack's status, its RMSE threshold and outputs."""
    import pandas as pd

    stack = ws.session.client("cloudformation").describe_stacks(StackName=ws.names.pipeline_stack_name)["Stacks"][0]
    rows = {"StackStatus": stack["StackStatus"]}
    rows.update({f"parameter {p['ParameterKey']}": p["ParameterValue"] for p in stack.get("Parameters", [])
                 if p["ParameterKey"] in ("RmseThreshold", "SourceProvider")})
    rows.update({f"output {o['OutputKey']}": o["OutputValue"] for o in stack.get("Outputs") or []})
    return pd.Series(rows, name=stack["StackName"]).to_frame()


def execution_ids(ws: Workshop) -> set[str]:
    """The pipeline's executions so far (none before its stack)."""
    from .pipeline.execution import execution_ids as ids

    return set(ids(ws.session.client("codepipeline"), ws.names.pipeline_stack_name))


def start_execution(ws: Workshop, known: set[str], operation: str, manual_approvals: bool = False,
                    data: str | os.PathLike | None = None, progress: Progress = print) -> str:
    """The monitors' rules on or off, then the execution to follow: the one the stack's creation started, else
    (after an update) the code and data go in and a new execution starts. Returns its id."""
    from .pipeline.execution import new_execution, set_monitors

    set_monitors(ws.session, ws.names, enabled=not manual_approvals)
    progress("approvals: " + ("by you, in the next cell (the monitors' EventBridge rules are disabled)"
                              if manual_approvals else
                              "by the monitors (EventBridge rules → EtlJobMonitor, TrainingJobMonitor)"))
    if operation != "created":
        push_code(ws, progress=progress)
        upload_data(ws, data, progress=progress)
    execution_id, trigger = new_execution(ws.session.client("codepipeline"), ws.names.pipeline_stack_name, known,
                                          wait=5.0 if operation == "created" else 0.0)
    ws.started[execution_id] = time.monotonic()
    progress(f"execution {execution_id} (started by {trigger})")
    return execution_id


def follow(ws: Workshop, execution_id: str, stop_at_approval: bool = False, timeout: float | None = None,
           poll: float = 0.5, progress: Progress = print) -> tuple[str, str, str] | None:
    """Poll GetPipelineState until the execution ends, printing each stage once as it ends (in stage order).

    stop_at_approval: return (stage, action, token) of the first approval that waits in it, for a
    PutApprovalResult; None when the execution has ended."""
    from .pipeline.execution import clock

    cp = ws.session.client("codepipeline")
    pipeline = ws.names.pipeline_stack_name
    started = ws.started.setdefault(execution_id, time.monotonic())
    deadline = time.monotonic() + (timeout or (LOCAL_RUN_TIMEOUT if ws.target == "local" else AWS_RUN_TIMEOUT))
    printed = ws.reported.setdefault(execution_id, 0)
    while True:
        status = cp.get_pipeline_execution(pipelineName=pipeline,
                                           pipelineExecutionId=execution_id)["pipelineExecution"]["status"]
        stages = cp.get_pipeline_state(name=pipeline)["stageStates"]
        ours = [s for s in stages if (s.get("latestExecution") or {}).get("pipelineExecutionId") == execution_id]
        names = [s["stageName"] for s in stages]
        ended = {s["stageName"]: s["latestExecution"]["status"] for s in ours
                 if s["latestExecution"]["status"] not in ("InProgress", "Stopping")}
        while printed < len(names) and names[printed] in ended:
            stage = names[printed]
            progress(f"  {clock(time.monotonic() - started)}  {stage:<14} {ended[stage]}"
                     + (f": {_stage_message(cp, pipeline, execution_id, stage)}" if ended[stage] == "Failed" else ""))
            printed += 1
        ws.reported[execution_id] = printed
        if stop_at_approval:
            for stage in ours:
                for action in stage.get("actionStates", []):
                    latest = action.get("latestExecution") or {}
                    if latest.get("status") == "InProgress" and latest.get("token"):
                        progress(f"  {clock(time.monotonic() - started)}  {stage['stageName']:<14} waits for "
                                 f"approval ({action['actionName']})")
                        return stage["stageName"], action["actionName"], latest["token"]
        if status not in ("InProgress", "Stopping"):
            progress(f"execution {status} after {clock(time.monotonic() - started)}")
            return None
        if time.monotonic() > deadline:
            raise WorkshopError(f"execution {execution_id} is still {status}; it goes on in the background: follow "
                                "it again with this cell")
        time.sleep(poll)


def _stage_message(cp, pipeline: str, execution_id: str, stage: str) -> str:
    from .pipeline.execution import stage_results

    return stage_results(cp, pipeline, execution_id, [stage])[stage].message


def approval_check(ws: Workshop, stage: str, execution_id: str, progress: Progress = print) -> str:
    """What a person checks before approving, as the monitor would, once the job has ended: the execution's Glue run
    succeeded (ETLApproval); its training job completed, and then the model is registered pending approval, as
    TrainingJobMonitor does (TrainApproval). Raises WorkshopError when it should not be approved."""
    from .pipeline import PipelineError, execution

    checks = {"ETLApproval": execution.etl_run_succeeded, "TrainApproval": execution.register_trained_model}
    if stage not in checks:
        raise WorkshopError(f"{stage} is not an approval stage: use one of {', '.join(checks)}")
    if stage == "ETLApproval":
        run = glue_job_run(ws, execution_id)
        wait_job_run(ws, run["JobName"], run["Id"], progress=progress)
    else:
        job = f"mlops-{ws.names.model_name}-{execution_id}"
        ws.session.client("sagemaker").get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName=job, WaiterConfig={"Delay": 30 if ws.target == "aws" else 1, "MaxAttempts": 240})
    try:
        return checks[stage](ws.session, ws.names, execution_id)
    except PipelineError as error:
        raise WorkshopError(f"{error}; reject it with status \"Rejected\" instead") from None


def state_table(state: dict[str, Any], execution_id: str | None = None):
    """A GetPipelineState answer as a table: each stage's and action's latest status and summary."""
    import pandas as pd

    rows = []
    for stage in state["stageStates"]:
        latest = stage.get("latestExecution") or {}
        if execution_id and latest.get("pipelineExecutionId") not in (execution_id, None):
            continue
        for action in stage.get("actionStates", []):
            run = action.get("latestExecution") or {}
            rows.append({"stage": stage["stageName"], "stage status": latest.get("status", ""),
                         "action": action["actionName"], "action status": run.get("status", ""),
                         "summary": run.get("summary") or ""})
    return pd.DataFrame(rows)


@dataclass
class ActionSpan:
    stage: str
    action: str
    provider: str
    start: float
    seconds: float
    status: str
    summary: str = ""


def action_spans(ws: Workshop, execution_id: str) -> list[ActionSpan]:
    """Each action of the execution: when it started (seconds after the first) and how long it took."""
    from .pipeline.execution import epoch_seconds, action_details

    details = action_details(ws.session.client("codepipeline"), ws.names.pipeline_stack_name, execution_id)
    if not details:
        return []
    first = min(epoch_seconds(d["startTime"]) for d in details)
    spans = [ActionSpan(d["stageName"], d["actionName"], d.get("input", {}).get("actionTypeId", {}).get("provider", ""),
                        epoch_seconds(d["startTime"]) - first, epoch_seconds(d["lastUpdateTime"]) - epoch_seconds(d["startTime"]),
                        d["status"], (d.get("output", {}).get("executionResult", {}) or {}).get(
                            "externalExecutionSummary", "") or "")
             for d in details]
    return sorted(spans, key=lambda span: span.start)


def pipeline_run(ws: Workshop, execution_id: str):
    """The execution's outcome: status, each stage's result; raises WorkshopError when it did not succeed."""
    from .pipeline.execution import PipelineRun, pipeline_stages, stage_results

    cp = ws.session.client("codepipeline")
    pipeline = ws.names.pipeline_stack_name
    execution = cp.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution_id)["pipelineExecution"]
    spans = action_spans(ws, execution_id)
    run = PipelineRun(pipeline, execution_id, execution["status"], execution.get("statusSummary", ""),
                      max((s.start + s.seconds for s in spans), default=0.0),
                      stage_results(cp, pipeline, execution_id, pipeline_stages(cp, pipeline)))
    if not run.succeeded:
        failed = run.failed_stage
        where = f"stage {failed.name}: {failed.message}" if failed else run.summary
        raise WorkshopError(f"execution {execution_id} {run.status} at {where}")
    return run


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


def glue_job_run(ws: Workshop, execution_id: str) -> dict[str, Any]:
    """The Glue job run the execution's ETL stage started (its --PIPELINE_EXECUTION_ID argument names it)."""
    from .pipeline_jobs import GLUE_EXECUTION_ARGUMENT

    job = f"{ws.names.model_name}-preprocess"
    runs = ws.session.client("glue").get_job_runs(JobName=job)["JobRuns"]
    run = next((r for r in runs if (r.get("Arguments") or {}).get(GLUE_EXECUTION_ARGUMENT) == execution_id), None)
    if run is None:
        raise WorkshopError(f"no run of the Glue job {job} belongs to execution {execution_id}")
    return run


def wait_job_run(ws: Workshop, job: str, run_id: str, timeout: float = 900, progress: Progress = print
                 ) -> dict[str, Any]:
    """Poll GetJobRun until the run ends; the run, its final state printed."""
    glue = ws.session.client("glue")
    started, deadline = time.monotonic(), time.monotonic() + timeout
    while True:
        run = glue.get_job_run(JobName=job, RunId=run_id)["JobRun"]
        if run["JobRunState"] in ("SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR"):
            progress(f"run {run_id} of {job}: {run['JobRunState']} after {time.monotonic() - started:.1f} s"
                     + (f": {run['ErrorMessage']}" if run.get("ErrorMessage") else ""))
            return run
        if time.monotonic() > deadline:
            raise WorkshopError(f"run {run_id} of {job} is still {run['JobRunState']} after {timeout:.0f} s")
        time.sleep(0.5 if ws.target == "local" else 5)


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


def labelled_rows(ws: Workshop, uri: str) -> tuple[list[float], list[str]]:
    """A labelled CSV in S3 (rings first): the labels, and each row's features as a client sends them."""
    return foundation.labelled_rows(ws.session.client("s3"), *_split_s3(uri))


def execution_results(ws: Workshop, execution_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The system test's evaluation report and the model package the execution registered."""
    from .pipeline.results import evaluation_report, model_package

    report = evaluation_report(ws.session, ws.names, execution_id)
    package = model_package(ws.session, ws.names, execution_id)
    if report is None or package is None:
        raise WorkshopError(f"execution {execution_id} left no " + ("evaluation report" if report is None
                                                                   else "model package"))
    return report, package


def results_table(report: dict[str, Any], package: dict[str, Any], threshold: float):
    import pandas as pd

    return pd.Series({"model package": package["ModelPackageArn"], "approval": package["ModelApprovalStatus"],
                      "system test RMSE (rings)": f"{report['metrics']['rmse']:.2f}",
                      "threshold": f"{threshold:g}"}, name="production").to_frame()


# ---------- Notebook 7: model monitoring ----------

MONITOR_ENDED = ("Completed", "CompletedWithViolations", "Failed", "Stopped")
LOCAL_MONITOR_TIMEOUT, AWS_MONITOR_TIMEOUT = 300.0, 6000.0  # 5 local hours; an hour + SageMaker's 20 min + the job
PROGRESS_EVERY = {"local": 15.0, "aws": 300.0}


def read_json(ws: Workshop, uri: str) -> dict[str, Any]:
    """A JSON file in S3 (s3://bucket/key)."""
    bucket, key = _split_s3(uri)
    try:
        return json.loads(ws.session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as error:
        raise WorkshopError(f"{uri} cannot be read: {error.response['Error'].get('Message', error)}") from None


def baseline_files(ws: Workshop, schedule: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The statistics.json and constraints.json a schedule (a DescribeMonitoringSchedule answer) compares with."""
    baseline = schedule["MonitoringScheduleConfig"]["MonitoringJobDefinition"]["BaselineConfig"]
    return (read_json(ws, baseline["StatisticsResource"]["S3Uri"]),
            read_json(ws, baseline["ConstraintsResource"]["S3Uri"]))


def statistics_table(statistics: dict[str, Any], baseline: dict[str, Any] | None = None):
    """A statistics.json as a table, one row a feature (with the baseline's mean beside it when given)."""
    import pandas as pd

    before = {f["name"]: f.get("numerical_statistics") or {} for f in (baseline or {}).get("features") or []}
    rows = []
    for feature in statistics["features"]:
        numbers = feature.get("numerical_statistics") or {}
        row = {"feature": feature["name"], "type": feature.get("inferred_type", "")}
        if baseline is not None:
            row["baseline mean"] = round(before.get(feature["name"], {}).get("mean", float("nan")), 3)
        row.update({label: round(numbers.get(key, float("nan")), 3)
                    for label, key in (("mean", "mean"), ("std dev", "std_dev"), ("min", "min"), ("max", "max"))})
        row["missing"] = numbers.get("common", {}).get("num_missing", 0)
        rows.append(row)
    return pd.DataFrame(rows)


def constraints_table(constraints: dict[str, Any]):
    """A constraints.json as a table: what each feature must be, and how drift is judged."""
    import pandas as pd

    drift = (constraints.get("monitoring_config") or {}).get("distribution_constraints") or {}
    rows = [{"feature": f["name"], "type": f.get("inferred_type", ""), "completeness": f.get("completeness"),
             "non-negative": (f.get("num_constraints") or {}).get("is_non_negative"),
             "drift check": (f"{drift.get('comparison_method', 'Robust')} distance > "
                             f"{drift.get('comparison_threshold', 0.1)}"
                             if drift.get("perform_comparison", "Enabled") == "Enabled" else "off")}
            for f in constraints.get("features") or []]
    return pd.DataFrame(rows)


def schedule_table(schedule: dict[str, Any]):
    """The parts of a DescribeMonitoringSchedule answer that say what runs when, on what, against what."""
    import pandas as pd

    config = schedule["MonitoringScheduleConfig"]
    job = config["MonitoringJobDefinition"]
    baseline = job.get("BaselineConfig") or {}
    return pd.Series({
        "status": schedule["MonitoringScheduleStatus"], "type": schedule.get("MonitoringType", ""),
        "schedule": config["ScheduleConfig"]["ScheduleExpression"], "endpoint": schedule.get("EndpointName", ""),
        "image": job["MonitoringAppSpecification"]["ImageUri"],
        "baseline statistics": (baseline.get("StatisticsResource") or {}).get("S3Uri", ""),
        "baseline constraints": (baseline.get("ConstraintsResource") or {}).get("S3Uri", ""),
        "reports": job["MonitoringOutputConfig"]["MonitoringOutputs"][0]["S3Output"]["S3Uri"],
        "dataset_format": (job.get("Environment") or {}).get("dataset_format", "(captured input and output)"),
        "role": job["RoleArn"]}, name=schedule["MonitoringScheduleName"]).to_frame()


@dataclass
class SentTraffic:
    """Requests sent to an endpoint: how many, and when (epoch seconds) the first and the last went."""

    endpoint: str
    sent: int
    started: float
    ended: float


def _executions(ws: Workshop, schedule: str) -> list[dict[str, Any]]:
    return ws.session.client("sagemaker").list_monitoring_executions(
        MonitoringScheduleName=schedule, SortBy="ScheduledTime", SortOrder="Descending",
        MaxResults=10)["MonitoringExecutionSummaries"]


def send_traffic(ws: Workshop, endpoint: str, rows, schedule: str | None = None, drift: float = 1.0,
                 progress: Progress = print) -> SentTraffic:
    """Each row to the endpoint, one InvokeEndpoint each (mlops_workshop.traffic.send). With `schedule`, on the local
    cloud, the rows all land in one hour of that schedule: when an execution starts while they are sent (the hour
    turned, and its report holds only a part of them), this waits for the hour that holds the rest to be analysed and
    sends them again."""
    from . import traffic

    runtime = ws.session.client("sagemaker-runtime")
    lines = traffic.csv_lines(rows, len(rows))
    while True:
        started = time.time()
        try:
            result = traffic.send(runtime, endpoint, lines, drift=drift)
        except traffic.TrafficError as error:
            raise WorkshopError(str(error)) from None
        ended = time.time()
        if schedule is None or ws.target != "local":
            break
        time.sleep(capture_margin(ws))
        split = [e for e in _executions(ws, schedule) if started - 1 <= e["ScheduledTime"].timestamp() <= ended + 1]
        if not split:
            break
        wait_for_execution(ws, schedule, after=ended, progress=lambda _: None)
    what = f"drifted copies (sizes x{drift:g}) of " if drift != 1.0 else ""
    progress(f"sent {result.sent} requests, {what}the test split's rows, to {endpoint} in {ended - started:.1f} s; "
             f"mean prediction {result.mean_prediction:.2f} rings")
    return SentTraffic(endpoint, result.sent, started, ended)


def capture_margin(ws: Workshop) -> float:
    """Seconds until what an endpoint captured is in S3: the local cloud writes it every second (SageMaker within
    minutes, which the waits allow for)."""
    return 2.0 if ws.target == "local" else 0.0


def captured_record(ws: Workshop, capture_uri: str, endpoint: str, since: float, timeout: float | None = None,
                    progress: Progress = print) -> tuple[str, dict[str, Any]]:
    """The first record the endpoint captured at or after `since` (epoch seconds): its S3 key and the record."""
    from datetime import datetime, timezone

    bucket, prefix = _split_s3(capture_uri.rstrip("/") + f"/{endpoint}/")
    s3 = ws.session.client("s3")
    deadline = time.monotonic() + (timeout or (60.0 if ws.target == "local" else 900.0))
    floor = datetime.fromtimestamp(int(since), timezone.utc)
    said = False
    while True:
        keys = sorted((item["LastModified"], item["Key"])
                      for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                      for item in page.get("Contents", []) if item["LastModified"] >= floor)
        for _, key in keys:
            for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines():
                record = json.loads(line)
                moment = datetime.strptime(record["eventMetadata"]["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ")
                if moment.replace(tzinfo=timezone.utc) >= floor:
                    return f"s3://{bucket}/{key}", record
        if time.monotonic() > deadline:
            raise WorkshopError(f"nothing captured under s3://{bucket}/{prefix} since the traffic was sent; is the "
                                f"endpoint's DataCaptureConfig enabled? (SageMaker writes its files within minutes)")
        if not said and ws.target == "aws":
            progress("waiting for SageMaker to write the captured data (within a few minutes)")
            said = True
        time.sleep(0.5 if ws.target == "local" else 15)


def _next_hour_note(ws: Workshop, timeout: float) -> str:
    if ws.target == "local":
        return (f"locally the schedule's hour lasts a minute (schedule_speedup 60 by default); this waits up to "
                f"{timeout:.0f} s")
    now = time.gmtime()
    return (f"in an account the hourly execution is scheduled at {(now.tm_hour + 1) % 24:02d}:00 UTC, in "
            f"{60 - now.tm_min} min, SageMaker may start it up to 20 minutes later and its job takes about 10; this "
            f"waits up to {timeout / 60:.0f} min, saying so every {PROGRESS_EVERY['aws'] / 60:.0f} min (run the cell "
            f"again if it stops waiting: the execution goes on)")


def wait_for_execution(ws: Workshop, schedule: str, after: float, timeout: float | None = None,
                       progress: Progress = print) -> dict[str, Any]:
    """The first execution of the schedule scheduled after `after` (epoch seconds; plus the time captured data takes
    to reach S3), once it has ended: its ListMonitoringExecutions summary. Raises WorkshopError when it Failed or
    did not end within the timeout."""
    timeout = timeout or (LOCAL_MONITOR_TIMEOUT if ws.target == "local" else AWS_MONITOR_TIMEOUT)
    progress(f"waiting for the first execution of {schedule} after the traffic: {_next_hour_note(ws, timeout)}")
    began = time.monotonic()
    shown_at = began
    since = after + capture_margin(ws)
    while True:
        found = [e for e in _executions(ws, schedule) if e["ScheduledTime"].timestamp() >= since - 1]
        first = found[-1] if found else None
        if first and first["MonitoringExecutionStatus"] in MONITOR_ENDED:
            status = first["MonitoringExecutionStatus"]
            progress(f"execution {status} after {time.monotonic() - began:.1f} s"
                     + (f": {first['FailureReason']}" if first.get("FailureReason") else ""))
            if status in ("Failed", "Stopped"):
                raise WorkshopError(f"the execution of {schedule} ended {status}: "
                                    f"{first.get('FailureReason', 'no reason given')}")
            return first
        waited = time.monotonic() - began
        if waited > timeout:
            raise WorkshopError(f"no execution of {schedule} after the traffic ended within {timeout:.0f} s; it goes "
                                f"on in the background: run this cell again")
        if time.monotonic() - shown_at >= PROGRESS_EVERY[ws.target]:
            shown_at = time.monotonic()
            progress(f"  still waiting after {waited:.0f} s"
                     + (f" (execution {first['MonitoringExecutionStatus']})" if first else ""))
        time.sleep(0.5 if ws.target == "local" else 30)


def monitoring_report(ws: Workshop, execution: dict[str, Any]) -> dict[str, Any]:
    """What an execution wrote: its report folder, statistics.json and constraint_violations.json (no violations
    when it has none)."""
    sm = ws.session.client("sagemaker")
    job = sm.describe_processing_job(ProcessingJobName=execution["ProcessingJobArn"].rsplit("/", 1)[-1])
    folder = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"].rstrip("/")
    bucket, prefix = _split_s3(folder)
    listed = ws.session.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("Contents", [])
    names = {item["Key"].rsplit("/", 1)[-1] for item in listed}
    violations = (read_json(ws, f"{folder}/constraint_violations.json")["violations"]
                  if "constraint_violations.json" in names else [])
    return {"uri": folder, "files": sorted(names), "statistics": read_json(ws, f"{folder}/statistics.json"),
            "violations": violations, "exit_message": job.get("ExitMessage", "")}


def report_summary(report: dict[str, Any]):
    """What a monitoring execution's report holds and concluded."""
    import pandas as pd

    return pd.Series({"files": ", ".join(report["files"]), "processing job": report["exit_message"],
                      "violations": len(report["violations"])}, name="report").to_frame()


def violations_table(violations: list[dict[str, str]]):
    import pandas as pd

    return pd.DataFrame([{"feature": v["feature_name"], "check": v["constraint_check_type"],
                          "description": v["description"]} for v in violations],
                        columns=["feature", "check", "description"])


def drifted_features(violations: list[dict[str, str]]) -> list[str]:
    """The features whose distribution moved away from the baseline's (baseline_drift_check)."""
    return [v["feature_name"] for v in violations if v["constraint_check_type"] == "baseline_drift_check"]


def wait_for_alarm(ws: Workshop, alarm: str, state: str = "ALARM", timeout: float | None = None,
                   progress: Progress = print) -> dict[str, Any]:
    """Poll DescribeAlarms until the alarm is in `state`; the alarm."""
    cw = ws.session.client("cloudwatch")
    timeout = timeout or (120.0 if ws.target == "local" else 1800.0)
    began = time.monotonic()
    while True:
        found = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
        if not found:
            raise WorkshopError(f"there is no alarm {alarm}: is the pipeline stack (notebook 6) in place?")
        if found[0]["StateValue"] == state:
            progress(f"alarm {alarm}: {state} after {time.monotonic() - began:.1f} s")
            return found[0]
        if time.monotonic() - began > timeout:
            raise WorkshopError(f"alarm {alarm} is still {found[0]['StateValue']} after {timeout:.0f} s: "
                                f"{found[0].get('StateReason', '')}")
        time.sleep(0.5 if ws.target == "local" else 30)


def alarm_changes(ws: Workshop, alarm: str, since: float):
    """The alarm's state changes since `since` (epoch seconds), oldest first, from DescribeAlarmHistory."""
    import pandas as pd
    from datetime import datetime, timezone

    items = ws.session.client("cloudwatch").describe_alarm_history(
        AlarmName=alarm, HistoryItemType="StateUpdate", StartDate=datetime.fromtimestamp(since, timezone.utc),
        ScanBy="TimestampAscending")["AlarmHistoryItems"]
    rows = []
    for item in items:
        data = json.loads(item.get("HistoryData") or "{}")
        rows.append({"change": item["HistorySummary"],
                     "reason": (data.get("newState") or {}).get("stateReason", "")})
    return pd.DataFrame(rows, columns=["change", "reason"])


def wait_for_retraining(ws: Workshop, after: float, timeout: float | None = None,
                        progress: Progress = print) -> dict[str, Any]:
    """The pipeline execution an EventBridge rule started (trigger CloudWatchEvent) at or after `after`: its
    ListPipelineExecutions summary."""
    cp = ws.session.client("codepipeline")
    timeout = timeout or (60.0 if ws.target == "local" else 900.0)
    began = time.monotonic()
    while True:
        for summary in cp.list_pipeline_executions(
                pipelineName=ws.names.pipeline_stack_name)["pipelineExecutionSummaries"]:
            if (summary.get("trigger") or {}).get("triggerType") == "CloudWatchEvent" and \
                    summary["startTime"].timestamp() >= after - 1:
                progress(f"execution {summary['pipelineExecutionId']} {summary['status']}, started by "
                         f"{summary['trigger']['triggerDetail']} after {time.monotonic() - began:.1f} s")
                return summary
        if time.monotonic() - began > timeout:
            raise WorkshopError(f"no pipeline execution started by EventBridge within {timeout:.0f} s of the "
                                f"alarm: is the rule retrain-on-drift-{ws.names.model_name} enabled?")
        time.sleep(0.5 if ws.target == "local" else 15)


def wait_stopped(ws: Workshop, execution_id: str, timeout: float | None = None, progress: Progress = print) -> str:
    """Poll GetPipelineExecution until the execution is no longer InProgress or Stopping; its status."""
    cp = ws.session.client("codepipeline")
    timeout = timeout or (120.0 if ws.target == "local" else 1800.0)
    began = time.monotonic()
    while True:
        execution = cp.get_pipeline_execution(pipelineName=ws.names.pipeline_stack_name,
                                              pipelineExecutionId=execution_id)["pipelineExecution"]
        if execution["status"] not in ("InProgress", "Stopping"):
            progress(f"execution {execution_id} {execution['status']}"
                     + (f": {execution['statusSummary']}" if execution.get("statusSummary") else ""))
            return execution["status"]
        if time.monotonic() - began > timeout:
            raise WorkshopError(f"execution {execution_id} is still {execution['status']} after {timeout:.0f} s")
        time.sleep(0.5 if ws.target == "local" else 15)


# ---------- Notebook 8: clean up ----------

def remaining(ws: Workshop, keep_data: bool = False):
    """What the clean-up deletes and whether each is still there, asked of AWS: a table."""
    import pandas as pd

    from .cleanup import stacks_to_delete
    from .pipeline.results import endpoint_names
    from .pipeline.stack import stack_status

    cfn, sm = ws.session.client("cloudformation"), ws.session.client("sagemaker")

    def exists(call, *missing: str) -> bool:
        try:
            call()
        except ClientError as error:
            code, message = error.response["Error"].get("Code", ""), error.response["Error"].get("Message", "")
            if code in missing or any(word in message for word in ("does not exist", "Could not find", "not found")):
                return False
            raise
        return True

    rows = []
    for name in stacks_to_delete(ws.names):
        stack = stack_status(cfn, name)
        rows.append(("stack", name, stack is not None and stack["StackStatus"] != "DELETE_COMPLETE"))
    for endpoint in endpoint_names(ws.names).values():
        rows.append(("endpoint", endpoint, exists(lambda e=endpoint: sm.describe_endpoint(EndpointName=e),
                                                  "ValidationException")))
    rows.append(("model package group", ws.names.model_name, exists(
        lambda: sm.describe_model_package_group(ModelPackageGroupName=ws.names.model_name), "ValidationException")))
    if not keep_data:
        s3 = ws.session.client("s3")
        for bucket in (ws.names.artifact_bucket, ws.names.data_bucket):
            rows.append(("bucket", bucket, exists(lambda b=bucket: s3.head_bucket(Bucket=b), "404", "NoSuchBucket",
                                                  "NotFound")))
        ecr = ws.session.client("ecr")
        rows.append(("image repository", ws.names.image_repo_name, exists(
            lambda: ecr.describe_repositories(repositoryNames=[ws.names.image_repo_name]),
            "RepositoryNotFoundException")))
        codecommit = ws.session.client("codecommit")
        rows.append(("code repository", ws.names.code_repo_name, exists(
            lambda: codecommit.get_repository(repositoryName=ws.names.code_repo_name),
            "RepositoryDoesNotExistException")))
    return pd.DataFrame([{"kind": kind, "name": name, "still there": "yes" if there else "no"}
                         for kind, name, there in rows])


def cleanup(ws: Workshop, keep_data: bool = False, confirm: bool = False, progress: Progress = print):
    """Delete what the workshop made on the target (mlops_workshop.cleanup), in an AWS account only with
    confirm=True, then ask AWS whether each is gone: that table; raises WorkshopError when something remains."""
    from . import cleanup as cleaning

    if ws.target == "aws" and not confirm:
        raise WorkshopError(f"this deletes the workshop's stacks{'' if keep_data else ', buckets and repositories'} "
                            f"in AWS account {ws.names.account} ({ws.names.region}): set confirm_delete = True "
                            "to go ahead")
    ok = cleaning.cleanup(ws.session, ws.names, keep_data=keep_data, progress=progress)
    left = remaining(ws, keep_data)
    there = left[left["still there"] == "yes"]
    if not ok or len(there):
        raise WorkshopError("some resources remain: " + (", ".join(f"{k} {n}" for k, n in zip(there["kind"],
                            there["name"])) or "see FAILED above") + "; run this again once fixed")
    return left


def stop_local_cloud(ws: Workshop, progress: Progress = print) -> None:
    """Stop the local cloud of the notebook's state folder (its state stays on disk)."""
    if ws.target != "local":
        progress("target aws: there is no local cloud to stop")
        return
    stopped = lifecycle.stop(cloud_dir(ws.state_dir))
    progress(f"local cloud on {shown(cloud_dir(ws.state_dir))} " + ("stopped" if stopped else "was not running"))
