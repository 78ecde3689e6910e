"""What an endpoint records of its requests: data capture to S3 and its metrics in CloudWatch, written by a timer.

Data capture follows the endpoint configuration's DataCaptureConfig: EnableCapture, InitialSamplingPercentage (each
request is captured with that chance), CaptureOptions (Input, Output or both), CaptureContentTypeHeader (the content
types written as CSV or JSON text; any other is BASE64, as it is without the header); KmsKeyId is not used. Records
are SageMaker's capture format, one JSON object a line, in files under
<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/ (the hour of the request, UTC), written with the model's
execution role every `capture_flush_seconds` (setting, default 1). The setting `capture_seed` makes the sampling
repeatable.

The metrics are those SageMaker publishes per endpoint and variant in AWS/SageMaker (dimensions EndpointName and
VariantName): Invocations, InvocationsPerInstance, Invocation4XXErrors, Invocation5XXErrors (one value per request,
summed), ModelLatency and OverheadLatency (microseconds), sent at the same interval as one statistic set a metric.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .models import split_s3

if TYPE_CHECKING:
    from .service import SageMakerService

log = logging.getLogger("mlops_workshop.localcloud.sagemaker")

NAMESPACE = "AWS/SageMaker"
DEFAULT_FLUSH_S = 1.0
UNITS = {"ModelLatency": "Microseconds", "OverheadLatency": "Microseconds"}
REFRESH_S = 300    # credentials are fetched again this long before they expire


def encoding(content_type: str, header: dict[str, Any]) -> str:
    bare = content_type.split(";")[0].strip().lower()
    if bare in {t.lower() for t in header.get("CsvContentTypes") or []}:
        return "CSV"
    if bare in {t.lower() for t in header.get("JsonContentTypes") or []}:
        return "JSON"
    return "BASE64"


def payload(body: bytes, content_type: str, mode: str, header: dict[str, Any]) -> dict[str, str]:
    kind = encoding(content_type, header)
    data = None
    if kind != "BASE64":
        try:
            data = body.decode("utf-8")
        except UnicodeDecodeError:
            kind = "BASE64"
    if data is None:
        data = base64.b64encode(body).decode()
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": kind}


def modes(config: dict[str, Any]) -> set[str]:
    found = {str(o.get("CaptureMode")) for o in config.get("CaptureOptions") or []}
    if "InputAndOutput" in found:
        found |= {"Input", "Output"}
    return found


class Capture:
    """Captured records and metric values waiting for the timer, which writes them."""

    def __init__(self, service: "SageMakerService"):
        self.service = service
        self.cloud = service.cloud
        self.interval = float(self.cloud.settings.get("capture_flush_seconds", DEFAULT_FLUSH_S))
        self.random = random.Random(self.cloud.settings.get("capture_seed"))
        self.records: dict[tuple[str, str, str, str, str], list[tuple[datetime, str]]] = defaultdict(list)
        self.values: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
        self.credentials: dict[str, tuple[dict[str, str], float]] = {}
        self.lock = threading.Lock()
        self.flushing = threading.Lock()
        self._stop = threading.Event()

    def start(self) -> None:
        self.cloud.spawn("sagemaker-capture", self._loop)

    def stop(self) -> None:
        self._stop.set()
        self.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:
                log.exception("writing captured data and endpoint metrics failed")

    # What InvokeEndpoint records.
    def invoked(self, backend: Any, endpoint: str, host: Any, request: tuple[bytes, str], status: int,
                response: tuple[bytes, str] | None, model_s: float, overhead_s: float,
                inference_id: str | None = None) -> None:
        region = backend.region_name
        config = backend.endpoint_configs.get(host.config)
        variant = host.variant
        variants = getattr(config, "production_variants", None) or []
        count = next((v.get("InitialInstanceCount") for v in variants if v.get("VariantName") == variant), None)
        instances = max(1, int(count or 1))
        values = {"Invocations": 1.0, "InvocationsPerInstance": 1.0 / instances,
                  "Invocation4XXErrors": float(400 <= status < 500), "Invocation5XXErrors": float(status >= 500),
                  "ModelLatency": model_s * 1e6, "OverheadLatency": overhead_s * 1e6}
        with self.lock:
            for name, value in values.items():
                self.values[(region, endpoint, variant, name)].append(value)
        capture = getattr(config, "data_capture_config", None) or {}
        if response is None or not capture.get("EnableCapture") or not capture.get("DestinationS3Uri"):
            return
        if self.random.random() * 100 >= float(capture.get("InitialSamplingPercentage", 100)):
            return
        record = self.record(capture, request, response, inference_id)
        if record is None:
            return
        role = self._role(backend, config)
        key = (region, role, capture["DestinationS3Uri"].rstrip("/"), endpoint, variant)
        with self.lock:
            self.records[key].append((datetime.now(timezone.utc), record))

    def record(self, capture: dict[str, Any], request: tuple[bytes, str], response: tuple[bytes, str],
               inference_id: str | None) -> str | None:
        header = capture.get("CaptureContentTypeHeader") or {}
        wanted = modes(capture)
        data: dict[str, Any] = {}
        if "Input" in wanted:
            data["endpointInput"] = payload(request[0], request[1], "INPUT", header)
        if "Output" in wanted:
            data["endpointOutput"] = payload(response[0], response[1], "OUTPUT", header)
        if not data:
            return None
        metadata = {"eventId": str(uuid.uuid4()),
                    "inferenceTime": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        if inference_id:
            metadata["inferenceId"] = inference_id
        return json.dumps({"captureData": data, "eventMetadata": metadata, "eventVersion": "0"})

    @staticmethod
    def _role(backend: Any, config: Any) -> str:
        variants = getattr(config, "production_variants", None) or [{}]
        model = backend._models.get(variants[0].get("ModelName"))
        return getattr(model, "execution_role_arn", "") or ""

    # The timer's work.
    def flush(self) -> None:
        with self.flushing:
            with self.lock:
                records, self.records = self.records, defaultdict(list)
                values, self.values = self.values, defaultdict(list)
            for key, items in records.items():
                self._write(key, items)
            if values:
                self._publish(values)

    def _write(self, key: tuple[str, str, str, str, str], items: list[tuple[datetime, str]]) -> None:
        region, role, destination, endpoint, variant = key
        hours: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        for moment, record in items:
            hours[moment.strftime("%Y/%m/%d/%H")].append((moment, record))
        try:
            bucket, prefix = split_s3(destination)
            s3 = self.cloud.client("s3", region, credentials=self._credentials(role))
            for hour, found in hours.items():
                first = found[0][0]
                name = f"{first:%M-%S}-{first.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
                target = "/".join(p for p in (prefix.strip("/"), endpoint, variant, hour, name) if p)
                s3.put_object(Bucket=bucket, Key=target, Body="".join(r + "\n" for _, r in found).encode())
        except Exception as exc:  # SageMaker drops what it cannot deliver; the endpoint's log says so
            log.warning("data capture of endpoint %s to %s failed: %s", endpoint, destination, exc)
            with open(self.cloud.log_path("endpoints", endpoint), "a") as out:
                out.write(f"[localcloud] {time.strftime('%H:%M:%S')} data capture to {destination} failed "
                          f"({len(items)} record(s) dropped): {exc}\n")

    def _credentials(self, role: str) -> dict[str, str]:
        kept = self.credentials.get(role)
        if kept is None or kept[1] - time.time() < REFRESH_S:
            found = self.service.role_credentials(role)
            expires = datetime.strptime(found["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            kept = self.credentials[role] = (found, expires.timestamp())
        return kept[0]

    def _publish(self, values: dict[tuple[str, str, str, str], list[float]]) -> None:
        now = datetime.now(timezone.utc)
        regions: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for (region, endpoint, variant, name), found in values.items():
            regions[region].append({
                "MetricName": name, "Timestamp": now, "Unit": UNITS.get(name, "None"),
                "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
                "StatisticValues": {"SampleCount": float(len(found)), "Sum": float(sum(found)),
                                    "Minimum": float(min(found)), "Maximum": float(max(found))}})
        for region, data in regions.items():
            cloudwatch = self.cloud.client("cloudwatch", region)
            for start in range(0, len(data), 1000):
                cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[start:start + 1000])
