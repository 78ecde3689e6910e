import pytest

from localcloud.codebuild.buildkit import project_maker
from testkit.localcloud import FAKE_IMAGE_SETTINGS


@pytest.fixture
def cloud_settings():
    """The stand-in image (tiny `train` and `serve`, no TensorFlow) unless a test module says otherwise."""
    return dict(FAKE_IMAGE_SETTINGS)


@pytest.fixture
def project(clients):
    """project(name, files, buildspec=None, artifacts=None, role=CODEBUILD_ROLE, environment=None) uploads the source
    zip and creates an S3-source project whose service role (allowed everything unless the test made it) it is."""
    return project_maker(clients)
