"""A cold canary is not judged on its loading: a step's analysis, and the interval it is held,
begin at the candidate's first routed window, and that window (its first, slow requests) is
left out as its warm-up; until then the step is waiting for traffic, and pauses if it waits
too long. Fed outcome windows as a gateway that loads the canary late would write them."""

from __future__ import annotations

from datetime import timedelta

from tests.delivery.test_rollout_controller import T0, _deploy, _windows
from tests.delivery.test_rollout_controller import ctx as ctx

from conveyor.context import Context
from conveyor.monitoring.outcomes import LATENCY_BINS
from conveyor.store.entities import OutcomeWindow, Rollout, RolloutVerdict

FAST, SLOW = 20, 30  # latency bins: ~32 ms and ~560 ms


def _window(at: int, requests: int, errors: int, latency_bin: int) -> OutcomeWindow:
    latency = [0] * LATENCY_BINS
    latency[latency_bin] = requests
    start = T0 + timedelta(seconds=at)
    return OutcomeWindow(
        "churn", 2, start, 10, requests, model_errors=errors, latency=tuple(latency)
    )


def _last(ctx: Context, rollout: Rollout) -> RolloutVerdict:
    return ctx.store.rollouts.verdicts(rollout.id)[-1]


def test_a_cold_canarys_first_slow_window_is_its_warm_up_not_a_rollback(ctx: Context) -> None:
    rollout, controller, clock, _ = _deploy(ctx)  # 5% -> 50% -> 100%, interval 60 s
    controller.tick()  # the table is written at T0; the gateway loads v2 for 30 s
    _windows(ctx.store, T0, 12, {1: (3800, 38)})
    first = _window(30, 100, 1, SLOW)  # model load and first calls: 17x slower
    warm = [_window(at, 200, 2, FAST) for at in range(40, 120, 10)]
    ctx.store.signals.add_windows([first, *warm], "gateway-test")

    clock.now = T0 + timedelta(seconds=20)
    controller.tick()
    waiting = _last(ctx, rollout)
    assert waiting.decision == "inconclusive"
    assert waiting.explanation.startswith(
        "waiting for traffic: v2 has answered no request since the step began at 12:00:00"
    )
    assert waiting.evidence["analysis"]["first_routed"] is None

    clock.now = T0 + timedelta(seconds=45)
    controller.tick()
    warming = _last(ctx, rollout)
    assert warming.decision == "inconclusive"
    assert warming.explanation.startswith(
        "warming up: v2 first answered in the window from 12:00:30, left out as its warm-up"
    )

    clock.now = T0 + timedelta(seconds=90)  # 50 s of analysis: all passes, interval not held
    controller.tick()
    held = ctx.store.rollouts.get(rollout.id)
    assert (held.status, held.step) == ("progressing", 0)
    judged = _last(ctx, rollout)
    assert judged.decision != "fail"
    assert judged.evidence["requests"]["canary"] == 1000  # 5 warm windows, not the cold one
    assert judged.evidence["analysis"] == {
        "step_began": T0.isoformat(),
        "first_routed": (T0 + timedelta(seconds=30)).isoformat(),
        "warmup_window": (T0 + timedelta(seconds=30)).isoformat(),
        "judged_from": (T0 + timedelta(seconds=40)).isoformat(),
    }

    clock.now = T0 + timedelta(seconds=100)  # held 60 s from the first judged window
    controller.tick()
    moved = ctx.store.rollouts.get(rollout.id)
    assert (moved.status, moved.step) == ("progressing", 1)
    assert _last(ctx, rollout).decision == "pass"

    ctx.store.signals.add_windows([_window(120, 2000, 20, FAST)], "gateway-test")
    clock.now = T0 + timedelta(seconds=130)
    controller.tick()  # already answering when step 2 began: no warm-up left out
    analysis = _last(ctx, rollout).evidence["analysis"]
    assert analysis["warmup_window"] is None
    assert analysis["judged_from"] == (T0 + timedelta(seconds=100)).isoformat()


def test_a_canary_that_never_gets_traffic_pauses_waiting_for_it(ctx: Context) -> None:
    rollout, controller, clock, sent = _deploy(ctx)
    controller.tick()
    _windows(ctx.store, T0, 24, {1: (3800, 38)})

    clock.now = T0 + timedelta(seconds=170)
    controller.tick()
    assert ctx.store.rollouts.get(rollout.id).status == "progressing"
    clock.now = T0 + timedelta(seconds=180)  # 3 intervals of 60 s, all waiting
    controller.tick()

    paused = ctx.store.rollouts.get(rollout.id)
    assert paused.status == "paused"
    assert (paused.reason or "").startswith("inconclusive for 180 s at 5%: waiting for traffic")
    assert sent[-1].kind == "rollout.paused"
