"""The conda environment for JupyterLab users and pyproject.toml must list the same packages."""

import re
import tomllib

import yaml
from packaging.requirements import Requirement


def _normalise(spec: str) -> tuple[str, str, frozenset[str]]:
    req = Requirement(spec)
    return re.sub(r"[-_.]+", "-", req.name).lower(), str(req.specifier), frozenset(req.extras)


def _pyproject(repo_root):
    data = tomllib.loads((repo_root / "pyproject.toml").read_text())
    return {_normalise(d) for d in data["project"]["dependencies"]}


def _conda_pip(repo_root):
    env = yaml.safe_load((repo_root / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {_normalise(d) for d in pip_section if not d.startswith("-")}, env


def test_environment_yml_matches_pyproject(repo_root):
    conda, _ = _conda_pip(repo_root)
    project = _pyproject(repo_root)
    assert conda - project == set(), "in environment.yml but not pyproject.toml"
    assert project - conda == set(), "in pyproject.toml but not environment.yml"


def test_environment_yml_python_matches_requires_python(repo_root):
    _, env = _conda_pip(repo_root)
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    requires = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["requires-python"]
    version = python.split("=")[-1]
    assert Requirement(f"python{requires}").specifier.contains(version + ".0"), (python, requires)


def test_pins_that_must_not_move(repo_root):
    deps = {name: spec for name, spec, _ in _pyproject(repo_root)}
    assert deps["moto"] == "==5.2.5", "the local cloud patches moto internals: move the pin only with its tests"
    assert deps["tensorflow-cpu"].startswith("==2.21"), "the model and the image are built for TensorFlow 2.21"


def test_drift_is_detected(repo_root, tmp_path):
    (tmp_path / "pyproject.toml").write_text((repo_root / "pyproject.toml").read_text())
    env = yaml.safe_load((repo_root / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    pip_section[:] = [d for d in pip_section if not d.startswith("pandas")]
    (tmp_path / "environment.yml").write_text(yaml.safe_dump(env))
    conda, _ = _conda_pip(tmp_path)
    assert _pyproject(tmp_path) - conda, "removing a package from environment.yml must show as drift"
