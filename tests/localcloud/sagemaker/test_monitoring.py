"""Model Monitor on the local cloud: a baseline job of the analyzer writes statistics.json and constraints.json in
the documented shapes; monitoring schedules run on the schedules' clock over the captured data, clean traffic
Completed, drifted CompletedWithViolations naming the drifted features, no data Failed as SageMaker fails it; the
monitor's metrics land in CloudWatch."""

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from botocore.exceptions import ClientError

from mlops_workshop.localcloud import LocalCloud
from mlops_workshop.localcloud.sagemaker.analyzer import image_uri
from testkit.localcloud import BUCKET, FAKE_IMAGE_SETTINGS, REGION, SAGEMAKER_ROLE, execution_role, serve_mean
from testkit.shapes import missing_members
from testkit.waiting import wait_for

FEATURES = ["sex_F", "sex_I", "sex_M", "length", "diameter", "height", "whole", "shucked", "viscera", "shell"]
ANALYZER = image_uri(REGION)
# The schedules' clock 720 times real time: an hour lasts 5 s, twelve hours a minute.
SPEEDUP = 720
CAPTURE = {"EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": f"s3://{BUCKET}/datacapture",
           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
           "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]}}


@pytest.fixture
def cloud_settings():
    return dict(FAKE_IMAGE_SETTINGS, schedule_speedup=SPEEDUP, capture_flush_seconds=0.5)


def rows(count, seed, drift=1.0):
    """Abalone-like rows: a one-hot sex, then sizes and weights; `drift` scales the sizes of the last four."""
    rng = np.random.default_rng(seed)
    found = []
    for _ in range(count):
        sex = [0, 0, 0]
        sex[rng.integers(0, 3)] = 1
        sizes = [rng.normal(0.52, 0.12), rng.normal(0.41, 0.1), rng.normal(0.14, 0.04)]
        weights = [rng.normal(0.83, 0.49), rng.normal(0.36, 0.22), rng.normal(0.18, 0.11), rng.normal(0.24, 0.14)]
        found.append(sex + [round(abs(v), 4) for v in sizes] + [round(abs(v) * drift, 4) for v in weights])
    return found


def csv_text(table, header=False):
    lines = [",".join(FEATURES)] if header else []
    return "\n".join(lines + [",".join(str(v) for v in row) for row in table]) + "\n"


def processing_done(sm, name, timeout=60):
    def check():
        job = sm.describe_processing_job(ProcessingJobName=name)
        return job if job["ProcessingJobStatus"] in ("Completed", "Failed", "Stopped") else None
    return wait_for(check, timeout, 0.2, f"processing job {name} ending")


def read_json(s3, key):
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def baseline_request(name):
    """What lambdas/MonitoringBaseline asks for: the analyzer on a CSV with a header."""
    return {"ProcessingJobName": name, "RoleArn": SAGEMAKER_ROLE, "AppSpecification": {"ImageUri": ANALYZER},
            "ProcessingInputs": [{"InputName": "baseline_dataset_input", "S3Input": {
                "S3Uri": f"s3://{BUCKET}/baseline/baseline.csv", "S3DataType": "S3Prefix", "S3InputMode": "File",
                "LocalPath": "/opt/ml/processing/input/baseline_dataset_input"}}],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "monitoring_output", "S3Output": {
                "S3Uri": f"s3://{BUCKET}/monitoring/baseline", "LocalPath": "/opt/ml/processing/output",
                "S3UploadMode": "EndOfJob"}}]},
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                                      "VolumeSizeInGB": 20}},
            "Environment": {"dataset_format": json.dumps({"csv": {"header": True, "output_columns_position": "START"}}),
                            "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
                            "output_path": "/opt/ml/processing/output", "publish_cloudwatch_metrics": "Disabled"}}


