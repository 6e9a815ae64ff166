"""KS and Wasserstein on the reference's quantile bins: the large-n path.

A large reference is kept as a fine grid of its quantiles (``edges``, including its min and
max) and its CDF at each edge, ``le = F_ref(e)`` and the left limit ``lt = F_ref(e-)``: a
few thousand numbers instead of every value, fitted once (and the shape the gateway's
mergeable reference profile needs). A current window is sorted once and its CDF read at the
same edges with one ``searchsorted`` of the edges into it.

Why sort the current rather than ``searchsorted`` each current value into the edges: on
this hardware placing 1M unsorted values into 10,000 edges takes ~3x longer than sorting
them (a binary search per value mispredicts at every level); the counts are the same.

The error, stated: ``D_binned = max over edges of |F_ref - F_cur|`` at each edge and at
its left limit, so it is a value the exact sup takes: ``D_binned <= D``. Between two edges
``F_ref`` rises by at most ``error`` (the largest reference mass strictly inside one bin;
atoms sit ON edges and do not count) and ``F_cur`` is monotone, so
``D <= D_binned + error``. :func:`conveyor.monitoring.drift.rules.ks_method` keeps
``error`` at most a tenth of the KS critical value, or uses the exact path.

Wasserstein-1 is the left Riemann sum of ``|F_ref - F_cur|`` over the bins (error at most
each bin's width times the CDF mass inside it) plus the exact tails of the current values
below the reference's min and above its max.

The gateway's live profiles (:mod:`conveyor.monitoring.live_profile`) never hold a sorted
window: they count each value into the cells of :func:`cell_of` (below, on and between the
edges), which gives the same CDF at every edge and its left limit, and keep the sums of the
values beyond the reference's range; :func:`ks_wasserstein_cells` then computes exactly
what :func:`ks_wasserstein` computes from the sorted values. Counts in fixed cells add up
across batches, workers and replicas without error (a sketch's CDF would not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Counts = npt.NDArray[np.int64]

TAIL_SHARE = 4
"""Besides the quantile grid, the ``bins // TAIL_SHARE`` smallest and largest reference
values are edges: in heavy tails a quantile bin is very wide, and Wasserstein's error is
each bin's width times the mass inside it; the extreme values make those bins empty."""


@dataclass(frozen=True)
class QuantileBins:
    """A reference column as its quantile grid and its CDF on it."""

    edges: Floats  # distinct, increasing; edges[0] = min, edges[-1] = max
    le: Floats  # share of reference values <= edge
    lt: Floats  # share of reference values < edge
    n: int  # finite reference values

    @property
    def error(self) -> float:
        """The largest reference mass strictly inside one bin: the bound on ``D - D_binned``."""
        if len(self.edges) < 2:
            return 0.0
        return float(np.max(self.lt[1:] - self.le[:-1]))


