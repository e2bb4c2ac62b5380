"""Learned normal: per-series robust statistics the detector compares each new observation with.

Two estimators, both robust to the outliers they are meant to find:

- ``Ewma``: an exponentially weighted mean and mean absolute deviation of one series over time (a staff
  member's reads, a provider's fetches, a service's error rate). Updating with the *clipped* observation keeps
  one burst from teaching the baseline that bursts are normal.
- ``peer_score``: a robust z-score against peers in the same window (median and MAD), so a staff member is
  compared with colleagues doing the same work right now, whatever the hour's overall volume.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# 1.4826 * MAD estimates the standard deviation of normally distributed data.
MAD_TO_SIGMA = 1.4826


@dataclass
class Ewma:
    """Mean and mean absolute deviation, exponentially weighted; ``n`` observations seen."""

    mean: float = 0.0
    dev: float = 0.0
    n: int = 0

    def score(self, value: float, *, floor: float) -> float:
        """How many (robust) deviations ``value`` lies above the mean; ``floor`` bounds the deviation below."""
        return (value - self.mean) / max(self.dev * 1.25, floor)

    def update(self, value: float, *, alpha: float, clip: float | None = None) -> None:
        if self.n == 0:
            self.mean, self.n = value, 1
            return
        if clip is not None:
            value = min(value, clip)
        delta = value - self.mean
        self.mean += alpha * delta
        self.dev += alpha * (abs(delta) - self.dev)
        self.n += 1

    def as_json(self) -> list[float]:
        return [round(self.mean, 6), round(self.dev, 6), self.n]

    @classmethod
    def from_json(cls, value: Any) -> Ewma:
        mean, dev, n = value
        return cls(float(mean), float(dev), int(n))


def peer_score(value: float, peers: Sequence[float], *, floor: float = 1.0) -> tuple[float, float, float]:
    """(robust z, peer median, peer sigma) of ``value`` against ``peers`` (the value itself excluded)."""
    if not peers:
        return 0.0, 0.0, floor
    median = statistics.median(peers)
    mad = statistics.median(abs(p - median) for p in peers)
    sigma = max(mad * MAD_TO_SIGMA, floor)
    return (value - median) / sigma, median, sigma


class Baselines:
    """Every learned series by name, as stored in the detector's state row."""

    def __init__(self, series: Mapping[str, Ewma] | None = None) -> None:
        self.series: dict[str, Ewma] = dict(series or {})

    def get(self, name: str) -> Ewma:
        found = self.series.get(name)
        if found is None:
            found = self.series[name] = Ewma()
        return found

    def as_json(self) -> dict[str, list[float]]:
        return {name: ewma.as_json() for name, ewma in self.series.items()}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Baselines:
        return cls({name: Ewma.from_json(raw) for name, raw in value.items()})
