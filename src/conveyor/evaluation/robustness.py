"""Perturbed copies of feature data, to see how much a metric drops when inputs degrade.

=========== ==========================================================================
kind        what happens to each chosen column (numeric columns by default)
=========== ==========================================================================
noise       Gaussian noise with standard deviation ``amount`` x the column's own
            standard deviation is added (integer columns become float)
missing     a random ``amount`` share of the values (rounded to whole rows) becomes NaN
=========== ==========================================================================

The input frame is never modified, and the same ``seed`` gives the same copy.

>>> noisy = perturb(holdout_features, "noise", 0.1, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from conveyor.errors import DataError, InvalidValue

PerturbationKind = Literal["noise", "missing"]


def perturb(
    features: pd.DataFrame,
    kind: PerturbationKind,
    amount: float,
    *,
    columns: Sequence[str] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """A copy of ``features`` with ``kind`` injected into ``columns`` (see the module table).

    ``columns`` defaults to every numeric (non-boolean) column. Noise needs numeric columns;
    ``amount`` must be at least 0, and at most 1 for ``missing``.
    """
    if kind not in ("noise", "missing"):
        raise InvalidValue(f"unknown perturbation {kind!r}; use 'noise' or 'missing'")
    if not 0 <= amount <= (1 if kind == "missing" else np.inf):
        limit = "between 0 and 1" if kind == "missing" else "at least 0"
        raise InvalidValue(f"the {kind} amount must be {limit}, got {amount}")
    chosen = _columns(features, columns, numeric_only=kind == "noise")
    rng = np.random.default_rng(seed)
    result = features.copy()
    for column in chosen:
        values = result[column]
        if kind == "noise":
            result[column] = _noisy(values, amount, rng)
        else:
            result[column] = values.mask(_share(len(values), amount, rng))
    return result


def _columns(
    features: pd.DataFrame, columns: Sequence[str] | None, numeric_only: bool
) -> list[str]:
    if columns is None:
        return [column for column in features.columns if _numeric(features[column])]
    absent = [column for column in columns if column not in features.columns]
    if absent:
        raise DataError(
            f"cannot perturb column(s) {absent}: not in the data",
            hint=f"the data has the columns {[str(c) for c in features.columns][:20]}",
        )
    text = [column for column in columns if numeric_only and not _numeric(features[column])]
    if text:
        raise InvalidValue(f"noise needs numeric columns; {text} are not numeric")
    return list(columns)


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _noisy(values: pd.Series, amount: float, rng: np.random.Generator) -> pd.Series:
    """``values`` plus N(0, (amount x std)^2) noise; a constant column stays as it is."""
    std = values.std()
    scale = 0.0 if pd.isna(std) else amount * float(std)
    noise = rng.normal(0.0, 1.0, size=len(values)) * scale
    return values.astype(np.float64) + noise


def _share(rows: int, amount: float, rng: np.random.Generator) -> np.ndarray:
    """A mask with ``round(amount x rows)`` True values at random positions."""
    mask = np.zeros(rows, dtype=bool)
    mask[rng.choice(rows, size=round(amount * rows), replace=False)] = True
    return mask
