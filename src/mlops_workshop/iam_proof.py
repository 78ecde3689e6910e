"""`mlops-workshop iam-proof`: the least-privilege roles proven by the main job itself.

Each case takes one statement out of one role of the templates the main job deploys (the pipeline stack's roles and
the system test's; template_roles.py finds them) and runs the main job with that copy on a fresh local cloud: the job
must stop at the stage that needs the statement, with an AccessDenied naming one of its actions as that stage's
failure reason. Statements whose template notes that a run does not use them (`# In an account only: <why>`,
`# Not in every run: <when>`) are listed with why, not run.

    mlops-workshop iam-proof                                   # every case, one after another (about a minute each)
    mlops-workshop iam-proof --list                            # the cases, and the statements noted why not
    mlops-workshop iam-proof --case pipeline:PipelineRole/pipeline/Builds
    mlops-workshop iam-proof --sample 3 --json bench-results/iam-proof.json

A case run for a noted statement is judged as any other. Verdicts: proven (stopped, the reason names the action);
denied in the log only (stopped, and the decision log has the refusal, but the stage's reason does not say it);
stopped otherwise (a failure without a refusal of the statement's actions); not stopped (the job succeeded without
the statement: it is not needed, or the local cloud does not make the call that needs it). Exit status 0 when every
case run was proven, 1 otherwise.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import template_roles
from .cli import BAD_INPUT, CommandError
from .template_roles import TemplateStatement

# The integration suite's settings: no source polling; an approval nobody answers fails instead of waiting an hour.
CLOUD_SETTINGS = {"images": "process",
                  "codepipeline": {"poll_seconds": 0, "timeouts": {"Manual": 180, "Lambda": 300, "CodeBuild": 600,
                                                                   "CloudFormation": 300, "StepFunctions": 300}}}
RUN_TIMEOUT = 900
REFUSED = re.compile(r"not authorized to perform: ([A-Za-z0-9-]+:[A-Za-z0-9]+)")
PROVEN = "proven"


@dataclass
class Outcome:
    case: str
    verdict: str
    stage: str = ""
    reason: str = ""
    execution_id: str = ""
    seconds: float = 0.0
    denied: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def cases(statements: list[TemplateStatement] | None = None) -> tuple[list[TemplateStatement],
                                                                        list[TemplateStatement]]:
    """(the statements a case takes out, the statements noted as not used by every run) of the roles' Allows."""
    found = [s for s in (statements or template_roles.template_statements()) if s.effect == "Allow"]
    return [s for s in found if not s.note_kind], [s for s in found if s.note_kind]


def names_an_action(reason: str, statement: TemplateStatement) -> list[str]:
    """The refused actions a failure reason names that the statement grants."""
    return [a for a in REFUSED.findall(reason) if _granted(a, statement)]


def _granted(action: str, statement: TemplateStatement) -> bool:
    return any(fnmatch.fnmatch(action.lower(), pattern.lower()) for pattern in statement.actions)


def _sources(statement: TemplateStatement, text: str, work: Path, names: Any) -> tuple[Path, dict[str, Path]]:
    """The pipeline template and the code folders a case's main job runs with, one of them changed."""
    from .pipeline import sources, stack
    changed = template_roles.without(text, statement)
    if statement.template == "pipeline":
        template = work / "mlops-pipeline.json"
        template.write_text(changed)
        return template, {}
    path = template_roles.TEMPLATES[statement.template]
    branch, folder = next((b, f) for b, f in sources.source_folders(names).items() if f in path.parents)
    copy = work / f"{branch}-source"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
    (copy / path.relative_to(folder)).write_text(changed)
    return stack.TEMPLATE, {branch: copy}


