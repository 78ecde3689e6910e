import copy

import pytest

from testkit.localcloud import PIPELINE_SETTINGS


@pytest.fixture
def cloud_settings():
    return copy.deepcopy(PIPELINE_SETTINGS)
