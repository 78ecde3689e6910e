"""The images AWS publishes for SageMaker: built-in algorithms (linear-learner, xgboost, …), framework containers and
Model Monitor's analyzer, each from its own ECR registry (an AWS account) per region.

Which registries these are comes from the SageMaker Python SDK's image URI config (sagemaker-core's
`image_uri_config/*.json`, which AWS updates with each release of the SDK), read from the installed package's files
without importing the SDK. An image URI is AWS's when its repository is published from its registry's account in its
region there.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, distribution
from typing import Any

from .models import ImageRef

CONFIG_PACKAGE = "sagemaker-core"
CONFIG_FOLDER = "sagemaker/core/image_uri_config/"


@functools.cache
def registries() -> dict[str, dict[str, frozenset[str]]]:
    """{repository: {region: the accounts AWS publishes it from}}; empty when the SDK is not installed."""
    try:
        files = distribution(CONFIG_PACKAGE).files or []
    except PackageNotFoundError:
        return {}
    found: dict[str, dict[str, set[str]]] = {}
    for file in files:
        if str(file).startswith(CONFIG_FOLDER) and str(file).endswith(".json"):
            for repository, region, account in _entries(json.loads(file.read_text())):
                found.setdefault(repository, {}).setdefault(region, set()).add(account)
    return {repository: {region: frozenset(accounts) for region, accounts in regions.items()}
            for repository, regions in found.items()}


def _entries(config: Any) -> Iterator[tuple[str, str, str]]:
    """(repository, region, account) of every image an image URI config lists, at any depth of its scopes."""
    if isinstance(config, dict):
        if isinstance(config.get("repository"), str) and isinstance(config.get("registries"), dict):
            for region, account in config["registries"].items():
                yield config["repository"], region, str(account)
        for value in config.values():
            yield from _entries(value)
    elif isinstance(config, list):
        for value in config:
            yield from _entries(value)


def publishes(ref: ImageRef) -> bool:
    """Whether `ref` names an image in the registry AWS publishes its repository from."""
    if ref.ecr_registry is None:
        return False
    account, region = ref.ecr_registry
    return account in registries().get(ref.repository, {}).get(region, frozenset())


def account(repository: str, region: str) -> str:
    """The one account AWS publishes `repository` from in `region` (LookupError when none, or several)."""
    accounts = registries().get(repository, {}).get(region, frozenset())
    if len(accounts) != 1:
        raise LookupError(f"AWS publishes {repository} in {region} from {len(accounts)} accounts, "
                          f"as {CONFIG_PACKAGE}'s image URI config lists them")
    return next(iter(accounts))
