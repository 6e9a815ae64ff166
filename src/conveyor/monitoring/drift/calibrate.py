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

Why not the raw quantile of the chunk values: a chunk is a small sample (a tenth of the
reference), so its distance from the rest is mostly *sampling noise at chunk size*, which is
far larger than the noise of a full-size window. A quantile of raw chunk values set bars
that hid real shifts at moderate n (a category's share +5 points at 2,000 rows, chi-square
p = 0.0001, was passed over because the chunk bar was 0.087 JS). So the bar is the
*between-chunk* spread alone, estimated as in a random-effects meta-analysis (DerSimonian
and Laird, 1986): each chunk's squared effect ``e_j**2`` is split into the noise expected
if the reference were one i.i.d. sample, ``v_j`` (known in closed form for each effect,
below), and the rest; ``tau**2 = max(0, mean(e_j**2 - v_j))`` is the method-of-moments
estimate of the heterogeneity, and the bar is its two-sided normal quantile
``z((1 + q) / 2) * tau`` (q = 0.95: 1.96 tau). An i.i.d. reference gets a bar near 0, and
the multiple-testing-controlled test decides alone; a reference made of days that differ
gets a bar as wide as the days differ. The noise terms (``n_eff = 1 / (1/m + 1/r)`` for a
chunk of m rows against a rest of r):

- Cohen's h of a share: ``v = 1/m + 1/r`` (the arcsine transform's variance is 1/n);
- Jensen-Shannon distance (base 2) over K observed categories: JS divergence is
  ``sum((p - q)**2 / pi) / (8 ln 2)`` to second order and ``n_eff * sum(...)`` is
  chi-square with K - 1 degrees of freedom, so ``v = (K - 1) / (8 ln 2 n_eff)``;
