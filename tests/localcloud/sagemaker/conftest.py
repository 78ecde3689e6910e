import pytest

from testkit.localcloud import FAKE_IMAGE_SETTINGS, SAGEMAKER_ROLE, execution_role


@pytest.fixture
def cloud_settings():
    """The stand-in image (tiny `train` and `serve`, no TensorFlow) unless a test module says otherwise."""
    return dict(FAKE_IMAGE_SETTINGS)


@pytest.fixture(autouse=True)
def _execution_role(request):
    """SageMaker pulls images and reads data as the job's or the model's execution role: the tests' one exists."""
    if "cloud" in request.fixturenames:
        execution_role(request.getfixturevalue("clients"))


@pytest.fixture
def sagemaker_role(cloud):
    """The tests' execution role of jobs and endpoints (`_execution_role` made it)."""
    return SAGEMAKER_ROLE
