"""The distribution of predictions, canary against stable: PSI and Jensen-Shannon.

Both arms' predictions are counted on shared bins (scores: bin edges at the stable arm's
quantiles; classes: the union of labels seen). Two divergences are reported:

- PSI = sum_k (p_k - q_k) ln(p_k / q_k), proportions floored at 1e-4 so an empty bin does not
  make it infinite; the usual reading is < 0.1 stable, 0.1-0.2 moderate, > 0.2 shifted.
- Jensen-Shannon divergence in bits (0 identical, 1 disjoint).

Even two identical models give a PSI above zero on finite samples: under H0 it is about
``(1/n_canary + 1/n_stable) * chi2(bins - 1)``. So the canary fails only when PSI is above
**both** the practical threshold (0.2 by default) **and** the ``1 - alpha`` quantile of PSI
under "same distribution", found by a parametric bootstrap: both arms redrawn from the
pooled proportions at their own sample sizes. It passes once the canary has the planned
minimum sample (chi-square approximation: the sample at which a true PSI of ``effect_psi``
is flagged with the stated power) and is not flagged. This is a fixed-sample test repeated
at each step: with ``alpha = 0.01`` and a practical floor the inflation over a few steps
is small, but it is not anytime-valid like the count and latency tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.stats import chi2, ncx2

from conveyor.delivery.analysis.power import SamplePlan, plan_share, smallest_sample, stable_sample
from conveyor.delivery.analysis.results import (
    Decision,
    MetricResult,
    check_count,
    check_positive,
    check_probability,
)
from conveyor.errors import InvalidValue

FLOOR = 1e-4  # PSI's proportion floor for empty bins


def score_edges(stable_scores: np.ndarray, bins: int = 10) -> np.ndarray:
    """Inner bin edges at the stable arm's quantiles (duplicates dropped)."""
    quantiles = np.quantile(np.asarray(stable_scores, dtype=float), np.arange(1, bins) / bins)
    edges: np.ndarray = np.unique(quantiles)
    return edges


