"""The image built from container/Dockerfile with a real engine, and `train` and `serve` run inside it.

One engine and one image build for the module. The engine keeps its images in engine_cache_dir() (under
~/.cache/mlops-workshop; MLOPS_ENGINE_STATE moves it), so a second run builds from the layer cache in seconds.
Where no engine can start, every test here skips with the reason; MLOPS_REQUIRE_ENGINE=1 turns that skip into
a failure (for a CI that must run these).
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mlops_workshop.localcloud.images.engine import ContainerEngine, EngineError, engine_cache_dir, host_extra_cas

pytestmark = [pytest.mark.engine, pytest.mark.slow]

TAG = "mlops-workshop/abalone:test"
HYPERPARAMETERS = {"epochs": "5", "patience": "3"}
FEATURES = ("sex_F", "sex_I", "sex_M", "length", "diameter", "height", "whole_weight", "shucked_weight",
            "viscera_weight", "shell_weight")


@functools.lru_cache(maxsize=1)
def _raw_abalone():
    try:
        from mlops_workshop.data import load_raw
    except ImportError:
        from sklego.datasets import load_abalone
        raw = load_abalone(as_frame=True)
        raw.columns = ["sex", *FEATURES[3:], "rings"]
        return raw
    return load_raw()


def etl_rows(count: int, start: int = 0) -> list[list[str]]:
    """`count` rows of the real abalone data in the ETL job's output form: rings, then the 10 FEATURES."""
    rows = []
    for record in _raw_abalone().iloc[start:start + count].itertuples(index=False):
        row = record._asdict()
        onehot = [f"{float(row['sex'] == code):g}" for code in ("F", "I", "M")]
        sizes = [repr(float(row[name])) for name in FEATURES[3:]]
        rows.append([str(int(row["rings"]))] + onehot + sizes)
    return rows


def make_opt_ml(root: Path, hyperparameters: dict[str, str], train_rows: int = 800,
                validate_rows: int = 200) -> Path:
    """A SageMaker /opt/ml tree: hyperparameters (all strings) and the `training` channel."""
    config = root / "input" / "config"
    channel = root / "input" / "data" / "training"
    config.mkdir(parents=True)
    channel.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    rows = etl_rows(train_rows + validate_rows)
    (channel / "train.csv").write_text("".join(",".join(r) + "\n" for r in rows[:train_rows]))
    (channel / "validate.csv").write_text("".join(",".join(r) + "\n" for r in rows[train_rows:]))
    return root


