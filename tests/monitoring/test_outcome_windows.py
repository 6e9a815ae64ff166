"""Outcome windows: fixed bins, exact merges across writers, quantiles within one bin, and a
recorder that cuts time on the UTC clock and writes every window once, on a real store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pytest

from conveyor.context import Context
from conveyor.monitoring.outcomes import (
    LATENCY_BINS,
    LATENCY_EDGES,
    error_rate,
    latency_bin,
    latency_bounds,
    merge,
    outcomes,
    quantile,
    value_bin,
    value_bounds,
)
from conveyor.monitoring.recorder import OutcomeRecorder
from conveyor.settings import Settings
from conveyor.store import Store, open_store


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


START = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'conveyor.db'}")
    try:
        yield opened
    finally:
        opened.close()


def test_latency_bins_are_fixed_log_spaced_from_a_tenth_of_a_millisecond_to_100_s() -> None:
    assert LATENCY_BINS == 50
    assert LATENCY_EDGES[0] == pytest.approx(1e-4)
    assert LATENCY_EDGES[-1] == pytest.approx(100.0)
    assert latency_bin(0.0) == latency_bin(0.99e-4) == 0
    assert latency_bin(1e6) == latency_bin(100.0) == LATENCY_BINS - 1
    for seconds in np.geomspace(1.01e-4, 99, 500):
        low, high = latency_bounds(latency_bin(float(seconds)))
        assert low <= seconds < high


def test_value_bins_are_signed_and_cover_every_float() -> None:
    assert value_bin(0.0) == 0
    assert value_bin(1e-12) == 0
    assert value_bin(1e30) == -value_bin(-1e30) == 181
    for value in [-3.7e5, -0.02, 0.5, 1.0, 2.5, 41.0, 9.9e8]:
        index = value_bin(value)
        low, high = value_bounds(index)
        assert np.sign(index) == np.sign(value)
        assert low * (1 - 1e-12) <= abs(value) < high * (1 + 1e-12)


def _record(recorder: OutcomeRecorder, latencies, statuses, version: int = 3) -> None:
    for seconds, status in zip(latencies, statuses, strict=True):
        recorder.record("churn", version, int(status), float(seconds))


def test_two_writers_windows_merge_to_exactly_the_counts_of_one(store: Store) -> None:
    rng = np.random.default_rng(7)
    latencies = rng.lognormal(np.log(0.01), 1.0, 4000)
    statuses = rng.choice([200, 200, 200, 422, 500, 504], 4000)
    clock = Clock(START + 3)
    single = OutcomeRecorder(store.signals, writer="single", clock=clock)
    halves = [OutcomeRecorder(store.signals, writer=f"half{i}", clock=clock) for i in (0, 1)]
    _record(single, latencies, statuses)
    _record(halves[0], latencies[::2], statuses[::2])
    _record(halves[1], latencies[1::2], statuses[1::2])
    one = _closed(single)
    two = [w for half in halves for w in _closed(half)]

    merged = merge(two)
    assert len(one) == 1
    assert _same_counts(merged, one[0])
    assert merged.requests == 4000
    assert merged.client_errors == int((statuses == 422).sum())
    assert merged.model_errors == int((statuses == 500).sum())
    assert merged.timeouts == int((statuses == 504).sum())
    assert error_rate(merged) == pytest.approx((statuses != 200).mean())
    for q in (0.5, 0.9, 0.99):
        estimate = quantile(merged, q)
        assert estimate is not None
        exact = float(np.quantile(latencies, q))
        assert abs(latency_bin(estimate) - latency_bin(exact)) <= 1, (q, estimate, exact)


def _closed(recorder: OutcomeRecorder):
    with recorder._lock:
        recorder._roll(recorder._index + 1)
        closed = recorder._closed
    return [
        tally.window(model, version, index * recorder.window_s, recorder.window_s)
        for index, models in closed
        for model, versions in models.items()
        for version, tally in versions.items()
    ]


def _same_counts(a, b) -> bool:
    fields = ("requests", "client_errors", "model_errors", "timeouts", "latency", "labels")
    return all(getattr(a, f) == getattr(b, f) for f in fields)


def test_the_recorder_cuts_windows_on_the_clock_and_writes_each_once(store: Store) -> None:
    clock = Clock(START + 9.5)  # the last half second of the 12:00:00 window
    recorder = OutcomeRecorder(store.signals, writer="w", clock=clock)
    recorder.record("churn", 3, 200, 0.002)
    recorder.observe(
        SimpleNamespace(model="churn", version=3, outputs=np.array(["yes", "no", "yes"]))
    )
    clock.now = START + 10.2  # 12:00:10: the first window closed
    recorder.record("churn", 3, 504, 30.0)
    recorder.observe(
        SimpleNamespace(model="churn", version=4, outputs=np.array([0.5, -2.0, np.nan]))
    )

    assert recorder.flush() == 1  # the closed window only
    assert recorder.flush() == 0
    recorder.close()  # the open one too

    ctx = Context(Settings(), None, store=store)
    t0 = datetime.fromtimestamp(START, UTC)
    found = outcomes(ctx, "churn", t0, t0 + timedelta(minutes=1))
    assert [(w.start - t0, w.version, w.requests) for w in found] == [
        (timedelta(0), 3, 1),
        (timedelta(seconds=10), 3, 1),
        (timedelta(seconds=10), 4, 0),
    ]
    assert found[0].labels == {"yes": 2, "no": 1}
    assert found[1].timeouts == 1
    assert found[2].values == {value_bin(0.5): 1, value_bin(-2.0): 1}  # NaN skipped
    assert quantile(found[0], 0.5) == pytest.approx(0.002, rel=0.34)


def test_a_failed_flush_keeps_its_windows_for_the_next(store: Store) -> None:
    clock = Clock(START + 1)
    recorder = OutcomeRecorder(store.signals, writer="w", clock=clock)
    recorder.record("churn", 3, 200, 0.01)
    clock.now += 10
    with store.engine.begin() as conn:  # the database refuses the write
        conn.exec_driver_sql("ALTER TABLE outcome_windows RENAME TO away")
    assert recorder.flush() == 0
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE away RENAME TO outcome_windows")
    recorder.record("churn", 3, 200, 0.01)
    clock.now += 10
    assert recorder.flush() == 2  # the one that failed, and the next
    ctx = Context(Settings(), None, store=store)
    t0 = datetime.fromtimestamp(START, UTC)
    assert [w.requests for w in outcomes(ctx, "churn", t0, t0 + timedelta(minutes=1))] == [1, 1]
