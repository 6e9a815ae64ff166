"""Latency, canary against stable: an always-valid test on binned latencies, slower-only.

Both arms' latencies are counted on one fixed log-spaced grid (two bins per doubling,
0.1 ms to 100 s), which is what a gateway keeps anyway. Conditional on a request landing in
bin ``k``, it came from the canary with probability equal to the canary's share when both
versions have the same latency distribution; each bin gets its own rate ratio ``rho_k``
with an independent normal prior on ``log rho_k``, and the per-bin mixtures multiply into
one Bayes factor (:mod:`~conveyor.delivery.analysis.mixture`: a Dirichlet-multinomial-style
mixture for equality in distribution, as in Lindon & Malek 2022). ``min(1, 1 / max_t
BF_t)`` is an always-valid p-value for "same distribution", valid under continuous looks.

Equality can be rejected because the canary is *faster*; only slower fails. The direction
is read from the histograms: the ratio of geometric means (``exp`` of the difference of
mean log-latency, from bin midpoints) and of the p99s; the canary fails when the test
rejects and either ratio exceeds ``1 + tolerance``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import logsumexp
from scipy.stats import norm

from conveyor.delivery.analysis.mixture import (
    always_valid_p,
    normal_prior,
    running_log_bayes_factor,
)
from conveyor.delivery.analysis.power import (
    SEED,
    SIMULATIONS,
    SamplePlan,
    plan_share,
    smallest_sample,
)
from conveyor.delivery.analysis.power import stable_sample as stable_for
from conveyor.delivery.analysis.results import (
    Decision,
    MetricResult,
    check_count,
    check_positive,
    check_probability,
)
from conveyor.errors import InvalidValue

EDGES_MS = 0.1 * 2.0 ** (np.arange(0, 2 * math.log2(1e6) + 1) / 2)  # 0.1 ms .. 100 s
MIDPOINTS_MS = np.concatenate(
    ([EDGES_MS[0]], np.sqrt(EDGES_MS[:-1] * EDGES_MS[1:]), [EDGES_MS[-1]])
)  # one per bin, the under- and overflow bins at their edge
TYPICAL_MS = 50.0  # where the planning simulation puts the median latency


def histogram(latencies_ms: np.ndarray) -> np.ndarray:
    """Counts on the shared grid: ``len(EDGES_MS) + 1`` bins, under- and overflow included."""
    values = np.asarray(latencies_ms, dtype=float)
    if values.size and not np.all(np.isfinite(values) & (values >= 0)):
        raise InvalidValue("canary analysis: latencies must be finite and >= 0 milliseconds")
    bins = np.searchsorted(EDGES_MS, values, side="right")
    return np.bincount(bins, minlength=EDGES_MS.size + 1).astype(float)


@dataclass(frozen=True, eq=False)
class LatencyWindow:
    """One window's latency histograms on :data:`EDGES_MS`; ``share`` as in counts."""

    canary: np.ndarray
    stable: np.ndarray
    share: float | None = None

    @classmethod
    def from_latencies(
        cls, canary_ms: np.ndarray, stable_ms: np.ndarray, share: float | None = None
    ) -> LatencyWindow:
        """Bin raw latencies (milliseconds) of each arm."""
        return cls(histogram(canary_ms), histogram(stable_ms), share)

    def realised_share(self) -> float:
        if self.share is not None:
            return self.share
        total = self.canary.sum() + self.stable.sum()
        return float(self.canary.sum() / total) if total else 0.0


@dataclass(frozen=True)
class LatencyResult(MetricResult):
    """The latency test's judgement with the direction it read."""

    mean_ratio: float  # geometric mean canary / stable
    p99_ratio: float
    plan: SamplePlan


def _quantile(counts: np.ndarray, q: float) -> float:
    cumulative = np.cumsum(counts)
    return float(MIDPOINTS_MS[np.searchsorted(cumulative, q * cumulative[-1])])


def _ratios(canary: np.ndarray, stable: np.ndarray) -> tuple[float, float]:
    """(geometric-mean ratio, p99 ratio) of canary over stable; 1.0 when an arm is empty."""
    if canary.sum() == 0 or stable.sum() == 0:
        return 1.0, 1.0
    logs = np.log(MIDPOINTS_MS)
    shift = logs @ canary / canary.sum() - logs @ stable / stable.sum()
    return math.exp(shift), _quantile(canary, 0.99) / _quantile(stable, 0.99)


