"""What training and serving agree on, in one place either can import without TensorFlow (standard library only):
the columns of a row as the ETL job writes them, the files training leaves in the model folder, the /opt/ml root.

The image holds no mlops_workshop package, so these are a copy of the library's data contract (tests check they agree).
"""

import os
from pathlib import Path

SEX_CODES = ("F", "I", "M")
SIZE_COLUMNS = (
    "length",
    "diameter",
    "height",
    "whole_weight",
    "shucked_weight",
    "viscera_weight",
    "shell_weight",
)
LABEL = "rings"
FEATURES = tuple(f"sex_{code}" for code in SEX_CODES) + SIZE_COLUMNS
RAW_FEATURES = ("sex",) + SIZE_COLUMNS

# What `train` writes to /opt/ml/model: the Keras model, its metadata, and the numpy predictor `serve` loads.
MODEL_FILE = "model.keras"
METADATA_FILE = "metadata.json"
PREDICTOR_FILE = "predictor.npz"
# The largest difference from the Keras model's prediction, in rings, the exported predictor may have.
PREDICTOR_TOLERANCE = 1e-4


def opt_ml_root() -> Path:
    """/opt/ml, or the folder OPT_ML_ROOT names (for a run outside the image)."""
    return Path(os.environ.get("OPT_ML_ROOT") or "/opt/ml")