@pytest.fixture
def baseline(clients, data_bucket, sagemaker_role):
    """The baseline job's result: statistics.json and constraints.json under monitoring/baseline/."""
    sm, s3 = clients("sagemaker"), clients("s3")
    s3.put_object(Bucket=BUCKET, Key="baseline/baseline.csv", Body=csv_text(rows(1500, 1), header=True).encode())
    sm.create_processing_job(**baseline_request("abalone-baseline"))
    job = processing_done(sm, "abalone-baseline")
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    return f"s3://{BUCKET}/monitoring/baseline"


def schedule_config(endpoint, baseline_uri, expression="cron(0 * ? * * *)", **schedule):
    return {"ScheduleConfig": {"ScheduleExpression": expression, **schedule}, "MonitoringJobDefinition": {
        "BaselineConfig": {"ConstraintsResource": {"S3Uri": f"{baseline_uri}/constraints.json"},
                           "StatisticsResource": {"S3Uri": f"{baseline_uri}/statistics.json"}},
        "MonitoringInputs": [{"EndpointInput": {
            "EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input/endpoint", "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated"}}],
        "MonitoringOutputConfig": {"MonitoringOutputs": [{"S3Output": {
            "S3Uri": f"s3://{BUCKET}/monitoring/reports", "LocalPath": "/opt/ml/processing/output",
            "S3UploadMode": "EndOfJob"}}]},
        "MonitoringResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 20}},
        "MonitoringAppSpecification": {"ImageUri": ANALYZER},
        "Environment": {"dataset_format": json.dumps({"sagemakerCaptureJson": {
            "captureIndexNames": ["endpointInput"]}})},
        "StoppingCondition": {"MaxRuntimeInSeconds": 1800},
        "RoleArn": SAGEMAKER_ROLE}}


def send(clients, cloud, endpoint, table):
    runtime = clients("sagemaker-runtime")
    for start in range(0, len(table), 10):
        runtime.invoke_endpoint(EndpointName=endpoint, Body=csv_text(table[start:start + 10]), ContentType="text/csv")
    cloud.service("sagemaker").capture.flush()


def executions(sm, schedule, **filters):
    return sm.list_monitoring_executions(MonitoringScheduleName=schedule, **filters)["MonitoringExecutionSummaries"]


def ended(sm, schedule, timeout=60):
    """The schedule's first execution that ended."""
    def check():
        found = [e for e in executions(sm, schedule, SortOrder="Ascending")
                 if e["MonitoringExecutionStatus"] not in ("Pending", "InProgress")]
        return found[0] if found else None
    return wait_for(check, timeout, 0.2, f"an execution of {schedule} ending")


