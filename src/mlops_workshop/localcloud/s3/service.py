"""S3: moto's buckets and objects, with the defaults AWS answers that moto leaves out (responses.py)."""

from __future__ import annotations

from ..services import Service
from . import urls
from .responses import S3Responses


class S3Service(Service):
    name = "s3"
    responses_class = S3Responses
    urls = urls
