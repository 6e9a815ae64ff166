"""Every drift statistic against scipy: the shared conformance suite (CONVENTIONS item 7)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sp
from scipy.spatial.distance import jensenshannon

from conveyor.monitoring.drift import bins, multiple, rules, stats

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


def _shapes(rng: np.random.Generator, n: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Reference and current samples: smooth, tied, heavy-tailed, skewed, with atoms."""
    atom = rng.random(2 * n) < 0.3
    mixed = np.where(atom, 0.0, rng.normal(1.0, 1.0, 2 * n))
    return {
        "normal": (rng.normal(size=n), rng.normal(0.01, 1.0, n)),
        "ties": (rng.poisson(4.0, n).astype(float), rng.poisson(4.05, n).astype(float)),
        "cauchy": (rng.standard_cauchy(n), rng.standard_cauchy(n) + 0.02),
        "lognormal": (rng.lognormal(0.0, 2.0, n), rng.lognormal(0.02, 2.0, n)),
        "atoms": (mixed[:n], mixed[n:] + 0.005),
    }


@pytest.mark.parametrize("shape", ["normal", "ties", "cauchy", "lognormal", "atoms"])
def test_binned_ks_is_within_its_stated_bound_of_scipy(shape: str) -> None:
    n = 200_000
    x, y = _shapes(np.random.default_rng(7), n)[shape]
    chunks = [np.sort(part) for part in np.array_split(x, 10)]
    ref, _ = bins.fit(chunks, rules.ks_bins(n, 0.05))
    assert rules.ks_method(n, ref.error, 0.05, rules.KS_BINNED_MIN_REF) == "binned"
    ys = np.sort(y)
    d, w = bins.ks_wasserstein(ref, ys)
    exact = sp.ks_2samp(x, y).statistic
    # The stated bound: D_binned <= D <= D_binned + error, error <= 0.1 x critical value.
    assert d <= exact + 1e-12
    assert exact <= d + ref.error + 1e-12
    assert ref.error <= rules.KS_BIN_ERROR_SHARE * rules.ks_critical(0.05, n, n)
    # Wasserstein: within each bin's width times the larger CDF rise inside it.
    cur_le = np.searchsorted(ys, ref.edges, side="right") / n
    rise = np.maximum(np.diff(ref.le), np.diff(cur_le))
    bound = float(np.dot(np.diff(ref.edges), rise))
    assert abs(w - sp.wasserstein_distance(x, y)) <= bound + 1e-9 * abs(w)


def test_binned_p_value_is_scipys_for_the_binned_statistic() -> None:
    n1, n2 = 60_000, 80_000
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=n1), rng.normal(0.02, 1.0, n2)
    ref, _ = bins.fit([np.sort(x)], rules.ks_bins(n1, 0.05))
    d, _ = bins.ks_wasserstein(ref, np.sort(y))
    expected = sp.ks_2samp(x, y)
    assert stats.ks_p_value(d, n1, n2) >= expected.pvalue  # D_binned <= D: never more alarms
    assert abs(d - expected.statistic) <= ref.error
