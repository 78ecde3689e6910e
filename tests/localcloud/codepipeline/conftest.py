import copy

import pytest

from testkit.localcloud import PIPELINE_SETTINGS


@pytest.fixture
def cloud_settings():
    """Short limits, so that the timeout paths are tested in seconds; no source polling to race the tests."""
    return copy.deepcopy(PIPELINE_SETTINGS)