def test_the_baseline_job_writes_statistics_and_constraints_in_the_analyzers_shapes(clients, baseline):
    s3 = clients("s3")
    statistics = read_json(s3, "monitoring/baseline/statistics.json")
    assert statistics["version"] == 0 and statistics["dataset"] == {"item_count": 1500}
    assert [f["name"] for f in statistics["features"]] == FEATURES
    sex, length = statistics["features"][0], statistics["features"][3]
    assert (sex["inferred_type"], length["inferred_type"]) == ("Integral", "Fractional")
    numbers = length["numerical_statistics"]
    assert set(numbers) == {"common", "mean", "sum", "std_dev", "min", "max", "distribution"}
    assert numbers["common"] == {"num_present": 1500, "num_missing": 0}
    assert numbers["mean"] == pytest.approx(0.52, abs=0.02)
    assert numbers["sum"] == pytest.approx(numbers["mean"] * 1500)
    kll = numbers["distribution"]["kll"]
    assert len(kll["buckets"]) == 10
    assert set(kll["buckets"][0]) == {"lower_bound", "upper_bound", "count"}
    assert sum(b["count"] for b in kll["buckets"]) == 1500
    assert kll["buckets"][0]["lower_bound"] == numbers["min"] and kll["buckets"][-1]["upper_bound"] == numbers["max"]
    assert kll["sketch"]["parameters"] == {"c": 0.64, "k": 2048.0}
    assert sum(len(level) for level in kll["sketch"]["data"]) == 1500

    constraints = read_json(s3, "monitoring/baseline/constraints.json")
    assert constraints["version"] == 0
    assert constraints["features"][3] == {"name": "length", "inferred_type": "Fractional", "completeness": 1.0,
                                          "num_constraints": {"is_non_negative": True}}
    config = constraints["monitoring_config"]
    assert {k: config[k] for k in ("evaluate_constraints", "emit_metrics", "datatype_check_threshold",
                                   "domain_content_threshold")} == {
        "evaluate_constraints": "Enabled", "emit_metrics": "Enabled", "datatype_check_threshold": 1.0,
        "domain_content_threshold": 1.0}
    assert config["distribution_constraints"] == {
        "perform_comparison": "Enabled", "comparison_threshold": 0.1, "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1, "categorical_drift_method": "LInfinity"}
    job = clients("sagemaker").describe_processing_job(ProcessingJobName="abalone-baseline")
    assert job["ExitMessage"] == "Completed: Job completed successfully with no violations."


def test_clean_traffic_completes_and_drifted_traffic_names_the_drifted_features(clients, cloud, baseline):
    sm, s3 = clients("sagemaker"), clients("s3")
    serve_mean(sm, s3, "mon-clean", 9.0, CAPTURE)
    serve_mean(sm, s3, "mon-drift", 9.0, CAPTURE)
    send(clients, cloud, "mon-clean", rows(200, 2))
    send(clients, cloud, "mon-drift", rows(200, 3, drift=2.0))
    for endpoint in ("mon-clean", "mon-drift"):
        config = schedule_config(endpoint, baseline, "NOW", DataAnalysisStartTime="-PT12H", DataAnalysisEndTime="-PT0H")
        sm.create_monitoring_schedule(MonitoringScheduleName=f"{endpoint}-now", MonitoringScheduleConfig=config)

    clean = ended(sm, "mon-clean-now")
    assert clean["MonitoringExecutionStatus"] == "Completed", clean.get("FailureReason")
    drifted = ended(sm, "mon-drift-now")
    assert drifted["MonitoringExecutionStatus"] == "CompletedWithViolations", drifted.get("FailureReason")
    assert drifted["EndpointName"] == "mon-drift" and drifted["MonitoringType"] == "DataQuality"

    job = sm.describe_processing_job(ProcessingJobName=drifted["ProcessingJobArn"].rsplit("/", 1)[1])
    assert job["ProcessingJobName"].startswith("model-monitoring-")
    assert job["MonitoringScheduleArn"].endswith(":monitoring-schedule/mon-drift-now")
    assert job["ExitMessage"].startswith("CompletedWithViolations: Job completed successfully with ")
    env = job["Environment"]
    assert (env["sagemaker_endpoint_name"], env["sagemaker_monitoring_schedule_name"]) == ("mon-drift", "mon-drift-now")
    assert env["baseline_constraints"] == "/opt/ml/processing/baseline/constraints/constraints.json"
    assert env["publish_cloudwatch_metrics"] == "Enabled"
    start, end = (datetime.strptime(env[k], "%Y-%m-%dT%H:%M:%SZ") for k in ("start_time", "end_time"))
    assert (end - start).total_seconds() == pytest.approx(12 * 3600 / SPEEDUP, abs=1)
    report = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert report.startswith(f"s3://{BUCKET}/monitoring/reports/mon-drift/mon-drift-now/")
    key = report[len(f"s3://{BUCKET}/"):]
    violations = read_json(s3, f"{key}/constraint_violations.json")["violations"]
    drifted_features = {v["feature_name"] for v in violations if v["constraint_check_type"] == "baseline_drift_check"}
    assert drifted_features == {"whole", "shucked", "viscera", "shell"}
    assert all(set(v) == {"feature_name", "constraint_check_type", "description"} for v in violations)
    assert next(v for v in violations if v["feature_name"] == "whole")["description"].startswith(
        "Baseline drift distance: ")
    assert read_json(s3, f"{key}/statistics.json")["dataset"]["item_count"] == 200

    clean_job = sm.describe_processing_job(ProcessingJobName=clean["ProcessingJobArn"].rsplit("/", 1)[1])
    clean_key = clean_job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"][len(f"s3://{BUCKET}/"):]
    assert read_json(s3, f"{clean_key}/constraint_violations.json") == {"violations": []}

    cw = clients("cloudwatch")
    now = datetime.now(timezone.utc)
    dimensions = [{"Name": "Endpoint", "Value": "mon-drift"}, {"Name": "MonitoringSchedule", "Value": "mon-drift-now"}]
    drift = cw.get_metric_statistics(Namespace="aws/sagemaker/Endpoints/data-metrics",
                                     MetricName="feature_baseline_drift_shell", Dimensions=dimensions,
                                     StartTime=now - timedelta(hours=1), EndTime=now + timedelta(minutes=5),
                                     Period=3600, Statistics=["Maximum"])["Datapoints"]
    assert drift and drift[0]["Maximum"] > 0.1
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="aws/sagemaker/Endpoints/data-metrics")["Metrics"]}
    assert {"feature_baseline_drift_length", "feature_non_null_length", "feature_data_length"} <= names


