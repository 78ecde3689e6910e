import pytest

from testkit.localcloud import FAKE_IMAGE_SETTINGS


@pytest.fixture
def cloud_settings():
    """The stand-in image (tiny `train` and `serve`, no TensorFlow) unless a test module says otherwise."""
    return dict(FAKE_IMAGE_SETTINGS)
