"""The committed notebooks as a reader sees them on the repository's page, without a cloud: numbered and
parameterised, every cell with the outputs of a real run, scrubbed of this machine and of papermill, small; and the
nbval sanitiser masking what varies and nothing that must not."""

import json
import re

import pytest
from nbval.plugin import get_sanitize_patterns

from testkit.modules import load_module

# The plots each notebook shows, as images (charts and Graphviz diagrams).
IMAGES = {"01_data_repositories": 2, "03_unit_tests": 2, "04_system_test": 1, "05_pipeline_stack": 1,
          "06_create_pipeline": 2, "07_model_monitoring": 1}


@pytest.fixture(scope="module")
def runner(repo_root):
    return load_module(repo_root / "scripts" / "notebooks.py")


@pytest.fixture(scope="module")
def notebooks(repo_root):
    return {path.stem: json.loads(path.read_text()) for path in sorted((repo_root / "notebooks").glob("*.ipynb"))}


@pytest.fixture(scope="module")
def sanitizer(repo_root):
    return get_sanitize_patterns((repo_root / "notebooks" / "nbval-sanitize.cfg").read_text())


def code_cells(notebook):
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def sanitize(patterns, text: str) -> str:
    for regex, replace in patterns:
        text = re.sub(regex, replace, text)
    return text


def test_the_notebooks_are_numbered_parameterised_and_each_has_a_readme_section(notebooks, repo_root):
    assert [name[:3] for name in notebooks] == [f"0{n}_" for n in range(1, 9)]
    readme = (repo_root / "README.md").read_text()
    for name, notebook in notebooks.items():
        code = code_cells(notebook)
        assert "parameters" in code[0]["metadata"].get("tags", []), f"{name}: the first code cell is not tagged"
        assert "ws = workshop.connect(target, state_dir, port=port, source=source)" == "".join(code[1]["source"]) \
            .splitlines()[-1], f"{name}: the second code cell is not the connect call"
        assert f"notebooks/{name}.ipynb" in readme, f"README.md has no section for {name}"


def test_every_cell_carries_the_outputs_of_one_run_in_order(notebooks):
    for name, notebook in notebooks.items():
        code = code_cells(notebook)
        assert not code[0]["outputs"], f"{name}: the parameters cell prints something"
        assert [cell["execution_count"] for cell in code] == list(range(1, len(code) + 1)), name
        empty = [number for number, cell in enumerate(code[1:], start=1) if not cell["outputs"]]
        assert not empty, f"{name}: code cells {empty} have no output"


def test_no_error_no_stray_true_and_the_plots_are_images(notebooks):
    for name, notebook in notebooks.items():
        outputs = [output for cell in code_cells(notebook) for output in cell["outputs"]]
        assert not [o for o in outputs if o["output_type"] == "error"], name
        assert not [o for o in outputs if o.get("output_type") == "stream" and o["name"] == "stderr"], name
        assert not [o for o in outputs if "".join(o.get("data", {}).get("text/plain", "")) in ("True", "False")], name
        images = sum("image/png" in o.get("data", {}) for o in outputs)
        assert images == IMAGES.get(name, 0), f"{name}: {images} images"


def test_nothing_of_the_machine_or_of_papermill_is_committed(notebooks, runner, repo_root):
    for name, notebook in notebooks.items():
        assert runner.problems(notebook, name) == []
        assert "papermill" not in notebook["metadata"]
        assert notebook["metadata"].get("language_info") == {"name": "python"}
        for cell in notebook["cells"]:
            assert not {"papermill", "execution"} & set(cell.get("metadata", {})), name
        text = json.dumps(notebook)
        assert str(repo_root) not in text
        assert not re.search(r"127\.0\.0\.1:\d", text), f"{name}: a port"
        assert (repo_root / "notebooks" / f"{name}.ipynb").stat().st_size < 1_000_000


def test_the_state_folder_shows_relative_to_the_repository(notebooks):
    first = "".join(code_cells(notebooks["01_data_repositories"])[1]["outputs"][0]["text"])
    assert "started" in first and "on .state/notebooks-run/localcloud" in first
    assert "reusing the one running on .state/notebooks-run/localcloud" in \
        "".join(code_cells(notebooks["02_pipeline_assets"])[1]["outputs"][0]["text"])


def test_the_committed_outcomes_are_those_of_a_whole_run(notebooks):
    def text(name):
        return "\n".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                         for cell in code_cells(notebooks[name]) for o in cell["outputs"])

    assert "12 passed, 3 failed" in text("01_data_repositories") and "15 passed, 0 failed" in text("02_pipeline_assets")
    assert re.search(r"validation RMSE 2\.\d\d rings", text("03_unit_tests"))
    assert "passed" in text("04_system_test") and "StartMonitoringBaseline" in text("04_system_test")
    six = text("06_create_pipeline")
    assert "DeployPrd      Succeeded" in six and "execution Succeeded" in six and "Approved" in six
    assert "SUCCEEDED" in six  # the Glue run started by hand
    seven = text("07_model_monitoring")
    assert "Completed: Job completed successfully with no violations." in seven
    assert "CompletedWithViolations: Job completed successfully with 7 violations." in seven
    assert "baseline_drift_check" in seven and "Alarm updated from OK to ALARM" in seven
    assert "'CloudWatchEvent'" in seven and "rule/retrain-on-drift-abalone" in seven and "Stopped: stopped by" in seven
    eight = text("08_clean_up")
    assert "stack mlops-pipeline " in eight and "still there" in eight and " yes" not in eight
    assert "local cloud on .state/notebooks-run/localcloud stopped" in eight


