"""The inference API (described by openapi.yaml): GET /ping and POST /invocations, as SageMaker calls them.

Each gunicorn worker builds this app once, with the predictor `train` exported to the model folder (predictor.py:
numpy only), so that a worker never imports TensorFlow.
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

import contract
import predictor as exported

CSV = "text/csv"
JSON = "application/json"
MEDIA_TYPES = (CSV, JSON)
# SageMaker's InvokeEndpoint refuses larger payloads; the same limit here and in nginx.conf.
MAX_BODY_BYTES = 6 * 1024 * 1024
FLOAT32_MAX = float(np.finfo(np.float32).max)

FEATURE_COUNT = len(contract.FEATURES)
RAW_COUNT = len(contract.RAW_FEATURES)
ONE_HOT = {code: [1.0 if code == other else 0.0 for other in contract.SEX_CODES] for code in contract.SEX_CODES}
ONE_HOT_ROWS = list(ONE_HOT.values())
HEADERS = (list(contract.FEATURES), list(contract.RAW_FEATURES))
HEADER_STARTS = {header[0] for header in HEADERS}
ROW_SHAPES = (
    f"{FEATURE_COUNT} numbers ({', '.join(contract.FEATURES)}) or {RAW_COUNT} values "
    f"(the sex letter {'/'.join(contract.SEX_CODES)}, then {', '.join(contract.SIZE_COLUMNS)})"
)


class BadInput(Exception):
    """A request the model cannot answer; the message tells the client what to change."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def load_predictor():
    """The predictor exported beside the model in OPT_ML_ROOT/model (predictor.ModelError if there is none)."""
    return exported.load(contract.opt_ml_root() / "model")


def _number(cell, row: int, column: str) -> float:
    try:
        value = float(cell)
    except (TypeError, ValueError):
        raise BadInput(f"row {row} column {column}: {str(cell).strip()!r} is not a number") from None
    except OverflowError:
        value = math.inf
    if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
        raise BadInput(
            f"row {row} column {column}: {str(cell).strip()!r} is not a finite number; NaN, infinity and values "
            "beyond the float32 range cannot be predicted from"
        )
    return value


def _features_row(values, row: int) -> list[float]:
    """FEATURES (10 numbers) or a raw abalone row without rings (sex letter + 7 sizes) as the 10 features."""
    if len(values) == FEATURE_COUNT:
        numbers = [_number(value, row, name) for value, name in zip(values, contract.FEATURES)]
        sex = numbers[: len(contract.SEX_CODES)]
        if sorted(sex) != [0.0] * (len(sex) - 1) + [1.0]:
            raise BadInput(
                f"row {row}: {', '.join(contract.FEATURES[:len(sex)])} must be one-hot (one of them 1, the others 0), "
                f"got {', '.join(format(v, 'g') for v in sex)}"
            )
        return numbers
    if len(values) == RAW_COUNT:
        sex = values[0].strip().strip('"') if isinstance(values[0], str) else values[0]
        if sex not in ONE_HOT:
            raise BadInput(f"row {row} column sex: unknown sex letter {sex!r}; use one of {', '.join(contract.SEX_CODES)}")
        return ONE_HOT[sex] + [_number(value, row, name) for value, name in zip(values[1:], contract.SIZE_COLUMNS)]
    raise BadInput(f"row {row} has {len(values)} values; each row needs {ROW_SHAPES}")


