"""One current column against its fitted reference: every signal, before correction.

The multiple-testing control and the decisions are made afterwards across the whole report
(``detect.py``); here each signal gets its statistic, raw p-value, effect, threshold and
minimum detectable effect, or a NaN p-value and a sentence saying why it could not run.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from conveyor.monitoring.drift import bins, power, stats
from conveyor.monitoring.drift.counts import ColumnCounts, NumericCounts
from conveyor.monitoring.drift.reference import ColumnReference, Shares, as_floats
from conveyor.monitoring.drift.report import Signal
from conveyor.monitoring.drift.rules import choose, size_class

NAN = math.nan


def compare_column(
    ref: ColumnReference, current: pd.Series, *, alpha_mde: float, large_n: int
) -> tuple[list[Signal], Shares]:
    """Every signal of ``current`` against ``ref``, and the current side's counts."""
    if ref.kind == "numeric":
        return _numeric(ref, current, alpha_mde, large_n)
    return _categorical(ref, current, alpha_mde, large_n)


def compare_counts(
    ref: ColumnReference, current: ColumnCounts, *, alpha_mde: float, large_n: int
) -> tuple[list[Signal], Shares]:
    """:func:`compare_column` for a current column kept only as counts in the reference's
    cells or categories (:mod:`conveyor.monitoring.drift.counts`): the same signals, the
    same tests, on exactly the numbers the values would give (numeric references must have
    been fitted with their bins, ``fit_numeric(..., max_bins=...)``)."""
    if isinstance(current, NumericCounts):
        if ref.bins is None and ref.n_values:
            raise ValueError(f"column {ref.name!r}: counts need a reference fitted with bins")
        shares = Shares(current.rows, current.missing, current.non_finite)
        return _numeric_signals(
            ref, shares, current.finite, _cells_ks(ref, current), alpha_mde, large_n
        )
    shares = Shares(current.rows, current.missing, new=current.new)
    return _categorical_signals(ref, current.counts, shares, alpha_mde, large_n), shares


KsResult = tuple[float, float, float, str]  # D, p, Wasserstein, how it was computed
Samples = tuple[stats.Floats | None, stats.Floats | None]


def _numeric(
    ref: ColumnReference, current: pd.Series, alpha: float, large_n: int
) -> tuple[list[Signal], Shares]:
    data = as_floats(current)
    finite = np.isfinite(data)
    n_finite = int(finite.sum())
    ys = np.sort(data if n_finite == len(data) else data[finite])
    n_nan = int(np.isnan(data).sum())
    shares = Shares(len(data), n_nan, len(data) - n_finite - n_nan)

    def ks() -> KsResult:
        n1, n2 = ref.n_values, len(ys)
        if ref.bins is not None:
            d, w = bins.ks_wasserstein(ref.bins, ys)
            method = (
                f"KS (binned on {len(ref.bins.edges):,} reference quantiles; exact D is "
                f"at most {ref.bins.error:.2g} higher)"
            )
            samples: Samples = (None, None)
            if max(n1, n2) <= stats.EXACT_KS_MAX_N:  # small: counting ys is cheap
                cells = np.bincount(bins.cell_of(ref.bins.edges, ys), minlength=_cells(ref.bins))
                samples = _binned_samples(ref.bins, cells)
            return d, stats.ks_p_value(d, n1, n2, *samples), w, method
        d, p, w = stats.ks_wasserstein(ref.sorted_values, ys)
        return d, p, w, "KS (exact)"

    return _numeric_signals(ref, shares, len(ys), ks, alpha, large_n)


def _cells_ks(ref: ColumnReference, current: NumericCounts) -> Callable[[], KsResult]:
    """KS and Wasserstein from the current counts in the reference's cells. Up to
    ``stats.EXACT_KS_MAX_N`` values a side the exact p-value needs two samples: the cell
    numbers repeated by their counts, whose KS statistic is the binned one."""

    def ks() -> KsResult:
        assert ref.bins is not None
        d, w = bins.ks_wasserstein_cells(
            ref.bins, current.cells, current.below_sum, current.above_sum
        )
        n1, n2 = ref.n_values, current.finite
        samples: Samples = (None, None)
        if max(n1, n2) <= stats.EXACT_KS_MAX_N:
            samples = _binned_samples(ref.bins, current.cells)
        method = (
            f"KS (live counts in {len(ref.bins.edges):,} reference quantile bins; exact D is "
            f"at most {ref.bins.error:.2g} higher)"
        )
        return d, stats.ks_p_value(d, n1, n2, *samples), w, method

    return ks


