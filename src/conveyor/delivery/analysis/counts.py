"""Error counts, canary against stable: an always-valid sequential test on running counts.

The test needs only, per analysis window, each arm's requests and errors (and the canary's
routing share, when known). Conditional on an error happening, it came from the canary with
probability ``p0`` = the canary's share when the two versions fail alike, and with a
larger probability when the canary fails more. :mod:`~conveyor.delivery.analysis.mixture`
derives the likelihood ratio window by window, each window with its own share (traffic
steps 5% -> 25% -> 50% are fine), and mixes it over the rate ratio ``rho = canary error
rate / stable error rate`` with a half-normal prior on ``log rho > 0`` (H1: canary worse).
The always-valid p-value ``min(1, 1 / max_t BF_t)`` keeps the false-alarm probability at
most ``alpha`` however often the rollout looks. A confidence sequence for ``rho`` comes from
the same likelihood.

Decision: ``fail`` when the p-value is at most ``alpha``; ``pass`` once the canary has
received the planned minimum sample (see :mod:`~conveyor.delivery.analysis.power`) without
that; ``inconclusive`` before.

Example::

    test = ErrorRateTest(alpha=0.05, base_rate=0.01, worse_rate=0.03)
    result = test.evaluate([CountWindow(200, 7, 3800, 40, share=0.05)])
    result.decision, result.explanation
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from conveyor.delivery.analysis.mixture import (
    always_valid_p,
    normal_prior,
    ratio_confidence_sequence,
    running_log_bayes_factor,
)
from conveyor.delivery.analysis.power import SamplePlan, plan_rates, plan_share
from conveyor.delivery.analysis.results import (
    Decision,
    MetricResult,
    check_count,
    check_positive,
    check_probability,
)
from conveyor.errors import InvalidValue


@dataclass(frozen=True)
class CountWindow:
    """One analysis window's counts; ``share`` the canary's routing weight (None: realised)."""

    canary_requests: int
    canary_events: int
    stable_requests: int
    stable_events: int
    share: float | None = None

    def __post_init__(self) -> None:
        for name in ("canary_requests", "canary_events", "stable_requests", "stable_events"):
            check_count(name, getattr(self, name))
        if self.canary_events > self.canary_requests or self.stable_events > self.stable_requests:
            raise InvalidValue(
                f"canary analysis: a window has more events than requests ({self}); "
                "count each request's error at most once"
            )
        if self.share is not None:
            check_probability("share", self.share, open_interval=False)

    def realised_share(self) -> float:
        """The routing weight if given, else the canary's share of the window's requests."""
        if self.share is not None:
            return self.share
        total = self.canary_requests + self.stable_requests
        return self.canary_requests / total if total else 0.0


@dataclass(frozen=True)
class CountResult(MetricResult):
    """The count test's judgement, with the rates and a confidence sequence for their ratio."""

    canary_rate: float
    stable_rate: float
    ratio_low: float  # anytime-valid (1 - alpha) interval for canary rate / stable rate
    ratio_high: float
    plan: SamplePlan


