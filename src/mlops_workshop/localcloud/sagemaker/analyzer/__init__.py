"""SageMaker Model Monitor's analyzer, the image `sagemaker-model-monitor-analyzer` AWS publishes in each region, as
the local cloud's own program (`python -m mlops_workshop.localcloud.sagemaker.analyzer`): a processing job with the
image's URI runs it, as a local process in every image mode (the image cannot be pulled here).

It follows the analyzer's container contract. Its environment: `dataset_format` (`{"csv": {"header": true,
"output_columns_position": "START"}}`, `{"json": {"lines": true}}` or, for an endpoint's captured data,
`{"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}`), `dataset_source` (the
folder of the data), `output_path`, `baseline_statistics` and `baseline_constraints` (a monitoring run: the files
of a baseline), `start_time` and `end_time` (the records of a monitoring run's window), `publish_cloudwatch_metrics`,
`sagemaker_endpoint_name`, `sagemaker_monitoring_schedule_name`, `categorical_drift_method`, `analysis_type`.

A baselining run writes statistics.json and constraints.json to `output_path`; a monitoring run writes statistics.json
and constraint_violations.json, and, with `publish_cloudwatch_metrics` Enabled (and the constraints' emit_metrics),
the feature metrics to /opt/ml/output/metrics/cloudwatch, which SageMaker publishes. The files follow the documented
formats (datasets.py reads, statistics.py describes, checks.py judges). The run's outcome goes to
/opt/ml/output/message, which is the processing job's ExitMessage: "Completed: Job completed successfully with no
violations.", "CompletedWithViolations: Job completed successfully with N violations.", or the error.
"""

from __future__ import annotations

import sys

REPOSITORY = "sagemaker-model-monitor-analyzer"
PROGRAM = [sys.executable, "-m", __name__]


def image_uri(region: str) -> str:
    """The analyzer's image in `region`, from the registry AWS publishes it from there (images/published.py)."""
    from ...images.published import account
    suffix = ".cn" if region.startswith("cn-") else ""
    return f"{account(REPOSITORY, region)}.dkr.ecr.{region}.amazonaws.com{suffix}/{REPOSITORY}"
