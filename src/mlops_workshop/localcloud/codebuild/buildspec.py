"""A buildspec read as CodeBuild reads it ("Build specification reference for CodeBuild").

YAML whose keys are case-sensitive (`phases`, never `Phases`); scalars kept as written, so that `version: 0.2` is
"0.2", `python: 3.10` is "3.10" (not the float 3.1) and `discard-paths: yes` is "yes"; `version` 0.1 (each
command in a shell of its own) or 0.2 (one shell for the whole build); `env` (shell, variables, parameter-store, secrets-manager, exported-variables,
git-credential-helper); `phases` install, pre_build, build and post_build, each with `commands`, `finally`,
`on-failure` and `run-as` (install also `runtime-versions`); `artifacts` with its `secondary-artifacts`. What does
not parse, or is not a buildspec, fails in DOWNLOAD_SOURCE with YAML_FILE_ERROR, as CodeBuild reports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .exceptions import BuildError

PHASES = ("install", "pre_build", "build", "post_build")
TOP_KEYS = ("version", "run-as", "env", "proxy", "batch", "phases", "reports", "artifacts", "cache")
ENV_KEYS = ("shell", "variables", "parameter-store", "secrets-manager", "exported-variables", "git-credential-helper")
PHASE_KEYS = ("run-as", "on-failure", "runtime-versions", "commands", "finally")
ARTIFACT_KEYS = ("files", "name", "discard-paths", "base-directory", "exclude-paths", "enable-symlinks", "s3-prefix",
                 "secondary-artifacts")
SHELLS = ("bash", "/bin/sh")
ON_FAILURE = ("ABORT", "CONTINUE", "RETRY")


class _Loader(yaml.SafeLoader):
    """YAML as CodeBuild's agent decodes it into strings: numbers and yes/no keep their text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag.rsplit(":", 1)[1] not in ("int", "float", "bool")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


@dataclass
class Phase:
    name: str
    commands: list[str] = field(default_factory=list)
    final: list[str] = field(default_factory=list)
    on_failure: str = "ABORT"
    runtime_versions: dict[str, Any] = field(default_factory=dict)


@dataclass
class Buildspec:
    version: str
    shell: str
    env: dict[str, Any]
    phases: dict[str, Phase]
    artifacts: dict[str, Any]
    source: str             # where it was read: "/path/buildspec.yml" or "inline"

    @property
    def separate_shells(self) -> bool:
        """Version 0.1: each command in a shell of its own, so no directory or variable carries to the next."""
        return self.version == "0.1"

    def exported_names(self) -> list[str]:
        return [str(n) for n in self.env.get("exported-variables") or []]


def parse(text: str, source: str) -> Buildspec:
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = f" at line {exc.problem_mark.line + 1}" if exc.problem_mark else ""
        raise BuildError("YAML_FILE_ERROR", f"{exc.problem or exc.context}{line}") from exc
    except yaml.YAMLError as exc:
        raise BuildError("YAML_FILE_ERROR", str(exc)) from exc
    if not isinstance(data, dict):
        raise BuildError("YAML_FILE_ERROR", "the buildspec must be a YAML mapping with version and phases")
    _known(data, TOP_KEYS, "the buildspec")
    version = str(data.get("version") or "")
    if version not in ("0.1", "0.2"):
        raise BuildError("YAML_FILE_ERROR", f"invalid buildspec version {version or '(none)'}: version must be 0.1 "
                                            "or 0.2")
    env = _mapping(data.get("env"), "env")
    _known(env, ENV_KEYS, "env")
    for key in ("variables", "parameter-store", "secrets-manager"):
        _mapping(env.get(key), f"env.{key}")
    shell = str(env.get("shell") or "bash")
    if shell not in SHELLS:
        raise BuildError("YAML_FILE_ERROR", f"Unknown shell {shell}: Linux builds support {', '.join(SHELLS)}")
    if "phases" not in data:
        raise BuildError("YAML_FILE_ERROR", "phases is required: a buildspec needs at least one of "
                                            f"{', '.join(PHASES)}")
    phases = {}
    for name, body in _mapping(data["phases"], "phases").items():
        if name not in PHASES:
            raise BuildError("YAML_FILE_ERROR", f"unknown phase {name!r} in the buildspec; phases are "
                                                f"{', '.join(PHASES)} (phase names are case-sensitive)")
        body = _mapping(body, f"phases.{name}")
        _known(body, PHASE_KEYS, f"phases.{name}")
        if "runtime-versions" in body and name != "install":
            raise BuildError("YAML_FILE_ERROR", f"runtime-versions is only allowed in the install phase, not {name}")
        on_failure = str(body.get("on-failure") or "ABORT")
        if on_failure.split("-")[0] not in ON_FAILURE:
            raise BuildError("YAML_FILE_ERROR", f"invalid on-failure value {on_failure} in phase {name}: use ABORT, "
                                                "CONTINUE or RETRY")
        phases[name] = Phase(name, _commands(body.get("commands"), name), _commands(body.get("finally"), name),
                             on_failure, _mapping(body.get("runtime-versions"), "runtime-versions"))
    artifacts = _mapping(data.get("artifacts"), "artifacts")
    _known(artifacts, ARTIFACT_KEYS, "artifacts")
    for identifier, section in _mapping(artifacts.get("secondary-artifacts"), "secondary-artifacts").items():
        _known(_mapping(section, f"secondary-artifacts.{identifier}"), ARTIFACT_KEYS[:-1],
               f"secondary-artifacts.{identifier}")
    return Buildspec(version, shell, env, phases, artifacts, source)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BuildError("YAML_FILE_ERROR", f"{where} must be a mapping, not {_kind(value)}")
    return value


def _known(mapping: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in mapping:
        if key not in keys:
            raise BuildError("YAML_FILE_ERROR", f"unknown key {key!r} in {where}; it takes {', '.join(keys)} "
                                                "(buildspec keys are case-sensitive)")


def _commands(value: Any, phase: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BuildError("YAML_FILE_ERROR", f"phases.{phase}: commands must be a sequence of strings")
    for index, command in enumerate(value):
        if isinstance(command, (dict, list)):
            raise BuildError("YAML_FILE_ERROR", f"Expected Commands[{index}] to be of string type: found subkeys "
                                                f"instead in phase {phase} (quote a command that holds ': ')")
    return ["" if c is None else str(c) for c in value]


def _kind(value: Any) -> str:
    return "a sequence" if isinstance(value, list) else f"the scalar {value!r}"
