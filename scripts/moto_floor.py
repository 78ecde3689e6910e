"""moto's own tests as the local cloud's floor: `make moto-floor`, or

    python scripts/moto_floor.py [--service NAME ...] [--jobs N] [--cache DIR]

moto's test suite for the services the local cloud touches (from moto's source package on PyPI, for the pinned
version; fetched once into the cache, ~/.cache/mlops-workshop by default) runs in moto's server mode
(TEST_SERVER_MODE=true, every boto3 client on TEST_SERVER_MODE_ENDPOINT, `/moto-api/reset` before and after each test)
twice: against a plain moto server and against the local cloud, each on a free port with the state folder under
.state/moto-floor. A test that passes on plain moto must pass on the local cloud, unless
tests/localcloud/moto_floor/exceptions.yml lists it with the reason (the local cloud is closer to AWS there). The
table says, per service, how many passed on each, the regressions, how many of them are known exceptions, and the
unexplained ones, which are listed after it and make the exit status 1.

The local cloud runs with its default settings: IAM is enforced, and the keys moto's tests sign with ("FOOBARKEY",
"testing") are the administrator (iam.unknown_keys = "administrator"). Tests marked requires_docker are skipped on
both (plain moto needs Docker for them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXCEPTIONS = ROOT / "tests" / "localcloud" / "moto_floor" / "exceptions.yml"
OUTPUT = ROOT / ".state" / "moto-floor"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlops-workshop"
MOTO_VERSION = version("moto")
TEST_TIMEOUT = 120  # seconds a test may take on either server before it counts as failed
# moto's test folders per service of the local cloud (S3's whole suite is large: its core files).
SERVICES: dict[str, list[str]] = {
    "cloudformation": ["test_cloudformation"],
    "sagemaker": ["test_sagemaker"],
    "stepfunctions": ["test_stepfunctions"],
    "codebuild": ["test_codebuild"],
    "codecommit": ["test_codecommit"],
    "codepipeline": ["test_codepipeline"],
    "lambda": ["test_awslambda"],
    "glue": ["test_glue"],
    "events": ["test_events"],
    "s3": [f"test_s3/test_s3{suffix}.py" for suffix in ("", "_multipart", "_copyobject", "_tagging", "_lifecycle",
                                                        "_list_object_versions", "_ownership", "_presigned_url",
                                                        "_bucket_policy", "_encryption")],
    "iam": ["test_iam"],
    "sts": ["test_sts"],
    "ecr": ["test_ecr"],
    "logs": ["test_logs"],
    "cloudwatch": ["test_cloudwatch"],
    "applicationautoscaling": ["test_applicationautoscaling"],
    "secretsmanager": ["test_secretsmanager"],
    "ssm": ["test_ssm"],
}
TARGETS = ("moto", "localcloud")
RUNNING: set[subprocess.Popen[bytes]] = set()  # the pytest runs under way, ended by main() if it is interrupted


def fetch_tests(cache: Path = CACHE, say=print) -> Path:
    """moto's source tree (its tests/ and pytest settings) for the installed moto, downloaded once into `cache`."""
    tree = cache / f"moto-{MOTO_VERSION}"
    if (tree / "tests" / "conftest.py").is_file():
        return tree
    cache.mkdir(parents=True, exist_ok=True)
    sdist = cache / f"moto-{MOTO_VERSION}.tar.gz"
    if not sdist.is_file():
        say(f"downloading moto {MOTO_VERSION}'s source package (its tests) from PyPI into {cache} ...")
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        "--dest", str(cache), f"moto=={MOTO_VERSION}"], check=True)
    say(f"extracting moto's tests into {tree}")
    partial = cache / f".moto-{MOTO_VERSION}-{os.getpid()}"
    with tarfile.open(sdist) as archive:
        prefix = f"moto-{MOTO_VERSION}/"
        wanted = [m for m in archive.getmembers()
                  if m.name.startswith(prefix + "tests/") or m.name == prefix + "pyproject.toml"]
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python 3.10's later releases on
        archive.extractall(partial, members=wanted, **safe)
    if not tree.exists():
        (partial / f"moto-{MOTO_VERSION}").rename(tree)
    shutil.rmtree(partial, ignore_errors=True)
    return tree