def test_an_hourly_schedule_runs_on_the_schedules_clock_and_a_window_without_data_fails(clients, cloud, baseline):
    sm, s3 = clients("sagemaker"), clients("s3")
    serve_mean(sm, s3, "mon-hourly", 9.0, CAPTURE)
    sm.create_monitoring_schedule(MonitoringScheduleName="mon-hourly",
                                  MonitoringScheduleConfig=schedule_config("mon-hourly", baseline))
    assert sm.describe_monitoring_schedule(MonitoringScheduleName="mon-hourly")["MonitoringScheduleStatus"] in (
        "Pending", "Scheduled")
    first = ended(sm, "mon-hourly", 30)
    assert first["MonitoringExecutionStatus"] == "Failed"
    assert first["FailureReason"] == "Job inputs had no data"
    assert "ProcessingJobArn" not in first

    send(clients, cloud, "mon-hourly", rows(60, 4))
    sent = datetime.now(timezone.utc)
    completed = wait_for(lambda: executions(sm, "mon-hourly", StatusEquals="Completed"), 60, 0.2,
                         "an execution over the traffic")[0]
    assert completed["ScheduledTime"] > sent - timedelta(seconds=1)
    described = sm.describe_monitoring_schedule(MonitoringScheduleName="mon-hourly")
    assert missing_members("sagemaker", "DescribeMonitoringSchedule", described) == []
    assert missing_members("sagemaker", "ListMonitoringExecutions", sm.list_monitoring_executions()) == []
    assert described["CreationTime"].tzinfo is not None
    assert described["MonitoringScheduleStatus"] == "Scheduled"
    assert described["EndpointName"] == "mon-hourly" and described["MonitoringType"] == "DataQuality"
    assert "LastMonitoringExecutionSummary" in described
    times = [e["ScheduledTime"] for e in executions(sm, "mon-hourly", SortOrder="Ascending")]
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    assert gaps and all(gap == pytest.approx(3600 / SPEEDUP, abs=1.5) for gap in gaps)

    sm.stop_monitoring_schedule(MonitoringScheduleName="mon-hourly")
    assert sm.describe_monitoring_schedule(MonitoringScheduleName="mon-hourly")["MonitoringScheduleStatus"] == "Stopped"
    sm.start_monitoring_schedule(MonitoringScheduleName="mon-hourly")
    assert sm.describe_monitoring_schedule(MonitoringScheduleName="mon-hourly")["MonitoringScheduleStatus"] == \
        "Scheduled"


