"""`mlops-workshop traffic`: send rows of the test split to an endpoint, one InvokeEndpoint each, as the model's
clients would; with --drift, copies whose size measurements are scaled by a factor (the drift Model Monitor catches).

The rows are the ETL job's test split of the bundled abalone data (etl/preprocess.py's own encoding and seeded split,
as the pipeline makes it), features only, in the order the endpoint reads them; --rows beyond the split's size starts
it over. On the local cloud of the demo's state folder by default, in an account with --aws.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from .target import DEFAULT_STATE_DIR, account_session, no_running_cloud, running_cloud

DEFAULT_SEED = 42


@dataclass
class TrafficResult:
    endpoint: str
    sent: int
    seconds: float
    drift: float
    predictions: list[float] = field(default_factory=list)

    @property
    def mean_prediction(self) -> float:
        return sum(self.predictions) / len(self.predictions) if self.predictions else float("nan")


class TrafficError(RuntimeError):
    """A request the endpoint refused; the message names the row and the endpoint's answer."""


def test_rows(seed: int = DEFAULT_SEED) -> Any:
    """The ETL job's test split of the bundled data: the features (one-hot sex, then the sizes), as a DataFrame."""
    from . import data
    from .benchmarks.model import load_etl_job

    etl = load_etl_job()
    defaults = etl.OPTIONAL_ARGUMENTS
    _, _, test = etl.split(etl.encode(data.load_raw()), seed, float(defaults["VALIDATION_FRACTION"]),
                           float(defaults["TEST_FRACTION"]), "the bundled data set")
    return test[etl.FEATURES].reset_index(drop=True)


def drifted(rows: Any, factor: float) -> Any:
    """A copy of the rows with every size measurement (the numeric features, not the one-hot sex) times `factor`."""
    from .benchmarks.model import load_etl_job

    copy = rows.copy()
    columns = load_etl_job().SIZE_COLUMNS
    copy[columns] = copy[columns] * factor
    return copy


def csv_lines(rows: Any, count: int) -> list[str]:
    """`count` CSV lines of the rows, starting over at the end."""
    lines = rows.to_csv(header=False, index=False).strip().splitlines()
    return [lines[i % len(lines)] for i in range(count)]


def send(runtime: Any, endpoint: str, lines: list[str], progress: Callable[[int, int], None] | None = None,
         drift: float = 1.0) -> TrafficResult:
    """InvokeEndpoint once per line (text/csv); TrafficError at the first request the endpoint refuses."""
    import json

    started = time.perf_counter()
    result = TrafficResult(endpoint, 0, 0.0, drift)
    for number, line in enumerate(lines, start=1):
        try:
            answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="application/json",
                                             Body=line.encode())
        except ClientError as error:
            detail = error.response.get("Error", {})
            raise TrafficError(f"request {number} of {len(lines)} to endpoint {endpoint} failed: "
                               f"{detail.get('Code', 'Error')}: {detail.get('Message', error)}") from None
        result.predictions.extend(float(p) for p in json.loads(answer["Body"].read())["predictions"])
        result.sent = number
        if progress is not None:
            progress(number, len(lines))
    result.seconds = time.perf_counter() - started
    return result


def _progress(out: Any) -> Callable[[int, int], None]:
    marks: set[int] = set()

    def show(done: int, total: int) -> None:
        share = done * 10 // total
        if share not in marks or done == total:
            marks.add(share)
            print(f"  {done}/{total} requests", file=out, flush=True)
    return show


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-workshop traffic", description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="the endpoint, e.g. abalone-prd")
    parser.add_argument("--rows", type=int, default=100, help="how many requests, one row each (default 100)")
    parser.add_argument("--drift", type=float, default=None, metavar="FACTOR",
                        help="scale the size measurements by FACTOR (e.g. 1.5): drifted traffic")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="the demo's state folder")
    parser.add_argument("--aws", action="store_true", help="the endpoint in the AWS account of your credentials")
    parser.add_argument("--region", help="with --aws: the region (default: your configuration's, else us-east-1)")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error(f"--rows {args.rows}: send at least one row")
    if args.drift is not None and args.drift <= 0:
        parser.error(f"--drift {args.drift:g}: the factor must be positive (1.5 makes every size half again larger)")
    if args.aws:
        session = account_session(args.region)
    else:
        session = running_cloud(args.state_dir)
        if session is None:
            print(no_running_cloud(args.state_dir), file=sys.stderr)
            return 2
    rows = test_rows()
    if args.drift is not None:
        rows = drifted(rows, args.drift)
    kind = f"drifted copies (sizes x{args.drift:g})" if args.drift is not None else "rows"
    print(f"Sending {args.rows} {kind} of the test split ({len(rows)} rows) to {args.endpoint}")
    try:
        result = send(session.client("sagemaker-runtime"), args.endpoint, csv_lines(rows, args.rows),
                      _progress(sys.stdout), args.drift or 1.0)
    except TrafficError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Sent {result.sent} requests in {result.seconds:.1f} s ({result.sent / max(result.seconds, 1e-9):.0f}/s); "
          f"mean prediction {result.mean_prediction:.2f} rings")
    return 0