class LatencyTest:
    """H0: same latency distribution; fail only when the canary is also slower.

    ``slowdown`` is the effect the minimum sample is planned for (1.2: 20% slower), for
    log-normal latencies with log-sd ``sigma``; ``tolerance`` the practical margin.
    """

    def __init__(
        self,
        *,
        metric: str = "latency",
        alpha: float = 0.05,
        tolerance: float = 0.05,
        slowdown: float = 1.2,
        sigma: float = 0.5,
        power: float = 0.95,
        prior_scale: float = 1.0,
        min_sample: int | None = None,
    ) -> None:
        self.metric = metric
        self.alpha = check_probability("alpha", alpha)
        self.tolerance = check_positive("tolerance", tolerance)
        self.slowdown = check_positive("slowdown", slowdown)
        if self.slowdown <= 1 + self.tolerance:
            raise InvalidValue(
                f"canary analysis: slowdown ({slowdown}) must exceed 1 + tolerance "
                f"({1 + tolerance}); it is the regression the sample is planned to catch"
            )
        self.sigma = check_positive("sigma", sigma)
        self.power = check_probability("power", power)
        self.prior_scale = check_positive("prior_scale", prior_scale)
        self.min_sample = None if min_sample is None else check_count("min_sample", min_sample)
        self.prior_ = normal_prior(self.prior_scale, one_sided=False)

    def plan(self, share: float) -> SamplePlan:
        planned = _plan(
            self.slowdown, self.sigma, share, self.alpha, self.power, self.prior_scale,
            self.tolerance,
        )  # fmt: skip
        if self.min_sample is None:
            return planned
        return SamplePlan(self.min_sample, planned.n_stable, planned.power, planned.effect)

    def evaluate(self, windows: Sequence[LatencyWindow]) -> LatencyResult:
        """Judge the whole history so far."""
        kept = [w for w in windows if 0.0 < w.realised_share() < 1.0]
        canary = sum((w.canary for w in windows), np.zeros(EDGES_MS.size + 1))
        stable = sum((w.stable for w in windows), np.zeros(EDGES_MS.size + 1))
        width = EDGES_MS.size + 1  # explicit: no window kept (no traffic) is a 0-row matrix
        hits = np.array([w.canary for w in kept]).reshape(len(kept), width)
        totals = hits + np.array([w.stable for w in kept]).reshape(len(kept), width)
        shares = np.array([w.realised_share() for w in kept])
        p_value = always_valid_p(running_log_bayes_factor(hits, totals, shares, self.prior_))
        mean_ratio, p99_ratio = _ratios(canary, stable)
        n_canary, n_stable = int(canary.sum()), int(stable.sum())
        total = n_canary + n_stable
        plan = self.plan(plan_share(n_canary / total if total else 0.5))
        slower = max(mean_ratio, p99_ratio) > 1 + self.tolerance
        decision: Decision
        if p_value <= self.alpha and slower:
            decision = "fail"
        elif n_canary >= plan.n_canary and n_stable > 0:
            decision = "pass"
        else:
            decision = "inconclusive"
        shape = f"canary/stable geometric mean x{mean_ratio:.3f}, p99 x{p99_ratio:.2f}"
        why = {
            "fail": f"{shape}: slower beyond chance (always-valid p = {p_value:.4f} <= "
            f"{self.alpha}) and beyond the {self.tolerance:.0%} tolerance",
            "pass": f"{shape}: not slower beyond chance and tolerance after {n_canary:,} "
            f"requests (p = {p_value:.3f}; {plan.sentence()})",
            "inconclusive": f"{shape} after {n_canary:,} canary requests: "
            f"{plan.sentence()} before it may pass",
        }[decision]
        return LatencyResult(
            metric=self.metric,
            test="always-valid mixture test of equal binned latency distributions, slower-only",
            statistic=p_value,
            threshold=self.alpha,
            n_canary=n_canary,
            n_stable=n_stable,
            min_sample=plan.n_canary,
            decision=decision,
            explanation=f"{self.metric}: {why}",
            mean_ratio=mean_ratio,
            p99_ratio=p99_ratio,
            plan=plan,
        )


@lru_cache(maxsize=256)
def _plan(
    slowdown: float,
    sigma: float,
    share: float,
    alpha: float,
    power: float,
    scale: float,
    tolerance: float,
) -> SamplePlan:
    """Simulated plan: log-normal latencies around :data:`TYPICAL_MS`, canary ``slowdown``x."""
    prior = normal_prior(scale, one_sided=False)
    bound = math.log(1.0 / alpha)

    def probabilities(median: float) -> np.ndarray:
        cdf = norm.cdf((np.log(EDGES_MS) - math.log(median)) / sigma)
        return np.diff(np.concatenate(([0.0], cdf, [1.0])))

    fast, slow = probabilities(TYPICAL_MS), probabilities(TYPICAL_MS * slowdown)
    used = (fast > 1e-9) | (slow > 1e-9)
    fast, slow = fast[used] / fast[used].sum(), slow[used] / slow[used].sum()
    logs = np.log(MIDPOINTS_MS[used])

    def power_at(n_canary: int) -> float:
        rng = np.random.default_rng(SEED)
        n_stable = stable_for(n_canary, share)
        canary = rng.multinomial(n_canary, slow, SIMULATIONS).astype(float)
        stable = rng.multinomial(n_stable, fast, SIMULATIONS).astype(float)
        realised = n_canary / (n_canary + n_stable)
        g = prior.log_rho
        llr = canary[:, :, None] * g - (canary + stable)[:, :, None] * np.log1p(
            realised * np.expm1(g)
        )
        log_bf = logsumexp(llr + prior.log_weights, axis=2).sum(axis=1)
        shift = canary @ logs / n_canary - stable @ logs / n_stable
        return float(np.mean((log_bf >= bound) & (shift > math.log1p(tolerance))))

    n_canary, reached = smallest_sample(power_at, power)
    effect = f"latency x{slowdown:g} (log-normal, log-sd {sigma:g})"
    return SamplePlan(n_canary, stable_for(n_canary, share), reached, effect)
