"""What SageMaker's training and processing jobs share on the local cloud: a local /opt/ml tree under
<state>/<kind>/<job>, S3 data in and out, the image run (the images service says which context and how) with its
maximum runtime and its stop, the log <state>/logs/<kind>/<job>.log with the local cloud's notes, and its copy in
CloudWatch Logs where SageMaker puts it (stream <job>/algo-1-<epoch seconds of the start>).
"""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..images.runs import Run
from ..logstreams import Follower, follow
from .exceptions import JobError
from .models import split_s3

if TYPE_CHECKING:
    from .service import SageMakerService

STOP_GRACE_S = 10


def exit_text(code: int) -> str:
    """How a process ended, in words: killed by a signal is said so (a container reports 128 + the signal)."""
    number = -code if code < 0 else code - 128 if code > 128 else 0
    if number:
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"was killed ({name}) with exit code {code}"
    return f"exited with code {code}"


def no_objects_reason(uri: str, region: str, what: str = "input data source") -> str:
    bucket, _ = split_s3(uri)
    return (f'ClientError: No S3 objects found under S3 URL "{uri}" given in {what}. Please ensure that the bucket '
            f'exists in the selected region ({region}), that objects exist under that S3 prefix, and that the role '
            f'has "s3:ListBucket" permissions on bucket "{bucket}".')


class Job:
    """One job's run: its folder, log, S3 client, image run and stop; subclasses keep moto's record in step."""

    kind: ClassVar[str] = ""        # the folder under the state folder and logs/: "training", "processing"
    log_group: ClassVar[str] = ""

    def __init__(self, service: "SageMakerService", name: str, region: str,
                 credentials: dict[str, str] | None = None):
        self.service = service
        self.cloud = service.cloud
        self.name, self.region = name, region
        self.credentials = credentials
        self.root = self.cloud.state_dir / self.kind / name
        self.log_path = self.cloud.log_path(self.kind, name)
        self.run_handle: Run | None = None
        self.stop_requested = threading.Event()
        self.done = threading.Event()
        self.started = time.monotonic()
        self.log_stream: str | None = None
        self.follower: Follower | None = None

    def s3(self) -> Any:
        """S3 as the job sees it: with its role's credentials when it has them."""
        return self.cloud.client("s3", self.region, credentials=self.credentials)

    def note(self, text: str) -> None:
        with open(self.log_path, "a") as out:
            out.write(f"[localcloud] {time.strftime('%H:%M:%S')} (+{time.monotonic() - self.started:.2f} s) {text}\n")

    def fresh_root(self, *folders: str) -> None:
        if self.root.exists():
            shutil.rmtree(self.root)
        for folder in folders:
            (self.root / folder).mkdir(parents=True, exist_ok=True)

    def follow_logs(self) -> None:
        self.log_stream = f"{self.name}/algo-1-{int(time.time())}"
        self.follower = follow(self.cloud, self.region, self.log_group, self.log_stream, self.log_path)

    def stop_logs(self) -> None:
        if self.follower is not None:
            self.follower.stop()

    def wait(self, max_runtime: float) -> tuple[int | None, bool]:
        """Wait for the image's run within the job's maximum runtime (stopping it past that); (code, timed out)."""
        assert self.run_handle is not None
        if self.stop_requested.is_set():
            self.run_handle.stop(STOP_GRACE_S)
        code = self.run_handle.wait(max(0.0, max_runtime - (time.monotonic() - self.started)))
        if code is not None:
            return code, False
        self.note(f"MaxRuntimeInSeconds ({max_runtime:g}) exceeded: stopping the container")
        return self.run_handle.stop(STOP_GRACE_S), True

    def logs_text(self) -> str:
        return f"group {self.log_group}, stream {self.log_stream} (locally {self.log_path})"

    # S3.
    def objects(self, uri: str, data_type: str = "S3Prefix") -> list[tuple[str, str, str]]:
        """(bucket, key, path relative to the target folder) of what an S3 data source names."""
        if data_type == "ManifestFile":
            return self._manifest_objects(uri)
        return self._prefix_objects(uri)

    def download(self, objects: list[tuple[str, str, str]], target: Path) -> None:
        s3 = self.s3()
        target.mkdir(parents=True, exist_ok=True)
        for bucket, key, rel in objects:
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                s3.download_file(bucket, key, str(path))
            except Exception as exc:
                raise JobError(f"ClientError: cannot read s3://{bucket}/{key}: {exc}") from exc

    def upload(self, path: Path, uri: str) -> None:
        bucket, key = split_s3(uri)
        try:
            self.s3().upload_file(str(path), bucket, key)
        except Exception as exc:
            raise JobError(f"ClientError: cannot upload {path.name} to {uri}: {exc}") from exc

    def _prefix_objects(self, uri: str) -> list[tuple[str, str, str]]:
        bucket, prefix = split_s3(uri)
        s3 = self.s3()
        # s3://b/run/input/training and s3://b/run/input/training/ both put training/train.csv at the channel's
        # root, as SageMaker does; a prefix that ends inside a name keeps the path from its last folder.
        folder = prefix if prefix.endswith("/") or not prefix else prefix + "/"
        base = prefix[:prefix.rfind("/") + 1]
        found = []
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if key.endswith("/"):
                        continue
                    found.append((bucket, key, key[len(folder):] if key.startswith(folder) else key[len(base):]))
        except s3.exceptions.NoSuchBucket:
            return []
        except Exception as exc:
            raise JobError(f"ClientError: cannot list {uri}: {exc}") from exc
        return found

    def _manifest_objects(self, uri: str) -> list[tuple[str, str, str]]:
        bucket, key = split_s3(uri)
        try:
            entries = json.loads(self.s3().get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception as exc:
            raise JobError(f"ClientError: cannot read the manifest file {uri}: {exc}") from exc
        prefix = next((e["prefix"] for e in entries if isinstance(e, dict) and "prefix" in e), None)
        if not prefix:
            raise JobError(f'ClientError: the manifest file {uri} has no {{"prefix": "s3://..."}} entry')
        prefix_bucket, prefix_key = split_s3(prefix)
        return [(prefix_bucket, prefix_key + rel, rel) for rel in entries if isinstance(rel, str)]

    def stop(self) -> None:
        self.stop_requested.set()
        if self.run_handle is not None:
            self.run_handle.stop(STOP_GRACE_S)
