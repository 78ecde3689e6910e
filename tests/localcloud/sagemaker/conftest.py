import pytest

from testkit.localcloud import FAKE_IMAGE_SETTINGS, create_sagemaker_role


@pytest.fixture
def cloud_settings():
    """The stand-in image (tiny `train` and `serve`, no TensorFlow) unless a test module says otherwise."""
    return dict(FAKE_IMAGE_SETTINGS)


@pytest.fixture
def sagemaker_role(clients):
    """SAGEMAKER_ROLE, trusting SageMaker, allowed what its jobs and endpoints do in the data bucket and CloudWatch."""
    return create_sagemaker_role(clients("iam"))
