"""The least-privilege roles proven by the main job (`mlops-workshop iam-proof` runs every case): a sample of cases
that stop early, each a copy of the pipeline template with one of the pipeline role's statements taken out, on a
fresh local cloud. The stage that needs the statement fails with the AccessDenied naming its action, and the demo's
progress and the notebook layer say so."""

import pytest

from mlops_workshop import iam_proof, template_roles, workshop
from mlops_workshop.localcloud import lifecycle
from mlops_workshop.target import cloud_dir
from testkit.tools import require_git

pytestmark = pytest.mark.slow

# Two cases that stop within seconds of the execution's start: the build's start, and the CodeCommit source.
SAMPLE = {"pipeline:PipelineRole/pipeline/Builds": ("Build", "codebuild:StartBuild"),
          "pipeline:PipelineRole/pipeline/CodeCommitSource": ("Source", "codecommit:GetBranch")}


@pytest.mark.parametrize("case", sorted(SAMPLE))
def test_a_statement_taken_out_stops_the_main_job_at_the_stage_that_needs_it(case, tmp_path):
    require_git()
    statement = next(s for s in template_roles.template_statements() if s.id == case)
    stage, action = SAMPLE[case]
    outcome = iam_proof.run_case(statement, tmp_path, stop=False)
    try:
        assert (outcome.verdict, outcome.stage) == (iam_proof.PROVEN, stage), outcome.reason
        assert f"is not authorized to perform: {action} on resource: " in outcome.reason
        assert action in outcome.denied
        shown = [line for line in outcome.lines if f"{stage:<14} Failed: " in line]
        assert shown and outcome.reason in shown[0], outcome.lines[-5:]
        ws = workshop.connect("local", tmp_path, progress=lambda line: None)
        with pytest.raises(workshop.WorkshopError) as failed:
            workshop.pipeline_run(ws, outcome.execution_id)
        assert f"at stage {stage}: {outcome.reason}" in str(failed.value)
    finally:
        lifecycle.stop(cloud_dir(tmp_path))


def test_every_allow_of_the_roles_is_a_case_or_is_noted_why_not():
    runnable, noted = iam_proof.cases()
    ids = {s.id for s in runnable}
    assert set(SAMPLE) <= ids
    assert {s.role for s in runnable} >= {"PipelineRole", "CodeBuildRole", "LambdaRole", "SageMakerRole", "GlueRole",
                                          "CloudFormationRole", "FunctionRole", "WorkflowRole"}
    assert all(s.note for s in noted) and not ids & {s.id for s in noted}
