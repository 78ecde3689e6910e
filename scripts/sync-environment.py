"""Rewrite environment.yml's pip list from pyproject.toml, so the two never drift."""

import tomllib
from pathlib import Path

root = Path(__file__).resolve().parents[1]
deps = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
lines = [
    "# Conda environment for JupyterLab / SageMaker Studio / Cloud9 users.",
    "# Generated from pyproject.toml by scripts/sync-environment.py; tests/project checks they agree.",
    "name: mlops-workshop",
    "channels:",
    "  - conda-forge",
    "dependencies:",
    "  - python=3.11",
    "  - pip",
    "  - pip:",
    *[f'      - "{d}"' for d in deps],
    "      - -e .",
]
(root / "environment.yml").write_text("\n".join(lines) + "\n")
