"""container/app.py through Flask's test client: parsing, content negotiation and every bad-input answer.

The same cases run through real nginx and gunicorn in test_server.py; here they are quick to read and debug.
"""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.slow

ROW = "0,0,1,0.455,0.365,0.095,0.514,0.2245,0.101,0.15"
RAW_ROW = "M,0.455,0.365,0.095,0.514,0.2245,0.101,0.15"  # the same abalone with its sex letter


@pytest.fixture(scope="module")
def predictor(exported_predictor):
    return exported_predictor


@pytest.fixture(scope="module")
def client(app_module, predictor):
    return app_module.create_app(predictor).test_client()


def post(client, body, content_type="text/csv", accept=None):
    headers = {"Content-Type": content_type} if content_type else {}
    if accept:
        headers["Accept"] = accept
    return client.post("/invocations", data=body, headers=headers)


def test_ping(client):
    response = client.get("/ping")
    assert response.status_code == 200 and response.get_json() == {"status": "healthy"}


def test_ping_is_unhealthy_until_a_model_is_loaded(app_module, predictor):
    app = app_module.create_app(predictor)
    app.config["predictor"] = None
    response = app.test_client().get("/ping")
    assert response.status_code == 503 and "not loaded" in response.get_json()["error"]


def test_one_csv_row(client, predictor):
    response = post(client, ROW)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    expected = predictor(np.array([[float(v) for v in ROW.split(",")]], dtype=np.float32))[0]
    assert np.float32(response.get_data(as_text=True)) == np.float32(expected)


def test_raw_rows_with_the_sex_letter_equal_the_encoded_rows(client):
    encoded = post(client, ROW + "\n" + ROW.replace("0,0,1,", "1,0,0,", 1) + "\n")
    raw = post(client, RAW_ROW + "\r\n" + RAW_ROW.replace("M,", "F,", 1) + "\r\n")
    assert raw.status_code == encoded.status_code == 200
    assert raw.get_data() == encoded.get_data()
    assert len(raw.get_data(as_text=True).splitlines()) == 2


def test_a_header_row_and_blank_lines_are_skipped(client, contract_module):
    header = ",".join(contract_module.FEATURES)
    response = post(client, f"{header}\n\n{ROW}\n\n")
    assert response.status_code == 200 and response.get_data() == post(client, ROW).get_data()
    raw_header = ",".join(contract_module.RAW_FEATURES)
    assert post(client, f"{raw_header}\n{RAW_ROW}").get_data() == response.get_data()


