"""The pipeline's own parts end to end, without the pipeline: raw data → ETL job → training → serving.

Each part runs exactly as the pipeline runs it: the ETL script as a Glue Python-shell process against S3
(the local cloud's), training through the SageMaker container contract, serving through nginx and gunicorn.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3

from . import REPO_ROOT
from .config import WorkshopNames
from .data import RAW_FILENAME, write_raw_csv
from .modelserver import ModelServer
from .target import child_env

CONTAINER = REPO_ROOT / "container"
ETL_SCRIPT = REPO_ROOT / "etl" / "preprocess.py"
ETL_OUTPUTS = {"train": "training/train.csv", "validate": "training/validate.csv", "test": "testing/test.csv",
               "baseline": "baseline/baseline.csv"}


class StageError(RuntimeError):
    """A stage failed; the message says which and where its log is."""


@dataclass
class FoundationResult:
    test_rmse: float
    test_rows: int
    model_dir: Path
    server_url: str
    stage_seconds: dict[str, float]


def _run(stage: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        code = subprocess.call(args, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if code != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        raise StageError(f"{stage} failed (exit {code}); last lines of {log_path}:\n  " + "\n  ".join(tail))


def hyperparameters() -> dict[str, str]:
    """The pipeline's hyperparameters, from container/trainingjob.json."""
    job = json.loads((CONTAINER / "trainingjob.json").read_text())
    return {k: str(v) for k, v in job.get("HyperParameters", {}).items()}


def run_etl(env: dict[str, str], names: WorkshopNames, prefix: str, log_path: Path, seed: int = 42) -> dict[str, str]:
    """etl/preprocess.py, as Glue runs it, on the raw data in the data bucket; the S3 URI of each output."""
    _run("ETL job", [sys.executable, str(ETL_SCRIPT),
                     "--S3_INPUT_BUCKET", names.data_bucket,
                     "--S3_INPUT_KEY_PREFIX", names.raw_data_key.rsplit("/", 1)[0],
                     "--S3_OUTPUT_BUCKET", names.data_bucket,
                     "--S3_OUTPUT_KEY_PREFIX", prefix, "--SEED", str(seed)], env, log_path)
    return {split: f"s3://{names.data_bucket}/{prefix}/{key}" for split, key in ETL_OUTPUTS.items()}


def train(s3, env: dict[str, str], names: WorkshopNames, prefix: str, opt_ml: Path, log_path: Path,
          settings: dict[str, str] | None = None) -> dict:
    """container/train under the SageMaker contract on the ETL job's training split; the model's metadata.

    settings: hyperparameters (strings) in place of trainingjob.json's."""
    shutil.rmtree(opt_ml, ignore_errors=True)
    channel = opt_ml / "input" / "data" / "training"
    channel.mkdir(parents=True)
    for name in ("train.csv", "validate.csv"):
        s3.download_file(names.data_bucket, f"{prefix}/training/{name}", str(channel / name))
    config = opt_ml / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(settings or hyperparameters()))
    try:
        _run("training", [str(CONTAINER / "train")], {**env, "OPT_ML_ROOT": str(opt_ml)}, log_path)
    except StageError as exc:
        failure = opt_ml / "output" / "failure"
        reason = failure.read_text().strip() if failure.exists() else ""
        raise StageError(f"{exc}\n  failure reason: {reason}" if reason else str(exc)) from None
    return json.loads((opt_ml / "model" / "metadata.json").read_text())


def labelled_rows(s3, bucket: str, key: str) -> tuple[list[float], list[str]]:
    """A labelled CSV in S3 (no header, rings first): the labels, and each row's features as a client sends them."""
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    rows = [line.split(",", 1) for line in text.strip().splitlines()]
    return [float(label) for label, _ in rows], [features for _, features in rows]


def test_split(s3, names: WorkshopNames, prefix: str) -> tuple[list[float], list[str]]:
    """The ETL job's test split under `prefix` in the data bucket."""
    return labelled_rows(s3, names.data_bucket, f"{prefix}/testing/test.csv")


def predict_rows(url: str, lines: list[str], timeout: float = 60) -> list[float]:
    """POST the CSV lines to a model server's /invocations in one request; its predictions."""
    request = urllib.request.Request(f"{url}/invocations", data="\n".join(lines).encode(),
                                     headers={"Content-Type": "text/csv", "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        return [float(p) for p in json.loads(resp.read())["predictions"]]


def rmse(labels: list[float], predictions: list[float]) -> float:
    return math.sqrt(sum((p - y) ** 2 for p, y in zip(predictions, labels, strict=True)) / len(labels))


def run(work_dir: str | Path, endpoint_url: str, names: WorkshopNames | None = None, seed: int = 42,
        progress=print) -> FoundationResult:
    """Run the parts against an S3 at endpoint_url; work_dir holds the /opt/ml tree and the logs."""
    names = names or WorkshopNames()
    work = Path(work_dir).resolve()
    logs = work / "logs"
    env = child_env(endpoint_url, names.region)
    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name=names.region,
                      aws_access_key_id="localcloud", aws_secret_access_key="localcloud")
    times: dict[str, float] = {}

    start = time.monotonic()
    progress(f"[1/4] raw data → s3://{names.data_bucket}/{names.raw_data_key}")
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if names.data_bucket not in existing:
        s3.create_bucket(Bucket=names.data_bucket)
    raw = write_raw_csv(work / RAW_FILENAME)
    s3.upload_file(str(raw), names.data_bucket, names.raw_data_key)
    times["data"] = time.monotonic() - start

    start = time.monotonic()
    prefix = "foundation"
    progress(f"[2/4] ETL job (etl/preprocess.py, as Glue runs it) → s3://{names.data_bucket}/{prefix}/")
    run_etl(env, names, prefix, logs / "etl.log", seed)
    times["etl"] = time.monotonic() - start

    start = time.monotonic()
    opt_ml = work / "opt_ml"
    progress(f"[3/4] training (container/train, SageMaker contract, /opt/ml at {opt_ml})")
    train(s3, env, names, prefix, opt_ml, logs / "train.log")
    times["train"] = time.monotonic() - start

    start = time.monotonic()
    server = ModelServer(opt_ml, log_path=logs / "serve.log")
    progress(f"[4/4] serving (container/serve: nginx → gunicorn → Flask) at {server.url}, "
             "predicting the test split")
    try:
        server.start()
        server.wait_healthy(120)
        labels, lines = test_split(s3, names, prefix)
        predictions = predict_rows(server.url, lines)
    except RuntimeError as exc:
        raise StageError(f"serving failed: {exc}") from None
    finally:
        server.stop()
    times["serve"] = time.monotonic() - start
    return FoundationResult(rmse(labels, predictions), len(labels), opt_ml / "model", server.url, times)
