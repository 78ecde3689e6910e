"""Lambda's executor: an invocation runs the function's deployed code package in a child process, as Lambda's
Python runtime would.

It unpacks the code package (cached by its SHA-256 under the state folder) and its layers (as Lambda lays them out
under /opt), and hands the event to an execution environment: a child process running `runtime.py` with the
function's handler, on the runtime's Python where the machine has it (python3.12 on PATH for python3.12; otherwise
the local cloud's own Python, and the function's log says which runs), isolated from the local cloud's environment:
it imports its package, its layers, the standard library and the runtime's boto3 and botocore, which the local cloud
installs once into a folder of its own (`pythons.package_folder`). AWS no longer publishes the SDK version each
runtime ships ("it depends on the runtime version and your AWS Region"), so the project's boto3 pin stands in for
it (setting `lambda_runtime_sdk`, a list of pip requirements, replaces it); on a Python the pin does not support,
the newest boto3 of the release line before it.

The environment's variables are Lambda's (AWS_LAMBDA_FUNCTION_NAME, _HANDLER, LAMBDA_TASK_ROOT, ...), the
function's own, and its execution role's temporary credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN), so that its calls are judged against its role; nothing else of the local cloud's process.

As in Lambda, an environment is reused while warm (module state and clients survive; setting `lambda_keep_warm_s`,
default 300, 0 for a fresh process each time) and while its credentials outlast the function's timeout (setting
`lambda_role_session_s`, default 3600: an environment whose credentials run out is replaced by one with new ones);
a timeout, running out of memory or a crash discards it.

Limits: Timeout counts from the handler's start; the init phase (imports) gets max(10 s, Timeout), like
Lambda's 10 s init limit but lenient on a loaded machine. Memory: the environment is stopped when its
resident memory passes MemorySize, with Lambda's Runtime.OutOfMemory error. A Python process with boto3
loaded uses about 50 MB, so the 128 MB default leaves room, as it does in Lambda.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import pythons
from ..protocol import AwsError
from .exceptions import LambdaSetupError
from .models import Environment, Invocation

if TYPE_CHECKING:
    from .service import LambdaService

log = logging.getLogger("mlops_workshop.localcloud.lambda")

RUNTIME = Path(__file__).with_name("runtime.py")
INIT_LIMIT_S = 10.0
POLL_S = 0.02
# An environment is reused only while its credentials outlast one more invocation by this much.
RENEW_MARGIN_S = 5.0
PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class LambdaRuntime:
    """A Python runtime as the local cloud provides it: the interpreter and the folder of its boto3 and botocore."""

    name: str
    python: pythons.Interpreter
    sdk_dir: Path
    sdk: dict[str, str]
    sdk_source: str = "the project's boto3 pin, standing in for the runtime's"

    def init_line(self) -> str:
        """Lambda's INIT_START line, saying which Python and which SDK run here."""
        versions = ", ".join(f"{name} {self.sdk[name]}" for name in ("boto3", "botocore") if name in self.sdk)
        return (f"INIT_START Runtime Version: {self.name.replace('python', 'python:')}.localcloud\t"
                f"Runtime: {self.python.describe()}; {versions} ({self.sdk_source}, in {self.sdk_dir})\n")


def runtime(name: str | None, sdk_specs: list[str] | None = None) -> LambdaRuntime:
    """The runtime `name` ("python3.12"): its interpreter, and its SDK installed once into the cache."""
    match = re.fullmatch(r"python(\d+\.\d+)", name or "")
    if not match:
        raise LambdaSetupError(f"the local cloud runs Python runtimes only, not {name!r}")
    python = pythons.interpreter(match.group(1))
    step = pythons.Step.of(sdk_specs) if sdk_specs else pythons.sdk_step()
    folder = pythons.cache_dir() / "lambda" / f"{name}-{python.tag}-{pythons.folder_key(step)}"
    try:
        manifest = pythons.package_folder(folder, python, [step], f"the {name} runtime's boto3 and botocore")
    except pythons.InstallError as exc:
        raise LambdaSetupError(str(exc)) from exc
    found = LambdaRuntime(name or "", python, Path(manifest["site"]), manifest["installed"],
                          *(["setting lambda_runtime_sdk"] if sdk_specs else []))
    log.info("Lambda runtime %s: %s", name, found.init_line().strip())
    return found


