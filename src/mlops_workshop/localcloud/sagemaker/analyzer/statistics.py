"""statistics.json and constraints.json, in the formats Model Monitor documents, from a dataset's columns."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np

from .sketch import KllSketch, buckets

INTEGRAL = re.compile(r"^\s*[+-]?\d+\s*$")
MAX_DOMAIN = 20          # string features with at most this many values get them as their domain
DEFAULT_MONITORING_CONFIG = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,
    "domain_content_threshold": 1.0,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}


def kind_of(value: str) -> str:
    if INTEGRAL.match(value):
        return "Integral"
    try:
        number = float(value)
    except ValueError:
        return "String"
    return "Fractional" if np.isfinite(number) else "String"


def inferred_type(values: list[str]) -> str:
    kinds = {kind_of(v) for v in values}
    if not kinds:
        return "Unknown"
    if kinds == {"Integral"}:
        return "Integral"
    return "Fractional" if kinds <= {"Integral", "Fractional"} else "String"


def feature_statistics(name: str, values: list[str | None]) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    common = {"num_present": len(present), "num_missing": len(values) - len(present)}
    kind = inferred_type(present)
    if kind in ("Integral", "Fractional"):
        numbers = np.array([float(v) for v in present])
        return {"name": name, "inferred_type": kind, "numerical_statistics": {
            "common": common, "mean": float(numbers.mean()), "sum": float(numbers.sum()),
            "std_dev": float(numbers.std()), "min": float(numbers.min()), "max": float(numbers.max()),
            "distribution": {"kll": {"buckets": buckets(numbers), "sketch": KllSketch.of(numbers).as_json()}}}}
    counts = Counter(present)
    return {"name": name, "inferred_type": kind, "string_statistics": {
        "common": common, "distinct_count": float(len(counts)),
        "distribution": {"categorical": {"buckets": [{"value": v, "count": float(c)}
                                                     for v, c in counts.most_common()]}}}}


def statistics(columns: dict[str, list[str | None]], item_count: int) -> dict[str, Any]:
    return {"version": 0.0, "dataset": {"item_count": item_count},
            "features": [feature_statistics(name, values) for name, values in columns.items()]}


def constraints(stats: dict[str, Any], categorical_drift_method: str | None = None) -> dict[str, Any]:
    """The constraints a baseline suggests: each feature's type and completeness, non-negativity for numbers, the
    domain of a string feature of few values, and the default monitoring configuration."""
    features = []
    for feature in stats["features"]:
        numerical = feature.get("numerical_statistics")
        common = (numerical or feature.get("string_statistics") or {}).get("common") or {}
        total = common.get("num_present", 0) + common.get("num_missing", 0)
        suggested: dict[str, Any] = {"name": feature["name"], "inferred_type": feature["inferred_type"],
                                     "completeness": common.get("num_present", 0) / total if total else 0.0}
        if numerical:
            suggested["num_constraints"] = {"is_non_negative": numerical["min"] >= 0}
        elif feature["inferred_type"] == "String":
            values = [b["value"] for b in feature["string_statistics"]["distribution"]["categorical"]["buckets"]]
            if len(values) <= MAX_DOMAIN:
                suggested["string_constraints"] = {"domains": sorted(values)}
        features.append(suggested)
    config = {**DEFAULT_MONITORING_CONFIG,
              "distribution_constraints": dict(DEFAULT_MONITORING_CONFIG["distribution_constraints"])}
    if categorical_drift_method:
        config["distribution_constraints"]["categorical_drift_method"] = categorical_drift_method
    return {"version": 0.0, "features": features, "monitoring_config": config}
