"""A monitoring run's judgement: the current data against a baseline's constraints and statistics, as
constraint_violations.json's violations, and the feature metrics SageMaker publishes to CloudWatch."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np

from .sketch import KllSketch, distance
from .statistics import DEFAULT_MONITORING_CONFIG, kind_of

# The Kolmogorov-Smirnov coefficient at 99%: "Robust" flags drift only beyond what two samples of one distribution
# of these sizes show.
KS_COEFFICIENT = 1.628


def _percent(value: float) -> str:
    return f"{100 * value:.4g}%"


def _matches(expected: str, value: str) -> bool:
    kind = kind_of(value)
    return (expected == "String" or kind == expected or (expected == "Fractional" and kind == "Integral"))


def _distribution(feature: dict[str, Any]) -> KllSketch | None:
    numerical = feature.get("numerical_statistics") or {}
    sketch = ((numerical.get("distribution") or {}).get("kll") or {}).get("sketch")
    return KllSketch.from_json(sketch) if sketch else None


def _categories(feature: dict[str, Any]) -> dict[str, float]:
    found = (((feature.get("string_statistics") or {}).get("distribution") or {}).get("categorical") or {})
    return {b["value"]: float(b["count"]) for b in found.get("buckets") or []}


class Judgement:
    """The violations of one run and the drift distance of each feature that was compared."""

    def __init__(self, columns: dict[str, list[str | None]], current: dict[str, Any],
                 baseline_constraints: dict[str, Any], baseline_statistics: dict[str, Any] | None):
        self.columns, self.current = columns, current
        self.constraints = baseline_constraints
        self.baseline = {f["name"]: f for f in (baseline_statistics or {}).get("features") or []}
        config = dict(DEFAULT_MONITORING_CONFIG, **(baseline_constraints.get("monitoring_config") or {}))
        self.config = config
        self.distribution = dict(DEFAULT_MONITORING_CONFIG["distribution_constraints"],
                                 **(config.get("distribution_constraints") or {}))
        self.violations: list[dict[str, str]] = []
        self.drift: dict[str, float] = {}

    def violation(self, feature: str, check: str, description: str) -> None:
        self.violations.append({"feature_name": feature, "constraint_check_type": check, "description": description})

    def run(self) -> "Judgement":
        if self.config.get("evaluate_constraints", "Enabled") != "Enabled":
            return self
        expected = [f["name"] for f in self.constraints.get("features") or []]
        observed = list(self.columns)
        if len(observed) < len(expected):
            for name in expected[len(observed):]:
                self.violation(name, "missing_column_check", f"There are missing columns in current dataset. Number "
                               f"of columns in current dataset: {len(observed)}, Number of columns in baseline "
                               f"constraints: {len(expected)}")
        for name in observed[len(expected):]:
            self.violation(name, "extra_column_check", f"There are extra columns in current dataset. Number of "
                           f"columns in current dataset: {len(observed)}, Number of columns in baseline "
                           f"constraints: {len(expected)}")
        current = {f["name"]: f for f in self.current["features"]}
        for constraint in self.constraints.get("features") or []:
            name = constraint["name"]
            if name in self.columns:
                self.feature(constraint, self.columns[name], current[name])
        return self

    def feature(self, constraint: dict[str, Any], values: list[str | None], current: dict[str, Any]) -> None:
        name, expected = constraint["name"], constraint.get("inferred_type", "Unknown")
        present = [v for v in values if v is not None]
        completeness = len(present) / len(values) if values else 0.0
        required = float(constraint.get("completeness", 0.0))
        if completeness < required - 1e-12:
            self.violation(name, "completeness_check", f"Data completeness requirement is not met. Expected: "
                           f"{_percent(required)}. Observed: Only {_percent(completeness)} of data is present.")
        threshold = float(self.config.get("datatype_check_threshold", 1.0))
        if present and expected in ("Integral", "Fractional", "String"):
            matching = sum(_matches(expected, v) for v in present) / len(present)
            if matching < threshold - 1e-12:
                self.violation(name, "data_type_check", f"Data type match requirement is not met. Expected data "
                               f"type: {expected}, Expected match: {_percent(threshold)}. Observed: Only "
                               f"{_percent(matching)} of data is {expected}.")
        domains = (constraint.get("string_constraints") or {}).get("domains")
        if domains and present:
            within = sum(v in set(domains) for v in present) / len(present)
            required_domain = float(self.config.get("domain_content_threshold", 1.0))
            if within < required_domain - 1e-12:
                self.violation(name, "categorical_values_check", f"Data does not meet domain content constraint. "
                               f"Expected: {_percent(required_domain)} of data in the baseline's domain. Observed: "
                               f"Only {_percent(within)} of data is.")
        overrides = (constraint.get("monitoringConfigOverrides") or {}).get("distribution_constraints") or {}
        self.compare(name, current, dict(self.distribution, **overrides))

    def compare(self, name: str, current: dict[str, Any], config: dict[str, Any]) -> None:
        baseline = self.baseline.get(name)
        if baseline is None or config.get("perform_comparison", "Enabled") != "Enabled":
            return
        ours, theirs = _distribution(current), _distribution(baseline)
        if ours is not None and theirs is not None:
            found = distance(theirs, ours)
            self.drift[name] = found
            threshold = float(config.get("comparison_threshold", 0.1))
            n, m = theirs.count(), ours.count()
            significant = config.get("comparison_method", "Robust") != "Robust" or (
                found > KS_COEFFICIENT * math.sqrt((n + m) / (n * m)))
            if found > threshold and significant:
                self.violation(name, "baseline_drift_check", f"Baseline drift distance: {found:.4g} exceeds "
                               f"threshold: {threshold:g}")
            return
        before, now = _categories(baseline), _categories(current)
        if not before or not now:
            return
        threshold = float(config.get("categorical_comparison_threshold", 0.1))
        method = config.get("categorical_drift_method", "LInfinity")
        values = sorted(set(before) | set(now))
        p = np.array([before.get(v, 0.0) for v in values]) / sum(before.values())
        q = np.array([now.get(v, 0.0) for v in values]) / sum(now.values())
        if method == "ChiSquared":
            from scipy import stats as scipy_stats  # a second's import, for this method only
            # The current counts against the baseline's proportions: drift where they are unlikely (p < threshold).
            expected = np.maximum(p, 1e-9) * sum(now.values())
            observed = np.array([now.get(v, 0.0) for v in values])
            p_value = float(scipy_stats.chisquare(observed, expected * observed.sum() / expected.sum()).pvalue)
            self.drift[name] = 1.0 - p_value
            if p_value < threshold:
                self.violation(name, "baseline_drift_check", f"Baseline drift distance: {1 - p_value:.4g} (the "
                               f"chi-squared test's p-value {p_value:.4g} is below the threshold: {threshold:g})")
            return
        found = float(np.max(np.abs(p - q)))
        self.drift[name] = found
        if found > threshold:
            self.violation(name, "baseline_drift_check", f"Baseline drift distance: {found:.4g} exceeds threshold: "
                           f"{threshold:g}")


def metrics(judgement: Judgement, timestamp: datetime, dimensions: list[dict[str, str]]) -> list[dict[str, Any]]:
    """CloudWatch metric data of a run, as the prebuilt analyzer emits them: feature_data_<f> (the values' count,
    sum, minimum and maximum), feature_non_null_<f> (completeness) and feature_baseline_drift_<f> (the distance)."""
    if judgement.config.get("emit_metrics", "Enabled") != "Enabled":
        return []
    stamp = timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    found: list[dict[str, Any]] = []
    for feature in judgement.current["features"]:
        name = feature["name"]
        numerical = feature.get("numerical_statistics")
        common = (numerical or feature.get("string_statistics") or {}).get("common") or {}
        total = common.get("num_present", 0) + common.get("num_missing", 0)
        if numerical and common.get("num_present"):
            found.append({"MetricName": f"feature_data_{name}", "Timestamp": stamp, "Dimensions": dimensions,
                          "StatisticValues": {"SampleCount": float(common["num_present"]),
                                              "Sum": numerical["sum"], "Minimum": numerical["min"],
                                              "Maximum": numerical["max"]}})
        if total:
            found.append({"MetricName": f"feature_non_null_{name}", "Timestamp": stamp, "Dimensions": dimensions,
                          "Value": common.get("num_present", 0) / total})
        if name in judgement.drift:
            found.append({"MetricName": f"feature_baseline_drift_{name}", "Timestamp": stamp,
                          "Dimensions": dimensions, "Value": judgement.drift[name]})
    return found
