"""The main job: the whole workshop pipeline on the embedded local cloud, from an empty state folder to two
endpoints answering.

    mlops-workshop demo                      # start (or reuse) the local cloud, create everything, run the pipeline
    mlops-workshop demo --manual-approvals   # the approvals wait for `mlops-workshop approve` instead of the monitors
    mlops-workshop demo --stop               # stop the local cloud at the end (the endpoints stop answering)
    mlops-workshop demo --foundation         # the pipeline's parts without the pipeline (ETL, train, serve)

Run again, it keeps what exists (repositories, stack: updated when the template changed) and runs a new
execution. The local cloud keeps running after the demo: the endpoints go on answering until
`mlops-workshop localcloud stop`.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import pipeline
from .config import WorkshopNames
from .localcloud import lifecycle
from .localcloud.server import DEFAULT_PORT
from .pipeline import PipelineError, Progress
from .pipeline.execution import PipelineRun
from .repository_validation import create_repositories, print_report, validate_repositories
from .data import read_raw_csv
from .target import (DEFAULT_STATE_DIR, IMAGE_MODES, CloudSession, cloud_dir, ensure_cloud, local_cloud_answering,
                     names_for_session, state_dir_option)

@dataclass
class DemoResult:
    run: PipelineRun
    stack_operation: str
    step_seconds: dict[str, float] = field(default_factory=dict)
    rmse: float | None = None
    threshold: float | None = None
    report_uri: str | None = None
    package: dict[str, Any] | None = None
    endpoints: dict[str, tuple[str, float | str]] = field(default_factory=dict)


def run_pipeline(session, work_dir: Path, names: WorkshopNames | None = None, *, manual_approvals: bool = False,
                 rmse_threshold: float | None = None, data_source: str | Path | bytes | None = None,
                 sources: dict[str, Path] | None = None, timeout: float = 1800, progress: Progress = print,
                 approve_hint: str = "mlops-workshop approve", source_provider: str = "CodeCommit",
                 template: Path = pipeline.stack.TEMPLATE) -> DemoResult:
    """Everything after the cloud is up: repositories, code and data, the stack, one execution, the results.

    `sources` replaces project folders pushed to the code branches ({branch: folder}); `data_source` replaces
    the bundled data set (a CSV path, checked; or raw bytes, uploaded as they are). `source_provider` S3 puts the
    code in the data bucket as zips instead of CodeCommit branches (no CodeCommit repository is made); `template`
    replaces cloudformation/mlops-pipeline.yml.
    On a first run the code and data go in before the stack, whose creation starts the first execution. Later,
    they go in after the stack update, right before the execution starts, so that the sources' polling does not
    start a second execution for the same change.
    Raises PipelineError when something before the execution fails; a failed execution is returned (run.status)."""
    names = names or names_for_session(session)
    codecommit = pipeline.stack.check_source_provider(source_provider) == "CodeCommit"
    steps: dict[str, float] = {}
    cp = session.client("codepipeline")
    first = pipeline.stack.stack_status(session.client("cloudformation"), names.pipeline_stack_name) is None
    number = iter(range(1, 6))

    def heading(text: str) -> None:
        progress(f"\n[{next(number)}/5] {text}")

    def timed(step: str, began: float) -> None:
        steps[step] = steps.get(step, 0.0) + time.monotonic() - began

    def code_and_data() -> None:
        began = time.monotonic()
        heading("code and data")
        if codecommit:
            pipeline.sources.push_sources(session, names, Path(work_dir), sources, progress=progress)
        else:
            pipeline.sources.upload_sources(session, names, Path(work_dir), sources, progress=progress)
        pipeline.stack.upload_dataset_step(session, names, data_source, progress=progress)
        timed("code and data", began)

    began = time.monotonic()
    heading("data repositories")
    for resource, outcome in create_repositories(names, session, with_codecommit=codecommit).items():
        progress(f"  {outcome:<8} {resource}")
    timed("repositories", began)
    if first:
        code_and_data()
    began = time.monotonic()
    progress("")
    if not print_report(validate_repositories(names, session, with_codecommit=codecommit), file=_Writer(progress)):
        raise PipelineError("The data repositories are not as the pipeline needs them (see the table above)")
    timed("repositories", began)

    began = time.monotonic()
    heading(f"Lambda packages and the pipeline stack {names.pipeline_stack_name} (cloudformation/mlops-pipeline.yml)")
    pipeline.stack.upload_packages(session, names, progress=progress)
    known = set(pipeline.execution.execution_ids(cp, names.pipeline_stack_name))
    operation, stack = pipeline.stack.deploy_stack(session, names, rmse_threshold, template, progress=progress,
                                                   source_provider=source_provider)
    threshold = next((float(p["ParameterValue"]) for p in stack.get("Parameters", [])
                      if p["ParameterKey"] == "RmseThreshold"), None)
    progress(f"  stack {operation}: {stack['StackStatus']} in {time.monotonic() - began:.1f} s"
             + (f"; RMSE threshold {threshold:g}" if threshold is not None else ""))
    pipeline.execution.set_monitors(session, names, enabled=not manual_approvals)
    progress("  approvals: " + ("by a person (the monitors' EventBridge rules are disabled)" if manual_approvals
                                else "by the monitors (EventBridge rules → EtlJobMonitor, TrainingJobMonitor)"))
    timed("stack", began)
    if not first:
        code_and_data()

    heading("pipeline execution")
    execution_id, trigger = pipeline.execution.new_execution(cp, names.pipeline_stack_name, known,
                                                   wait=5.0 if operation == "created" else 0.0)
    progress(f"  {execution_id} (started by {trigger})")

    def on_approval(stage: str, action: str) -> None:
        if manual_approvals:
            progress(f"  {'':7}  {stage} waits for you: {approve_hint} --stage {stage} "
                     f"(or --reject --reason '...')")

    began = time.monotonic()
    run = pipeline.execution.follow(cp, names.pipeline_stack_name, execution_id, timeout=timeout, progress=progress,
                          on_approval=on_approval)
    timed("pipeline", began)

    result = DemoResult(run, operation, steps, threshold=threshold)
    heading("results")
    report = pipeline.results.evaluation_report(session, names, execution_id)
    if report:
        result.rmse = float(report["metrics"]["rmse"])
        result.report_uri = f"s3://{names.artifact_bucket}/{execution_id}/evaluation/evaluation.json"
    result.package = pipeline.results.model_package(session, names, execution_id)
    for stage, endpoint in pipeline.results.endpoint_names(names).items():
        result.endpoints[stage] = (endpoint, pipeline.results.endpoint_answer(session, endpoint))
    return result


class _Writer:
    """A file-like object for print_report that sends each line to progress."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.buffer = ""

    def write(self, text: str) -> None:
        self.buffer += text
        while "\n" in self.buffer:
            line, self.buffer = self.buffer.split("\n", 1)
            self.progress("  " + line if line else "")

    def flush(self) -> None:
        pass


