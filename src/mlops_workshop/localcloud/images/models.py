"""What the local cloud keeps about images: URIs parsed, build contexts, and the images CodeBuild built and pushed
(ECR in moto holds only manifests, so the local cloud keeps which context each image stands for)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exceptions import ImageError

ECR_HOST_MARK = ".dkr.ecr."
_IGNORED = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}


@dataclass(frozen=True)
class ImageRef:
    registry: str | None
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def is_ecr(self) -> bool:
        return bool(self.registry and ECR_HOST_MARK in self.registry)

    @property
    def ecr_registry(self) -> tuple[str, str] | None:
        """The ECR registry's account and region (None: not an ECR image)."""
        if not self.is_ecr or not self.registry:
            return None
        account, rest = self.registry.split(ECR_HOST_MARK, 1)
        return account, rest.split(".", 1)[0]


def parse_image_uri(uri: str) -> ImageRef:
    """`123456789012.dkr.ecr.us-east-1.amazonaws.com/abalone:latest` -> registry, repository, tag/digest."""
    text = uri.strip()
    if not text:
        raise ImageError("an empty image URI; give one like ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG")
    registry = None
    first, _, rest = text.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, text = first, rest
    digest = tag = None
    if "@" in text:
        text, digest = text.split("@", 1)
    if ":" in text.rsplit("/", 1)[-1]:
        text, tag = text.rsplit(":", 1)
    if not digest and not tag:
        tag = "latest"
    return ImageRef(registry, text, tag, digest)


def context_digest(context: Path) -> str:
    """A hash of a build context's files, so that an engine image is built once per content."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file() and not _IGNORED & set(p.parts)):
        rel = path.relative_to(context).as_posix()
        if rel.startswith("build-ca/"):
            continue
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass
class ResolvedImage:
    uri: str
    context: Path
    rule: str
    engine_image: str | None = None
    program: list[str] | None = None    # an image the local cloud provides: the command it runs instead


class ImageRecords:
    """The images CodeBuild's `docker` built and pushed: tag -> context, and pushed repository:tag/digest."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @contextmanager
    def _locked(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self.read()
            yield data
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=2))
            os.replace(tmp, self.path)

    def read(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {"tags": {}, "pushed": []}
        return json.loads(self.path.read_text())

    def record_tag(self, ref: str, context: str, image_id: str | None) -> None:
        with self._locked() as data:
            data["tags"][_norm(ref)] = {"context": context, "image_id": image_id}

    def tag_of(self, ref: str) -> dict[str, Any] | None:
        return self.read()["tags"].get(_norm(ref))

    def record_push(self, entry: dict[str, Any]) -> None:
        with self._locked() as data:
            data["pushed"].append(entry)

    def pushed(self, ref: ImageRef) -> dict[str, Any] | None:
        for entry in reversed(self.read()["pushed"]):
            if entry["repository"] != ref.repository:
                continue
            if (ref.digest and entry.get("digest") == ref.digest) or (
                    not ref.digest and entry.get("tag") == ref.tag):
                return entry
        return None


def _norm(ref: str) -> str:
    parsed = parse_image_uri(ref)
    where = f"{parsed.registry}/" if parsed.registry else ""
    return f"{where}{parsed.repository}@{parsed.digest}" if parsed.digest else f"{where}{parsed.repository}:{parsed.tag}"
