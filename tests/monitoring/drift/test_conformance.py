"""Every drift statistic against scipy: the shared conformance suite (CONVENTIONS item 7)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sp
from scipy.spatial.distance import jensenshannon

from conveyor.monitoring.drift import multiple, stats

SIZES = [(1, 1), (1, 7), (5, 7), (100, 300), (2_000, 2_000), (20_000, 15_000)]


@pytest.mark.parametrize(("n1", "n2"), SIZES)
@pytest.mark.parametrize("ties", [False, True])
def test_ks_and_wasserstein_match_scipy(n1: int, n2: int, ties: bool) -> None:
    rng = np.random.default_rng(n1 * 31 + n2)
    x, y = rng.normal(size=n1), rng.normal(0.2, 1.3, size=n2)
    if ties:
        x, y = np.round(x, 1), np.round(y, 1)
    d, p, w = stats.ks_wasserstein(np.sort(x), np.sort(y))
    expected = sp.ks_2samp(x, y)
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-9, abs=stats.TINY_P)
    assert w == pytest.approx(sp.wasserstein_distance(x, y), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    ("c1", "c2"),
    [([10, 20, 30], [12, 18, 40]), ([5, 0, 7, 1], [0, 3, 9, 2]), ([100, 1], [90, 11])],
)
def test_chi_square_matches_scipy_contingency(c1: list[int], c2: list[int]) -> None:
    statistic, p, dof = stats.chi_square(np.array(c1), np.array(c2))
    table = np.array([c1, c2])
    table = table[:, table.sum(axis=0) > 0]
    expected = sp.chi2_contingency(table, correction=False)
    assert statistic == pytest.approx(expected.statistic)
    assert p == pytest.approx(expected.pvalue)
    assert dof == expected.dof


@pytest.mark.parametrize(("k1", "n1", "k2", "n2"), [(30, 100, 45, 120), (400, 1000, 380, 900)])
def test_z_test_squared_is_the_2x2_chi_square(k1: int, n1: int, k2: int, n2: int) -> None:
    z, p = stats.z_two_proportions(k1, n1, k2, n2)
    expected = sp.chi2_contingency([[k1, n1 - k1], [k2, n2 - k2]], correction=False)
    assert z**2 == pytest.approx(expected.statistic)
    assert p == pytest.approx(expected.pvalue)


def test_small_counts_use_fishers_exact_test() -> None:
    test, _, p = stats.two_proportions(0, 2000, 1, 1)
    assert test == "fisher_exact"
    assert p == pytest.approx(sp.fisher_exact([[0, 2000], [1, 0]]).pvalue)


def test_jensen_shannon_matches_scipy_base_2() -> None:
    c1, c2 = np.array([10, 0, 5, 3]), np.array([2, 8, 5, 0])
    assert stats.jensen_shannon(c1, c2) == pytest.approx(jensenshannon(c1, c2, base=2))


def test_benjamini_hochberg_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(size=40), rng.uniform(0, 0.01, size=10)])
    np.testing.assert_allclose(multiple.adjust(p, "bh"), sp.false_discovery_control(p))


def test_bonferroni_and_untested_signals() -> None:
    adjusted = multiple.adjust([0.01, np.nan, 0.3], "bonferroni")
    assert adjusted[0] == pytest.approx(0.02)
    assert np.isnan(adjusted[1])
    assert adjusted[2] == pytest.approx(0.6)
