"""Realized metrics with intervals, and the label-free accuracy estimate.

Each function takes plain arrays and returns :class:`Metric` values: the number, a two-sided
interval at ``level`` (95% by default) and how the interval was made, so a table or a JSON
reader can say what it shows. Classification: accuracy with the Wilson score interval, ROC
AUC (binary, both classes present, scores given) with the Hanley-McNeil standard error.
Regression: MAE and RMSE with normal-approximation intervals (RMSE's through the MSE, by the
square root of the MSE's bounds). The estimate (:func:`expected_accuracy`) is CBPE's for
accuracy: with calibrated probabilities, a row is right with the probability of the class
predicted, so the expected accuracy is their mean.

>>> accuracy(np.array([True, True, False, True])).value
0.75
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from conveyor.flavors.base import Array

LEVEL = 0.95


@dataclass(frozen=True)
class Metric:
    """A metric's value over ``n`` rows, its interval at ``level`` and the method behind it;
    ``estimated`` when it comes from probabilities rather than labels."""

    name: str
    value: float
    low: float | None
    high: float | None
    method: str
    n: int
    level: float = LEVEL
    estimated: bool = False

    def to_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return {
            "name": self.name,
            "value": self.value,
            "interval": None if self.low is None else [self.low, self.high],
            "interval_method": self.method,
            "level": self.level,
            "n": self.n,
            "estimated": self.estimated,
        }


def _z(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson(successes: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The Wilson score interval for a proportion (no continuity correction).

    >>> [round(x, 4) for x in wilson(8, 10)]
    [0.4902, 0.9433]
    """
    z = _z(level)
    p = successes / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, center - half), min(1.0, center + half)


def accuracy(correct: Array, level: float = LEVEL) -> Metric:
    """The share of ``correct`` rows (booleans), with its Wilson interval."""
    n = len(correct)
    hits = int(np.count_nonzero(correct))
    low, high = wilson(hits, n, level)
    return Metric("accuracy", hits / n, low, high, "wilson", n, level)


def roc_auc(truth: Array, scores: Array, level: float = LEVEL) -> Metric | None:
    """ROC AUC of ``scores`` for the positive ``truth`` (booleans), with the Hanley-McNeil
    (1982) standard error; None unless both classes are present."""
    import pandas as pd

    positives = int(np.count_nonzero(truth))
    negatives = len(truth) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = pd.Series(scores).rank().to_numpy()  # ties: the mean rank, a tie counts one half
    auc = float(ranks[truth].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    half = _z(level) * math.sqrt(max(variance, 0.0))
    return Metric(
        "roc_auc",
        float(auc),
        max(0.0, auc - half),
        min(1.0, auc + half),
        "hanley-mcneil",
        len(truth),
        level,
    )


def regression(errors: Array, level: float = LEVEL) -> list[Metric]:
    """MAE and RMSE of ``errors`` (prediction - label) with normal-approximation intervals
    (none for a single row: no spread to estimate)."""
    n = len(errors)
    absolute = np.abs(errors)
    squared = errors * errors
    mae, mse = float(absolute.mean()), float(squared.mean())
    if n < 2:
        return [
            Metric("mae", mae, None, None, "normal", n, level),
            Metric("rmse", math.sqrt(mse), None, None, "normal", n, level),
        ]
    z = _z(level)
    mae_half = z * float(absolute.std(ddof=1)) / math.sqrt(n)
    mse_half = z * float(squared.std(ddof=1)) / math.sqrt(n)
    return [
        Metric("mae", mae, max(0.0, mae - mae_half), mae + mae_half, "normal", n, level),
        Metric(
            "rmse",
            math.sqrt(mse),
            math.sqrt(max(0.0, mse - mse_half)),
            math.sqrt(mse + mse_half),
            "normal (through the MSE)",
            n,
            level,
        ),
    ]


def expected_accuracy(confidence: Array, level: float = LEVEL) -> Metric:
    """CBPE's expected accuracy: the mean probability of the predicted class per row.

    Assumes calibrated probabilities. The interval is the spread of the accuracy those rows
    would realize if they were (a Poisson-binomial: variance ``sum p (1 - p) / n^2``).
    """
    n = len(confidence)
    value = float(np.mean(confidence))
    half = _z(level) * math.sqrt(float(np.sum(confidence * (1 - confidence)))) / n
    return Metric(
        "accuracy",
        value,
        max(0.0, value - half),
        min(1.0, value + half),
        "poisson-binomial",
        n,
        level,
        estimated=True,
    )
