"""The KLL quantiles sketch the analyzer's statistics carry (parameters c and k, data as one list of items a level,
level h weighing 2**h), and the distance between two distributions it gives."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

K = 2048
C = 0.64


class KllSketch:
    """Levels of compactors: a full level sorts itself and promotes every other item (alternating the offset) to the
    level above, so that a sketch of any size keeps about k/(1-c) items."""

    def __init__(self, k: int = K, c: float = C, levels: list[list[float]] | None = None):
        self.k, self.c = k, c
        self.levels: list[list[float]] = [list(map(float, level)) for level in levels or [[]]]
        self._flip = 0

    @classmethod
    def of(cls, values: Iterable[float]) -> "KllSketch":
        sketch = cls()
        for value in values:
            sketch.update(float(value))
        return sketch

    def capacity(self, level: int) -> int:
        return max(2, math.ceil(self.k * self.c ** (len(self.levels) - level - 1)))

    def update(self, value: float) -> None:
        self.levels[0].append(value)
        level = 0
        while len(self.levels[level]) > self.capacity(level):
            if level + 1 == len(self.levels):
                self.levels.append([])
            items = sorted(self.levels[level])
            self.levels[level] = [items[-1]] if len(items) % 2 else []
            if len(items) % 2:
                items = items[:-1]
            self.levels[level + 1].extend(items[self._flip::2])
            self._flip ^= 1
            level += 1

    def weighted(self) -> tuple[np.ndarray, np.ndarray]:
        """The items, sorted, and their weights."""
        items = np.array([v for level in self.levels for v in level], dtype=float)
        weights = np.array([2.0 ** h for h, level in enumerate(self.levels) for _ in level])
        order = np.argsort(items, kind="stable")
        return items[order], weights[order]

    def cdf(self, points: np.ndarray) -> np.ndarray:
        items, weights = self.weighted()
        if not len(items):
            return np.zeros(len(points))
        cumulative = np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum()
        return cumulative[np.searchsorted(items, points, side="right")]

    def count(self) -> float:
        return float(sum(2.0 ** h * len(level) for h, level in enumerate(self.levels)))

    def as_json(self) -> dict:
        return {"parameters": {"c": self.c, "k": float(self.k)}, "data": [list(level) for level in self.levels]}

    @classmethod
    def from_json(cls, sketch: dict) -> "KllSketch":
        parameters = sketch.get("parameters") or {}
        return cls(int(parameters.get("k", K)), float(parameters.get("c", C)), sketch.get("data") or [[]])


def distance(baseline: KllSketch, current: KllSketch) -> float:
    """The largest gap between the two cumulative distributions (the Kolmogorov-Smirnov statistic)."""
    points = np.union1d(baseline.weighted()[0], current.weighted()[0])
    if not len(points):
        return 0.0
    return float(np.max(np.abs(baseline.cdf(points) - current.cdf(points))))


def buckets(values: np.ndarray, count: int = 10) -> list[dict]:
    """The distribution in `count` buckets of equal width between the minimum and the maximum."""
    low, high = float(values.min()), float(values.max())
    edges = np.linspace(low, high, count + 1) if high > low else np.array([low] * (count + 1))
    counts = np.histogram(values, bins=edges)[0] if high > low else np.array([len(values)] + [0] * (count - 1))
    return [{"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(counts[i])}
            for i in range(count)]
