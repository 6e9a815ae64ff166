"""`deploy.judge` picks who judges a rollout's steps, in the controller and in replay: the
same windows get Conveyor's, Kayenta's or Flagger's verdict, and the evidence says which."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.delivery.test_rollout_controller import T0, Clock, _windows
from tests.delivery.test_rollout_controller import ctx as ctx

from conveyor.config import DeployConfig
from conveyor.context import Context
from conveyor.delivery.rollout import service
from conveyor.delivery.rollout.controller import Controller
from conveyor.delivery.rollout.evidence import make_judge
from conveyor.delivery.rollout.replay import replay
from conveyor.errors import InvalidValue


def _run(ctx: Context, judge: str, until: timedelta) -> tuple[str, int, dict]:  # type: ignore[type-arg]
    """Deploy v2 judged by ``judge``, tick at T0 and at T0 + ``until``; (status, step,
    the last verdict's evidence)."""
    config = DeployConfig(steps=[5, 50, 100], interval="60s", pretraffic=False, judge=judge)  # type: ignore[arg-type]
    rollout = service.deploy(ctx, "churn", 2, config)
    clock = Clock()
    controller = Controller(ctx, clock=clock)
    controller.tick()
    clock.now = T0 + until
    controller.tick()
    done = ctx.store.rollouts.get(rollout.id)
    return done.status, done.step, ctx.store.rollouts.verdicts(rollout.id)[-1].evidence


@pytest.mark.parametrize(
    ("judge", "status", "step", "test"),
    [
        ("conveyor", "progressing", 0, "always-valid mixture test on error counts (Lindon-Malek)"),
        ("kayenta", "progressing", 1, "Mann-Whitney U with Hodges-Lehmann interval (Kayenta)"),
    ],
)
def test_kayenta_passes_a_step_on_fewer_requests_than_conveyor_asks(
    ctx: Context, judge: str, status: str, step: int, test: str
) -> None:
    _windows(ctx.store, T0, 4, {2: (200, 2), 1: (3800, 38)})  # alike, 600-800 canary requests

    found = _run(ctx, judge, timedelta(seconds=70))

    assert found[:2] == (status, step)  # conveyor waits for its minimum sample (960)
    assert found[2]["judge"] == judge
    assert test in {m["test"] for m in found[2]["metrics"]}


@pytest.mark.parametrize(
    ("judge", "status"), [("conveyor", "progressing"), ("flagger", "rolled_back")]
)
def test_flagger_rolls_back_a_canary_as_good_as_stable_below_its_99_percent_line(
    ctx: Context, judge: str, status: str
) -> None:
    _windows(ctx.store, T0, 8, {2: (200, 4), 1: (3800, 76)})  # both fail 2% of requests

    found = _run(ctx, judge, timedelta(seconds=80))

    assert found[0] == status
    assert found[2]["judge"] == judge
    if judge == "flagger":
        assert {m["decision"] for m in found[2]["metrics"]} == {"fail"}
        assert "success 98.00% (>= 99%)" in found[2]["metrics"][0]["explanation"]


def test_replay_judges_with_the_policys_judge(ctx: Context) -> None:
    _windows(ctx.store, T0, 30, {2: (200, 4), 1: (3800, 76)})
    policy = DeployConfig(steps=[5, 50, 100], interval="60s", pretraffic=False)
    until = T0 + timedelta(minutes=5)

    conveyor = replay(ctx, "churn", T0, until, policy, candidate=2, stable=1)
    flagger = replay(
        ctx,
        "churn",
        T0,
        until,
        policy.model_copy(update={"judge": "flagger"}),
        candidate=2,
        stable=1,
    )

    assert conveyor.outcome == "promoted"
    assert flagger.outcome == "rolled_back"
    assert (conveyor.policy["judge"], flagger.policy["judge"]) == ("conveyor", "flagger")
    assert flagger.verdicts[-1].evidence["judge"] == "flagger"


def test_an_unknown_judge_is_refused_naming_the_choices() -> None:
    with pytest.raises(InvalidValue, match="expected conveyor, kayenta or flagger"):
        make_judge("spinnaker", [])
