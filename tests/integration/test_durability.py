"""The main job killed at random points: the local cloud's daemon gets a kill -9 while the pipeline runs, several
times, then a clean stop and start, then a full run on the same folder succeeds with the earlier executions and
model versions still listed, and no process of the killed clouds is left."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import boto3
import pytest

from mlops_workshop.localcloud import lifecycle
from mlops_workshop.localcloud.processes import start_time
from mlops_workshop.modelserver import free_port
from mlops_workshop.target import cloud_dir
from testkit.tools import require_git
from testkit.waiting import wait_for

pytestmark = pytest.mark.slow
KILLS = int(os.environ.get("MLOPS_DURABILITY_KILLS", "2"))


def demo(state_dir, port):
    return subprocess.Popen([sys.executable, "-m", "mlops_workshop.cli", "demo", "--state-dir", str(state_dir),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")})


def client(state, service):
    return boto3.client(service, endpoint_url=state["endpoint"], region_name="us-east-1",
                        aws_access_key_id="localcloud", aws_secret_access_key="localcloud")


def test_kills_at_random_points_then_a_full_run_on_the_same_folder(tmp_path):
    require_git()
    seed = int(os.environ.get("MLOPS_DURABILITY_SEED", time.time()))
    chance = random.Random(seed)
    state_dir, port, folder = tmp_path / "state", free_port(), cloud_dir(tmp_path / "state")
    killed, seen_executions, seen_packages = [], set(), set()

    def look(state):
        """What a user could list now: the executions and model versions the next start must still have."""
        try:
            summaries = client(state, "codepipeline").list_pipeline_executions(
                pipelineName="mlops-pipeline")["pipelineExecutionSummaries"]
            packages = client(state, "sagemaker").list_model_packages(
                ModelPackageGroupName="abalone")["ModelPackageSummaryList"]
        except Exception:  # noqa: BLE001 - not made yet, or the cloud is being killed
            return
        seen_executions.update(s["pipelineExecutionId"] for s in summaries)
        seen_packages.update(p["ModelPackageArn"] for p in packages)

    try:
        for _ in range(KILLS):
            run = demo(state_dir, port)
            state = wait_for(lambda: lifecycle.status(folder)["running"] and lifecycle.read_state(folder), 120, 0.1,
                             "the local cloud to start")
            children = []
            deadline = time.monotonic() + chance.uniform(3, 40)
            while time.monotonic() < deadline and run.poll() is None:
                children = [p["pid"] for p in lifecycle.status(folder).get("processes", [])]
                look(state)
                time.sleep(0.5)
            os.kill(state["pid"], signal.SIGKILL)
            output, _ = run.communicate(timeout=120)
            killed.append((state["pid"], children))
            assert "Traceback" not in output, f"seed {seed}:\n{output[-3000:]}"
        for pid, children in killed:
            wait_for(lambda: all(start_time(p) is None for p in [pid, *children]), 30, 0.2,
                     f"every process of the killed cloud {pid} to end (seed {seed})")

        lifecycle.start(folder, port=port)
        assert lifecycle.stop(folder)
        final = demo(state_dir, port)
        output, _ = final.communicate(timeout=900)
        assert final.returncode == 0, f"seed {seed}:\n{output[-4000:]}"

        state = lifecycle.read_state(folder)
        executions = client(state, "codepipeline").list_pipeline_executions(
            pipelineName="mlops-pipeline")["pipelineExecutionSummaries"]
        listed = {e["pipelineExecutionId"]: e["status"] for e in executions}
        assert executions[0]["status"] == "Succeeded", (seed, listed)
        assert seen_executions <= set(listed), (seed, seen_executions, listed)
        assert "InProgress" not in [listed[e] for e in seen_executions], (seed, listed)
        packages = client(state, "sagemaker").list_model_packages(
            ModelPackageGroupName="abalone")["ModelPackageSummaryList"]
        assert seen_packages <= {p["ModelPackageArn"] for p in packages}, (seed, seen_packages)
        versions = sorted(p["ModelPackageVersion"] for p in packages)
        assert versions == list(range(1, len(versions) + 1)), (seed, versions)
    finally:
        lifecycle.stop(folder)
