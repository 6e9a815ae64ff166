"""The rollout controller's step machine on a real store, fed synthetic outcome windows
through the signals repository: a good canary is promoted, a failing one rolled back at its
first failing verdict, no traffic pauses it; one leader per model; pre-traffic refusal."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from tests.store.test_deployments_contract import register

from conveyor.config import DeployConfig
from conveyor.context import Context
from conveyor.delivery import traffic
from conveyor.delivery.deployments import get_table
from conveyor.delivery.pretraffic import Check, PreTrafficReport
from conveyor.delivery.rollout import service
from conveyor.delivery.rollout.controller import Controller
from conveyor.monitoring.labels import Label
from conveyor.monitoring.observation import Prediction
from conveyor.monitoring.outcomes import LATENCY_BINS
from conveyor.notify.events import Notification
from conveyor.serving.feedback import LabelLog
from conveyor.serving.predlog import PredictionLog
from conveyor.settings import Settings
from conveyor.store import Store, open_store
from conveyor.store.entities import OutcomeWindow, Rollout
from conveyor.store.leader import Leadership

T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


class Clock:
    """The controller's notion of now, moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def ctx(tmp_path) -> Iterator[Context]:  # type: ignore[no-untyped-def]
    store = open_store(f"sqlite:///{tmp_path / 'conveyor.db'}")
    register(store, count=2)
    settings = Settings(user="ana@example.com", artifacts_url=str(tmp_path / "artifacts"))
    context = Context(settings, None, store=store)
    traffic.set_traffic(context, "churn", {1: 100})
    store.registry.set_alias("churn", "champion", 1, "ana@example.com")
    yield context
    store.close()


def _windows(store: Store, start: datetime, count: int, arms: dict[int, tuple[int, int]]) -> None:
    """``count`` 10 s windows from ``start``, each with ``arms[version] = (requests, errors)``."""
    rows = []
    for i in range(count):
        for version, (requests, errors) in arms.items():
            latency = [0] * LATENCY_BINS
            latency[20] = requests
            at = start + timedelta(seconds=10 * i)
            rows.append(
                OutcomeWindow(
                    "churn", version, at, 10, requests, model_errors=errors, latency=tuple(latency)
                )
            )
    store.signals.add_windows(rows, "gateway-test")


def _deploy(
    ctx: Context, **config: object
) -> tuple[Rollout, Controller, Clock, list[Notification]]:
    sent: list[Notification] = []
    settings = {"steps": [5, 50, 100], "interval": "60s", "pretraffic": False, **config}
    rollout = service.deploy(ctx, "churn", 2, DeployConfig(**settings), sent.append)  # type: ignore[arg-type]
    clock = Clock()
    return rollout, Controller(ctx, clock=clock, notify=sent.append), clock, sent


def _share(ctx: Context, version: int) -> float:
    table = get_table(ctx.store, "churn")
    assert table is not None
    return table.share(version)


def test_a_good_canary_steps_through_to_promotion(ctx: Context) -> None:
    rollout, controller, clock, sent = _deploy(ctx)
    controller.tick()
    assert ctx.store.rollouts.get(rollout.id).status == "progressing"
    assert _share(ctx, 2) == pytest.approx(0.05)

    _windows(ctx.store, T0, 12, {2: (200, 2), 1: (3800, 38)})
    clock.now = T0 + timedelta(seconds=120)
    controller.tick()
    assert ctx.store.rollouts.get(rollout.id).step == 1
    assert _share(ctx, 2) == pytest.approx(0.5)

    _windows(ctx.store, clock.now, 12, {2: (2000, 20), 1: (2000, 20)})
    clock.now += timedelta(seconds=120)
    controller.tick()

    done = ctx.store.rollouts.get(rollout.id)
    assert done.status == "promoted"
    assert _share(ctx, 2) == 1.0
    assert ctx.store.registry.alias_version("churn", "champion") == 2
    assert [n.kind for n in sent] == ["rollout.started", "rollout.step_passed", "rollout.promoted"]
    assert {v.decision for v in ctx.store.rollouts.verdicts(rollout.id)} == {"pass"}


