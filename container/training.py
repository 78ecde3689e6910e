"""Training the abalone model under the SageMaker container contract, and exporting what `serve` predicts with.

`train` runs train(). Root `/opt/ml`, or the folder named by OPT_ML_ROOT for a local run:
  input/config/hyperparameters.json   every value a string (SageMaker passes them so)
  input/data/training/train.csv, validate.csv   no header; `rings` first, then FEATURES
  model/model.keras, predictor.npz, metadata.json   what training leaves: the Keras model, the same model as numpy
      arrays for predictor.py (checked to give the Keras model's answers), and what the run did
  output/failure   why training failed, beside a non-zero exit

TensorFlow is imported only where a function needs it, so that the hyperparameters can be checked without it.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import platform
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import predictor as exported
from contract import (
    FEATURES, LABEL, METADATA_FILE, MODEL_FILE, PREDICTOR_FILE, PREDICTOR_TOLERANCE, SEX_CODES, SIZE_COLUMNS,
    opt_ml_root,
)

CHANNEL = "training"
TRAIN_FILE = "train.csv"
VALIDATE_FILE = "validate.csv"

# Hyperparameters SageMaker or its SDK may add on their own; they are not the model's business.
PASSTHROUGH_PREFIXES = ("sagemaker_", "_")

ACTIVATIONS = ("relu", "elu", "selu", "tanh", "sigmoid", "softplus", "silu", "linear")
LOSSES = ("mse", "huber", "mae")


class TrainingError(Exception):
    """Training cannot go on because of its input (hyperparameters or data); the message says what to fix."""


@dataclass(frozen=True)
class Hyperparameters:
    """The defaults are the recipe chosen on validation data (see trainingjob.json and the benchmark)."""

    epochs: int = 300
    batch_size: int = 64
    learning_rate: float = 0.005
    hidden_units: tuple = (128, 128)
    activation: str = "relu"
    loss: str = "mse"
    huber_delta: float = 2.0
    l2: float = 0.02
    patience: int = 20
    seed: int = 42
    log_target: bool = False
    ensemble: int = 5
    clip_features: bool = True

    def as_strings(self) -> dict:
        """The form SageMaker passes hyperparameters in (and trainingjob.json holds)."""
        values = {}
        for name, value in asdict(self).items():
            if isinstance(value, (tuple, list)):
                values[name] = ",".join(str(v) for v in value)
            elif isinstance(value, bool):
                values[name] = "true" if value else "false"
            else:
                values[name] = str(value)
        return values


def _parse_int(name, text, low, high):
    try:
        value = int(text.strip())
    except ValueError:
        raise TrainingError(f"hyperparameter {name}={text!r} is not a whole number; give one from {low} to {high}")
    if not low <= value <= high:
        raise TrainingError(f"hyperparameter {name}={text!r} is out of range; give a whole number from {low} to {high}")
    return value


def _parse_float(name, text, low, high, low_open=False):
    try:
        value = float(text.strip())
    except ValueError:
        value = math.nan
    too_low = value <= low if low_open else value < low
    if not math.isfinite(value) or too_low or value > high:
        bound = f"above {low}" if low_open else f"from {low}"
        raise TrainingError(f"hyperparameter {name}={text!r} is not valid; give a number {bound} up to {high}")
    return value


def _parse_choice(name, text, choices):
    value = text.strip().lower()
    if value not in choices:
        raise TrainingError(f"hyperparameter {name}={text!r} is not one of {', '.join(choices)}")
    return value


def _parse_bool(name, text):
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise TrainingError(f"hyperparameter {name}={text!r} is not a boolean; give true or false")


def _parse_units(name, text):
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not 1 <= len(parts) <= 8:
        raise TrainingError(
            f"hyperparameter {name}={text!r} must list 1 to 8 hidden-layer sizes separated by commas, e.g. \"64,64\""
        )
    return tuple(_parse_int(name, part, 1, 4096) for part in parts)


_PARSERS = {
    "epochs": lambda n, t: _parse_int(n, t, 1, 10000),
    "batch_size": lambda n, t: _parse_int(n, t, 1, 65536),
    "learning_rate": lambda n, t: _parse_float(n, t, 0.0, 1.0, low_open=True),
    "hidden_units": _parse_units,
    "activation": lambda n, t: _parse_choice(n, t, ACTIVATIONS),
    "loss": lambda n, t: _parse_choice(n, t, LOSSES),
    "huber_delta": lambda n, t: _parse_float(n, t, 0.0, 1000.0, low_open=True),
    "l2": lambda n, t: _parse_float(n, t, 0.0, 1.0),
    "patience": lambda n, t: _parse_int(n, t, 0, 10000),
    "seed": lambda n, t: _parse_int(n, t, 0, 2**31 - 1),
    "log_target": _parse_bool,
    "ensemble": lambda n, t: _parse_int(n, t, 1, 16),
    "clip_features": _parse_bool,
}


def parse_hyperparameters(raw: dict) -> Hyperparameters:
    """Strings in, checked values out; anything unknown or malformed raises TrainingError naming it."""
    if not isinstance(raw, dict):
        raise TrainingError(f"hyperparameters must be a JSON object of strings, not {type(raw).__name__}")
    values = {}
    unknown = []
    for name, text in raw.items():
        if name.startswith(PASSTHROUGH_PREFIXES):
            continue
        if name not in _PARSERS:
            unknown.append(name)
            continue
        if not isinstance(text, str):
            # SageMaker always sends strings; a number from a hand-written file is accepted the same way.
            if isinstance(text, bool) or not isinstance(text, (int, float)):
                raise TrainingError(f"hyperparameter {name}={text!r} must be a string")
            text = str(text)
        values[name] = _PARSERS[name](name, text)
    if unknown:
        raise TrainingError(
            f"unknown hyperparameter(s) {', '.join(sorted(unknown))}; known ones are {', '.join(_PARSERS)}"
        )
    return Hyperparameters(**values)


def read_hyperparameters(root: Path) -> Hyperparameters:
    path = root / "input" / "config" / "hyperparameters.json"
    if not path.exists():
        return Hyperparameters()
    try:
        raw = json.loads(path.read_text() or "{}")
    except json.JSONDecodeError as error:
        raise TrainingError(f"{path} is not valid JSON: {error}")
    return parse_hyperparameters(raw)


def read_labelled_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A channel file of the ETL job (no header; `rings` then FEATURES) as float32 features and labels."""
    if not path.is_file():
        raise TrainingError(
            f"{path} is missing: the '{CHANNEL}' channel must hold {TRAIN_FILE} and {VALIDATE_FILE} as the ETL job writes them"
        )
    width = 1 + len(FEATURES)
    rows = []
    with path.open(newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != width:
                raise TrainingError(
                    f"{path.name} row {number} has {len(row)} columns; expected {width} ({LABEL}, then {', '.join(FEATURES)}) and no header"
                )
            try:
                values = [float(cell) for cell in row]
            except ValueError:
                bad = next(i for i, cell in enumerate(row) if not _is_float(cell))
                column = ((LABEL,) + FEATURES)[bad]
                raise TrainingError(f"{path.name} row {number} column {column}: {row[bad].strip()!r} is not a number")
            if not all(math.isfinite(v) for v in values):
                raise TrainingError(f"{path.name} row {number} holds NaN or infinity; every value must be a finite number")
            rows.append(values)
    if not rows:
        raise TrainingError(f"{path.name} has no rows")
    data = np.asarray(rows, dtype=np.float32)
    return data[:, 1:], data[:, 0]


def _is_float(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _configure_tensorflow(seed: int):
    import tensorflow as tf

    try:
        # Matrices this small gain nothing from threads inside one op; the ensemble's members run side by side.
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(min(4, os.cpu_count() or 1))
    except RuntimeError:
        pass  # TensorFlow already initialised in this process (a test calling train() twice)
    tf.config.experimental.enable_op_determinism()
    import keras

    keras.utils.set_random_seed(seed)
    return tf, keras


@functools.cache
def clip_layer_class():
    """The Keras layer that clamps each feature to the range of the training split (registered for loading)."""
    import keras

    @keras.saving.register_keras_serializable(package="abalone")
    class ClipToTrainingRange(keras.layers.Layer):
        """A value far outside what training saw (a height of 1.13 where the rest are below 0.26) is clamped to
        that range instead of being extrapolated by the network, which gives wild predictions for such rows."""

        def __init__(self, low, high, **kwargs):
            super().__init__(**kwargs)
            self.low = [float(v) for v in np.asarray(low).reshape(-1)]
            self.high = [float(v) for v in np.asarray(high).reshape(-1)]

        def call(self, x):
            low = keras.ops.convert_to_tensor(self.low, dtype=x.dtype)
            high = keras.ops.convert_to_tensor(self.high, dtype=x.dtype)
            return keras.ops.minimum(keras.ops.maximum(x, low), high)

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "low": self.low, "high": self.high}

    return ClipToTrainingRange


def build_model(hp: Hyperparameters, x_train: np.ndarray, y_train: np.ndarray):
    """A plain Dense stack; the clamp and the Normalization layer learn the feature range and scaling from the
    training split only."""
    import keras

    normalizer = keras.layers.Normalization(axis=-1, name="scaling")
    normalizer.adapt(x_train)
    regularizer = keras.regularizers.L2(hp.l2) if hp.l2 > 0 else None
    layers = [keras.Input(shape=(len(FEATURES),), name="features")]
    if hp.clip_features:
        layers.append(clip_layer_class()(np.min(x_train, axis=0), np.max(x_train, axis=0), name="clip"))
    layers.append(normalizer)
    for index, units in enumerate(hp.hidden_units):
        layers.append(
            keras.layers.Dense(units, activation=hp.activation, kernel_regularizer=regularizer, name=f"hidden_{index}")
        )
    # Starting the output at the label's mean saves the first epochs from learning an offset.
    if hp.log_target:
        start = keras.initializers.Constant(float(np.log(y_train).mean()))
        layers.append(keras.layers.Dense(1, activation="exponential", bias_initializer=start, name="rings"))
    else:
        start = keras.initializers.Constant(float(y_train.mean()))
        layers.append(keras.layers.Dense(1, bias_initializer=start, name="rings"))
    return keras.Sequential(layers, name="abalone")


@dataclass
class FitResult:
    model: object
    epochs_run: int
    best_epoch: int
    seconds: float
    cpu_seconds: float
    validation: dict
    history: dict = field(default_factory=dict)


def fit(hp: Hyperparameters, x_train, y_train, x_validate, y_validate) -> FitResult:
    """Mini-batch training with early stopping on the validate split's RMSE, keeping the best weights.

    `ensemble` networks train side by side (each on its own loss, from its own initial weights, in its own
    batch order) and are then merged into one Dense stack that outputs their mean.
    """
    tf, keras = _configure_tensorflow(hp.seed)
    started, cpu_started = time.perf_counter(), time.process_time()
    x_train = np.asarray(x_train, dtype=np.float32)
    y_train = np.asarray(y_train, dtype=np.float32).reshape(-1, 1)
    x_validate = np.asarray(x_validate, dtype=np.float32)
    y_validate = np.asarray(y_validate, dtype=np.float32).reshape(-1, 1)
    members = [build_model(hp, x_train, y_train) for _ in range(hp.ensemble)]
    variables = [variable for member in members for variable in member.trainable_variables]
    optimizer = keras.optimizers.Adam(learning_rate=hp.learning_rate)
    optimizer.build(variables)
    loss_function = {
        "mse": keras.losses.MeanSquaredError(),
        "mae": keras.losses.MeanAbsoluteError(),
        "huber": keras.losses.Huber(delta=hp.huber_delta),
    }[hp.loss]
    batch_size = hp.batch_size

    # One tf.function per epoch: Keras' fit() spends about ten times longer per step in Python on networks this small.
    @tf.function
    def run_epoch(x, y):
        # x, y: one shuffled copy of the rows per member, so each sees its own batch order.
        batches = (tf.shape(x)[1] + batch_size - 1) // batch_size
        total = tf.constant(0.0)
        for index in tf.range(batches):
            start, stop = index * batch_size, (index + 1) * batch_size
            with tf.GradientTape() as tape:
                # A sum, so that each member's gradient is what it would be if it trained alone.
                loss = tf.add_n(
                    [loss_function(y[k, start:stop], member(x[k, start:stop], training=True)) for k, member in enumerate(members)]
                )
                regularization = [loss for member in members for loss in member.losses]
                if regularization:
                    loss += tf.add_n(regularization)
            optimizer.apply(tape.gradient(loss, variables), variables)
            total += loss
        return total / tf.cast(batches * len(members), tf.float32)

    x_validate_tensor = tf.constant(x_validate)

    @tf.function
    def predict_validate():
        return tf.add_n([member(x_validate_tensor, training=False) for member in members]) / len(members)

    shuffler = np.random.default_rng(hp.seed)
    history = {"loss": [], "val_rmse": []}
    best_rmse, best_epoch, best_weights = math.inf, 0, None
    for epoch in range(1, hp.epochs + 1):
        orders = np.stack([shuffler.permutation(len(x_train)) for _ in members])
        loss = float(run_epoch(tf.constant(x_train[orders]), tf.constant(y_train[orders])))
        if not math.isfinite(loss):
            raise TrainingError(f"the training loss became {loss} at epoch {epoch}; lower learning_rate")
        rmse = regression_metrics(y_validate, predict_validate())["rmse"]
        history["loss"].append(loss)
        history["val_rmse"].append(rmse)
        if rmse < best_rmse:
            best_rmse, best_epoch, best_weights = rmse, epoch, [member.get_weights() for member in members]
        elif epoch - best_epoch >= hp.patience:
            break
    for member, weights in zip(members, best_weights):
        member.set_weights(weights)
    model = merge_members(members)
    validation = regression_metrics(y_validate, model(x_validate, training=False))
    return FitResult(
        model, epoch, best_epoch, time.perf_counter() - started, time.process_time() - cpu_started, validation, history
    )


def merge_members(members):
    """One Sequential Dense stack whose output is the mean of the members' outputs.

    Hidden layers side by side (block-diagonal kernels, so no member sees another's units), the output layer
    averaging. A linear output makes this the exact mean; the models of build_model() all share the scaling.
    """
    if len(members) == 1:
        return members[0]
    import keras

    first = members[0]
    count = len(members)
    # The clamp and the scaling come before the Dense layers and are the same in every member (one training split).
    shared = [layer for layer in first.layers if not isinstance(layer, keras.layers.Dense)]
    scaling = keras.layers.Normalization(axis=-1, name="scaling")
    layers = [keras.Input(shape=(len(FEATURES),), name="features")]
    weights = []
    for layer in shared:
        if isinstance(layer, keras.layers.Normalization):
            layers.append(scaling)
            weights.append(layer.get_weights())
        else:
            layers.append(type(layer).from_config(layer.get_config()))
            weights.append([])
    dense = list(zip(*[member.layers[len(shared):] for member in members]))
    for depth, group in enumerate(dense):
        kernels = [layer.get_weights()[0] for layer in group]
        biases = [layer.get_weights()[1] for layer in group]
        if depth == 0:
            kernel = np.concatenate(kernels, axis=1)
        else:
            kernel = np.zeros((sum(k.shape[0] for k in kernels), sum(k.shape[1] for k in kernels)), dtype=np.float32)
            row = column = 0
            for k in kernels:
                kernel[row : row + k.shape[0], column : column + k.shape[1]] = k
                row, column = row + k.shape[0], column + k.shape[1]
        bias = np.concatenate(biases)
        if depth == len(dense) - 1:
            # The members' output kernels stacked, each divided by their number: the mean of their outputs.
            kernel, bias = kernel.sum(axis=1, keepdims=True) / count, np.mean(biases, axis=0)
        layers.append(keras.layers.Dense(kernel.shape[1], activation=group[0].activation, name=group[0].name))
        weights.append([kernel, bias])
    model = keras.Sequential(layers, name=first.name)
    for layer, values in zip(model.layers, weights):
        if values:
            layer.set_weights(values)
    scaling.finalize_state()  # set_weights does not refresh the layer's cached mean and variance
    return model


def regression_metrics(y_true, y_pred) -> dict:
    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    error = y_pred - y_true
    return {"rmse": float(np.sqrt(np.mean(error**2))), "mae": float(np.mean(np.abs(error)))}




def _numpy(tensor) -> np.ndarray:
    """A model's output as a flat numpy array (np.asarray on a tensor warns under numpy 2)."""
    import keras

    return keras.ops.convert_to_numpy(tensor).reshape(-1)


def probe_batch(rows: int = 256, seed: int = 0) -> np.ndarray:
    """Plausible abalone feature rows (one-hot sex, sizes over and beyond the data's range) to compare predictors on."""
    rng = np.random.default_rng(seed)
    sex = np.eye(len(SEX_CODES), dtype=np.float32)[rng.integers(0, len(SEX_CODES), rows)]
    sizes = rng.uniform(0.0, 1.2, size=(rows, len(SIZE_COLUMNS))).astype(np.float32)
    sizes[:, 2] *= 0.3  # height is a fraction of the other sizes
    return np.concatenate([sex, sizes], axis=1)


class ExportError(TrainingError):
    """The trained model cannot be served by predictor.py as it is: a fault of this code, not of the job's input."""


def extract_predictor(model) -> exported.Predictor:
    """The weights of a [clamp +] Normalization + Dense stack (what build_model and merge_members make) as the numpy
    predictor; ExportError, naming the layer, for anything else."""
    import keras

    layers = list(model.layers)
    clip = None
    if layers and type(layers[0]).__name__ == clip_layer_class().__name__:
        clip, layers = layers[0], layers[1:]

    def refuse(why):
        raise ExportError(f"the model cannot be exported for serving: {why}; predictor.py evaluates a "
                          "[ClipToTrainingRange +] Normalization + Dense stack only")

    if not isinstance(model, keras.Sequential) or len(layers) < 2:
        refuse(f"{type(model).__name__} {model.name!r} is not a Sequential of a Normalization and Dense layers")
    norm, dense_layers = layers[0], layers[1:]
    if type(norm) is not keras.layers.Normalization or norm.invert or tuple(norm.axis) not in ((-1,), (1,)):
        refuse(f"layer {norm.name!r} ({type(norm).__name__}) is not a Normalization over the last axis")
    stack = []
    for layer in dense_layers:
        if type(layer) is not keras.layers.Dense or layer.lora_enabled:
            refuse(f"layer {layer.name!r} ({type(layer).__name__}) is not a plain Dense layer")
        activation = keras.activations.serialize(layer.activation)
        activation = activation if isinstance(activation, str) else activation.get("config", {}).get("name", activation)
        activation = {"swish": "silu"}.get(activation, activation)
        if activation not in exported.ACTIVATIONS:
            refuse(f"layer {layer.name!r} has the activation {activation!r}")
        if layer.use_bias:
            kernel, bias = (np.asarray(w) for w in layer.get_weights())
        else:
            (kernel,) = (np.asarray(w) for w in layer.get_weights())
            bias = np.zeros(kernel.shape[1], dtype=np.float32)
        stack.append((kernel, bias, activation))
    mean = np.asarray(norm.mean).reshape(-1)
    scale = np.maximum(np.sqrt(np.asarray(norm.variance).reshape(-1)), keras.backend.epsilon())
    if mean.shape != (len(FEATURES),):
        refuse(f"it takes {mean.shape[0]} features, not the {len(FEATURES)} of {', '.join(FEATURES)}")
    if clip is None:
        return exported.Predictor(mean, scale, stack)
    return exported.Predictor(mean, scale, stack, clip.low, clip.high)


def check_export(predictor, model, probe: np.ndarray) -> tuple[np.ndarray, float]:
    """The Keras model's answers to the probe batch, and the exported predictor's largest difference from them;
    ExportError when that is more than PREDICTOR_TOLERANCE rings."""
    expected = _numpy(model(probe, training=False))
    difference = exported.largest_difference(predictor(probe), expected)
    if not difference <= PREDICTOR_TOLERANCE:
        raise ExportError(
            f"the numpy predictor exported for serving differs from the Keras model by up to {difference:.3g} rings on "
            f"the {len(probe)}-row probe batch (at most {PREDICTOR_TOLERANCE:g} allowed), so no model was saved: "
            "the export (training.extract_predictor) or predictor.py is at fault"
        )
    return expected, difference


def train(root: Path | str | None = None) -> dict:
    """Runs one SageMaker training job in `root` (default OPT_ML_ROOT or /opt/ml); returns the metadata written.

    On any failure the reason goes to output/failure and the exception is raised again.
    """
    root = Path(root) if root is not None else opt_ml_root()
    try:
        return _train(root)
    except BaseException as error:
        reason = str(error) if isinstance(error, TrainingError) else f"{type(error).__name__}: {error}"
        failure = root / "output" / "failure"
        failure.parent.mkdir(parents=True, exist_ok=True)
        failure.write_text(reason + "\n")
        raise


def _train(root: Path) -> dict:
    hp = read_hyperparameters(root)
    channel = root / "input" / "data" / CHANNEL
    x_train, y_train = read_labelled_csv(channel / TRAIN_FILE)
    x_validate, y_validate = read_labelled_csv(channel / VALIDATE_FILE)
    if hp.log_target and (y_train <= 0).any():
        raise TrainingError("log_target=true needs every rings label in train.csv to be above 0")
    print(f"training on {len(y_train)} rows, validating on {len(y_validate)}; hyperparameters {hp.as_strings()}", flush=True)

    result = fit(hp, x_train, y_train, x_validate, y_validate)
    import keras
    import tensorflow as tf

    validation = result.validation
    training = regression_metrics(y_train, result.model(x_train, training=False))
    model_dir = root / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    predictor = extract_predictor(result.model)
    result.model.save(model_dir / MODEL_FILE)
    # Checked against the model as saved, which is what a reader of model.keras gets; plausible rows over and beyond
    # the training range (the clamp), then the validate split's.
    probe = np.concatenate([probe_batch(), x_validate]).astype(np.float32)
    try:
        probe_y, difference = check_export(predictor, load_keras_model(model_dir), probe)
    except ExportError:
        (model_dir / MODEL_FILE).unlink(missing_ok=True)
        raise
    predictor.save(model_dir / PREDICTOR_FILE, probe, probe_y)
    metadata = {
        "features": list(FEATURES),
        "label": LABEL,
        "validation": validation,
        "training": training,
        "rows": {"train": int(len(y_train)), "validate": int(len(y_validate))},
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "history": {name: [round(float(v), 5) for v in values] for name, values in result.history.items()},
        "training_seconds": round(result.seconds, 3),
        "training_cpu_seconds": round(result.cpu_seconds, 3),
        "hyperparameters": hp.as_strings(),
        "predictor": {
            "file": PREDICTOR_FILE, "format": exported.FORMAT, "probe_rows": int(len(probe)),
            "largest_difference_from_keras": difference, "tolerance": PREDICTOR_TOLERANCE,
        },
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
        },
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (model_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    # Lines in the form SageMaker metric definitions pick up from the training log.
    print(f"validation:rmse={validation['rmse']:.4f}; validation:mae={validation['mae']:.4f}")
    print(f"train:rmse={training['rmse']:.4f}; epochs={result.epochs_run}; best_epoch={result.best_epoch}; seconds={result.seconds:.1f}")
    print(f"exported {PREDICTOR_FILE}: within {difference:.2g} rings of the Keras model on {len(probe)} probe rows", flush=True)
    return metadata


def main() -> int:
    """The `train` entrypoint: 0 on success; on failure the reason is in output/failure and on stderr."""
    try:
        train()
    except TrainingError as error:
        print(f"training failed: {error}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()
        return 1
    return 0


def load_keras_model(model_dir: Path | str):
    import keras

    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: train a model first (container/train) or give its folder")
    clip = clip_layer_class()
    # Named here too: another copy of this file in the process (the benchmark's) may hold the registered name.
    return keras.saving.load_model(path, compile=False, custom_objects={"abalone>ClipToTrainingRange": clip})


def predict(model_dir: Path | str, rows) -> np.ndarray:
    """Predicted rings for a batch of feature rows (array-like, shape (n, 10) in FEATURES order), by the Keras model."""
    x = np.asarray(rows, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != len(FEATURES):
        raise ValueError(f"rows must have shape (n, {len(FEATURES)}) in the order {', '.join(FEATURES)}; got {x.shape}")
    return np.asarray(load_keras_model(model_dir).predict(x, verbose=0)).reshape(-1)
