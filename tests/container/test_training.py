"""container/training.py: training under the SageMaker contract on the real data, its failures, the export of the
numpy predictor beside the Keras model (and the job failing when the export does not give Keras's answers)."""

import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow
# Keras' own saving code trips numpy 2's __array__ deprecation; nothing of ours.
KERAS_SAVING_WARNING = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_training_writes_the_model_and_its_metadata(trained_root, contract_module, predictor_module):
    model_dir = trained_root / "model"
    assert (model_dir / "model.keras").is_file()
    assert (model_dir / "predictor.npz").is_file()
    assert sorted(path.name for path in model_dir.iterdir()) == ["metadata.json", "model.keras", "predictor.npz"]
    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert metadata["features"] == list(contract_module.FEATURES)
    assert metadata["label"] == "rings"
    # 25 epochs is short of the full recipe, yet far better than predicting the mean (about 3.2).
    assert 1.5 < metadata["validation"]["rmse"] < 2.6
    assert 0.5 < metadata["validation"]["mae"] < metadata["validation"]["rmse"]
    assert 1 <= metadata["best_epoch"] <= metadata["epochs_run"] <= 25
    assert metadata["training_seconds"] > 0
    history = metadata["history"]
    assert len(history["loss"]) == len(history["val_rmse"]) == metadata["epochs_run"]
    assert min(history["val_rmse"]) == pytest.approx(history["val_rmse"][metadata["best_epoch"] - 1])
    assert metadata["hyperparameters"]["epochs"] == "25"
    assert metadata["hyperparameters"]["seed"] == "7"
    assert all(isinstance(value, str) for value in metadata["hyperparameters"].values())
    assert set(metadata["versions"]) >= {"python", "tensorflow", "keras", "numpy"}
    assert metadata["rows"]["train"] > metadata["rows"]["validate"] > 0
    exported = metadata["predictor"]
    assert exported["file"] == "predictor.npz" and exported["format"] == predictor_module.FORMAT
    assert 0 <= exported["largest_difference_from_keras"] <= exported["tolerance"] == 1e-4
    assert exported["probe_rows"] == 256 + metadata["rows"]["validate"]
    assert not (trained_root / "output" / "failure").exists()


