"""The abalone model as `serve` evaluates it: a numpy forward pass over the predictor `train` exports beside the
Keras model. Imports numpy and the standard library only, so that the serving workers never load TensorFlow.

predictor.npz holds plain arrays (read without pickle): the format, the feature order, the clamp (each feature's
range on the training split), the scaling (the Normalization layer's mean and scale), each Dense layer's kernel,
bias and activation, and a probe batch with the Keras model's answers to it, which load() reproduces before
anything is served.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from contract import FEATURES, MODEL_FILE, PREDICTOR_FILE, PREDICTOR_TOLERANCE

FORMAT = 1


class ModelError(Exception):
    """The model folder cannot be served; the message, one line, says why and what to do."""


def _sigmoid(x):
    return np.float32(1) / (np.float32(1) + np.exp(-x))


ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, np.float32(0), out=x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: np.float32(1.0507009873554805)
    * np.where(x > 0, x, np.float32(1.6732632423543772) * np.expm1(np.minimum(x, 0))),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "softplus": lambda x: np.logaddexp(np.float32(0), x),
    "silu": lambda x: x * _sigmoid(x),
    "exponential": np.exp,
}


class Predictor:
    """The trained [clamp +] scaling + Dense stack: predicted rings for a float32 (n, 10) array of FEATURES rows.

    For speed, the scaling is folded into the first layer, and a kernel made of diagonal blocks (an ensemble merged
    into one stack) is multiplied block by block; training checks the result against the Keras model.
    """

    def __init__(self, mean, scale, layers, low=None, high=None):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(1, -1)
        self.scale = np.asarray(scale, dtype=np.float32).reshape(1, -1)
        self.low = None if low is None else np.asarray(low, dtype=np.float32).reshape(1, -1)
        self.high = None if high is None else np.asarray(high, dtype=np.float32).reshape(1, -1)
        self.layers = [(np.asarray(w, dtype=np.float32), np.asarray(b, dtype=np.float32), str(a)) for w, b, a in layers]
        unknown = sorted({a for _, _, a in self.layers} - set(ACTIVATIONS))
        if unknown:
            raise ValueError(f"no numpy version of the activation(s) {', '.join(unknown)}; known: {', '.join(ACTIVATIONS)}")
        first_kernel, first_bias, first_activation = self.layers[0]
        kernel = first_kernel / self.scale.reshape(-1, 1)
        bias = first_bias - (self.mean / self.scale) @ first_kernel
        self._plan = [(1, kernel, bias.reshape(-1), ACTIVATIONS[first_activation])]
        for kernel, bias, activation in self.layers[1:]:
            groups = _diagonal_blocks(kernel)
            if groups > 1:
                rows, columns = kernel.shape[0] // groups, kernel.shape[1] // groups
                kernel = np.stack([kernel[g * rows : (g + 1) * rows, g * columns : (g + 1) * columns] for g in range(groups)])
            self._plan.append((groups, np.ascontiguousarray(kernel), bias, ACTIVATIONS[activation]))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h = np.asarray(x, dtype=np.float32)
        if self.low is not None:
            h = np.minimum(np.maximum(h, self.low), self.high)
        rows = len(h)
        for groups, kernel, bias, activation in self._plan:
            if groups == 1:
                h = h @ kernel
            elif rows == 1:
                h = np.matmul(h.reshape(groups, 1, -1), kernel).reshape(1, -1)
            else:
                h = np.matmul(h.reshape(rows, groups, -1).swapaxes(0, 1), kernel).swapaxes(0, 1).reshape(rows, -1)
            h += bias
            h = activation(h)
        return h.reshape(-1)

    def save(self, path: Path | str, probe_x: np.ndarray, probe_y: np.ndarray) -> None:
        """Writes the predictor file, with the probe batch and the Keras model's answers to it (probe_y)."""
        arrays = {
            "format": np.array(FORMAT), "features": np.array(FEATURES), "mean": self.mean, "scale": self.scale,
            "activations": np.array([activation for _, _, activation in self.layers]),
            "probe_x": np.asarray(probe_x, dtype=np.float32), "probe_y": np.asarray(probe_y, dtype=np.float32).reshape(-1),
        }
        if self.low is not None:
            arrays.update(low=self.low, high=self.high)
        for index, (kernel, bias, _) in enumerate(self.layers):
            arrays[f"kernel_{index}"] = kernel
            arrays[f"bias_{index}"] = bias
        path = Path(path)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(partial, path)


def largest_difference(a, b) -> float:
    """The largest absolute difference between two batches of predictions (infinite if their shapes differ)."""
    a, b = np.asarray(a, dtype=np.float64).reshape(-1), np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b), initial=0.0))


def read(path: Path | str) -> tuple[Predictor, np.ndarray, np.ndarray]:
    """The predictor in a predictor file, its probe batch and the Keras model's answers to it (no checks)."""
    with np.load(path, allow_pickle=False) as data:
        activations = [str(a) for a in data["activations"]]
        layers = [(data[f"kernel_{i}"], data[f"bias_{i}"], a) for i, a in enumerate(activations)]
        clip = (data["low"], data["high"]) if "low" in data.files else (None, None)
        return Predictor(data["mean"], data["scale"], layers, *clip), data["probe_x"], data["probe_y"]


def load(model_dir: Path | str) -> Predictor:
    """The predictor exported into a model folder, once it gives the Keras answers stored with it; raises
    ModelError, saying what to do, for a folder without one (e.g. a model trained by an older image)."""
    model_dir = Path(model_dir)
    path = model_dir / PREDICTOR_FILE
    if not path.is_file():
        if (model_dir / MODEL_FILE).is_file():
            raise ModelError(
                f"{model_dir} holds {MODEL_FILE} but no {PREDICTOR_FILE}, the predictor this image's `train` exports "
                "beside it: the model was trained by an older version of the image (or by another program); train it "
                "again with this one"
            )
        raise ModelError(f"{model_dir} holds no model ({PREDICTOR_FILE} is missing): train a model first (container/train)")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is not a predictor file (an .npz archive of arrays): train the model again with this image")
    try:
        with np.load(path, allow_pickle=False) as data:
            version, features = int(data["format"]), tuple(str(f) for f in data["features"])
        if version != FORMAT:
            raise ModelError(f"{path} is in predictor format {version}, and this image reads format {FORMAT}: "
                             "serve it with the image that trained it, or train the model again with this one")
        if features != FEATURES:
            raise ModelError(f"{path} takes the features {', '.join(features)}, but this image sends "
                             f"{', '.join(FEATURES)}: train the model again with this image")
        predictor, probe_x, probe_y = read(path)
    except ModelError:
        raise
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise ModelError(f"{path} is not a predictor this image can read ({reason}); train the model again with this image") from None
    difference = largest_difference(predictor(probe_x), probe_y)
    if not difference <= PREDICTOR_TOLERANCE:
        raise ModelError(
            f"{path} does not give the Keras model's answers stored with it (largest difference {difference:.3g} rings, "
            f"more than {PREDICTOR_TOLERANCE:g}): train the model again with this image"
        )
    return predictor


def _diagonal_blocks(kernel: np.ndarray) -> int:
    """The largest number of equal diagonal blocks the kernel is made of, with zeros everywhere else (1 if none)."""
    rows, columns = kernel.shape
    for groups in range(min(rows, columns, 64), 1, -1):
        if rows % groups or columns % groups:
            continue
        r, c = rows // groups, columns // groups
        mask = np.kron(np.eye(groups, dtype=bool), np.ones((r, c), dtype=bool))
        if not kernel[~mask].any():
            return groups
    return 1
