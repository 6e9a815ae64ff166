"""The calibrated bar is the reference's own heterogeneity, not chunk-size sampling noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conveyor.monitoring.drift import calibrate, detect_drift
from conveyor.monitoring.drift.reference import fit_categorical, fit_numeric


def _numeric_ratio(draw, seeds: int = 120) -> float:  # type: ignore[no-untyped-def]
    """mean(e**2) / mean(v) over i.i.d. references: 1 when the noise term is right."""
    rng = np.random.default_rng(0)
    squares, noise = [], []
    for _ in range(seeds):
        x = draw(rng)
        chunks = [np.sort(part) for part in np.array_split(x, 10)]
        edges = calibrate.quantile_edges(np.sort(x))
        cums = calibrate.numeric_cums(chunks, edges)
        squares += [e * e for e in calibrate.numeric_values_from_counts(cums, edges, x.std())]
        noise += calibrate.numeric_noise(cums, edges, x.std())
    return float(np.mean(squares) / np.mean(noise))


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng: rng.normal(size=2000),
        lambda rng: np.exp(rng.normal(size=2000)),  # heavy right tail
        lambda rng: rng.poisson(3, 2000).astype(float),  # ties
    ],
    ids=["normal", "lognormal", "poisson"],
)
def test_wasserstein_noise_matches_simulation(draw) -> None:  # type: ignore[no-untyped-def]
    assert _numeric_ratio(draw) == pytest.approx(1.0, abs=0.1)


def test_js_and_share_noise_match_simulation() -> None:
    rng = np.random.default_rng(1)
    js, js_noise, h, h_noise = [], [], [], []
    for _ in range(150):
        codes = rng.choice(5, 2000, p=[0.4, 0.3, 0.15, 0.1, 0.05])
        matrix = np.stack([np.bincount(p, minlength=5) for p in np.array_split(codes, 10)])
        values, noise, _ = calibrate.categorical_values(matrix)
        js += [v * v for v in values]
        js_noise += noise
        hits = np.array([(p == 0).sum() for p in np.array_split(codes, 10)])
        values, noise = calibrate.share_values(hits, np.full(10, 200))
        h += [v * v for v in values]
        h_noise += noise
    assert np.mean(js) / np.mean(js_noise) == pytest.approx(1.0, abs=0.1)
    assert np.mean(h) / np.mean(h_noise) == pytest.approx(1.0, abs=0.1)


def test_iid_reference_gets_a_bar_near_zero_and_heterogeneous_one_a_wide_bar() -> None:
    flat, raw_quantile = [], []
    for seed in range(30):
        x = np.random.default_rng(seed).normal(size=5000)
        flat.append(fit_numeric("x", pd.Series(x), 10, 0.95).thresholds["distribution"])
        chunks = [np.sort(part) for part in np.array_split(x, 10)]
        values = calibrate.numeric_values(chunks, calibrate.quantile_edges(np.sort(x)), x.std())
        raw_quantile.append(float(np.quantile(values, 0.95)))
    # Half the i.i.d. references get no bar at all; the old bar (the raw 0.95 quantile of
    # the chunk distances, i.e. chunk-size noise) was ~0.07 every time.
    assert np.median(flat) == 0.0
    assert np.mean(flat) < np.mean(raw_quantile) / 2
    rng = np.random.default_rng(2)
    days = pd.Series(np.concatenate([rng.normal(rng.normal(0, 0.3), 1, 500) for _ in range(10)]))
    assert fit_numeric("x", days, 10, 0.95).thresholds["distribution"] > 0.2


def test_a_new_day_like_the_reference_days_is_not_drift() -> None:
    """The reason the bar exists: p-values are tiny between days that differ by nature."""
    alarms = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        means = rng.normal(0, 0.3, 11)
        reference = pd.DataFrame(
            {"x": np.concatenate([rng.normal(m, 1, 2000) for m in means[:10]])}
        )
        current = pd.DataFrame({"x": rng.normal(means[10], 1, 2000)})
        alarms += detect_drift(reference, current, workers=1).drifted
    assert alarms <= 4


def test_a_five_point_category_shift_at_moderate_n_is_found() -> None:
    """It was missed with chunk-noise bars: chi-square p ~ 1e-4, bar 0.087 > JS 0.06."""
    hits = 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        labels = np.array(list("abcd"), dtype=object)
        reference = pd.DataFrame({"c": rng.choice(labels, 2000, p=[0.4, 0.3, 0.2, 0.1])})
        current = pd.DataFrame({"c": rng.choice(labels, 2000, p=[0.45, 0.25, 0.2, 0.1])})
        hits += detect_drift(reference, current, workers=1).drifted
    assert hits >= 12  # ~55 % with 10 features under BH in the bench; alone it is higher


def test_categorical_bar_follows_the_same_rule() -> None:
    rng = np.random.default_rng(3)
    labels = np.array(list("abc"), dtype=object)
    iid = pd.Series(rng.choice(labels, 5000, p=[0.5, 0.3, 0.2]))
    mixed = pd.Series(
        np.concatenate(
            [
                rng.choice(labels, 500, p=[0.5, 0.3, 0.2] if i % 2 else [0.3, 0.5, 0.2])
                for i in range(10)
            ]
        )
    )
    assert fit_categorical("c", "categorical", iid, 10, 0.95).thresholds["distribution"] < 0.03
    assert fit_categorical("c", "categorical", mixed, 10, 0.95).thresholds["distribution"] > 0.1
