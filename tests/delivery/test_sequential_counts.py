"""The always-valid count test: its likelihood, its p-value, its false-alarm bound."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from conveyor.delivery.analysis.counts import CountWindow, ErrorRateTest
from conveyor.delivery.analysis.mixture import normal_prior, running_log_bayes_factor
from conveyor.errors import InvalidValue


def test_mixture_equals_direct_binomial_likelihood_ratio() -> None:
    # Two windows with different shares: the mixture is the prior-weighted product of
    # Binomial(m, theta(rho)) / Binomial(m, s) likelihoods, computed here with scipy.
    prior = normal_prior(1.0, one_sided=True)
    windows = [(7, 20, 0.05), (30, 60, 0.25)]
    direct = 0.0
    for g, log_w in zip(prior.log_rho, prior.log_weights, strict=True):
        rho, ratio = math.exp(g), 1.0
        for a, m, s in windows:
            theta = rho * s / (rho * s + 1 - s)
            ratio *= binom.pmf(a, m, theta) / binom.pmf(a, m, s)
        direct += math.exp(log_w) * ratio
    hits = np.array([[7.0], [30.0]])
    totals = np.array([[20.0], [60.0]])
    ours = running_log_bayes_factor(hits, totals, np.array([0.05, 0.25]), prior)[-1]
    assert ours == pytest.approx(math.log(direct), rel=1e-9)


def test_false_alarms_stay_below_alpha_when_looking_after_every_window() -> None:
    # H0: both arms fail 2% of requests; 200 rollouts looked at 50 times each, the share
    # moving 5% -> 25% -> 50%. Ville's bound says at most alpha = 5% ever reject.
    test = ErrorRateTest(alpha=0.05, min_sample=10**9)
    rng = np.random.default_rng(7)
    alarms = 0
    for _ in range(200):
        windows = []
        for look in range(50):
            share = (0.05, 0.25, 0.5)[look * 3 // 50]
            n_canary = rng.binomial(400, share)
            windows.append(
                CountWindow(
                    n_canary,
                    rng.binomial(n_canary, 0.02),
                    400 - n_canary,
                    rng.binomial(400 - n_canary, 0.02),
                    share,
                )
            )
        alarms += test.evaluate(windows).decision == "fail"  # the max over all 50 looks
    assert alarms / 200 <= 0.05 + 0.03  # Monte Carlo slack: ~2 sd of a 5% rate over 200


def test_a_tripled_error_rate_fails_and_the_ratio_interval_covers_it() -> None:
    result = ErrorRateTest().evaluate([CountWindow(2000, 60, 38000, 380, share=0.05)])
    assert result.decision == "fail"
    assert result.ratio_low < 3.0 < result.ratio_high
    assert "worse beyond chance" in result.explanation


def test_no_traffic_is_inconclusive_never_pass() -> None:
    test = ErrorRateTest()
    assert test.evaluate([]).decision == "inconclusive"
    assert test.evaluate([CountWindow(0, 0, 500, 3, share=0.0)]).decision == "inconclusive"


def test_passes_only_after_the_planned_sample_and_states_its_power() -> None:
    test = ErrorRateTest(base_rate=0.01, worse_rate=0.03, power=0.9)
    plan = test.plan(0.5)
    assert plan.power >= 0.9
    few = test.evaluate([CountWindow(plan.n_canary - 1, 10, plan.n_canary, 10, share=0.5)])
    enough = test.evaluate([CountWindow(plan.n_canary, 10, plan.n_canary, 10, share=0.5)])
    assert (few.decision, enough.decision) == ("inconclusive", "pass")
    assert f"power {plan.power:.2f}" in enough.explanation


def test_parameters_are_checked_up_front() -> None:
    with pytest.raises(InvalidValue, match="worse_rate"):
        ErrorRateTest(base_rate=0.03, worse_rate=0.01)
    with pytest.raises(InvalidValue, match="alpha"):
        ErrorRateTest(alpha=1.5)
    with pytest.raises(InvalidValue, match="more events than requests"):
        CountWindow(10, 11, 10, 0)


counts = st.integers(0, 40)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(counts, counts), min_size=1, max_size=6))
def test_p_value_is_in_unit_interval_and_never_rises_with_more_data(
    pairs: list[tuple[int, int]],
) -> None:
    test = ErrorRateTest(min_sample=10**9)
    windows = [CountWindow(100, a, 100, b, share=0.5) for a, b in pairs]
    p_values = [test.evaluate(windows[: i + 1]).statistic for i in range(len(windows))]
    assert all(0.0 <= p <= 1.0 for p in p_values)
    assert all(later <= earlier for earlier, later in itertools.pairwise(p_values))


@settings(max_examples=40, deadline=None)
@given(counts, counts)
def test_more_canary_errors_never_raise_the_p_value(canary: int, stable: int) -> None:
    test = ErrorRateTest(min_sample=10**9)
    p = test.evaluate([CountWindow(100, canary, 100, stable, share=0.5)]).statistic
    worse = test.evaluate([CountWindow(100, canary + 1, 100, stable, share=0.5)]).statistic
    assert worse <= p
