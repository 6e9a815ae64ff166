"""The signal store's contract on every backend: outcome windows summed across writers, and
an event stream a poller follows without missing or repeating a change."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from conveyor import events
from conveyor.context import Context
from conveyor.delivery import traffic
from conveyor.ids import new_id, utcnow
from conveyor.monitoring.outcomes import LATENCY_BINS, outcomes
from conveyor.settings import Settings
from conveyor.store import Store, open_store
from conveyor.store.entities import LoggedModel, NewRun, OutcomeWindow, ProfileWindow

T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def _ctx(store: Store) -> Context:
    return Context(Settings(user="ana@example.com"), None, store=store)


def _window(version: int, start: datetime, requests: int, **counts: object) -> OutcomeWindow:
    latency = [0] * LATENCY_BINS
    latency[10] = requests
    return OutcomeWindow("churn", version, start, 10, requests, latency=tuple(latency), **counts)  # type: ignore[arg-type]


def test_rows_of_two_writers_for_one_window_sum_exactly(store: Store) -> None:
    one = _window(3, T0, 5, client_errors=1, labels={"yes": 4}, values={-12: 2, 40: 3})
    two = _window(3, T0, 7, timeouts=2, model_errors=1, labels={"yes": 1, "no": 6}, values={40: 1})
    store.signals.add_windows([one, _window(4, T0, 2)], "worker-a")
    store.signals.add_windows([two], "worker-b")

    merged = outcomes(_ctx(store), "churn", T0, T0 + timedelta(seconds=10), version=3)

    assert len(merged) == 1
    window = merged[0]
    assert (window.start, window.window_s, window.writers) == (T0, 10, 2)
    assert (window.requests, window.client_errors, window.model_errors, window.timeouts) == (
        12,
        1,
        1,
        2,
    )
    assert window.latency[10] == 12
    assert sum(window.latency) == 12
    assert window.labels == {"yes": 5, "no": 6}
    assert window.values == {-12: 2, 40: 4}


def test_a_range_reads_each_window_and_version_once_in_order(store: Store) -> None:
    later = T0 + timedelta(seconds=10)
    store.signals.add_windows([_window(4, later, 1), _window(3, later, 2)], "a")
    store.signals.add_windows(
        [_window(3, T0, 3), _window(3, later + timedelta(seconds=10), 9)], "b"
    )
    store.signals.add_windows([_window(3, later, 4)], "c")

    found = outcomes(_ctx(store), "churn", T0, later + timedelta(seconds=10))

    assert [(w.start, w.version, w.requests) for w in found] == [
        (T0, 3, 3),
        (later, 3, 6),
        (later, 4, 1),
    ]
    assert outcomes(_ctx(store), "churn", T0, T0) == []
    assert outcomes(_ctx(store), "other", T0, later + timedelta(hours=1)) == []


def _register(store: Store, count: int) -> None:
    run_id = new_id()
    store.runs.create(NewRun(id=run_id, started_at=utcnow(), project="/p", trigger="manual"))
    model = LoggedModel(new_id(), run_id, "model", "sklearn", "b" * 64, {}, utcnow())
    store.models.add_model(model)
    for _ in range(count):
        store.registry.create_version("churn", model.id, run_id, "ana@example.com")


def test_the_stream_has_registry_and_routing_events_in_one_order(store: Store) -> None:
    start = events.last_event_id(_ctx(store))
    _register(store, 2)
    store.registry.set_alias("churn", "champion", 1, "ana@example.com")
    traffic.set_traffic(_ctx(store), "churn", {1: 90, 2: 10})

    found = events.events_after(_ctx(store), start)

    assert [e.event.kind for e in found] == [
        "created",
        "registered",
        "registered",
        "alias",
        "traffic",
    ]
    assert [e.id for e in found] == sorted({e.id for e in found})
    assert found[-1].event.after == "1=90 2=10"
    assert events.events_after(_ctx(store), found[1].id, limit=2) == found[2:4]
    assert events.events_after(_ctx(store), found[-1].id) == []
    assert events.last_event_id(_ctx(store)) == found[-1].id


def test_a_poller_sees_every_change_of_four_writers_once_in_order(store: Store) -> None:
    """Four threads make changes while a poller follows the stream: each event exactly once,
    ids increasing, and (on PostgreSQL) none skipped by a late commit of a lower id."""
    _register(store, 1)
    per_thread = 15
    start = events.last_event_id(_ctx(store))
    done = threading.Event()
    failures: list[BaseException] = []

    def change(worker: int) -> None:
        try:
            for i in range(per_thread):
                store.registry.set_tags("churn", 1, {f"w{worker}": str(i)}, f"w{worker}")
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    seen: list[int] = []

    def poll() -> None:
        after = start
        while True:
            finished = done.is_set()  # read before the poll: the last polls follow the writers
            page = events.events_after(_ctx(store), after, limit=7)
            seen.extend(item.id for item in page)
            after = page[-1].id if page else after
            if finished and not page:
                return

    poller = threading.Thread(target=poll)
    writers = [threading.Thread(target=change, args=(w,)) for w in range(4)]
    poller.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    poller.join(60)

    assert failures == []
    stored = [e.id for e in events.events_after(_ctx(store), start, limit=1000)]
    assert len(stored) == 4 * per_thread
    assert seen == stored  # every event once, in id order, none skipped


def test_profile_rows_of_every_writer_come_back_by_start_and_version(store: Store) -> None:
    blob = bytes(range(256)) * 40  # binary, not text: the body is compressed
    later = T0 + timedelta(seconds=60)
    store.signals.add_profiles(
        [ProfileWindow("churn", 3, later, 60, 7, blob), ProfileWindow("churn", 4, T0, 60, 2, b"x")],
        "worker-a",
    )
    store.signals.add_profiles([ProfileWindow("churn", 3, T0, 60, 5, b"y")], "worker-b")
    store.signals.add_profiles([ProfileWindow("other", 3, T0, 60, 1, b"z")], "worker-b")

    rows = store.signals.profiles("churn", T0, T0 + timedelta(minutes=5))
    assert [(r.start, r.version, r.writer, r.rows) for r in rows] == [
        (T0, 3, "worker-b", 5), (T0, 4, "worker-a", 2), (later, 3, "worker-a", 7),
    ]  # fmt: skip
    assert rows[2].body == blob
    only = store.signals.profiles("churn", T0, later, version=3)
    assert [r.body for r in only] == [b"y"]  # until is exclusive


def test_prune_deletes_only_windows_that_started_before_the_cut(store: Store) -> None:
    old, cut, new = T0 - timedelta(days=40), T0 - timedelta(days=30), T0
    store.signals.add_windows([_window(3, old, 5), _window(3, cut, 2), _window(3, new, 7)], "a")
    store.signals.add_profiles(
        [ProfileWindow("churn", 3, old, 60, 5, b"x"), ProfileWindow("churn", 3, new, 60, 7, b"y")],
        "a",
    )

    counted = store.signals.prune(cut, dry_run=True)
    assert counted == {"outcome_windows": 1, "profile_windows": 1}
    assert len(store.signals.windows("churn", old, new + timedelta(days=1))) == 3  # untouched

    assert store.signals.prune(cut) == {"outcome_windows": 1, "profile_windows": 1}
    kept = store.signals.windows("churn", old, new + timedelta(days=1))
    assert [w.start for w in kept] == [cut, new]  # the cut itself is kept
    assert [p.start for p in store.signals.profiles("churn", old, new + timedelta(days=1))] == [new]
    assert store.signals.prune(cut) == {"outcome_windows": 0, "profile_windows": 0}
