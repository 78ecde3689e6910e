"""The committed notebooks: nbval re-executes them in order on a fresh local cloud of their own and holds every cell to
its committed outputs (scripts/notebooks.py check, as `make nbval`); a changed outcome makes it fail naming the cell;
a wrong target stops notebook 1 saying what to do; and the committed files are what `make notebooks` writes."""

import json
import os
import re
import subprocess
import sys

import papermill
import pytest

from mlops_workshop.localcloud import lifecycle
from mlops_workshop.target import cloud_dir
from testkit.modules import load_module

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runner(repo_root):
    return load_module(repo_root / "scripts" / "notebooks.py")


def books(repo_root):
    return sorted((repo_root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def code_cells(path):
    return [cell for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]


def check(runner, tmp_path, *args):
    """scripts/notebooks.py check, its output in a file; (exit status, output)."""
    log = tmp_path / "nbval.log"
    with open(log, "w") as out:
        code = subprocess.call([sys.executable, str(runner.ROOT / "scripts" / "notebooks.py"), "check", *args],
                               cwd=runner.ROOT, stdout=out, stderr=subprocess.STDOUT,
                               env={**os.environ, "PYTHONPATH": str(runner.ROOT / "src")})
    return code, log.read_text()


def failures(output: str) -> list[str]:
    return re.findall(r"^FAILED (\S+::Cell \d+)", output, flags=re.MULTILINE)


@pytest.fixture(scope="module")
def nbval_run(runner, tmp_path_factory):
    code, output = check(runner, tmp_path_factory.mktemp("nbval"), "-v")
    return {"code": code, "output": output}


def test_nbval_holds_every_committed_notebook_to_its_outputs(nbval_run):
    if nbval_run["code"] != 0:
        pytest.fail("nbval found differences or errors in " + ", ".join(failures(nbval_run["output"]) or ["?"])
                    + "\n" + nbval_run["output"][-6000:], pytrace=False)


def test_nbval_ran_every_code_cell_of_every_notebook_in_order(nbval_run, repo_root):
    # pytest -v names an item notebooks/01_data_repositories::ipynb::Cell 0 (nbval's location)
    ran = re.findall(r"^notebooks/(\w+)(?:\.|::)ipynb::Cell (\d+) (PASSED|FAILED|SKIPPED)", nbval_run["output"],
                     re.MULTILINE)
    expected = [(book.stem, str(number)) for book in books(repo_root) for number in range(len(code_cells(book)))]
    assert [(name, number) for name, number, _ in ran] == expected
    skipped = [f"{name}::Cell {number}" for name, number, outcome in ran if outcome == "SKIPPED"]
    tagged = [f"{book.stem}::Cell {number}" for book in books(repo_root)
              for number, cell in enumerate(code_cells(book)) if "nbval-skip" in cell["metadata"].get("tags", [])]
    assert skipped == tagged


def test_the_run_stopped_its_local_cloud(nbval_run, runner):
    assert "local cloud" in nbval_run["output"]
    assert not lifecycle.status(cloud_dir(runner.STATE_DIR))["running"]


def test_a_changed_outcome_makes_nbval_fail_naming_the_cell(runner, repo_root, tmp_path):
    """The regression test of the regression test: one committed outcome edited in a copy of notebook 1."""
    book = repo_root / "notebooks" / "01_data_repositories.ipynb"
    notebook = json.loads(book.read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    number, cell = next((n, c) for n, c in enumerate(code)
                        if any("12 passed, 3 failed" in "".join(o.get("text", "")) for o in c["outputs"]))
    for output in cell["outputs"]:
        if "text" in output:
            output["text"] = [line.replace("12 passed, 3 failed", "15 passed, 0 failed") for line in output["text"]]
    copy = tmp_path / book.name
    copy.write_text(json.dumps(notebook, indent=1, ensure_ascii=False))
    status, output = check(runner, tmp_path, str(copy))
    assert status == 1, output[-3000:]
    assert [name.rsplit("/", 1)[-1] for name in failures(output)] == [f"{copy.name}::Cell {number}"], output[-3000:]
    assert "Cell outputs differ" in output and "12 passed, 3 failed" in output


def test_a_wrong_target_stops_notebook_1_with_what_to_do(tmp_path, repo_root):
    book = repo_root / "notebooks" / "01_data_repositories.ipynb"
    with pytest.raises(papermill.PapermillExecutionError) as raised:
        papermill.execute_notebook(str(book), str(tmp_path / "out.ipynb"), cwd=str(book.parent), progress_bar=False,
                                   kernel_name="python3", parameters={"target": "azure", "state_dir": str(tmp_path)})
    assert raised.value.ename == "WorkshopError"
    assert "unknown target 'azure': use one of local, aws" in raised.value.evalue


def test_make_notebooks_stops_at_a_failing_cell_naming_the_notebook_and_the_cell(runner, tmp_path, capsys):
    book = tmp_path / "01_broken.ipynb"
    book.write_text(json.dumps({
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
        "cells": [{"cell_type": "code", "id": "a", "metadata": {}, "execution_count": None, "outputs": [],
                   "source": "print('fine')"},
                  {"cell_type": "code", "id": "b", "metadata": {}, "execution_count": None, "outputs": [],
                   "source": "raise RuntimeError('the reason')"}]}))
    before = book.read_text()
    assert runner.run([book], state_dir=tmp_path / "state") == 1
    said = capsys.readouterr().err
    assert f"FAILED: {book}, cell 1 (In [2]): RuntimeError: the reason" in said
    assert book.read_text() == before  # nothing written back
