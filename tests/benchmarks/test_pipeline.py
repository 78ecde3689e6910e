"""benchmark pipeline's report: each stage's time, the execution beside its time before TensorFlow-free serving,
and the target met only when the execution succeeded, Prd answered and the total is within it."""

import io

from mlops_workshop.benchmarks import pipeline


def figures(**changes):
    base = {"images": "process", "status": "Succeeded", "failed_stage": None, "local_cloud_ready_s": 1.1,
            "setup_s": {"repositories": 0.4}, "stages_s": {"Source": 0.5, "DeployPrd": None}, "execution_s": 33.2,
            "prd_answer": 8.81, "total_s": 52.0, "target_s": 180.0, "rmse": 2.094, "then": None}
    return {**base, **changes}


def printed(values) -> str:
    out = io.StringIO()
    pipeline.report(values, out)
    return out.getvalue()


def test_the_report_shows_the_execution_beside_its_time_before():
    text = printed(figures())
    assert "execution" in text and "33.2 s" in text
    assert f"about {pipeline.BEFORE_TENSORFLOW_FREE_SERVING_S:.0f} s" in text
    assert "stage DeployPrd" in text and "(not run)" in text
    assert "target <= 180 s: met" in text and "Prd answered 8.81 rings" in text


def test_a_failed_execution_or_a_slow_run_does_not_meet_the_target():
    assert "NOT met; execution Failed at SystemTest" in printed(figures(status="Failed", failed_stage="SystemTest"))
    assert "NOT met" in printed(figures(total_s=200.0))
    assert "NOT met" in printed(figures(prd_answer="no answer"))
