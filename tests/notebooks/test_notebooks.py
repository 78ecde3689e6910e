"""The numbered notebooks run end to end with papermill, in order, on a local cloud of their own."""

import json
import os

import papermill
import pytest

from mlops_workshop.target import cloud_dir
from mlops_workshop.localcloud import lifecycle
from mlops_workshop.modelserver import free_port

pytestmark = pytest.mark.slow

# The unit-test cells run one quick file here: the whole suite runs them anyway.
QUICK_TESTS = "tests/project/test_environment.py"
EXTRA = {"03_unit_tests": {"unit_tests": QUICK_TESTS}, "04_system_test": {"unit_tests": QUICK_TESTS}}


def outputs_text(notebook) -> str:
    parts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            parts.append(text if isinstance(text, str) else "".join(text))
    return "\n".join(parts)


def images(notebook) -> int:
    return sum("image/png" in output.get("data", {}) for cell in notebook["cells"] for output in cell.get("outputs", []))


@pytest.fixture(scope="module")
def executed(tmp_path_factory, repo_root):
    """Every notebook, executed in order against one state folder; {name: executed notebook}."""
    work = tmp_path_factory.mktemp("notebooks")
    state_dir, port = work / "state", free_port()
    done, failure = {}, None
    with pytest.MonkeyPatch.context() as patch:
        for name in [k for k in os.environ if k.startswith("AWS_") or k == "MLOPS_TARGET"]:
            patch.delenv(name)  # the kernels inherit this environment: nothing may point them elsewhere
        try:
            for book in sorted((repo_root / "notebooks").glob("0*.ipynb")):
                output = work / book.name
                try:
                    papermill.execute_notebook(
                        str(book), str(output), cwd=str(book.parent), progress_bar=False, kernel_name="python3",
                        parameters={"state_dir": str(state_dir), "port": port, **EXTRA.get(book.stem, {})})
                except papermill.PapermillExecutionError as error:
                    failure = f"{book.name}: {error.ename}: {error.evalue}"
                    break
                finally:
                    if output.exists():
                        done[book.stem] = json.loads(output.read_text())
        finally:
            lifecycle.stop(cloud_dir(state_dir))
    return {"notebooks": done, "failure": failure, "state_dir": state_dir}


def test_every_notebook_runs_to_its_end(executed):
    assert executed["failure"] is None, executed["failure"]
    assert list(executed["notebooks"]) == ["01_data_repositories", "02_pipeline_assets", "03_unit_tests",
                                           "04_system_test", "05_pipeline_stack", "06_create_pipeline", "07_clean_up"]


def test_the_repositories_are_created_and_pass_validation_once_the_code_is_pushed(executed):
    first, second = (outputs_text(executed["notebooks"][name]) for name in ("01_data_repositories", "02_pipeline_assets"))
    assert "created  codecommit:mlops" in first
    assert "FAIL  code repository branch main" in first  # not pushed yet: notebook 2 does it
    assert "15 passed, 0 failed" in second


def test_training_serving_and_the_system_test_verdict_show_real_figures(executed):
    text = outputs_text(executed["notebooks"]["03_unit_tests"])
    assert "validation RMSE 2." in text and '"predictions": [' in text
    assert "(400, " in text and "(415, " in text
    assert images(executed["notebooks"]["03_unit_tests"]) == 2
    verdict = outputs_text(executed["notebooks"]["04_system_test"])
    assert "'passed': True" in verdict and "'next': 'StartMonitoringBaseline'" in verdict


def test_the_pipeline_runs_to_production_and_the_clean_up_stops_the_cloud(executed):
    created = executed["notebooks"]["06_create_pipeline"]
    text = outputs_text(created)
    assert "DeployPrd      Succeeded" in text
    assert "'approval': 'Approved'" in text
    assert images(created) == 2
    cleaned = outputs_text(executed["notebooks"]["07_clean_up"])
    assert "stack mlops-pipeline " in cleaned and "code repository mlops" in cleaned
    assert not lifecycle.status(cloud_dir(executed["state_dir"]))["running"]


def test_a_wrong_target_stops_the_notebook_with_what_to_do(tmp_path, repo_root):
    book = repo_root / "notebooks" / "01_data_repositories.ipynb"
    with pytest.raises(papermill.PapermillExecutionError) as raised:
        papermill.execute_notebook(str(book), str(tmp_path / "out.ipynb"), cwd=str(book.parent), progress_bar=False,
                                   kernel_name="python3", parameters={"target": "azure", "state_dir": str(tmp_path)})
    assert raised.value.ename == "WorkshopError"
    assert "unknown target 'azure': use one of local, aws" in raised.value.evalue
