"""EvaluateEndpoint: a Stubber for the endpoint, moto for S3."""

import io
import json
import math

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from testkit.lambdas import load_lambda
from testkit.moto import ARTIFACT_BUCKET

EXECUTION = "5b0c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d"
TEST_KEY = f"{EXECUTION}/input/testing/test.csv"
REPORT_KEY = f"{EXECUTION}/evaluation/evaluation.json"
ROWS = [
    [9, 0, 0, 1, 0.455, 0.365, 0.095, 0.514, 0.2245, 0.101, 0.15],
    [7, 0, 0, 1, 0.35, 0.265, 0.09, 0.2255, 0.0995, 0.0485, 0.07],
    [10, 1, 0, 0, 0.53, 0.42, 0.135, 0.677, 0.2565, 0.1415, 0.21],
    [7, 0, 1, 0, 0.33, 0.255, 0.08, 0.205, 0.0895, 0.0395, 0.055],
    [16, 1, 0, 0, 0.545, 0.425, 0.125, 0.768, 0.294, 0.1495, 0.26],
]
PREDICTIONS = [10.0, 6.0, 10.5, 8.0, 13.0]


def csv_of(rows):
    return "\n".join(",".join(str(value) for value in row) for row in rows) + "\n"


def answer(values):
    body = json.dumps({"predictions": values}).encode()
    return {"Body": StreamingBody(io.BytesIO(body), len(body)), "ContentType": "application/json"}


@pytest.fixture
def test_data(aws):
    s3 = aws.client("s3")
    s3.put_object(Bucket=ARTIFACT_BUCKET, Key=TEST_KEY, Body=csv_of(ROWS).encode())
    return s3


@pytest.fixture
def evaluate(aws):
    return load_lambda("EvaluateEndpoint")


@pytest.fixture
def evaluate_offline(aws_env):
    """The module without moto, for the functions that call no service."""
    return load_lambda("EvaluateEndpoint")


def stubbed_runtime(batches):
    """A sagemaker-runtime client that expects one request per batch of rows and answers its predictions."""
    client = boto3.client("sagemaker-runtime", region_name="us-east-1")
    stubber = Stubber(client)
    for rows, values in batches:
        stubber.add_response(
            "invoke_endpoint",
            answer(values),
            {
                "EndpointName": "abalone-dev",
                "ContentType": "text/csv",
                "Accept": "application/json",
                "Body": csv_of([row[1:] for row in rows]).encode(),
            },
        )
    stubber.activate()
    return client, stubber


def test_evaluate_computes_rmse_and_writes_the_report(evaluate, test_data):
    runtime, stubber = stubbed_runtime([(ROWS, PREDICTIONS)])
    uri = f"s3://{ARTIFACT_BUCKET}"

    result = evaluate.evaluate(test_data, runtime, "abalone-dev", f"{uri}/{TEST_KEY}", f"{uri}/{REPORT_KEY}")

    squared = [(p - row[0]) ** 2 for p, row in zip(PREDICTIONS, ROWS, strict=True)]
    expected_rmse = math.sqrt(sum(squared) / len(squared))  # (1 + 1 + 0.25 + 1 + 9) / 5
    assert result["rmse"] == pytest.approx(expected_rmse) == pytest.approx(math.sqrt(12.25 / 5))
    assert result["mae"] == pytest.approx((1 + 1 + 0.5 + 1 + 3) / 5)
    assert result["rows"] == 5
    assert result["report"] == f"{uri}/{REPORT_KEY}"
    stubber.assert_no_pending_responses()
    report = json.loads(test_data.get_object(Bucket=ARTIFACT_BUCKET, Key=REPORT_KEY)["Body"].read())
    assert report["metrics"]["rmse"] == pytest.approx(expected_rmse)
    assert report["endpoint"] == "abalone-dev" and report["rows"] == 5


def test_evaluate_sends_batches(evaluate, test_data):
    runtime, stubber = stubbed_runtime(
        [(ROWS[:2], PREDICTIONS[:2]), (ROWS[2:4], PREDICTIONS[2:4]), (ROWS[4:], PREDICTIONS[4:])]
    )
    uri = f"s3://{ARTIFACT_BUCKET}"
    result = evaluate.evaluate(
        test_data, runtime, "abalone-dev", f"{uri}/{TEST_KEY}", f"{uri}/{REPORT_KEY}", batch_size=2
    )
    assert result["rmse"] == pytest.approx(math.sqrt(12.25 / 5))
    stubber.assert_no_pending_responses()


def test_the_handler_reads_its_event(evaluate, test_data, monkeypatch):
    runtime, _ = stubbed_runtime([(ROWS, PREDICTIONS)])
    monkeypatch.setattr(evaluate, "runtime", runtime)
    uri = f"s3://{ARTIFACT_BUCKET}"
    event = {"EndpointName": "abalone-dev", "TestDataUri": f"{uri}/{TEST_KEY}", "ReportUri": f"{uri}/{REPORT_KEY}"}
    assert evaluate.lambda_handler(event, None)["rows"] == 5


def test_a_short_answer_is_an_error(evaluate, test_data):
    runtime, _ = stubbed_runtime([(ROWS, PREDICTIONS[:4])])
    uri = f"s3://{ARTIFACT_BUCKET}"
    with pytest.raises(evaluate.EvaluationError, match="answered 4 predictions for 5 rows"):
        evaluate.evaluate(test_data, runtime, "abalone-dev", f"{uri}/{TEST_KEY}", f"{uri}/{REPORT_KEY}")


@pytest.mark.parametrize(
    "body, problem",
    [
        ("rings,sex_F\n9,0\n", "row 1 is not numeric"),
        ("9,0,1\n7,0\n", "row 2 has 2 columns, expected 3"),
        ("9,nan,1\n", "NaN or infinity"),
        ("\n\n", "holds no rows"),
    ],
)
def test_bad_test_data_is_named(evaluate, aws, body, problem):
    s3 = aws.client("s3")
    s3.put_object(Bucket=ARTIFACT_BUCKET, Key="bad.csv", Body=body.encode())
    runtime = boto3.client("sagemaker-runtime", region_name="us-east-1")
    uri = f"s3://{ARTIFACT_BUCKET}"
    with pytest.raises(evaluate.EvaluationError, match=problem):
        evaluate.evaluate(s3, runtime, "abalone-dev", f"{uri}/bad.csv", f"{uri}/report.json")


@pytest.mark.parametrize(
    "body, content_type, expected",
    [
        (b'{"predictions": [1.5, 2]}', "application/json", [1.5, 2.0]),
        (b"[[1.5], [2]]", "application/json", [1.5, 2.0]),
        (b'[{"rings": 1.5}, {"rings": 2}]', "application/json", [1.5, 2.0]),
        (b"1.5\n2\n", "text/csv", [1.5, 2.0]),
    ],
)
def test_predictions_are_read_from_json_or_csv(evaluate_offline, body, content_type, expected):
    assert evaluate_offline.parse_predictions(body, content_type) == expected


@pytest.mark.parametrize("body", [b'{"error": "bad"}', b'["x"]', b"[NaN]"])
def test_unusable_answers_are_errors(evaluate_offline, body):
    with pytest.raises(evaluate_offline.EvaluationError):
        evaluate_offline.parse_predictions(body, "application/json")


def test_bad_uris_are_refused(evaluate_offline):
    with pytest.raises(evaluate_offline.EvaluationError, match="not an S3 object URI"):
        evaluate_offline.split_s3_uri("s3://bucket-only")
