"""The Model Monitor analyzer the local cloud provides, run as its container contract says: what it reads (CSV with
or without a header, JSON, captured data in every encoding), the checks it makes, and how it fails."""

import base64
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mlops_workshop.localcloud.sagemaker.analyzer import REPOSITORY, image_uri
from mlops_workshop.localcloud.sagemaker.analyzer.__main__ import analyze
from mlops_workshop.localcloud.sagemaker.analyzer.datasets import AnalysisError
from mlops_workshop.localcloud.sagemaker.analyzer.sketch import KllSketch, distance

CSV_HEADER = json.dumps({"csv": {"header": True}})
CAPTURE = json.dumps({"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}})


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def baseline(tmp_path, text, fmt=CSV_HEADER):
    """Run a baselining job over `text`; returns (statistics, constraints, environment for a monitoring run)."""
    write(tmp_path / "base" / "data.csv", text)
    env = {"dataset_format": fmt, "dataset_source": str(tmp_path / "base"), "output_path": str(tmp_path / "bout")}
    assert analyze(env, tmp_path) == "Completed: Job completed successfully with no violations."
    statistics = json.loads((tmp_path / "bout" / "statistics.json").read_text())
    constraints = json.loads((tmp_path / "bout" / "constraints.json").read_text())
    monitoring = {"baseline_statistics": str(tmp_path / "bout" / "statistics.json"),
                  "baseline_constraints": str(tmp_path / "bout" / "constraints.json"),
                  "output_path": str(tmp_path / "out")}
    return statistics, constraints, monitoring


def monitor(tmp_path, env, text, fmt=json.dumps({"csv": {"header": False}}), **extra):
    write(tmp_path / "now" / "data.csv", text)
    outcome = analyze({**env, "dataset_format": fmt, "dataset_source": str(tmp_path / "now"), **extra}, tmp_path)
    return outcome, json.loads((tmp_path / "out" / "constraint_violations.json").read_text())["violations"]


def table(rows, header=None):
    lines = [",".join(header)] if header else []
    return "\n".join(lines + [",".join(str(v) for v in row) for row in rows]) + "\n"


def test_the_image_is_the_one_aws_publishes_in_each_region():
    assert image_uri("us-east-1") == "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
    assert image_uri("eu-west-1").startswith("468650794304.dkr.ecr.eu-west-1.amazonaws.com/")
    assert image_uri("cn-north-1").endswith(".amazonaws.com.cn/sagemaker-model-monitor-analyzer")
    assert REPOSITORY == "sagemaker-model-monitor-analyzer"


def test_types_completeness_strings_and_their_constraints(tmp_path):
    rows = [[i % 3, round(0.5 + i / 100, 3), "abc"[i % 3] if i % 10 else ""] for i in range(100)]
    statistics, constraints, _ = baseline(tmp_path, table(rows, ["count", "size", "kind"]))
    count, size, kind = statistics["features"]
    assert (count["inferred_type"], size["inferred_type"], kind["inferred_type"]) == ("Integral", "Fractional",
                                                                                       "String")
    assert kind["string_statistics"]["common"] == {"num_present": 90, "num_missing": 10}
    assert kind["string_statistics"]["distinct_count"] == 3
    assert {b["value"] for b in kind["string_statistics"]["distribution"]["categorical"]["buckets"]} == {"a", "b", "c"}
    assert size["numerical_statistics"]["min"] == 0.5 and size["numerical_statistics"]["max"] == 1.49
    features = {f["name"]: f for f in constraints["features"]}
    assert features["kind"]["completeness"] == 0.9
    assert features["kind"]["string_constraints"] == {"domains": ["a", "b", "c"]}
    assert features["count"]["num_constraints"] == {"is_non_negative": True}


def test_a_monitoring_run_names_columns_by_the_baseline_and_finds_each_kind_of_violation(tmp_path):
    rng = np.random.default_rng(0)
    rows = [[int(rng.integers(0, 5)), round(float(rng.normal(10, 1)), 3), "xy"[i % 2]] for i in range(500)]
    _, _, env = baseline(tmp_path, table(rows, ["count", "size", "kind"]))
    clean = [[int(rng.integers(0, 5)), round(float(rng.normal(10, 1)), 3), "xy"[i % 2]] for i in range(200)]
    assert monitor(tmp_path, env, table(clean)) == ("Completed: Job completed successfully with no violations.", [])

    bad = [[0.5 if i == 0 else 1, "" if i < 20 else round(float(rng.normal(14, 1)), 3), "z" if i < 5 else "x"]
           for i in range(200)]
    outcome, violations = monitor(tmp_path, env, table(bad))
    found = {(v["feature_name"], v["constraint_check_type"]) for v in violations}
    assert found == {("count", "data_type_check"), ("size", "completeness_check"), ("size", "baseline_drift_check"),
                     ("kind", "categorical_values_check"), ("kind", "baseline_drift_check"),
                     ("count", "baseline_drift_check")}
    assert outcome == f"CompletedWithViolations: Job completed successfully with {len(violations)} violations."
    messages = {(v["feature_name"], v["constraint_check_type"]): v["description"] for v in violations}
    assert messages[("count", "data_type_check")] == ("Data type match requirement is not met. Expected data type: "
                                                      "Integral, Expected match: 100%. Observed: Only 99.5% of data "
                                                      "is Integral.")
    assert messages[("size", "completeness_check")].endswith("Observed: Only 90% of data is present.")
    assert messages[("size", "baseline_drift_check")].startswith("Baseline drift distance: ")

    _, missing = monitor(tmp_path, env, table([row[:2] for row in clean]))
    assert [(v["feature_name"], v["constraint_check_type"]) for v in missing] == [("kind", "missing_column_check")]
    _, extra = monitor(tmp_path, env, table([row + [7] for row in clean]))
    assert ("_c3", "extra_column_check") in {(v["feature_name"], v["constraint_check_type"]) for v in extra}


def test_robust_comparison_ignores_what_a_small_sample_shows_by_chance(tmp_path):
    rng = np.random.default_rng(1)
    _, _, env = baseline(tmp_path, table([[round(float(v), 4)] for v in rng.normal(0, 1, 2000)], ["x"]))
    few = table([[round(float(v), 4)] for v in rng.normal(0, 1, 8)])
    assert monitor(tmp_path, env, few)[1] == []
    constraints = json.loads(open(env["baseline_constraints"]).read())
    constraints["monitoring_config"]["distribution_constraints"]["comparison_method"] = "Simple"
    constraints["monitoring_config"]["distribution_constraints"]["comparison_threshold"] = 0.01
    open(env["baseline_constraints"], "w").write(json.dumps(constraints))
    assert [v["constraint_check_type"] for v in monitor(tmp_path, env, few)[1]] == ["baseline_drift_check"]


def test_captured_data_in_each_encoding_within_the_window(tmp_path):
    _, _, env = baseline(tmp_path, table([[1.0 + i / 10, 2.0] for i in range(50)], ["a", "b"]))

    def record(when, data, encoding, content_type="text/csv"):
        return json.dumps({"captureData": {
            "endpointInput": {"observedContentType": content_type, "mode": "INPUT", "data": data,
                              "encoding": encoding},
            "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT", "data": "9.0\n",
                               "encoding": "CSV"}},
            "eventMetadata": {"eventId": "e", "inferenceTime": when}, "eventVersion": "0"})
    lines = [record("2026-12-01T10:00:05Z", "1.5,2.0", "CSV"),
             record("2026-12-01T10:00:06Z", base64.b64encode(b"1.7,2.0").decode(), "BASE64"),
             record("2026-12-01T10:00:07Z", json.dumps([1.9, 2.0]), "JSON", "application/json"),
             record("2026-12-01T11:30:00Z", "50,50", "CSV")]
    write(tmp_path / "now" / "ep" / "AllTraffic" / "2026" / "12" / "01" / "10" / "f.jsonl", "\n".join(lines) + "\n")
    window = {"start_time": "2026-12-01T10:00:00Z", "end_time": "2026-12-01T11:00:00Z"}
    fmt = json.dumps({"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput"]}})
    outcome = analyze({**env, **window, "dataset_format": fmt, "dataset_source": str(tmp_path / "now")}, tmp_path)
    statistics = json.loads((tmp_path / "out" / "statistics.json").read_text())
    assert statistics["dataset"]["item_count"] == 3
    assert [f["name"] for f in statistics["features"]] == ["a", "b"]
    assert statistics["features"][0]["numerical_statistics"]["max"] == 1.9
    assert outcome.startswith("Completed")

    both = analyze({**env, **window, "dataset_format": CAPTURE, "dataset_source": str(tmp_path / "now"),
                    "publish_cloudwatch_metrics": "Enabled", "sagemaker_endpoint_name": "ep",
                    "sagemaker_monitoring_schedule_name": "s"}, tmp_path)
    violations = json.loads((tmp_path / "out" / "constraint_violations.json").read_text())["violations"]
    assert "extra_column_check" in {v["constraint_check_type"] for v in violations}  # the output comes first
    assert both.startswith("CompletedWithViolations")
    metrics = [json.loads(line) for line in (tmp_path / "output/metrics/cloudwatch/metrics.json").read_text()
               .splitlines()]
    assert {m["MetricName"] for m in metrics} >= {"feature_data_a", "feature_non_null_a", "feature_baseline_drift_a"}
    assert metrics[0]["Dimensions"] == [{"Name": "Endpoint", "Value": "ep"}, {"Name": "MonitoringSchedule",
                                                                            "Value": "s"}]
    assert metrics[0]["Timestamp"] == "2026-12-01T10:00:00Z"


