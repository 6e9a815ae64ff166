"""Reference and live profiles: the stored form round-trips, counts merge exactly (a merge of
two profiles is the profile of the concatenation), the tests on counts agree with the tests
on values, and awkward data gives findings, never a crash."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conveyor.errors import DataError
from conveyor.monitoring.drift import DriftDetector
from conveyor.monitoring.drift.counts import count_categories, count_numeric
from conveyor.monitoring.live_profile import LiveProfile, merge_rows
from conveyor.monitoring.profile import PREDICTION, ReferenceProfile, build_profile

ROWS = 3000


def frame(seed: int, rows: int = ROWS, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40 + shift, 10, rows),
            "income": rng.lognormal(10, 1, rows),
            "plan": rng.choice(["basic", "pro", "team"], rows, p=[0.5, 0.3, 0.2]),
            "visits": rng.integers(0, 5, rows),
            "member": rng.random(rows) < 0.4,
        }
    )


@pytest.fixture(scope="module")
def reference() -> ReferenceProfile:
    ref = frame(1)
    return build_profile(ref, predictions=(ref["age"] > 40).astype(int).to_numpy())


def live_of(profile: ReferenceProfile, data: pd.DataFrame, chunks: int = 1) -> LiveProfile:
    live = LiveProfile.empty(profile, profile.names)
    for part in np.array_split(np.arange(len(data)), chunks):
        batch = data.iloc[part]
        outputs = (batch["age"] > 40).astype(int).to_numpy() if "age" in batch else None
        live.add({c: batch[c].to_numpy() for c in batch.columns}, len(batch), outputs)
    return live


def judge(profile: ReferenceProfile, live: LiveProfile):
    detector = DriftDetector.from_columns(
        {f.name: f.reference for f in profile.features}, profile.rows
    )
    return detector.detect_counts(live.counts(), live.rows)


def test_the_reference_profile_round_trips_through_json(reference: ReferenceProfile) -> None:
    text = reference.to_json()
    data = json.loads(text)
    assert data["format"] == "conveyor.reference-profile/1"
    assert [f["kind"] for f in data["features"]] == [
        "numeric", "numeric", "categorical", "categorical", "binary",
    ]  # fmt: skip
    back = ReferenceProfile.from_json(text)
    assert back.digest == reference.digest
    assert back.names == ["age", "income", "plan", "visits", "member"]
    assert back.prediction is not None
    assert back.prediction.kind == "binary"
    for name in back.names:
        one, two = back.feature(name).reference, reference.feature(name).reference
        assert one.thresholds == two.thresholds
        assert one.shares == two.shares
        if one.bins is not None:
            assert two.bins is not None
            assert np.array_equal(one.bins.edges, two.bins.edges)
            assert np.array_equal(one.bins.le, two.bins.le)
            assert np.array_equal(one.bins.lt, two.bins.lt)
        else:
            assert one.categories.tolist() == two.categories.tolist()
            assert one.counts.tolist() == two.counts.tolist()
    assert back.feature("age").quantiles is not None  # a KLL sketch
    assert back.feature("plan").frequent is not None


def test_a_malformed_or_foreign_profile_is_a_data_error() -> None:
    with pytest.raises(DataError, match=r"not a conveyor\.reference-profile/1"):
        ReferenceProfile.from_json('{"format": "other"}', "x.json")
    with pytest.raises(DataError, match=r"x\.json is malformed"):
        ReferenceProfile.from_json('{"format": "conveyor.reference-profile/1"}', "x.json")


def test_counts_agree_with_the_values_path(reference: ReferenceProfile) -> None:
    """Binned D never exceeds the exact one and is within the printed bound; the same
    columns drift on counts as on values."""
    ref_frame = frame(1)
    for current, drifted in ((frame(2, 1500), []), (frame(3, 1500, shift=6.0), ["age"])):
        on_counts = judge(reference, live_of(reference, current, chunks=5))
        on_values = DriftDetector().fit(ref_frame).detect(current)
        assert on_counts.drifted_features == on_values.drifted_features == drifted
        for name in ("age", "income"):
            b = on_counts.feature(name).distribution
            e = on_values.feature(name).distribution
            assert b is not None
            assert e is not None
            bound = reference.feature(name).reference.bins.error  # type: ignore[union-attr]
            assert b.statistic <= e.statistic + 1e-12
            assert e.statistic - b.statistic <= bound + 1e-12
            assert b.p_value >= e.p_value * 0.5
            assert "live counts in" in b.explanation
        for name in ("plan", "visits", "member"):  # categories: the very same numbers
            assert on_counts.feature(name).distribution == on_values.feature(name).distribution


values = st.lists(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True, width=32),
        st.sampled_from([25.0, 40.0, 55.0]),  # reference-ish values, some on edges
    ),
    max_size=40,
)
words = st.lists(
    st.one_of(st.sampled_from(["basic", "pro", "team", "gold"]), st.none()), max_size=40
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(a=values, b=values)
def test_merged_numeric_counts_are_the_counts_of_the_concatenation(
    reference: ReferenceProfile, a: list[float], b: list[float]
) -> None:
    edges = reference.feature("age").reference.bins.edges  # type: ignore[union-attr]
    one, two = np.array(a, dtype=float), np.array(b, dtype=float)
    merged = count_numeric(edges, one).merged(count_numeric(edges, two))
    whole = count_numeric(edges, np.concatenate([one, two]))
    assert (merged.rows, merged.missing, merged.non_finite) == (
        whole.rows, whole.missing, whole.non_finite,
    )  # fmt: skip
    assert np.array_equal(merged.cells, whole.cells)
    assert merged.below_sum == pytest.approx(whole.below_sum)
    assert merged.above_sum == pytest.approx(whole.above_sum)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(a=words, b=words)
def test_merged_live_profiles_are_the_profile_of_the_concatenation(
    reference: ReferenceProfile, a: list[str | None], b: list[str | None]
) -> None:
    def live(plans: list[str | None]) -> LiveProfile:
        rows = len(plans)  # every value a function of its row, so order does not matter
        ages = np.array([np.nan if p is None else 20.0 + 7 * len(p) for p in plans])
        batch = {"plan": np.array(plans, dtype=object), "age": ages}
        profile = LiveProfile.empty(reference, ["plan", "age"])
        profile.add(batch, rows, np.array([int(p == "pro") for p in plans]))
        return profile

    merged = live(a)
    merged.merge(live(b))
    whole = live(a + b)
    # the stored form too: what the gateway writes and the reader merges
    merged, _ = merge_rows([merged.to_bytes()], reference)
    assert merged is not None
    assert merged.rows == whole.rows
    assert merged.absent == whole.absent
    for name, counts in whole.counts().items():
        got = merged.counts()[name]
        assert (got.rows, got.missing) == (counts.rows, counts.missing)
        if hasattr(counts, "counts"):
            assert np.array_equal(got.counts, counts.counts)  # type: ignore[union-attr]
            assert got.new == counts.new  # type: ignore[union-attr]
        else:
            assert np.array_equal(got.cells, counts.cells)  # type: ignore[union-attr]
    mine, theirs = merged.prediction_counts(), whole.prediction_counts()
    if theirs is None:
        assert mine is None
    else:
        assert mine is not None
        assert mine.rows == theirs.rows
        assert np.array_equal(mine.counts, theirs.counts)  # type: ignore[union-attr]
    # few distinct values: the frequent-items sketch is exact, and so is its merge
    assert sorted(merged.top_values("plan")) == sorted(whole.top_values("plan"))
    finite = sum(p is not None for p in a + b)
    assert merged.features["age"].sketch.n == finite


def test_unseen_categories_are_counted_new_and_named(reference: ReferenceProfile) -> None:
    current = frame(4, 400)
    current["plan"] = np.where(np.arange(400) < 120, "platinum", current["plan"])
    live = live_of(reference, current)
    counts = live.counts()["plan"]
    assert counts.new == 120  # type: ignore[union-attr]
    report = judge(reference, live)
    assert "plan" in report.drifted_features
    assert ("platinum", 120) in live.top_values("plan")


def test_awkward_windows_are_findings_never_crashes(reference: ReferenceProfile) -> None:
    one_row = live_of(reference, frame(5, 1))
    assert judge(reference, one_row).status in ("no_drift", "drift", "insufficient_data")

    nulls = frame(6, 300)
    nulls["age"] = np.nan
    nulls["plan"] = None
    report = judge(reference, live_of(reference, nulls))
    assert report.feature("age").status == "drift"  # 100 % missing: the missing share
    assert "missing share" in report.feature("age").explanation
    assert report.feature("plan").status == "drift"

    infinite = frame(7, 300)
    infinite.loc[:99, "income"] = np.inf
    found = judge(reference, live_of(reference, infinite)).feature("income")
    assert found.drifted
    assert "non-finite share" in found.explanation

    lacking = frame(8, 300).drop(columns=["visits"])
    report = judge(reference, live_of(reference, lacking))
    assert report.feature("visits").status == "missing_in_current"
    assert report.drifted

    empty = LiveProfile.empty(reference, reference.names)
    assert judge(reference, empty).status == "insufficient_data"


def test_an_all_null_reference_column_is_untested_not_a_crash() -> None:
    ref = frame(9, 500)
    ref["age"] = np.nan
    profile = build_profile(ref)
    live = live_of(profile, frame(10, 200))
    found = judge(profile, live).feature("age")
    assert found.distribution is not None
    assert not found.distribution.tested
    assert "the reference has no finite values" in found.distribution.explanation
    assert found.drifted  # the missing share went from 100 % to 0 %: that is news


def test_rows_lacking_a_feature_count_as_its_missing_values(reference: ReferenceProfile) -> None:
    live = LiveProfile.empty(reference, reference.names)
    full = frame(11, 100)
    live.add({c: full[c].to_numpy() for c in full.columns}, 100, None)
    live.add({"age": np.full(50, 40.0)}, 50, None)
    counts = live.counts()
    assert live.absent["plan"] == 50
    assert (counts["plan"].rows, counts["plan"].missing) == (150, 50)
    assert counts["age"].rows == 150


def test_masked_features_are_counted_without_sketches(reference: ReferenceProfile) -> None:
    live = LiveProfile.empty(reference, reference.names, unsketched={"plan", "age"})
    data = frame(12, 200)
    live.add({c: data[c].to_numpy() for c in data.columns}, 200, None)
    assert live.top_values("plan") == []
    assert live.quantiles("age") is None
    assert live.counts()["plan"].rows == 200
    stored = json.loads(__import__("zlib").decompress(live.to_bytes()))
    assert stored["features"]["plan"]["sketch"] is None
    assert "basic" not in json.dumps(stored["features"]["plan"])


def test_a_row_of_another_reference_profile_is_skipped(reference: ReferenceProfile) -> None:
    other = build_profile(frame(13, 500))
    blob = live_of(other, frame(14, 50)).to_bytes()
    merged, skipped = merge_rows([blob, b"not zlib"], reference)
    assert merged is None
    assert skipped == 2


def test_predictions_are_profiled_and_judged(reference: ReferenceProfile) -> None:
    from conveyor.monitoring.profile_drift import profile_drift

    same = profile_drift(reference, live_of(reference, frame(15, 800)), columns=None,
                         correction="bh", alpha=0.05)  # fmt: skip
    assert same.predictions is not None
    assert same.predictions.name == PREDICTION
    assert not same.predictions.drifted
    assert same.details["quantiles"]["age"]["reference"][2] == pytest.approx(40, abs=1.0)

    shifted = frame(16, 800, shift=8.0)
    found = profile_drift(reference, live_of(reference, shifted), columns=["plan"],
                          correction="bh", alpha=0.05)  # fmt: skip
    assert found.report.drifted_features == []  # only plan was asked for, and it is the same
    assert found.predictions is not None
    assert found.predictions.drifted  # the model now answers 1 far more often


def test_categories_json_cannot_hold_are_compared_as_text() -> None:
    ref = pd.DataFrame({"day": pd.to_datetime(["2026-01-01", "2026-01-02"] * 50)})
    profile = ReferenceProfile.from_json(build_profile(ref).to_json())
    assert profile.feature("day").text
    live = LiveProfile.empty(profile, ["day"])
    days = pd.to_datetime(["2026-01-01"] * 30 + ["2026-03-01"] * 10)
    live.add({"day": pd.Series(days)}, 40, None)
    counts = live.counts()["day"]
    assert counts.new == 10  # type: ignore[union-attr]
    assert counts.counts.sum() == 30  # type: ignore[union-attr]


def test_count_categories_matches_numbers_across_int_and_float() -> None:
    categories = pd.Index([0, 1, 2])
    counts = count_categories(categories, np.array([0.0, 1.0, 1.0, 7.0, np.nan]))
    assert counts.counts.tolist() == [1, 2, 0]
    assert (counts.new, counts.missing) == (1, 1)


def test_plot_frames_rebuilt_from_counts_keep_the_shapes(reference: ReferenceProfile) -> None:
    from conveyor.monitoring.profile_drift import plot_frames

    current = frame(17, 2000, shift=5.0)
    ref_frame, cur_frame = plot_frames(reference, live_of(reference, current), ["age", "plan"])
    assert cur_frame["age"].mean() == pytest.approx(current["age"].mean(), abs=0.2)
    assert ref_frame["age"].median() == pytest.approx(frame(1)["age"].median(), abs=0.2)
    shares = cur_frame["plan"].value_counts(normalize=True)
    assert shares["basic"] == pytest.approx((current["plan"] == "basic").mean(), abs=0.01)


def test_both_ways_of_counting_give_the_same_cells(reference: ReferenceProfile) -> None:
    from conveyor.monitoring.drift.bins import cell_of

    edges = reference.feature("age").reference.bins.edges  # type: ignore[union-attr]
    rng = np.random.default_rng(18)
    for size in (5, len(edges) - 1, len(edges), 20_000):  # values among edges, or sorted
        values = np.concatenate([rng.normal(40, 15, size), edges[:3], [np.inf, np.nan]])
        counted = count_numeric(edges, values)
        finite = values[np.isfinite(values)]
        expected = np.bincount(cell_of(edges, finite), minlength=2 * len(edges) + 1)
        assert np.array_equal(counted.cells, expected)
        assert counted.below_sum == pytest.approx(finite[finite < edges[0]].sum())
        assert (counted.missing, counted.non_finite) == (1, 1)


def test_corrupt_reference_sketch_bytes_are_never_deserialized(
    reference: ReferenceProfile,
) -> None:
    """reference-profile.json comes with a model: untrusted. datasketches' deserializer
    crashed the process (SIGSEGV) on fuzzed KLL bytes, so the reference's quantiles come
    from its exact bins, and its sketch bytes are never parsed."""
    from dataclasses import replace

    from conveyor.monitoring.profile_drift import profile_drift

    crafted = ReferenceProfile.from_json(reference.to_json(), "crafted")
    crafted = replace(
        crafted,
        features=tuple(replace(f, quantiles=b"\x05\x02\x0f\xff" * 64) for f in crafted.features),
    )
    drift = profile_drift(crafted, live_of(reference, frame(15, 800)), columns=None,
                          correction="bh", alpha=0.05)  # fmt: skip
    assert drift.details["quantiles"]["age"]["reference"][2] == pytest.approx(40, abs=1.0)
