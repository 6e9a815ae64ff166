"""An alert's life through the monitor loop, on a real store, with outcome windows written by
the gateway's recorder and a clock the test moves: pending until `for:` has passed, firing
with one notification, repeated after `repeat_interval`, resolved with a last one when the
condition clears; one alert per fingerprint; the hourly cap; versions no longer watched."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from tests.store.test_deployments_contract import register

from conveyor.context import Context
from conveyor.delivery import traffic
from conveyor.monitoring.alerts.config import AlertRule, MonitorConfig
from conveyor.monitoring.alerts.loop import MonitorLoop
from conveyor.monitoring.recorder import OutcomeRecorder
from conveyor.notify.events import Notification
from conveyor.settings import Settings
from conveyor.store import open_store

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: float) -> None:
        self.now = T0 + timedelta(minutes=minutes)


class Sent(list[tuple[Notification, Collection[str] | None]]):
    def __call__(self, notification: Notification, targets: Collection[str] | None) -> None:
        self.append((notification, targets))

    def kinds(self) -> list[str]:
        return [n.kind for n, _ in self]


@pytest.fixture
def ctx(tmp_path) -> Iterator[Context]:  # type: ignore[no-untyped-def]
    store = open_store(f"sqlite:///{tmp_path / 'conveyor.db'}")
    register(store, count=2)
    context = Context(Settings(artifacts_url=str(tmp_path / "artifacts")), None, store=store)
    traffic.set_traffic(context, "churn", {1: 100})
    yield context
    store.close()


def requests(ctx: Context, minutes: float, total: int, failed: int, version: int = 1) -> None:
    """``total`` requests to churn ``version`` at T0 + ``minutes``, ``failed`` of them 500s,
    counted and written by the gateway's outcome recorder."""
    at = (T0 + timedelta(minutes=minutes)).timestamp()
    recorder = OutcomeRecorder(ctx.store.signals, writer="gateway-test", clock=lambda: at)
    for i in range(total):
        recorder.record("churn", version, 500 if i < failed else 200, 0.012)
    recorder.flush(everything=True)


def loop(
    ctx: Context, *rules: dict[str, object], **monitor: object
) -> tuple[MonitorLoop, Clock, Sent]:
    config = MonitorConfig(alerts=tuple(AlertRule.model_validate(r) for r in rules), **monitor)  # type: ignore[arg-type]
    clock, sent = Clock(), Sent()
    return MonitorLoop(ctx, config, notify=sent, clock=clock), clock, sent


ERRORS = {"name": "churn-errors", "model": "churn", "when": "error_rate", "above": 0.05}


def test_pending_for_its_for_then_firing_repeated_then_resolved(ctx: Context) -> None:
    monitor, clock, sent = loop(
        ctx, {**ERRORS, "for": "2m", "notify": ["ops"]}, repeat_interval="10m"
    )
    requests(ctx, -1, 100, 10)

    monitor.tick()
    [alert] = ctx.store.alerts.open()
    assert (alert.state, alert.value, alert.fingerprint) == ("pending", 0.1, "churn-errors:churn:1")
    clock.at(1)
    monitor.tick()
    assert ctx.store.alerts.open()[0].state == "pending"
    assert sent == []

    clock.at(2)  # held for 2 minutes: fires
    report = monitor.tick()
    [(firing, targets)] = sent
    assert [a.state for a in report.firing] == ["firing"]
    assert (firing.kind, firing.dedup_key, targets) == ("alert.firing", alert.fingerprint, ("ops",))
    assert firing.summary.startswith("[warning] churn-errors: churn v1: error rate 10.00%")
    assert firing.details["repeat"] is False
    assert firing.details["threshold"] == {"above": 0.05}

    clock.at(3)
    monitor.tick()
    assert len(sent) == 1  # still firing, not repeated before repeat_interval

    requests(ctx, 11, 100, 12)  # the old requests left the 5-minute window: fresh ones fail
    clock.at(12)
    monitor.tick()
    assert sent.kinds() == ["alert.firing", "alert.firing"]
    assert sent[1][0].details["repeat"] is True

    requests(ctx, 16, 100, 1)
    clock.at(17)
    monitor.tick()
    assert sent.kinds() == ["alert.firing", "alert.firing", "alert.resolved"]
    resolved = sent[2][0]
    assert resolved.dedup_key == alert.fingerprint
    assert resolved.summary.startswith("resolved: churn-errors: churn v1: error rate 1.00%")
    assert ctx.store.alerts.open() == []
    [done] = ctx.store.alerts.recent()
    assert (done.id, done.state, done.notifications) == (alert.id, "resolved", 3)
    assert (done.fired_at, done.resolved_at) == (T0 + timedelta(minutes=2), clock.now)


