"""moto's own tests as the floor (scripts/moto_floor.py, `make moto-floor` runs all of it): the part that fits CI's
time, CodeCommit, CodePipeline and CodeBuild, passes on the local cloud wherever it passes on a plain moto server,
except what exceptions.yml lists with its reason; and that list stays reviewable."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest

from testkit.modules import load_module
from testkit.tools import in_ci

CI_SERVICES = ["codecommit", "codepipeline", "codebuild"]


@pytest.fixture(scope="module")
def floor(repo_root):
    return load_module(repo_root / "scripts" / "moto_floor.py")


@pytest.fixture(scope="module")
def moto_tests(floor, pytestconfig):
    """moto's tests for the pinned moto, from PyPI at first use (pip, its progress shown), then from the cache."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    reporter = pytestconfig.pluginmanager.getplugin("terminalreporter")

    def say(text: str) -> None:
        with capture.global_and_fixture_disabled():
            if reporter is not None:
                reporter.write_line(f"moto floor: {text}")
            else:  # a pytest-xdist worker has no terminal of its own
                print(f"moto floor: {text}", file=sys.stderr, flush=True)
    try:
        return floor.fetch_tests(floor.CACHE, say=say)
    except Exception as error:
        if in_ci():
            raise
        pytest.skip(f"moto's source package could not be fetched from PyPI: {error}")


def test_every_exception_names_a_test_of_moto_and_says_why(floor, moto_tests):
    exceptions = floor.load_exceptions()
    prefixes = tuple(f"tests/{path}" for paths in floor.SERVICES.values() for path in paths)
    defined: dict[str, set[str]] = {}  # the functions of each test file, parsed once
    for node, reason in exceptions.items():
        assert isinstance(reason, str) and len(reason.split()) >= 5, f"{node}: say why, in a sentence: {reason!r}"
        assert node.startswith(prefixes), f"{node} is not among the compared services' tests"
        path, _, name = node.partition("::")
        source = moto_tests / path
        assert source.is_file(), f"{node}: moto {floor.MOTO_VERSION} has no {path}"
        if path not in defined:
            defined[path] = {n.name for n in ast.walk(ast.parse(source.read_text())) if isinstance(n, ast.FunctionDef)}
        assert name.split("::")[-1].split("[")[0] in defined[path], f"{node}: no such test in {path}"


def test_an_unexplained_regression_fails_the_comparison_and_an_exception_explains_it(floor, tmp_path):
    node = "tests/test_codecommit/test_codecommit.py::test_get_repository"
    moto = floor.Run("codecommit", "moto", {node: ("passed", "")})
    local = floor.Run("codecommit", "localcloud", {node: ("failed", "AssertionError: the clone URL")})
    status, text = floor.report([floor.Comparison("codecommit", moto, local, {})], tmp_path)
    assert status == 1 and f"UNEXPLAINED {node}: AssertionError: the clone URL" in text
    status, text = floor.report([floor.Comparison("codecommit", moto, local, {node: "closer to AWS"})], tmp_path)
    assert status == 0 and "UNEXPLAINED" not in text


@pytest.mark.slow
def test_the_local_cloud_passes_where_plain_moto_passes(floor, moto_tests, tmp_path):
    # 20-35 s on 2 cores (three services, each on both servers): the only guard in CI that moto's floor holds.
    comparisons = floor.compare(moto_tests, CI_SERVICES, jobs=min(2, os.cpu_count() or 1), work=tmp_path,
                                exceptions=floor.load_exceptions(), say=lambda text: None, together=True)
    status, text = floor.report(comparisons, tmp_path)
    assert all(len(c.moto.passed()) > 0 for c in comparisons), text
    assert status == 0, text
