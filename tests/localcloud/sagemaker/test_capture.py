"""Endpoints capture their requests as SageMaker does (its record format, its S3 layout, the sampling percentage, the
content-type encodings) and publish their metrics in AWS/SageMaker."""

import base64
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from testkit.localcloud import BUCKET, FAKE_IMAGE_SETTINGS, serve_mean
from testkit.waiting import wait_for

ROW = ",".join(["0.5"] * 10)
CAPTURE = {"EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": f"s3://{BUCKET}/datacapture",
           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
           "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]}}


@pytest.fixture
def cloud_settings():
    return dict(FAKE_IMAGE_SETTINGS, capture_seed=7, capture_flush_seconds=0.5)


def captured(s3, prefix, count):
    """The capture records under `prefix` once there are `count` of them, with their keys."""
    def check():
        found = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().decode()
                found += [(item["Key"], json.loads(line)) for line in body.splitlines()]
        return found if len(found) >= count else None
    return wait_for(check, 30, 0.25, f"{count} capture records under {prefix}")


def test_capture_records_in_sagemakers_format_and_layout(clients, data_bucket, sagemaker_role):
    sm, s3, runtime = clients("sagemaker"), clients("s3"), clients("sagemaker-runtime")
    before = datetime.now(timezone.utc).replace(microsecond=0)
    serve_mean(sm, s3, "cap-full", 7.0, CAPTURE)
    runtime.invoke_endpoint(EndpointName="cap-full", Body=f"{ROW}\n{ROW}\n", ContentType="text/csv",
                            InferenceId="request-1")
    runtime.invoke_endpoint(EndpointName="cap-full", Body=ROW, ContentType="text/csv", Accept="application/json")
    records = captured(s3, "datacapture/cap-full/", 2)
    assert len(records) == 2
    key, first = records[0]
    parts = key.split("/")
    assert parts[:3] == ["datacapture", "cap-full", "AllTraffic"]
    hour = datetime.strptime("/".join(parts[3:7]), "%Y/%m/%d/%H").replace(tzinfo=timezone.utc)
    assert before - timedelta(hours=1) < hour <= datetime.now(timezone.utc)
    assert parts[7].endswith(".jsonl")
    assert set(first) == {"captureData", "eventMetadata", "eventVersion"}
    assert first["eventVersion"] == "0"
    assert first["captureData"]["endpointInput"] == {"observedContentType": "text/csv", "mode": "INPUT",
                                                     "data": f"{ROW}\n{ROW}\n", "encoding": "CSV"}
    assert first["captureData"]["endpointOutput"] == {"observedContentType": "text/csv", "mode": "OUTPUT",
                                                      "data": "7.0\n7.0\n", "encoding": "CSV"}
    metadata = first["eventMetadata"]
    uuid.UUID(metadata["eventId"])
    assert metadata["inferenceId"] == "request-1"
    inferred = datetime.strptime(metadata["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert before <= inferred <= datetime.now(timezone.utc)
    second = records[1][1]["captureData"]["endpointOutput"]
    assert (second["observedContentType"], second["encoding"]) == ("application/json", "JSON")
    assert json.loads(second["data"]) == {"predictions": [7.0]}


def test_without_content_type_headers_the_data_is_base64_and_the_options_are_honoured(clients, data_bucket,
                                                                                     sagemaker_role):
    sm, s3, runtime = clients("sagemaker"), clients("s3"), clients("sagemaker-runtime")
    config = {key: value for key, value in CAPTURE.items() if key != "CaptureContentTypeHeader"}
    serve_mean(sm, s3, "cap-input", 3.0, dict(config, CaptureOptions=[{"CaptureMode": "Input"}]))
    runtime.invoke_endpoint(EndpointName="cap-input", Body=ROW, ContentType="text/csv")
    (_, record), = captured(s3, "datacapture/cap-input/", 1)
    assert list(record["captureData"]) == ["endpointInput"]
    captured_input = record["captureData"]["endpointInput"]
    assert captured_input["encoding"] == "BASE64"
    assert base64.b64decode(captured_input["data"]).decode() == ROW


def test_half_the_requests_are_captured_at_fifty_percent(clients, data_bucket, sagemaker_role, cloud):
    sm, s3, runtime = clients("sagemaker"), clients("s3"), clients("sagemaker-runtime")
    serve_mean(sm, s3, "cap-half", 5.0, dict(CAPTURE, InitialSamplingPercentage=50))
    for _ in range(200):
        runtime.invoke_endpoint(EndpointName="cap-half", Body=ROW, ContentType="text/csv")
    cloud.service("sagemaker").capture.flush()
    assert 80 <= len(captured(s3, "datacapture/cap-half/", 1)) <= 120


def test_a_disabled_capture_writes_nothing(clients, data_bucket, sagemaker_role, cloud):
    sm, s3, runtime = clients("sagemaker"), clients("s3"), clients("sagemaker-runtime")
    serve_mean(sm, s3, "cap-off", 5.0, dict(CAPTURE, EnableCapture=False))
    runtime.invoke_endpoint(EndpointName="cap-off", Body=ROW, ContentType="text/csv")
    cloud.service("sagemaker").capture.flush()
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="datacapture/cap-off/")


def test_the_endpoint_publishes_its_metrics(clients, data_bucket, sagemaker_role):
    sm, s3, runtime, cw = (clients("sagemaker"), clients("s3"), clients("sagemaker-runtime"),
                           clients("cloudwatch"))
    serve_mean(sm, s3, "cap-metrics", 5.0)
    for _ in range(3):
        runtime.invoke_endpoint(EndpointName="cap-metrics", Body=ROW, ContentType="text/csv")
    with pytest.raises(ClientError):
        runtime.invoke_endpoint(EndpointName="cap-metrics", Body="1,2", ContentType="text/csv")
    dimensions = [{"Name": "EndpointName", "Value": "cap-metrics"}, {"Name": "VariantName", "Value": "AllTraffic"}]
    now = datetime.now(timezone.utc)

    def statistic(name, stat="Sum"):
        points = cw.get_metric_statistics(Namespace="AWS/SageMaker", MetricName=name, Dimensions=dimensions,
                                          StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=5),
                                          Period=600, Statistics=[stat])["Datapoints"]
        return points[0][stat] if points else None
    wait_for(lambda: statistic("Invocations") == 4, 15, 0.25, "the invocations metric")
    assert statistic("Invocation4XXErrors") == 1
    assert statistic("Invocation5XXErrors") == 0
    assert statistic("InvocationsPerInstance") == 4
    assert statistic("ModelLatency", "Maximum") > 0
    assert statistic("OverheadLatency", "SampleCount") == 4
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/SageMaker")["Metrics"]}
    assert {"Invocations", "Invocation4XXErrors", "Invocation5XXErrors", "ModelLatency", "OverheadLatency"} <= names
