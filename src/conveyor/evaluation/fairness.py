"""Group fairness of a binary classifier: how far a rate differs between groups.

=================== ==================================== ==========================
metric              rate per group                       the group's n
=================== ==================================== ==========================
demographic_parity  P(predicted positive | group)        rows in the group
equal_opportunity   P(predicted positive | positive,     positive rows in the group
                    group): the true-positive rate
=================== ==================================== ==========================

Groups whose n is below ``min_group_size`` are left out (their rate would be mostly noise)
and listed in :attr:`FairnessResult.excluded`. The gap is the largest rate minus the
smallest over the groups kept. Empty group values form the group ``"missing"``.

>>> result = group_gap(predictions, holdout["sex"], "demographic_parity")  # doctest: +SKIP
>>> result.gap, result.lowest, result.highest  # doctest: +SKIP
(0.062, 'female', 'male')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from conveyor.errors import DataError, InvalidValue
from conveyor.evaluation.predict import Predictions, label_text

FairnessMetric = Literal["demographic_parity", "equal_opportunity"]
FAIRNESS_METRICS = ("demographic_parity", "equal_opportunity")
MISSING = "missing"


@dataclass(frozen=True)
class GroupRate:
    """One group: its name, the rows its rate rests on, and the rate (NaN when n is 0)."""

    group: str
    n: int
    rate: float


@dataclass(frozen=True)
class FairnessResult:
    """The rates of the groups kept, the groups left out as too small, and the largest gap.

    ``gap`` is NaN, and ``lowest`` and ``highest`` None, when fewer than two groups are kept.
    """

    metric: str
    min_group_size: int
    groups: list[GroupRate]
    excluded: list[GroupRate] = field(default_factory=list)
    gap: float = math.nan
    lowest: str | None = None  # the group with the smallest rate
    highest: str | None = None  # the group with the largest rate


def group_gap(
    p: Predictions,
    groups: pd.Series,
    metric: FairnessMetric,
    min_group_size: int = 30,
) -> FairnessResult:
    """The rates of ``metric`` per group of ``groups`` and the gap between the extremes.

    ``groups`` holds one value per row of ``p``, in the same order. Binary tasks only.
    """
    if p.task != "binary":
        raise InvalidValue(
            f"{metric} needs a binary task (a positive label); this is a {p.task} task"
        )
    if metric not in FAIRNESS_METRICS:
        raise InvalidValue(
            f"unknown fairness metric {metric!r}", hint=f"use one of {', '.join(FAIRNESS_METRICS)}"
        )
    if min_group_size < 1:
        raise InvalidValue(f"min_group_size must be at least 1, got {min_group_size}")
    if len(groups) != p.n:
        raise DataError(f"the group column has {len(groups)} rows; the predictions have {p.n}")
    rates = _rates(p, _group_names(groups), metric)
    kept = [rate for rate in rates if rate.n >= min_group_size]
    excluded = [rate for rate in rates if rate.n < min_group_size]
    if len(kept) < 2:
        return FairnessResult(metric, min_group_size, kept, excluded)
    lowest = min(kept, key=lambda rate: rate.rate)
    highest = max(kept, key=lambda rate: rate.rate)
    return FairnessResult(
        metric,
        min_group_size,
        kept,
        excluded,
        gap=highest.rate - lowest.rate,
        lowest=lowest.group,
        highest=highest.group,
    )


def _group_names(groups: pd.Series) -> np.ndarray:
    """Each row's group as text, ``"missing"`` for empty values."""
    values = groups.reset_index(drop=True)
    missing = values.isna().to_numpy()
    names = np.full(len(values), MISSING, dtype=object)
    names[~missing] = label_text(values[~missing])
    return names


def _rates(p: Predictions, names: np.ndarray, metric: FairnessMetric) -> list[GroupRate]:
    """Every group's rate, in order of group name."""
    predicted = p.predicted_positive
    eligible = p.actual_positive if metric == "equal_opportunity" else np.ones(p.n, dtype=bool)
    rates = []
    for name in sorted(set(names)):
        rows = (names == name) & eligible
        n = int(rows.sum())
        rates.append(GroupRate(str(name), n, float(predicted[rows].mean()) if n else math.nan))
    return rates