def test_a_condition_that_clears_before_for_resolves_without_a_word(ctx: Context) -> None:
    monitor, clock, sent = loop(ctx, {**ERRORS, "for": "5m"})
    requests(ctx, -1, 100, 10)
    monitor.tick()
    requests(ctx, 1, 400, 0)
    clock.at(2)
    monitor.tick()

    assert sent == []
    assert [a.state for a in ctx.store.alerts.recent()] == ["resolved"]


def test_too_little_data_changes_nothing(ctx: Context) -> None:
    monitor, clock, sent = loop(ctx, ERRORS)
    requests(ctx, -1, 100, 10)
    monitor.tick()
    clock.at(30)  # nothing in the window now: fewer than min_requests
    report = monitor.tick()

    assert [a.state for a in report.open] == ["firing"]
    assert sent.kinds() == ["alert.firing"]


def test_one_alert_per_fingerprint_and_one_per_version(ctx: Context) -> None:
    traffic.set_traffic(ctx, "churn", {1: 90, 2: 10})
    monitor, clock, sent = loop(ctx, ERRORS)
    requests(ctx, -1, 100, 10)
    requests(ctx, -1, 100, 20, version=2)
    for minute in range(4):
        clock.at(minute)
        monitor.tick()

    opened = ctx.store.alerts.open()
    assert sorted(a.fingerprint for a in opened) == ["churn-errors:churn:1", "churn-errors:churn:2"]
    assert len(ctx.store.alerts.recent()) == 2
    assert sent.kinds() == ["alert.firing", "alert.firing"]


def test_the_hourly_cap_holds_firing_notifications_back_but_never_a_resolve(ctx: Context) -> None:
    rules = [{**ERRORS, "name": f"errors-{i}"} for i in range(3)]
    monitor, clock, sent = loop(ctx, *rules, max_notifications_per_hour=2)
    requests(ctx, -1, 100, 10)

    report = monitor.tick()
    assert (len(report.firing), report.notified, report.held_back) == (3, 2, 1)
    held = next(a for a in report.firing if a.notifications == 0)

    requests(ctx, 2, 100, 0)  # all clear: the two notified resolve, whatever the cap
    clock.at(3)
    report = monitor.tick()
    assert sent.kinds() == ["alert.firing", "alert.firing", "alert.resolved", "alert.resolved"]
    assert held.rule not in {n.details["rule"] for n, _ in sent}

    requests(ctx, 64, 100, 10)  # an hour on, the cap has room again
    clock.at(65)
    report = monitor.tick()
    assert (report.notified, report.held_back) == (2, 1)


def test_alerts_of_an_unwatched_version_or_a_removed_rule_resolve(ctx: Context) -> None:
    traffic.set_traffic(ctx, "churn", {1: 50, 2: 50})
    idle = {"name": "idle", "model": "churn", "when": "no_traffic"}
    monitor, clock, sent = loop(ctx, idle, ERRORS)
    requests(ctx, -1, 100, 10)
    monitor.tick()
    assert sorted(a.fingerprint for a in ctx.store.alerts.open()) == [
        "churn-errors:churn:1",
        "idle:churn:2",
    ]

    traffic.set_traffic(ctx, "churn", {1: 100})  # version 2 is no longer routed
    clock.at(1)
    monitor.tick()
    [(gone, _)] = [(n, t) for n, t in sent if n.kind == "alert.resolved"]
    assert gone.summary == "resolved: idle: churn v2 is no longer watched by rule idle"

    monitor.leadership.close()  # restarted with churn-errors taken out of conveyor.yaml
    later, clock2, sent2 = loop(ctx, idle)
    clock2.at(2)
    assert later.tick().leader
    assert [n.summary for n, _ in sent2] == [
        "resolved: churn-errors: rule churn-errors is no longer in conveyor.yaml"
    ]
    assert ctx.store.alerts.open() == []


def test_a_rule_that_cannot_be_evaluated_is_logged_once(
    ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    monitor, clock, _ = loop(ctx, {**ERRORS, "name": "fraud-errors", "model": "fraud"}, ERRORS)
    requests(ctx, -1, 100, 10)
    for minute in range(3):
        clock.at(minute)
        report = monitor.tick()

    said = [r.message for r in caplog.records if "not evaluated" in r.message]
    assert len(said) == 1
    assert "no registered model named 'fraud'" in said[0]
    assert list(report.problems) == ["fraud-errors"]
    assert [a.model for a in report.firing] == ["churn"]  # the other rule ran


def test_a_rule_with_its_own_interval_is_evaluated_at_that_pace(ctx: Context) -> None:
    monitor, clock, _ = loop(ctx, {**ERRORS, "interval": "5m"})
    requests(ctx, -1, 100, 10)
    evaluated = []
    for minute in range(7):
        clock.at(minute)
        evaluated.append(monitor.tick().evaluated)

    assert evaluated == [1, 0, 0, 0, 0, 1, 0]
    assert [a.state for a in ctx.store.alerts.open()] == ["firing"]  # kept between passes
