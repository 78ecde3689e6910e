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
# The account that publishes the image in each region (as the SageMaker Python SDK's image_uris knows them).
ACCOUNTS = {
    "af-south-1": "875698925577", "ap-east-1": "001633400207", "ap-northeast-1": "574779866223",
    "ap-northeast-2": "709848358524", "ap-northeast-3": "990339680094", "ap-south-1": "126357580389",
    "ap-southeast-1": "245545462676", "ap-southeast-2": "563025443158", "ap-southeast-3": "669540362728",
    "ca-central-1": "536280801234", "cn-north-1": "453000072557", "cn-northwest-1": "453252182341",
    "eu-central-1": "048819808253", "eu-central-2": "590183933784", "eu-north-1": "895015795356",
    "eu-south-1": "933208885752", "eu-south-2": "437450045455", "eu-west-1": "468650794304",
    "eu-west-2": "749857270468", "eu-west-3": "680080141114", "il-central-1": "843974653677",
    "me-central-1": "588750061953", "me-south-1": "607024016150", "sa-east-1": "539772159869",
    "us-east-1": "156813124566", "us-east-2": "777275614652", "us-west-1": "890145073186",
    "us-west-2": "159807026194",
}
PROGRAM = [sys.executable, "-m", __name__]


def image_uri(region: str) -> str:
    suffix = ".cn" if region.startswith("cn-") else ""
    return f"{ACCOUNTS[region]}.dkr.ecr.{region}.amazonaws.com{suffix}/{REPOSITORY}"