def bin_scores(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of ``scores`` in the ``len(edges) + 1`` bins the inner ``edges`` make."""
    idx = np.searchsorted(edges, np.asarray(scores, dtype=float), side="right")
    return np.bincount(idx, minlength=edges.size + 1).astype(float)


def class_counts(canary: np.ndarray, stable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts per predicted class, on the union of classes both arms predicted."""
    classes = np.union1d(np.unique(canary), np.unique(stable))
    c = np.array([np.sum(canary == k) for k in classes], dtype=float)
    s = np.array([np.sum(stable == k) for k in classes], dtype=float)
    return c, s


def _proportions(counts: np.ndarray) -> np.ndarray:
    shares: np.ndarray = counts / counts.sum(axis=-1, keepdims=True)
    return shares


def psi(canary: np.ndarray, stable: np.ndarray) -> np.ndarray | float:
    """Population stability index of two count vectors (or rows of them)."""
    p = np.maximum(_proportions(np.asarray(canary, dtype=float)), FLOOR)
    q = np.maximum(_proportions(np.asarray(stable, dtype=float)), FLOOR)
    value = np.sum((p - q) * np.log(p / q), axis=-1)
    return float(value) if np.ndim(value) == 0 else value


def jensen_shannon(canary: np.ndarray, stable: np.ndarray) -> np.ndarray | float:
    """Jensen-Shannon divergence in bits of two count vectors (or rows of them)."""
    p = _proportions(np.asarray(canary, dtype=float))
    q = _proportions(np.asarray(stable, dtype=float))
    m = (p + q) / 2

    def kl(a: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(a > 0, a * np.log2(a / m), 0.0)
        return np.asarray(terms.sum(axis=-1))

    value = (kl(p) + kl(q)) / 2
    return float(value) if np.ndim(value) == 0 else value


@dataclass(frozen=True)
class PredictionResult(MetricResult):
    """PSI (the statistic), its noise quantile, and Jensen-Shannon alongside."""

    psi: float
    noise_quantile: float  # 1 - alpha quantile of PSI under "same distribution"
    jensen_shannon: float
    plan: SamplePlan


class PredictionShiftTest:
    """Flag a shift of the canary's predictions beyond the practical PSI and sampling noise."""

    def __init__(
        self,
        *,
        metric: str = "predictions",
        alpha: float = 0.01,
        practical_psi: float = 0.2,
        effect_psi: float = 0.4,
        power: float = 0.95,
        resamples: int = 500,
        seed: int = 0,
        min_sample: int | None = None,
    ) -> None:
        self.metric = metric
        self.alpha = check_probability("alpha", alpha)
        self.practical_psi = check_positive("practical_psi", practical_psi)
        self.effect_psi = check_positive("effect_psi", effect_psi)
        if self.effect_psi <= self.practical_psi:
            raise InvalidValue(
                f"canary analysis: effect_psi ({effect_psi}) must exceed practical_psi "
                f"({practical_psi}); it is the shift the sample is planned to catch"
            )
        self.power = check_probability("power", power)
        self.resamples = check_count("resamples", resamples)
        self.seed = seed
        self.min_sample = None if min_sample is None else check_count("min_sample", min_sample)

    def noise_quantile(self, canary: np.ndarray, stable: np.ndarray) -> float:
        """The ``1 - alpha`` quantile of PSI when both arms draw from the pooled counts."""
        pooled = _proportions(canary + stable)
        rng = np.random.default_rng(self.seed)
        c = rng.multinomial(int(canary.sum()), pooled, self.resamples)
        s = rng.multinomial(int(stable.sum()), pooled, self.resamples)
        return float(np.quantile(psi(c, s), 1 - self.alpha))

    def evaluate(self, canary: np.ndarray, stable: np.ndarray) -> PredictionResult:
        """Judge counts on shared bins (see :func:`bin_scores`, :func:`class_counts`)."""
        canary, stable = np.asarray(canary, dtype=float), np.asarray(stable, dtype=float)
        if canary.shape != stable.shape:
            raise InvalidValue(
                f"canary analysis: canary and stable counts must be on the same bins, got "
                f"{canary.size} and {stable.size}"
            )
        n_canary, n_stable = int(canary.sum()), int(stable.sum())
        share = n_canary / (n_canary + n_stable) if n_canary + n_stable else 0.5
        plan = _plan(
            self.practical_psi, self.effect_psi, max(canary.size, 2),
            plan_share(share), self.alpha, self.power,
        )  # fmt: skip
        if self.min_sample is not None:
            plan = SamplePlan(self.min_sample, plan.n_stable, plan.power, plan.effect)
        if n_canary == 0 or n_stable == 0:
            value = divergence = noise = math.nan
        else:
            value, divergence = float(psi(canary, stable)), float(jensen_shannon(canary, stable))
            noise = self.noise_quantile(canary, stable)
        decision: Decision
        if value > self.practical_psi and value > noise:
            decision = "fail"
        elif n_canary >= plan.n_canary and n_stable > 0:
            decision = "pass"
        else:
            decision = "inconclusive"
        shape = (
            f"PSI {value:.3f} (noise {1 - self.alpha:.0%} quantile {noise:.3f}), "
            f"JS {divergence:.3f} bits"
        )
        why = {
            "fail": f"{shape}: shifted beyond {self.practical_psi} and beyond sampling noise",
            "pass": f"{shape}: no shift beyond both after {n_canary:,} requests "
            f"({plan.sentence()})",
            "inconclusive": f"{shape} after {n_canary:,} canary requests: {plan.sentence()}",
        }[decision]
        return PredictionResult(
            metric=self.metric,
            test="PSI against practical threshold and bootstrap noise quantile",
            statistic=value,
            threshold=max(self.practical_psi, noise) if noise == noise else self.practical_psi,
            n_canary=n_canary,
            n_stable=n_stable,
            min_sample=plan.n_canary,
            decision=decision,
            explanation=f"{self.metric}: {why}",
            psi=value,
            noise_quantile=noise,
            jensen_shannon=divergence,
            plan=plan,
        )


@lru_cache(maxsize=256)
def _plan(
    practical: float, effect: float, bins: int, share: float, alpha: float, power: float
) -> SamplePlan:
    """Chi-square plan: PSI ~ c * chi2(bins - 1, effect / c), c = 1/n_canary + 1/n_stable."""

    def power_at(n_canary: int) -> float:
        c = 1 / n_canary + 1 / stable_sample(n_canary, share)
        line = max(practical, c * chi2.ppf(1 - alpha, bins - 1))
        return float(ncx2.sf(line / c, bins - 1, effect / c))

    n_canary, reached = smallest_sample(power_at, power)
    return SamplePlan(
        n_canary, stable_sample(n_canary, share), reached, f"a PSI of {effect:g} over {bins} bins"
    )