def test_the_sanitiser_masks_what_varies(sanitizer):
    pairs = [
        ("local cloud at http://127.0.0.1:41929 and http://127.0.0.1:PORT", "local cloud at http://127.0.0.1:PORT and "
         "http://127.0.0.1:PORT"),
        ("execution adeafb05-96bc-4646-b304-d50b41636226 (started", "execution UUID (started"),
        ("run jr_d873150e877378a8103a941fe2941e52bad2c8faff20e9e0de08f7b5196c914e of", "run jr_ID of"),
        ("  main   663c4a95018d pushed (container/)", "\tmain\tCOMMIT pushed (container/)"),
        ("at e51107b97b70", "at COMMIT"),
        ("  0:05.7  Build          Succeeded", "\tM:SS.S\tBuild\tSucceeded"),
        ("trained in 18.9 s, of which fitting 5.7 s:", "trained in N.N s, of which fitting N.N s:"),
        ("53 passed in 14.31s", "53 passed in N.N s"),
        ('"inferenceTime": "2026-12-01T19:15:13Z"', '"inferenceTime": "TIME"'),
        ("AllTraffic/2026/12/01/19/15-13-051-f79b8711-994b-4641-a60c-3fd518b1248c.jsonl",
         "AllTraffic/yyyy/mm/dd/hh/MM-SS-mmm-UUID.jsonl"),
        ("datapoints [0.3279 (01/12/26 19:15:00)] was", "datapoints [0.3279 (dd/mm/yy hh:mm:ss)] was"),
        ("waiting for it\n  still waiting after 15 s\n  still waiting after 31 s (execution Pending)\nexecution "
         "Completed after 38.0 s", "waiting for it\nexecution Completed after N.N s"),
    ]
    for raw, masked in pairs:
        assert sanitize(sanitizer, raw) == masked


def test_the_sanitiser_leaves_outcomes_and_metrics_alone(sanitizer):
    for kept in ["validation RMSE 2.08 rings", "RMSE (rings) 2.09", "12 passed, 3 failed, 0 not checked here",
                 "DeployPrd Succeeded", "approval Approved", "model-package/abalone/1", "2923 rows", "Delete=34 objects",
                 "mlops-data-us-east-1-123456789012", "(200, '{\"predictions\": [8.809061]}')", "epoch kept 16",
                 "Baseline drift distance: 0.3279 exceeds threshold: 0.1", "627 rows analyzed"]:
        assert sanitize(sanitizer, kept) == kept
    # but the data bucket's captured requests and reports vary in number from run to run
    assert sanitize(sanitizer, "Bucket=mlops-data-us-east-1-123456789012, Delete=22 objects") == \
        "Bucket=mlops-data-us-east-1-123456789012, Delete=N objects"
    assert sanitize(sanitizer, "bucket mlops-artifacts-x  deleted, 41 object versions") == \
        "bucket mlops-artifacts-x\tdeleted, 41 object versions"


def test_cells_that_nbval_does_not_hold_say_why(notebooks):
    for name, notebook in notebooks.items():
        for cell in code_cells(notebook):
            tags = set(cell["metadata"].get("tags", []))
            if tags & {"nbval-ignore-output", "nbval-skip"}:
                assert "".join(cell["source"]).lstrip().startswith("#"), f"{name}: a tagged cell without its reason"


def test_the_scrubber_removes_the_machine_and_papermill_and_flags_what_it_cannot(runner, repo_root):
    notebook = {"metadata": {"papermill": {"duration": 1.0}, "language_info": {"name": "python", "version": "3.11.7"}},
                "cells": [{"cell_type": "code", "execution_count": 1, "source": "x",
                           "metadata": {"papermill": {}, "execution": {"iopub.status.busy": "2026"}, "tags": ["t"]},
                           "outputs": [{"output_type": "stream", "name": "stdout",
                                        "text": [f"log {repo_root}/.state/x/etl.log\n", "at http://127.0.0.1:41929/v1\n"]},
                                       {"output_type": "execute_result", "execution_count": 1, "metadata": {},
                                        "data": {"text/plain": f"'{repo_root}'", "text/html": "<b>localhost:8080</b>"}}]}]}
    runner.scrub(notebook, repo_root)
    cell = notebook["cells"][0]
    assert notebook["metadata"] == {"language_info": {"name": "python"}} and cell["metadata"] == {"tags": ["t"]}
    assert cell["outputs"][0]["text"] == ["log .state/x/etl.log\n", "at http://127.0.0.1:PORT/v1\n"]
    assert cell["outputs"][1]["data"] == {"text/plain": "'.'", "text/html": "<b>localhost:PORT</b>"}
    assert runner.problems(notebook, "n") == []
    cell["outputs"] += [{"output_type": "error", "ename": "WorkshopError", "evalue": "no", "traceback": []},
                        {"output_type": "stream", "name": "stdout", "text": "state in /tmp/pytest-1/state (pid 4242)"}]
    found = runner.problems(notebook, "n")
    assert any("an error output (WorkshopError)" in f for f in found)
    assert any("a path of this machine: '/tmp/pytest-1/state'" in f for f in found)
    assert any("a pid: 'pid 4242'" in f for f in found)
    assert all(f.startswith("n, code cell 0 (In [1])") for f in found)
