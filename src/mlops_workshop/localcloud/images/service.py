"""Images: what runs when SageMaker runs an ECR image URI.

An ECR image is the container built from a build context (a folder with a Dockerfile and the
entrypoints `train` and `serve`). ECR in moto holds only manifests, so the local cloud keeps which
context each image stands for. `pull(uri, role_arn)` is what SageMaker does for a training job, a processing job or
a model: the first rule that applies gives the context:

1. ``settings["image_contexts"]``: ``{image URI | "repository:tag" | "repository": folder}``: images the local
   cloud is given from outside its ECR (as AWS's own images are in an account);
2. an image of the local ECR (the repository and the tag or digest must be there, else SageMaker's "Cannot find
   repository" / "Cannot find the requested image"): the context of the `docker build` that a CodeBuild build pushed
   there with `docker push` (CodeBuild's `docker` records both, in ``<state>/images/images.json``), else
   ``settings["image_context"]``; an image whose context is unknown is refused, never replaced by another;

and the execution role must be allowed what SageMaker's pull needs (ecr:GetAuthorizationToken, and
ecr:BatchCheckLayerAvailability, BatchGetImage and GetDownloadUrlForLayer on the repository).

AWS's own images (published.py: built-in algorithms, framework containers, Model Monitor's analyzer, each in the
registry AWS publishes it from) cannot be pulled here. Some are provided by the local cloud instead, as a program of its
own (a service registers one with `provide`): SageMaker's Model Monitor analyzer, which runs as a local process in
every mode. The others are accepted where SageMaker accepts them (`check`: CreateModel, CreateTrainingJob; SageMaker
pulls its built-in algorithms with its own credentials, so the role is not asked) and fail when a job or an endpoint
runs them, unless ``settings["image_contexts"]`` names a build context for them.

How an image runs, ``settings["images"]``:

- ``"process"`` (the default, fast): the context's `train` and `serve` run as local processes with this
  Python's virtual environment first on PATH, where the Dockerfile makes them the SageMaker way (dockerfile.py:
  executables copied from the context onto the image's PATH, no ENTRYPOINT; else refused, saying to use the engine),
  ``OPT_ML_ROOT`` moving ``/opt/ml`` and
  ``SAGEMAKER_BIND_TO_PORT`` giving each endpoint a free port;
- ``"engine"``: a container engine (`engine.py`) builds the context into an image once per
  content (or uses the image a build pushed) and runs ``train`` / ``serve`` in containers with the
  job's folder as ``/opt/ml`` and port 8080 published on a free 127.0.0.1 port;
- ``"auto"``: the engine where one can start, else processes.

A processing job's image (`process`) runs its ContainerEntrypoint and ContainerArguments, or the Dockerfile's
ENTRYPOINT and CMD; as a local process, /opt/ml in the command and the environment is moved to the job's folder
(``OPT_ML_ROOT`` says where, for a program that names /opt/ml itself) and /opt/program is the build context.

``settings["engine_dir"]`` keeps the engine's state (default: the kept cache of engine.py).

CodeBuild builds get `docker.py` first on PATH as `docker` (``python -m mlops_workshop.localcloud.images.docker``):
`docker login` to ECR succeeds, `docker build`/`tag` record which context each tag is,
`docker push` to an ECR repository puts a manifest in moto's ECR and records the push (rule 2). With an
engine (privileged builds) every command also runs on it, `docker build` with the host's extra CA
certificates in build-ca/ and the engine's local base image as BASE_IMAGE; without one, other commands
fail with a message saying so.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from mlops_workshop.modelserver import ModelServer

from ..services import Service
from . import published
from .engine import ContainerEngine, engine_cache_dir
from .dockerfile import entrypoint_and_cmd, process_entrypoint
from .exceptions import ImageError, ImageNotFound
from .models import ImageRecords, ImageRef, ResolvedImage, context_digest, parse_image_uri
from .runs import EngineJobRun, EngineServeRun, ProcessRun, Run, ServeRun

log = logging.getLogger("mlops_workshop.localcloud.images")

MODES = ("process", "engine", "auto")
# What SageMaker's pull of an ECR image needs of the execution role, beyond ecr:GetAuthorizationToken.
PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


def venv_bin() -> Path:
    """The bin folder of the Python running the local cloud (not resolved: a venv's python is a link)."""
    return Path(sys.executable).parent



class ImagesService(Service):
    """Resolves image URIs to build contexts and runs their `train` and `serve` (processes or an engine)."""

    name = "images"

    def start(self) -> None:
        cloud = self.cloud
        self.records = ImageRecords(cloud.state_dir / "images" / "images.json")
        self._engine: Any = None
        self._engine_failed: str | None = None
        self._lock = threading.Lock()
        self._build_locks: dict[str, threading.Lock] = {}
        self._programs: dict[str, list[str]] = {}

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

    def stop(self) -> None:
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.stop()

    # Which context an image URI stands for, pulled as SageMaker pulls it.
    def provide(self, repository: str, program: list[str]) -> None:
        """Run `program` for AWS's image `repository`, in the registries AWS publishes it from."""
        self._programs[repository] = program

    def check(self, uri: str, role_arn: str | None, region: str | None = None) -> None:
        """What SageMaker checks of an image when a model or a training job is created: AWS's published images are
        accepted as they are (they fail at run time here, unless provided), any other is pulled as `pull` does."""
        ref = parse_image_uri(uri)
        if published.publishes(ref) and self._provided(uri, ref) is None:
            return
        self.pull(uri, role_arn, region)

    def pull(self, uri: str, role_arn: str | None, region: str | None = None) -> ResolvedImage:
        """The image SageMaker runs for `uri` (a training job, a processing job, a model), pulled as the execution role
        `role_arn` pulls it: ImageNotFound, with SageMaker's message, when the local ECR has no such repository or
        tag (or digest), or when the role may not pull it."""
        ref = parse_image_uri(uri)
        image = self._provided(uri, ref)
        if image is None and published.publishes(ref):
            raise ImageNotFound(f"Cannot pull {uri}: it is AWS's image {ref.repository}, which the local cloud "
                                "cannot reach from here; run an image of your own ECR, or name a build context for "
                                "it in settings image_contexts")
        if image is None:
            image = self._from_ecr(uri, ref, role_arn, region)
        if role_arn:
            self._judge_pull(uri, ref, role_arn, region)
        return image

    def resolve(self, uri: str) -> ResolvedImage:
        """The build context `uri` stands for, with no ECR or IAM check (rules 1 to 3 of this module's docstring)."""
        ref = parse_image_uri(uri)
        image = self._provided(uri, ref) or self._pushed(uri, ref)
        if image is None:
            raise ImageNotFound(f"image {uri}: the local cloud does not know what it was built from")
        return image

    def _provided(self, uri: str, ref: ImageRef) -> ResolvedImage | None:
        program = self._programs.get(ref.repository)
        if program is not None and published.publishes(ref):
            return ResolvedImage(uri, venv_bin(), "AWS's image, provided by the local cloud (it cannot be pulled "
                                 "here)", program=list(program))
        contexts = self.cloud.settings.get("image_contexts") or {}
        for key in (uri, f"{ref.repository}:{ref.tag}" if ref.tag else None, ref.repository):
            if key and key in contexts:
                return ResolvedImage(uri, Path(contexts[key]).resolve(), f"settings image_contexts[{key!r}]")
        return None

    def _pushed(self, uri: str, ref: ImageRef) -> ResolvedImage | None:
        pushed = self.records.pushed(ref)
        if pushed:
            return ResolvedImage(uri, Path(pushed["context"]), f"pushed by CodeBuild build {pushed.get('build_id')}",
                                 pushed.get("image_id"))
        default = self.cloud.settings.get("image_context")
        if default:
            return ResolvedImage(uri, Path(default).resolve(), "settings image_context")
        return None

    def _from_ecr(self, uri: str, ref: ImageRef, role_arn: str | None, region: str | None) -> ResolvedImage:
        account, ecr_region = _registry(ref, region or self.cloud.region)
        pull = (f"Please check if your ECR {{what}} exists and role {role_arn} has proper pull permissions for "
                f"SageMaker: {', '.join(PULL_ACTIONS)}")
        if account is None:
            raise ImageNotFound(f"Invalid image {uri}: the local cloud runs the images of its own ECR "
                                "(ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG) and those settings "
                                "image_contexts names")
        from moto.ecr.exceptions import ImageNotFoundException, RepositoryNotFoundException
        backend = self.cloud.backend("ecr", ecr_region, account)
        try:
            backend.describe_images(ref.repository, account, [{"imageDigest": ref.digest} if ref.digest
                                                              else {"imageTag": ref.tag}])
        except RepositoryNotFoundException:
            raise ImageNotFound(f"Cannot find repository: {ref.repository} in registry ID: {account} "
                                + pull.format(what="repository")) from None
        except ImageNotFoundException:
            raise ImageNotFound(f"Cannot find the requested image: {uri} with tag: {ref.tag or 'null'} and digest: "
                                f"{ref.digest or 'null'}. " + pull.format(what="image")) from None
        image = self._pushed(uri, ref)
        if image is None:
            raise ImageNotFound(f"image {uri} is in the local ECR, but the local cloud does not know what it was "
                                "built from: push it from a CodeBuild build (docker build and docker push), or name "
                                "its build context in settings image_contexts")
        return image

    def _judge_pull(self, uri: str, ref: ImageRef, role_arn: str, region: str | None) -> None:
        """What SageMaker's pull needs of the execution role: a token, and the repository's image and layers."""
        from ..iam.exceptions import AssumeRoleRefused
        iam = self.cloud.service("iam")
        if not iam.enforcing:
            return
        account, ecr_region = _registry(ref, region or self.cloud.region)
        repository = f"arn:aws:ecr:{ecr_region}:{account or iam.account}:repository/{ref.repository}"
        try:
            principal = iam.principal_for_credentials(iam.credentials_for(role_arn, "sagemaker.amazonaws.com"))
        except AssumeRoleRefused:
            raise ImageNotFound(f"Could not assume role {role_arn}. Please ensure that the role exists and allows "
                                "principal 'sagemaker.amazonaws.com' to assume the role.") from None
        for action, resource in (("ecr:GetAuthorizationToken", "*"), *((a, repository) for a in PULL_ACTIONS)):
            verdict = iam.judge(principal, action, resource)
            if not verdict.allowed:
                raise ImageNotFound(f"Cannot pull the requested image: {uri}: {verdict.message}. Please check if your "
                                    f"ECR image exists and role {role_arn} has proper pull permissions for SageMaker: "
                                    f"{', '.join(PULL_ACTIONS)}")

    def _entrypoint(self, image: ResolvedImage, name: str) -> Path:
        """The context's file that is `name` in the image, as a local process runs it; refused (saying to use the
        container engine) where the Dockerfile does not put it on the image's PATH the SageMaker way."""
        path, why = process_entrypoint(image.context, name)
        if path is None:
            raise ImageError(f"image {image.uri} ({image.context}, {image.rule}) cannot run as a local process: {why}; "
                             "run it in the container engine instead (--images engine, setting images=engine)")
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
    def train(self, image: ResolvedImage, opt_ml: Path, log_path: Path, env: dict[str, str] | None = None) -> Run:
        """Start the image's `train` (`pull` gives it) with `opt_ml` as /opt/ml; its output goes to `log_path`."""
        uri = image.uri
        engine = self.engine()
        _note(log_path, f"image {uri}: {image.context} ({image.rule}); running "
                        f"{'in the container engine' if engine else 'as a local process'}")
        if engine:
            return EngineJobRun(self.cloud, engine, self.engine_image(image), opt_ml, dict(env or {}), log_path,
                                ["train"])
        train = self._entrypoint(image, "train")
        child_env = self.cloud.child_env({"PATH": os.pathsep.join([str(venv_bin()), str(train.parent),
                                                                   os.environ.get("PATH", "")]),
                                          "PYTHONUNBUFFERED": "1", **(env or {}), "OPT_ML_ROOT": str(opt_ml)})
        with open(log_path, "ab") as out:
            proc = self.cloud.popen(f"train {opt_ml.name}", [str(train)], cwd=train.parent, env=child_env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        return ProcessRun(self.cloud, proc, log_path)

    def serve(self, image: ResolvedImage, opt_ml: Path, log_path: Path, env: dict[str, str] | None = None,
              label: str = "serve") -> Run:
        """Start the image's `serve` (`pull` gives it) with the model in `opt_ml`/model; `run.url` is where it
        answers."""
        uri = image.uri
        engine = self.engine()
        _note(log_path, f"image {uri}: {image.context} ({image.rule}); serving "
                        f"{'in the container engine' if engine else 'as a local process'}")
        if engine:
            container = engine.serve(self.engine_image(image), opt_ml / "model", env=dict(env or {}),
                                     name=f"localcloud-{_slug(label)}-{uuid.uuid4().hex[:8]}")
            return EngineServeRun(engine, container, log_path)
        serve = self._entrypoint(image, "serve")
        server = ModelServer(opt_ml, log_path=log_path, extra_env=dict(env or {}), context=serve.parent,
                             env=self.cloud.child_env(), popen=functools.partial(self.cloud.popen, label))
        return ServeRun(self.cloud, server.start())

    def process(self, image: ResolvedImage, opt_ml: Path, log_path: Path, env: dict[str, str],
                entrypoint: list[str] | None, arguments: list[str] | None, label: str) -> Run:
        """Start a processing job's container (`pull` gives it) with `opt_ml` as /opt/ml."""
        uri = image.uri
        if image.program:
            _note(log_path, f"image {uri}: {image.rule}; running the local cloud's program as a local process")
            return self._local(image.program, image.context, opt_ml, log_path, env, label)
        engine = self.engine()
        _note(log_path, f"image {uri}: {image.context} ({image.rule}); running "
                        f"{'in the container engine' if engine else 'as a local process'}")
        if engine:
            return EngineJobRun(self.cloud, engine, self.engine_image(image), opt_ml, dict(env), log_path,
                                list(arguments or []), list(entrypoint or []), kind="processing")
        command = [_at(part, opt_ml, image.context) for part in _command(image, entrypoint, arguments)]
        return self._local(command, image.context, opt_ml, log_path, env, label)

    def _local(self, command: list[str], cwd: Path, opt_ml: Path, log_path: Path, env: dict[str, str],
               label: str) -> Run:
        path = os.pathsep.join([str(venv_bin()), str(cwd), os.environ.get("PATH", "")])
        child_env = self.cloud.child_env({"PATH": path, "PYTHONUNBUFFERED": "1",
                                          **{k: _at(v, opt_ml, cwd) for k, v in env.items()},
                                          "OPT_ML_ROOT": str(opt_ml)})
        with open(log_path, "ab") as out:
            try:
                proc = self.cloud.popen(label, command, cwd=cwd, env=child_env, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT)
            except OSError as exc:
                raise ImageError(f"cannot run {command[0]}: {exc}") from exc
        return ProcessRun(self.cloud, proc, log_path)

    # CodeBuild's `docker`.
    def docker_env(self, bin_dir: Path, build_id: str, privileged: bool) -> dict[str, str]:
        """Put the local cloud's `docker` (see `docker_main`) in `bin_dir` for a build; returns the variables it needs.
        As in CodeBuild, only a privileged build has a daemon: with an engine, docker commands reach it; a build that
        is not privileged gets "Cannot connect to the Docker daemon" from every command but `docker --version`."""
        bin_dir.mkdir(parents=True, exist_ok=True)
        settings = {"LOCALCLOUD_IMAGES_FILE": str(self.records.path), "LOCALCLOUD_BUILD_ID": build_id}
        env: dict[str, str] = {}
        engine = self.engine(required=False) if privileged else None
        if not privileged:
            settings["LOCALCLOUD_NO_DAEMON"] = "1"
        elif engine is not None:
            env.update({k: v for k, v in engine.env.items() if k.startswith("DOCKER_")})
            settings["LOCALCLOUD_REAL_DOCKER"] = shutil.which("docker") or "docker"
            try:
                settings["LOCALCLOUD_BASE_IMAGE"] = engine.ensure_base_image()
            except Exception as exc:  # a build that names its own base image still works
                log.info("no local base image for builds: %s", exc)
        package_root = Path(__file__).resolve().parents[3]
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in settings.items())
        shim = bin_dir / "docker"
        shim.write_text(f"#!/bin/sh\nexport {exports}\nPYTHONPATH={shlex.quote(str(package_root))} exec "
                        f'"{sys.executable}" -m mlops_workshop.localcloud.images.docker "$@"\n')
        shim.chmod(0o755)
        return env


def _registry(ref: ImageRef, region: str) -> tuple[str | None, str]:
    """The ECR registry's account and region of an image (None and `region`: not an ECR image)."""
    return ref.ecr_registry or (None, region)


def _command(image: ResolvedImage, entrypoint: list[str] | None, arguments: list[str] | None) -> list[str]:
    """What the container runs: the job's entrypoint and arguments, else the Dockerfile's ENTRYPOINT and CMD (the
    job's arguments replace CMD, its entrypoint both)."""
    found_entrypoint, found_cmd = ([], []) if entrypoint else entrypoint_and_cmd(image.context)
    command = list(entrypoint) if entrypoint else found_entrypoint
    command += list(arguments) if arguments is not None else ([] if entrypoint else found_cmd)
    if not command:
        raise ImageError(f"image {image.uri} ({image.context}, {image.rule}) has no ENTRYPOINT or CMD in its "
                         f"Dockerfile: give AppSpecification.ContainerEntrypoint")
    return command


_OPT_ML = re.compile(r"(?<![\w/.])/opt/(ml|program)(?=/|\b|$)")


def _at(value: str, opt_ml: Path, context: Path) -> str:
    """/opt/ml and /opt/program in a command or a variable, where a local process finds them."""
    return _OPT_ML.sub(lambda m: str(opt_ml) if m.group(1) == "ml" else str(context), value)


def _note(log_path: Path, text: str) -> None:
    with open(log_path, "a") as out:
        out.write(f"[localcloud] {text}\n")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text.lower()).strip("-") or "image"