def load_exceptions(path: Path = EXCEPTIONS) -> dict[str, str]:
    """{test node id: why the local cloud differs from plain moto there}, each reason spelt out."""
    data = yaml.safe_load(path.read_text()) or {}
    reasons = data.get("reasons") or {}
    found = {}
    for node, reason in (data.get("tests") or {}).items():
        found[node] = reasons.get(reason, reason)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A plain moto server or a local cloud on a free port, as a child process of this script."""

    running: set["Server"] = set()  # stopped by main() whatever happens

    def __init__(self, target: str, work: Path):
        self.target, self.work = target, work
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = work / f"{target}-{self.port}.log"
        if target == "moto":
            args = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        else:
            state = work / f"localcloud-{self.port}"
            args = [sys.executable, "-m", "mlops_workshop.localcloud", "serve", "--state-dir", str(state),
                    "--port", str(self.port)]
        self._out = self.log.open("w")
        self.proc = subprocess.Popen(args, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True,
                                     env=_env(os.environ))
        Server.running.add(self)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        path = "/_localcloud/health" if self.target == "localcloud" else "/moto-api/data.json"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the {self.target} server exited with {self.proc.returncode}: see {self.log}")
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(self.url + path, timeout=5) as answer:
                    body = json.loads(answer.read() or b"{}")
                    if self.target == "moto" or (body.get("status") == "running" and not body.get("installing")):
                        return
            time.sleep(0.3)
        raise RuntimeError(f"the {self.target} server did not answer within {timeout:.0f} s: see {self.log}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        Server.running.discard(self)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._out.close()


def _env(base: dict[str, str]) -> dict[str, str]:
    """The environment without anything that would point a client at another cloud or account."""
    return {k: v for k, v in base.items() if not k.startswith(("AWS_", "TEST_SERVER_MODE", "MOTO_"))}


@dataclass
class Run:
    """One service's tests on one target: {node id: (outcome, message)}."""

    service: str
    target: str
    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""

    def passed(self) -> set[str]:
        return {node for node, (outcome, _) in self.outcomes.items() if outcome == "passed"}

    def part(self, service: str) -> "Run":
        """The outcomes of `service`'s tests in a run of several services."""
        prefixes = tuple(f"tests/{path}" for path in SERVICES[service])
        return Run(service, self.target, {n: o for n, o in self.outcomes.items() if n.startswith(prefixes)},
                   self.seconds, self.error)


def run_tests(tree: Path, services: tuple[str, ...], server: Server, work: Path,
              timeout: int = TEST_TIMEOUT) -> dict[str, Run]:
    """One pytest run of moto's tests of `services` against `server`; each service's outcomes, read from its JUnit
    XML."""
    label = "+".join(services)
    run = Run(label, server.target)
    report = work / f"{label}-{server.target}.xml"
    env = _env(os.environ) | {"TEST_SERVER_MODE": "true", "TEST_SERVER_MODE_ENDPOINT": server.url,
                              "TESTS_SKIP_REQUIRES_DOCKER": "true", "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-c", str(tree / "pyproject.toml"),
            "--rootdir", str(tree), "-o", "addopts=", "--timeout", str(timeout), f"--junitxml={report}",
            *(f"tests/{path}" for service in services for path in SERVICES[service])]
    started = time.monotonic()
    with (work / f"{label}-{server.target}.log").open("w") as out:
        pytest = subprocess.Popen(args, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT)
        RUNNING.add(pytest)
        pytest.wait()
        RUNNING.discard(pytest)
    run.seconds = time.monotonic() - started
    if report.is_file():
        _read_report(tree, report, run)
    else:
        run.error = f"pytest wrote no report: see {work / f'{label}-{server.target}.log'}"
    return {service: run.part(service) for service in services}


def _read_report(tree: Path, report: Path, run: Run) -> None:
    """pytest's JUnit XML into run.outcomes by node id."""
    for case in ElementTree.parse(report).iter("testcase"):
        module = case.get("classname", "").split(".")
        # junit's classname is the module path, plus the class for methods of a test class.
        node_path = [part for part in module if part]
        file_parts, classes = [], []
        for index in range(len(node_path), 0, -1):
            candidate = tree.joinpath(*node_path[:index]).with_suffix(".py")
            if candidate.is_file():
                file_parts, classes = node_path[:index], node_path[index:]
                break
        node = "::".join(["/".join(file_parts) + ".py", *classes, case.get("name", "")])
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                text = (child.get("message") or child.text or "").strip()
                outcome, message = "failed", text.splitlines()[0][:300] if text else ""
            elif child.tag == "skipped":
                outcome, message = "skipped", (child.get("message") or "")[:300]
        if outcome == "failed" or node not in run.outcomes:
            run.outcomes[node] = (outcome, message)


@dataclass
class Comparison:
    service: str
    moto: Run
    local: Run
    exceptions: dict[str, str]

    @property
    def regressions(self) -> list[str]:
        return sorted(self.moto.passed() - self.local.passed())

    @property
    def known(self) -> list[str]:
        return [node for node in self.regressions if node in self.exceptions]

    @property
    def unexplained(self) -> list[str]:
        return [node for node in self.regressions if node not in self.exceptions]

    @property
    def stale(self) -> list[str]:
        """Exceptions of this service that are no longer regressions (the local cloud passes, or moto fails)."""
        prefixes = tuple(f"tests/{path}" for path in SERVICES[self.service])
        regressions = set(self.regressions)
        ran = set(self.moto.outcomes) | set(self.local.outcomes)
        return sorted(n for n in self.exceptions if n.startswith(prefixes) and n in ran and n not in regressions)


