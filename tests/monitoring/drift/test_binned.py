"""The large-n path (KS on the reference's quantile bins) decides as the exact path does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conveyor.monitoring.drift import DriftDetector

N = 200_000


def frames(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """No drift, a shift below the 0.1-sd floor, a real shift, heavy tails, ties, missing."""
    rng = np.random.default_rng(seed)

    def side(shift: float, missing: float) -> pd.DataFrame:
        out = pd.DataFrame(
            {
                "same": rng.normal(size=N),
                "tiny": rng.normal(0.05 * shift, 1.0, N),
                "shift": rng.normal(0.3 * shift, 1.0, N),
                "cauchy": rng.standard_cauchy(N),
                "lognormal": rng.lognormal(0.2 * shift, 1.0, N),
                "ties": rng.poisson(4.0, N).astype(float),
                "holes": rng.normal(size=N),
            }
        )
        out.loc[rng.random(N) < missing, "holes"] = np.nan
        return out

    return side(0.0, 0.05), side(1.0, 0.15)


@pytest.mark.parametrize("seed", [0, 1])
def test_binned_and_exact_paths_reach_the_same_decisions(seed: int) -> None:
    reference, current = frames(seed)
    binned = DriftDetector(workers=1).fit(reference).detect(current)
    exact = DriftDetector(workers=1, ks_binned_min_ref=10 * N).fit(reference).detect(current)
    assert binned.drifted_features == exact.drifted_features
    assert binned.drifted_features == ["shift", "lognormal", "holes"]
    for name in reference.columns:
        b, e = binned.feature(name).distribution, exact.feature(name).distribution
        assert b is not None
        assert e is not None
        assert "binned on" in b.explanation
        assert "KS (exact)" in e.explanation
        # D_binned <= D_exact <= D_binned + error (error printed; at most 0.1 x critical).
        assert b.statistic <= e.statistic + 1e-12
        assert e.statistic - b.statistic <= 0.1 * 1.36 * np.sqrt(2 / N)
        assert b.p_value >= e.p_value - 1e-12  # the binned test never alarms more
        # Wasserstein / sd: a few % in smooth shapes; within 0.005 sd (a twentieth of
        # the 0.1-sd floor) even for Cauchy, whose wide tail bins dominate its error.
        assert b.effect == pytest.approx(e.effect, rel=0.05, abs=0.005)


def test_small_references_stay_exact() -> None:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.normal(size=20_000)})
    current = pd.DataFrame({"x": rng.normal(size=20_000)})
    feature = DriftDetector().fit(reference).detect(current).feature("x")
    assert feature.distribution is not None
    assert feature.distribution.explanation.startswith("KS (exact)")