def _cells(ref: bins.QuantileBins) -> int:
    return 2 * len(ref.edges) + 1


def _binned_samples(ref: bins.QuantileBins, cells: stats.Counts) -> Samples:
    """Two samples whose exact KS p-value is the binned statistic's, for sizes up to
    ``stats.EXACT_KS_MAX_N`` a side (scipy's exact p depends only on D and the sizes):
    each cell's number repeated by its count, on each side; their KS statistic is the
    binned one."""
    index = np.arange(_cells(ref), dtype=np.float64)
    return np.repeat(index, bins.reference_cells(ref)), np.repeat(index, cells)


def _numeric_signals(
    ref: ColumnReference,
    shares: Shares,
    n2: int,
    ks: Callable[[], KsResult],
    alpha: float,
    large_n: int,
) -> tuple[list[Signal], Shares]:
    n1 = ref.n_values
    rule = choose("numeric", size_class(n1, n2, large_n))
    threshold = max(rule.floor, ref.thresholds["distribution"])
    if n1 == 0 or n2 == 0:
        main = _untested("ks", rule.effect, threshold, n1, n2, "finite", ref, shares)
    else:
        d, p, w, method = ks()
        effect = w / ref.scale
        mde = max(power.ks_shift(n1, n2, alpha), rule.floor)
        why = (
            f"{method} D={d:.4g}, p={p:.3g}; Wasserstein {effect:.3g} reference sd "
            f"(bar {threshold:.3g}); {n1:,} vs {n2:,} finite values"
        )
        main = Signal("distribution", "ks", d, p, effect, rule.effect, threshold, mde, n1, n2, why)
    signals = [main, _share(ref, shares, "missing", alpha, large_n)]
    signals.append(_share(ref, shares, "non_finite", alpha, large_n))
    return signals, shares