def test_json_lines_datasets(tmp_path):
    write(tmp_path / "base" / "a.jsonl", "\n".join(json.dumps({"x": i, "name": "n"}) for i in range(20)))
    env = {"dataset_format": json.dumps({"json": {"lines": True}}), "dataset_source": str(tmp_path / "base"),
           "output_path": str(tmp_path / "bout")}
    analyze(env, tmp_path)
    statistics = json.loads((tmp_path / "bout" / "statistics.json").read_text())
    assert [(f["name"], f["inferred_type"]) for f in statistics["features"]] == [("x", "Integral"), ("name", "String")]


def test_what_the_analyzer_refuses_is_its_exit_message(tmp_path):
    for env, words in (({"dataset_format": CSV_HEADER, "output_path": str(tmp_path)}, "dataset_source is required"),
                       ({"dataset_format": "{", "dataset_source": "x", "output_path": "y"}, "not valid JSON"),
                       ({"dataset_format": json.dumps({"parquet": {}}), "dataset_source": str(tmp_path),
                         "output_path": str(tmp_path)}, "not Parquet"),
                       ({"analysis_type": "MODEL_QUALITY"}, "data quality only")):
        with pytest.raises(AnalysisError, match=words):
            analyze(env, tmp_path)
    write(tmp_path / "empty" / "x.csv", "a,b\n")
    program = subprocess.run([sys.executable, "-m", "mlops_workshop.localcloud.sagemaker.analyzer"], env={
        **os.environ, "OPT_ML_ROOT": str(tmp_path), "dataset_format": CSV_HEADER,
        "dataset_source": str(tmp_path / "empty"), "output_path": str(tmp_path / "o")}, capture_output=True, text=True)
    assert program.returncode == 1
    assert (tmp_path / "output" / "message").read_text() == f"Error: the dataset in {tmp_path / 'empty'} has no records"


def test_the_sketch_keeps_its_weight_and_the_distance_tells_distributions_apart():
    rng = np.random.default_rng(2)
    big = KllSketch.of(rng.normal(0, 1, 10000))
    assert big.count() == 10000 and sum(len(level) for level in big.levels) < 2048 / (1 - 0.64)
    assert KllSketch.from_json(big.as_json()).count() == 10000
    assert distance(big, KllSketch.of(rng.normal(0, 1, 5000))) < 0.05
    assert distance(big, KllSketch.of(rng.normal(1, 1, 5000))) > 0.3
