"""A current column as exact counts in its reference's fixed cells: mergeable by adding.

What the gateway keeps of live traffic per feature and window, instead of the values:

- a numeric column: its rows, missing and non-finite counts, its finite values' counts in
  the cells of :func:`conveyor.monitoring.drift.bins.cell_of` (below, on and between the
  reference's quantile edges) and the sums of the values below the first edge and above
  the last (for Wasserstein's tails);
- a categorical or binary column: its rows, missing count, its count per reference
  category and the count of values the reference never saw.

Every field is a count or a sum, so two windows, two workers or two replicas merge by
adding (:meth:`NumericCounts.merged`), with no error: the drift tests then run on exactly
the numbers they would get from the concatenated values (``compare.compare_counts``).
Sketches (KLL, frequent items) are kept beside these for display, never for the tests:
a KS on a sketch's CDF is unstable (whylogs #684).

>>> counts = count_numeric(ref.bins.edges, np.array([1.0, np.nan, 7.5]))  # doctest: +SKIP
>>> counts.merged(count_numeric(ref.bins.edges, more)).rows  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from conveyor.monitoring.drift.reference import as_floats

Floats = npt.NDArray[np.float64]
Counts = npt.NDArray[np.int64]


@dataclass(frozen=True)
class NumericCounts:
    """A numeric column's counts in ``2 * len(edges) + 1`` cells (see the module docstring)."""

    rows: int
    missing: int
    non_finite: int
    cells: Counts
    below_sum: float = 0.0  # sum of the finite values below the first edge
    above_sum: float = 0.0  # sum of the finite values above the last edge

    @property
    def finite(self) -> int:
        """Values the distribution test sees."""
        return int(self.cells.sum())

    def merged(self, other: NumericCounts) -> NumericCounts:
        """The counts of both (same edges)."""
        return NumericCounts(
            self.rows + other.rows,
            self.missing + other.missing,
            self.non_finite + other.non_finite,
            self.cells + other.cells,
            self.below_sum + other.below_sum,
            self.above_sum + other.above_sum,
        )


@dataclass(frozen=True)
class CategoryCounts:
    """A categorical column's count per reference category, plus missing and unseen values."""

    rows: int
    missing: int
    counts: Counts  # aligned with the reference's categories
    new: int  # values in categories the reference never saw

    def merged(self, other: CategoryCounts) -> CategoryCounts:
        """The counts of both (same categories)."""
        return CategoryCounts(
            self.rows + other.rows,
            self.missing + other.missing,
            self.counts + other.counts,
            self.new + other.new,
        )


ColumnCounts = NumericCounts | CategoryCounts


def count_numeric(edges: Floats, values: object) -> NumericCounts:
    """Count ``values`` (anything :func:`floats` reads) into the cells of ``edges``.

    The finite values are sorted and the edges looked up in them (two ``searchsorted`` of
    the edges, not of every value: sorting is ~3x faster than a binary search per
    unsorted value, see ``bins.py``); the cells are the differences of those positions.
    """
    data = floats(values)
    finite = np.isfinite(data)
    n_nan = int(np.isnan(data).sum())
    ys = np.sort(data if bool(finite.all()) else data[finite])
    n = len(ys)
    cum = np.empty(2 * len(edges) + 2, dtype=np.int64)
    cum[0] = 0
    cum[1:-1:2] = np.searchsorted(ys, edges, side="left")
    cum[2:-1:2] = np.searchsorted(ys, edges, side="right")
    cum[-1] = n
    cells = cum[1:] - cum[:-1]
    below = above = 0.0
    if len(edges):  # no edges: a reference without finite values, nothing is tested
        below = float(ys[: cum[1]].sum())
        above = float(ys[cum[-2] :].sum())
    return NumericCounts(len(data), n_nan, len(data) - n - n_nan, cells, below, above)


def floats(values: object) -> Floats:
    """Values as float64, anything not a number NaN (as :func:`as_floats`); a float array
    is used as it is (no copy, no Series)."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        return values.astype(np.float64, copy=False)
    return as_floats(_series(values))


def empty_numeric(edges: Floats) -> NumericCounts:
    """No values yet."""
    return NumericCounts(0, 0, 0, np.zeros(2 * len(edges) + 1, dtype=np.int64))


def count_categories(categories: pd.Index, values: object) -> CategoryCounts:
    """Count ``values`` per reference category (nulls missing, the rest new): one
    factorize of the values and one lookup of their distinct values, no per-row hashing
    into the reference."""
    codes, uniques = pd.factorize(_series(values), use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    own = np.bincount(codes[codes >= 0], minlength=len(uniques))
    where = np.asarray(categories.get_indexer(uniques), dtype=np.int64)
    seen = where >= 0
    counts = np.bincount(where[seen], weights=own[seen], minlength=len(categories))
    missing = len(codes) - int(own.sum())
    return CategoryCounts(len(codes), missing, counts.astype(np.int64), int(own[~seen].sum()))


def empty_categories(categories: pd.Index) -> CategoryCounts:
    """No values yet."""
    return CategoryCounts(0, 0, np.zeros(len(categories), dtype=np.int64), 0)


def _series(values: object) -> pd.Series:
    return values if isinstance(values, pd.Series) else pd.Series(values, copy=False)
