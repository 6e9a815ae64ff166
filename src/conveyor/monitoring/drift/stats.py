"""The drift statistics, as plain vectorised functions on sorted arrays and counts.

Each one matches a scipy function (checked in ``tests/monitoring/drift/test_conformance.py``):

- :func:`ks_wasserstein` — ``scipy.stats.ks_2samp`` (statistic; p-value ``auto`` mode:
  exact up to 10,000 values a side, else ``kstwo.sf(D, round(n_eff))``, or the limiting
  ``kstwobign`` where that is below 1e-10: the same to 1e-10, 1000x faster) and
  ``scipy.stats.wasserstein_distance``, both from ONE merge of two sorted arrays: the
  current values are placed into the sorted reference with one ``searchsorted``, so no
  concatenate-and-sort of ``n_ref + n_cur`` values is needed.
- :func:`chi_square` — ``scipy.stats.chi2_contingency(table, correction=False)`` on the
  2 x K table of counts (cells empty on both sides dropped).
- :func:`z_two_proportions` — the pooled two-proportion z-test (``z**2`` is the 2 x 2
  chi-square statistic); :func:`two_proportions` falls back to ``scipy.stats.fisher_exact``
  when an expected count is below 5.
- :func:`jensen_shannon` — ``scipy.spatial.distance.jensenshannon(p, q, base=2)``.
- :func:`cohen_h` — ``|2 asin sqrt(p2) - 2 asin sqrt(p1)|``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import numpy.typing as npt
from scipy import stats

# No np.dot in this package: it calls BLAS, whose own threads busy-wait against the
# detector's column threads (a 100k-element dot took 9 ms instead of 20 us on a loaded
# 2-core machine); multiply-and-sum stays on the calling thread.
Floats = npt.NDArray[np.float64]
Counts = npt.NDArray[np.int64]

EXACT_KS_MAX_N = 10_000  # scipy's MAX_AUTO_N: exact p-values up to this size a side
MIN_EXPECTED = 5.0  # below this expected count a 2 x 2 test is Fisher's exact
TINY_P = 1e-10  # below this, the limiting Kolmogorov distribution replaces kstwo (speed)


def ks_wasserstein(xs: Floats, ys: Floats) -> tuple[float, float, float]:
    """KS statistic, its p-value and the Wasserstein-1 distance of two SORTED samples."""
    n1, n2 = len(xs), len(ys)
    total = n1 + n2
    pos = np.searchsorted(xs, ys, side="right")
    pos += np.arange(n2)  # where each current value lands in the merged order
    from_cur = np.zeros(total, dtype=bool)
    from_cur[pos] = True
    merged = np.empty(total)
    merged[pos] = ys
    del pos
    merged[~from_cur] = xs
    # F_ref - F_cur after each merged value: k/n1 - c_cur*(1/n1 + 1/n2), k = 1..total.
    diff = np.cumsum(from_cur, dtype=np.float64)
    del from_cur
    diff *= -(1.0 / n1 + 1.0 / n2)
    diff += np.arange(1, total + 1) / n1
    steps = np.diff(merged)
    wasserstein = float((np.abs(diff[:-1]) * steps).sum())
    # The empirical CDFs are right-continuous: compare them only after the last of a run
    # of tied values (where steps > 0), and after the very last value (where both are 1).
    run_ends = np.flatnonzero(steps > 0)
    statistic = float(np.abs(diff[run_ends]).max()) if len(run_ends) else 0.0
    return statistic, ks_p_value(statistic, n1, n2, xs, ys), wasserstein


def ks_p_value(
    statistic: float, n1: int, n2: int, xs: Floats | None = None, ys: Floats | None = None
) -> float:
    """The two-sided p-value exactly as ``ks_2samp(method="auto")`` computes it (the
    samples are needed only up to :data:`EXACT_KS_MAX_N` values a side)."""
    if max(n1, n2) <= EXACT_KS_MAX_N:
        if xs is None or ys is None:
            raise ValueError("the exact KS p-value needs both samples")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # exact falls back to asymp
            return float(stats.ks_2samp(xs, ys).pvalue)
    big, small = max(n1, n2), min(n1, n2)
    n_eff = big * small / (big + small)
    limit = float(stats.kstwobign.sf(statistic * math.sqrt(n_eff)))
    if limit < TINY_P:
        return limit  # kstwo.sf takes ~0.7 s out here; both agree to within TINY_P
    return float(np.clip(stats.kstwo.sf(statistic, np.round(n_eff)), 0.0, 1.0))


def two_proportions(k1: int, n1: int, k2: int, n2: int) -> tuple[str, float, float]:
    """Test ``k1/n1`` against ``k2/n2``: ``(test, statistic, p)``.

    The pooled z-test, or Fisher's exact test (statistic: the odds ratio) when an expected
    cell count is below :data:`MIN_EXPECTED`, where the normal approximation fails (one
    missing value in a one-row window would otherwise give z = 45).
    """
    total = n1 + n2
    hits = k1 + k2
    expected = min(hits, total - hits) * min(n1, n2) / total
    if expected < MIN_EXPECTED:
        table = [[k1, n1 - k1], [k2, n2 - k2]]
        odds, p = stats.fisher_exact(table)
        return "fisher_exact", float(odds), float(p)
    z, p = z_two_proportions(k1, n1, k2, n2)
    return "z_two_proportions", z, p


def z_two_proportions(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """Pooled two-proportion z-test of ``k1/n1`` against ``k2/n2``: ``(z, p)``."""
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    if se == 0.0:
        return 0.0, 1.0  # both shares 0 or both 1: nothing to test
    z = (k2 / n2 - k1 / n1) / se
    return z, float(2.0 * stats.norm.sf(abs(z)))


def cohen_h(p1: float, p2: float) -> float:
    """Cohen's h between two proportions (0: equal; 0.2 "small"; pi: 0 against 1)."""
    return abs(2.0 * math.asin(math.sqrt(p2)) - 2.0 * math.asin(math.sqrt(p1)))


def chi_square(c1: Counts, c2: Counts) -> tuple[float, float, int]:
    """Chi-square test of homogeneity on two count vectors: ``(statistic, p, dof)``."""
    keep = (c1 + c2) > 0
    a, b = c1[keep].astype(np.float64), c2[keep].astype(np.float64)
    if len(a) < 2:
        return 0.0, 1.0, 0
    n1, n2 = a.sum(), b.sum()
    column = a + b
    e1, e2 = column * (n1 / (n1 + n2)), column * (n2 / (n1 + n2))
    statistic = float(((a - e1) ** 2 / e1).sum() + ((b - e2) ** 2 / e2).sum())
    dof = len(a) - 1
    return statistic, float(stats.chi2.sf(statistic, dof)), dof


def jensen_shannon(c1: Counts | Floats, c2: Counts | Floats) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two count vectors."""
    p = np.asarray(c1, dtype=np.float64)
    q = np.asarray(c2, dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        right = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(math.sqrt(max((left + right) / 2.0, 0.0)))


def binned_wasserstein(edges: Floats, cum1: Floats, cum2: Floats) -> float:
    """W1 between two samples given their CDFs at ``edges`` (a left Riemann sum).

    Exact when the edges include every value of both samples; with reference-quantile
    edges the error is at most one bin's width times the CDF gap inside it.
    """
    return float((np.abs(cum1[:-1] - cum2[:-1]) * np.diff(edges)).sum())
