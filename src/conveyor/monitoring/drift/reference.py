"""The reference state of one column, fitted once: what every comparison needs.

A numeric column keeps either its finite values sorted (the exact KS path: each current
window is merged into them with one ``searchsorted``) or, when the reference is large,
only its quantile bins (``bins.py``; the choice: ``rules.ks_method``), and its sd and its
missing / non-finite counts; a categorical or binary column keeps its categories and
their counts. Both keep the effect thresholds calibrated on their own chunks
(``calibrate.py``) and the rate of "new" categories inside the reference. Sorting is done
per chunk and the chunks merged (a stable sort of sorted runs), so the calibration costs no
second sort; the binned path does not merge at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from conveyor.monitoring.drift import bins as quantile_bins
from conveyor.monitoring.drift import calibrate, rules
from conveyor.monitoring.drift.bins import QuantileBins
from conveyor.monitoring.drift.rules import Kind

Floats = npt.NDArray[np.float64]
Counts = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Shares:
    """How many rows a side has, and how many are missing / non-finite / new."""

    rows: int
    missing: int
    non_finite: int = 0
    new: int = 0


@dataclass(frozen=True)
class ColumnReference:
    """One fitted reference column (``sorted_values`` numeric; ``categories`` otherwise)."""

    name: str
    kind: Kind
    shares: Shares
    thresholds: dict[str, float]  # signal -> calibrated effect threshold
    sorted_values: Floats = field(default_factory=lambda: np.empty(0))  # exact KS only
    bins: QuantileBins | None = None  # binned KS only
    scale: float = 1.0  # the reference sd (numeric effects are in its units)
    categories: pd.Index = field(default_factory=lambda: pd.Index([]))
    counts: Counts = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    calibrated_chunks: int = 0

    @property
    def n_values(self) -> int:
        """Values the distribution test sees (finite, not missing)."""
        if self.kind == "numeric":
            return self.bins.n if self.bins is not None else len(self.sorted_values)
        return int(self.counts.sum())


def as_floats(values: pd.Series) -> Floats:
    """A column as float64; anything that is not a number becomes NaN (counted missing).

    A float64 column comes back as a read-only view (no copy: 8 MB per 1M rows saved)."""
    if values.dtype == np.float64:
        view: Floats = np.asarray(values.to_numpy(), dtype=np.float64)
        view.flags.writeable = False
        return view
    numbers = pd.to_numeric(values, errors="coerce")
    return np.asarray(numbers.to_numpy(dtype="float64", na_value=np.nan), dtype=np.float64)


def fit_numeric(
    name: str,
    values: pd.Series,
    chunks: int,
    quantile: float,
    *,
    alpha: float = 0.05,
    binned_min_ref: int = rules.KS_BINNED_MIN_REF,
    max_bins: int | None = None,
) -> ColumnReference:
    """Sort the finite values chunk by chunk, calibrate, and keep bins or the merged values.

    ``max_bins`` keeps the quantile bins whatever the reference's size (at most that many
    quantiles, every distinct value when there are fewer): the fixed cells a reference
    profile counts live values into (:mod:`conveyor.monitoring.profile`).
    """
    data = as_floats(values)
    missing = np.isnan(data)
    non_finite = np.isinf(data)
    bounds = calibrate.chunk_bounds(len(data), chunks) or [(0, len(data))]
    all_finite = not (missing.any() or non_finite.any())
    sorted_chunks = []
    for start, stop in bounds:
        part = data[start:stop]
        sorted_chunks.append(np.sort(part if all_finite else part[np.isfinite(part)]))
    n_finite = sum(len(c) for c in sorted_chunks)
    scale = _sd(sorted_chunks, n_finite)
    binned: QuantileBins | None = None
    chunk_le: list[Floats] = []
    if max_bins is not None and n_finite:
        wanted = min(rules.ks_bins(n_finite, alpha), max_bins)
        binned, chunk_le = quantile_bins.fit(sorted_chunks, wanted)
    elif n_finite >= binned_min_ref:
        binned, chunk_le = quantile_bins.fit(sorted_chunks, rules.ks_bins(n_finite, alpha))
        if rules.ks_method(n_finite, binned.error, alpha, binned_min_ref) == "exact":
            binned = None  # too coarse for this reference (ties, odd shapes): exact instead
    merged = np.empty(0)
    if binned is None and n_finite:
        merged = np.sort(np.concatenate(sorted_chunks), kind="stable")  # merges sorted runs
    thresholds = {"distribution": 0.0, "missing": 0.0, "non_finite": 0.0}
    if len(bounds) > 1 and n_finite:
        if binned is not None:
            edges, cums = binned.edges, chunk_le
        else:
            edges = calibrate.quantile_edges(merged)
            cums = calibrate.numeric_cums(sorted_chunks, edges)
        thresholds["distribution"] = calibrate.heterogeneity_bar(
            calibrate.numeric_values_from_counts(cums, edges, scale),
            calibrate.numeric_noise(cums, edges, scale),
            quantile,
        )
    if len(bounds) > 1:
        rows = np.array([b - a for a, b in bounds], dtype=np.int64)
        for signal, hits in (("missing", missing), ("non_finite", non_finite)):
            per_chunk = np.add.reduceat(hits, [a for a, _ in bounds], dtype=np.int64)
            thresholds[signal] = calibrate.heterogeneity_bar(
                *calibrate.share_values(per_chunk, rows), quantile
            )
    shares = Shares(len(data), int(missing.sum()), int(non_finite.sum()))
    return ColumnReference(
        name,
        "numeric",
        shares,
        thresholds,
        sorted_values=merged,
        bins=binned,
        scale=scale,
        calibrated_chunks=len(bounds) if len(bounds) > 1 else 0,
    )


def _sd(sorted_chunks: list[Floats], n: int) -> float:
    """The population sd of all chunks together (two passes, no concatenation)."""
    if n == 0:
        return 1.0
    mean = sum(float(c.sum()) for c in sorted_chunks) / n
    square = sum(float(np.square(c - mean).sum()) for c in sorted_chunks)
    return max(float(np.sqrt(square / n)), 1e-12)


def fit_categorical(
    name: str, kind: Kind, values: pd.Series, chunks: int, quantile: float
) -> ColumnReference:
    """Count the categories (overall and per chunk), calibrate, note the new-category rate."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    n_cat = len(uniques)
    missing = codes < 0
    counts = np.bincount(codes[~missing], minlength=n_cat).astype(np.int64)
    thresholds = {"distribution": 0.0, "missing": 0.0, "new_category": 0.0}
    new_in_reference = 0
    bounds = calibrate.chunk_bounds(len(codes), chunks)
    if len(bounds) > 1 and n_cat > 0:
        chunk_of = np.repeat(np.arange(len(bounds)), [b - a for a, b in bounds])
        keep = ~missing
        flat = chunk_of[keep] * n_cat + codes[keep]
        matrix = np.bincount(flat, minlength=len(bounds) * n_cat).reshape(len(bounds), n_cat)
        values_, noise, new_in_reference = calibrate.categorical_values(matrix)
        if kind == "binary":
            values_, noise = calibrate.binary_values(matrix)
        thresholds["distribution"] = calibrate.heterogeneity_bar(values_, noise, quantile)
        rows = np.array([b - a for a, b in bounds], dtype=np.int64)
        per_chunk = np.array([missing[a:b].sum() for a, b in bounds], dtype=np.int64)
        thresholds["missing"] = calibrate.heterogeneity_bar(
            *calibrate.share_values(per_chunk, rows), quantile
        )
    shares = Shares(len(codes), int(missing.sum()), new=new_in_reference)
    return ColumnReference(
        name,
        kind,
        shares,
        thresholds,
        categories=pd.Index(uniques),
        counts=counts,
        calibrated_chunks=len(bounds) if len(bounds) > 1 else 0,
    )
