"""One build, run as CodeBuild runs it: its phases, its environment, its calls as the project's service role.

PROVISIONING assumes the project's service role (credentials in the build's environment, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, session AWSCodeBuild-<build uuid>) and opens the build's log stream with
it; DOWNLOAD_SOURCE fetches the source and reads the buildspec (buildspec.py) and its parameters and secrets, every
call as that role, never as the local cloud's administrator: a grant the role lacks fails the phase with the
AccessDenied in its context, as CodeBuild reports it. INSTALL selects the runtimes (environment.py) and makes the
build's own Python; then the phases run their commands (one shell carried through the build for version 0.2, one per
command for 0.1), `finally` either way, `on-failure: CONTINUE` going on. A failed install or pre_build skips to
FINALIZING, a failed build still runs post_build, and the artifacts are uploaded (with the role) unless install or
pre_build failed.

Every build has a folder of its own, <state>/codebuild/<project>-<uuid>: src (CODEBUILD_SRC_DIR), home (HOME), bin
(`docker`, `aws`), python (its virtual environment). Nothing of the project's environment reaches it (no PYTHONPATH,
no virtual environment, not the project's venv on PATH); `aws` is the project's AWS CLI, as CodeBuild's images have
one; `docker` is the local cloud's (images/docker.py): a daemon for privileged builds only.
"""

from __future__ import annotations

import glob
import io
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..clients import aws_variables
from ..images.service import venv_bin
from ..logstreams import Follower, follow
from . import environment
from .buildspec import PHASES, Buildspec, parse
from .exceptions import BuildError
from .models import BuildRecord

if TYPE_CHECKING:
    from .service import CodeBuildService

log = logging.getLogger("mlops_workshop.localcloud.codebuild")

# Variables of the local cloud's own process that must not reach a build.
_PRIVATE = re.compile(r"^(PYTHON\w*|VIRTUAL_ENV|CONDA_\w+|PYENV_VERSION|PIP_\w+|MLOPS_\w+|LOCALCLOUD_\w+|DOCKER_\w+|"
                      r"MOTO_\w+|PYTEST_\w+|COV_\w+)$")


def _stamp() -> str:
    now = time.time()
    return time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}"


def _denied(exc: ClientError) -> str:
    error = exc.response.get("Error") or {}
    return f"{error.get('Code', 'ClientError')}: {error.get('Message', exc)}"