def _cannot(reason: str):
    if os.environ.get("MLOPS_REQUIRE_ENGINE") == "1":
        pytest.fail(f"MLOPS_REQUIRE_ENGINE=1, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def engine(timings):
    engine = ContainerEngine(engine_cache_dir())
    ok, why = engine.available()
    if not ok:
        _cannot(f"no container engine: {why}")
    started = time.monotonic()
    try:
        engine.start()
    except EngineError as error:
        _cannot(f"the container engine could not start: {error}")
    timings["engine start"] = f"{time.monotonic() - started:.1f} s ({engine.version()}, {'started here' if engine.owned else 'already running'})"
    yield engine
    if engine.host:
        engine.prune()
    engine.stop()


@pytest.fixture(scope="module")
def image(engine, repo_root, tmp_path_factory, timings) -> str:
    base = os.environ.get("MLOPS_TEST_BASE_IMAGE")
    if not base:
        started = time.monotonic()
        try:
            base = engine.ensure_base_image()
            timings["base image (debootstrap, or import from the cache)"] = f"{time.monotonic() - started:.1f} s"
        except EngineError as error:
            timings["base image"] = f"the Dockerfile's default ({error})"
    log = tmp_path_factory.mktemp("image") / "build.log"
    started = time.monotonic()
    image_id = engine.build(Path(repo_root) / "container", TAG, base_image=base, log_path=log)
    size = int(engine.docker("image", "inspect", "--format", "{{.Size}}", image_id).stdout)
    timings["image build"] = f"{time.monotonic() - started:.1f} s, {size / 1e9:.2f} GB, on {base or 'the default base'}"
    return image_id


@pytest.fixture(scope="module")
def training(engine, image, tmp_path_factory, timings):
    opt_ml = make_opt_ml(tmp_path_factory.mktemp("opt_ml"), HYPERPARAMETERS)
    result = engine.train(image, opt_ml, timeout=900)
    timings["train in the image"] = f"{result.seconds:.1f} s (800 rows, {HYPERPARAMETERS})"
    return result, opt_ml


@pytest.fixture(scope="module")
def server(engine, image, training, timings):
    result, opt_ml = training
    if result.returncode != 0:
        pytest.fail(f"no model to serve: train failed\n{result.output[-3000:]}")
    container = engine.serve(image, opt_ml / "model")
    timings["serve ready (/ping 200)"] = f"{engine.wait_ready(container, timeout=180):.1f} s"
    yield container
    engine.remove_container(container)


def _request(url: str, body: bytes | None = None, content_type: str = "text/csv", accept: str = "text/csv"):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type, "Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_program_and_certificates_in_the_image(engine, image):
    result = engine.run(image, ["sh", "-c", "pwd; for c in train serve nginx python3; do command -v $c; done; "
                                            "ls /usr/local/share/ca-certificates"])
    assert result.returncode == 0, result.output
    lines = result.output.split()
    assert lines[:3] == ["/opt/program", "/opt/program/train", "/opt/program/serve"], result.output
    assert lines[4] == "/opt/venv/bin/python3", "the pinned dependencies live in /opt/venv"
    assert len(lines[5:]) == len(host_extra_cas()), "the host's extra CAs are trusted in the image"


def test_train_in_the_image(training):
    result, opt_ml = training
    assert result.returncode == 0, result.output[-3000:]
    assert (opt_ml / "model" / "model.keras").stat().st_size > 0
    assert (opt_ml / "model" / "predictor.npz").is_file()
    metadata = json.loads((opt_ml / "model" / "metadata.json").read_text())
    assert metadata["features"] == list(FEATURES)
    assert not (opt_ml / "output" / "failure").exists()


def test_failed_training_in_the_image_says_why(engine, image, tmp_path):
    opt_ml = make_opt_ml(tmp_path / "opt_ml", {"epochs": "many"}, train_rows=20, validate_rows=5)
    result = engine.train(image, opt_ml, timeout=300)
    assert result.returncode != 0
    assert "epochs" in (opt_ml / "output" / "failure").read_text()
    assert not (opt_ml / "model" / "model.keras").exists()


def test_serve_in_the_image(server):
    status, body = _request(server.url("/ping"))
    assert status == 200, body
    rows = etl_rows(3, start=4000)
    status, body = _request(server.url("/invocations"), "\n".join(",".join(r[1:]) for r in rows).encode())
    assert status == 200, body
    predictions = [float(v) for v in body.replace(",", "\n").split()]
    assert len(predictions) == 3 and all(math.isfinite(p) and 0 < p < 40 for p in predictions), body


def test_bad_request_gets_a_4xx_and_the_server_stays_up(server):
    status, body = _request(server.url("/invocations"), b"0,1,0,0.5,not-a-number\n")
    assert 400 <= status < 500, (status, body)
    assert body.strip(), "a bad request gets a message"
    assert _request(server.url("/ping"))[0] == 200


def test_sigterm_stops_serving_promptly(engine, server, timings):
    started = time.monotonic()
    code = engine.stop_container(server, timeout=30)
    seconds = time.monotonic() - started
    timings["serve stop on SIGTERM"] = f"{seconds:.1f} s, exit code {code}"
    assert code != 137, "serve ignored SIGTERM and was killed"
    assert seconds < 10, f"serve took {seconds:.1f} s to stop after SIGTERM"
    assert not engine.is_running(server)


def test_engine_stops_and_leaves_the_host_as_found(engine, timings):
    if not engine.owned:
        pytest.skip("the engine was already running; it is not this test's to stop")
    pid, state_dir, before = engine.pid, engine.state_dir, engine.host_before
    started = time.monotonic()
    engine.prune()
    engine.stop()
    timings["engine stop and clean-up"] = f"{time.monotonic() - started:.1f} s: {len(engine.undone)} changes undone"
    assert not Path(f"/proc/{pid}").exists(), "dockerd still runs"
    assert not any(line.split()[4].startswith(str(state_dir)) for line in open("/proc/self/mountinfo"))
    # Compared as the engine saw it before letting another engine start (another test run may be waiting).
    assert engine.host_after == before
    assert "docker0" not in engine.host_after["links"] or "docker0" in before["links"]