def test_a_failing_canary_is_rolled_back_at_its_first_failing_verdict(ctx: Context) -> None:
    rollout, controller, clock, sent = _deploy(ctx)
    controller.tick()
    _windows(ctx.store, T0, 6, {2: (200, 20), 1: (3800, 38)})  # 10% errors against 1%
    clock.now = T0 + timedelta(seconds=60)

    controller.tick()

    done = ctx.store.rollouts.get(rollout.id)
    assert (done.status, done.step) == ("rolled_back", 0)
    assert _share(ctx, 2) == 0.0
    assert _share(ctx, 1) == 1.0
    verdicts = ctx.store.rollouts.verdicts(rollout.id)
    assert [v.decision for v in verdicts] == ["fail"]
    metrics = {m["metric"]: m for m in verdicts[0].evidence["metrics"]}
    assert metrics["error_rate"]["decision"] == "fail"
    assert ctx.store.registry.alias_version("churn", "champion") == 1
    assert sent[-1].kind == "rollout.rolled_back"
    controller.tick()  # an ended rollout is left alone
    assert len(ctx.store.rollouts.verdicts(rollout.id)) == 1


def test_the_gateway_is_told_each_committed_traffic_change_and_nothing_else(
    ctx: Context,
) -> None:
    """A gateway running the controller polls its tables when told (``routed``), so a
    rollback takes the canary's share away at once, not at the watcher's next poll."""
    told: list[tuple[str, float]] = []
    rollout, _, clock, sent = _deploy(ctx)
    controller = Controller(
        ctx, clock=clock, notify=sent.append, routed=lambda m: told.append((m, _share(ctx, 2)))
    )
    controller.tick()
    assert told == [("churn", pytest.approx(0.05))]  # the first step, already in the table
    _windows(ctx.store, T0, 2, {2: (200, 20), 1: (3800, 38)})
    clock.now = T0 + timedelta(seconds=5)
    controller.tick()  # too early for a verdict: the table is as it was
    assert len(told) == 1
    _windows(ctx.store, T0 + timedelta(seconds=20), 4, {2: (200, 20), 1: (3800, 38)})
    clock.now = T0 + timedelta(seconds=60)
    controller.tick()
    assert ctx.store.rollouts.get(rollout.id).status == "rolled_back"
    assert told == [("churn", pytest.approx(0.05)), ("churn", 0.0)]  # told once committed


def test_no_traffic_is_inconclusive_then_paused_never_promoted(ctx: Context) -> None:
    rollout, controller, clock, sent = _deploy(ctx)
    controller.tick()
    for minutes in (1, 2, 3, 4):
        clock.now = T0 + timedelta(minutes=minutes)
        controller.tick()

    paused = ctx.store.rollouts.get(rollout.id)
    assert (paused.status, paused.step) == ("paused", 0)
    assert "inconclusive" in (paused.reason or "")
    assert {v.decision for v in ctx.store.rollouts.verdicts(rollout.id)} == {"inconclusive"}
    assert sent[-1].kind == "rollout.paused"
    assert _share(ctx, 2) == pytest.approx(0.05)  # held, neither advanced nor dropped


