"""The gateway's profiler on a real store: windows cut on the UTC clock, written once closed
(the open one at close), several writers merged on read into exactly what one process would
have counted, and what it could not count said, never hidden."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from conveyor.monitoring.live_profile import LiveProfile, read_live
from conveyor.monitoring.observation import Prediction
from conveyor.monitoring.profile import ReferenceProfile, build_profile
from conveyor.monitoring.profile_options import ProfileOptions
from conveyor.monitoring.profiler import ProfileRecorder, stack
from conveyor.store import Store, open_store

START = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'conveyor.db'}")
    try:
        yield opened
    finally:
        opened.close()


def frame(seed: int, rows: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40 + shift, 10, rows),
            "plan": rng.choice(["basic", "pro", "team"], rows),
        }
    )


@pytest.fixture(scope="module")
def reference() -> ReferenceProfile:
    ref = frame(1, 2000)
    return build_profile(ref, predictions=(ref["age"] > 40).astype(int).to_numpy())


def answered(data: pd.DataFrame, at: float, version: int = 3) -> list[Prediction]:
    """One prediction per row, as the gateway tells its observers (one-row frames that
    share one column Index, like requests of one route)."""
    when = datetime.fromtimestamp(at, UTC)
    return [
        Prediction(
            f"r{i}",
            "churn",
            version,
            data.iloc[[i]],
            np.array([int(data["age"].iloc[i] > 40)]),
            0.001,
            when,
        )
        for i in range(len(data))
    ]


def recorder(
    store: Store, reference: ReferenceProfile, clock: Clock, writer: str, **kw
) -> ProfileRecorder:
    return ProfileRecorder(
        store.signals,
        lambda model, version: reference if version == 3 else None,
        options=ProfileOptions(window_s=60, **kw.pop("options", {})),
        writer=writer,
        clock=clock,
        **kw,
    )


def test_two_writers_merge_to_exactly_one_processs_counts(store: Store, reference) -> None:
    clock = Clock(START + 5)
    data = frame(2, 300)
    one, two = recorder(store, reference, clock, "a"), recorder(store, reference, clock, "b")
    for prediction in answered(data.iloc[:170], START + 5):
        one.observe(prediction)
    for prediction in answered(data.iloc[170:], START + 30):
        two.observe(prediction)
    assert one.flush() == 0  # the window is still open
    clock.now = START + 61
    assert one.flush() == 1
    assert two.flush() == 1

    since = datetime.fromtimestamp(START, UTC)
    read = read_live(store.signals, "churn", 3, reference, since, since + timedelta(hours=1))
    assert (read.windows, read.writers, read.skipped) == (1, 2, 0)
    assert read.end == since + timedelta(seconds=60)
    assert read.profile is not None
    alone = LiveProfile.empty(reference, reference.names)
    alone.add({c: data[c].to_numpy() for c in data.columns}, 300, (data["age"] > 40).astype(int))
    merged, whole = read.profile.counts(), alone.counts()
    assert read.profile.rows == 300
    assert np.array_equal(merged["age"].cells, whole["age"].cells)  # type: ignore[union-attr]
    assert np.array_equal(merged["plan"].counts, whole["plan"].counts)  # type: ignore[union-attr]
    predicted = read.profile.prediction_counts()
    assert predicted is not None
    assert np.array_equal(predicted.counts, alone.prediction_counts().counts)  # type: ignore[union-attr]


def test_windows_follow_the_clock_and_close_writes_the_open_one(store: Store, reference) -> None:
    clock = Clock(START)
    profiler = recorder(store, reference, clock, "a")
    for minute in range(3):
        for prediction in answered(frame(minute, 10), START + 60 * minute + 1):
            profiler.observe(prediction)
    clock.now = START + 150  # windows 0 and 1 have closed, 2 is open
    assert profiler.flush() == 2
    profiler.close()
    rows = store.signals.profiles(
        "churn", datetime.fromtimestamp(START, UTC), datetime.fromtimestamp(START + 600, UTC)
    )
    assert [(r.start.timestamp() - START, r.rows, r.window_s) for r in rows] == [
        (0, 10, 60), (60, 10, 60), (120, 10, 60),
    ]  # fmt: skip
    assert profiler.stats()["rows"] == 30
    # a range that begins mid-window reads the whole window it overlaps (one is not cut)
    mid = datetime.fromtimestamp(START + 90, UTC)
    read = read_live(store.signals, "churn", 3, reference, mid, mid + timedelta(seconds=60))
    assert read.start == datetime.fromtimestamp(START + 60, UTC)
    assert (read.windows, read.profile.rows if read.profile else 0) == (2, 20)
    edge = datetime.fromtimestamp(START + 120, UTC)
    read = read_live(store.signals, "churn", 3, reference, edge, edge + timedelta(seconds=60))
    assert read.windows == 1  # the window that ended at the range's start is not in it


def test_rows_past_the_buffer_are_dropped_and_counted_in_the_window(
    store: Store, reference
) -> None:
    clock = Clock(START)
    profiler = recorder(store, reference, clock, "a", max_buffered_rows=5)
    for prediction in answered(frame(3, 12), START + 1):
        profiler.observe(prediction)
    profiler.close()
    since = datetime.fromtimestamp(START, UTC)
    read = read_live(store.signals, "churn", 3, reference, since, since + timedelta(minutes=5))
    assert read.profile is not None
    assert (read.profile.rows, read.profile.dropped) == (5, 7)
    assert profiler.stats()["dropped"] == 7


def test_a_version_without_reference_is_not_profiled_but_counted(store: Store, reference) -> None:
    profiler = recorder(store, reference, Clock(START), "a")
    for prediction in answered(frame(4, 4), START + 1, version=9):
        profiler.observe(prediction)
    profiler.close()
    assert profiler.stats()["unprofiled"] == 4
    assert (
        store.signals.profiles("churn", datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC)) == []
    )


def test_the_feature_cap_and_masks_hold(store: Store, reference) -> None:
    options = {"max_features": 1, "mask": ("age",)}
    profiler = recorder(store, reference, Clock(START), "a", options=options)
    for prediction in answered(frame(5, 20), START + 1):
        profiler.observe(prediction)
    profiler.close()
    since = datetime.fromtimestamp(START, UTC)
    read = read_live(store.signals, "churn", 3, reference, since, since + timedelta(minutes=5))
    assert read.profile is not None
    assert list(read.profile.features) == ["age"]
    assert read.profile.features["age"].sketch is None  # masked: counts, no values kept
    assert read.profile.counts()["age"].rows == 20


def test_a_failed_write_is_kept_for_the_next_flush(store: Store, reference) -> None:
    clock = Clock(START + 1)
    profiler = recorder(store, reference, clock, "a")
    for prediction in answered(frame(6, 3), START + 1):
        profiler.observe(prediction)
    clock.now += 60
    with store.engine.begin() as conn:  # the database refuses the write
        conn.exec_driver_sql("ALTER TABLE profile_windows RENAME TO away")
    assert profiler.flush() == 0
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE away RENAME TO profile_windows")
    for prediction in answered(frame(7, 2), clock.now):
        profiler.observe(prediction)
    clock.now += 60
    assert profiler.flush() == 2  # the one that failed, and the next
    rows = store.signals.profiles("churn", datetime.fromtimestamp(START, UTC), datetime.now(UTC))
    assert [r.rows for r in rows] == [3, 2]


def test_stack_turns_many_calls_into_one_array_per_column() -> None:
    frames = [pd.DataFrame({"a": [1.0], "b": [2.0]}) for _ in range(3)]
    index = frames[0].columns
    frames = [f.set_axis(index, axis=1) for f in frames]
    batches = stack([(f, np.array([0])) for f in frames])
    assert len(batches) == 1
    columns, rows, outputs = batches[0]
    assert rows == 3
    assert columns["b"].tolist() == [2.0, 2.0, 2.0]
    assert outputs.tolist() == [0, 0, 0]
    arrays = [np.array([[1.0, 5.0]]), np.array([[3.0, 6.0], [4.0, 7.0]])]
    batches = stack([(a, np.zeros((len(a), 2))) for a in arrays])
    columns, rows, outputs = batches[0]
    assert (rows, columns["1"].tolist()) == (3, [5.0, 6.0, 7.0])
    assert outputs.shape == (3, 2)  # several outputs per row: kept, not profiled


def test_model_calls_are_counted_like_predictions(store: Store, reference) -> None:
    """What the gateway hands over: one record per model call (merged requests)."""
    from dataclasses import dataclass

    @dataclass
    class Call:  # the fields of the gateway's BatchRecord the profiler reads
        model: str
        version: int
        answered: tuple

    clock = Clock(START + 1)
    profiler = recorder(store, reference, clock, "a")
    data = frame(8, 48)
    outputs = (data["age"] > 40).astype(int).to_numpy()
    for start in range(0, 48, 16):  # three calls of 16 merged rows
        rows = data.iloc[start : start + 16]
        profiler.observe_call(Call("churn", 3, ((rows, outputs[start : start + 16]),)))
    profiler.observe_call(Call("churn", 3, ()))  # a call that answered nothing
    profiler.close()
    since = datetime.fromtimestamp(START, UTC)
    read = read_live(store.signals, "churn", 3, reference, since, since + timedelta(minutes=1))
    assert read.profile is not None
    assert read.profile.rows == 48
    alone = LiveProfile.empty(reference, reference.names)
    alone.add({c: data[c].to_numpy() for c in data.columns}, 48, outputs)
    merged, whole = read.profile.counts(), alone.counts()
    assert np.array_equal(merged["age"].cells, whole["age"].cells)  # type: ignore[union-attr]