def count_arrays(windows: Sequence[CountWindow]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(canary events, events on both arms, shares)`` per window, windows with a comparison.

    A window where one arm got no traffic (share 0 or 1) says nothing about the ratio.
    """
    kept = [w for w in windows if 0.0 < w.realised_share() < 1.0]
    hits = np.array([w.canary_events for w in kept], dtype=float)
    totals = np.array([w.canary_events + w.stable_events for w in kept], dtype=float)
    shares = np.array([w.realised_share() for w in kept], dtype=float)
    return hits, totals, shares


def mean_share(windows: Sequence[CountWindow]) -> float:
    """The canary's share over all windows, weighted by requests, rounded up for planning."""
    canary = sum(w.canary_requests for w in windows)
    total = canary + sum(w.stable_requests for w in windows)
    return plan_share(canary / total if total else 0.5)


class ErrorRateTest:
    """H0: the canary's error rate is at most stable's; H1: higher. Anytime-valid.

    ``base_rate -> worse_rate`` is the effect the minimum sample is planned for, at
    ``power``; ``prior_scale`` the sd of the half-normal prior on ``log rho`` (1.0 puts
    most weight on ratios up to ~7x). ``min_sample`` overrides the plan's canary sample.
    """

    def __init__(
        self,
        *,
        metric: str = "error_rate",
        alpha: float = 0.05,
        base_rate: float = 0.01,
        worse_rate: float = 0.03,
        power: float = 0.95,
        prior_scale: float = 1.0,
        min_sample: int | None = None,
        events: str = "errors",
    ) -> None:
        self.metric = metric
        self.events = events
        self.alpha = check_probability("alpha", alpha)
        self.base_rate = check_probability("base_rate", base_rate)
        self.worse_rate = check_probability("worse_rate", worse_rate)
        if self.worse_rate <= self.base_rate:
            raise InvalidValue(
                f"canary analysis: worse_rate ({worse_rate}) must be above base_rate "
                f"({base_rate}); it is the regression the sample is planned to catch"
            )
        self.power = check_probability("power", power)
        self.prior_scale = check_positive("prior_scale", prior_scale)
        self.min_sample = None if min_sample is None else check_count("min_sample", min_sample)
        self.prior_ = normal_prior(self.prior_scale, one_sided=True)

    def plan(self, share: float) -> SamplePlan:
        """The minimum sample at ``share``, and its power (``min_sample`` wins if given)."""
        planned = plan_rates(
            self.base_rate, self.worse_rate, share, self.alpha, self.power, self.prior_scale
        )
        if self.min_sample is None:
            return planned
        return SamplePlan(self.min_sample, planned.n_stable, planned.power, planned.effect)

    def evaluate(self, windows: Sequence[CountWindow]) -> CountResult:
        """Judge the whole history so far (every window since the rollout began)."""
        hits, totals, shares = count_arrays(windows)
        p_value = always_valid_p(
            running_log_bayes_factor(hits[:, None], totals[:, None], shares, self.prior_)
        )
        low, high = ratio_confidence_sequence(hits, totals, shares, self.alpha, self.prior_scale)
        n_canary = sum(w.canary_requests for w in windows)
        n_stable = sum(w.stable_requests for w in windows)
        canary_rate = sum(w.canary_events for w in windows) / n_canary if n_canary else 0.0
        stable_rate = sum(w.stable_events for w in windows) / n_stable if n_stable else 0.0
        plan = self.plan(mean_share(windows))
        decision = _decide(p_value, self.alpha, n_canary, n_stable, plan.n_canary)
        rates = f"canary {canary_rate:.2%} vs stable {stable_rate:.2%} {self.events}"
        ratio = f"ratio in [{low:.2f}, {high:.2f}]"
        why = {
            "fail": f"{rates}: worse beyond chance (always-valid p = {p_value:.4f} <= "
            f"{self.alpha}), {ratio}",
            "pass": f"{rates}: no evidence the canary is worse after {n_canary:,} requests "
            f"(p = {p_value:.3f}; {plan.sentence()}), {ratio}",
            "inconclusive": f"{rates} after {n_canary:,} canary requests: "
            f"{plan.sentence()} before it may pass",
        }[decision]
        return CountResult(
            metric=self.metric,
            test="always-valid mixture test on error counts (Lindon-Malek)",
            statistic=p_value,
            threshold=self.alpha,
            n_canary=n_canary,
            n_stable=n_stable,
            min_sample=plan.n_canary,
            decision=decision,
            explanation=f"{self.metric}: {why}",
            canary_rate=canary_rate,
            stable_rate=stable_rate,
            ratio_low=low,
            ratio_high=high,
            plan=plan,
        )


def _decide(p_value: float, alpha: float, n_canary: int, n_stable: int, needed: int) -> Decision:
    if p_value <= alpha:
        return "fail"
    if n_canary >= needed and n_stable > 0:
        return "pass"
    return "inconclusive"