def test_two_controllers_started_at_once_elect_one_leader(ctx: Context) -> None:
    service.deploy(ctx, "churn", 2, DeployConfig(pretraffic=False))
    controllers = [Controller(ctx, leadership=Leadership(ctx.store)) for _ in range(2)]
    barrier = threading.Barrier(2)

    def start(controller: Controller) -> None:
        barrier.wait()
        controller.tick()

    threads = [threading.Thread(target=start, args=(c,)) for c in controllers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    leaders = [c for c in controllers if "churn" in c.leadership.leads()]
    assert len(leaders) == 1
    assert traffic.history(ctx, "churn")[-1].actor == "ana@example.com"
    assert len(traffic.history(ctx, "churn")) == 2  # the first table and step 0, once
    leaders[0].leadership.close()  # the leader stops: the other takes over on its next pass
    other = next(c for c in controllers if c is not leaders[0])
    other.tick()
    assert "churn" in other.leadership.leads()
    other.leadership.close()


def test_a_candidate_failing_pretraffic_is_refused_and_never_gets_traffic(ctx: Context) -> None:
    def failing(_: Context, rollout: Rollout) -> PreTrafficReport:
        smoke = Check("smoke", False, "predicts 1 for row 3; 0 was recorded", {"row": 3})
        return PreTrafficReport(rollout.model, rollout.candidate, (smoke,))

    sent: list[Notification] = []
    rollout = service.deploy(ctx, "churn", 2, DeployConfig())
    controller = Controller(ctx, pretraffic=failing, notify=sent.append)

    controller.tick()

    refused = ctx.store.rollouts.get(rollout.id)
    assert refused.status == "refused"
    assert "smoke: predicts 1 for row 3" in (refused.reason or "")
    assert _share(ctx, 2) == 0.0
    assert len(traffic.history(ctx, "churn")) == 1  # no table change at all
    (verdict,) = ctx.store.rollouts.verdicts(rollout.id)
    assert verdict.evidence["checks"][0]["evidence"] == {"row": 3}
    assert sent[-1].kind == "rollout.rolled_back"


def _labelled(ctx: Context, arms: dict[int, tuple[int, int]]) -> None:
    """Through the gateway's own writers: ``arms[version] = (requests, wrong)`` one-row
    predictions of class 1 in the step's first minute, each labelled 30 s later."""
    predlog, labels = PredictionLog(ctx.artifacts_url), LabelLog(ctx.artifacts_url)
    for version, (requests, wrong) in arms.items():
        for i in range(requests):
            at = T0 + timedelta(seconds=i * 50 / requests)
            rid = f"v{version}-{i}"
            inputs = pd.DataFrame({"x": [float(i)]})
            predlog.observe(Prediction(rid, "churn", version, inputs, np.array([1]), 0.01, at))
            truth = "0" if i < wrong else "1"
            labels.record([Label(rid, truth, at + timedelta(seconds=5), "churn")])
    predlog.close()
    labels.close()


def test_a_less_accurate_canary_fails_on_accuracy_from_delayed_labels(ctx: Context) -> None:
    rollout, controller, clock, _ = _deploy(ctx)
    controller.tick()
    _windows(ctx.store, T0, 6, {2: (200, 2), 1: (3800, 38)})  # errors and latency alike
    _labelled(ctx, {2: (400, 120), 1: (1600, 80)})  # 70% right against 95%
    clock.now = T0 + timedelta(seconds=60)

    controller.tick()

    done = ctx.store.rollouts.get(rollout.id)
    assert (done.status, done.step) == ("rolled_back", 0)
    assert _share(ctx, 2) == 0.0
    (verdict,) = ctx.store.rollouts.verdicts(rollout.id)
    assert verdict.decision == "fail"
    assert "accuracy" in verdict.explanation
    metrics = {m["metric"]: m for m in verdict.evidence["metrics"]}
    assert metrics["accuracy"]["decision"] == "fail"
    assert metrics["error_rate"]["decision"] != "fail"
    assert (metrics["accuracy"]["n_canary"], metrics["accuracy"]["n_stable"]) == (400, 1600)
    assert metrics["accuracy"]["min_sample"] > 0
    assert verdict.evidence["labels"] == {
        "canary": {"labelled": 400, "wrong": 120},
        "stable": {"labelled": 1600, "wrong": 80},
    }


def test_an_equally_accurate_canary_passes_and_no_labels_never_block(ctx: Context) -> None:
    rollout, controller, clock, _ = _deploy(ctx)
    controller.tick()
    _windows(ctx.store, T0, 12, {2: (200, 2), 1: (3800, 38)})
    _labelled(ctx, {2: (100, 5), 1: (1900, 95)})  # 95% right on both: far below min sample
    clock.now = T0 + timedelta(seconds=120)

    controller.tick()

    moved = ctx.store.rollouts.get(rollout.id)
    assert (moved.status, moved.step) == ("progressing", 1)  # inconclusive labels don't hold it
    (verdict,) = ctx.store.rollouts.verdicts(rollout.id)
    metrics = {m["metric"]: m for m in verdict.evidence["metrics"]}
    assert verdict.decision == "pass"
    assert metrics["accuracy"]["decision"] == "inconclusive"
    assert verdict.evidence["labels"]["canary"] == {"labelled": 100, "wrong": 5}

    _windows(ctx.store, clock.now, 12, {2: (2000, 20), 1: (2000, 20)})  # step 2: no labels
    clock.now += timedelta(seconds=120)
    controller.tick()
    assert ctx.store.rollouts.get(rollout.id).status == "promoted"
    last = ctx.store.rollouts.verdicts(rollout.id)[-1]
    assert "accuracy" not in {m["metric"] for m in last.evidence["metrics"]}


def log_disagreeing_shadow(ctx: Context) -> None:
    """200 requests from 12:00:00, one every 0.25 s: v1 answers 1, its shadow v2 answers 0
    and 1 in turn (50% agreement)."""
    predlog = PredictionLog(ctx.artifacts_url)
    for i in range(200):
        at = T0 + timedelta(seconds=i / 4)
        inputs = pd.DataFrame({"x": [float(i)]})
        primary = Prediction(f"r{i}", "churn", 1, inputs, np.array([1]), 0.01, at)
        shadow = Prediction(f"r{i}", "churn", 2, inputs, np.array([i % 2]), 0.01, at)
        predlog.observe(primary)
        predlog.observe_shadow(shadow, primary)
    predlog.close()


def test_a_shadow_that_disagrees_with_the_primary_is_rolled_back_on_agreement(
    ctx: Context,
) -> None:
    rollout, controller, clock, sent = _deploy(ctx, strategy="shadow", share=1.0)
    controller.tick()
    table = get_table(ctx.store, "churn")
    assert table is not None
    assert 2 in {s.version for s in table.shadows}
    log_disagreeing_shadow(ctx)
    clock.now = T0 + timedelta(seconds=60)

    controller.tick()

    done = ctx.store.rollouts.get(rollout.id)
    assert done.status == "rolled_back"
    table = get_table(ctx.store, "churn")
    assert table is not None
    assert not table.shadows
    (verdict,) = ctx.store.rollouts.verdicts(rollout.id)
    metrics = {m["metric"]: m for m in verdict.evidence["metrics"]}
    assert metrics["agreement"]["decision"] == "fail"
    assert verdict.evidence["agreement"] == {"agreed": 100, "compared": 200}
    assert sent[-1].kind == "rollout.rolled_back"


def test_a_shadow_without_rows_yet_is_held_not_failed(ctx: Context) -> None:
    rollout, controller, clock, _ = _deploy(ctx, strategy="shadow", share=1.0)
    controller.tick()
    clock.now = T0 + timedelta(seconds=60)
    controller.tick()
    assert ctx.store.rollouts.get(rollout.id).status == "progressing"
    (verdict,) = ctx.store.rollouts.verdicts(rollout.id)
    assert verdict.decision == "inconclusive"


def test_a_gateway_controller_leads_the_models_it_serves_before_any_rollout(
    ctx: Context,
) -> None:
    """So a `deploy --wait` beside a running gateway watches, and the gateway drives."""
    gateway = Controller(ctx, leadership=Leadership(ctx.store))
    stop = threading.Event()
    thread = threading.Thread(
        target=gateway.run, args=(stop, 0.05), kwargs={"claim": lambda: ["churn"]}
    )
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while "churn" not in gateway.leadership.leads() and time.monotonic() < deadline:
            time.sleep(0.02)
        service.deploy(ctx, "churn", 2, DeployConfig(pretraffic=False))
        waiting = Controller(ctx, leadership=Leadership(ctx.store))  # what --wait builds
        waiting.tick()
        assert waiting.leadership.leads() == set()
        assert gateway.leadership.leads() == {"churn"}
    finally:
        stop.set()
        thread.join()


def test_a_controller_that_lost_the_lead_during_pretraffic_writes_no_traffic(
    ctx: Context,
) -> None:
    """Pre-traffic checks take seconds; if the lead moved meanwhile (a PostgreSQL connection
    dropped), the old leader must not write the table the new one now owns."""
    other = Controller(ctx)

    def slow_checks_while_the_lead_moves(_: Context, rollout: Rollout) -> PreTrafficReport:
        first.leadership.release("churn")
        assert other.leadership.try_lead("churn")  # the standby takes over meanwhile
        return PreTrafficReport(rollout.model, rollout.candidate, (Check("smoke", True, "ok"),))

    rollout = service.deploy(ctx, "churn", 2, DeployConfig())
    first = Controller(ctx, pretraffic=slow_checks_while_the_lead_moves)
    first.tick()

    assert _share(ctx, 2) == 0.0  # the old leader applied nothing
    assert ctx.store.rollouts.get(rollout.id).status == "pretraffic"
    other.pretraffic = lambda _, r: PreTrafficReport(r.model, r.candidate, ())
    other.tick()  # the new leader checks again and goes on
    assert ctx.store.rollouts.get(rollout.id).status == "progressing"
    assert _share(ctx, 2) > 0
    first.leadership.close()
    other.leadership.close()
