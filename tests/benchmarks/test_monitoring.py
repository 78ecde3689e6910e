"""The monitoring benchmark's pieces: the loop's parts from what the local cloud recorded, its report, its arguments."""

import io
from datetime import datetime, timedelta, timezone

import pytest

from mlops_workshop.benchmarks import monitoring
from mlops_workshop.cli import main as cli

SENT = datetime(2026, 12, 1, 19, 10, 0, tzinfo=timezone.utc)


def loop_figures(total_s: float) -> dict:
    return {"speedup": 120.0, "hour_s": 30.0, "requests": 627, "sending_s": 4.2, "drift": 1.6,
            "to_monitoring_execution_s": total_s - 3.0, "analysis_s": 1.5, "alarm_s": 1.0, "start_s": 0.5,
            "total_s": total_s, "worst_case_s": 34.0, "target_s": monitoring.TARGET_S}


def test_the_parts_are_read_from_the_records_and_add_up_to_the_whole():
    execution = {"CreationTime": SENT + timedelta(seconds=21.5), "LastModifiedTime": SENT + timedelta(seconds=23.0)}
    parts = monitoring.timeline(SENT.timestamp(), execution, SENT + timedelta(seconds=23.75),
                                SENT + timedelta(seconds=24.0))
    assert parts == {"to_monitoring_execution_s": 21.5, "analysis_s": 1.5, "alarm_s": 0.75, "start_s": 0.25,
                     "total_s": 24.0}
    assert sum(v for k, v in parts.items() if k != "total_s") == pytest.approx(parts["total_s"])


@pytest.mark.parametrize("total_s, verdict", [(24.0, "met"), (75.0, "NOT met")])
def test_the_report_names_the_speedup_and_the_verdict(total_s, verdict):
    figures = {"total_s": 80.0, "status": "Succeeded", "then": loop_figures(total_s)}
    out = io.StringIO()
    monitoring.report(figures, out)
    text = out.getvalue()
    assert "schedule_speedup 120: the schedule's hour and the alarm's period last 30 s" in text
    assert "627 requests, sizes x1.6" in text and "its analysis" in text and "the alarm in ALARM" in text
    assert f"(target <= 60 s: {verdict})" in text
    assert "at the worst" in text and "34.0 s" in text
    assert monitoring.met(figures) == (verdict == "met")


def test_a_main_job_that_failed_is_said_and_misses_the_target():
    out = io.StringIO()
    figures = {"total_s": 50.0, "status": "Failed", "then": None}
    monitoring.report(figures, out)
    assert "the loop did not run: the main job did not succeed" in out.getvalue()
    assert not monitoring.met(figures)


@pytest.mark.parametrize("args, part", [
    (["--speedup", "0"], "--speedup 0: give a positive factor"),
    (["--drift", "-1"], "--drift -1: give a positive factor"),
    (["--rows", "0"], "--rows 0: send at least one row"),
])
def test_bad_arguments_exit_2_with_one_line(args, part, capsys):
    with pytest.raises(SystemExit) as done:
        cli(["benchmark", "monitoring", *args])
    assert done.value.code == 2
    assert part in capsys.readouterr().err
