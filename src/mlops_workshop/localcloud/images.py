"""Images: what runs when SageMaker runs an ECR image URI.

An ECR image is the container built from a build context (a folder with a Dockerfile and the
entrypoints `train` and `serve`). ECR in moto holds only manifests, so the local cloud keeps which
context each image stands for. For an image URI, the first rule that applies gives the context:

1. ``settings["image_contexts"]``: ``{image URI | "repository:tag" | "repository": folder}``;
2. the context of the `docker build` that a CodeBuild build pushed to that repository and tag (or
   digest) with `docker push`: CodeBuild's `docker` records both (in ``<state>/images/images.json``);
3. ``settings["image_context"]``, else the repository's ``container/`` folder.

How an image runs, ``settings["images"]``:

- ``"process"`` (the default, fast): the context's `train` and `serve` run as local processes with this
  Python's virtual environment first on PATH, ``OPT_ML_ROOT`` moving ``/opt/ml`` and
  ``SAGEMAKER_BIND_TO_PORT`` giving each endpoint a free port;
- ``"engine"``: a container engine (mlops_workshop.engine) builds the context into an image once per
  content (or uses the image a build pushed) and runs ``train`` / ``serve`` in containers with the
  job's folder as ``/opt/ml`` and port 8080 published on a free 127.0.0.1 port;
- ``"auto"``: the engine where one can start, else processes.

``settings["engine_dir"]`` keeps the engine's state (default: the kept cache of mlops_workshop.engine).

CodeBuild builds get this module's `docker` first on PATH (``python -m mlops_workshop.localcloud.images
docker ...``): `docker login` to ECR succeeds, `docker build`/`tag` record which context each tag is,
`docker push` to an ECR repository puts a manifest in moto's ECR and records the push (rule 2). With an
engine (privileged builds) every command also runs on it, `docker build` with the host's extra CA
certificates in build-ca/ and the engine's local base image as BASE_IMAGE; without one, other commands
fail with a message saying so.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from mlops_workshop import REPO_ROOT
from mlops_workshop.modelserver import free_port

log = logging.getLogger("mlops_workshop.localcloud.images")

MODES = ("process", "engine", "auto")
ECR_HOST_MARK = ".dkr.ecr."
_IGNORED = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}


class ImageError(RuntimeError):
    """The image cannot run; the message says why and what to do."""


_CLIENTS: dict[tuple[str, str, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()
_SESSION: Any = None


def aws_client(cloud: Any, service: str, region: str | None = None) -> Any:
    """A boto3 client for this cloud, for the executors' own calls. Clients are thread-safe and cached: a new
    one costs a quarter of a second, which a training job would otherwise pay several times."""
    global _SESSION
    from .server import DUMMY_CREDENTIALS
    key = (cloud.endpoint_url, service, region or cloud.region)
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            _SESSION = _SESSION or boto3.session.Session()
            _CLIENTS[key] = _SESSION.client(
                service, endpoint_url=cloud.endpoint_url, region_name=region or cloud.region,
                aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        return _CLIENTS[key]


def venv_bin() -> Path:
    """The bin folder of the Python running the local cloud (not resolved: a venv's python is a link)."""
    return Path(sys.executable).parent


@dataclass(frozen=True)
class ImageRef:
    registry: str | None
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def is_ecr(self) -> bool:
        return bool(self.registry and ECR_HOST_MARK in self.registry)


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


class Run:
    """A running `train` or `serve`: poll, wait, stop. `url` is the serving address for `serve`."""

    url: str | None = None
    log_path: Path

    def poll(self) -> int | None:
        raise NotImplementedError

    def wait(self, timeout: float | None = None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            code = self.poll()
            if code is not None:
                return code
            if deadline is not None and time.monotonic() > deadline:
                return None
            time.sleep(0.1)

    def stop(self, grace: float = 10.0) -> int | None:
        raise NotImplementedError


class ProcessRun(Run):
    def __init__(self, cloud: Any, proc: subprocess.Popen, log_path: Path, url: str | None = None):
        self.cloud, self.proc, self.log_path, self.url = cloud, proc, log_path, url

    def poll(self) -> int | None:
        code = self.proc.poll()
        if code is not None:
            self.cloud.forget(self.proc)
        return code

    def stop(self, grace: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # The group's other members (nginx, gunicorn workers) may outlive the leader's exit.
        _signal_group(self.proc.pid, signal.SIGKILL)
        return self.poll()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class EngineTrainRun(ProcessRun):
    """`docker run IMAGE train` in the foreground, its output appended to the job's log as it comes."""

    def __init__(self, cloud: Any, engine: Any, image: str, opt_ml: Path, env: dict[str, str], log_path: Path):
        self.engine = engine
        self.name = f"localcloud-train-{uuid.uuid4().hex[:10]}"
        args = [shutil.which("docker") or "docker", "run", "--rm", "--name", self.name,
                "--volume", f"{Path(opt_ml).resolve()}:/opt/ml"]
        for key, value in env.items():
            args += ["--env", f"{key}={value}"]
        with open(log_path, "ab") as out:
            proc = cloud.popen(f"train {opt_ml.name} (container {self.name})", [*args, image, "train"],
                               env=engine.env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        super().__init__(cloud, proc, log_path)

    def stop(self, grace: float = 10.0) -> int | None:
        self.engine.docker("stop", "--time", str(int(grace)), self.name, check=False, timeout=grace + 60)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            return super().stop(1)
        return self.poll()


class EngineServeRun(Run):
    def __init__(self, engine: Any, container: Any, log_path: Path):
        self.engine, self.container, self.log_path = engine, container, log_path
        self.url = container.url("").rstrip("/")
        self.code: int | None = None

    def poll(self) -> int | None:
        if self.code is not None:
            return self.code
        if self.engine.is_running(self.container):
            return None
        proc = self.engine.docker("inspect", "--format", "{{.State.ExitCode}}", self.container.name, check=False)
        self.code = int(proc.stdout.strip() or 1)
        self._save_logs()
        return self.code

    def _save_logs(self) -> None:
        with open(self.log_path, "a") as out:
            out.write(self.engine.logs(self.container))

    def stop(self, grace: float = 10.0) -> int | None:
        try:
            if self.code is None:
                self.code = 137
                self.code = self.engine.stop_container(self.container, timeout=grace)
                self._save_logs()
            self.engine.remove_container(self.container)
        except Exception as exc:  # the engine may already be gone (the cloud stops it last)
            log.info("stopping container %s: %s", self.container.name, exc)
        return self.code


class Images:
    """Resolves image URIs to build contexts and runs their `train` and `serve` (processes or an engine)."""

    def __init__(self, cloud: Any):
        self.cloud = cloud
        self.records = ImageRecords(cloud.state_dir / "images" / "images.json")
        self._engine: Any = None
        self._engine_failed: str | None = None
        self._lock = threading.Lock()
        self._build_locks: dict[str, threading.Lock] = {}
        cloud.on_shutdown(self.close)

    @property
    def mode(self) -> str:
        mode = str(self.cloud.settings.get("images", "process")).lower()
        if mode not in MODES:
            raise ImageError(f"setting images={mode!r} is not one of {', '.join(MODES)}")
        return mode

    # The engine.
    def engine(self, required: bool | None = None) -> Any:
        """The started container engine, or None when the mode does not use one (or, in auto, none starts)."""
        mode = self.mode
        if mode == "process":
            return None
        required = mode == "engine" if required is None else required
        with self._lock:
            if self._engine is None and self._engine_failed is None:
                from mlops_workshop.engine import ContainerEngine, engine_cache_dir
                # auto: another workshop engine holding the host's dockerd means processes, not a long wait.
                engine = ContainerEngine(lock_timeout=600 if mode == "engine" else 5)
                ok, why = engine.available()
                if ok:
                    try:
                        state = Path(self.cloud.settings.get("engine_dir") or engine_cache_dir())
                        self._engine = engine.start(state)
                        log.info("container engine at %s", self._engine.host)
                    except Exception as exc:
                        self._engine_failed = f"the container engine did not start: {exc}"
                else:
                    self._engine_failed = why
            if self._engine is None and required:
                raise ImageError(f"settings images=engine, but {self._engine_failed}")
            if self._engine is None and self._engine_failed:
                log.info("no container engine (%s): running images as local processes", self._engine_failed)
            return self._engine

    def close(self) -> None:
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.stop()

    # Which context an image URI stands for.
    def resolve(self, uri: str) -> ResolvedImage:
        ref = parse_image_uri(uri)
        contexts = self.cloud.settings.get("image_contexts") or {}
        for key in (uri, f"{ref.repository}:{ref.tag}" if ref.tag else None, ref.repository):
            if key and key in contexts:
                return ResolvedImage(uri, Path(contexts[key]).resolve(), f"settings image_contexts[{key!r}]")
        pushed = self.records.pushed(ref)
        if pushed:
            return ResolvedImage(uri, Path(pushed["context"]), f"pushed by CodeBuild build {pushed.get('build_id')}",
                                 pushed.get("image_id"))
        default = self.cloud.settings.get("image_context")
        if default:
            return ResolvedImage(uri, Path(default).resolve(), "settings image_context")
        return ResolvedImage(uri, REPO_ROOT / "container", "the repository's container/ folder")

    def _entrypoint(self, image: ResolvedImage, name: str) -> Path:
        path = image.context / name
        if not path.is_file():
            raise ImageError(f"image {image.uri} is the build context {image.context} ({image.rule}), "
                             f"which has no `{name}` entrypoint")
        if not os.access(path, os.X_OK):
            raise ImageError(f"{path} (the `{name}` entrypoint of image {image.uri}) is not executable; "
                             f"chmod +x it")
        return path

    def engine_image(self, image: ResolvedImage) -> str:
        """The engine's image for `image`: the one a build pushed, else its context built (once per content)."""
        engine = self.engine(required=True)
        if image.engine_image and engine.image_exists(image.engine_image):
            return image.engine_image
        if not (image.context / "Dockerfile").is_file():
            raise ImageError(f"image {image.uri} is the build context {image.context} ({image.rule}), "
                             f"which has no Dockerfile")
        tag = f"localcloud/{_slug(parse_image_uri(image.uri).repository)}:{context_digest(image.context)[:16]}"
        with self._lock:
            lock = self._build_locks.setdefault(tag, threading.Lock())
        with lock:
            if not engine.image_exists(tag):
                base = engine.ensure_base_image()
                log_path = self.cloud.log_path("images", tag.replace("/", "-").replace(":", "-"))
                log.info("building %s from %s (log %s)", tag, image.context, log_path)
                engine.build(image.context, tag, base_image=base, log_path=log_path)
        return tag

    # Running.
    def train(self, uri: str, opt_ml: Path, log_path: Path, env: dict[str, str] | None = None) -> Run:
        """Start the image's `train` with `opt_ml` as /opt/ml; its output goes to `log_path`."""
        image = self.resolve(uri)
        engine = self.engine()
        _note(log_path, f"image {uri}: {image.context} ({image.rule}); running "
                        f"{'in the container engine' if engine else 'as a local process'}")
        if engine:
            return EngineTrainRun(self.cloud, engine, self.engine_image(image), opt_ml, dict(env or {}), log_path)
        train = self._entrypoint(image, "train")
        child_env = self.process_env(image, {**(env or {}), "OPT_ML_ROOT": str(opt_ml)})
        with open(log_path, "ab") as out:
            proc = self.cloud.popen(f"train {opt_ml.name}", [str(train)], cwd=image.context, env=child_env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        return ProcessRun(self.cloud, proc, log_path)

    def serve(self, uri: str, opt_ml: Path, log_path: Path, env: dict[str, str] | None = None,
              label: str = "serve") -> Run:
        """Start the image's `serve` with the model in `opt_ml`/model; `run.url` is where it answers."""
        image = self.resolve(uri)
        engine = self.engine()
        _note(log_path, f"image {uri}: {image.context} ({image.rule}); serving "
                        f"{'in the container engine' if engine else 'as a local process'}")
        if engine:
            container = engine.serve(self.engine_image(image), opt_ml / "model", env=dict(env or {}),
                                     name=f"localcloud-{_slug(label)}-{uuid.uuid4().hex[:8]}")
            return EngineServeRun(engine, container, log_path)
        serve = self._entrypoint(image, "serve")
        port = free_port()
        child_env = self.process_env(image, {**(env or {}), "OPT_ML_ROOT": str(opt_ml),
                                             "SAGEMAKER_BIND_TO_PORT": str(port)})
        with open(log_path, "ab") as out:
            proc = self.cloud.popen(label, [str(serve)], cwd=image.context, env=child_env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        return ProcessRun(self.cloud, proc, log_path, url=f"http://127.0.0.1:{port}")

    def process_env(self, image: ResolvedImage, extra: dict[str, str]) -> dict[str, str]:
        env = self.cloud.child_env()
        # As in the image: the venv and the program folder first on PATH, output unbuffered.
        env["PATH"] = os.pathsep.join([str(venv_bin()), str(image.context), env.get("PATH", "")])
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra)
        return env

    # CodeBuild's `docker`.
    def docker_env(self, bin_dir: Path, build_id: str, use_engine: bool = True) -> dict[str, str]:
        """Variables that put the local cloud's `docker` first on PATH for a build (see `docker_main`);
        with `use_engine` (CodeBuild's privileged mode) and an engine, docker commands reach the engine."""
        bin_dir.mkdir(parents=True, exist_ok=True)
        shim = bin_dir / "docker"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mlops_workshop.localcloud.images docker "$@"\n')
        shim.chmod(0o755)
        env = {"LOCALCLOUD_IMAGES_FILE": str(self.records.path), "LOCALCLOUD_BUILD_ID": build_id}
        engine = self.engine(required=False) if use_engine else None
        if engine is not None:
            env.update({k: v for k, v in engine.env.items() if k.startswith("DOCKER_")})
            env["LOCALCLOUD_REAL_DOCKER"] = shutil.which("docker") or "docker"
            try:
                env["LOCALCLOUD_BASE_IMAGE"] = engine.ensure_base_image()
            except Exception as exc:  # a build that names its own base image still works
                log.info("no local base image for builds: %s", exc)
        return env


def _note(log_path: Path, text: str) -> None:
    with open(log_path, "a") as out:
        out.write(f"[localcloud] {text}\n")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text.lower()).strip("-") or "image"


_IMAGES: dict[int, Images] = {}


def for_cloud(cloud: Any) -> Images:
    """The one `Images` of a local cloud."""
    images = _IMAGES.get(id(cloud))
    if images is None or images.cloud is not cloud:
        images = _IMAGES[id(cloud)] = Images(cloud)
        cloud.on_shutdown(lambda: _IMAGES.pop(id(cloud), None))
    return images


# `docker` inside a CodeBuild build: the real client against the cloud's engine when there is one; ECR
# logins and pushes are the local cloud's (its ECR is moto: a push records a manifest, and which
# context the image was built from, so that SageMaker runs that context).
def docker_main(argv: list[str]) -> int:
    records = ImageRecords(Path(os.environ["LOCALCLOUD_IMAGES_FILE"]))
    real = os.environ.get("LOCALCLOUD_REAL_DOCKER")
    command, args = _split_command(argv)
    if command == "login":
        registry = next((a for a in reversed(args) if not a.startswith("-")), "")
        if ECR_HOST_MARK in registry or not real:
            if "--password-stdin" in args:
                sys.stdin.read()
            print("Login Succeeded")
            return 0
    if command == "build":
        return _docker_build(argv, args, records, real)
    if command == "tag" and len([a for a in args if not a.startswith("-")]) == 2:
        source, target = [a for a in args if not a.startswith("-")]
        known = records.tag_of(source)
        if real:
            code = subprocess.call([real, *argv])
            if code:
                return code
        elif not known:
            print(f"Error response from daemon: No such image: {source}", file=sys.stderr)
            return 1
        if known:
            records.record_tag(target, known["context"], known.get("image_id"))
        return 0
    if command == "push":
        refs = [a for a in args if not a.startswith("-")]
        if refs and parse_image_uri(refs[0]).is_ecr:
            return _docker_push(refs[0], records, real)
    if real:
        return subprocess.call([real, *argv])
    print(f"docker {command or ''}: the local cloud runs builds without a container engine (settings "
          f"images=process), so only `docker build`, `tag`, `login` and `push` to its ECR work here; "
          f"start it with images=engine (or auto) to run other docker commands", file=sys.stderr)
    return 1


def _split_command(argv: list[str]) -> tuple[str | None, list[str]]:
    index = 0
    while index < len(argv) and argv[index].startswith("-"):
        index += 2 if argv[index] in ("-H", "--host", "--config", "--context", "-c", "-l", "--log-level") else 1
    if index >= len(argv):
        return None, []
    return argv[index], argv[index + 1:]


def _docker_build(argv: list[str], args: list[str], records: ImageRecords, real: str | None) -> int:
    tags: list[str] = []
    dockerfile = None
    positional: list[str] = []
    takes_value = {"-t", "--tag", "-f", "--file", "--build-arg", "--iidfile", "--label", "--target",
                   "--network", "--platform", "--cache-from", "-m", "--memory", "--shm-size", "--progress",
                   "--secret", "--ssh", "--add-host", "--ulimit", "--cpuset-cpus", "--output", "-o"}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in takes_value:
            value = args[index + 1] if index + 1 < len(args) else ""
            if arg in ("-t", "--tag"):
                tags.append(value)
            elif arg in ("-f", "--file"):
                dockerfile = value
            index += 2
            continue
        if arg.startswith("--tag="):
            tags.append(arg.split("=", 1)[1])
        elif arg.startswith("--file="):
            dockerfile = arg.split("=", 1)[1]
        elif not arg.startswith("-"):
            positional.append(arg)
        index += 1
    if not positional:
        print('"docker build" requires exactly 1 argument (the build context)', file=sys.stderr)
        return 1
    context = Path(positional[-1]).resolve()
    dockerfile_path = Path(dockerfile) if dockerfile else context / "Dockerfile"
    if not dockerfile_path.is_file():
        print(f"unable to prepare context: no Dockerfile at {dockerfile_path}", file=sys.stderr)
        return 1
    image_id = None
    if real:
        code = _real_build(real, argv, args, positional[-1], context, dockerfile_path)
        if code:
            return code
        if tags:
            image_id = subprocess.run([real, "image", "inspect", "--format", "{{.Id}}", tags[0]],
                                      capture_output=True, text=True).stdout.strip() or None
    else:
        image_id = "sha256:" + context_digest(context)
        print(f"(local cloud, no container engine) recorded build context {context}; SageMaker runs its "
              f"train and serve as local processes")
        print(f"Successfully built {image_id[7:19]}")
    for tag in tags:
        records.record_tag(tag, str(context), image_id)
        if not real:
            print(f"Successfully tagged {tag}")
    return 0


def _real_build(real: str, argv: list[str], args: list[str], context_arg: str, context: Path,
                dockerfile: Path) -> int:
    """`docker build` on the engine, as the engine's own builds run here: with the host's extra CA
    certificates in the context's build-ca/ (a copy; a TLS-intercepting proxy) and, where the Dockerfile takes
    a BASE_IMAGE the call does not set, the engine's local base image (no registry needed)."""
    import tempfile

    from mlops_workshop.engine import host_extra_cas
    extra: list[str] = []
    base = os.environ.get("LOCALCLOUD_BASE_IMAGE")
    if base and "ARG BASE_IMAGE" in dockerfile.read_text(errors="replace") and not any(
            a.startswith("BASE_IMAGE=") for a in args):
        extra = ["--build-arg", f"BASE_IMAGE={base}"]
    at = argv.index("build") + 1
    rebuilt = argv[:at] + extra + argv[at:]
    cas = host_extra_cas()
    if not (context / "build-ca").is_dir() or not cas:
        return subprocess.call([real, *rebuilt])
    with tempfile.TemporaryDirectory(prefix="localcloud-build-") as tmp:
        copy = Path(tmp) / "context"
        shutil.copytree(context, copy, symlinks=True)
        for index, ca in enumerate(cas):
            shutil.copyfile(ca, copy / "build-ca" / f"{index:02d}-{ca.stem}.crt")
        last = len(rebuilt) - 1 - rebuilt[::-1].index(context_arg)
        rebuilt[last] = str(copy)
        return subprocess.call([real, *rebuilt])


def _docker_push(ref_text: str, records: ImageRecords, real: str | None) -> int:
    ref = parse_image_uri(ref_text)
    known = records.tag_of(ref_text)
    if not known:
        print(f"An image does not exist locally with the tag: {ref_text}", file=sys.stderr)
        return 1
    config_digest = known.get("image_id") or "sha256:" + hashlib.sha256(known["context"].encode()).hexdigest()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 0,
                   "digest": config_digest},
        "layers": [],
    }, separators=(",", ":"))
    region = ref.registry.split(ECR_HOST_MARK, 1)[1].split(".", 1)[0] if ref.registry else None
    ecr = boto3.client("ecr", region_name=region or os.environ.get("AWS_DEFAULT_REGION"))
    try:
        image = ecr.put_image(repositoryName=ref.repository, imageManifest=manifest,
                              imageTag=ref.tag or "latest")["image"]
        digest = image["imageId"]["imageDigest"]
    except ecr.exceptions.ImageAlreadyExistsException:
        found = ecr.describe_images(repositoryName=ref.repository, imageIds=[{"imageTag": ref.tag or "latest"}])
        digest = found["imageDetails"][0]["imageDigest"]
    except ecr.exceptions.RepositoryNotFoundException:
        print(f"name unknown: The repository with name '{ref.repository}' does not exist in the registry "
              f"{ref.registry}", file=sys.stderr)
        return 1
    records.record_push({"repository": ref.repository, "tag": ref.tag, "digest": digest,
                         "context": known["context"], "image_id": known.get("image_id"),
                         "registry": ref.registry, "build_id": os.environ.get("LOCALCLOUD_BUILD_ID"),
                         "time": time.time()})
    print(f"The push refers to repository [{ref.registry}/{ref.repository}]")
    print(f"{ref.tag or 'latest'}: digest: {digest} size: {len(manifest)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["docker"]:
        return docker_main(argv[1:])
    print("usage: python -m mlops_workshop.localcloud.images docker ARGS (CodeBuild's docker)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["ImageError", "ImageRef", "Images", "ResolvedImage", "Run", "aws_client", "for_cloud", "free_port",
           "parse_image_uri"]
