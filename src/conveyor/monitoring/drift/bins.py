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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]

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
    statistic = float(max(np.abs(ref.le - cur_le).max(), np.abs(ref.lt - cur_lt).max()))
    inside = float((np.abs(ref.le[:-1] - cur_le[:-1]) * np.diff(edges)).sum())
    below = ys[: np.searchsorted(ys, edges[0], side="left")]
    above = ys[np.searchsorted(ys, edges[-1], side="right") :]
    tails = (len(below) * edges[0] - below.sum() + above.sum() - len(above) * edges[-1]) / n2
    return statistic, inside + float(tails)
