"""Create the pipeline stack and watch it run: the library behind `mlops-workshop demo`, for any target.

Everything here talks to AWS through the boto3 session it is given (the local cloud's, or a real account's):

- `sources`: the three code trees to the CodeCommit branches the pipeline's sources read, with real git
  (`push_sources`), or as zips in the data bucket for the stack's S3 sources (`upload_sources`);
- `stack`: what the stack reads from S3 (the Lambda packages, the data set; each only when its bytes changed, as a
  new version of the data starts an execution) and `deploy_stack`, which creates or updates
  `cloudformation/mlops-pipeline.yml` and waits for it;
- `execution`: `follow` reports an execution stage by stage until it ends (`PipelineRun` holds the outcome);
  approvals by the monitors or by a person (`set_monitors`, `waiting_approvals`, `answer_approval`);
- `results`: what the summary shows (`evaluation_report`, `model_package`, the endpoints' answers).
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]


class PipelineError(RuntimeError):
    """Something the pipeline needs failed; the message says what and where to look."""


from . import execution, results, sources, stack  # noqa: E402  (they use PipelineError and Progress)

__all__ = ["PipelineError", "Progress", "execution", "results", "sources", "stack"]