- normalised Wasserstein: ``sqrt(n_eff) (F_m - F_r)`` tends to a Brownian bridge ``B`` of
  ``F``, so ``v = E[(integral of |B(F(x))| dx)**2] / (sd**2 n_eff)``, the double integral
  of ``E|B(F(x))| |B(F(y))|`` (a bivariate normal's, in closed form) over the reference's
  quantile grid.

The chunk-vs-rest values are computed on the reference's quantile bins (at most 1,001 edges
on the exact KS path, the KS bins on the binned path: exact for references up to that
size, within one bin's width above).
"""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

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


def heterogeneity_bar(values: list[float], noise: list[float], quantile: float) -> float:
    """``z((1 + quantile) / 2) * tau``: the between-chunk spread beyond sampling noise.

    ``values`` are the chunks' effects, ``noise`` the squared effect each would show by
    sampling alone (same order); NaNs are ignored. 0.0 when there are no chunks.
    """
    pairs = [(e, v) for e, v in zip(values, noise, strict=True) if not math.isnan(e)]
    if not pairs:
        return 0.0
    tau_sq = max(0.0, sum(e * e - v for e, v in pairs) / len(pairs))
    return NormalDist().inv_cdf((1.0 + quantile) / 2.0) * math.sqrt(tau_sq)


def _inverse_n_eff(m: float, rest: float) -> float:
    return 1.0 / m + 1.0 / rest


def share_values(chunk_hits: Counts, chunk_rows: Counts) -> tuple[list[float], list[float]]:
    """Cohen's h of each chunk's share against the rest's (missing, non-finite), and its noise."""
    hits, rows = int(chunk_hits.sum()), int(chunk_rows.sum())
    out, noise = [], []
    for h, n in zip(chunk_hits.tolist(), chunk_rows.tolist(), strict=True):
        if n == 0 or rows - n == 0:
            continue
        out.append(cohen_h(h / n, (hits - h) / (rows - n)))
        noise.append(_inverse_n_eff(n, rows - n) if 0 < hits < rows else 0.0)
    return out, noise


def quantile_edges(sorted_values: Floats) -> Floats:
    """At most :data:`MAX_EDGES` distinct reference quantiles (every value when fewer)."""
    if len(sorted_values) <= MAX_EDGES:
        return np.unique(sorted_values)
    picks = np.linspace(0, len(sorted_values) - 1, MAX_EDGES).astype(int)
    return np.unique(sorted_values[picks])


def numeric_values(sorted_chunks: list[Floats], edges: Floats, scale: float) -> list[float]:
    """Normalised Wasserstein distance of each chunk against the rest, on ``edges``."""
    return numeric_values_from_counts(numeric_cums(sorted_chunks, edges), edges, scale)


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


def numeric_noise(cums: list[Floats], edges: Floats, scale: float) -> list[float]:
    """Each chunk's squared normalised W1 expected by sampling alone (module docstring).

    Same chunks, in the same order, as :func:`numeric_values_from_counts` returns values for.
    """
    total = np.sum(cums, axis=0)
    n_total = total[-1]
    if n_total == 0:
        return []
    bridge = _bridge_w1_square(edges, total / n_total) / scale**2
    return [
        bridge * _inverse_n_eff(cum[-1], n_total - cum[-1]) for cum in cums if 0 < cum[-1] < n_total
    ]


def _bridge_w1_square(edges: Floats, cdf: Floats, points: int = 256) -> float:
    """``E[(integral of |B(F(x))| dx)**2]`` for a Brownian bridge ``B``, on <= ``points`` cells.

    For jointly normal X, Y with sds s, t and correlation rho,
    ``E|X||Y| = s t (2 / pi) (sqrt(1 - rho**2) + rho asin(rho))``; the bridge's covariance is
    ``min(F_i, F_j) - F_i F_j``. To keep this O(points**2), neighbouring cells are pooled
    into at most ``points`` groups, each at its width-weighted mean ``F`` (the bridge is
    nearly constant across neighbours; a group's left ``F`` alone overstates heavy tails).
    """
    width = np.diff(edges)
    group = np.minimum((np.arange(len(width)) * points) // max(len(width), 1), points - 1)
    pooled = np.bincount(group, weights=width)
    keep = pooled > 0
    f = np.bincount(group, weights=width * cdf[:-1])[keep] / pooled[keep]
    pooled = pooled[keep]
    sd = np.sqrt(f * (1.0 - f))
    outer = np.outer(sd, sd)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.clip((np.minimum.outer(f, f) - np.outer(f, f)) / outer, -1.0, 1.0)
        pair = outer * (2.0 / math.pi) * (np.sqrt(1 - rho**2) + rho * np.arcsin(rho))
    return float(pooled @ np.where(outer > 0, pair, 0.0) @ pooled)


def numeric_cums(sorted_chunks: list[Floats], edges: Floats) -> list[Floats]:
    """Each sorted chunk's count of values ``<=`` every edge."""
    return [np.searchsorted(c, edges, side="right").astype(np.float64) for c in sorted_chunks]


def categorical_values(chunk_counts: Counts) -> tuple[list[float], list[float], int]:
    """JS distance of each chunk against the rest, its noise, and the values new to the rest.

    ``chunk_counts`` is ``k x K`` (chunks x categories). The last number is the count of
    chunk values whose category never appears in the rest of the reference: the rate at
    which a no-drift window meets "new" categories (high for ids, zero for enums).
    """
    total = chunk_counts.sum(axis=0)
    observed = int((total > 0).sum())
    out, noise = [], []
    new = 0
    for counts in chunk_counts:
        rest = total - counts
        m, r = int(counts.sum()), int(rest.sum())
        if m == 0 or r == 0:
            continue
        out.append(jensen_shannon(counts, rest))
        noise.append((observed - 1) / (8.0 * math.log(2.0)) * _inverse_n_eff(m, r))
        new += int(counts[rest == 0].sum())
    return out, noise, new


def binary_values(chunk_counts: Counts) -> tuple[list[float], list[float]]:
    """Cohen's h of each chunk's share of the first value against the rest's, and its noise."""
    first = chunk_counts[:, 0]
    rows = chunk_counts.sum(axis=1)
    return share_values(first, rows)
