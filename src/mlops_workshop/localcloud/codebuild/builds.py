"""CodeBuild: StartBuild runs the buildspec for real; BatchGetBuilds shows its phases, status and log.

The call the CodePipeline runtime makes for a build action (blocking):

    run_build(cloud, project_name, source_zip, env_overrides=None, output_location=None, *,
              source_version=None, buildspec=None, initiator=None, timeout_minutes=None, region=None) -> dict

- source_zip: the input artifact, zip bytes or the path of a .zip (None: the project's own source);
- env_overrides: {name: value}, or CodeBuild's [{"name", "value", "type"}] list;
- output_location: "s3://bucket/key" where the zipped artifacts go (None: the project's artifacts setting);
- returns the build as BatchGetBuilds shows it, plus "artifactLocation" (s3://bucket/key or None) and
  "logPath" (the local log file). buildStatus is SUCCEEDED, FAILED, STOPPED or TIMED_OUT.

A build, as CodeBuild runs it: the source (the call's sourceTypeOverride/sourceLocationOverride or the
project's: an S3 zip or folder, a git repository URL, NO_SOURCE) is unpacked into
<state>/codebuild/<project>-<uuid>/src; the buildspec (buildspecOverride or the project's, inline YAML or
a path in the source, default buildspec.yml; version 0.2) runs its phases install, pre_build, build and
post_build, each one `bash -e` script whose exported variables and working folder carry on to the next
phase; a failing command fails its phase (the phase's contexts name the command and its exit status),
`finally` commands run either way, `on-failure: CONTINUE` goes on to the next phase. As in CodeBuild, a
failed install or pre_build skips to FINALIZING, a failed build still runs post_build, and artifacts are
uploaded unless install or pre_build failed. Variables: the buildspec's env.variables and
env.parameter-store (read from SSM), then the project's, then the call's override (highest), and
CodeBuild's own (CODEBUILD_SRC_DIR, CODEBUILD_BUILD_ID, CODEBUILD_BUILD_NUMBER, ...,
AWS_DEFAULT_REGION, AWS_REGION), with AWS_ENDPOINT_URL and dummy credentials so that boto3 reaches this
cloud. PATH starts with the local cloud's `docker` (see images.py: the engine's when there is one and the
project's environment has privilegedMode, as CodeBuild's Docker daemon needs; ECR pushes recorded), then a per-cloud Python environment layered over the project's virtual environment
(`python`, `python3` and `pip` work, and `pip install` goes into the layer, never the project's venv).
`aws` is the project's AWS CLI (a dependency: it is in the project's environment's bin), as CodeBuild's images have
one. Artifacts (files globs, base-directory, discard-paths, exclude-paths;
secondary artifacts are ignored) are zipped to the output location. The log is
<state>/logs/codebuild/<project>/<uuid>.log (BatchGetBuilds: logs.deepLink is its file:// URL) and goes, as the
build runs, to CloudWatch Logs where CodeBuild puts it: the project's logsConfig group (default
/aws/codebuild/<project>), stream <streamName prefix>/<uuid> (or <uuid>).
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

import yaml

from ..images.service import venv_bin
from ..logstreams import Follower, follow
from .exceptions import BuildError
from .models import BuildRecord

if TYPE_CHECKING:
    from .service import CodeBuildService

log = logging.getLogger("mlops_workshop.localcloud.codebuild")

BUILDSPEC_PHASES = ("install", "pre_build", "build", "post_build")


def _stamp() -> str:
    now = time.time()
    return time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}"


class Build:
    """One build: its BatchGetBuilds record and the run that keeps it true."""

    def __init__(self, service: "CodeBuildService", project: dict[str, Any], region: str, account: str, *,
                 source: dict[str, Any], source_zip: bytes | str | Path | None, source_version: str | None,
                 buildspec: str | None, env_overrides: list[dict[str, str]], artifacts: dict[str, Any],
                 output_location: str | None, timeout_minutes: int, initiator: str, number: int):
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

    def view(self) -> dict[str, Any]:
        return self.record.view()

    # The run.
    def run(self) -> None:
        logs = self.record["logs"]
        if logs.get("groupName"):
            self.log_path.touch()
            self.follower = follow(self.cloud, self.region, logs["groupName"], logs["streamName"], self.log_path,
                                   from_start=True)
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
        self.dir.mkdir(parents=True, exist_ok=True)
        env = self.base_env()
        self.end("SUCCEEDED")

        self.begin("DOWNLOAD_SOURCE")
        try:
            self.fetch_source()
            spec = self.load_buildspec()
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
        phases = spec.get("phases") or {}
        skip_to_end = False
        for name in BUILDSPEC_PHASES:
            phase = phases.get(name) or {}
            if skip_to_end:
                break
            self.begin(name.upper())
            env["CODEBUILD_BUILD_SUCCEEDING"] = "0" if self.failed else "1"
            status, code, message = self.run_phase(name, phase, env, state)
            self.end(status, code, message)
            if status in ("STOPPED", "TIMED_OUT"):
                return self._finish(status)
            if status == "FAILED":
                self.failed = True
                if str(phase.get("on-failure", "ABORT")).upper() != "CONTINUE" and name in ("install", "pre_build"):
                    skip_to_end, upload = True, False
        self.record["exportedEnvironmentVariables"] = self.exported(spec, env, state)

        if upload:
            self.begin("UPLOAD_ARTIFACTS")
            try:
                message = self.upload_artifacts(spec)
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

    def base_env(self) -> dict[str, str]:
        images = self.cloud.service("images")
        # As in CodeBuild, only a privileged build gets a Docker daemon (the engine, where there is one).
        privileged = bool((self.project.get("environment") or {}).get("privilegedMode"))
        docker = images.docker_env(self.dir / "bin", self.id, use_engine=privileged)
        python_bin = self.service.python_layer()
        env = self.cloud.child_env(region=self.region)
        env["PATH"] = os.pathsep.join([str(self.dir / "bin"), str(python_bin), str(venv_bin()), env.get("PATH", "")])
        env.update(docker)
        env.pop("VIRTUAL_ENV", None)
        env.update({
            "CODEBUILD_SRC_DIR": str(self.src),
            "CODEBUILD_BUILD_ID": self.id,
            "CODEBUILD_BUILD_ARN": self.record["arn"],
            "CODEBUILD_BUILD_NUMBER": str(self.record["buildNumber"]),
            "CODEBUILD_INITIATOR": self.record["initiator"],
            "CODEBUILD_SOURCE_VERSION": self.record.get("sourceVersion") or "",
            "CODEBUILD_SOURCE_REPO_URL": str(self.source.get("location") or ""),
            "CODEBUILD_BUILD_IMAGE": str((self.project.get("environment") or {}).get("image", "")),
            "CODEBUILD_KMS_KEY_ID": str(self.project.get("encryptionKey") or ""),
            "CODEBUILD_LOG_PATH": self.uuid,
            "CODEBUILD_START_TIME": str(int(self.record["startTime"] * 1000)),
            "CODEBUILD_BUILD_SUCCEEDING": "1",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "PYTHONUNBUFFERED": "1",
        })
        return env

    def fetch_source(self) -> None:
        if self.src.exists():
            shutil.rmtree(self.src)
        self.src.mkdir(parents=True)
        kind = str(self.source.get("type", "NO_SOURCE")).upper()
        location = str(self.source.get("location") or "")
        if self.source_zip is not None:
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
        self.write(f"source ({kind}) in {self.src}")

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
        s3 = self.cloud.client("s3", self.region)
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
        except BuildError:
            raise
        except Exception as exc:
            raise BuildError("CLIENT_ERROR", f"cannot fetch the source from s3://{bucket}/{key}: {exc}") from exc

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

    def load_buildspec(self) -> dict[str, Any]:
        text = self.buildspec_override or self.source.get("buildspec") or "buildspec.yml"
        if "\n" not in text.strip() and not text.lstrip().startswith(("version", "{")):
            path = self.src / text
            if not path.is_file():
                raise BuildError("YAML_FILE_ERROR", f"YAML_FILE_ERROR: stat {path}: no such file or directory "
                                                    f"(the buildspec {text} is not in the source)")
            text = path.read_text()
        try:
            spec = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise BuildError("YAML_FILE_ERROR", f"YAML_FILE_ERROR: the buildspec is not valid YAML: {exc}") from exc
        if not isinstance(spec, dict):
            raise BuildError("YAML_FILE_ERROR", "YAML_FILE_ERROR: the buildspec must be a YAML mapping")
        if str(spec.get("version")) not in ("0.2", "0.1"):
            raise BuildError("YAML_FILE_ERROR", f"YAML_FILE_ERROR: invalid buildspec version {spec.get('version')!r}; "
                                                "use version: 0.2")
        for name, phase in (spec.get("phases") or {}).items():
            if name not in BUILDSPEC_PHASES:
                raise BuildError("YAML_FILE_ERROR", f"YAML_FILE_ERROR: unknown phase {name!r} in the buildspec; "
                                                    f"phases are {', '.join(BUILDSPEC_PHASES)}")
            if phase is not None and not isinstance(phase, dict):
                raise BuildError("YAML_FILE_ERROR", f"YAML_FILE_ERROR: phase {name} must be a mapping "
                                                    "with commands (and finally)")
            for key in ("commands", "finally"):
                if phase and phase.get(key) is not None and not isinstance(phase[key], list):
                    raise BuildError("YAML_FILE_ERROR", f"YAML_FILE_ERROR: phases.{name}.{key} must be a list")
        return spec

    def buildspec_env(self, spec: dict[str, Any]) -> dict[str, str]:
        section = spec.get("env") or {}
        values = {str(k): "" if v is None else str(v) for k, v in (section.get("variables") or {}).items()}
        store = section.get("parameter-store") or {}
        if store:
            ssm = self.cloud.client("ssm", self.region)
            for var, name in store.items():
                values[str(var)] = self._parameter(ssm, str(name))
        secrets = section.get("secrets-manager") or {}
        if secrets:
            manager = self.cloud.client("secretsmanager", self.region)
            for var, ref in secrets.items():
                values[str(var)] = self._secret(manager, str(ref))
        return values

    def variables(self, items: list[dict[str, str]]) -> dict[str, str]:
        values = {}
        for item in items:
            kind = str(item.get("type", "PLAINTEXT")).upper()
            value = str(item.get("value", ""))
            if kind == "PARAMETER_STORE":
                value = self._parameter(self.cloud.client("ssm", self.region), value)
            elif kind == "SECRETS_MANAGER":
                value = self._secret(self.cloud.client("secretsmanager", self.region), value)
            values[str(item["name"])] = value
        return values

    @staticmethod
    def _parameter(ssm: Any, name: str) -> str:
        try:
            return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        except Exception as exc:
            raise BuildError("Decrypted Variables Error", f"parameter does not exist: {name} ({exc})") from exc

    @staticmethod
    def _secret(manager: Any, ref: str) -> str:
        secret_id, _, rest = ref.partition(":") if not ref.startswith("arn:") else (ref, "", "")
        json_key = rest.split(":", 1)[0] if rest else ""
        try:
            value = manager.get_secret_value(SecretId=secret_id)["SecretString"]
            return str(json.loads(value)[json_key]) if json_key else value
        except Exception as exc:
            raise BuildError("Secrets Manager Error", f"secret {ref} cannot be read: {exc}") from exc

    def run_phase(self, name: str, phase: dict[str, Any], env: dict[str, str], state: Path) -> tuple[str, str, str]:
        commands = [str(c) for c in phase.get("commands") or []]
        final = [str(c) for c in phase.get("finally") or []]
        result = self.run_commands(name, commands, env, state)
        if final:
            final_result = self.run_commands(f"{name}-finally", final, env, state)
            if result[0] == "SUCCEEDED" or final_result[0] in ("STOPPED", "TIMED_OUT"):
                result = final_result
        return result

    def run_commands(self, label: str, commands: list[str], env: dict[str, str], state: Path) -> tuple[str, str, str]:
        if not commands:
            return "SUCCEEDED", "", ""
        env_file, status_file = state / "env.sh", state / "status"
        lines = [
            f'[ -f {shlex.quote(str(env_file))} ] && . {shlex.quote(str(env_file))}',
            f'export CODEBUILD_BUILD_SUCCEEDING={env["CODEBUILD_BUILD_SUCCEEDING"]}',
            "__lc_cmd=-1",
            "__lc_exit() {",
            "  __lc_rc=$?",
            f'  printf "%s %s\\n" "$__lc_cmd" "$__lc_rc" > {shlex.quote(str(status_file))}',
            f'  {{ export -p; printf "cd %q\\n" "$PWD"; }} > {shlex.quote(str(env_file))}.new 2>/dev/null'
            f' && mv {shlex.quote(str(env_file))}.new {shlex.quote(str(env_file))}',
            "}",
            "trap __lc_exit EXIT",
            "set -e",
        ]
        for index, command in enumerate(commands):
            lines += [f"__lc_cmd={index}",
                      f'printf "[Container] %s Running command %s\\n" "$(date -u "+%Y/%m/%d %H:%M:%S")" '
                      f'{shlex.quote(command)}',
                      command]
        lines.append("__lc_cmd=done")
        script = self.dir / "shell" / f"{label}.sh"
        script.write_text("\n".join(lines) + "\n")
        status_file.unlink(missing_ok=True)
        if self.stopping.is_set():
            return "STOPPED", "", "the build was stopped"
        with open(self.log_path, "ab") as out:
            self.proc = self.cloud.popen(f"codebuild {self.id} {label}", ["bash", str(script)], cwd=self.src,
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
        return "FAILED", "COMMAND_EXECUTION_ERROR", f"Error while executing command: {command}. Reason: exit status {rc}"

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def exported(self, spec: dict[str, Any], env: dict[str, str], state: Path) -> list[dict[str, str]]:
        names = [str(n) for n in (spec.get("env") or {}).get("exported-variables") or []]
        if not names:
            return []
        env_file = state / "env.sh"
        script = (f'[ -f {shlex.quote(str(env_file))} ] && . {shlex.quote(str(env_file))} >/dev/null 2>&1; '
                  'for v in "$@"; do printf "%s\\0%s\\0" "$v" "${!v}"; done')
        proc = subprocess.run(["bash", "-c", script, "exported", *names], env=env, capture_output=True, cwd=self.src)
        parts = proc.stdout.decode(errors="replace").split("\0")
        return [{"name": parts[i], "value": parts[i + 1]} for i in range(0, len(parts) - 1, 2)]

    def artifact_files(self, section: dict[str, Any]) -> list[tuple[Path, str]]:
        base = self.src / str(section.get("base-directory") or ".")
        if not base.is_dir():
            raise BuildError("CLIENT_ERROR", f"no matching base directory path found for {section.get('base-directory')}")
        patterns = section.get("files") or []
        patterns = [patterns] if isinstance(patterns, str) else [str(p) for p in patterns]
        excluded = section.get("exclude-paths") or []
        excluded = [excluded] if isinstance(excluded, str) else [str(p) for p in excluded]
        skip = {os.path.normpath(m) for pattern in excluded
                for m in glob.glob(pattern, root_dir=base, recursive=True, include_hidden=True)}
        discard = str(section.get("discard-paths", "no")).lower() in ("yes", "true")
        found: dict[str, Path] = {}
        for pattern in patterns:
            matches = glob.glob(pattern, root_dir=base, recursive=True, include_hidden=True)
            for match in matches:
                path = base / match
                files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
                for file in files:
                    rel = os.path.normpath(file.relative_to(base).as_posix())
                    if rel not in skip:
                        found[file.name if discard else rel] = file
        if not found:
            raise BuildError("CLIENT_ERROR", f"no matching artifact paths found (files {patterns} under {base})")
        return [(path, name) for name, path in sorted(found.items())]

    def upload_artifacts(self, spec: dict[str, Any]) -> str:
        setting = self.artifacts_setting or {}
        kind = str(setting.get("type", "NO_ARTIFACTS")).upper()
        section = spec.get("artifacts") or {}
        if self.output_location:
            bucket, _, key = self.output_location.removeprefix("s3://").partition("/")
            packaging = "ZIP"
        elif kind == "S3":
            bucket = str(setting.get("location") or "")
            namespace = self.uuid if str(setting.get("namespaceType", "NONE")).upper() == "BUILD_ID" else ""
            name = str(section.get("name") or setting.get("name") or self.project["name"])
            key = "/".join(p.strip("/") for p in (str(setting.get("path") or ""), namespace, name) if p.strip("/"))
            packaging = str(setting.get("packaging", "NONE")).upper()
        else:
            return f"no artifacts uploaded (artifacts type {kind})"
        if not section.get("files"):
            raise BuildError("CLIENT_ERROR", "the buildspec declares no artifacts (artifacts.files), but the build "
                                             f"has an output location s3://{bucket}/{key}")
        files = self.artifact_files(section)
        s3 = self.cloud.client("s3", self.region)
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
        except Exception as exc:
            raise BuildError("CLIENT_ERROR", f"cannot upload the artifacts to s3://{bucket}/{key}: {exc}") from exc
        self.artifact_location = f"s3://{bucket}/{key}"
        self.record["artifacts"] = {"location": f"arn:aws:s3:::{bucket}/{key}"}
        self.write(f"uploaded {len(files)} artifact file(s) to s3://{bucket}/{key}")
        return ""

    def stop(self) -> None:
        self.stopping.set()
        self._kill()
