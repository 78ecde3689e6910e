"""The raw abalone data in the UCI form the pipeline stores in S3, and the checks a user's own CSV must pass.

`abalone.csv` has no header and nine columns (RAW_COLUMNS). The ETL job (etl/preprocess.py) and the model
container (container/contract.py) run standalone and keep their own copies of these constants; the tests check
that the copies agree with this module.
"""

from __future__ import annotations

import csv
import importlib.resources
import io
import math
import os
from pathlib import Path
from typing import IO, Union

import pandas as pd

RAW_FILENAME = "abalone.csv"
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
RAW_COLUMNS = ("sex",) + SIZE_COLUMNS + (LABEL,)
FEATURES = tuple(f"sex_{code}" for code in SEX_CODES) + SIZE_COLUMNS
EXPECTED_ROWS = 4177
UCI_DECIMALS = 4

# At most this many problems are listed in one error, so that a wholly wrong file still gives a short message.
MAX_REPORTED_ERRORS = 5

PathOrBuffer = Union[str, os.PathLike, IO[str], IO[bytes]]


class DataValidationError(ValueError):
    """A raw CSV that does not match the abalone schema; `problems` lists each bad row or column found."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        total = len(problems)
        shown = "; ".join(problems[:MAX_REPORTED_ERRORS])
        more = f" (and {total - MAX_REPORTED_ERRORS} more)" if total > MAX_REPORTED_ERRORS else ""
        super().__init__(
            f"{source} does not match the abalone schema: {shown}{more}. Expected {len(RAW_COLUMNS)} "
            f"comma-separated columns and no header: {', '.join(RAW_COLUMNS)}."
        )


def load_raw() -> pd.DataFrame:
    """The 4,177 abalone rows shipped with scikit-lego (no download), in RAW_COLUMNS order and types."""
    frame = _load_sklego_abalone()
    frame = frame.rename(columns=lambda name: str(name).strip().lower().replace(" ", "_"))
    missing = [name for name in RAW_COLUMNS if name not in frame.columns]
    if missing:
        raise RuntimeError(
            f"scikit-lego's abalone data has columns {list(frame.columns)}, lacking {missing}: "
            "this scikit-lego version is not supported"
        )
    frame = frame.loc[:, list(RAW_COLUMNS)].copy()
    # scikit-lego's copy carries float noise (0.10099999999999999 for the UCI's 0.101); UCI values have 4 decimals.
    frame[list(SIZE_COLUMNS)] = frame[list(SIZE_COLUMNS)].round(UCI_DECIMALS)
    # Round-trip through the CSV checks, so the bundled data obeys exactly the rules a user's file must.
    return read_raw_csv(io.StringIO(frame.to_csv(header=False, index=False)), source="scikit-lego's abalone data")


def _load_sklego_abalone() -> pd.DataFrame:
    # Reading the bundled file directly skips sklego.datasets, whose import pulls in scikit-learn (seconds).
    bundled = importlib.resources.files("sklego") / "data" / "abalone.zip"
    if bundled.is_file():
        with importlib.resources.as_file(bundled) as path:
            return pd.read_csv(path)
    from sklego.datasets import load_abalone

    return load_abalone(as_frame=True)


def write_raw_csv(path: str | os.PathLike, frame: pd.DataFrame | None = None) -> Path:
    """Write `abalone.csv` (no header); `path` is the file or a folder to hold it. Returns the file written."""
    target = Path(path)
    if target.is_dir():
        target = target / RAW_FILENAME
    frame = load_raw() if frame is None else frame
    missing = [name for name in RAW_COLUMNS if name not in frame.columns]
    if missing:
        raise DataValidationError("the data frame to write", [f"missing column {name}" for name in missing])
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.loc[:, list(RAW_COLUMNS)].to_csv(target, header=False, index=False)
    return target


def read_raw_csv(path_or_buffer: PathOrBuffer, source: str | None = None) -> pd.DataFrame:
    """Read and check a raw abalone CSV of the UCI schema; a file that does not match raises DataValidationError.

    A header row naming exactly RAW_COLUMNS is accepted and skipped. Rows are numbered from 1 as in the file.
    """
    text, name = _read_text(path_or_buffer)
    return parse_raw_text(text, source or name)


def parse_raw_text(text: str, source: str = "the CSV") -> pd.DataFrame:
    rows = [(number, row) for number, row in enumerate(csv.reader(io.StringIO(text)), start=1) if _has_content(row)]
    if rows and [cell.strip().lower() for cell in rows[0][1]] == list(RAW_COLUMNS):
        rows = rows[1:]
    if not rows:
        raise DataValidationError(source, ["the file is empty (no data rows)"])

    problems: list[str] = []
    records = []
    for number, row in rows:
        record = _parse_row(number, row, problems)
        if record is not None:
            records.append(record)
    if problems:
        raise DataValidationError(source, problems)

    frame = pd.DataFrame.from_records(records, columns=list(RAW_COLUMNS))
    frame["rings"] = frame["rings"].astype("int64")
    for name in SIZE_COLUMNS:
        frame[name] = frame[name].astype("float64")
    return frame


def _parse_row(number: int, row: list[str], problems: list[str]) -> tuple | None:
    if len(row) != len(RAW_COLUMNS):
        problems.append(f"row {number} has {len(row)} columns, expected {len(RAW_COLUMNS)}")
        return None
    before = len(problems)
    sex = row[0].strip()
    if sex not in SEX_CODES:
        problems.append(f"row {number} column sex: unknown sex code {sex!r} (expected one of {', '.join(SEX_CODES)})")
    sizes = [_parse_number(number, name, cell, problems) for name, cell in zip(SIZE_COLUMNS, row[1:-1])]
    rings = _parse_number(number, LABEL, row[-1], problems)
    if rings is not None and rings != int(rings):
        problems.append(f"row {number} column rings: {row[-1].strip()!r} is not a whole number")
    if len(problems) > before:
        return None
    return (sex, *sizes, int(rings))


def _parse_number(number: int, column: str, cell: str, problems: list[str]) -> float | None:
    value = cell.strip()
    where = f"row {number} column {column}"
    if not value:
        problems.append(f"{where}: missing value")
        return None
    try:
        parsed = float(value)
    except ValueError:
        problems.append(f"{where}: {value!r} is not a number")
        return None
    if math.isnan(parsed):
        problems.append(f"{where}: value is NaN")
        return None
    if math.isinf(parsed):
        problems.append(f"{where}: value {value!r} is not finite")
        return None
    if parsed < 0:
        problems.append(f"{where}: negative value {value}")
        return None
    return parsed


def _has_content(row: list[str]) -> bool:
    return any(cell.strip() for cell in row)


def _read_text(path_or_buffer: PathOrBuffer) -> tuple[str, str]:
    if isinstance(path_or_buffer, (str, os.PathLike)):
        path = Path(path_or_buffer)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: give the path of an abalone CSV file")
        return _decode(path.read_bytes(), str(path)), str(path)
    content = path_or_buffer.read()
    name = str(getattr(path_or_buffer, "name", "the CSV"))
    return (_decode(content, name) if isinstance(content, bytes) else content), name


def _decode(content: bytes, name: str) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataValidationError(name, [f"not UTF-8 text (byte {error.start} cannot be decoded)"]) from None
