"""Effect thresholds calibrated on the reference itself, leaving each chunk out.

The reference is cut into ``k`` contiguous chunks (row order kept, so batches, days or
seasons stay together); each chunk's effect is measured against the REST of the reference,
and the threshold is a high quantile (default 0.95) of those ``k`` values: how far apart
two slices of data the model was fine on already are. A current window must drift further
than that (and pass the multiple-testing-controlled test) to count.

What it guards against: a reference that is not one i.i.d. sample (weekly cycles, several
sources, batches). There every p-value is tiny even between slices of the reference, and a
test alone flags drift on every window; the calibrated bar is the reference's own spread.

Why leave the chunk out: NannyML compares each chunk with the whole reference, which
contains the chunk, so its values are biased low (NannyML #426). For statistics linear in
the CDF (KS, Wasserstein) the bias is exactly a factor ``(k - 1) / k``:
``F_chunk - F_rest = n / (n - n_chunk) * (F_chunk - F_all)``, so a 10-chunk calibration
against the whole reference sets thresholds 10 % too low; for chi-square or JS it is worse
for small categories. Here the chunk never sits in its own reference.

The chunk-vs-rest values are computed on the reference's quantile bins (at most 1,001 edges
on the exact KS path, the KS bins on the binned path: exact for references up to that
size, within one bin's width above).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt

from conveyor.monitoring.drift.stats import binned_wasserstein, cohen_h, jensen_shannon

Floats = npt.NDArray[np.float64]
Counts = npt.NDArray[np.int64]

MAX_EDGES = 1001


def chunk_bounds(n_rows: int, chunks: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of up to ``chunks`` contiguous chunks, each at least 2 rows."""
    k = min(chunks, n_rows // 2)
    if k < 2:
        return []
    cuts = np.linspace(0, n_rows, k + 1).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(cuts)]


def high_quantile(values: list[float], quantile: float) -> float:
    """The ``quantile`` of the chunk values (0.0 when there are none, NaNs ignored)."""
    finite = [v for v in values if not math.isnan(v)]
    return float(np.quantile(finite, quantile)) if finite else 0.0


def share_values(chunk_hits: Counts, chunk_rows: Counts) -> list[float]:
    """Cohen's h of each chunk's share against the rest's (missing, non-finite)."""
    hits, rows = int(chunk_hits.sum()), int(chunk_rows.sum())
    out = []
    for h, n in zip(chunk_hits.tolist(), chunk_rows.tolist(), strict=True):
        if n == 0 or rows - n == 0:
            continue
        out.append(cohen_h(h / n, (hits - h) / (rows - n)))
    return out


def quantile_edges(sorted_values: Floats) -> Floats:
    """At most :data:`MAX_EDGES` distinct reference quantiles (every value when fewer)."""
    if len(sorted_values) <= MAX_EDGES:
        return np.unique(sorted_values)
    picks = np.linspace(0, len(sorted_values) - 1, MAX_EDGES).astype(int)
    return np.unique(sorted_values[picks])


def numeric_values(sorted_chunks: list[Floats], edges: Floats, scale: float) -> list[float]:
    """Normalised Wasserstein distance of each chunk against the rest, on ``edges``."""
    cums = [np.searchsorted(c, edges, side="right").astype(np.float64) for c in sorted_chunks]
    return numeric_values_from_counts(cums, edges, scale)


def numeric_values_from_counts(cums: list[Floats], edges: Floats, scale: float) -> list[float]:
    """:func:`numeric_values` from each chunk's count of values ``<=`` every edge."""
    total = np.sum(cums, axis=0)
    n_total = total[-1]
    out = []
    for cum in cums:
        n = cum[-1]
        if n == 0 or n_total - n == 0:
            continue
        rest = (total - cum) / (n_total - n)
        out.append(binned_wasserstein(edges, cum / n, rest) / scale)
    return out


def categorical_values(chunk_counts: Counts) -> tuple[list[float], int]:
    """JS distance of each chunk against the rest, and how many values were new to the rest.

    ``chunk_counts`` is ``k x K`` (chunks x categories). The second number is the count of
    chunk values whose category never appears in the rest of the reference: the rate at
    which a no-drift window meets "new" categories (high for ids, zero for enums).
    """
    total = chunk_counts.sum(axis=0)
    out = []
    new = 0
    for counts in chunk_counts:
        rest = total - counts
        if counts.sum() == 0 or rest.sum() == 0:
            continue
        out.append(jensen_shannon(counts, rest))
        new += int(counts[rest == 0].sum())
    return out, new


def binary_values(chunk_counts: Counts) -> list[float]:
    """Cohen's h of each chunk's share of the first value against the rest's."""
    first = chunk_counts[:, 0]
    rows = chunk_counts.sum(axis=1)
    return share_values(first, rows)
