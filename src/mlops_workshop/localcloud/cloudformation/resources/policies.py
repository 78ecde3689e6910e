"""Resource policies CloudFormation attaches to what another resource made: AWS::S3::BucketPolicy and
AWS::SQS::QueuePolicy, through their services' APIs."""

from __future__ import annotations

import json
import uuid
from typing import Any

from .base import LocalResource


def _document(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class BucketPolicy(LocalResource):
    type_name = "AWS::S3::BucketPolicy"

    def create(self) -> None:
        bucket = self.properties["Bucket"]
        self.service.cloud.client("s3", self.region).put_bucket_policy(
            Bucket=bucket, Policy=_document(self.properties["PolicyDocument"]))
        self.physical_id = bucket

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        if properties.get("Bucket") != self.properties.get("Bucket"):
            return super().update(new_name, properties)
        self.properties = properties
        self.create()
        return self

    def remove(self) -> None:
        self.service.cloud.client("s3", self.region).delete_bucket_policy(Bucket=self.physical_id)


class QueuePolicy(LocalResource):
    type_name = "AWS::SQS::QueuePolicy"
    attributes = ("Id",)

    def _apply(self, queues: list[str], policy: str) -> None:
        client = self.service.cloud.client("sqs", self.region)
        for queue in queues:
            client.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": policy})

    def create(self) -> None:
        self._apply(self.properties["Queues"], _document(self.properties["PolicyDocument"]))
        self.physical_id = f"{self.name}-{uuid.uuid4().hex[:12]}"
        self.values = {"Id": self.physical_id}

    def update(self, new_name: str, properties: dict[str, Any]) -> Any:
        dropped = [q for q in self.properties["Queues"] if q not in properties["Queues"]]
        self._apply(dropped, "")
        self.properties = properties
        self._apply(properties["Queues"], _document(properties["PolicyDocument"]))
        return self

    def remove(self) -> None:
        self._apply(self.properties["Queues"], "")
