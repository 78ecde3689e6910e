"""The model server as SageMaker runs it: `container/serve` → nginx → gunicorn (unix socket) → Flask.

Every answer is held to container/openapi.yaml. Bad requests must get a 4xx with a message and leave the
same workers serving.
"""

import http.client
import json
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from openapi_spec_validator import validate as validate_spec

pytestmark = pytest.mark.slow

ROW = "0,0,1,0.455,0.365,0.095,0.514,0.2245,0.101,0.15"


def request(server, method, path, body=None, headers=None, chunked=False):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()


def invoke(server, body, content_type="text/csv", accept=None, **kwargs):
    headers = {}
    if content_type:
        headers["Content-Type"] = content_type
    if accept:
        headers["Accept"] = accept
    return request(server, "POST", "/invocations", body.encode() if isinstance(body, str) else body, headers, **kwargs)


def assert_same_workers(server):
    now = server.pids()
    assert now["gunicorn_workers"] and now == server.initial_pids, f"workers changed: {server.initial_pids} -> {now}"


def test_the_openapi_document_is_valid(openapi_spec):
    validate_spec(openapi_spec)


def listening_addresses(port: int) -> set[str]:
    """The addresses a TCP port listens on, from /proc/net/tcp (0A: LISTEN; addresses little-endian hex)."""
    found = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def test_a_server_on_this_machine_answers_this_machine_only(server):
    assert listening_addresses(server.port) == {"127.0.0.1"}


def test_ping_is_healthy(server, openapi_check):
    status, content_type, body = request(server, "GET", "/ping")
    assert openapi_check("/ping", "GET", status, content_type, body) == {"status": "healthy"}
    assert status == 200
    assert len(server.initial_pids["gunicorn_workers"]) == 2 and server.initial_pids["nginx_workers"]


def test_the_server_predicts_what_the_keras_model_predicts(server, keras_model, abalone_splits, openapi_check):
    rows = abalone_splits["test"][:, 1:]
    body = "\n".join(",".join(repr(float(v)) for v in row) for row in rows) + "\n"
    status, content_type, answer = invoke(server, body, accept="application/json")
    document = openapi_check("/invocations", "POST", status, content_type, answer)
    assert status == 200
    expected = np.asarray(keras_model(rows.astype(np.float32), training=False)).reshape(-1)
    served = np.array(document["predictions"], dtype=np.float32)
    np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-5)
    assert np.max(np.abs(served.astype(np.float64) - expected)) <= 1e-4


def test_raw_rows_give_the_same_answers_as_encoded_rows(server, abalone_splits, openapi_check):
    raw = abalone_splits["raw_test"].iloc[:200]
    raw_body = raw.drop(columns=["rings"]).to_csv(header=False, index=False)
    encoded_body = "\n".join(",".join(repr(float(v)) for v in row) for row in abalone_splits["test"][:200, 1:])
    raw_answer = invoke(server, raw_body)
    encoded_answer = invoke(server, encoded_body)
    openapi_check("/invocations", "POST", *raw_answer)
    assert raw_answer[0] == encoded_answer[0] == 200
    assert raw_answer[2] == encoded_answer[2]
    assert len(raw_answer[2].decode().splitlines()) == 200


def test_every_request_example_in_the_document_is_answered(server, openapi_spec, openapi_check, openapi_request_check):
    content = openapi_spec["paths"]["/invocations"]["post"]["requestBody"]["content"]
    seen = 0
    for media_type, description in content.items():
        for name, example in description["examples"].items():
            body = example["value"] if isinstance(example["value"], str) else json.dumps(example["value"])
            openapi_request_check(media_type, body)
            for accept in ("text/csv", "application/json"):
                status, content_type, answer = invoke(server, body, media_type, accept)
                assert status == 200, (name, answer)
                assert content_type.startswith(accept)
                openapi_check("/invocations", "POST", status, content_type, answer)
                seen += 1
    assert seen >= 8


def test_a_1000_row_request(server, abalone_splits, openapi_check):
    rows = np.resize(abalone_splits["test"][:, 1:], (1000, 10))
    body = "\n".join(",".join(format(v, "g") for v in row) for row in rows)
    status, content_type, answer = invoke(server, body)
    openapi_check("/invocations", "POST", status, content_type, answer)
    assert status == 200 and len(answer.decode().splitlines()) == 1000


def test_bad_requests_get_a_4xx_and_leave_the_workers_alone(server, bad_request, openapi_check, openapi_request_check):
    body, content_type, accept, status, phrase = bad_request
    answer = invoke(server, body, content_type, accept)
    assert answer[0] == status, answer
    message = openapi_check("/invocations", "POST", *answer)["error"]
    assert phrase in message
    assert request(server, "GET", "/ping")[0] == 200
    assert_same_workers(server)


