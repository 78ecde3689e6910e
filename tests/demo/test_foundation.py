"""`mlops-workshop demo --foundation`: the pipeline's parts without the pipeline, on an in-process local cloud."""

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_the_parts_run_from_raw_data_to_predictions(tmp_path, repo_root):
    result = subprocess.run([sys.executable, "-m", "mlops_workshop.cli", "demo", "--foundation", "--state-dir",
                             str(tmp_path)], cwd=repo_root, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for stage in ("[1/4] raw data", "[2/4] ETL job", "[3/4] training", "[4/4] serving"):
        assert stage in result.stdout
    rmse = float(re.search(r"test RMSE: ([0-9.]+) rings on (\d+) held-out rows", result.stdout).group(1))
    assert 1.8 < rmse < 2.4
    assert (tmp_path / "foundation" / "opt_ml" / "model" / "model.keras").is_file()
    assert "validation:rmse=" in (tmp_path / "foundation" / "logs" / "train.log").read_text()