def print_summary(result: DemoResult, names: WorkshopNames, progress: Progress = print) -> None:
    run = result.run
    progress(f"\nSummary of execution {run.execution_id}: {run.status} in {pipeline.execution.clock(run.seconds)}")
    progress(f"  {'stage':<14} {'outcome':<11} {'time':>7}")
    for stage in run.stages.values():
        seconds = f"{stage.seconds:6.1f}s" if stage.seconds is not None else "      -"
        progress(f"  {stage.name:<14} {stage.status:<11} {seconds}" + (f"  {stage.message}" if stage.message else ""))
    setup = ", ".join(f"{k} {v:.1f}s" for k, v in result.step_seconds.items() if k != "pipeline")
    progress(f"  before the execution: {setup} (stack {result.stack_operation})")
    if result.rmse is not None:
        verdict = "" if result.threshold is None else (
            f" (threshold {result.threshold:g}: {'passed' if result.rmse <= result.threshold else 'failed'})")
        progress(f"  test RMSE: {result.rmse:.3f} rings{verdict}, report {result.report_uri}")
    else:
        progress("  test RMSE: none (the system test did not write its report in this execution)")
    if result.package:
        progress(f"  model package: {result.package['ModelPackageArn']} ({result.package['ModelApprovalStatus']})")
    else:
        progress("  model package: none registered in this execution")
    for stage, (endpoint, answer) in result.endpoints.items():
        if isinstance(answer, float):
            progress(f"  {stage} endpoint {endpoint}: {answer:.2f} rings for {pipeline.results.SAMPLE_ROW}")
        else:
            progress(f"  {stage} endpoint {endpoint}: {answer}")