def compare(tree: Path, services: list[str], jobs: int, work: Path, exceptions: dict[str, str],
            say=print, timeout: int = TEST_TIMEOUT, together: bool = False) -> list[Comparison]:
    """Run every service's tests on both targets, `jobs` pytest runs at a time (each on servers of its own); one
    pytest run per service, or one for all of them when `together` (less start-up for a few small suites)."""
    work.mkdir(parents=True, exist_ok=True)
    groups = [tuple(services)] if together else [(service,) for service in services]
    tasks: queue.Queue[tuple[tuple[str, ...], str]] = queue.Queue()
    for group in groups:
        for target in TARGETS:
            tasks.put((group, target))
    runs: dict[tuple[str, str], Run] = {}
    lock = threading.Lock()
    total = len(groups) * len(TARGETS)
    done: list[int] = []

    def worker() -> None:
        servers: dict[str, Server] = {}
        try:
            while True:
                try:
                    group, target = tasks.get_nowait()
                except queue.Empty:
                    return
                label = "+".join(group)
                say(f"{label} on {target}: running {' '.join(p for s in group for p in SERVICES[s])}")
                try:
                    if target not in servers or not servers[target].alive():
                        servers[target] = Server(target, work)
                    found = run_tests(tree, group, servers[target], work, timeout)
                except Exception as error:  # a server that cannot start fails its runs, and the comparison goes on
                    found = {service: Run(service, target, error=str(error)) for service in group}
                with lock:
                    done.append(1)
                    for service, run in found.items():
                        runs[(service, target)] = run
                        counts = f"{len(run.passed())} of {len(run.outcomes)} passed" if not run.error else run.error
                        say(f"[{len(done)}/{total}] {service} on {target}: {counts} ({run.seconds:.0f} s)")
        finally:
            for server in servers.values():
                server.stop()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, min(jobs, total)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():  # a join with a timeout, so that Ctrl-C reaches the main thread
            thread.join(1)
    return [Comparison(s, runs[(s, "moto")], runs[(s, "localcloud")], exceptions) for s in services]


def table(comparisons: list[Comparison]) -> str:
    rows = [("service", "tests", "moto passed", "local cloud passed", "regressions", "known exceptions",
             "unexplained")]
    for c in comparisons:
        rows.append((c.service, str(len(c.moto.outcomes)), str(len(c.moto.passed())), str(len(c.local.passed())),
                     str(len(c.regressions)), str(len(c.known)), str(len(c.unexplained))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(row, widths))) for row in rows)


def report(comparisons: list[Comparison], work: Path) -> tuple[int, str]:
    """The exit status and what to print: the table, then every unexplained regression with its failure."""
    lines = [table(comparisons)]
    failed = False
    for c in comparisons:
        for run in (c.moto, c.local):
            if run.error:
                failed = True
                lines.append(f"{c.service} on {run.target}: {run.error}")
        for node in c.unexplained:
            failed = True
            lines.append(f"UNEXPLAINED {node}: {c.local.outcomes.get(node, ('missing', 'not run'))[1]}")
        for node in c.stale:
            lines.append(f"stale exception (the test no longer regresses; remove it from {EXCEPTIONS.name}): {node}")
    lines.append(f"logs and JUnit reports in {work}")
    summary = {c.service: {"moto": sorted(c.moto.passed()), "localcloud": sorted(c.local.passed()),
                           "unexplained": c.unexplained} for c in comparisons}
    (work / "summary.json").write_text(json.dumps(summary, indent=1))
    return (1 if failed else 0), "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--service", action="append", choices=sorted(SERVICES),
                        help="a service to compare (repeatable; default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="pytest runs at a time, each with servers of its own")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where moto's tests are kept")
    parser.add_argument("--timeout", type=int, default=TEST_TIMEOUT, help="seconds one test may take")
    args = parser.parse_args(argv)
    services = args.service or list(SERVICES)
    try:
        tree = fetch_tests(args.cache, say=lambda text: print(text, flush=True))
    except (subprocess.CalledProcessError, OSError, tarfile.TarError) as error:
        print(f"error: moto's tests could not be fetched ({error}): check the network, or pass --cache",
              file=sys.stderr)
        return 1
    work = OUTPUT / time.strftime("%Y%m%d-%H%M%S")
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        comparisons = compare(tree, services, args.jobs, work, load_exceptions(),
                              say=lambda text: print(text, flush=True), timeout=args.timeout)
    except KeyboardInterrupt:
        print("interrupted: the servers are stopped", file=sys.stderr)
        return 130
    finally:
        for pytest in list(RUNNING):
            pytest.terminate()
        for server in list(Server.running):
            server.stop()
    status, text = report(comparisons, work)
    print(text)
    return status


if __name__ == "__main__":
    sys.exit(main())
