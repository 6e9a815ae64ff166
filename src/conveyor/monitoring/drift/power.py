"""The minimum detectable effect (MDE) of each test at the sample sizes it saw.

Every MDE is for 80 % power at the Bonferroni level ``alpha / m`` (``m`` tests in the
report), so it is an upper bound for Benjamini-Hochberg too, and it is given in the units
of the feature's reported effect, never below the rule's effect floor:

- KS (numeric): the KS statistic the test detects, ``D80 = (c(a) + 0.5 * z_0.8) * s`` with
  ``c(a) = sqrt(-ln(a / 2) / 2)`` (Smirnov's asymptotic critical value) and
  ``s = sqrt(1/n_ref + 1/n_cur)``; the ``0.5 * z_0.8 * s`` term is the largest standard
  error of the CDF gap at one point, so D80 is an approximation from above. Turned into a
  mean shift of a normal distribution in reference sds (``D = 2 Phi(delta/2) - 1``), which
  is exactly the normalised Wasserstein distance of that shift.
- z-test (binary and share signals): Cohen's h, ``(z_{1-a/2} + z_0.8) * s`` (closed form).
- chi-square (categorical): Cohen's w from the noncentral chi-square with ``K - 1`` degrees
  of freedom, turned into a Jensen-Shannon distance by the small-change approximation
  ``JS ~ w / sqrt(8 ln 2 * r (1 - r))``, ``r = n_ref / (n_ref + n_cur)``.
"""

from __future__ import annotations

import math

from scipy import optimize, stats

POWER = 0.8


def ks_shift(n_ref: int, n_cur: int, alpha: float) -> float:
    """Mean shift (in reference sds, normal data) that KS detects with 80 % power."""
    s = math.sqrt(1.0 / n_ref + 1.0 / n_cur)
    c = math.sqrt(-math.log(alpha / 2.0) / 2.0)
    d80 = min((c + 0.5 * stats.norm.ppf(POWER)) * s, 1.0 - 1e-12)
    return float(2.0 * stats.norm.ppf((1.0 + d80) / 2.0))


def z_cohen_h(n_ref: int, n_cur: int, alpha: float) -> float:
    """Cohen's h that the two-proportion z-test detects with 80 % power."""
    s = math.sqrt(1.0 / n_ref + 1.0 / n_cur)
    return float((stats.norm.ppf(1.0 - alpha / 2.0) + stats.norm.ppf(POWER)) * s)


def chi_square_js(n_ref: int, n_cur: int, dof: int, alpha: float) -> float:
    """JS distance (base 2) the chi-square test detects with 80 % power (approximate)."""
    if dof < 1:
        return math.nan
    critical = stats.chi2.isf(alpha, dof)

    def short(noncentrality: float) -> float:
        return float(stats.ncx2.sf(critical, dof, noncentrality)) - POWER

    upper = 10.0
    while short(upper) < 0:
        upper *= 2.0
    noncentrality = optimize.brentq(short, 1e-9, upper, xtol=1e-6)
    total = n_ref + n_cur
    w = math.sqrt(noncentrality / total)
    r = n_ref / total
    return float(min(w / math.sqrt(8.0 * math.log(2.0) * r * (1.0 - r)), 1.0))
