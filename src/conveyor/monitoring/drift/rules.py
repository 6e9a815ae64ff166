"""Which test judges which column: the choice rules, written as data.

A column's *kind* comes from the reference (:func:`column_kind`); its *size class* from the
effective sample size ``n_eff = n_ref * n_cur / (n_ref + n_cur)`` of the values the test
sees (missing values excluded). :data:`RULES` maps (kind, size) to the test that gives the
p-value, the effect size reported beside it, and the effect floor a drift must exceed::

    kind         size      p-value from                 effect (floor)
    numeric      moderate  two-sample KS                wasserstein_norm (0)
    numeric      large     two-sample KS (reported)     wasserstein_norm (0.1)
    categorical  moderate  chi-square on counts         jensen_shannon (0)
    categorical  large     chi-square (reported)        jensen_shannon (0.1)
    binary       moderate  two-proportion z-test        cohen_h (0)
    binary       large     two-proportion z-test        cohen_h (0.1)

and beside every column's distribution, its share signals (:data:`SHARE_RULES`): missing
share (every kind), non-finite share (numeric), new-category share (categorical, binary),
each a two-proportion z-test with Cohen's h as its effect.

"Large" starts at ``n_eff >= LARGE_N``: there a test flags shifts far too small to matter
(at n_eff = 10,000 KS detects a 0.04-sd mean shift), so the decision also needs the effect
above a floor; the p-value is still computed and still passes the multiple-testing
control. Below it the floor is 0 and the test decides (with the calibrated threshold of
``calibrate.py`` as the only effect bar).

How KS is computed (:func:`ks_method`): exactly (both samples sorted and merged) while the
reference has fewer than :data:`KS_BINNED_MIN_REF` finite values; from there on the
reference is kept as :func:`ks_bins` quantiles (``bins.py``), where the binned statistic is
at most ``bin error`` below the exact one. The binned path is used only when that error is
at most :data:`KS_BIN_ERROR_SHARE` of the KS critical value ``c(alpha) * sqrt(1/n_ref)``
(``c(alpha) = sqrt(-ln(alpha/2)/2)``); the critical value of every current window is larger
(``sqrt(1/n_ref + 1/n_cur)``), so the bound holds for any window. Otherwise: exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

Kind = Literal["numeric", "categorical", "binary"]
Size = Literal["moderate", "large"]

LARGE_N = 10_000
"""Effective sample size from which the effect floor applies."""

INTEGER_CATEGORY_LIMIT = 10
"""Integer columns with at most this many distinct reference values are categorical."""

KS_BINNED_MIN_REF = 50_000
"""Finite reference values from which KS runs on the reference's quantile bins."""

KS_BIN_ERROR_SHARE = 0.1
"""The binned KS error must stay at most this share of the KS critical value at alpha."""

KsMethod = Literal["exact", "binned"]


@dataclass(frozen=True)
class Rule:
    """One row of the choice table."""

    kind: Kind
    size: Size
    test: str  # the test that yields the p-value
    effect: str  # the effect size reported and thresholded
    floor: float  # the effect must exceed max(floor, calibrated threshold)
    why: str

    def describe(self) -> str:
        """The rule as one printable line."""
        return (
            f"{self.kind}, {self.size} n: {self.test} p-value (adjusted) <= alpha and "
            f"{self.effect} > max({self.floor:g}, calibrated threshold)"
        )


RULES: tuple[Rule, ...] = (
    Rule("numeric", "moderate", "ks", "wasserstein_norm", 0.0, "KS is exact and fair here"),
    Rule(
        "numeric",
        "large",
        "ks",
        "wasserstein_norm",
        0.1,
        "KS flags negligible shifts at large n; a tenth of a reference sd is the bar",
    ),
    Rule("categorical", "moderate", "chi_square", "jensen_shannon", 0.0, "counts test"),
    Rule(
        "categorical",
        "large",
        "chi_square",
        "jensen_shannon",
        0.1,
        "chi-square flags tiny share changes at large n; JS distance (base 2) >= 0.1",
    ),
    Rule("binary", "moderate", "z_two_proportions", "cohen_h", 0.0, "two proportions"),
    Rule(
        "binary",
        "large",
        "z_two_proportions",
        "cohen_h",
        0.1,
        "Cohen's h below 0.1 is a negligible change of a proportion",
    ),
)


