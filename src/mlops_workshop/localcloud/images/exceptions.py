"""Why an image cannot run."""


class ImageError(RuntimeError):
    """The image cannot run; the message says why and what to do."""


class ImageNotFound(ImageError):
    """SageMaker cannot pull the image (no such repository, tag or digest, or a role that may not pull it)."""
