"""The services the local cloud runs, in one explicit list, and what each of them is to the cloud.

Each is a package `localcloud/<package>/` laid out as moto lays out its own: `models.py` (state), the part that runs
things (an engine, executors, providers), `responses.py` (the protocol), `urls.py` (the routes it answers beyond
moto's), `patches.py` (what of moto it replaces) and `exceptions.py` (AWS's error codes). Its `Service` subclass is
what `cloud.service(name)` returns: the one way another service reaches it.

The list's order is the start order; services stop in the reverse order (the images a build or an endpoint runs stop
after them). A lazy service is installed on the first call signed for it, or in the background once the server
answers: moto's CloudFormation and Step Functions parsers, and its Application Auto Scaling (through ECS), import
all of EC2's region and instance data (~1-2 s).
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from .protocol import BaseResponses

if TYPE_CHECKING:
    from .server import LocalCloud

log = logging.getLogger("mlops_workshop.localcloud")


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    service_class: str          # "package.module:Class", imported when the service is installed
    signing_names: tuple[str, ...] = ()   # the credential scope of the calls it answers
    moto_names: tuple[str, ...] = ()      # moto backends whose use installs it (`cloud.backend(name)`)
    lazy: bool = False


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("iam", "iam.service:IamService", moto_names=("iam", "sts")),
    ServiceSpec("images", "images.service:ImagesService"),
    ServiceSpec("s3", "s3.service:S3Service", ("s3",)),
    ServiceSpec("events", "events.service:EventsService", ("events",)),
    ServiceSpec("cloudwatch", "cloudwatch.service:CloudWatchService", ("monitoring",), ("cloudwatch",)),
    ServiceSpec("lambda", "awslambda.service:LambdaService", ("lambda",)),
    ServiceSpec("glue", "glue.service:GlueService", ("glue",)),
    ServiceSpec("codecommit", "codecommit.service:CodeCommitService", ("codecommit",)),
    ServiceSpec("codebuild", "codebuild.service:CodeBuildService", ("codebuild",)),
    ServiceSpec("sagemaker", "sagemaker.service:SageMakerService", ("sagemaker",)),
    ServiceSpec("codepipeline", "codepipeline.service:CodePipelineService", ("codepipeline",)),
    # moto's scalable targets import EC2 through ECS, a second at start: lazy, as CloudFormation and Step Functions.
    ServiceSpec("application-autoscaling", "applicationautoscaling.service:ApplicationAutoScalingService",
                ("application-autoscaling",), ("applicationautoscaling", "ecs"), lazy=True),
    ServiceSpec("cloudformation", "cloudformation.service:CloudFormationService", ("cloudformation",),
                ("cloudformation",), lazy=True),
    ServiceSpec("stepfunctions", "stepfunctions.service:StepFunctionsService", ("states",),
                ("stepfunctions",), lazy=True),
)


@dataclass(frozen=True)
class Route:
    """A REST path a service answers: `method` and `pattern` (named groups become path_params) give `action`;
    `query`, when set, is a query parameter the call must carry (S3 names many operations that way)."""

    method: str
    pattern: re.Pattern[str]
    action: str
    signed: bool = True   # False: called without AWS's signature (git over HTTP, a custom resource's answer)
    query: str | None = None


def routes(urls: ModuleType | None) -> list[Route]:
    """The routes a service's urls.py declares in `url_paths` ({pattern: {method: action}}, the method optionally
    with the query parameter it needs: "GET?ownershipControls") and `unsigned_paths`."""
    found: list[Route] = []
    for attribute, signed in (("url_paths", True), ("unsigned_paths", False)):
        for pattern, methods in (getattr(urls, attribute, None) or {}).items():
            for method, action in methods.items():
                verb, _, query = method.partition("?")
                found.append(Route(verb, re.compile(pattern), action, signed, query or None))
    return found


class Patches:
    """Replacements of moto's attributes (or settings) that one service installs, undone in reverse order."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def replace(self, owner: Any, name: str, replacement: Any) -> Any:
        """Put `replacement` at owner.name; returns what was there (the function itself, not a bound method)."""
        original = owner.__dict__[name] if isinstance(owner, type) and name in owner.__dict__ else getattr(owner, name)
        self._undo.append(lambda: setattr(owner, name, original))
        setattr(owner, name, replacement)
        return original

    def add(self, owner: type, name: str, value: Any) -> None:
        """Give owner an attribute it lacks (an operation moto does not implement), removed again on undo."""
        if name in owner.__dict__:
            raise AttributeError(f"{owner.__name__}.{name} exists: replace it instead")
        self._undo.append(lambda: delattr(owner, name))
        setattr(owner, name, value)

    def replace_item(self, mapping: dict[str, Any], key: str, value: Any) -> None:
        had, original = key in mapping, mapping.get(key)
        self._undo.append(lambda: mapping.__setitem__(key, original) if had else mapping.pop(key, None))
        mapping[key] = value

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()


class Service:
    """One service of the local cloud: its state and engine, what it patches in moto, its protocol and routes."""

    name: ClassVar[str] = ""
    responses_class: ClassVar[type[BaseResponses] | None] = None
    urls: ClassVar[ModuleType | None] = None

    def __init__(self, cloud: "LocalCloud", spec: ServiceSpec):
        self.cloud = cloud
        self.spec = spec
        self.patches = Patches()
        self.responses = self.responses_class(self) if self.responses_class else None
        self.routes = routes(self.urls)

    def settings(self, key: str, default: Any = None) -> Any:
        """A setting of the cloud (`cloud.settings[key]`), or its default."""
        return self.cloud.settings.get(key, default)

    def start(self) -> None:
        """Patch moto, start background work; called once, before the service answers a call."""

    def stop(self) -> None:
        """Stop what `start` began and undo the patches; the cloud calls it once, in reverse start order."""
        self.patches.undo()

    # What the service keeps across a restart (persistence.py); moto's own records are kept for every service.
    def snapshot(self) -> Any:
        """The service's own state beyond moto's records, picklable; None when it keeps none."""
        return None

    def restore(self, state: Any) -> None:
        """Take back what `snapshot` returned (None when the snapshot holds nothing of this service)."""

    def recover(self) -> None:
        """After a restore, with the cloud answering: work in flight when it stopped ends, saying so; what served
        serves again."""

    def reset(self) -> None:
        """moto's `/moto-api/reset` empties every backend: stop the work the service runs and forget what it keeps
        beside moto's records, so that the cloud is as new (moto's tests in server mode reset before each test)."""

    def persistent_classes(self) -> dict[type, str]:
        """Classes this service made for itself that a snapshot refers to by name ({class: name})."""
        return {}


def load(spec: ServiceSpec) -> type[Service]:
    module_name, _, class_name = spec.service_class.partition(":")
    module = importlib.import_module(f"{__package__}.{module_name}")
    service_class: type[Service] = getattr(module, class_name)
    return service_class

