"""Kayenta's Mann-Whitney judge against scipy and brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu

from conveyor.delivery.analysis.mann_whitney import (
    MannWhitneyTest,
    hodges_lehmann,
    pairwise_difference,
)


def test_u_p_value_and_hodges_lehmann_match_scipy_and_brute_force() -> None:
    rng = np.random.default_rng(3)
    canary, stable = rng.normal(0.4, 1, 57), rng.normal(0, 1, 44)
    shift = hodges_lehmann(canary, stable)
    expected = mannwhitneyu(canary, stable, alternative="two-sided")
    assert shift.u == expected.statistic
    assert shift.p_value == pytest.approx(expected.pvalue)
    differences = np.sort((canary[:, None] - stable[None, :]).ravel())
    assert shift.estimate == pytest.approx(np.median(differences), abs=1e-12)
    assert differences[0] <= shift.low < shift.estimate < shift.high <= differences[-1]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(-20, 20), min_size=1, max_size=15),
    st.lists(st.integers(-20, 20), min_size=1, max_size=15),
    st.data(),
)
def test_kth_pairwise_difference_is_the_sorted_brute_force_one(
    canary: list[int], stable: list[int], data: st.DataObject
) -> None:
    differences = np.sort((np.array(canary)[:, None] - np.array(stable)[None, :]).ravel())
    k = data.draw(st.integers(1, differences.size))
    assert pairwise_difference(np.array(canary), np.array(stable), k) == differences[k - 1]


def test_tolerance_rule_flags_a_clear_increase_only_in_its_direction() -> None:
    rng = np.random.default_rng(4)
    slow, base = 50 * 1.3 * rng.lognormal(0, 0.3, 400), 50 * rng.lognormal(0, 0.3, 400)
    assert MannWhitneyTest(metric="latency").evaluate(slow, base).classification == "High"
    assert MannWhitneyTest(metric="latency").evaluate(base, slow).classification == "Pass"
    either = MannWhitneyTest(metric="latency", direction="either")
    assert either.evaluate(base, slow).classification == "Low"


def test_no_data_is_inconclusive_and_identical_values_pass() -> None:
    test = MannWhitneyTest(metric="errors")
    assert test.evaluate(np.array([]), np.ones(5)).decision == "inconclusive"
    assert test.evaluate(np.ones(5), np.ones(7)).decision == "pass"
