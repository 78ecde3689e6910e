"""`mlops-workshop approve`: answer an approval that waits (the demo's --manual-approvals), on the local cloud or,
with --aws, in an account."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from .pipeline import PipelineError, execution
from .target import DEFAULT_STATE_DIR, account_session, names_for_session, no_running_cloud, running_cloud


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-workshop approve", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="the demo's state folder")
    parser.add_argument("--stage", choices=sorted(execution.APPROVALS),
                        help="the approval to answer (default: the one that waits)")
    parser.add_argument("--reject", action="store_true", help="reject instead of approving")
    parser.add_argument("--reason", default="", help="the summary recorded with the answer")
    parser.add_argument("--aws", action="store_true", help="the pipeline in the AWS account of your credentials")
    parser.add_argument("--region", help="with --aws: the region (default: your configuration's, else us-east-1)")
    args = parser.parse_args(argv)
    if args.aws:
        session = account_session(args.region)
        try:
            names = names_for_session(session)
        except (ClientError, BotoCoreError) as error:
            print(f"error: cannot reach the account: {error}; check your credentials (aws sts get-caller-identity)",
                  file=sys.stderr)
            return 2
    else:
        session = running_cloud(args.state_dir)
        if session is None:
            print(no_running_cloud(args.state_dir), file=sys.stderr)
            return 2
        names = names_for_session(session)
    cp = session.client("codepipeline")
    try:
        waiting = execution.waiting_approvals(cp, names.pipeline_stack_name)
    except Exception as error:  # noqa: BLE001 - no pipeline yet
        print(f"error: cannot read pipeline {names.pipeline_stack_name}: {error}", file=sys.stderr)
        return 2
    stage = args.stage or (waiting[0][0] if len(waiting) == 1 else None)
    if stage is None:
        found = ", ".join(w[0] for w in waiting) or "none"
        print(f"error: name the approval with --stage (waiting now: {found})", file=sys.stderr)
        return 2
    try:
        done = execution.answer_approval(session, names, stage, not args.reject, args.reason)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{'Rejected' if args.reject else 'Approved'} {stage}: {done}")
    return 0
