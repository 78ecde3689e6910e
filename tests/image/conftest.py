"""How long the image tests' engine steps took, printed at the end of the run."""

from __future__ import annotations

import pytest

TIMINGS = pytest.StashKey[dict]()


@pytest.fixture(scope="session")
def timings(request) -> dict:
    return request.config.stash.setdefault(TIMINGS, {})


def pytest_terminal_summary(terminalreporter, config):
    measured = config.stash.get(TIMINGS, None)
    if measured:
        terminalreporter.section("image: measured")
        for name, value in measured.items():
            terminalreporter.write_line(f"{name}: {value}")
