"""Under `make test` (pytest-xdist, --dist loadgroup) the integration tests share one worker and its session's
pipeline run: a pytest that silently drops the groups (pytest-xdist#1386) would run it once per worker."""

import pytest


def test_the_integration_tests_are_one_group(request):
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not under pytest-xdist with --dist loadgroup")
    assert request.node.nodeid.endswith("@e2e"), request.node.nodeid