class Build:
    """One build: its BatchGetBuilds record and the run that keeps it true."""

    def __init__(self, service: "CodeBuildService", project: dict[str, Any], region: str, account: str, *,
                 source: dict[str, Any], source_zip: bytes | str | Path | None, source_version: str | None,
                 buildspec: str | None, env_overrides: list[dict[str, str]], artifacts: dict[str, Any],
                 output_location: str | dict[str, str] | None, timeout_minutes: int, initiator: str, number: int):
        self.service = service
        self.cloud = service.cloud
        self.project = project
        self.region, self.account = region, account
        self.source = source
        self.source_zip = source_zip
        self.buildspec_override = buildspec
        self.env_overrides = env_overrides
        self.artifacts_setting = artifacts
        self.output_location = output_location
        self.deadline = time.monotonic() + timeout_minutes * 60
        self.uuid = str(uuid.uuid4())
        name = project["name"]
        self.id = f"{name}:{self.uuid}"
        self.dir = self.cloud.state_dir / "codebuild" / f"{name}-{self.uuid}"
        self.src = self.dir / "src"
        self.log_path = self.cloud.log_path("codebuild", f"{name}/{self.uuid}")
        self.proc: subprocess.Popen | None = None
        self.stopping = threading.Event()
        self.done = threading.Event()
        self.artifact_location: str | None = None
        self.failed = False
        self.follower: Follower | None = None
        self.credentials: dict[str, str] = {}
        self.image = str((project.get("environment") or {}).get("image", ""))
        self.record = BuildRecord.new(self.id, region, account, number, project, source, source_version,
                                      env_overrides, self.log_path, self.uuid, timeout_minutes, initiator)

    # The record.
    def begin(self, phase: str) -> None:
        self.record.begin(phase)
        self.write(f"Entering phase {phase}")

    def end(self, status: str, code: str = "", message: str = "") -> None:
        entry = self.record.end(status, code, message)
        self.write(f"Phase complete: {entry['phaseType']} State: {status}")
        self.write(f"Phase context status code: {code} Message: {message}")

    def write(self, text: str) -> None:
        with open(self.log_path, "a") as out:
            out.write(f"[Container] {_stamp()} {text}\n")

    def note(self, text: str) -> None:
        """What the local cloud does differently from CodeBuild, in the local log only."""
        with open(self.log_path, "a") as out:
            out.write(f"[localcloud] {text}\n")

    def view(self) -> dict[str, Any]:
        return self.record.view()

    def client(self, service: str) -> Any:
        """A client signed as the build's service role: what CodeBuild does for a build, it does as that role."""
        return self.cloud.client(service, self.region, credentials=self.credentials)

    # The run.
    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:
            log.exception("build %s", self.id)
            self.failed = True
            self.record["buildStatus"] = "FAULT"
            self.write(f"the local cloud failed to run the build: {exc}")
        finally:
            self.record["endTime"] = time.time()
            self.record["currentPhase"] = "COMPLETED"
            self.record["phases"].append({"phaseType": "COMPLETED", "startTime": self.record["endTime"]})
            if self.follower is not None:
                self.follower.stop()
            self.record["buildComplete"] = True
            self.done.set()

    def _run(self) -> None:
        self.begin("PROVISIONING")
        try:
            env = self.provision()
        except BuildError as exc:
            self.end("FAILED", exc.code, str(exc))
            return self._finish("FAILED")
        self.end("SUCCEEDED")

        self.begin("DOWNLOAD_SOURCE")
        try:
            self.fetch_source()
            spec = self.load_buildspec()
            self.write("Processing environment variables")
            env.update(self.buildspec_env(spec))
            env.update(self.variables((self.project.get("environment") or {}).get("environmentVariables") or []))
            env.update(self.variables(self.env_overrides))
            env["CODEBUILD_RESOLVED_SOURCE_VERSION"] = self.record.get("resolvedSourceVersion") or ""
        except BuildError as exc:
            self.end("FAILED", exc.code, str(exc))
            return self._finish("FAILED")
        self.end("SUCCEEDED")
        state = self.dir / "shell"
        state.mkdir(exist_ok=True)

        upload = True
        for name in PHASES:
            phase = spec.phases.get(name)
            self.begin(name.upper())
            env["CODEBUILD_BUILD_SUCCEEDING"] = "0" if self.failed else "1"
            if name == "install":
                try:
                    self.install_runtimes(spec, env)
                except BuildError as exc:
                    self.end("FAILED", exc.code, str(exc))
                    self.failed = True
                    return self._finish("FAILED")
            status, code, message = self.run_phase(spec, phase, env, state) if phase else ("SUCCEEDED", "", "")
            self.end(status, code, message)
            if status in ("STOPPED", "TIMED_OUT"):
                return self._finish(status)
            if status == "FAILED":
                self.failed = True
                if phase and phase.on_failure.startswith("RETRY"):
                    self.note(f"on-failure {phase.on_failure}: the local cloud does not retry builds; it aborts")
                if (phase is None or phase.on_failure != "CONTINUE") and name in ("install", "pre_build"):
                    upload = False
                    break
        self.record["exportedEnvironmentVariables"] = self.exported(spec, env, state)

        if upload:
            self.begin("UPLOAD_ARTIFACTS")
            try:
                message = self.upload_artifacts(spec, env, state)
                self.end("SUCCEEDED", "", message)
            except BuildError as exc:
                self.failed = True
                self.end("FAILED", exc.code, str(exc))
        self._finish("FAILED" if self.failed else "SUCCEEDED")

    def _finish(self, status: str) -> None:
        self.begin("FINALIZING")
        self.end("SUCCEEDED")
        self.record["buildStatus"] = status
        self.write(f"build {self.id}: {status}")

    # PROVISIONING.
    def provision(self) -> dict[str, str]:
        """The build's folder, its service role's credentials and log stream, and its environment."""
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "home").mkdir(exist_ok=True)
        role = str(self.project.get("serviceRole") or "")
        from ..iam.exceptions import AssumeRoleRefused
        try:
            self.credentials = self.cloud.service("iam").credentials_for(
                role, "codebuild.amazonaws.com", session_name=f"AWSCodeBuild-{self.uuid}",
                source_arn=self.project.get("arn"), source_account=self.account)
        except AssumeRoleRefused:
            raise BuildError("CLIENT_ERROR", f"CodeBuild is not authorized to perform: sts:AssumeRole on {role}")
        self.open_logs()
        return self.base_env()

    def open_logs(self) -> None:
        """The build's log stream, made with the service role as CodeBuild makes it, then followed."""
        logs = self.record["logs"]
        if not logs.get("groupName"):
            return
        group, stream = logs["groupName"], logs["streamName"]
        client = self.client("logs")
        try:
            try:
                client.create_log_stream(logGroupName=group, logStreamName=stream)
            except client.exceptions.ResourceNotFoundException:
                client.create_log_group(logGroupName=group)   # a group CodeBuild makes itself, with the role
                client.create_log_stream(logGroupName=group, logStreamName=stream)
        except client.exceptions.ResourceAlreadyExistsException:
            pass
        except ClientError as exc:
            raise BuildError("ACCESS_DENIED", f"Service role {self.project.get('serviceRole')} does not allow AWS "
                                              f"CodeBuild to create Amazon CloudWatch Logs log streams for build "
                                              f"{self.record['arn']}. Error message: {_denied(exc)}") from exc
        self.log_path.touch()
        self.follower = follow(self.cloud, self.region, group, stream, self.log_path, from_start=True)

    def base_env(self) -> dict[str, str]:
        images = self.cloud.service("images")
        # As in CodeBuild, only a privileged build gets a Docker daemon (the engine, where there is one).
        privileged = bool((self.project.get("environment") or {}).get("privilegedMode"))
        bin_dir = self.dir / "bin"
        docker = images.docker_env(bin_dir, self.id, privileged=privileged)
        aws = bin_dir / "aws"
        aws.write_text(f'#!/bin/sh\nexec "{venv_bin() / "aws"}" "$@"\n')
        aws.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if not _PRIVATE.match(k) and not k.startswith("AWS_")}
        own = {str(venv_bin()), str(venv_bin().resolve())}
        path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p not in own]
        env["PATH"] = os.pathsep.join([str(bin_dir), *path])
        env.update(aws_variables(self.cloud.endpoint_url, self.region,
                                 {k: v for k, v in self.credentials.items() if k.startswith("AWS_")}))
        env.update(docker)
        env.update({
            "HOME": str(self.dir / "home"),
            "CODEBUILD_SRC_DIR": str(self.src),
            "CODEBUILD_BUILD_ID": self.id,
            "CODEBUILD_BUILD_ARN": self.record["arn"],
            "CODEBUILD_BUILD_NUMBER": str(self.record["buildNumber"]),
            "CODEBUILD_INITIATOR": self.record["initiator"],
            "CODEBUILD_SOURCE_VERSION": self.record.get("sourceVersion") or "",
            "CODEBUILD_SOURCE_REPO_URL": str(self.source.get("location") or ""),
            "CODEBUILD_BUILD_IMAGE": self.image,
            "CODEBUILD_KMS_KEY_ID": str(self.project.get("encryptionKey") or ""),
            "CODEBUILD_LOG_PATH": self.uuid,
            "CODEBUILD_START_TIME": str(int(self.record["startTime"] * 1000)),
            "CODEBUILD_BUILD_SUCCEEDING": "1",
            "CODEBUILD_CI": "true",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "PYTHONUNBUFFERED": "1",
        })
        return env

    # DOWNLOAD_SOURCE.
    def fetch_source(self) -> None:
        self.write("Phase is DOWNLOAD_SOURCE")
        if self.src.exists():
            shutil.rmtree(self.src)
        self.src.mkdir(parents=True)
        self.write(f"CODEBUILD_SRC_DIR={self.src}")
        kind = str(self.source.get("type", "NO_SOURCE")).upper()
        location = str(self.source.get("location") or "")
        if isinstance(self.source_zip, str) and self.source_zip.startswith("s3://"):
            self._fetch_s3(self.source_zip)
            self.record["resolvedSourceVersion"] = self.record.get("sourceVersion") or ""
        elif self.source_zip is not None:
            data = self.source_zip if isinstance(self.source_zip, bytes) else Path(self.source_zip).read_bytes()
            self._unzip(data, "the input artifact")
            self.record["resolvedSourceVersion"] = self.record.get("sourceVersion") or ""
        elif kind == "S3":
            self._fetch_s3(location)
        elif kind in ("CODECOMMIT", "GIT", "GITHUB", "BITBUCKET", "GITHUB_ENTERPRISE", "GITLAB"):
            self._fetch_git(location)
        elif kind == "CODEPIPELINE":
            raise BuildError("CLIENT_ERROR", "a CODEPIPELINE source comes from CodePipeline: start this project's "
                                             "builds from its pipeline (or override the source type)")
        elif kind != "NO_SOURCE":
            raise BuildError("CLIENT_ERROR", f"the local cloud cannot fetch a source of type {kind}")

    def _unzip(self, data: bytes, what: str) -> None:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for info in archive.infolist():
                    path = Path(archive.extract(info, self.src))
                    mode = info.external_attr >> 16
                    if mode & 0o777 and not info.is_dir():
                        path.chmod(mode & 0o777)
        except zipfile.BadZipFile as exc:
            raise BuildError("CLIENT_ERROR", f"{what} is not a zip archive: {exc}") from exc

    def _fetch_s3(self, location: str) -> None:
        text = location.removeprefix("arn:aws:s3:::").removeprefix("s3://")
        bucket, _, key = text.partition("/")
        s3 = self.client("s3")
        where = f"arn:aws:s3:::{bucket}/{key}"
        try:
            if key and not key.endswith("/"):
                obj = s3.get_object(Bucket=bucket, Key=key)
                self.record["resolvedSourceVersion"] = obj.get("VersionId") or obj.get("ETag", "").strip('"')
                return self._unzip(obj["Body"].read(), f"s3://{bucket}/{key}")
            count = 0
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
                for item in page.get("Contents", []):
                    rel = item["Key"][len(key):]
                    if rel and not rel.endswith("/"):
                        (self.src / rel).parent.mkdir(parents=True, exist_ok=True)
                        s3.download_file(bucket, item["Key"], str(self.src / rel))
                        count += 1
            if not count:
                raise BuildError("CLIENT_ERROR", f"no source objects under s3://{bucket}/{key}")
        except ClientError as exc:
            raise BuildError("CLIENT_ERROR", f"{_denied(exc)} for primary source and source version {where}") from exc

    def _fetch_git(self, location: str) -> None:
        version = self.record.get("sourceVersion") or ""
        branch = version.removeprefix("refs/heads/")
        match = re.match(r"^https://git-codecommit\.[^/]+/v1/repos/([^/]+)/?$", location)
        if match:
            # AWS's clone URL, as a template writes it: the local cloud's CodeCommit serves the repository.
            location = self.cloud.service("codecommit").clone_url(match.group(1))
        args = ["git", "clone", "--quiet", location, str(self.src)]
        self._git(args, f"git clone {location}")
        if branch:
            self._git(["git", "-C", str(self.src), "checkout", "--quiet", branch], f"git checkout {branch}")
        resolved = subprocess.run(["git", "-C", str(self.src), "rev-parse", "HEAD"], capture_output=True, text=True)
        self.record["resolvedSourceVersion"] = resolved.stdout.strip()

    def _git(self, args: list[str], what: str) -> None:
        proc = subprocess.run(args, capture_output=True, text=True, env=self.cloud.child_env(), timeout=300)
        if proc.returncode:
            raise BuildError("CLIENT_ERROR", f"{what} failed: {(proc.stderr or proc.stdout).strip()}")

    def load_buildspec(self) -> Buildspec:
        text = self.buildspec_override or self.source.get("buildspec") or "buildspec.yml"
        if "\n" not in text.strip() and not text.lstrip().startswith(("version", "{")):
            path = self.src / text
            self.write(f"YAML location is {path}")
            if not path.is_file():
                raise BuildError("YAML_FILE_ERROR", f"stat {path}: no such file or directory")
            return parse(path.read_text(), str(path))
        self.write(f"YAML location is {self.dir / 'readonly' / 'buildspec.yml'}")
        return parse(text, "inline")

    def buildspec_env(self, spec: Buildspec) -> dict[str, str]:
        values = {str(k): "" if v is None else str(v) for k, v in (spec.env.get("variables") or {}).items()}
        store = spec.env.get("parameter-store") or {}
        if store:
            names = {str(var): str(name) for var, name in store.items()}
            found = self._parameters(list(dict.fromkeys(names.values())))
            values.update({var: found[name] for var, name in names.items()})
        for var, ref in (spec.env.get("secrets-manager") or {}).items():
            values[str(var)] = self._secret(str(ref))
        return values

    def variables(self, items: list[dict[str, str]]) -> dict[str, str]:
        values = {}
        for item in items:
            kind = str(item.get("type", "PLAINTEXT")).upper()
            value = str(item.get("value", ""))
            if kind == "PARAMETER_STORE":
                value = self._parameters([value])[value]
            elif kind == "SECRETS_MANAGER":
                value = self._secret(value)
            values[str(item["name"])] = value
        return values

    def _parameters(self, names: list[str]) -> dict[str, str]:
        """Parameter Store values, read with GetParameters as CodeBuild reads them."""
        try:
            found = self.client("ssm").get_parameters(Names=names, WithDecryption=True)
        except ClientError as exc:
            raise BuildError("Decrypted Variables Error", _denied(exc)) from exc
        if found.get("InvalidParameters"):
            raise BuildError("Decrypted Variables Error", f"parameter does not exist: {found['InvalidParameters'][0]}")
        return {p["Name"]: p["Value"] for p in found["Parameters"]}

    def _secret(self, ref: str) -> str:
        """secret-id:json-key:version-stage:version-id, as the buildspec reference writes it (an ARN has colons)."""
        match = re.match(r"^(arn:[^:]+:secretsmanager:[^:]+:\d+:secret:[^:]+|[^:]+)(?::([^:]*))?(?::([^:]*))?"
                         r"(?::([^:]*))?$", ref)
        secret_id, json_key, stage, version = match.groups() if match else (ref, None, None, None)
        args: dict[str, str] = {"SecretId": secret_id}
        if stage:
            args["VersionStage"] = stage
        if version:
            args["VersionId"] = version
        try:
            value = self.client("secretsmanager").get_secret_value(**args)["SecretString"]
        except ClientError as exc:
            raise BuildError("Secrets Manager Error", _denied(exc)) from exc
        if not json_key:
            return value
        try:
            return str(json.loads(value)[json_key])
        except (ValueError, KeyError, TypeError) as exc:
            raise BuildError("Secrets Manager Error", f"secret {secret_id} has no JSON key {json_key}") from exc

    # INSTALL.
    def install_runtimes(self, spec: Buildspec, env: dict[str, str]) -> None:
        """runtime-versions as the image has them, and the build's own Python for the version selected."""
        install = spec.phases.get("install")
        requested = install.runtime_versions if install else {}
        version = None
        if requested:
            lines, version = environment.select_runtimes(self.image, requested, lambda text: _expand(text, env))
            for line in lines:
                self.write(f'Running command echo "{line}"')
                with open(self.log_path, "a") as out:
                    out.write(line + "\n")
        runtime = environment.runtime_for(version or environment.default_python(self.image))
        if not runtime.actual.startswith(".".join(runtime.version.split(".")[:2]) + "."):
            self.note(f"this machine has no python{'.'.join(runtime.version.split('.')[:2])}: the build's Python "
                      f"{runtime.version} runs on {runtime.executable} ({runtime.actual})")
        layer = environment.image_layer(self.cloud.state_dir / "codebuild" / "image-python")
        python_bin = environment.make_python(runtime, self.dir / "python", layer)
        env["PATH"] = os.pathsep.join([str(self.dir / "bin"), str(python_bin)] + env["PATH"].split(os.pathsep)[1:])

    # The phases.
    def run_phase(self, spec: Buildspec, phase: Any, env: dict[str, str], state: Path) -> tuple[str, str, str]:
        result = self.run_commands(spec, phase.name, phase.commands, env, state)
        if phase.final:
            final_result = self.run_commands(spec, f"{phase.name}-finally", phase.final, env, state)
            if result[0] == "SUCCEEDED" or final_result[0] in ("STOPPED", "TIMED_OUT"):
                result = final_result
        return result

    def run_commands(self, spec: Buildspec, label: str, commands: list[str], env: dict[str, str],
                     state: Path) -> tuple[str, str, str]:
        if not commands:
            return "SUCCEEDED", "", ""
        if spec.separate_shells:
            for index, command in enumerate(commands):
                status = self._script(spec, f"{label}-{index}", [command], env, state, carry=False)
                if status[0] != "SUCCEEDED":
                    return status
            return "SUCCEEDED", "", ""
        return self._script(spec, label, commands, env, state, carry=True)

    def _script(self, spec: Buildspec, label: str, commands: list[str], env: dict[str, str], state: Path,
                carry: bool) -> tuple[str, str, str]:
        env_file, cwd_file, status_file = state / "env.sh", state / "cwd", state / "status"
        quoted, cwd = shlex.quote(str(env_file)), shlex.quote(str(cwd_file))
        start = f'[ -f {quoted} ] && . {quoted}; [ -f {cwd} ] && cd "$(cat {cwd})"'
        lines = [start if carry else f"cd {shlex.quote(str(self.src))}",
                 f'export CODEBUILD_BUILD_SUCCEEDING={env["CODEBUILD_BUILD_SUCCEEDING"]}',
                 "__lc_cmd=-1",
                 "__lc_exit() {",
                 "  __lc_rc=$?",
                 f'  printf "%s %s\\n" "$__lc_cmd" "$__lc_rc" > {shlex.quote(str(status_file))}']
        if carry:
            lines.append(f"  export -p > {quoted}.new 2>/dev/null && mv {quoted}.new {quoted}; pwd > {cwd}")
        lines += ["}", "trap __lc_exit EXIT", "set -e"]
        for index, command in enumerate(commands):
            lines += [f"__lc_cmd={index}",
                      f'printf "[Container] %s Running command %s\\n" "$(date -u "+%Y/%m/%d %H:%M:%S")" '
                      f'{shlex.quote(command)}',
                      command]
        lines.append("__lc_cmd=done")
        script = state / f"{label}.sh"
        script.write_text("\n".join(lines) + "\n")
        status_file.unlink(missing_ok=True)
        if self.stopping.is_set():
            return "STOPPED", "", "the build was stopped"
        shell = "bash" if spec.shell == "bash" else "/bin/sh"
        with open(self.log_path, "ab") as out:
            self.proc = self.cloud.popen(f"codebuild {self.id} {label}", [shell, str(script)], cwd=self.src,
                                         env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        timed_out = False
        while self.proc.poll() is None:
            if time.monotonic() > self.deadline:
                timed_out = True
                self._kill()
                break
            if self.stopping.is_set():
                self._kill()
                break
            time.sleep(0.05)
        rc = self.proc.wait()
        self.cloud.forget(self.proc)
        if timed_out:
            minutes = self.record["timeoutInMinutes"]
            return "TIMED_OUT", "BUILD_TIMED_OUT", f"Build has timed out. Build timeout is {minutes} minutes"
        if self.stopping.is_set():
            return "STOPPED", "", "the build was stopped"
        try:
            index_text, rc_text = status_file.read_text().split()
            rc = int(rc_text)
        except (OSError, ValueError):
            index_text = "-1"
        if index_text == "done" and rc == 0:
            return "SUCCEEDED", "", ""
        command = commands[int(index_text)] if index_text.lstrip("-").isdigit() and int(index_text) >= 0 else "(setup)"
        if index_text == "done":
            command = commands[-1]
        self.write(f"Command did not exit successfully {command} exit status {rc}")
        return ("FAILED", "COMMAND_EXECUTION_ERROR",
                f"Error while executing command: {command}. Reason: exit status {rc}")

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _shell_values(self, spec: Buildspec, env: dict[str, str], state: Path, script: str, *args: str) -> list[str]:
        """What `script` prints (NUL-separated) in the build's shell as its last phase left it."""
        env_file, cwd_file = shlex.quote(str(state / "env.sh")), shlex.quote(str(state / "cwd"))
        setup = f'[ -f {env_file} ] && . {env_file} >/dev/null 2>&1; [ -f {cwd_file} ] && cd "$(cat {cwd_file})"; '
        proc = subprocess.run(["bash", "-c", (setup if not spec.separate_shells else "") + script, "values", *args],
                              env=env, capture_output=True, cwd=self.src)
        return proc.stdout.decode(errors="replace").split("\0")[:-1]

    def exported(self, spec: Buildspec, env: dict[str, str], state: Path) -> list[dict[str, str]]:
        """env.exported-variables as the build left them (CodeBuild exports none that starts with AWS_)."""
        names = [n for n in spec.exported_names() if not n.startswith("AWS_")]
        if not names:
            return []
        parts = self._shell_values(spec, env, state, 'for v in "$@"; do printf "%s\\0%s\\0" "$v" "${!v}"; done',
                                   *names)
        return [{"name": parts[i], "value": parts[i + 1]} for i in range(0, len(parts) - 1, 2)]

    # UPLOAD_ARTIFACTS.
    def artifact_files(self, section: dict[str, Any]) -> list[tuple[Path, str]]:
        base_name = str(section.get("base-directory") or ".")
        base = self.src / base_name
        if not base.is_dir():
            raise BuildError("CLIENT_ERROR", f"no matching base directory path found for {base_name}")
        patterns = section.get("files") or []
        patterns = [patterns] if isinstance(patterns, str) else [str(p) for p in patterns]
        excluded = section.get("exclude-paths") or []
        excluded = [excluded] if isinstance(excluded, str) else [str(p) for p in excluded]
        skip = {os.path.normpath(m) for pattern in excluded
                for m in glob.glob(pattern, root_dir=base, recursive=True, include_hidden=True)}
        discard = str(section.get("discard-paths", "no")).lower() in ("yes", "true")
        found: dict[str, Path] = {}
        for pattern in patterns:
            for match in glob.glob(pattern, root_dir=base, recursive=True, include_hidden=True):
                path = base / match
                files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
                for file in files:
                    rel = os.path.normpath(file.relative_to(base).as_posix())
                    if rel not in skip:
                        found[file.name if discard else rel] = file
        if not found:
            raise BuildError("CLIENT_ERROR", "no matching artifact paths found")
        return [(path, name) for name, path in sorted(found.items())]

    def destinations(self, spec: Buildspec, env: dict[str, str],
                     state: Path) -> list[tuple[dict[str, Any], str, str, str]]:
        """(buildspec section, bucket, key, packaging) for the primary and each secondary artifact with a place."""
        sections = {None: spec.artifacts, **(spec.artifacts.get("secondary-artifacts") or {})}
        found = []
        if isinstance(self.output_location, dict):   # CodePipeline: one location per output artifact
            primary_name = next(iter(self.output_location), None)
            for name, location in self.output_location.items():
                section = sections.get(name) if name in sections else sections[None] if name == primary_name else None
                if section is None:
                    raise BuildError("CLIENT_ERROR", f"no definition for secondary artifact {name} in buildspec")
                bucket, _, key = location.removeprefix("s3://").partition("/")
                found.append((section, bucket, key, "ZIP"))
            return found
        if self.output_location:
            bucket, _, key = self.output_location.removeprefix("s3://").partition("/")
            return [(spec.artifacts, bucket, key, "ZIP")]
        settings = [(None, self.artifacts_setting or {})] + [
            (s.get("artifactIdentifier"), s) for s in self.project.get("secondaryArtifacts") or []]
        for identifier, setting in settings:
            kind = str(setting.get("type", "NO_ARTIFACTS")).upper()
            if kind != "S3":
                continue
            section = sections.get(identifier)
            if section is None:
                raise BuildError("CLIENT_ERROR", f"no definition for secondary artifact {identifier} in buildspec")
            namespace = self.uuid if str(setting.get("namespaceType", "NONE")).upper() == "BUILD_ID" else ""
            name = str(setting.get("name") or self.project["name"])
            if setting.get("overrideArtifactName") and section.get("name"):
                # The buildspec's name is the shell's: `name: build-$CODEBUILD_BUILD_NUMBER` is evaluated.
                name = self._shell_values(spec, env, state, 'printf "%s\\0" "$(eval "printf %s \\"$1\\"")"',
                                          str(section["name"]))[0] or name
            key = "/".join(p.strip("/") for p in (str(setting.get("path") or ""), namespace, name) if p.strip("/"))
            found.append((section, str(setting.get("location") or ""), key,
                          str(setting.get("packaging", "NONE")).upper()))
        return found

    def upload_artifacts(self, spec: Buildspec, env: dict[str, str], state: Path) -> str:
        places = self.destinations(spec, env, state)
        if not places:
            return ""
        s3 = self.client("s3")
        for index, (section, bucket, key, packaging) in enumerate(places):
            if not section.get("files"):
                raise BuildError("CLIENT_ERROR", "no matching artifact paths found")
            files = self.artifact_files(section)
            try:
                if packaging == "ZIP":
                    buffer = io.BytesIO()
                    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                        for path, name in files:
                            archive.write(path, name)
                    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
                else:
                    for path, name in files:
                        s3.upload_file(str(path), bucket, f"{key}/{name}")
            except ClientError as exc:
                raise BuildError("CLIENT_ERROR", f"Error uploading artifacts: {_denied(exc)}") from exc
            except Exception as exc:
                raise BuildError("CLIENT_ERROR", f"Error uploading artifacts: {exc}") from exc
            location = {"location": f"arn:aws:s3:::{bucket}/{key}"}
            if index == 0:
                self.artifact_location = f"s3://{bucket}/{key}"
                self.record["artifacts"] = location
            else:
                self.record["secondaryArtifacts"].append(location)
            self.write(f"uploaded {len(files)} artifact file(s) to s3://{bucket}/{key}")
        return ""

    def stop(self) -> None:
        self.stopping.set()
        self._kill()


def _expand(text: str, env: dict[str, str]) -> str:
    """$VAR and ${VAR} in a runtime version ("$MY_RUBY_VAR" in AWS's examples)."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), text)
