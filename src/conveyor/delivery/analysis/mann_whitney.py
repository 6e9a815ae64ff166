"""Kayenta's fixed-window judge for one metric: Mann-Whitney U with a Hodges-Lehmann interval.

As in Netflix's Kayenta (NetflixACAJudge-v1.0): a two-sided Mann-Whitney U test of canary
against stable, the Hodges-Lehmann estimate of the location shift (the median of all
pairwise differences ``canary_i - stable_j``) with a 98% distribution-free interval
(order statistics of those differences, normal approximation; Kayenta finds the same
interval by root-finding), then the tolerance rule: with ``bound = 0.25 * |estimate|``,
the metric is **High** when the interval's lower end exceeds ``+bound`` and the canary's
mean is at least ``allowed_ratio`` times stable's, **Low** symmetrically, else **Pass**.
It judges one window as if it were looked at once; looking again after every window
raises its false-alarm rate, which is what the sequential tests avoid.

The pairwise differences are never built: their ``k``-th smallest is found by bisection on
the value, counting pairs below it with a binary search per canary value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import mannwhitneyu, norm

from conveyor.delivery.analysis.results import (
    Decision,
    MetricResult,
    check_positive,
    check_probability,
)

Direction = Literal["increase", "decrease", "either"]
Classification = Literal["High", "Low", "Pass", "Nodata"]
DECISIONS: dict[Classification, Decision] = {
    "High": "fail",
    "Low": "fail",
    "Pass": "pass",
    "Nodata": "inconclusive",
}


@dataclass(frozen=True)
class ShiftEstimate:
    """Hodges-Lehmann shift (canary - stable) with its interval, and the U test."""

    estimate: float
    low: float
    high: float
    confidence: float
    u: float
    p_value: float


def _pairs_at_most(canary: np.ndarray, stable_sorted: np.ndarray, d: float) -> int:
    """How many pairs have ``canary_i - stable_j <= d``."""
    below = np.searchsorted(stable_sorted, canary - d, side="left")
    return int(stable_sorted.size * canary.size - below.sum())


def pairwise_difference(canary: np.ndarray, stable: np.ndarray, k: int) -> float:
    """The ``k``-th smallest (1-based) of all ``canary_i - stable_j``, exactly."""
    x = np.sort(np.asarray(canary, dtype=float))
    y = np.sort(np.asarray(stable, dtype=float))
    low, high = x[0] - y[-1], x[-1] - y[0]  # count(low) >= 1, count(high) = all
    if _pairs_at_most(x, y, low) >= k:
        return float(low)
    for _ in range(200):  # bisection: count(low) < k <= count(high)
        middle = low + (high - low) / 2
        if middle in (low, high):
            break
        if _pairs_at_most(x, y, middle) >= k:
            high = middle
        else:
            low = middle
    # Snap to the largest pairwise difference <= high: an actual order statistic.
    idx = np.searchsorted(y, x - high, side="left")
    ok = idx < y.size
    return float(np.max(x[ok] - y[idx[ok]]))


def hodges_lehmann(
    canary: np.ndarray, stable: np.ndarray, confidence: float = 0.98
) -> ShiftEstimate:
    """The shift estimate, its ``confidence`` interval and the two-sided U test."""
    x, y = np.asarray(canary, dtype=float), np.asarray(stable, dtype=float)
    n, m = x.size, y.size
    pairs = n * m
    middle = (
        pairwise_difference(x, y, (pairs + 1) // 2) + pairwise_difference(x, y, pairs // 2 + 1)
    ) / 2
    z = norm.ppf(0.5 + confidence / 2)
    k = max(1, math.floor(pairs / 2 - z * math.sqrt(pairs * (n + m + 1) / 12)))
    low, high = pairwise_difference(x, y, k), pairwise_difference(x, y, pairs - k + 1)
    if np.ptp(np.concatenate((x, y))) == 0:
        u, p = pairs / 2, 1.0  # all values equal: scipy would divide by a zero variance
    else:
        test = mannwhitneyu(x, y, alternative="two-sided")
        u, p = float(test.statistic), float(test.pvalue)
    return ShiftEstimate(middle, low, high, confidence, u, p)


@dataclass(frozen=True)
class MannWhitneyResult(MetricResult):
    """One metric's Kayenta classification and the interval it rests on."""

    classification: Classification
    shift: ShiftEstimate | None
    mean_ratio: float


class MannWhitneyTest:
    """Kayenta's per-metric classifier (98% interval, 25% tolerance)."""

    def __init__(
        self,
        *,
        metric: str,
        direction: Direction = "increase",
        confidence: float = 0.98,
        tolerance: float = 0.25,
        allowed_ratio: float = 1.0,
    ) -> None:
        self.metric = metric
        self.direction = direction
        self.confidence = check_probability("confidence", confidence)
        self.tolerance = check_positive("tolerance", tolerance)
        self.allowed_ratio = check_positive("allowed_ratio", allowed_ratio)

    def evaluate(self, canary: np.ndarray, stable: np.ndarray) -> MannWhitneyResult:
        """Classify one window's values (NaNs removed, as Kayenta's default)."""
        x = np.asarray(canary, dtype=float)
        y = np.asarray(stable, dtype=float)
        x, y = x[~np.isnan(x)], y[~np.isnan(y)]
        if x.size == 0 or y.size == 0:
            return self._result("Nodata", None, math.nan, x.size, y.size)
        shift = hodges_lehmann(x, y, self.confidence)
        mean_y = float(y.mean())
        ratio = float(x.mean()) / mean_y if mean_y else math.nan
        bound = self.tolerance * abs(shift.estimate)
        high = shift.low > bound and not (ratio < self.allowed_ratio)
        low = shift.high < -bound and not (ratio > 1 / self.allowed_ratio)
        if high and self.direction in ("increase", "either"):
            label: Classification = "High"
        elif low and self.direction in ("decrease", "either"):
            label = "Low"
        else:
            label = "Pass"
        return self._result(label, shift, ratio, x.size, y.size)

    def _result(
        self,
        label: Classification,
        shift: ShiftEstimate | None,
        ratio: float,
        n_canary: int,
        n_stable: int,
    ) -> MannWhitneyResult:
        if shift is None:
            why = "no data on one arm"
        else:
            why = (
                f"shift {shift.estimate:+.4g} in [{shift.low:+.4g}, {shift.high:+.4g}] "
                f"({shift.confidence:.0%}), mean ratio {ratio:.3f}, U p = {shift.p_value:.3g}"
            )
        return MannWhitneyResult(
            metric=self.metric,
            test="Mann-Whitney U with Hodges-Lehmann interval (Kayenta)",
            statistic=math.nan if shift is None else shift.low,
            threshold=math.nan if shift is None else self.tolerance * abs(shift.estimate),
            n_canary=n_canary,
            n_stable=n_stable,
            min_sample=1,
            decision=DECISIONS[label],
            explanation=f"{self.metric}: {label}: {why}",
            classification=label,
            shift=shift,
            mean_ratio=ratio,
        )