def run_demo(args: argparse.Namespace) -> int:
    state_dir = args.state_dir.resolve()
    folder = cloud_dir(state_dir)
    if args.data is not None:
        read_raw_csv(args.data)  # a bad file is refused before anything is made
    if args.images != "process" and lifecycle.status(folder)["running"]:
        print(f"note: the local cloud on {folder} runs already, with the images setting it started with; "
              f"stop it first for --images {args.images}")
    stop_hint = "mlops-workshop localcloud stop" + ("" if folder == cloud_dir() else f" --state-dir {folder}")
    approve_hint = "mlops-workshop approve" + state_dir_option(state_dir)
    started = time.monotonic()
    state = ensure_cloud(state_dir, args.port, args.images)
    session = CloudSession(state["endpoint"])
    code, answering = 0, False
    try:
        with local_cloud_answering(state_dir, "`mlops-workshop demo" + state_dir_option(state_dir) + "`"):
            names = names_for_session(session)
            result = run_pipeline(session, state_dir / "demo", names, manual_approvals=args.manual_approvals,
                                  rmse_threshold=args.rmse_threshold, data_source=args.data, timeout=args.timeout,
                                  approve_hint=approve_hint,
                                  source_provider=pipeline.stack.SOURCE_OPTIONS[args.source])
            answering = True
        print_summary(result, names)
        failed = result.run.failed_stage
        if not result.run.succeeded:
            where = f"stage {failed.name}: {failed.message}" if failed else result.run.summary
            print(f"\nFAILED: execution {result.run.execution_id} {result.run.status} at {where}", file=sys.stderr)
            code = 1
        else:
            print(f"\nDone in {pipeline.execution.clock(time.monotonic() - started)} from the start of this command.")
    except PipelineError as error:
        print(f"\nFAILED: {error}", file=sys.stderr)
        code, answering = 1, True
    except KeyboardInterrupt:
        print("\nInterrupted: an execution that started goes on in the local cloud "
              f"(aws codepipeline list-pipeline-executions --pipeline-name {WorkshopNames.pipeline_stack_name} "
              f"--endpoint-url {state['endpoint']})", file=sys.stderr)
        code, answering = 130, True
    finally:
        if args.stop:
            lifecycle.stop(folder)
            print("local cloud stopped")
        elif answering:
            print(f"The local cloud keeps running at {state['endpoint']} so that the endpoints answer "
                  f"(its logs: {folder / 'logs'}); stop it with: {stop_hint}")
    return code


def run_foundation(state_dir: Path) -> int:
    import logging

    from .foundation import StageError, run
    from .localcloud import LocalCloud

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request of the in-process cloud
    cloud = LocalCloud(state_dir / "localcloud-foundation", port=0)
    cloud.start()
    print(f"local cloud at {cloud.endpoint_url}, state in {state_dir}")
    started = time.monotonic()
    try:
        result = run(state_dir / "foundation", cloud.endpoint_url)
    except StageError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        cloud.stop()
    print("\nSummary")
    for stage, seconds in result.stage_seconds.items():
        print(f"  {stage:<6} {seconds:6.1f} s")
    print(f"  total  {time.monotonic() - started:6.1f} s")
    print(f"  test RMSE: {result.test_rmse:.3f} rings on {result.test_rows} held-out rows")
    print(f"  model:     {result.model_dir}")
    print(f"  served at: {result.server_url} (stopped; `container/local_test/serve_local.sh` serves it again)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-workshop demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR,
                        help="where the local cloud keeps everything (default .state at the repository's root)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"the local cloud's port when it starts (default {DEFAULT_PORT})")
    parser.add_argument("--images", choices=IMAGE_MODES, default="process",
                        help="how the image's train and serve run when the cloud starts: process (default, fast), "
                             "engine (a container engine builds and runs the Dockerfile), auto")
    parser.add_argument("--manual-approvals", action="store_true",
                        help="leave the ETL and train approvals to a person (`mlops-workshop approve`)")
    parser.add_argument("--rmse-threshold", type=float,
                        help="the system test's threshold (stack parameter RmseThreshold; default: keep it)")
    parser.add_argument("--data", type=Path, help="a raw abalone CSV to use instead of the bundled data set")
    parser.add_argument("--source", choices=sorted(pipeline.stack.SOURCE_OPTIONS), default="codecommit",
                        help="where the pipeline reads the code: codecommit branches (default), or s3 zips in the "
                             "data bucket (the stack's SourceProvider S3, for accounts without CodeCommit)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the execution")
    parser.add_argument("--stop", action="store_true", help="stop the local cloud at the end")
    parser.add_argument("--foundation", action="store_true",
                        help="run the pipeline's parts without the pipeline (needs container/trainingjob.json)")
    args = parser.parse_args(argv)
    if args.foundation:
        return run_foundation(args.state_dir.resolve())
    return run_demo(args)


if __name__ == "__main__":
    sys.exit(main())