def parse_csv(body: bytes) -> np.ndarray:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadInput(f"the body is not UTF-8 text (byte {error.start} cannot be decoded)") from None
    lines = [(number, line.split(",")) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    first = lines[0][1] if lines else None
    if first and first[0].strip().strip('"') in HEADER_STARTS and [cell.strip().strip('"') for cell in first] in HEADERS:
        lines = lines[1:]  # a header row naming the columns
    if not lines:
        raise BadInput(f"the CSV body has no rows; send one row per line, each {ROW_SHAPES}")
    # The quick pass reads well-formed rows in plain Python (numpy calls cost more than they save on one row);
    # anything it stumbles on is read again by _features_row, whose message names the row and column.
    try:
        rows = []
        for _, cells in lines:
            if len(cells) == FEATURE_COUNT:
                values = list(map(float, cells))
                if values[: len(contract.SEX_CODES)] not in ONE_HOT_ROWS:
                    raise ValueError
            elif len(cells) == RAW_COUNT:
                values = ONE_HOT[cells[0].strip()] + list(map(float, cells[1:]))
            else:
                raise ValueError
            # NaN and infinity fail this test, and so do values beyond float32.
            if not math.fsum(map(abs, values)) <= FLOAT32_MAX:
                raise ValueError
            rows.append(values)
        return np.array(rows, dtype=np.float32)
    except (ValueError, KeyError, OverflowError):
        pass
    return np.array([_features_row(cells, number) for number, cells in lines], dtype=np.float32)


def _json_row(instance, row: int) -> list[float]:
    if isinstance(instance, dict):
        for names in (contract.FEATURES, contract.RAW_FEATURES):
            if set(instance) == set(names):
                return _features_row([_json_value(instance[name], row, name) for name in names], row)
        raise BadInput(
            f"instance {row} has the keys {', '.join(sorted(map(str, instance)))}; "
            f"give exactly {', '.join(contract.FEATURES)} or exactly {', '.join(contract.RAW_FEATURES)}"
        )
    if isinstance(instance, list):
        if len(instance) not in (FEATURE_COUNT, RAW_COUNT):
            raise BadInput(f"instance {row} has {len(instance)} values; each instance needs {ROW_SHAPES}")
        names = contract.FEATURES if len(instance) == FEATURE_COUNT else contract.RAW_FEATURES
        return _features_row([_json_value(value, row, name) for value, name in zip(instance, names)], row)
    raise BadInput(f"instance {row} is a {type(instance).__name__}; give a list of {ROW_SHAPES}, or an object keyed by those names")


def _json_value(value, row: int, name: str):
    if name == "sex":
        if not isinstance(value, str):
            raise BadInput(f"row {row} column sex: {value!r} is not a sex letter; use one of {', '.join(contract.SEX_CODES)}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadInput(f"row {row} column {name}: {json.dumps(value)} is not a number")
    return value


def parse_json(body: bytes) -> np.ndarray:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise BadInput(f"the body is not valid JSON: {error}") from None
    instances = document.get("instances") if isinstance(document, dict) else document
    if isinstance(document, dict) and set(document) != {"instances"}:
        raise BadInput('the JSON body must be {"instances": [...]} (or the list of instances itself)')
    if not isinstance(instances, list) or not instances:
        raise BadInput('"instances" must be a non-empty list of rows')
    return np.asarray([_json_row(instance, number) for number, instance in enumerate(instances, start=1)], dtype=np.float32)


def float32_text(value: float) -> str:
    """The shortest text that reads back as the same float32 (the model computes in float32)."""
    exact = struct.pack("<f", value)
    for digits in range(6, 9):
        text = f"{value:.{digits}g}"
        if struct.pack("<f", float(text)) == exact:
            return text
    return f"{value:.9g}"  # nine significant digits always suffice for a float32


def format_predictions(predictions: list, media_type: str) -> str:
    values = [float32_text(value) for value in predictions]
    if media_type == CSV:
        return "\n".join(values) + "\n"
    return '{"predictions": [' + ", ".join(values) + "]}"


def _answer_type(environ, content_type: str) -> str:
    accept = environ.get("HTTP_ACCEPT")
    if not accept or accept == "*/*":
        return content_type
    if accept in MEDIA_TYPES:
        return accept
    accepted = request.accept_mimetypes
    best = accepted.best_match(MEDIA_TYPES, default=None)
    if best is None:
        raise BadInput(f"cannot answer in {accept}; ask for {CSV} or {JSON} in the Accept header", status=406)
    return content_type if accepted[content_type] == accepted[best] else best


def _read_body(environ) -> bytes:
    """The request body, refused over MAX_BODY_BYTES (nginx refuses it first; this covers a direct connection)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        raise BadInput("the Content-Length header is not a number") from None
    if length > MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    # Straight from the WSGI stream: Flask's get_data() costs as much as parsing a row.
    body = environ["wsgi.input"].read(MAX_BODY_BYTES + 1 if length < 0 else length)
    if len(body) > MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    return body


def _error(status: int, message: str, headers=None) -> Response:
    return Response(json.dumps({"error": message}) + "\n", status=status, mimetype=JSON, headers=headers)


def create_app(predictor=None) -> Flask:
    """The Flask app; `predictor` maps a float32 (n, 10) array to n predicted rings (default: load_predictor())."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    predictor = predictor if predictor is not None else load_predictor()
    app.config["predictor"] = predictor
    parsers = {CSV: parse_csv, JSON: parse_json}

    @app.get("/ping")
    def ping():
        if app.config.get("predictor") is None:
            return _error(503, "the model is not loaded yet")
        return Response('{"status": "healthy"}\n', mimetype=JSON)

    @app.post("/invocations")
    def invocations():
        # The WSGI environ directly: every access through Flask's request proxy costs a little, per request.
        environ = request.environ
        try:
            content_type = environ.get("CONTENT_TYPE")
            if content_type not in parsers:
                content_type = request.mimetype
            if content_type not in parsers:
                raise BadInput(
                    f"cannot read Content-Type {content_type or '(none)'!r}; send {CSV} or {JSON}", status=415
                )
            answer_type = _answer_type(environ, content_type)
            body = _read_body(environ)
            if not body.strip():
                raise BadInput(f"the request body is empty; send one or more rows, each {ROW_SHAPES}")
            predictions = predictor(parsers[content_type](body)).tolist()
            if not all(map(math.isfinite, predictions)):
                raise BadInput("the input values are too far out of range for the model: a prediction is not finite", status=422)
        except BadInput as error:
            return _error(error.status, str(error))
        return Response(format_predictions(predictions, answer_type), content_type=answer_type)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error):
        return _error(
            413,
            f"the request body is larger than {MAX_BODY_BYTES} bytes (6 MB, the SageMaker InvokeEndpoint limit); "
            "split the rows over several requests",
        )

    @app.errorhandler(HTTPException)
    def http_error(error):
        headers = {"Allow": error.valid_methods and ", ".join(error.valid_methods)} if getattr(error, "valid_methods", None) else None
        return _error(error.code, f"{error.name}: {error.description}", headers)

    return app
