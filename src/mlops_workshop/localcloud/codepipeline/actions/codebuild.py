"""CodeBuild actions: a build of the project on the primary input artifact, its artifacts the action's outputs and
its exported variables the action's."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from ..exceptions import ActionFailed
from ..models import ActionExecution, ActionResult

if TYPE_CHECKING:
    from ..engine import PipelineEngine


def codebuild_build(rt: "PipelineEngine", run: ActionExecution) -> ActionResult:
    config = run.resolved_configuration
    project = config.get("ProjectName")
    if not project:
        raise ActionFailed("A CodeBuild action needs ProjectName", "ConfigurationError")
    inputs = rt.inputs(run)
    if not inputs:
        raise ActionFailed(f"CodeBuild action {run.name} has no input artifact", "ConfigurationError")
    primary = next((a for a in inputs if a.name == config.get("PrimarySource")), inputs[0])
    env: list[dict[str, str]] = []
    if config.get("EnvironmentVariables"):
        try:
            env = json.loads(config["EnvironmentVariables"])
            assert isinstance(env, list)
        except (ValueError, AssertionError):
            raise ActionFailed("EnvironmentVariables must be a JSON list of {name, value, type}",
                               "ConfigurationError") from None
    env = [{"name": e["name"], "value": str(e.get("value", "")), "type": e.get("type", "PLAINTEXT")} for e in env]
    outputs = [rt.new_artifact(run, item["name"]) for item in run.action.get("outputArtifacts") or []]
    codebuild = rt.cloud.service("codebuild")
    # CodeBuild reads the input artifact and writes the outputs itself, with the project's service role.
    source = f"s3://{primary.bucket}/{primary.key}"
    output_location = {o.name: f"s3://{o.bucket}/{o.key}" for o in outputs} or None
    region = run.action.get("region") or run.execution.region
    build = _call_with_timeout(
        rt, run, lambda: codebuild.run_build(project, source, env, output_location, source_version=primary.revision,
                                   initiator=f"codepipeline/{run.execution.name}", region=region),
        rt.timeout_for(run.action), f"CodeBuild project {project} finished no build")
    build = build if isinstance(build, dict) else getattr(build, "__dict__", {})
    build_id = build.get("id") or build.get("buildId")
    run.external_id = build_id
    status = build.get("buildStatus") or build.get("status")
    if status != "SUCCEEDED":
        raise ActionFailed(_build_failure(project, build), "JobFailed", build_id)
    for artifact in outputs:
        rt.record_output(run, artifact)
    variables = {item["name"]: item.get("value", "") for item in build.get("exportedEnvironmentVariables") or []}
    return ActionResult(summary=f"Build {build_id} of {project} succeeded", external_id=build_id,
                        variables=variables)


def _build_failure(project: str, build: dict[str, Any]) -> str:
    status = build.get("buildStatus") or build.get("status") or "FAILED"
    for phase in build.get("phases") or []:
        if phase.get("phaseStatus") not in (None, "SUCCEEDED"):
            contexts = phase.get("contexts") or [{}]
            context = contexts[0] if contexts else {}
            return (f"Build terminated with state: {status}. Phase: {phase.get('phaseType')}, "
                    f"Code: {context.get('statusCode', status)}, Message: {context.get('message', '')}").strip()
    message = build.get("failureMessage") or build.get("message") or "no phase reported an error"
    return f"Build of {project} terminated with state: {status}: {message}"


def _call_with_timeout(rt: "PipelineEngine", run: ActionExecution, call: Any, timeout: float, what: str) -> Any:
    """Run a blocking executor call in a thread so that the action's timeout and a stop still apply."""
    done = threading.Event()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc
        finally:
            done.set()
    threading.Thread(target=target, daemon=True, name=f"codepipeline-{run.name}").start()
    rt.wait(run, timeout, what, until=done)
    if "error" in box:
        error = box["error"]
        if isinstance(error, ActionFailed):
            raise error
        raise ActionFailed(f"{type(error).__name__}: {error}")
    return box.get("value")
