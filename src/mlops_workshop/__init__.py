"""An MLOps pipeline on AWS for a TensorFlow regression model, runnable on an embedded local cloud."""

from pathlib import Path

__version__ = "0.1.0"

REPO_ROOT = Path(__file__).resolve().parents[2]
