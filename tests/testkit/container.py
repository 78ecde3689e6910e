"""Fixtures for the model, serving and benchmark tests (tests/conftest.py loads them as a plugin): the real abalone
data in the ETL job's form, one model trained through the SageMaker contract for the whole session, and the model
server run by `container/serve`."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlops_workshop import REPO_ROOT
from mlops_workshop.modelserver import ModelServer, kill_pids, pid_alive, process_tree
from testkit.tools import require_tool

CONTAINER = REPO_ROOT / "container"
# Few epochs keep the suite quick; the benchmark trains with trainingjob.json's full settings.
TEST_HYPERPARAMETERS = {"epochs": "25", "patience": "5", "seed": "7", "ensemble": "2"}


def load_container_module(name: str):
    """A module of container/ (training, predictor, contract, app), imported the way the image imports it: from
    that folder, by its plain name."""
    if str(CONTAINER) not in sys.path:
        sys.path.insert(0, str(CONTAINER))
    if name in sys.modules and Path(sys.modules[name].__file__).parent == CONTAINER:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, CONTAINER / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def contract_module():
    return load_container_module("contract")


@pytest.fixture(scope="session")
def predictor_module(contract_module):
    return load_container_module("predictor")


@pytest.fixture(scope="session")
def training_module(predictor_module):
    return load_container_module("training")


@pytest.fixture(scope="session")
def app_module(predictor_module):
    return load_container_module("app")


def load_raw_frame():
    try:
        from mlops_workshop.data import load_raw
    except ImportError:  # the data module is someone else's; the tests only need the rows
        from sklego.datasets import load_abalone

        return load_abalone(as_frame=True)
    return load_raw()


def encode(raw, contract_module) -> np.ndarray:
    """Raw abalone rows as the ETL job writes them: rings, then the one-hot sex and the sizes."""
    sex = np.stack([(raw["sex"] == code).to_numpy() for code in contract_module.SEX_CODES], axis=1)
    sizes = raw[list(contract_module.SIZE_COLUMNS)].to_numpy(dtype=np.float64)
    return np.column_stack([raw["rings"].to_numpy(dtype=np.float64), sex.astype(np.float64), sizes])


def write_rows(path: Path, rows: np.ndarray):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(format(v, "g") if i else str(int(v)) for i, v in enumerate(row)) for row in rows]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def abalone_splits(contract_module):
    """Train / validate / test rows (label first) from the real data, split 70/15/15 with a fixed seed."""
    raw = load_raw_frame()
    rows = encode(raw, contract_module)
    order = np.random.RandomState(42).permutation(len(rows))
    test_count = validate_count = round(0.15 * len(rows))
    return {
        "test": rows[order[:test_count]],
        "validate": rows[order[test_count : test_count + validate_count]],
        "train": rows[order[test_count + validate_count :]],
        "raw_test": raw.iloc[order[:test_count]].reset_index(drop=True),
    }


def make_opt_ml(root: Path, splits, hyperparameters) -> Path:
    channel = root / "input" / "data" / "training"
    write_rows(channel / "train.csv", splits["train"])
    write_rows(channel / "validate.csv", splits["validate"])
    config = root / "input" / "config" / "hyperparameters.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps(hyperparameters))
    return root


def run_train(root: Path, timeout=600) -> subprocess.CompletedProcess:
    env = dict(os.environ, OPT_ML_ROOT=str(root))
    return subprocess.run(
        [sys.executable, str(CONTAINER / "train")], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def container_dir() -> Path:
    return CONTAINER


@pytest.fixture(scope="session")
def opt_ml_factory():
    """make_opt_ml(root, splits, hyperparameters): an /opt/ml tree with a training channel."""
    return make_opt_ml


@pytest.fixture(scope="session")
def train_runner():
    """run_train(root): `container/train` in a subprocess with OPT_ML_ROOT=root."""
    return run_train


@pytest.fixture(scope="session")
def small_splits(abalone_splits):
    return {name: abalone_splits[name][:50] for name in ("train", "validate", "test")}


@pytest.fixture(scope="session")
def trained_root(tmp_path_factory, abalone_splits):
    """An /opt/ml tree after one real `container/train` run on the abalone data."""
    root = make_opt_ml(tmp_path_factory.mktemp("opt_ml"), abalone_splits, TEST_HYPERPARAMETERS)
    result = run_train(root)
    assert result.returncode == 0, f"train failed:\n{result.stdout}\n{result.stderr}"
    return root


@pytest.fixture(scope="session")
def model_dir(trained_root) -> Path:
    return trained_root / "model"


@pytest.fixture(scope="session")
def keras_model(training_module, model_dir):
    return training_module.load_keras_model(model_dir)


@pytest.fixture(scope="session")
def exported_predictor(predictor_module, model_dir):
    """The numpy predictor `train` exported beside the Keras model, loaded as the serving workers load it."""
    return predictor_module.load(model_dir)


@pytest.fixture(scope="session")
def openapi_spec():
    import yaml

    return yaml.safe_load((CONTAINER / "openapi.yaml").read_text())


ROW = "0,0,1,0.455,0.365,0.095,0.514,0.2245,0.101,0.15"
RAW_ROW = "M,0.455,0.365,0.095,0.514,0.2245,0.101,0.15"

# Each bad request: its body, Content-Type, Accept, the status and a phrase the message must hold.
BAD_REQUESTS = {
    "empty body": ("", "text/csv", None, 400, "body is empty"),
    "blank lines only": ("\n \n", "text/csv", None, 400, "body is empty"),
    "too few columns": ("0,0,1,0.4,0.3", "text/csv", None, 400, "row 1 has 5 values"),
    "too many columns": (ROW + ",1", "text/csv", None, 400, "row 1 has 11 values"),
    "label column included": ("10," + ROW, "text/csv", None, 400, "has 11 values"),
    "text in a number column": (ROW.replace("0.455", "big"), "text/csv", None, 400, "row 1 column length: 'big' is not a number"),
    "second row bad": (ROW + "\n" + ROW.replace("0.15", "abc"), "text/csv", None, 400, "row 2 column shell_weight"),
    "NaN": (ROW.replace("0.455", "nan"), "text/csv", None, 400, "'nan' is not a finite number"),
    "infinity": (ROW.replace("0.455", "inf"), "text/csv", None, 400, "'inf' is not a finite number"),
    "beyond float32": (ROW.replace("0.455", "1e39"), "text/csv", None, 400, "not a finite number"),
    "unknown sex letter": (RAW_ROW.replace("M,", "X,", 1), "text/csv", None, 400, "unknown sex letter 'X'"),
    "lower-case sex letter": (RAW_ROW.replace("M,", "m,", 1), "text/csv", None, 400, "unknown sex letter 'm'"),
    "sex not one-hot": (ROW.replace("0,0,1,", "0,1,1,", 1), "text/csv", None, 400, "must be one-hot"),
    "not UTF-8": (b"\xff\xfe" + ROW.encode(), "text/csv", None, 400, "not UTF-8"),
    "invalid JSON": ("{instances: [}", "application/json", None, 400, "not valid JSON"),
    "JSON without instances": ('{"rows": [[1]]}', "application/json", None, 400, '{"instances": [...]}'),
    "JSON empty instances": ('{"instances": []}', "application/json", None, 400, "non-empty list"),
    "JSON text for a number": (
        '{"instances": [[0, 0, 1, "0.455", 0.365, 0.095, 0.514, 0.2245, 0.101, 0.15]]}', "application/json", None, 400,
        'column length: "0.455" is not a number'),
    "JSON boolean for a number": (
        '{"instances": [[0, 0, true, 0.455, 0.365, 0.095, 0.514, 0.2245, 0.101, 0.15]]}', "application/json", None, 400,
        "column sex_M: true is not a number"),
    "JSON NaN": ('{"instances": [[0, 0, 1, NaN, 0.365, 0.095, 0.514, 0.2245, 0.101, 0.15]]}', "application/json", None, 400,
                 "not a finite number"),
    "JSON huge integer": (
        '{"instances": [[0, 0, 1, 1' + "0" * 400 + ', 0.365, 0.095, 0.514, 0.2245, 0.101, 0.15]]}', "application/json",
        None, 400, "not a finite number"),
    "JSON wrong length": ('{"instances": [[1, 2, 3]]}', "application/json", None, 400, "instance 1 has 3 values"),
    "JSON wrong keys": ('{"instances": [{"sex": "M", "length": 0.4}]}', "application/json", None, 400, "give exactly"),
    "JSON unknown sex": ('{"instances": [["Q", 0.455, 0.365, 0.095, 0.514, 0.2245, 0.101, 0.15]]}', "application/json",
                         None, 400, "unknown sex letter 'Q'"),
    "JSON scalar instance": ('{"instances": [5]}', "application/json", None, 400, "instance 1 is a int"),
    "unsupported content type": (ROW, "text/plain", None, 415, "send text/csv or application/json"),
    "no content type": (ROW, None, None, 415, "Content-Type"),
    "unsupported accept": (ROW, "text/csv", "application/xml", 406, "ask for text/csv or application/json"),
}


def pytest_generate_tests(metafunc):
    """`bad_request` runs a test once per case of BAD_REQUESTS, in test_app.py and again through the real server."""
    if "bad_request" in metafunc.fixturenames:
        metafunc.parametrize("bad_request", list(BAD_REQUESTS.values()), ids=list(BAD_REQUESTS))


def nginx_path() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in ("/usr/sbin/nginx", "/usr/local/sbin/nginx"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def start_server(opt_ml: Path, run_dir: Path, workers: int = 2, extra_env: dict | None = None) -> ModelServer:
    """`container/serve` with two workers as on a 2-core instance, its log beside its run folder."""
    server = ModelServer(
        opt_ml, workers=workers, run_dir=run_dir, log_path=run_dir.parent / f"{run_dir.name}.log",
        extra_env={"MODEL_SERVER_TIMEOUT": "30", **(extra_env or {})},
    )
    return server.start()


@pytest.fixture(scope="session")
def require_nginx():
    require_tool("nginx", nginx_path(), "Debian: apt-get install nginx; `make test` installs it")


@pytest.fixture(scope="session")
def server(require_nginx, trained_root, tmp_path_factory):
    """One model server for the session, with two workers as on a 2-core instance."""
    srv = start_server(trained_root, tmp_path_factory.mktemp("serve") / "run")
    try:
        srv.seconds_to_healthy = srv.wait_healthy()
        srv.initial_pids = srv.pids()
        yield srv
    finally:
        tree = process_tree(srv.process.pid)
        code = srv.stop()
        leftover = [pid for pid in tree if pid_alive(pid)]
        assert code == 0 and not leftover, f"serve exited with {code}, left {leftover}:\n{srv.read_log()[-4000:]}"


@pytest.fixture(scope="session")
def openapi_check(openapi_spec):
    """check(path, method, response): the answer's status is documented for the operation and its body fits
    the schema documented for that status and media type. `response` is an http.client.HTTPResponse-like
    triple (status, content type, body bytes)."""
    import jsonschema

    def schema_for(ref_or_schema):
        return {**ref_or_schema, "components": openapi_spec["components"]}

    def check(path, method, status, content_type, body):
        operation = openapi_spec["paths"][path][method.lower()]
        documented = operation["responses"]
        assert str(status) in documented, f"{method} {path} answered {status}, which openapi.yaml does not document"
        media_type = (content_type or "").split(";")[0].strip()
        content = documented[str(status)].get("content", {})
        assert media_type in content, f"{method} {path} {status} answered {media_type}; openapi.yaml has {list(content)}"
        schema = schema_for(content[media_type]["schema"])
        text = body.decode("utf-8")
        instance = json.loads(text) if media_type == "application/json" else text
        jsonschema.Draft202012Validator(schema).validate(instance)
        return instance

    return check


@pytest.fixture(scope="session")
def openapi_request_check(openapi_spec):
    """check(media_type, body): a request body fits the schema openapi.yaml documents for /invocations."""
    import jsonschema

    def check(media_type, body):
        schema = openapi_spec["paths"]["/invocations"]["post"]["requestBody"]["content"][media_type]["schema"]
        instance = json.loads(body) if media_type == "application/json" else body
        jsonschema.Draft202012Validator({**schema, "components": openapi_spec["components"]}).validate(instance)

    return check


@pytest.fixture(scope="session")
def server_factory(require_nginx):
    """start_server(opt_ml, run_dir, workers=2, extra_env=None): another `serve`, for tests that stop it."""
    return start_server


@pytest.fixture(scope="session")
def processes():
    """Helpers over /proc: tree(pid), alive(pid), kill(pids)."""
    from types import SimpleNamespace

    return SimpleNamespace(tree=process_tree, alive=pid_alive, kill=kill_pids)