def fit(sorted_chunks: list[Floats], bins: int) -> tuple[QuantileBins, list[Floats]]:
    """About ``bins`` reference quantiles from sorted chunks, without merging them; also
    each chunk's count of values ``<=`` every edge (what the calibration needs).

    Each chunk gives ``bins + 1`` evenly spaced order statistics (its min and max among
    them); the pooled picks, sorted, are thinned to ``bins + 1`` edges. They are close to
    the quantiles of the whole, and exactly how close does not matter for correctness:
    the CDF at every edge is counted exactly and :attr:`QuantileBins.error` is measured.
    """
    chunks = [c for c in sorted_chunks if len(c)]
    picks = [c[np.linspace(0, len(c) - 1, min(len(c), bins + 1)).astype(np.int64)] for c in chunks]
    pool = np.sort(np.concatenate(picks))
    grid = pool[np.linspace(0, len(pool) - 1, bins + 1).astype(np.int64)]
    n = sum(len(c) for c in chunks)
    tail = min(bins // TAIL_SHARE, n)  # the extreme values, kept exactly (see TAIL_SHARE)
    lows = np.sort(np.concatenate([c[:tail] for c in chunks]))[:tail]
    highs = np.sort(np.concatenate([c[-tail:] for c in chunks]))[-tail:]
    edges = np.unique(np.concatenate([grid, lows, highs]))
    chunk_le = [np.searchsorted(c, edges, side="right").astype(np.float64) for c in sorted_chunks]
    lt = sum(np.searchsorted(c, edges, side="left") for c in chunks)
    return QuantileBins(edges, np.sum(chunk_le, axis=0) / n, np.asarray(lt) / n, n), chunk_le


def ks_wasserstein(ref: QuantileBins, ys: Floats) -> tuple[float, float]:
    """Binned KS statistic and Wasserstein-1 of a SORTED current sample against ``ref``."""
    n2 = len(ys)
    edges = ref.edges
    cur_le = np.searchsorted(ys, edges, side="right") / n2
    cur_lt = np.searchsorted(ys, edges, side="left") / n2
    below = ys[: np.searchsorted(ys, edges[0], side="left")]
    above = ys[np.searchsorted(ys, edges[-1], side="right") :]
    tails = len(below) * edges[0] - below.sum() + above.sum() - len(above) * edges[-1]
    return _statistics(ref, cur_le, cur_lt, float(tails) / n2)


def cell_of(edges: Floats, values: Floats) -> Counts:
    """The cell of each finite value among ``2 * len(edges) + 1`` cells: below the first
    edge (0), ON edge ``j`` (``2j + 1``), strictly between edges ``j`` and ``j + 1``
    (``2j + 2``), above the last edge (``2 * len(edges)``). Counts in these cells are the
    exact CDF of the values at every edge and just left of it, so they merge by adding."""
    cells: Counts = np.searchsorted(edges, values, side="left")
    cells += np.searchsorted(edges, values, side="right")
    return cells


def reference_cells(ref: QuantileBins) -> Counts:
    """The reference's own counts in the cells of :func:`cell_of` (from ``le``, ``lt``, ``n``)."""
    cum = np.empty(2 * len(ref.edges) + 1)
    cum[0:-1:2] = ref.lt
    cum[1::2] = ref.le
    cum[-1] = 1.0
    cumulative = np.concatenate([[0], np.rint(cum * ref.n)]).astype(np.int64)
    return cumulative[1:] - cumulative[:-1]


def from_cells(edges: Floats, cells: Counts) -> QuantileBins:
    """The bins whose reference values fell into ``cells`` (:func:`reference_cells` reversed)."""
    n = int(cells.sum())
    cum = np.cumsum(cells) / max(n, 1)
    return QuantileBins(edges, cum[1::2].copy(), cum[0:-1:2].copy(), n)


def ks_wasserstein_cells(
    ref: QuantileBins, cells: Counts, below_sum: float, above_sum: float
) -> tuple[float, float]:
    """Binned KS statistic and Wasserstein-1 of a current sample given only its counts in
    the cells of :func:`cell_of` and the sums of its values below the first edge and above
    the last: the same numbers :func:`ks_wasserstein` gives for the sample itself (the tails
    are exact, as there)."""
    n2 = int(cells.sum())
    cum = np.cumsum(cells) / n2
    edges = ref.edges
    tails = cells[0] * edges[0] - below_sum + above_sum - cells[-1] * edges[-1]
    return _statistics(ref, cum[1::2], cum[0:-1:2], float(tails) / n2)


def _statistics(
    ref: QuantileBins, cur_le: Floats, cur_lt: Floats, tails: float
) -> tuple[float, float]:
    statistic = float(max(np.abs(ref.le - cur_le).max(), np.abs(ref.lt - cur_lt).max()))
    inside = float((np.abs(ref.le[:-1] - cur_le[:-1]) * np.diff(ref.edges)).sum())
    return statistic, inside + tails
