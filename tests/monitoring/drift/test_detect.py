"""Drift decisions a user relies on: robustness, false alarms, power, calibration."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import wasserstein_distance

from conveyor.errors import ConfigError
from conveyor.monitoring.drift import DriftDetector, detect_drift
from conveyor.monitoring.drift.calibrate import numeric_values


def frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "num": rng.normal(shift, 1.0, n),
            "cat": rng.choice(list("abc"), n),
            "flag": rng.random(n) < 0.3,
        }
    )


def test_json_shape_is_the_issues() -> None:
    rng = np.random.default_rng(0)
    report = detect_drift(frame(rng, 500), frame(rng, 400, shift=1.0))
    data = json.loads(json.dumps(report.as_dict()))
    assert data["drifted"] is True
    num = next(f for f in data["features"] if f["name"] == "num")
    for key in ("name", "drifted", "test", "statistic", "p_value", "effect"):
        assert key in num
    assert num["test"] == "ks"
    assert num["missing_share_ref"] == 0.0
    assert num["missing_share_cur"] == 0.0
    assert report.drifted_features == ["num"]


def test_missing_share_alone_is_drift() -> None:
    rng = np.random.default_rng(1)
    reference, current = frame(rng, 2000), frame(rng, 2000)
    current.loc[current.index[:200], "num"] = np.nan  # +10 points missing, same values
    feature = detect_drift(reference, current).feature("num")
    assert feature.drifted
    assert "missing share" in feature.explanation


@pytest.mark.parametrize(
    ("current_of", "status"),
    [
        (lambda c: c.iloc[:0], "insufficient_data"),  # empty window
        (lambda c: c.assign(num=np.nan, cat=None, flag=None), "drift"),  # all-null now
        (lambda c: c.assign(num=np.inf), "drift"),  # inf as its own signal
        (lambda c: c.drop(columns="cat"), "drift"),  # a lost column
    ],
)
def test_bad_windows_are_findings_not_crashes(current_of, status) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(2)
    report = detect_drift(frame(rng, 300), current_of(frame(rng, 300)))
    assert report.status == status
    assert report.statement


def test_one_row_window_and_all_null_columns() -> None:
    rng = np.random.default_rng(4)
    reference = frame(rng, 300).assign(empty=np.nan)
    report = detect_drift(reference, frame(rng, 1).assign(empty=np.nan, extra=1))
    assert report.feature("empty").status == "insufficient_data"
    assert report.feature("extra").status == "not_in_reference"
    assert "could not be tested" in report.statement


def test_unseen_category_is_its_own_cell_and_signal() -> None:
    rng = np.random.default_rng(5)
    current = frame(rng, 1000)
    current.loc[current.index[:100], "cat"] = "new"
    feature = detect_drift(frame(rng, 1000), current).feature("cat")
    assert feature.drifted
    names = {s.name for s in feature.signals if s.drifted}
    assert "new_category" in names
    assert feature.shares["new_category_share_cur"] == pytest.approx(0.1)


def test_parameters_are_validated_up_front() -> None:
    with pytest.raises(ConfigError, match="alpha"):
        DriftDetector(alpha=1.5)
    with pytest.raises(ConfigError, match="correction"):
        DriftDetector(correction="holm")


def test_large_n_needs_an_effect_not_just_a_p_value() -> None:
    rng = np.random.default_rng(6)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 200_000)})
    current = pd.DataFrame({"x": rng.normal(0.03, 1, 200_000)})
    feature = detect_drift(reference, current).feature("x")
    main = feature.distribution
    assert main is not None
    assert main.p_value < 1e-6
    assert not feature.drifted  # ... but 0.03 sd is below the 0.1 floor


def test_leave_one_out_calibration_is_not_biased_low() -> None:
    """NannyML #426: a chunk compared with a reference containing it looks closer."""
    rng = np.random.default_rng(7)
    chunks = [np.sort(rng.normal(size=100)) for _ in range(5)]
    everything = np.sort(np.concatenate(chunks))
    loo = numeric_values(chunks, everything, 1.0)
    # Against the whole reference (chunk included) the distances shrink by (k-1)/k.
    against_all = [wasserstein_distance(c, everything) for c in chunks]
    np.testing.assert_allclose(loo, np.array(against_all) * 5 / 4, rtol=1e-9)


@pytest.mark.slow
def test_false_alarms_across_50_features_stay_at_alpha() -> None:
    """No drift, 50 numeric features, 200 seeds: P(report says drift) <= alpha (+noise)."""
    alarms = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        reference = pd.DataFrame(rng.normal(size=(60, 50)))
        current = pd.DataFrame(rng.normal(size=(40, 50)))
        reference.columns = current.columns = [f"f{i}" for i in range(50)]
        alarms += detect_drift(reference, current, workers=1).drifted
    # alpha = 0.05: 10 of 200 expected at most; 20 would be 4 sd above.
    assert alarms <= 20


@pytest.mark.parametrize(("shift", "least"), [(0.3, 0.6)])
def test_power_for_a_known_mean_shift(shift: float, least: float) -> None:
    hits = 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        reference = pd.DataFrame({"x": rng.normal(size=1000)})
        current = pd.DataFrame({"x": rng.normal(shift, 1, size=1000)})
        hits += detect_drift(reference, current, workers=1).drifted
    assert hits / 30 >= least


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32), st.none(), st.sampled_from("ab")
)


@settings(max_examples=40)
@given(
    st.lists(st.tuples(st.floats(allow_nan=True, allow_infinity=True), values), max_size=30),
    st.lists(st.tuples(st.floats(allow_nan=True, allow_infinity=True), values), max_size=30),
)
def test_arbitrary_frames_never_crash_and_p_values_are_probabilities(ref, cur) -> None:  # type: ignore[no-untyped-def]
    reference = pd.DataFrame(ref, columns=["a", "b"], dtype=object).astype({"a": float})
    current = pd.DataFrame(cur, columns=["a", "b"], dtype=object).astype({"a": float})
    report = detect_drift(reference, current, workers=1)
    json.dumps(report.as_dict())
    for feature in report.features:
        for signal in feature.signals:
            if signal.tested:
                assert 0.0 <= signal.p_value <= 1.0
                assert 0.0 <= signal.p_adjusted <= 1.0


@settings(max_examples=20)
@given(st.integers(0, 10_000))
def test_distribution_test_is_symmetric(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = pd.DataFrame({"x": rng.normal(size=50)})
    b = pd.DataFrame({"x": rng.normal(0.5, size=70)})
    ab = detect_drift(a, b, workers=1).feature("x").distribution
    ba = detect_drift(b, a, workers=1).feature("x").distribution
    assert ab is not None
    assert ba is not None
    assert ab.statistic == pytest.approx(ba.statistic)
    assert ab.p_value == pytest.approx(ba.p_value)
