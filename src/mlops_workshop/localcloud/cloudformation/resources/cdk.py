"""AWS::CDK::Metadata, which the CDK adds to every stack it synthesizes: CloudFormation keeps it and makes
nothing."""

from __future__ import annotations

import uuid

from .base import LocalResource


class CdkMetadata(LocalResource):
    type_name = "AWS::CDK::Metadata"

    def create(self) -> None:
        self.physical_id = str(uuid.uuid4())

    def remove(self) -> None:
        """Nothing was made."""
