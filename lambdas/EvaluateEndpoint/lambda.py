"""System-test step: evaluate an endpoint on the test split and write an evaluation report to S3.

Event: {"EndpointName": ..., "TestDataUri": "s3://.../testing/test.csv", "ReportUri": "s3://.../evaluation.json"}
and optionally "BatchSize" (rows per request). The test split has no header; its first column is the label
(rings), the others the features the endpoint takes. Returns {"rmse": ..., "mae": ..., "rows": ..., "report": ...}.
"""

import csv
import io
import json
import logging
import math
import time
from datetime import datetime, timezone

import boto3

logger = logging.getLogger()
logger.setLevel(logging.INFO)

s3 = boto3.client("s3")
runtime = boto3.client("sagemaker-runtime")

DEFAULT_BATCH_SIZE = 500
# SageMaker refuses request bodies over 6 MB.
MAX_REQUEST_BYTES = 6 * 1024 * 1024


class EvaluationError(Exception):
    """The test data or the endpoint's answer is not what the evaluation needs."""


def split_s3_uri(uri):
    if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:]:
        raise EvaluationError(f"{uri!r} is not an S3 object URI (s3://bucket/key)")
    bucket, key = uri[5:].split("/", 1)
    if not bucket or not key:
        raise EvaluationError(f"{uri!r} is not an S3 object URI (s3://bucket/key)")
    return bucket, key


def read_test_rows(s3_client, uri):
    """(labels, feature lines) of the test split; every row is checked to be numeric and of one width."""
    bucket, key = split_s3_uri(uri)
    body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    labels, lines, width = [], [], None
    for number, row in enumerate(csv.reader(io.StringIO(body)), start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if width is None:
            width = len(row)
        if len(row) != width or width < 2:
            raise EvaluationError(
                f"{uri} row {number} has {len(row)} columns, expected {width} (the label, then the features)"
            )
        try:
            values = [float(cell) for cell in row]
        except ValueError as error:
            raise EvaluationError(f"{uri} row {number} is not numeric ({error}); is there a header row?") from error
        if not all(math.isfinite(value) for value in values):
            raise EvaluationError(f"{uri} row {number} holds NaN or infinity")
        labels.append(values[0])
        lines.append(",".join(cell.strip() for cell in row[1:]))
    if not labels:
        raise EvaluationError(f"{uri} holds no rows to evaluate")
    return labels, lines


def parse_predictions(body, content_type):
    """Numbers from the endpoint's answer: JSON (a list, or {"predictions": [...]}) or CSV, one per row."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if "json" in (content_type or "") or text.lstrip().startswith(("[", "{")):
        document = json.loads(text)
        if isinstance(document, dict):
            document = document.get("predictions", document.get("scores"))
        if not isinstance(document, list):
            raise EvaluationError(f"The endpoint answered JSON without a list of predictions: {text[:200]}")
        values = []
        for item in document:
            if isinstance(item, dict) and len(item) == 1:
                item = next(iter(item.values()))
            if isinstance(item, list) and len(item) == 1:
                item = item[0]
            values.append(item)
    else:
        values = [cell for line in text.splitlines() for cell in line.split(",") if cell.strip()]
    try:
        numbers = [float(value) for value in values]
    except (TypeError, ValueError) as error:
        raise EvaluationError(f"The endpoint answered something that is not a number per row: {text[:200]}") from error
    if not all(math.isfinite(number) for number in numbers):
        raise EvaluationError(f"The endpoint answered NaN or infinity: {text[:200]}")
    return numbers


def predict(runtime_client, endpoint, lines, batch_size):
    predictions = []
    for start in range(0, len(lines), batch_size):
        batch = lines[start : start + batch_size]
        payload = ("\n".join(batch) + "\n").encode("utf-8")
        if len(payload) > MAX_REQUEST_BYTES:
            raise EvaluationError(f"A batch of {len(batch)} rows is over 6 MB: lower BatchSize")
        response = runtime_client.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Accept="application/json", Body=payload
        )
        answer = parse_predictions(response["Body"].read(), response.get("ContentType"))
        if len(answer) != len(batch):
            raise EvaluationError(
                f"Endpoint {endpoint} answered {len(answer)} predictions for {len(batch)} rows (rows {start + 1}-"
                f"{start + len(batch)})"
            )
        predictions += answer
    return predictions


def metrics(labels, predictions):
    errors = [prediction - label for label, prediction in zip(labels, predictions, strict=True)]
    return {
        "rmse": math.sqrt(sum(error * error for error in errors) / len(errors)),
        "mae": sum(abs(error) for error in errors) / len(errors),
        "rows": len(errors),
    }


def evaluate(s3_client, runtime_client, endpoint, test_data_uri, report_uri, batch_size=DEFAULT_BATCH_SIZE):
    """Evaluate the endpoint, write the report, and return the metrics with the report's URI."""
    if not endpoint:
        raise EvaluationError("EndpointName is missing from the event")
    if int(batch_size) < 1:
        raise EvaluationError(f"BatchSize must be at least 1, got {batch_size}")
    report_bucket, report_key = split_s3_uri(report_uri)
    labels, lines = read_test_rows(s3_client, test_data_uri)
    started = time.monotonic()
    predictions = predict(runtime_client, endpoint, lines, int(batch_size))
    result = metrics(labels, predictions)
    report = {
        "endpoint": endpoint,
        "test_data": test_data_uri,
        "metrics": {"rmse": result["rmse"], "mae": result["mae"]},
        "rows": result["rows"],
        "seconds": round(time.monotonic() - started, 3),
        "evaluated_at": datetime.now(timezone.utc).isoformat(),
    }
    s3_client.put_object(
        Bucket=report_bucket,
        Key=report_key,
        Body=json.dumps(report, indent=2).encode("utf-8"),
        ContentType="application/json",
    )
    logger.info("Endpoint %s: RMSE %.4f over %d rows; report %s", endpoint, result["rmse"], result["rows"], report_uri)
    return {**result, "report": report_uri}


def lambda_handler(event, context):
    return evaluate(
        s3,
        runtime,
        event.get("EndpointName"),
        event.get("TestDataUri"),
        event.get("ReportUri"),
        event.get("BatchSize", DEFAULT_BATCH_SIZE),
    )