@pytest.mark.parametrize(
    "document",
    [
        {"instances": [[0, 0, 1, 0.455, 0.365, 0.095, 0.514, 0.2245, 0.101, 0.15]]},
        [[0, 0, 1, 0.455, 0.365, 0.095, 0.514, 0.2245, 0.101, 0.15]],
        {"instances": [["M", 0.455, 0.365, 0.095, 0.514, 0.2245, 0.101, 0.15]]},
        {"instances": [dict(zip(
            ["sex", "length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight"],
            ["M", 0.455, 0.365, 0.095, 0.514, 0.2245, 0.101, 0.15],
        ))]},
        {"instances": [dict(zip(
            ["sex_F", "sex_I", "sex_M", "length", "diameter", "height", "whole_weight", "shucked_weight",
             "viscera_weight", "shell_weight"],
            [0, 0, 1, 0.455, 0.365, 0.095, 0.514, 0.2245, 0.101, 0.15],
        ))]},
    ],
    ids=["instances", "bare-list", "raw-row", "raw-object", "feature-object"],
)
def test_json_shapes_give_the_same_prediction(client, document):
    response = post(client, json.dumps(document), "application/json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    csv_answer = post(client, ROW).get_data(as_text=True).strip()
    assert response.get_json() == {"predictions": [float(csv_answer)]}


@pytest.mark.parametrize(
    "content_type, accept, answer",
    [
        ("text/csv", None, "text/csv"),
        ("text/csv", "*/*", "text/csv"),
        ("text/csv", "application/json", "application/json"),
        ("text/csv; charset=utf-8", "application/json; q=0.9, text/csv; q=0.1", "application/json"),
        ("application/json", None, "application/json"),
        ("application/json", "text/csv", "text/csv"),
        ("application/json", "text/*", "text/csv"),
        ("application/json", "application/json, text/csv", "application/json"),
    ],
)
def test_the_answer_comes_in_the_type_asked_for(client, content_type, accept, answer):
    body = ROW if content_type.startswith("text/csv") else json.dumps({"instances": [[0, 0, 1, 0.455, 0.365, 0.095, 0.514, 0.2245, 0.101, 0.15]]})
    response = post(client, body, content_type, accept)
    assert response.status_code == 200 and response.mimetype == answer
    if answer == "application/json":
        assert len(response.get_json()["predictions"]) == 1
    else:
        float(response.get_data(as_text=True))


def test_many_rows_keep_their_order(client, abalone_splits, predictor):
    rows = abalone_splits["test"][:, 1:]
    body = "\n".join(",".join(format(v, "g") for v in row) for row in rows)
    response = post(client, body, accept="application/json")
    assert response.status_code == 200
    got = np.array(response.get_json()["predictions"], dtype=np.float32)
    np.testing.assert_array_equal(got, predictor(np.asarray(rows, dtype=np.float32)).astype(np.float32))


def test_bad_requests_get_a_4xx_with_a_message(client, bad_request):
    body, content_type, accept, status, phrase = bad_request
    response = post(client, body, content_type, accept)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    message = response.get_json()["error"]
    assert phrase in message, message
    assert client.get("/ping").status_code == 200


def test_a_body_over_6_mb_is_refused_by_flask_too(client, app_module):
    body = (ROW + "\n") * (app_module.MAX_BODY_BYTES // len(ROW) + 10)
    response = post(client, body)
    assert response.status_code == 413
    assert "6 MB" in response.get_json()["error"]


def test_a_body_just_under_6_mb_is_answered(client, app_module):
    line = ROW + "\n"
    body = line * ((app_module.MAX_BODY_BYTES - 100) // len(line))
    response = post(client, body)
    assert response.status_code == 200
    assert len(response.get_data(as_text=True).splitlines()) == body.count("\n")


def test_other_methods_and_paths(client):
    response = client.get("/invocations")
    assert response.status_code == 405 and "POST" in response.headers["Allow"] and response.get_json()["error"]
    assert client.get("/elsewhere").status_code == 404
    assert client.get("/elsewhere").get_json()["error"]


def test_predictions_that_overflow_are_refused_not_answered(app_module):
    app = app_module.create_app(lambda rows: np.full(len(rows), np.inf, dtype=np.float32))
    response = app.test_client().post("/invocations", data=ROW, headers={"Content-Type": "text/csv"})
    assert response.status_code == 422 and "not finite" in response.get_json()["error"]


def test_predictions_are_written_as_the_shortest_text_of_their_float32(app_module):
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.uniform(0, 30, 2000), rng.standard_normal(2000) * 1e-3, [1e20, 10.0, 0.0]]).astype(np.float32)
    for value in values:
        text = app_module.float32_text(float(value))
        assert np.float32(text) == value
        assert len(text) <= len(str(value))


def test_the_app_loads_the_exported_predictor_from_opt_ml(app_module, predictor_module, trained_root, tmp_path,
                                                          monkeypatch, predictor):
    monkeypatch.setenv("OPT_ML_ROOT", str(trained_root))
    client = app_module.create_app().test_client()
    assert client.get("/ping").status_code == 200
    expected = predictor(np.array([[float(v) for v in ROW.split(",")]], dtype=np.float32))[0]
    assert np.float32(post(client, ROW).get_data(as_text=True)) == np.float32(expected)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.keras").write_bytes((trained_root / "model" / "model.keras").read_bytes())
    monkeypatch.setenv("OPT_ML_ROOT", str(tmp_path))
    with pytest.raises(predictor_module.ModelError, match="no predictor.npz"):
        app_module.create_app()