def run_case(statement: TemplateStatement, work: Path, progress: Callable[[str], None] = lambda line: None,
             stop: bool = True) -> Outcome:
    """The main job on a fresh local cloud in `work` with the statement taken out (`stop`: stop the cloud after)."""
    from . import demo, target
    from .localcloud import lifecycle
    from .localcloud.iam.decisions import FLUSH_SECONDS, DecisionLog
    from .modelserver import free_port
    from .pipeline import PipelineError

    began = time.monotonic()
    outcome = Outcome(statement.id, "not stopped")
    folder = target.cloud_dir(work)
    state = lifecycle.start(folder, port=free_port(), settings=CLOUD_SETTINGS)
    try:
        session = target.CloudSession(state["endpoint"])
        names = target.names_for_session(session)
        text = template_roles.TEMPLATES[statement.template].read_text(encoding="utf-8")
        template, changed = _sources(statement, text, work, names)

        def line(text: str) -> None:
            outcome.lines.append(text)
            progress(text)
        try:
            result = demo.run_pipeline(session, work / "demo", names, sources=changed or None, template=template,
                                       timeout=RUN_TIMEOUT, progress=line)
        except PipelineError as error:
            outcome.stage, outcome.reason = "before the execution", str(error)
        else:
            outcome.execution_id = result.run.execution_id
            failed = result.run.failed_stage
            if not result.run.succeeded:
                outcome.stage = failed.name if failed else result.run.status
                outcome.reason = failed.message if failed else result.run.summary
    finally:
        if stop:
            lifecycle.stop(folder)
    log = DecisionLog(folder / "iam" / "decisions")
    # A running cloud writes its decisions every second, later under load: wait for the refusal a while.
    deadline = time.monotonic() + (0 if stop or not outcome.stage else FLUSH_SECONDS * 10)
    while True:
        outcome.denied = sorted({d["action"] for d in log.read()
                                 if not d.get("allowed") and d.get("action") and _granted(d["action"], statement)})
        if outcome.denied or time.monotonic() >= deadline:
            break
        time.sleep(FLUSH_SECONDS / 2)
    if outcome.stage:
        outcome.verdict = (PROVEN if names_an_action(outcome.reason, statement) else
                           "denied in the log only" if outcome.denied else "stopped otherwise")
    outcome.seconds = round(time.monotonic() - began, 1)
    return outcome


def summary(outcomes: list[Outcome], noted: list[TemplateStatement]) -> str:
    width = max([len(o.case) for o in outcomes] + [len(s.id) for s in noted] + [10])
    lines = [f"{'case':<{width}}  {'verdict':<22}  {'stage':<20}  {'time':>6}"]
    for o in outcomes:
        lines.append(f"{o.case:<{width}}  {o.verdict:<22}  {o.stage:<20}  {o.seconds:5.0f}s")
    for s in noted:
        lines.append(f"{s.id:<{width}}  {s.note_kind:<22}  {s.note}")
    proven = sum(o.verdict == PROVEN for o in outcomes)
    account = sum(s.note_kind == "in an account only" for s in noted)
    lines.append(f"{proven} of {len(outcomes)} case(s) proven; not run: {account} statement(s) needed in an account "
                 f"only, {len(noted) - account} not in every run")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-workshop iam-proof", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", action="append", default=[], help="run this case (repeatable; see --list)")
    parser.add_argument("--sample", type=int, help="run this many cases chosen at random (with --seed)")
    parser.add_argument("--seed", type=int, default=0, help="the sample's seed (default 0)")
    parser.add_argument("--list", action="store_true", help="list the cases and the account-only statements")
    parser.add_argument("--work-dir", type=Path, help="keep each case's state folder here (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write the outcomes to this file")
    args = parser.parse_args(argv)
    runnable, noted = cases()
    if args.list:
        for statement in runnable:
            print(f"{statement.id}  ({', '.join(statement.actions)})")
        for statement in noted:
            print(f"{statement.id}  {statement.note_kind}: {statement.note}")
        return 0
    chosen = runnable
    if args.case:
        known = {s.id: s for s in runnable + noted}
        unknown = [c for c in args.case if c not in known]
        if unknown:
            raise CommandError(f"no case {unknown[0]}: `mlops-workshop iam-proof --list` shows them", BAD_INPUT)
        chosen = [known[c] for c in args.case]
    elif args.sample:
        chosen = random.Random(args.seed).sample(runnable, min(args.sample, len(runnable)))
    base = args.work_dir or Path(tempfile.mkdtemp(prefix="iam-proof-"))
    outcomes = []
    for number, statement in enumerate(chosen, 1):
        print(f"[{number}/{len(chosen)}] {statement.id} ({', '.join(statement.actions)})", flush=True)
        work = base / re.sub(r"[^A-Za-z0-9_.-]+", "-", statement.id)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        outcome = run_case(statement, work)
        outcomes.append(outcome)
        print(f"    {outcome.verdict}" + (f" at {outcome.stage}" if outcome.stage else "")
              + f" after {outcome.seconds:.0f} s" + (f": {outcome.reason[:400]}" if outcome.reason else ""),
              flush=True)
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(summary(outcomes, [] if args.case else noted))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"outcomes": [{k: v for k, v in asdict(o).items() if k != "lines"}
                                                      for o in outcomes],
                                         "not_run": [{"case": s.id, "note": s.note_kind, "why": s.note}
                                                     for s in noted]}, indent=2) + "\n")
    if not args.work_dir:
        shutil.rmtree(base, ignore_errors=True)
    return 0 if all(o.verdict == PROVEN for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
