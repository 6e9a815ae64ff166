"""How much traffic a metric needs before it may pass, and the power that traffic gives.

A plan is found by simulating the metric's own test at a stated effect (an error rate of
1% becoming 3%, latency 20% slower) with a fixed seed, and taking the smallest canary
sample whose power reaches the target. The simulation judges once, at the end; a
rollout that looks after every window can only reject sooner, so the stated power is a
lower bound. Plans are cached: one per (effect, share, alpha, power) is computed once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import logsumexp

from conveyor.delivery.analysis.mixture import normal_prior

SIMULATIONS = 400  # per candidate sample size; power known to about +/- 0.01 at 0.95
SEED = 20221  # fixed: a plan is the same every time it is asked for
MAX_SAMPLE = 5_000_000  # canary requests; beyond this the plan says "not reachable"


@dataclass(frozen=True)
class SamplePlan:
    """The minimum sample per arm before a verdict, and the power it gives for ``effect``."""

    n_canary: int
    n_stable: int
    power: float
    effect: str

    def sentence(self) -> str:
        """E.g. "needs 640 canary requests (power 0.95 for error rate 1% -> 3%)"."""
        return f"needs {self.n_canary:,} canary requests (power {self.power:.2f} for {self.effect})"


def plan_share(share: float) -> float:
    """``share`` rounded *up* to a multiple of 0.05 (at most 0.95), so few plans are computed.

    Rounding up is conservative: at a larger share the stable arm is smaller, and the
    canary needs at least as many requests for the same power.
    """
    return min(max(math.ceil(share * 20 - 1e-9) / 20, 0.05), 0.95)


def stable_sample(n_canary: int, share: float) -> int:
    """Requests the stable arm receives while the canary receives ``n_canary`` at ``share``."""
    return max(1, round(n_canary * (1.0 - share) / share))


def smallest_sample(power_at: Callable[[int], float], target: float) -> tuple[int, float]:
    """The smallest canary sample (to ~5%) with ``power_at(n) >= target``, and that power."""
    n, power = 16, power_at(16)
    while power < target:
        if n >= MAX_SAMPLE:
            return n, power
        n, power = n * 2, power_at(n * 2)
    low, high, high_power = n // 2, n, power
    while high - low > max(1, low // 20):
        middle = (low + high) // 2
        middle_power = power_at(middle)
        if middle_power >= target:
            high, high_power = middle, middle_power
        else:
            low = middle
    return high, high_power


@lru_cache(maxsize=512)
def plan_rates(
    base_rate: float, worse_rate: float, share: float, alpha: float, power: float, scale: float
) -> SamplePlan:
    """Plan for a per-request event rate (errors, wrong predictions) ``base -> worse``."""
    prior = normal_prior(scale, one_sided=True)
    g, log_w = prior.log_rho, prior.log_weights
    bound = math.log(1.0 / alpha)

    def power_at(n_canary: int) -> float:
        rng = np.random.default_rng(SEED)
        n_stable = stable_sample(n_canary, share)
        canary = rng.binomial(n_canary, worse_rate, SIMULATIONS)
        stable = rng.binomial(n_stable, base_rate, SIMULATIONS)
        realised = n_canary / (n_canary + n_stable)
        llr = canary[:, None] * g - (canary + stable)[:, None] * np.log1p(realised * np.expm1(g))
        return float(np.mean(logsumexp(llr + log_w, axis=1) >= bound))

    n_canary, reached = smallest_sample(power_at, power)
    effect = f"{base_rate:.2%} -> {worse_rate:.2%}"
    return SamplePlan(n_canary, stable_sample(n_canary, share), reached, effect)
