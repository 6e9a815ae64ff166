"""PSI and Jensen-Shannon by hand, and the noise-aware decision."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.delivery.analysis.predictions import (
    PredictionShiftTest,
    bin_scores,
    jensen_shannon,
    psi,
    score_edges,
)


def test_psi_and_js_match_hand_computed_values() -> None:
    canary, stable = np.array([30.0, 70.0]), np.array([50.0, 50.0])
    assert psi(canary, stable) == pytest.approx(
        (0.3 - 0.5) * math.log(0.3 / 0.5) + (0.7 - 0.5) * math.log(0.7 / 0.5)
    )
    m = (0.4, 0.6)
    kl_p = 0.3 * math.log2(0.3 / m[0]) + 0.7 * math.log2(0.7 / m[1])
    kl_q = 0.5 * math.log2(0.5 / m[0]) + 0.5 * math.log2(0.5 / m[1])
    assert jensen_shannon(canary, stable) == pytest.approx((kl_p + kl_q) / 2)
    assert jensen_shannon(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 50), min_size=2, max_size=8).filter(lambda c: sum(c) > 0),
    st.data(),
)
def test_divergences_are_symmetric_where_they_should_be_and_zero_on_equal(
    canary: list[int], data: st.DataObject
) -> None:
    stable = data.draw(
        st.lists(st.integers(0, 50), min_size=len(canary), max_size=len(canary)).filter(
            lambda c: sum(c) > 0
        )
    )
    c, s = np.array(canary, dtype=float), np.array(stable, dtype=float)
    assert psi(c, s) == pytest.approx(psi(s, c))
    assert jensen_shannon(c, s) == pytest.approx(jensen_shannon(s, c))
    assert 0.0 <= jensen_shannon(c, s) <= 1.0 + 1e-12
    assert psi(c, 3 * c) == pytest.approx(0.0, abs=1e-12)


def test_a_large_psi_from_a_tiny_sample_is_not_a_failure() -> None:
    test = PredictionShiftTest()
    small = test.evaluate(np.array([4.0, 1.0, 0.0, 0.0]), np.array([20.0, 20.0, 20.0, 20.0]))
    assert small.psi > test.practical_psi
    assert small.decision == "inconclusive"
    big = test.evaluate(np.array([400.0, 100.0, 0.0, 0.0]), np.array([2e3, 2e3, 2e3, 2e3]))
    assert big.decision == "fail"


def test_same_distribution_passes_once_the_planned_sample_is_reached() -> None:
    rng = np.random.default_rng(5)
    stable_scores, canary_scores = rng.random(20_000), rng.random(2_000)
    edges = score_edges(stable_scores)
    result = PredictionShiftTest().evaluate(
        bin_scores(canary_scores, edges), bin_scores(stable_scores, edges)
    )
    assert result.decision == "pass"
    assert result.psi < result.noise_quantile