@dataclass(frozen=True)
class ShareRule:
    """A share signal: which kinds carry it and what it counts."""

    signal: str
    kinds: tuple[Kind, ...]
    counts: str


SHARE_RULES: tuple[ShareRule, ...] = (
    ShareRule("missing", ("numeric", "categorical", "binary"), "null / NaN / None values"),
    ShareRule("non_finite", ("numeric",), "+inf and -inf values"),
    ShareRule(
        "new_category",
        ("categorical", "binary"),
        "values not seen in the reference (its rate in the reference: leave-one-chunk-out)",
    ),
)


def size_class(n_ref: int, n_cur: int, large_n: int = LARGE_N) -> Size:
    """``large`` when the effective sample size reaches ``large_n``."""
    if n_ref <= 0 or n_cur <= 0:
        return "moderate"
    return "large" if n_ref * n_cur / (n_ref + n_cur) >= large_n else "moderate"


def choose(kind: Kind, size: Size) -> Rule:
    """The rule for ``kind`` at ``size`` (every pair has exactly one)."""
    return next(rule for rule in RULES if rule.kind == kind and rule.size == size)


def ks_critical(alpha: float, n_ref: int, n_cur: int | None = None) -> float:
    """Smirnov's asymptotic KS critical value at ``alpha`` (``n_cur=None``: the smallest
    it can be for any current window, ``c(alpha) / sqrt(n_ref)``)."""
    spread = 1.0 / n_ref + (1.0 / n_cur if n_cur else 0.0)
    return math.sqrt(-math.log(alpha / 2.0) / 2.0) * math.sqrt(spread)


def ks_bins(n_ref: int, alpha: float) -> int:
    """How many reference quantiles to keep: bins of mass ``1/B`` at most half the allowed
    error (the other half is slack for ties and approximate quantiles)."""
    allowed = KS_BIN_ERROR_SHARE * ks_critical(alpha, n_ref)
    return min(n_ref, math.ceil(2.0 / allowed))


def ks_method(n_ref: int, bin_error: float | None, alpha: float, min_ref: int) -> KsMethod:
    """``binned`` when the reference is large and its measured bin error small enough."""
    if n_ref < min_ref or bin_error is None:
        return "exact"
    allowed = KS_BIN_ERROR_SHARE * ks_critical(alpha, n_ref)
    return "binned" if bin_error <= allowed else "exact"


def column_kind(values: pd.Series) -> Kind:
    """The kind of a reference column, from its dtype and its distinct non-null values.

    bool, or at most two distinct values → binary; other numbers → numeric, except
    integers with at most :data:`INTEGER_CATEGORY_LIMIT` distinct values; anything else
    (strings, categories, objects) → categorical.
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        return "binary"
    if pd.api.types.is_numeric_dtype(values.dtype):
        data = values.to_numpy(dtype="float64", na_value=np.nan)
        finite = data[np.isfinite(data)]
        if _at_most_two_values(finite):
            return "binary"
        if pd.api.types.is_integer_dtype(values.dtype) and (
            len(np.unique(finite)) <= INTEGER_CATEGORY_LIMIT
        ):
            return "categorical"
        return "numeric"
    return "binary" if 0 < values.nunique(dropna=True) <= 2 else "categorical"


def table() -> str:
    """The whole choice table as printable lines (for reports and ``--explain``)."""
    lines = [rule.describe() for rule in RULES]
    lines += [
        f"{s.signal} share ({', '.join(s.kinds)}): two-proportion z-test on {s.counts}, "
        f"effect cohen_h"
        for s in SHARE_RULES
    ]
    lines.append(f"large n: n_ref*n_cur/(n_ref+n_cur) >= {LARGE_N:,} (values the test sees)")
    lines.append(
        f"KS: exact below {KS_BINNED_MIN_REF:,} finite reference values; from there on the "
        "reference's quantile bins (ks_bins), only while the bin error is at most "
        f"{KS_BIN_ERROR_SHARE:g} x the KS critical value at alpha, else exact"
    )
    return "\n".join(lines)


def _at_most_two_values(finite: np.ndarray) -> bool:
    """Whether ``finite`` (non-empty) holds one or two distinct values: two O(n) passes."""
    if len(finite) == 0:
        return False
    first = finite[0]
    others = finite[finite != first]
    return len(others) == 0 or bool(np.all(others == others[0]))
