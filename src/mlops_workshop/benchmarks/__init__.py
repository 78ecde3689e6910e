"""The figures behind the workshop's targets: `mlops-workshop benchmark [quality|cv|training|serving|all]`,
`benchmark pipeline`, `benchmark localcloud`, `benchmark monitoring`. Each prints its figures against its targets;
results and a plot go to bench-results/.

quality, cv, training, serving   the model (model.py)
pipeline  each stage's time from an empty state folder to the production endpoint answering, on a local cloud of
          its own (pipeline.py; not part of all)
localcloud the local cloud's start, Lambda round trip and training-job overhead (localcloud.py; not part of all)
monitoring the main job, then drifted traffic on Prd until the retraining it starts, on a local cloud of its own
          (monitoring.py; not part of all)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from mlops_workshop import REPO_ROOT

from . import model


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["pipeline"]:
        from .pipeline import main as pipeline_main
        return pipeline_main(argv[1:])
    if argv[:1] == ["localcloud"]:
        from .localcloud import main as localcloud_main
        return localcloud_main(argv[1:])
    if argv[:1] == ["monitoring"]:
        from .monitoring import main as monitoring_main
        return monitoring_main(argv[1:])
    parser = argparse.ArgumentParser(prog="mlops-workshop benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("section", nargs="?", default="all",
                        choices=["quality", "cv", "training", "serving", "all", "pipeline", "localcloud",
                                 "monitoring"],
                        help="pipeline, localcloud and monitoring (not part of all): the whole pipeline on a new "
                             "local cloud, the local cloud's own targets, and drift to retraining; see `benchmark "
                             "pipeline --help`, `benchmark localcloud --help`, `benchmark monitoring --help`")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each load round (default 5)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent keep-alive connections (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating load rounds per server (default 2)")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "bench-results",
                        help="folder for the plot and results.json (default bench-results/)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="cv: a hyperparameter to try instead of trainingjob.json's (repeatable)")
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--set {item!r}: give NAME=VALUE, e.g. --set l2=0.02")
        overrides[name.strip()] = value.strip()
    if overrides:
        try:
            model.load_model_module().parse_hyperparameters({**model.job_hyperparameters(), **overrides})
        except Exception as error:  # the model's TrainingError names the bad value and what is allowed
            parser.error(f"--set: {error}")

    print(model.machine_line())
    results = {}
    sections = ["quality", "training", "serving"] if args.section == "all" else [args.section]
    with tempfile.TemporaryDirectory(prefix="benchmark-") as scratch:
        opt_ml = Path(scratch) / "opt_ml"
        if "quality" in sections:
            results["quality"] = model.quality()
        if "cv" in sections:
            results["cv"] = model.crossvalidate(overrides)
        if "training" in sections or "serving" in sections:
            trained = model.training(opt_ml)
            if "training" in sections:
                results["training"] = trained
        if "serving" in sections:
            results["serving"] = model.serving(opt_ml, args.seconds, args.connections, args.rounds)
    print(model.machine_line())

    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    picture = model.plot(results, args.output / "benchmark.png")
    print(f"results: {args.output / 'results.json'}" + (f", plot: {picture}" if picture else ""))
    missed = [name for name, result in results.items() if not result.get("met", True)]
    if missed:
        print(f"targets missed: {', '.join(missed)}")
    return 1 if (args.check and missed) else 0
