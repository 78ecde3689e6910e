"""What an alarm reads from the metrics moto keeps: a statistic per period of one metric, and metric math over such
series (the arithmetic and the functions a local cloud can evaluate faithfully; anything else is refused when the
alarm is put, saying so)."""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Iterable
from datetime import timezone
from typing import Any

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,10})?|100)$")
# CloudWatch's extended statistics: percentiles, trimmed and winsorized means, trimmed counts and sums, ranks.
EXTENDED_STATISTIC = re.compile(r"^((p|tm|tc|ts|wm)(\d{1,2}(\.\d{1,10})?|100)|IQM|(TM|TC|TS|WM|PR)\(.+\))$")
# Functions of metric math evaluated here, by their arity: a number of series, or one array of them.
FUNCTIONS = ("ABS", "FILL", "MAX", "MIN", "SUM", "AVG", "METRICS")
SUPPORTED_MATH = "+ - * /, numbers, query ids, ABS(x), FILL(x, number), MAX, MIN, SUM and AVG of [x, y, ...], METRICS()"

Series = dict[int, float]   # period index -> the period's value


class MathError(ValueError):
    """A metric math expression the local cloud cannot evaluate; the message names what."""


def epoch(timestamp: Any) -> float:
    """moto's datapoint timestamps are naive UTC datetimes."""
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=timezone.utc)
    return float(timestamp.timestamp())


def statistic(points: list[Any], stat: str) -> tuple[float | None, float]:
    """The statistic of a period's datapoints (moto's MetricDatum or MetricAggregatedDatum) and its sample count;
    None when the datapoints cannot give it (a percentile of statistic sets)."""
    values = [p.value for p in points if hasattr(p, "value")]
    sets = [p for p in points if not hasattr(p, "value")]
    count = len(values) + sum(s.sample_count for s in sets)
    if stat == "SampleCount":
        return float(count), count
    if stat == "Sum":
        return float(sum(values) + sum(s.sum for s in sets)), count
    if stat == "Average":
        return ((sum(values) + sum(s.sum for s in sets)) / count if count else None), count
    if stat == "Minimum":
        return min(values + [s.min for s in sets]), count
    if stat == "Maximum":
        return max(values + [s.max for s in sets]), count
    if not values or sets:
        return None, count
    # A percentile by nearest rank: the smallest value at or above that share of the samples.
    ordered = sorted(values)
    rank = max(1, math.ceil(float(stat[1:]) / 100 * len(ordered)))
    return ordered[rank - 1], count


def series(data: Iterable[Any], namespace: str, name: str, dimensions: dict[str, str], unit: str | None,
           stat: str, period: float, first: int, last: int) -> tuple[Series, dict[int, float]]:
    """The statistic of one metric (exactly these dimensions) per period index first..last (a period lasts `period`
    seconds from epoch), and each period's sample count."""
    buckets: dict[int, list[Any]] = {}
    for point in data:
        if point.namespace != namespace or point.name != name or (unit and point.unit != unit):
            continue
        if {d.name: d.value for d in point.dimensions} != dimensions:
            continue
        index = math.floor(epoch(point.timestamp) / period)
        if first <= index <= last:
            buckets.setdefault(index, []).append(point)
    values: Series = {}
    counts: dict[int, float] = {}
    for index, points in buckets.items():
        value, count = statistic(points, stat)
        if value is not None:
            values[index], counts[index] = value, count
    return values, counts


def check_expression(expression: str, ids: set[str]) -> ast.AST:
    """The parsed expression, or MathError naming what the local cloud cannot evaluate in it."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise MathError(f"the expression {expression!r} cannot be read") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
                name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                raise MathError(f"the local cloud does not evaluate {name}() (it evaluates {SUPPORTED_MATH})")
        elif isinstance(node, ast.Name):
            if node.id not in ids and node.id not in FUNCTIONS:
                raise MathError(f"the expression {expression!r} names {node.id}, which is no query id of the alarm")
        elif not isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.List, ast.Load,
                                   ast.Add, ast.Sub, ast.Mult, ast.Div, ast.USub, ast.UAdd)):
            raise MathError(f"the local cloud does not evaluate {ast.unparse(node)!r} in {expression!r} "
                            f"(it evaluates {SUPPORTED_MATH})")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
            raise MathError(f"{node.value!r} is not a number, in {expression!r}")
    return tree


def evaluate_expression(tree: ast.AST, inputs: dict[str, Series], metrics: list[str], indices: Iterable[int]) -> Series:
    """The expression's value per period; a period where an input it needs is missing has none, as in CloudWatch."""
    result: Series = {}
    for index in indices:
        value = _value(tree.body if isinstance(tree, ast.Expression) else tree,
                       lambda name: inputs.get(name, {}).get(index), [inputs.get(m, {}).get(index) for m in metrics])
        if isinstance(value, (int, float)) and math.isfinite(value):
            result[index] = float(value)
    return result


def _value(node: ast.AST, lookup: Callable[[str], float | None], metrics: list[float | None]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return lookup(node.id)
    if isinstance(node, ast.List):
        return [_value(item, lookup, metrics) for item in node.elts]
    if isinstance(node, ast.UnaryOp):
        operand = _value(node.operand, lookup, metrics)
        return None if operand is None else (-operand if isinstance(node.op, ast.USub) else operand)
    if isinstance(node, ast.BinOp):
        left, right = _value(node.left, lookup, metrics), _value(node.right, lookup, metrics)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        return None if right == 0 else left / right
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    name = node.func.id
    if name == "METRICS":
        return list(metrics)
    args = [_value(arg, lookup, metrics) for arg in node.args]
    if name == "ABS":
        return None if args[0] is None else abs(args[0])
    if name == "FILL":
        return args[1] if args[0] is None else args[0]
    items = [v for v in (args[0] if args and isinstance(args[0], list) else args) if v is not None]
    if not items:
        return None
    return {"MAX": max, "MIN": min, "SUM": sum, "AVG": lambda xs: sum(xs) / len(xs)}[name](items)
