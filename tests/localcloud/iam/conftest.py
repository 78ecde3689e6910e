"""The IAM tests' fixtures: the Service Authorization Reference and a describer of calls (helpers in iamkit.py)."""

from __future__ import annotations

import pytest

from localcloud.iam.iamkit import ACCOUNT, REGION, lookup, signed_request
from mlops_workshop.localcloud.iam.calls import Describer
from mlops_workshop.localcloud.iam.catalog import Catalog
from mlops_workshop.localcloud.iam.operations import Operations


@pytest.fixture(scope="session")
def catalog():
    found = Catalog.shared()
    found.wait()
    return found


@pytest.fixture(scope="session")
def describer(catalog):
    return Describer(catalog, ACCOUNT, lookup)


@pytest.fixture(scope="session")
def describe(catalog, describer):
    """describe(service, method, params) -> [(action, resource)] the call needs (unknown parts as *)."""
    operations = Operations.shared()
    prefixes = set(catalog.prefixes())

    def run(service, method, params, full=False):
        req = signed_request(service, method, params)
        op = operations.resolve(req, prefixes)
        call = describer.describe(op, REGION, req.headers, req.body)
        if full:
            return op, call
        assert not call.unresolved, call.unresolved
        return [(need.action, need.resource.replace("\x00", "*")) for need in call.needs]
    return run
