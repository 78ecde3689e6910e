"""Why an image cannot run."""


class ImageError(RuntimeError):
    """The image cannot run; the message says why and what to do."""
