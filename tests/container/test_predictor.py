"""container/predictor.py: the numpy predictor `train` exports, equal to the Keras model, and the reasons it refuses
a model folder; what the serving files import."""

import ast
import shutil
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_the_exported_predictor_equals_the_keras_model(exported_predictor, predictor_module, training_module, keras_model,
                                                       abalone_splits):
    assert isinstance(exported_predictor, predictor_module.Predictor)
    for rows in (abalone_splits["test"][:, 1:].astype(np.float32), training_module.probe_batch(512, seed=3)):
        expected = np.asarray(keras_model(rows, training=False)).reshape(-1)
        assert predictor_module.largest_difference(exported_predictor(rows), expected) <= 1e-4
        np.testing.assert_allclose(exported_predictor(rows), expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(exported_predictor(rows[:1]), expected[:1], rtol=1e-5, atol=1e-5)


def test_the_predictor_file_holds_a_probe_batch_with_the_keras_answers(predictor_module, model_dir, keras_model,
                                                                        exported_predictor, abalone_splits):
    reread, probe_x, probe_y = predictor_module.read(model_dir / "predictor.npz")
    np.testing.assert_array_equal(reread(probe_x), exported_predictor(probe_x))
    np.testing.assert_allclose(probe_y, np.asarray(keras_model(probe_x, training=False)).reshape(-1), rtol=1e-6, atol=1e-6)
    assert predictor_module.largest_difference(reread(probe_x), probe_y) <= 1e-4
    # The probe: plausible rows over and beyond the training range, then the validate split.
    np.testing.assert_allclose(probe_x[256:], abalone_splits["validate"][:, 1:], rtol=1e-6)
    assert (probe_x[:256] > abalone_splits["train"][:, 1:].max(axis=0)).any()


def test_a_feature_outside_the_training_range_is_clamped_to_it_not_extrapolated(predictor_module, exported_predictor,
                                                                                 keras_model, abalone_splits):
    # Row 2051 of the UCI data has a height of 1.13 (the others are below 0.52): the network alone would extrapolate.
    high = keras_model.layers[0].high
    row = abalone_splits["test"][:1, 1:].astype(np.float32).copy()
    outlier, clamped = row.copy(), row.copy()
    outlier[0, 5], clamped[0, 5] = 1.13, high[5]
    assert high[5] < 1.13
    keras_answer = np.asarray(keras_model(np.concatenate([outlier, clamped]), training=False)).reshape(-1)
    assert keras_answer[0] == pytest.approx(keras_answer[1], abs=1e-6)
    assert isinstance(exported_predictor, predictor_module.Predictor)
    np.testing.assert_allclose(exported_predictor(np.concatenate([outlier, clamped])), keras_answer, rtol=1e-5, atol=1e-5)


def test_clamping_can_be_turned_off(training_module, abalone_splits):
    hp = training_module.parse_hyperparameters({"hidden_units": "8", "clip_features": "false"})
    keras_model = training_module.build_model(hp, abalone_splits["train"][:, 1:], abalone_splits["train"][:, 0])
    assert [type(layer).__name__ for layer in keras_model.layers] == ["Normalization", "Dense", "Dense"]
    rows = training_module.probe_batch(32)
    predictor = training_module.extract_predictor(keras_model)
    assert predictor.low is None
    np.testing.assert_allclose(predictor(rows), np.asarray(keras_model(rows)).reshape(-1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("activation", ["elu", "selu", "tanh", "sigmoid", "softplus", "silu"])
def test_the_numpy_forward_pass_knows_the_activations_it_claims(training_module, abalone_splits, activation):
    hp = training_module.parse_hyperparameters({"hidden_units": "16,8", "activation": activation, "log_target": "true"})
    keras_model = training_module.build_model(hp, abalone_splits["train"][:, 1:], abalone_splits["train"][:, 0])
    predictor = training_module.extract_predictor(keras_model)
    rows = training_module.probe_batch(64)
    np.testing.assert_allclose(predictor(rows), np.asarray(keras_model(rows)).reshape(-1), rtol=1e-5, atol=1e-5)


def _rewrite(path, drop=(), **changes):
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files if name not in drop}
    for name, change in changes.items():
        arrays[name] = change(arrays[name])
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _spoil_output_bias(path):
    with np.load(path) as data:
        last = f"bias_{len(data['activations']) - 1}"
    _rewrite(path, **{last: lambda bias: bias + 0.01})


# Each broken model folder: how to make it from a trained one, and what the one-line reason must say.
BROKEN_FOLDERS = {
    "no folder": (shutil.rmtree, "holds no model (predictor.npz is missing): train a model first"),
    "empty folder": (lambda folder: [path.unlink() for path in folder.iterdir()],
                     "holds no model (predictor.npz is missing): train a model first"),
    "the Keras model only (an older image's)": (
        lambda folder: (folder / "predictor.npz").unlink(),
        "holds model.keras but no predictor.npz, the predictor this image's `train` exports beside it: the model was "
        "trained by an older version of the image (or by another program); train it again with this one"),
    "not an npz": (lambda folder: (folder / "predictor.npz").write_text("weights\n"), "is not a predictor file"),
    "an array missing": (lambda folder: _rewrite(folder / "predictor.npz", drop=("mean",)),
                         "is not a predictor this image can read"),
    "weights that do not give the stored answers": (
        lambda folder: _spoil_output_bias(folder / "predictor.npz"),
        "does not give the Keras model's answers stored with it (largest difference"),
    "a newer format": (lambda folder: _rewrite(folder / "predictor.npz", format=lambda version: version + 1),
                       "is in predictor format 2, and this image reads format 1"),
    "other features": (lambda folder: _rewrite(folder / "predictor.npz", features=lambda names: names[::-1]),
                       "takes the features shell_weight, viscera_weight"),
}


@pytest.mark.parametrize("broken", list(BROKEN_FOLDERS), ids=list(BROKEN_FOLDERS))
def test_a_model_folder_it_cannot_serve_is_refused_with_one_line_saying_why(predictor_module, model_dir, tmp_path, broken):
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    make, phrase = BROKEN_FOLDERS[broken]
    make(folder)
    with pytest.raises(predictor_module.ModelError) as caught:
        predictor_module.load(folder)
    message = str(caught.value)
    assert phrase in message and "\n" not in message, message
    assert "train" in message


def _imports(path):
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module.split(".")[0])
    return found - {"__future__"}


@pytest.mark.parametrize("name, allowed", [
    ("contract.py", set()),
    ("predictor.py", {"numpy", "contract"}),
    ("app.py", {"numpy", "flask", "werkzeug", "contract", "predictor"}),
    ("wsgi.py", {"app"}),
    ("serve", {"contract", "predictor"}),
])
def test_the_serving_files_import_only_what_prediction_needs(container_dir, name, allowed):
    outside = _imports(container_dir / name) - set(sys.stdlib_module_names) - allowed
    assert not outside, f"container/{name} imports {sorted(outside)}; serving may import only {sorted(allowed)} and the standard library"
