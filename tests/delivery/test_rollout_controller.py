"""The rollout controller's step machine on a real store, fed synthetic outcome windows
through the signals repository: a good canary is promoted, a failing one rolled back at its
first failing verdict, no traffic pauses it; one leader per model; pre-traffic refusal."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from tests.store.test_deployments_contract import register

from conveyor.config import DeployConfig
from conveyor.context import Context
from conveyor.delivery import traffic
from conveyor.delivery.deployments import get_table
from conveyor.delivery.pretraffic import Check, PreTrafficReport
from conveyor.delivery.rollout import service
from conveyor.delivery.rollout.controller import Controller
from conveyor.delivery.rollout.leader import Leadership
from conveyor.monitoring.outcomes import LATENCY_BINS
from conveyor.notify.events import Notification
from conveyor.settings import Settings
from conveyor.store import Store, open_store
from conveyor.store.entities import OutcomeWindow, Rollout

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
    context = Context(Settings(user="ana@example.com"), None, store=store)
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