def _categorical(
    ref: ColumnReference, current: pd.Series, alpha: float, large_n: int
) -> tuple[list[Signal], Shares]:
    # Factorize the window once (nulls -> -1), count its own categories, then look up only
    # its distinct values among the reference's: no per-row hash lookup, no isna pass.
    codes, uniques = pd.factorize(current, use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    own = np.bincount(codes[codes >= 0], minlength=len(uniques))
    where = np.asarray(ref.categories.get_indexer(uniques), dtype=np.int64)
    seen = where >= 0
    counts = np.bincount(where[seen], weights=own[seen], minlength=len(ref.categories))
    counts = counts.astype(np.int64)
    missing = len(codes) - int(own.sum())
    shares = Shares(len(codes), missing, new=int(own[~seen].sum()))
    return _categorical_signals(ref, counts, shares, alpha, large_n), shares


def _categorical_signals(
    ref: ColumnReference, counts: stats.Counts, shares: Shares, alpha: float, large_n: int
) -> list[Signal]:
    if ref.kind == "binary":
        main = _binary(ref, counts, shares, alpha, large_n)
    else:
        main = _chi_square(ref, counts, shares, alpha, large_n)
    return [
        main,
        _share(ref, shares, "missing", alpha, large_n),
        _new(ref, shares, alpha, large_n),
    ]


def _chi_square(
    ref: ColumnReference, counts: stats.Counts, shares: Shares, alpha: float, large_n: int
) -> Signal:
    # Unseen categories are one more cell, empty on the reference side.
    c1 = np.append(ref.counts, 0)
    c2 = np.append(counts, shares.new)
    n1, n2 = int(c1.sum()), int(c2.sum())
    rule = choose("categorical", size_class(n1, n2, large_n))
    threshold = max(rule.floor, ref.thresholds["distribution"])
    if n1 == 0 or n2 == 0:
        return _untested("chi_square", rule.effect, threshold, n1, n2, "non-null", ref, shares)
    statistic, p, dof = stats.chi_square(c1, c2)
    effect = stats.jensen_shannon(c1, c2)
    mde = max(power.chi_square_js(n1, n2, dof, alpha), rule.floor) if dof else NAN
    why = (
        f"chi-square {statistic:.4g} on {dof} dof, p={p:.3g}; Jensen-Shannon {effect:.3g} "
        f"(bar {threshold:.3g}); {n1:,} vs {n2:,} values, {shares.new:,} in unseen categories"
    )
    return Signal(
        "distribution", "chi_square", statistic, p, effect, rule.effect, threshold, mde, n1, n2,
        why,
    )  # fmt: skip


def _binary(
    ref: ColumnReference, counts: stats.Counts, shares: Shares, alpha: float, large_n: int
) -> Signal:
    n1, n2 = int(ref.counts.sum()), int(counts.sum())
    rule = choose("binary", size_class(n1, n2, large_n))
    threshold = max(rule.floor, ref.thresholds["distribution"])
    if n1 == 0 or n2 == 0:
        return _untested("z_two_proportions", "cohen_h", threshold, n1, n2, "known", ref, shares)
    k1, k2 = int(ref.counts[0]), int(counts[0])
    test, z, p = stats.two_proportions(k1, n1, k2, n2)
    effect = stats.cohen_h(k1 / n1, k2 / n2)
    mde = max(power.z_cohen_h(n1, n2, alpha), rule.floor)
    first = ref.categories[0]
    why = (
        f"share of {str(first)!r}: {k1 / n1:.3f} -> {k2 / n2:.3f}, {test} p={p:.3g}; "
        f"Cohen's h {effect:.3g} (bar {threshold:.3g})"
    )
    return Signal("distribution", test, z, p, effect, "cohen_h", threshold, mde, n1, n2, why)


def _share(ref: ColumnReference, cur: Shares, signal: str, alpha: float, large_n: int) -> Signal:
    """Missing or non-finite share, reference against current: a two-proportion z-test."""
    k1 = ref.shares.missing if signal == "missing" else ref.shares.non_finite
    k2 = cur.missing if signal == "missing" else cur.non_finite
    return _proportions(signal, k1, ref.shares.rows, k2, cur.rows, ref, alpha, large_n)


def _new(ref: ColumnReference, cur: Shares, alpha: float, large_n: int) -> Signal:
    """Share of current values in categories the reference never saw.

    Compared with how often a chunk of the reference meets categories the rest of the
    reference lacks (leave-one-chunk-out), so columns with naturally open vocabularies
    (ids, free text) are not flagged for being open.
    """
    known1 = ref.shares.rows - ref.shares.missing
    known2 = cur.rows - cur.missing
    return _proportions(
        "new_category", ref.shares.new, known1, cur.new, known2, ref, alpha, large_n
    )


def _proportions(
    signal: str,
    k1: int,
    n1: int,
    k2: int,
    n2: int,
    ref: ColumnReference,
    alpha: float,
    large_n: int,
) -> Signal:
    rule = choose("binary", size_class(n1, n2, large_n))
    threshold = max(rule.floor, ref.thresholds.get(signal, 0.0))
    label = signal.replace("_", "-")
    if n1 == 0 or n2 == 0:
        why = f"{label} share not tested: {n1:,} reference rows, {n2:,} current rows"
        return Signal(
            signal, "z_two_proportions", NAN, NAN, NAN, "cohen_h", threshold, NAN, n1, n2, why
        )
    test, z, p = stats.two_proportions(k1, n1, k2, n2)
    effect = stats.cohen_h(k1 / n1, k2 / n2)
    mde = max(power.z_cohen_h(n1, n2, alpha), rule.floor)
    why = (
        f"{label} share {k1 / n1:.2%} -> {k2 / n2:.2%} ({test} p={p:.3g}, "
        f"Cohen's h {effect:.3g}, bar {threshold:.3g})"
    )
    return Signal(signal, test, z, p, effect, "cohen_h", threshold, mde, n1, n2, why)


def _untested(
    test: str,
    effect_name: str,
    threshold: float,
    n1: int,
    n2: int,
    what: str,
    ref: ColumnReference,
    cur: Shares,
) -> Signal:
    side = "reference" if n1 == 0 else "current data"
    rows = ref.shares.rows if n1 == 0 else cur.rows
    why = (
        f"insufficient data: the {side} has no {what} values ({rows:,} rows); "
        "the distribution is not tested, the share signals still are"
    )
    return Signal("distribution", test, NAN, NAN, NAN, effect_name, threshold, NAN, n1, n2, why)
