"""The dataset an analyzer run reads: CSV or JSON files, or an endpoint's captured data (SageMaker's capture records,
JSON Lines), as rows of text values with their column names."""

from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


class AnalysisError(Exception):
    """The run cannot go on; the message says why (it becomes the processing job's FailureReason)."""


@dataclass
class Dataset:
    """Rows of values (text, None where missing), and the columns' names where the data gives them."""

    rows: list[list[str | None]] = field(default_factory=list)
    names: list[str] | None = None
    records: int = 0          # capture records read (a record may hold several rows)

    def columns(self, names: list[str] | None = None) -> dict[str, list[str | None]]:
        """{name: values}: named by the data, else by `names` (a baseline's, by position), else _c0, _c1, ..."""
        width = max((len(row) for row in self.rows), default=len(self.names or []))
        given = self.names or names or []
        labels = [given[i] if i < len(given) else f"_c{i}" for i in range(width)]
        return {label: [row[i] if i < len(row) else None for row in self.rows] for i, label in enumerate(labels)}


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.strip().replace(" ", "").replace("Z", "+00:00"))
    except ValueError as exc:
        raise AnalysisError(f"the time {text!r} is not in ISO 8601 (2024-01-31T13:00:00Z)") from exc


def read(source: Path, dataset_format: dict[str, Any], start: datetime | None = None,
         end: datetime | None = None) -> Dataset:
    if not source.exists():
        raise AnalysisError(f"dataset_source {source} does not exist")
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    if "csv" in dataset_format:
        options = dataset_format["csv"] or {}
        return _csv_files(files, _truth(options.get("header", False)))
    if "json" in dataset_format:
        options = dataset_format["json"] or {}
        return _json_files(files, _truth(options.get("lines", options.get("line", True))))
    if "sagemakerCaptureJson" in dataset_format:
        names = (dataset_format["sagemakerCaptureJson"] or {}).get("captureIndexNames") or ["endpointInput",
                                                                                              "endpointOutput"]
        return _capture_files(files, names, start, end)
    if "parquet" in dataset_format:
        raise AnalysisError("the local cloud's analyzer reads CSV, JSON and captured data, not Parquet")
    raise AnalysisError(f"dataset_format {json.dumps(dataset_format)} names no format the analyzer knows "
                        f"(csv, json, parquet, sagemakerCaptureJson)")


def _truth(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    return text if text.strip() != "" else None


def _csv_rows(text: str) -> list[list[str | None]]:
    return [[_cell(v) for v in row] for row in csv.reader(io.StringIO(text)) if row]


def _csv_files(files: list[Path], header: bool) -> Dataset:
    dataset = Dataset()
    for path in files:
        rows = _csv_rows(path.read_text(errors="replace"))
        if header and rows:
            names = [str(v or f"_c{i}").strip() for i, v in enumerate(rows[0])]
            if dataset.names is not None and names != dataset.names:
                raise AnalysisError(f"{path.name}: its header {names} is not the other files' {dataset.names}")
            dataset.names, rows = names, rows[1:]
        dataset.rows.extend(rows)
    return dataset


def _json_rows(value: Any) -> list[Any]:
    """A JSON document as rows: a list of records, a record, or an object holding one list (instances, ...)."""
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(value) == 1 and lists:
            return _json_rows(lists[0])
        return [value]
    if isinstance(value, list):
        if value and all(not isinstance(v, (list, dict)) for v in value):
            return [value]
        return value
    return [[value]]


def _json_files(files: list[Path], lines: bool) -> Dataset:
    records: list[Any] = []
    for path in files:
        text = path.read_text(errors="replace")
        try:
            documents = ([json.loads(line) for line in text.splitlines() if line.strip()] if lines
                         else [json.loads(text)])
        except ValueError as exc:
            raise AnalysisError(f"{path.name} is not valid JSON{' Lines' if lines else ''}: {exc}") from exc
        for document in documents:
            records.extend(_json_rows(document))
    return _tabulate(records)


def _tabulate(records: list[Any]) -> Dataset:
    """Records as rows: objects by their keys (in the order first seen), lists by position."""
    if records and all(isinstance(r, dict) for r in records):
        names: list[str] = []
        for record in records:
            names.extend(k for k in record if k not in names)
        return Dataset([[_cell(r.get(n)) for n in names] for r in records], names)
    return Dataset([[_cell(v) for v in (r if isinstance(r, list) else [r])] for r in records])


def _payload(capture: dict[str, Any], where: str) -> list[Any]:
    """The rows of one captured payload, by its encoding (CSV, JSON or BASE64 of either)."""
    data, encoding = capture.get("data") or "", str(capture.get("encoding") or "").upper()
    content_type = str(capture.get("observedContentType") or "").split(";")[0].strip().lower()
    if encoding == "BASE64":
        data = base64.b64decode(data).decode("utf-8", errors="replace")
        encoding = "JSON" if "json" in content_type else "CSV" if "csv" in content_type else ""
        if not encoding:
            raise AnalysisError(f"{where}: captured data of content type {content_type or '(none)'} cannot be "
                                f"analyzed (only CSV and JSON)")
    if encoding == "CSV":
        return _csv_rows(data)
    if encoding == "JSON":
        try:
            return _json_rows(json.loads(data))
        except ValueError as exc:
            raise AnalysisError(f"{where}: captured JSON data does not parse: {exc}") from exc
    raise AnalysisError(f"{where}: unknown capture encoding {capture.get('encoding')!r}")


def _capture_files(files: list[Path], names: list[str], start: datetime | None, end: datetime | None) -> Dataset:
    # The model's output comes first, as in a baseline with output_columns_position START.
    order = [n for n in ("endpointOutput", "endpointInput") if n in names]
    if not order:
        raise AnalysisError(f"captureIndexNames {names} names neither endpointInput nor endpointOutput")
    rows: list[Any] = []
    records = 0
    for path in files:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path.name} line {number}"
            try:
                record = json.loads(line)
                captured = record["captureData"]
                inferred = parse_time((record.get("eventMetadata") or {}).get("inferenceTime"))
            except (ValueError, KeyError, TypeError) as exc:
                raise AnalysisError(f"{where} is not a SageMaker capture record: {exc}") from exc
            if inferred and inferred.tzinfo is None:
                inferred = inferred.replace(tzinfo=timezone.utc)
            if inferred and ((start and inferred < start) or (end and inferred >= end)):
                continue
            parts = [_payload(captured[n], where) for n in order if n in captured]
            if not parts:
                continue
            records += 1
            for index in range(len(parts[-1])):
                row: list[Any] = []
                for part in parts:
                    value = part[index] if index < len(part) else None
                    row.extend(value if isinstance(value, list) else
                               list(value.values()) if isinstance(value, dict) else [value])
                rows.append(row)
    dataset = _tabulate(rows)
    dataset.records = records
    return dataset