def test_nginx_refuses_a_body_over_6_mb(server, openapi_check):
    body = (ROW + "\n") * (6 * 1024 * 1024 // len(ROW) + 10)
    for chunked in (False, True):
        answer = invoke(server, iter([body.encode()]) if chunked else body, chunked=chunked)
        assert answer[0] == 413
        assert "6 MB" in openapi_check("/invocations", "POST", *answer)["error"]
    assert_same_workers(server)


def test_a_body_just_under_6_mb_is_answered(server):
    line = ROW + "\n"
    body = line * ((6 * 1024 * 1024 - 100) // len(line))
    status, _, answer = invoke(server, body)
    assert status == 200 and answer.count(b"\n") == body.count("\n")


def test_other_methods_and_paths(server, openapi_check):
    status, content_type, body = request(server, "GET", "/invocations")
    assert status == 405
    openapi_check("/invocations", "POST", status, content_type, body)
    status, content_type, body = request(server, "GET", "/elsewhere")
    assert status == 404 and json.loads(body)["error"]
    assert_same_workers(server)


def test_concurrent_clients_are_all_answered(server):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: invoke(server, ROW if i % 3 else "bad"), range(120)))
    assert [a[0] for a in answers].count(200) == 80
    assert [a[0] for a in answers].count(400) == 40
    assert len({a[2] for a in answers if a[0] == 200}) == 1
    assert_same_workers(server)


def test_sigterm_stops_nginx_and_gunicorn(server_factory, trained_root, tmp_path, processes):
    other = server_factory(trained_root, tmp_path / "run", workers=1)
    tree = []
    try:
        other.wait_healthy()
        tree = processes.tree(other.process.pid)
        pids = other.pids()
        assert pids.get("nginx") and pids.get("gunicorn") and pids["gunicorn_workers"]
        started = time.monotonic()
        other.process.send_signal(signal.SIGTERM)
        assert other.process.wait(timeout=60) == 0, other.read_log()
        assert time.monotonic() - started < 30
        leftover = [pid for pid in tree if processes.alive(pid)]
        assert not leftover, f"still running after SIGTERM: {leftover}"
        assert not (tmp_path / "run" / "gunicorn.sock").exists()
    finally:
        if other.process.poll() is None:
            other.process.kill()
        processes.kill(tree)
        other.stop()


def _keras_model_only(trained_root, folder):
    folder.mkdir(parents=True)
    shutil.copy(trained_root / "model" / "model.keras", folder)
    shutil.copy(trained_root / "model" / "metadata.json", folder)


def _spoiled_predictor(trained_root, folder):
    shutil.copytree(trained_root / "model", folder)
    with np.load(folder / "predictor.npz") as data:
        arrays = {name: data[name] for name in data.files}
    arrays["bias_0"] = arrays["bias_0"] + 1.0
    with open(folder / "predictor.npz", "wb") as handle:
        np.savez(handle, **arrays)


# Each model folder serve must refuse: how to make it, and what its one line must say.
UNSERVABLE = {
    "no model": (lambda trained_root, folder: folder.mkdir(parents=True), ["could not load the model", "train a model first"]),
    "a model without the exported predictor (an older image's)": (
        _keras_model_only, ["could not load the model", "holds model.keras but no predictor.npz", "older version"]),
    "an exported predictor that does not give its stored answers": (
        _spoiled_predictor, ["could not load the model", "does not give the Keras model's answers stored with it"]),
}


@pytest.mark.parametrize("case", list(UNSERVABLE), ids=list(UNSERVABLE))
def test_serve_refuses_a_model_folder_it_cannot_serve_with_one_line(server_factory, trained_root, tmp_path, processes, case):
    make, phrases = UNSERVABLE[case]
    make(trained_root, tmp_path / "opt_ml" / "model")
    failing = server_factory(tmp_path / "opt_ml", tmp_path / "run")
    try:
        code = failing.process.wait(timeout=180)
        assert code != 0
        lines = failing.read_log().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("serve: could not load the model: "), lines
        assert all(phrase in lines[0] for phrase in phrases), lines[0]
        assert not (tmp_path / "run").exists(), "serve started something before refusing the model"
    finally:
        processes.kill(processes.tree(failing.process.pid))
        failing.stop()


def test_serve_rejects_a_bad_setting(server_factory, trained_root, tmp_path):
    bad = server_factory(trained_root, tmp_path / "run", extra_env={"MODEL_SERVER_WORKERS": "many"})
    assert bad.process.wait(timeout=60) != 0
    bad.stop()
    assert "MODEL_SERVER_WORKERS='many' is not a whole number" in bad.read_log()


def test_no_process_of_the_server_maps_tensorflow(server, processes):
    tree = processes.tree(server.process.pid)
    assert len(tree) >= 5  # serve, gunicorn and its two workers, nginx and its worker
    for pid in tree:
        libraries = {line.split()[-1] for line in Path(f"/proc/{pid}/maps").read_text().splitlines() if "/" in line}
        assert not [path for path in libraries if "tensorflow" in path], f"process {pid} of serve has TensorFlow loaded"


def test_the_workers_never_changed(server):
    assert request(server, "GET", "/ping")[0] == 200
    assert_same_workers(server)