def test_schedules_are_listed_filtered_and_refused_as_sagemaker_does(clients, cloud, baseline):
    sm, s3 = clients("sagemaker"), clients("s3")
    serve_mean(sm, s3, "mon-api", 9.0, CAPTURE)
    serve_mean(sm, s3, "mon-nocapture", 9.0)
    daily = schedule_config("mon-api", baseline, "cron(0 6 ? * * *)")
    sm.create_monitoring_schedule(MonitoringScheduleName="api-daily", MonitoringScheduleConfig=daily)
    sm.create_monitoring_schedule(MonitoringScheduleName="api-hourly",
                                  MonitoringScheduleConfig=schedule_config("mon-api", baseline))
    sm.create_monitoring_schedule(MonitoringScheduleName="api-nocapture",
                                  MonitoringScheduleConfig=schedule_config("mon-nocapture", baseline))
    failed = wait_for(lambda: (found := sm.describe_monitoring_schedule(MonitoringScheduleName="api-nocapture"))[
        "MonitoringScheduleStatus"] == "Failed" and found, 10, what="the schedule to fail")
    assert "Data capture is not enabled for endpoint mon-nocapture" in failed["FailureReason"]

    def names(**filters):
        return [s["MonitoringScheduleName"] for s in sm.list_monitoring_schedules(**filters)[
            "MonitoringScheduleSummaries"]]
    assert names(EndpointName="mon-api", SortBy="Name", SortOrder="Ascending") == ["api-daily", "api-hourly"]
    assert names(NameContains="hourly") == ["api-hourly"]
    assert names(StatusEquals="Failed") == ["api-nocapture"]
    assert names(MonitoringTypeEquals="DataQuality", SortBy="CreationTime") == ["api-nocapture", "api-hourly",
                                                                              "api-daily"]
    assert names(CreationTimeAfter=datetime.now(timezone.utc) + timedelta(minutes=1)) == []
    page = sm.list_monitoring_schedules(MaxResults=2)
    assert len(page["MonitoringScheduleSummaries"]) == 2 and page["NextToken"]
    summary = sm.list_monitoring_schedules(NameContains="daily")["MonitoringScheduleSummaries"][0]
    assert {"MonitoringScheduleName", "MonitoringScheduleArn", "CreationTime", "LastModifiedTime",
            "MonitoringScheduleStatus", "EndpointName", "MonitoringType"} <= set(summary)

    def refused(code, **request):
        with pytest.raises(ClientError) as error:
            sm.create_monitoring_schedule(**request)
        assert error.value.response["Error"]["Code"] == code
        return error.value.response["Error"]["Message"]
    assert "already exists" in refused("ResourceInUse", MonitoringScheduleName="api-daily",
                                       MonitoringScheduleConfig=daily)
    assert "Invalid ScheduleExpression" in refused("ValidationException", MonitoringScheduleName="api-rate",
                                                   MonitoringScheduleConfig=schedule_config("mon-api", baseline,
                                                                                            "rate(1 hour)"))
    assert "hourly or less often" in refused("ValidationException", MonitoringScheduleName="api-minutes",
                                             MonitoringScheduleConfig=schedule_config("mon-api", baseline,
                                                                                      "cron(*/5 * ? * * *)"))
    with pytest.raises(ClientError) as error:
        sm.describe_monitoring_schedule(MonitoringScheduleName="never")
    assert error.value.response["Error"]["Code"] == "ResourceNotFound"

    updated = schedule_config("mon-api", baseline, "cron(0 */2 ? * * *)")
    sm.update_monitoring_schedule(MonitoringScheduleName="api-hourly", MonitoringScheduleConfig=updated)
    wait_for(lambda: sm.describe_monitoring_schedule(MonitoringScheduleName="api-hourly")[
        "MonitoringScheduleStatus"] == "Scheduled", 10, what="the update to settle")
    assert sm.describe_monitoring_schedule(MonitoringScheduleName="api-hourly")["MonitoringScheduleConfig"][
        "ScheduleConfig"]["ScheduleExpression"] == "cron(0 */2 ? * * *)"
    sm.delete_monitoring_schedule(MonitoringScheduleName="api-hourly")
    assert names(EndpointName="mon-api") == ["api-daily"]
    assert executions(sm, "api-hourly") == []


