"""The analyzer's run: `python -m mlops_workshop.localcloud.sagemaker.analyzer`, configured by its environment."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .checks import Judgement, metrics
from .datasets import AnalysisError, parse_time, read
from .statistics import constraints, statistics


def _json_file(path: str, what: str) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise AnalysisError(f"the {what} file {path} cannot be read: {exc}") from exc
    except ValueError as exc:
        raise AnalysisError(f"the {what} file {path} is not valid JSON: {exc}") from exc


def analyze(env: Mapping[str, str], opt_ml: Path) -> str:
    """One run; returns its outcome for /opt/ml/output/message."""
    started = time.monotonic()
    analysis = env.get("analysis_type", "DATA_QUALITY").upper().replace("-", "_")
    if analysis not in ("DATA_QUALITY", "DATAQUALITY"):
        raise AnalysisError(f"analysis_type {env['analysis_type']} is not one the local cloud's analyzer runs (data "
                            f"quality only)")
    for script in ("record_preprocessor_script", "post_analytics_processor_script"):
        if env.get(script):
            raise AnalysisError(f"{script} is set, and the local cloud's analyzer runs no scripts of its own")
    try:
        dataset_format = json.loads(env.get("dataset_format") or "{}")
    except ValueError as exc:
        raise AnalysisError(f"dataset_format is not valid JSON: {exc}") from exc
    for key in ("dataset_source", "output_path"):
        if not env.get(key):
            raise AnalysisError(f"the environment variable {key} is required")
    start, end = parse_time(env.get("start_time")), parse_time(env.get("end_time"))
    dataset = read(Path(env["dataset_source"]), dataset_format or {"csv": {"header": False}}, start, end)
    if not dataset.rows:
        window = f" between {env['start_time']} and {env['end_time']}" if start and end else ""
        raise AnalysisError(f"the dataset in {env['dataset_source']} has no records{window}")
    baseline_constraints = _json_file(env["baseline_constraints"], "baseline constraints") \
        if env.get("baseline_constraints") else None
    baseline_statistics = _json_file(env["baseline_statistics"], "baseline statistics") \
        if env.get("baseline_statistics") else None
    names = [f["name"] for f in ((baseline_constraints or baseline_statistics or {}).get("features") or [])]
    columns = dataset.columns(names or None)
    stats = statistics(columns, len(dataset.rows))
    output = Path(env["output_path"])
    output.mkdir(parents=True, exist_ok=True)
    (output / "statistics.json").write_text(json.dumps(stats, indent=2))
    print(f"analyzed {len(dataset.rows)} rows of {len(columns)} features in {time.monotonic() - started:.2f} s",
          flush=True)
    if baseline_constraints is None:
        suggested = constraints(stats, env.get("categorical_drift_method"))
        (output / "constraints.json").write_text(json.dumps(suggested, indent=2))
        return "Completed: Job completed successfully with no violations."
    judgement = Judgement(columns, stats, baseline_constraints, baseline_statistics).run()
    (output / "constraint_violations.json").write_text(json.dumps({"violations": judgement.violations}, indent=2))
    for violation in judgement.violations:
        print(f"violation: {violation['feature_name']}: {violation['constraint_check_type']}: "
              f"{violation['description']}", flush=True)
    if env.get("publish_cloudwatch_metrics", "Disabled") == "Enabled":
        dimensions = [{"Name": "Endpoint", "Value": env["sagemaker_endpoint_name"]}] \
            if env.get("sagemaker_endpoint_name") else []
        if env.get("sagemaker_monitoring_schedule_name"):
            dimensions.append({"Name": "MonitoringSchedule", "Value": env["sagemaker_monitoring_schedule_name"]})
        moment = parse_time(env.get("metric_time")) or start or datetime.now(timezone.utc)
        data = metrics(judgement, moment, dimensions)
        folder = opt_ml / "output" / "metrics" / "cloudwatch"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics.json").write_text("".join(json.dumps(datum) + "\n" for datum in data))
    count = len(judgement.violations)
    if count:
        return f"CompletedWithViolations: Job completed successfully with {count} violations."
    return "Completed: Job completed successfully with no violations."


def main() -> int:
    opt_ml = Path(os.environ.get("OPT_ML_ROOT") or "/opt/ml")
    message = opt_ml / "output" / "message"
    message.parent.mkdir(parents=True, exist_ok=True)
    try:
        outcome = analyze(os.environ, opt_ml)
    except AnalysisError as exc:
        message.write_text(f"Error: {exc}")
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    message.write_text(outcome)
    print(outcome, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
