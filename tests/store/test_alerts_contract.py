"""The alert store's contract on every backend: one open alert per fingerprint (even when two
writers race), changes that compare and set, notifications counted for the hourly cap, the
listing `conveyor monitor alerts` reads, and the gauges /metrics reads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from conveyor.errors import ConflictError
from conveyor.ids import new_id
from conveyor.store import Store, open_store
from conveyor.store.entities import Alert, FeatureGauge, MetricGauge

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def _alert(rule: str = "churn-errors", version: int = 3, state: str = "pending") -> Alert:
    return Alert(
        id=new_id(),
        fingerprint=f"{rule}:churn:{version}",
        rule=rule,
        kind="error_rate",
        model="churn",
        version=version,
        severity="critical",
        state=state,
        value=0.031,
        summary="churn v3: error rate 3.10% (31 of 1000 requests)",
        evidence={"requests": 1000, "server_errors": 31},
        first_seen=T0,
        last_seen=T0,
    )


def test_an_alert_round_trips_with_its_evidence(store: Store) -> None:
    alert = _alert()
    store.alerts.save(alert, None)

    [found] = store.alerts.open()
    assert found == alert
    assert found.first_seen.tzinfo is not None


def test_one_open_alert_per_fingerprint_even_when_two_writers_race(store: Store) -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def open_one() -> None:
        barrier.wait()
        try:
            store.alerts.save(_alert(), None)
            outcomes.append("saved")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=open_one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["conflict", "saved"]
    assert len(store.alerts.open()) == 1


def test_a_resolved_alert_frees_its_fingerprint(store: Store) -> None:
    first = store.alerts.save(_alert(state="firing"), None)
    store.alerts.save(replace(first, state="resolved", resolved_at=T0), "firing")

    second = store.alerts.save(_alert(), None)  # the same condition, again

    assert [a.id for a in store.alerts.open()] == [second.id]


def test_a_change_names_the_state_it_expects(store: Store) -> None:
    alert = store.alerts.save(_alert(), None)
    fired = replace(alert, state="firing", fired_at=T0, last_notified_at=T0, notifications=1)
    store.alerts.save(fired, "pending", notified="alert.firing")

    with pytest.raises(ConflictError, match="is firing, not pending"):
        store.alerts.save(replace(alert, state="resolved", resolved_at=T0), "pending")
    assert store.alerts.open()[0].state == "firing"


def test_notifications_are_counted_for_the_hourly_cap(store: Store) -> None:
    for minute in (0, 20, 50):
        at = T0 + timedelta(minutes=minute)
        alert = store.alerts.save(_alert(rule=f"r{minute}"), None)
        notified = replace(alert, state="firing", last_notified_at=at, notifications=1)
        store.alerts.save(notified, "pending", notified="alert.firing")
    resolved = replace(notified, state="resolved", last_notified_at=T0 + timedelta(minutes=55))
    store.alerts.save(resolved, "firing", notified="alert.resolved")

    since = T0 + timedelta(minutes=10)
    assert store.alerts.notifications_since(since) == 2
    assert store.alerts.notifications_since(since, "alert.resolved") == 1


def test_recent_lists_open_alerts_first_then_the_newly_resolved(store: Store) -> None:
    old = store.alerts.save(_alert(rule="old", state="firing"), None)
    store.alerts.save(replace(old, state="resolved", resolved_at=T0 - timedelta(days=3)), "firing")
    new = store.alerts.save(_alert(rule="new", state="firing"), None)
    later = T0 + timedelta(hours=1)
    store.alerts.save(replace(new, state="resolved", resolved_at=later, last_seen=later), "firing")
    still = store.alerts.save(_alert(rule="still"), None)
    other = store.alerts.save(replace(_alert(rule="still"), model="fraud", fingerprint="f"), None)

    recent = store.alerts.recent(since=T0 - timedelta(days=1))
    assert [a.rule for a in recent][:2] == ["still", "still"]
    assert {a.id for a in recent} == {still.id, other.id, new.id}
    assert [a.id for a in store.alerts.recent(model="fraud")] == [other.id]
    assert len(store.alerts.recent()) == 4
    assert len(store.alerts.recent(limit=1)) == 1


def test_gauges_replace_a_versions_features_and_age_out(store: Store) -> None:
    def feature(name: str, at: datetime, version: int = 3) -> FeatureGauge:
        return FeatureGauge("churn", version, name, 0.4, 1e-6, True, 0.01, at)

    store.alerts.put_features("churn", 3, [feature("age", T0), feature("plan", T0)])
    store.alerts.put_features("churn", 3, [feature("age", T0 + timedelta(minutes=1))])
    store.alerts.put_features("churn", 2, [feature("age", T0, version=2)])
    store.alerts.put_metrics("churn", 3, [MetricGauge("churn", 3, "accuracy", 0.91, 80, T0)])
    store.alerts.put_metrics("churn", 3, [MetricGauge("churn", 3, "roc_auc", 0.97, 80, T0)])
    store.alerts.put_metrics("churn", 3, [MetricGauge("churn", 3, "accuracy", 0.88, 90, T0)])

    features, metrics = store.alerts.gauges(T0 - timedelta(hours=1))
    assert [(g.version, g.feature) for g in features] == [(2, "age"), (3, "age")]
    assert {(m.metric, m.value) for m in metrics} == {("accuracy", 0.88), ("roc_auc", 0.97)}

    assert store.alerts.prune_gauges(T0 + timedelta(seconds=30)) == 3
    features, metrics = store.alerts.gauges(T0 - timedelta(hours=1))
    assert [(g.version, g.feature) for g in features] == [(3, "age")]
    assert metrics == []
