"""Quality from delayed labels: accuracy canary against stable, and agreement in shadow.

Accuracy. Every labelled prediction is right or wrong; a wrong one is an event, and the
count test of :mod:`~conveyor.delivery.analysis.counts` applies unchanged: given a wrong
prediction, it came from the canary with probability equal to the canary's share of
labelled predictions when both are equally accurate. So "accuracy 90% -> 87%" is the
count test's "wrong 10% -> 13%", anytime-valid as labels trickle in.

Agreement (shadow). The canary answers the same requests as the primary; the share of
requests where both agree has an anytime-valid confidence sequence from a Beta(1, 1)
mixture (Robbins): ``BF_t(p0) = B(1 + x, 1 + n - x) / (p0^x (1 - p0)^(n - x))`` is a
martingale when ``p0`` is the true agreement rate, so ``{p0 : BF_t(p0) < 1/alpha}`` covers
it at every ``t`` with probability ``1 - alpha``; running intersections keep it so. The
canary passes when the lower end reaches the required rate, fails when the upper end is
below it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import betaln

from conveyor.delivery.analysis.counts import CountResult, CountWindow, ErrorRateTest
from conveyor.delivery.analysis.results import (
    Decision,
    MetricResult,
    check_count,
    check_probability,
)
from conveyor.errors import InvalidValue

P0_GRID = np.linspace(0.0, 1.0, 20_001)[1:-1]


@dataclass(frozen=True)
class LabelWindow:
    """Labelled predictions of one window: how many each arm got, and how many were right."""

    canary_labelled: int
    canary_correct: int
    stable_labelled: int
    stable_correct: int
    share: float | None = None

    def as_counts(self) -> CountWindow:
        """Wrong predictions as the count test's events."""
        return CountWindow(
            self.canary_labelled,
            self.canary_labelled - self.canary_correct,
            self.stable_labelled,
            self.stable_labelled - self.stable_correct,
            self.share,
        )


class AccuracyTest:
    """H0: the canary is at least as accurate as stable; H1: less. Anytime-valid."""

    def __init__(
        self,
        *,
        metric: str = "accuracy",
        alpha: float = 0.05,
        base_accuracy: float = 0.9,
        drop: float = 0.03,
        power: float = 0.9,
        prior_scale: float = 1.0,
        min_sample: int | None = None,
    ) -> None:
        check_probability("base_accuracy", base_accuracy)
        if not 0 < drop < base_accuracy:
            raise InvalidValue(
                f"canary analysis: drop must be in (0, base_accuracy = {base_accuracy}), "
                f"got {drop!r}; it is the loss of accuracy the sample is planned to catch"
            )
        self.counts_ = ErrorRateTest(
            metric=metric,
            alpha=alpha,
            base_rate=1 - base_accuracy,
            worse_rate=1 - base_accuracy + drop,
            power=power,
            prior_scale=prior_scale,
            min_sample=min_sample,
            events="wrong predictions",
        )

    def evaluate(self, windows: Sequence[LabelWindow]) -> CountResult:
        """Judge every labelled window so far."""
        return self.counts_.evaluate([w.as_counts() for w in windows])


@dataclass(frozen=True)
class AgreementResult(MetricResult):
    """Agreement rate with its anytime-valid interval (statistic: the lower end)."""

    rate: float
    low: float
    high: float


def agreement_interval(agreed: int, compared: int, alpha: float) -> tuple[float, float]:
    """The Beta(1, 1)-mixture confidence interval for the agreement rate at this point."""
    if compared == 0:
        return (0.0, 1.0)
    disagreed = compared - agreed
    log_bf = (
        betaln(1 + agreed, 1 + disagreed)
        - agreed * np.log(P0_GRID)
        - disagreed * np.log1p(-P0_GRID)
    )
    kept = P0_GRID[log_bf < math.log(1 / alpha)]
    return (float(kept.min()), float(kept.max())) if kept.size else (0.0, 1.0)


class AgreementTest:
    """Shadow: the canary agrees with the primary on at least ``required`` of requests."""

    def __init__(
        self, *, metric: str = "agreement", alpha: float = 0.05, required: float = 0.95
    ) -> None:
        self.metric = metric
        self.alpha = check_probability("alpha", alpha)
        self.required = check_probability("required", required)

    def min_sample(self) -> int:
        """Fewest requests after which perfect agreement proves ``required``."""
        n = 1
        while (self.alpha / (n + 1)) ** (1 / n) < self.required:
            n += 1
        return n

    def evaluate(self, windows: Sequence[tuple[int, int]]) -> AgreementResult:
        """``windows``: ``(agreed, compared)`` per window, in order."""
        low, high, agreed, compared = 0.0, 1.0, 0, 0
        for window_agreed, window_compared in windows:
            agreed += check_count("agreed", window_agreed)
            compared += check_count("compared", window_compared)
            if agreed > compared:
                raise InvalidValue("canary analysis: more agreements than comparisons")
            step_low, step_high = agreement_interval(agreed, compared, self.alpha)
            low, high = max(low, step_low), min(high, step_high)
        rate = agreed / compared if compared else math.nan
        decision: Decision = (
            "pass" if low >= self.required else "fail" if high < self.required else "inconclusive"
        )
        bounds = f"agrees on {rate:.2%} of {compared:,} requests, [{low:.3f}, {high:.3f}]"
        why = {
            "pass": f"{bounds}: at least {self.required:.0%} with {1 - self.alpha:.0%} confidence",
            "fail": f"{bounds}: below {self.required:.0%} with {1 - self.alpha:.0%} confidence",
            "inconclusive": f"{bounds}: not yet known to be above or below {self.required:.0%}",
        }[decision]
        return AgreementResult(
            metric=self.metric,
            test="anytime-valid Beta-mixture confidence sequence on agreement",
            statistic=low,
            threshold=self.required,
            n_canary=compared,
            n_stable=compared,
            min_sample=self.min_sample(),
            decision=decision,
            explanation=f"{self.metric}: {why}",
            rate=rate,
            low=low,
            high=high,
        )
