"""CodeBuild's state on the local cloud: a build as BatchGetBuilds shows it."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any


def env_list(overrides: Any) -> list[dict[str, str]]:
    """{name: value} or CodeBuild's [{"name", "value", "type"}] as the list form."""
    if not overrides:
        return []
    if isinstance(overrides, dict):
        return [{"name": str(k), "value": str(v), "type": "PLAINTEXT"} for k, v in overrides.items()]
    return [dict(item) for item in overrides]


def build_logs(project: dict[str, Any], region: str, account: str, build_uuid: str, log_path: Path) -> dict[str, Any]:
    """Where CodeBuild puts a build's log: the project's logsConfig group (default /aws/codebuild/<project>), in a
    stream named by the build's id, under the project's stream name prefix when it has one."""
    setting = dict((project.get("logsConfig") or {}).get("cloudWatchLogs") or {})
    s3_logs = (project.get("logsConfig") or {}).get("s3Logs") or {"status": "DISABLED"}
    if str(setting.get("status", "ENABLED")).upper() != "ENABLED":
        return {"deepLink": log_path.as_uri(), "cloudWatchLogs": {"status": "DISABLED"}, "s3Logs": s3_logs}
    group = setting.get("groupName") or f"/aws/codebuild/{project['name']}"
    stream = f"{setting['streamName']}/{build_uuid}" if setting.get("streamName") else build_uuid
    return {
        "groupName": group,
        "streamName": stream,
        "deepLink": log_path.as_uri(),
        "cloudWatchLogsArn": f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream}",
        "cloudWatchLogs": {"status": "ENABLED", "groupName": group, "streamName": stream},
        "s3Logs": s3_logs,
    }


class BuildRecord(dict):
    """One build's record, in BatchGetBuilds' shape: its phases, status, logs and exported variables."""

    @classmethod
    def new(cls, build_id: str, region: str, account: str, number: int, project: dict[str, Any],
            source: dict[str, Any], source_version: str | None, env_overrides: list[dict[str, str]], log_path: Path,
            stream: str, timeout_minutes: int, initiator: str) -> "BuildRecord":
        now = time.time()
        record = cls({
            "id": build_id,
            "arn": f"arn:aws:codebuild:{region}:{account}:build/{build_id}",
            "buildNumber": number,
            "startTime": now,
            "currentPhase": "SUBMITTED",
            "buildStatus": "IN_PROGRESS",
            "sourceVersion": source_version or project.get("sourceVersion"),
            "projectName": project["name"],
            "phases": [],
            "source": source,
            "secondarySources": [],
            "secondarySourceVersions": [],
            "artifacts": {},
            "secondaryArtifacts": [],
            "cache": project.get("cache") or {"type": "NO_CACHE"},
            "environment": {**(project.get("environment") or {}),
                            "environmentVariables": (project.get("environment") or {}).get(
                                "environmentVariables", []) + env_overrides},
            "serviceRole": project.get("serviceRole"),
            "logs": build_logs(project, region, account, stream, log_path),
            "timeoutInMinutes": timeout_minutes,
            "queuedTimeoutInMinutes": project.get("queuedTimeoutInMinutes") or 480,
            "buildComplete": False,
            "initiator": initiator,
            "encryptionKey": project.get("encryptionKey"),
            "exportedEnvironmentVariables": [],
        })
        for phase in ("SUBMITTED", "QUEUED"):
            record["phases"].append({"phaseType": phase, "phaseStatus": "SUCCEEDED", "startTime": now,
                                     "endTime": now, "durationInSeconds": 0})
        return record

    def begin(self, phase: str) -> None:
        self["currentPhase"] = phase
        self["phases"].append({"phaseType": phase, "startTime": time.time()})

    def end(self, status: str, code: str = "", message: str = "") -> dict[str, Any]:
        entry = self["phases"][-1]
        entry["endTime"] = time.time()
        entry["durationInSeconds"] = int(round(entry["endTime"] - entry["startTime"]))
        entry["phaseStatus"] = status
        if code or message:
            entry["contexts"] = [{"statusCode": code, "message": message}]
        return entry

    def view(self) -> dict[str, Any]:
        return json.loads(json.dumps(self, default=str))


class PastBuild:
    """A build from before the local cloud restarted: its record, as BatchGetBuilds shows it."""

    def __init__(self, record: BuildRecord, log_path: Path, artifact_location: str | None):
        self.record, self.log_path, self.artifact_location = record, log_path, artifact_location
        self.id = record["id"]
        self.done = threading.Event()
        self.done.set()

    def view(self) -> dict[str, Any]:
        return self.record.view()

    def stop(self) -> None:
        """It ended already."""

    def interrupted(self) -> None:
        """The build ran when the local cloud stopped: it ends FAULT, as a build whose host went away does."""
        now = time.time()
        if self.record["phases"] and "endTime" not in self.record["phases"][-1]:
            self.record.end("FAILED", "CLIENT_ERROR", "the local cloud stopped while the build ran")
        self.record.update({"buildStatus": "FAULT", "buildComplete": True, "currentPhase": "COMPLETED",
                            "endTime": now})