def test_the_scaling_is_inside_the_model_and_fitted_on_the_training_split(keras_model, abalone_splits):
    clip, scaling = keras_model.layers[0], keras_model.layers[1]
    assert type(scaling).__name__ == "Normalization" and type(clip).__name__ == "ClipToTrainingRange"
    train_features = abalone_splits["train"][:, 1:]
    np.testing.assert_allclose(np.asarray(scaling.mean).reshape(-1), train_features.mean(axis=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(scaling.variance).reshape(-1), train_features.var(axis=0), rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(clip.low, train_features.min(axis=0), rtol=1e-6)
    np.testing.assert_allclose(clip.high, train_features.max(axis=0), rtol=1e-6)


def test_training_is_deterministic(training_module, abalone_splits):
    splits = abalone_splits
    hp = training_module.parse_hyperparameters({"epochs": "3", "patience": "3", "seed": "11", "ensemble": "2", "hidden_units": "32,32"})
    args = (splits["train"][:600, 1:], splits["train"][:600, 0], splits["validate"][:200, 1:], splits["validate"][:200, 0])
    first = training_module.fit(hp, *args)
    second = training_module.fit(hp, *args)
    for a, b in zip(first.model.get_weights(), second.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert first.history == second.history
    other = training_module.fit(training_module.parse_hyperparameters({"epochs": "3", "seed": "12", "ensemble": "2", "hidden_units": "32,32"}), *args)
    assert any(not np.array_equal(a, b) for a, b in zip(first.model.get_weights(), other.model.get_weights()))


@pytest.mark.parametrize(
    "hyperparameters, expected",
    [
        ({"epochs": "-1"}, "epochs='-1' is out of range"),
        ({"epochs": "abc"}, "epochs='abc' is not a whole number"),
        ({"learning_rate": "0"}, "learning_rate='0' is not valid"),
        ({"learning_rate": "nan"}, "learning_rate='nan' is not valid"),
        ({"hidden_units": "64,,x"}, "hidden_units='x' is not a whole number"),
        ({"activation": "softmax"}, "activation='softmax' is not one of"),
        ({"log_target": "maybe"}, "log_target='maybe' is not a boolean"),
        ({"epoch": "10"}, "unknown hyperparameter(s) epoch"),
    ],
)
def test_a_bad_hyperparameter_fails_the_job_with_its_reason(
    tmp_path, small_splits, opt_ml_factory, train_runner, hyperparameters, expected
):
    root = opt_ml_factory(tmp_path, small_splits, hyperparameters)
    result = train_runner(root, timeout=120)
    assert result.returncode != 0
    failure = (root / "output" / "failure").read_text()
    assert expected in failure, failure
    assert expected in result.stderr
    assert not (root / "model" / "model.keras").exists()


def test_hyperparameters_are_strings_with_defaults_and_sagemaker_extras_are_ignored(training_module):
    hp = training_module.parse_hyperparameters(
        {"epochs": "12", "hidden_units": "32, 16", "log_target": "True", "sagemaker_region": '"us-east-1"'}
    )
    assert hp.epochs == 12 and hp.hidden_units == (32, 16) and hp.log_target is True
    assert hp.batch_size == training_module.Hyperparameters().batch_size
    assert training_module.parse_hyperparameters(hp.as_strings()) == hp


def test_training_without_a_hyperparameters_file_uses_the_defaults(training_module, tmp_path):
    assert training_module.read_hyperparameters(tmp_path) == training_module.Hyperparameters()


@pytest.mark.parametrize(
    "content, expected",
    [
        ("10,0,0,1,0.5\n", "train.csv row 1 has 5 columns; expected 11"),
        ("10,0,0,1,0.5,0.4,0.1,0.5,0.2,0.1,0.15\n9,0,1,0,0.4,x,0.1,0.4,0.2,0.1,0.1\n", "train.csv row 2 column diameter: 'x' is not a number"),
        ("10,0,0,1,0.5,0.4,nan,0.5,0.2,0.1,0.15\n", "train.csv row 1 holds NaN or infinity"),
        ("", "train.csv has no rows"),
    ],
)
def test_bad_training_data_fails_with_the_row_and_column(
    training_module, tmp_path, small_splits, opt_ml_factory, content, expected
):
    root = opt_ml_factory(tmp_path, small_splits, {"epochs": "1"})
    (root / "input" / "data" / "training" / "train.csv").write_text(content)
    with pytest.raises(training_module.TrainingError) as caught:
        training_module.train(root)
    assert expected in str(caught.value)
    assert expected in (root / "output" / "failure").read_text()


def test_a_missing_validate_file_is_named(training_module, tmp_path, small_splits, opt_ml_factory):
    root = opt_ml_factory(tmp_path, small_splits, {"epochs": "1"})
    (root / "input" / "data" / "training" / "validate.csv").unlink()
    with pytest.raises(training_module.TrainingError, match="validate.csv is missing"):
        training_module.train(root)
    assert "validate.csv is missing" in (root / "output" / "failure").read_text()


def test_train_refuses_arguments(container_dir):
    result = subprocess.run([sys.executable, str(container_dir / "train"), "extra"], capture_output=True, text=True)
    assert result.returncode != 0 and "usage" in result.stderr


def test_predict_gives_rings_for_a_batch(training_module, model_dir, abalone_splits):
    test = abalone_splits["test"]
    predictions = training_module.predict(model_dir, test[:, 1:])
    assert predictions.shape == (len(test),)
    assert np.isfinite(predictions).all()
    rmse = training_module.regression_metrics(test[:, 0], predictions)["rmse"]
    assert rmse < 2.6
    assert 3 < predictions.mean() < 15
    with pytest.raises(ValueError, match=r"shape \(n, 10\)"):
        training_module.predict(model_dir, test[:, :5])


def _shift_output(predictor_module, shift):
    def fault(predictor):
        *hidden, (kernel, bias, activation) = predictor.layers
        return predictor_module.Predictor(predictor.mean, predictor.scale, [*hidden, (kernel, bias + shift, activation)],
                                          predictor.low, predictor.high)
    return fault


def _drop_clamp(predictor_module):
    return lambda predictor: predictor_module.Predictor(predictor.mean, predictor.scale, predictor.layers)


# Each fault: how it spoils the exported predictor, and the range of the largest difference the job must report.
EXPORT_FAULTS = {
    "clamp left out": (_drop_clamp, (0.01, math.inf)),
    "output 2e-4 rings off": (lambda module: _shift_output(module, 2e-4), (1.9e-4, 2.1e-4)),
}


@KERAS_SAVING_WARNING
@pytest.mark.parametrize("fault", list(EXPORT_FAULTS), ids=list(EXPORT_FAULTS))
def test_training_fails_with_the_reason_when_the_export_does_not_give_the_keras_answers(
    training_module, predictor_module, tmp_path, small_splits, opt_ml_factory, monkeypatch, capsys, fault
):
    make_fault, (low, high) = EXPORT_FAULTS[fault]
    real, spoil = training_module.extract_predictor, make_fault(predictor_module)
    monkeypatch.setattr(training_module, "extract_predictor", lambda model: spoil(real(model)))
    root = opt_ml_factory(tmp_path, small_splits, {"epochs": "2", "ensemble": "2", "hidden_units": "8"})
    monkeypatch.setenv("OPT_ML_ROOT", str(root))
    assert training_module.main() == 2
    failure = (root / "output" / "failure").read_text()
    found = re.search(r"differs from the Keras model by up to (\S+) rings on the (\d+)-row probe batch \(at most "
                      r"0\.0001 allowed\), so no model was saved", failure)
    assert found and low < float(found[1]) < high and int(found[2]) == 256 + 50, failure
    assert failure.count("\n") == 1
    assert f"training failed: {failure.strip()}" in capsys.readouterr().err
    assert list((root / "model").iterdir()) == []


@KERAS_SAVING_WARNING
def test_an_export_within_the_tolerance_is_accepted(training_module, predictor_module, tmp_path, small_splits,
                                                     opt_ml_factory, monkeypatch):
    real, spoil = training_module.extract_predictor, _shift_output(predictor_module, 5e-5)
    monkeypatch.setattr(training_module, "extract_predictor", lambda model: spoil(real(model)))
    root = opt_ml_factory(tmp_path, small_splits, {"epochs": "2", "ensemble": "1", "hidden_units": "8"})
    metadata = training_module.train(root)
    assert 4e-5 < metadata["predictor"]["largest_difference_from_keras"] < 1e-4
    predictor_module.load(root / "model")


def test_a_model_predictor_py_cannot_evaluate_fails_the_job_with_the_layer_named(
    training_module, predictor_module, tmp_path, small_splits, opt_ml_factory, monkeypatch
):
    monkeypatch.delitem(predictor_module.ACTIVATIONS, "relu")
    root = opt_ml_factory(tmp_path, small_splits, {"epochs": "1", "ensemble": "1", "hidden_units": "8"})
    with pytest.raises(training_module.ExportError):
        training_module.train(root)
    failure = (root / "output" / "failure").read_text()
    assert "cannot be exported for serving: layer 'hidden_0' has the activation 'relu'" in failure, failure
    assert list((root / "model").iterdir()) == []


@KERAS_SAVING_WARNING
def test_another_architecture_is_refused_by_the_export_and_by_serving(training_module, predictor_module, tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    other = keras.Sequential(
        [keras.Input((10,)), keras.layers.Normalization(mean=0.0, variance=1.0), keras.layers.Dense(8, activation="relu"),
         keras.layers.BatchNormalization(name="norm"), keras.layers.Dense(1)]
    )
    with pytest.raises(training_module.ExportError, match="layer 'norm' \\(BatchNormalization\\) is not a plain Dense layer"):
        training_module.extract_predictor(other)
    other.save(tmp_path / "model.keras")
    with pytest.raises(predictor_module.ModelError, match="holds model.keras but no predictor.npz"):
        predictor_module.load(tmp_path)


def test_predict_with_keras_says_what_to_do_without_a_model(training_module, tmp_path):
    with pytest.raises(FileNotFoundError, match="train a model first"):
        training_module.load_keras_model(tmp_path)


def test_the_container_keeps_the_data_contract_of_the_library(contract_module, training_module):
    data = pytest.importorskip("mlops_workshop.data")
    assert tuple(contract_module.FEATURES) == tuple(data.FEATURES)
    assert tuple(contract_module.SEX_CODES) == tuple(data.SEX_CODES)
    assert tuple(contract_module.SIZE_COLUMNS) == tuple(data.SIZE_COLUMNS)
    assert contract_module.LABEL == data.LABEL
    assert contract_module.RAW_FEATURES + (contract_module.LABEL,) == tuple(data.RAW_COLUMNS)
    # One copy in the container: training reads and writes by the same names serving uses.
    assert training_module.FEATURES is contract_module.FEATURES


def test_trainingjob_json_is_a_training_job_request_with_valid_hyperparameters(training_module, container_dir):
    job = json.loads((container_dir / "trainingjob.json").read_text())
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert [channel["ChannelName"] for channel in job["InputDataConfig"]] == ["training"]
    assert all(isinstance(value, str) for value in job["HyperParameters"].values())
    hp = training_module.parse_hyperparameters(job["HyperParameters"])
    assert hp.as_strings() == {**training_module.Hyperparameters().as_strings(), **job["HyperParameters"]}
    assert job["StoppingCondition"]["MaxRuntimeInSeconds"] >= 600
    for definition in job["AlgorithmSpecification"]["MetricDefinitions"]:
        assert definition["Name"] and "(" in definition["Regex"]


def test_requirements_pin_what_the_tests_run_with(container_dir):
    from importlib.metadata import version

    pins = {}
    for line in (container_dir / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            pins[name.strip().lower()] = pinned.strip()
    assert pins, "container/requirements.txt pins nothing"
    for name, pinned in pins.items():
        assert pinned, f"{name} is not pinned with =="
        assert version(name) == pinned, f"{name}: the image pins {pinned}, this environment has {version(name)}"
    assert {"tensorflow-cpu", "flask", "gunicorn", "numpy"} <= set(pins)
    import tomllib

    # a new release on PyPI must not make the set-up install other versions than the image's
    project = tomllib.loads((container_dir.parent / "pyproject.toml").read_text())["project"]["dependencies"]
    declared = {d.split("==")[0].strip().lower(): d.split("==")[1].split(";")[0].strip()
                for d in (x.split("#")[0] for x in project) if "==" in d}
    for name, pinned in pins.items():
        assert declared.get(name, "").rstrip(".*") in (pinned, ".".join(pinned.split(".")[:2])), \
            f"{name}: pyproject.toml must pin the image's {pinned}, it says {declared.get(name)!r}"


def test_hyperparameter_values_must_be_finite_numbers(training_module):
    with pytest.raises(training_module.TrainingError, match="l2='inf'"):
        training_module.parse_hyperparameters({"l2": "inf"})
    assert math.isclose(training_module.parse_hyperparameters({"learning_rate": 0.01}).learning_rate, 0.01)