class LambdaExecutor:
    """Runs invocations of moto's LambdaFunction objects in execution environments (child processes)."""

    def __init__(self, service: "LambdaService"):
        self.cloud = cloud = service.cloud
        self.code_root = cloud.state_dir / "lambda" / "code"
        self.layers_root = cloud.state_dir / "lambda" / "opt"
        self.tmp_root = cloud.state_dir / "lambda" / "tmp"
        self.runs_root = cloud.state_dir / "lambda" / "invocations"
        for folder in (self.code_root, self.layers_root, self.tmp_root, self.runs_root):
            folder.mkdir(parents=True, exist_ok=True)
        self.keep_warm_s = float(cloud.settings.get("lambda_keep_warm_s", 300))
        self.session_s = int(cloud.settings.get("lambda_role_session_s", 3600))
        self.sdk_specs = list(cloud.settings.get("lambda_runtime_sdk") or [])
        self._runtimes: dict[str, LambdaRuntime] = {}
        self._idle: dict[str, list[Environment]] = {}
        self._lock = threading.Lock()
        self._runtime_lock = threading.Lock()
        self._stopping = threading.Event()

    def start(self) -> None:
        if self.keep_warm_s > 0:
            self.cloud.spawn("lambda-reaper", self._reap)

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            idle = [env for envs in self._idle.values() for env in envs]
            self._idle.clear()
        for env in idle:
            self._discard(env)

    def runtime(self, name: str | None) -> LambdaRuntime:
        """The runtime `name` ("python3.12"), set up on its first use."""
        key = name or ""
        with self._runtime_lock:
            if key not in self._runtimes:
                self._runtimes[key] = runtime(name, self.sdk_specs)
            return self._runtimes[key]

    def code_dir(self, fn: Any) -> Path:
        """The function's code package unpacked once into a folder named by the package's SHA-256."""
        if getattr(fn, "package_type", "Zip") == "Image" or "ImageUri" in fn.code:
            raise LambdaSetupError(f"function {fn.function_name} is a container image; the local cloud runs "
                                   "only .zip code packages")
        code = fn.code_bytes or self._code_from_s3(fn)
        if not code:
            raise LambdaSetupError(f"function {fn.function_name} has no code package")
        return _unpacked(self.code_root, hashlib.sha256(code).hexdigest(), [code],
                         f"the code package of {fn.function_name}")

    def opt_dir(self, fn: Any) -> Path:
        """/opt as Lambda makes it: the function's layers extracted in their order (a later one wins)."""
        backend = self.cloud.backend("lambda", fn.region)
        contents = []
        for layer in getattr(fn, "layers", None) or []:
            version = backend.layers_versions_by_arn(layer["Arn"])
            if version is None or not version.code_bytes:
                raise LambdaSetupError(f"the layer {layer['Arn']} of {fn.function_name} has no content")
            contents.append(version.code_bytes)
        key = hashlib.sha256(b"".join(hashlib.sha256(c).digest() for c in contents)).hexdigest()
        return _unpacked(self.layers_root, key, contents, f"the layers of {fn.function_name}")

    def _code_from_s3(self, fn: Any) -> bytes:
        bucket, key = fn.code.get("S3Bucket"), fn.code.get("S3Key")
        if not bucket or not key:
            return b""
        s3 = self.cloud.backend("s3", "aws")
        try:
            return s3.get_object(bucket, key).value
        except Exception as exc:
            raise LambdaSetupError(f"cannot read the code package of {fn.function_name} from "
                                   f"s3://{bucket}/{key}: {exc}") from exc

    def credentials(self, fn: Any) -> dict[str, str] | None:
        """Temporary credentials of the function's execution role, as Lambda assumes it (the session is named by
        the function); AWS's AccessDeniedException when the role no longer lets Lambda assume it (with IAM off, a
        role that does not exist leaves the function the administrator's credentials)."""
        from ..iam.exceptions import AssumeRoleRefused
        iam = self.cloud.service("iam")
        try:
            return iam.credentials_for(fn.role, "lambda.amazonaws.com", session_name=fn.function_name,
                                       duration_seconds=self.session_s)
        except AssumeRoleRefused:
            if not iam.enforcing:
                return None
            raise AwsError("The role defined for the function cannot be assumed by Lambda.", "AccessDeniedException",
                           403) from None

    def environment(self, fn: Any, code_dir: Path, opt_dir: Path, runtime: LambdaRuntime,
                    credentials: dict[str, str] | None, tmp: Path) -> dict[str, str]:
        """The variables of an execution environment: the function's own, then Lambda's, its role's credentials and
        the cloud's endpoint; nothing of the local cloud's own environment."""
        now = datetime.datetime.now(timezone.utc)
        base = {"PATH": f"{PATH}:{opt_dir / 'bin'}", "LANG": "en_US.UTF-8", "TZ": ":UTC", "TMPDIR": str(tmp),
                "LD_LIBRARY_PATH": f"{code_dir}:{code_dir / 'lib'}:{opt_dir / 'lib'}"}
        base.update({str(k): str(v) for k, v in (fn.environment_vars or {}).items()})
        # Lambda's reserved variables, the role's credentials and the cloud's endpoint win over the function's own.
        return self.cloud.child_env(region=fn.region, credentials=credentials, base=base, extra={
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": str(fn.version),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": fn.logs_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{now:%Y/%m/%d}/[{fn.version}]{uuid.uuid4().hex}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
            "LAMBDA_TASK_ROOT": str(code_dir),
            "LAMBDA_RUNTIME_DIR": str(runtime.sdk_dir),
            "_HANDLER": fn.handler or "",
        })

    @staticmethod
    def _key(fn: Any, code_dir: Path, opt_dir: Path) -> str:
        """Environments are shared only by invocations of the same code and configuration."""
        return json.dumps([fn.function_arn, str(fn.version), code_dir.name, opt_dir.name, fn.handler, fn.run_time,
                           fn.role, fn.timeout, fn.memory_size, sorted((fn.environment_vars or {}).items())],
                          default=str)

    def _acquire(self, fn: Any, code_dir: Path, opt_dir: Path, output: Path) -> Environment:
        key = self._key(fn, code_dir, opt_dir)
        lasts = float(fn.timeout or 3) + RENEW_MARGIN_S
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                env = idle.pop()
                if env.proc.poll() is None and env.expires - time.time() > lasts:
                    return env
                self._discard(env)
        runtime = self.runtime(fn.run_time)
        credentials = self.credentials(fn)
        expires = _expiry(credentials, self.session_s)
        tmp = Path(self.tmp_root / uuid.uuid4().hex)
        tmp.mkdir()
        read_end, write_end = os.pipe()
        try:
            with open(output, "ab") as out:
                out.write(runtime.init_line().encode())
                out.flush()
                proc = self.cloud.popen(f"lambda {fn.function_name}",
                                        [runtime.python.path, "-I", "-S", "-u", str(RUNTIME), str(code_dir),
                                         fn.handler or "", str(write_end), str(opt_dir)],
                                        cwd=code_dir, env=self.environment(fn, code_dir, opt_dir, runtime,
                                                                           credentials, tmp),
                                        stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                                        pass_fds=(write_end,))
        except BaseException:
            os.close(read_end)
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            os.close(write_end)
        return Environment(key, proc, read_end, expires=expires, tmp=tmp)

    def _release(self, env: Environment) -> None:
        if self.keep_warm_s <= 0 or self._stopping.is_set():
            self._discard(env)
            return
        env.last_used = time.monotonic()
        with self._lock:
            self._idle.setdefault(env.key, []).append(env)

    def _discard(self, env: Environment) -> None:
        if env.proc.poll() is None:
            try:
                os.killpg(env.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                env.proc.kill()
        env.proc.wait()
        self.cloud.forget(env.proc)
        for stream in (env.proc.stdin,):
            try:
                stream and stream.close()
            except OSError:
                pass
        try:
            os.close(env.control)
        except OSError:
            pass
        if env.tmp is not None:
            shutil.rmtree(env.tmp, ignore_errors=True)

    def _reap(self) -> None:
        while not self._stopping.wait(1.0):
            now, wall = time.monotonic(), time.time()
            with self._lock:
                old = [env for envs in self._idle.values() for env in envs
                       if now - env.last_used > self.keep_warm_s or env.expires <= wall]
                for env in old:
                    self._idle[env.key].remove(env)
            for env in old:
                self._discard(env)

    def invoke(self, fn: Any, event: bytes, invoked_arn: str | None = None,
               client_context: str | None = None) -> Invocation:
        """Run the handler once with this event (JSON bytes) and wait for its result, error, or timeout."""
        request_id = str(uuid.uuid4())
        started = time.time()
        timeout = float(fn.timeout or 3)
        memory = int(fn.memory_size or 128)
        run_dir = self.runs_root / request_id
        run_dir.mkdir(parents=True)
        try:
            event_file, result_file, output = run_dir / "event.json", run_dir / "result.json", run_dir / "output.log"
            event_file.write_bytes(event or b"{}")
            try:
                env = self._acquire(fn, self.code_dir(fn), self.opt_dir(fn), output)
            except LambdaSetupError as exc:
                error = _error_payload("Runtime.InvalidEntrypoint", str(exc), request_id)
                return self._finish(fn, request_id, started, error, True, f"[ERROR] {exc}\n", 0)
            request = {"request_id": request_id, "event_file": str(event_file), "result_file": str(result_file),
                       "output_file": str(output), "timeout_s": timeout,
                       "invoked_arn": invoked_arn or fn.function_arn, "client_context": client_context}
            try:
                assert env.proc.stdin is not None
                env.proc.stdin.write((json.dumps(request) + "\n").encode())
                env.proc.stdin.flush()
                ended, peak_mb = self._wait(env, timeout, memory)
            except BrokenPipeError:
                ended, peak_mb = "exited", 0
            text = output.read_text(errors="replace") if output.exists() else ""
            if ended in ("done", "done-exit") and result_file.exists():
                (self._release if ended == "done" else self._discard)(env)
                outcome = json.loads(result_file.read_text())
                if "error" in outcome:
                    return self._finish(fn, request_id, started, outcome["error"], True, text, peak_mb)
                return self._finish(fn, request_id, started, outcome["payload"], False, text, peak_mb)
            self._discard(env)
            if ended == "timeout":
                message = f"Task timed out after {timeout:.2f} seconds"
                text += f"{_iso(time.time())} {request_id} {message}\n"
                error = _error_payload("Sandbox.Timedout", f"RequestId: {request_id} Error: {message}", request_id)
            elif ended == "init-timeout":
                message = f"Init phase did not finish within {max(INIT_LIMIT_S, timeout):.0f} seconds"
                text += f"{_iso(time.time())} {request_id} {message}\n"
                error = _error_payload("Sandbox.Timedout", f"RequestId: {request_id} Error: {message}", request_id)
            elif ended == "memory":
                error = _error_payload("Runtime.OutOfMemory", f"RequestId: {request_id} Error: Runtime exited "
                                       f"with error: signal: killed (memory used passed MemorySize {memory} MB)",
                                       request_id)
            else:
                code = env.proc.returncode
                reason = f"signal: {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
                error = _error_payload("Runtime.ExitError",
                                       f"RequestId: {request_id} Error: Runtime exited with error: {reason}",
                                       request_id)
            return self._finish(fn, request_id, started, error, True, text, peak_mb)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)

    def invoke_async(self, fn: Any, event: bytes, invoked_arn: str | None = None) -> None:
        """An `Event` invocation, run in the background; a function error is retried as Lambda retries it.

        Lambda retries twice (MaximumRetryAttempts of the function's event invoke config), about one and
        then two minutes later; setting `lambda_async_retry_delays_s` (a list of seconds) shortens the waits.
        """
        delays = [float(d) for d in self.cloud.settings.get("lambda_async_retry_delays_s", [60, 120])]
        configs = getattr(fn, "event_invoke_config", None) or []
        attempts = 1 + min(len(delays), int(next((c.config["MaximumRetryAttempts"] for c in configs
                                                  if "MaximumRetryAttempts" in c.config), 2)))

        def run() -> None:
            for attempt in range(attempts):
                if attempt and self._stopping.wait(delays[attempt - 1]):
                    return
                result = self.invoke(fn, event, invoked_arn)
                if not result.error:
                    return
                log.warning("asynchronous invocation %s of %s failed (attempt %d of %d): %s", result.request_id,
                            fn.function_name, attempt + 1, attempts, result.payload[:500].decode(errors="replace"))
        self.cloud.spawn(f"lambda-event-{fn.function_name}", run)

    def _wait(self, env: Environment, timeout: float, memory_mb: int) -> tuple[str, int]:
        """Wait for the invocation to end; stop the environment at its deadline or when it outgrows its memory."""
        started = time.monotonic()
        deadline = started + (timeout if env.ready else max(INIT_LIMIT_S, timeout))
        peak_kb = 0
        while True:
            lines = env.lines(POLL_S)
            if lines is None:
                env.proc.wait()
                return "exited", math.ceil(peak_kb / 1024)
            for line in lines:
                if line == "ready":
                    env.ready = True
                    deadline = time.monotonic() + timeout
                elif line in ("done", "done-exit"):
                    return line, math.ceil(max(peak_kb, _peak_rss_kb(env.proc.pid)) / 1024)
            peak_kb = max(peak_kb, _peak_rss_kb(env.proc.pid))
            if peak_kb > memory_mb * 1024:
                return "memory", math.ceil(peak_kb / 1024)
            if time.monotonic() >= deadline:
                return ("timeout" if env.ready else "init-timeout"), math.ceil(peak_kb / 1024)

    def _finish(self, fn: Any, request_id: str, started: float, result: Any, error: bool, output: str,
                peak_mb: int) -> Invocation:
        duration_ms = (time.time() - started) * 1000
        payload = result.encode() if isinstance(result, str) else json.dumps(result).encode()
        logs = (f"START RequestId: {request_id} Version: {fn.version}\n{output}"
                + ("" if not output or output.endswith("\n") else "\n")
                + f"END RequestId: {request_id}\n"
                f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
                f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {fn.memory_size} MB\t"
                f"Max Memory Used: {peak_mb} MB\t\n")
        with open(self.cloud.log_path("lambda", fn.function_name), "a") as out:
            out.write(logs)
        self._save_cloudwatch(fn, request_id, logs)
        return Invocation(request_id, payload, error, logs, duration_ms, peak_mb)

    @staticmethod
    def _save_cloudwatch(fn: Any, request_id: str, logs: str) -> None:
        """The log lines also go to the function's CloudWatch Logs group (its LoggingConfig's), where `aws logs` finds
        them; in a custom group, shared by functions, Lambda's stream names carry the function's name."""
        now = datetime.datetime.now(timezone.utc)
        custom = "" if fn.logs_group_name == f"/aws/lambda/{fn.function_name}" else fn.function_name
        stream = f"{now:%Y/%m/%d}/{custom}[{fn.version}]{request_id.replace('-', '')}"
        try:
            fn.logs_backend.ensure_log_group(fn.logs_group_name)
            fn.logs_backend.create_log_stream(fn.logs_group_name, stream)
            stamp = int(now.timestamp() * 1000)
            fn.logs_backend.put_log_events(fn.logs_group_name, stream,
                                           [{"timestamp": stamp, "message": line} for line in logs.splitlines()])
        except Exception:  # the invocation's outcome matters more than its copy in CloudWatch Logs
            log.exception("could not store the logs of %s in CloudWatch Logs", fn.function_name)


def _error_payload(error_type: str, message: str, request_id: str) -> dict[str, Any]:
    return {"errorType": error_type, "errorMessage": message, "requestId": request_id, "stackTrace": []}


def _iso(stamp: float) -> str:
    return datetime.datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _peak_rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _unpacked(root: Path, key: str, archives: list[bytes], what: str) -> Path:
    """The zip archives extracted in order into root/key, once (a later archive's files win)."""
    target = root / key
    if target.is_dir():
        return target
    staging = root / f".{key}.{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        for archive in archives:
            with zipfile.ZipFile(io.BytesIO(archive)) as opened:
                opened.extractall(staging)
    except zipfile.BadZipFile as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise LambdaSetupError(f"{what} is not a zip archive") from exc
    try:
        os.rename(staging, target)
    except OSError:  # another invocation unpacked the same archives first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _expiry(credentials: dict[str, str] | None, session_s: int) -> float:
    stamp = (credentials or {}).get("Expiration")
    if not stamp:
        return time.time() + session_s
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
