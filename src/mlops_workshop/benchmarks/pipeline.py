"""Benchmark of the main job: an empty state folder to the production endpoint answering, time per stage.

    mlops-workshop benchmark pipeline [--images process|engine|auto] [--keep]

It starts a local cloud of its own (on a free port, in a new folder), runs the demo's pipeline once, and stops
the cloud again. Targets: at most 3 minutes with images run as processes, 5 with a container engine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import demo, pipeline
from ..localcloud import lifecycle
from ..modelserver import free_port
from ..config import WorkshopNames
from ..target import IMAGE_MODES, CloudSession, cloud_dir, cloud_settings, names_for_session

TARGET_SECONDS = {"process": 180.0, "engine": 300.0, "auto": 300.0}
# The execution's time before the endpoints served without TensorFlow (the seed, 7f7804e, on these 2-core machines).
BEFORE_TENSORFLOW_FREE_SERVING_S = 36.0


def measure(state_dir: Path, images: str = "process", progress=print, settings: dict[str, Any] | None = None,
            then: Callable[[CloudSession, WorkshopNames], Any] | None = None) -> dict[str, Any]:
    """Run everything once from `state_dir` (empty); returns the times in seconds and the outcome. `settings`: more
    of the local cloud's; `then(session, names)` runs on the same cloud before it stops (its result: "then")."""
    began = time.monotonic()
    state = lifecycle.start(cloud_dir(state_dir), port=free_port(), settings={**cloud_settings(images),
                                                                             **(settings or {})})
    try:
        cloud_ready = time.monotonic() - began
        session = CloudSession(state["endpoint"])
        names = names_for_session(session)
        result = demo.run_pipeline(session, state_dir / "demo", names, progress=progress)
        prd = pipeline.results.endpoint_names(names)["Prd"]
        answer = pipeline.results.endpoint_answer(session, prd)
        total = time.monotonic() - began
        after = then(session, names) if then is not None and result.run.succeeded else None
    finally:
        lifecycle.stop(cloud_dir(state_dir))
    return {
        "images": images,
        "status": result.run.status,
        "failed_stage": result.run.failed_stage.name if result.run.failed_stage else None,
        "local_cloud_ready_s": round(cloud_ready, 2),
        "setup_s": {step: round(seconds, 2) for step, seconds in result.step_seconds.items() if step != "pipeline"},
        "stages_s": {s.name: (round(s.seconds, 2) if s.seconds is not None else None)
                     for s in result.run.stages.values()},
        "execution_s": round(result.run.seconds, 2),
        "prd_answer": answer,
        "total_s": round(total, 2),
        "target_s": TARGET_SECONDS[images],
        "rmse": result.rmse,
        "then": after,
    }


def report(figures: dict[str, Any], file=None) -> None:
    file = file or sys.stdout
    print(f"\nPipeline benchmark (images: {figures['images']}): empty state folder -> production endpoint answering",
          file=file)
    print(f"  {'local cloud ready':<26} {figures['local_cloud_ready_s']:7.1f} s", file=file)
    for step, seconds in figures["setup_s"].items():
        print(f"  {step:<26} {seconds:7.1f} s", file=file)
    for stage, seconds in figures["stages_s"].items():
        shown = f"{seconds:7.1f} s" if seconds is not None else "      -  (not run)"
        print(f"  stage {stage:<20} {shown}", file=file)
    print(f"  {'execution':<26} {figures['execution_s']:7.1f} s  (before the endpoints served without TensorFlow: "
          f"about {BEFORE_TENSORFLOW_FREE_SERVING_S:.0f} s)", file=file)
    answered = isinstance(figures["prd_answer"], float)
    met = answered and figures["status"] == "Succeeded" and figures["total_s"] <= figures["target_s"]
    print(f"  {'total':<26} {figures['total_s']:7.1f} s  (target <= {figures['target_s']:.0f} s: "
          f"{'met' if met else 'NOT met'}; execution {figures['status']}"
          + (f" at {figures['failed_stage']}" if figures["failed_stage"] else "")
          + (f"; Prd answered {figures['prd_answer']:.2f} rings" if answered else f"; Prd: {figures['prd_answer']}")
          + ")", file=file)
    if figures.get("rmse") is not None:
        print(f"  {'test RMSE':<26} {figures['rmse']:7.3f} rings", file=file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-workshop benchmark pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", choices=IMAGE_MODES, default="process")
    parser.add_argument("--state-dir", type=Path, help="an empty folder to use (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the state folder (logs) afterwards")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--verbose", action="store_true", help="show the demo's progress")
    args = parser.parse_args(argv)
    if args.state_dir and args.state_dir.exists() and any(args.state_dir.iterdir()):
        parser.error(f"{args.state_dir} is not empty: the benchmark starts from an empty state folder")
    state_dir = (args.state_dir or Path(tempfile.mkdtemp(prefix="pipeline-bench-"))).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        figures = measure(state_dir, args.images, progress=print if args.verbose else (lambda line: None))
    finally:
        if not args.keep:
            shutil.rmtree(state_dir, ignore_errors=True)
    report(figures)
    if args.keep:
        print(f"  state and logs kept in {state_dir}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if figures["status"] == "Succeeded" and figures["total_s"] <= figures["target_s"] else 1
