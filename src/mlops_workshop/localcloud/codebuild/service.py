"""CodeBuild: StartBuild runs the buildspec for real (builds.py); BatchGetBuilds shows its phases, status and log.

The call the CodePipeline engine makes for a build action (blocking):

    cloud.service("codebuild").run_build(project_name, source_zip, env_overrides=None, output_location=None, *,
                                         source_version=None, buildspec=None, initiator=None,
                                         timeout_minutes=None, region=None) -> dict

- source_zip: the input artifact: "s3://bucket/key" (downloaded with the project's service role, as CodeBuild
  downloads a CODEPIPELINE source), zip bytes or the path of a .zip (None: the project's own source);
- env_overrides: {name: value}, or CodeBuild's [{"name", "value", "type"}] list;
- output_location: "s3://bucket/key" where the zipped primary artifacts go, or {output artifact name: "s3://..."}
  (the first the primary artifacts, the others the buildspec's secondary-artifacts of that identifier); None: the
  project's artifacts settings;
- returns the build as BatchGetBuilds shows it, plus "artifactLocation" (s3://bucket/key or None) and
  "logPath" (the local log file). buildStatus is SUCCEEDED, FAILED, FAULT, STOPPED or TIMED_OUT.

The log is <state>/logs/codebuild/<project>/<uuid>.log (BatchGetBuilds: logs.deepLink is its file:// URL) and goes,
as the build runs, to CloudWatch Logs where CodeBuild puts it: the project's logsConfig group (default
/aws/codebuild/<project>), stream <streamName prefix>/<uuid> (or <uuid>).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..services import Service
from .builds import Build
from .exceptions import CodeBuildError
from .models import PastBuild, env_list
from .responses import CodeBuildResponses

DEFAULT_TIMEOUT_MINUTES = 60


class CodeBuildService(Service):
    name = "codebuild"
    responses_class = CodeBuildResponses

    def start(self) -> None:
        self.builds: dict[str, Build] = {}
        self.numbers: dict[str, int] = {}
        self.lock = threading.Lock()

    def project(self, name: str, region: str) -> tuple[Any, dict[str, Any]]:
        backend = self.cloud.backend("codebuild", region)
        project = backend.codebuild_projects.get(name)
        if project is None:
            for candidate in backend.codebuild_projects.values():
                if candidate.arn == name:
                    project = candidate
        if project is None:
            raise CodeBuildError("ResourceNotFoundException", f"Project cannot be found: arn:aws:codebuild:{region}:"
                                                              f"{backend.account_id}:project/{name}")
        return backend, project.project_metadata

    def start_build(self, project_name: str, region: str, *, source_type: str | None = None,
                    source_location: str | None = None, source_zip: bytes | str | Path | None = None,
                    source_version: str | None = None, buildspec: str | None = None, env_overrides: Any = None,
                    artifacts: dict[str, Any] | None = None, output_location: str | dict[str, str] | None = None,
                    timeout_minutes: int | None = None, initiator: str | None = None) -> Build:
        backend, project = self.project(project_name, region)
        source = dict(project.get("source") or {"type": "NO_SOURCE"})
        if source_type:
            source["type"] = source_type
        if source_location:
            source["location"] = source_location
        overrides = env_list(env_overrides)
        for item in overrides:
            if "name" not in item or "value" not in item:
                raise CodeBuildError("InvalidInputException", "environmentVariablesOverride items need name and value")
        name = project["name"]
        with self.lock:
            self.numbers[name] = self.numbers.get(name, 0) + 1
            number = self.numbers[name]
        build = Build(self, project, region, backend.account_id, source=source, source_zip=source_zip,
                      source_version=source_version, buildspec=buildspec, env_overrides=overrides,
                      artifacts=artifacts or project.get("artifacts") or {"type": "NO_ARTIFACTS"},
                      output_location=output_location,
                      timeout_minutes=int(timeout_minutes or project.get("timeoutInMinutes") or DEFAULT_TIMEOUT_MINUTES),
                      initiator=initiator or "localcloud", number=number)
        self.builds[build.id] = build
        backend.build_history.setdefault(name, []).append(build.id)
        build.write(f"build {build.id} of project {name}")
        self.cloud.spawn(f"codebuild-{build.id}", build.run)
        return build

    def snapshot(self) -> dict[str, Any]:
        return {"numbers": dict(self.numbers),
                "builds": {i: (b.record, b.log_path, b.artifact_location) for i, b in list(self.builds.items())}}

    def restore(self, state: dict[str, Any] | None) -> None:
        if not state:
            return
        self.numbers.update(state["numbers"])
        for build_id, (record, log_path, artifact_location) in state["builds"].items():
            past = PastBuild(record, log_path, artifact_location)
            if not record.get("buildComplete"):
                past.interrupted()
            self.builds[build_id] = past

    def reset(self) -> None:
        for build in list(self.builds.values()):
            if not build.done.is_set():
                build.stop()
        with self.lock:
            self.builds.clear()
            self.numbers.clear()

    def stop(self) -> None:
        for build in list(self.builds.values()):
            if not build.done.is_set():
                build.stop()
        super().stop()

    def run_build(self, project_name: str, source_zip: bytes | str | Path | None, env_overrides: Any = None,
                  output_location: str | dict[str, str] | None = None, *, source_version: str | None = None,
                  buildspec: str | None = None, initiator: str | None = None, timeout_minutes: int | None = None,
                  region: str | None = None) -> dict[str, Any]:
        """Run one build of `project_name` to its end (see the module's docstring)."""
        build = self.start_build(project_name, region or self.cloud.region, source_zip=source_zip,
                                 source_version=source_version, buildspec=buildspec, env_overrides=env_overrides,
                                 output_location=output_location, timeout_minutes=timeout_minutes,
                                 initiator=initiator or "codepipeline")
        build.done.wait()
        return {**build.view(), "artifactLocation": build.artifact_location, "logPath": str(build.log_path)}