def test_a_schedule_of_a_data_quality_job_definition(clients, cloud, baseline):
    sm, s3 = clients("sagemaker"), clients("s3")
    serve_mean(sm, s3, "mon-jobdef", 9.0, CAPTURE)
    inline = schedule_config("mon-jobdef", baseline)["MonitoringJobDefinition"]
    sm.create_data_quality_job_definition(
        JobDefinitionName="abalone-quality", RoleArn=SAGEMAKER_ROLE,
        DataQualityBaselineConfig=inline["BaselineConfig"],
        DataQualityAppSpecification={"ImageUri": ANALYZER, "Environment": inline["Environment"]},
        DataQualityJobInput={"EndpointInput": inline["MonitoringInputs"][0]["EndpointInput"]},
        DataQualityJobOutputConfig=inline["MonitoringOutputConfig"], JobResources=inline["MonitoringResources"])
    summaries = sm.list_data_quality_job_definitions()["JobDefinitionSummaries"]
    assert [(s["MonitoringJobDefinitionName"], s["EndpointName"]) for s in summaries] == [
        ("abalone-quality", "mon-jobdef")]
    send(clients, cloud, "mon-jobdef", rows(100, 5))
    sm.create_monitoring_schedule(MonitoringScheduleName="mon-jobdef", MonitoringScheduleConfig={
        "ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT12H",
                           "DataAnalysisEndTime": "-PT0H"},
        "MonitoringJobDefinitionName": "abalone-quality", "MonitoringType": "DataQuality"})
    execution = ended(sm, "mon-jobdef")
    assert execution["MonitoringExecutionStatus"] == "Completed", execution.get("FailureReason")
    assert execution["MonitoringJobDefinitionName"] == "abalone-quality"
    assert sm.list_monitoring_schedules(MonitoringJobDefinitionName="abalone-quality")[
        "MonitoringScheduleSummaries"][0]["MonitoringScheduleName"] == "mon-jobdef"


def test_schedules_and_their_executions_survive_a_restart(tmp_path, aws_env):
    settings = dict(FAKE_IMAGE_SETTINGS, persist_interval_s=0.2, schedule_speedup=SPEEDUP)
    first = LocalCloud(tmp_path / "cloud", port=0, region=REGION, settings=settings)
    first.start()
    try:
        sm, s3 = first.client("sagemaker"), first.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        execution_role(first.client)
        serve_mean(sm, s3, "mon-kept", 9.0, CAPTURE)
        sm.create_monitoring_schedule(MonitoringScheduleName="mon-kept", MonitoringScheduleConfig=schedule_config(
            "mon-kept", f"s3://{BUCKET}/monitoring/baseline"))
        ended(sm, "mon-kept", 30)
        sm.stop_monitoring_schedule(MonitoringScheduleName="mon-kept")
        before = executions(sm, "mon-kept")
    finally:
        first.stop()
    again = LocalCloud(tmp_path / "cloud", port=0, region=REGION, settings=settings)
    again.start()
    try:
        sm = again.client("sagemaker")
        described = sm.describe_monitoring_schedule(MonitoringScheduleName="mon-kept")
        assert described["MonitoringScheduleStatus"] == "Stopped"
        assert executions(sm, "mon-kept") == before
        assert before[0]["FailureReason"] == "Job inputs had no data"
    finally:
        again.stop()
        from moto.moto_api._internal.models import moto_api_backend
        moto_api_backend.reset()
