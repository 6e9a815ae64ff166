"""`replay`: the controller's judgement on logged outcome windows, on a real store, without
writing to it: a faulty canary is rolled back at its first failing look, a good one walks
the policy's steps to promotion, silence pauses; the store's contents stay byte-equal."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from tests.delivery.test_rollout_controller import T0, _windows
from tests.delivery.test_rollout_controller import ctx as ctx

from conveyor.config import DeployConfig
from conveyor.context import Context
from conveyor.delivery.rollout.replay import replay
from conveyor.errors import InvalidValue, NotFoundError

POLICY = DeployConfig(steps=[5, 50, 100], interval="60s", pretraffic=False)


def _dump(ctx: Context) -> list[str]:
    path = ctx.store.url.removeprefix("sqlite:///")  # type: ignore[attr-defined]
    with sqlite3.connect(path) as connection:
        return list(connection.iterdump())


def test_a_faulty_canary_would_have_been_rolled_back_at_its_first_failing_look(
    ctx: Context,
) -> None:
    _windows(ctx.store, T0, 30, {2: (200, 20), 1: (3800, 38)})  # 10% errors against 1%
    before = _dump(ctx)

    result = replay(ctx, "churn", T0, T0 + timedelta(minutes=5), POLICY, candidate=2, stable=1)

    assert (result.candidate, result.stable) == (2, 1)
    assert result.outcome == "rolled_back"
    fail = result.first("fail")
    assert fail is not None
    assert result.decided_at == fail
    assert fail <= T0 + timedelta(seconds=60)
    last = result.verdicts[-1]
    assert (last.step, last.weight, last.action) == (0, 5, "roll back")
    assert last.share == pytest.approx(0.05)
    metrics = {m["metric"]: m for m in last.evidence["metrics"]}
    assert metrics["error_rate"]["decision"] == "fail"
    assert _dump(ctx) == before  # nothing written: no verdict, no table, no rollout


def test_a_good_canary_walks_the_policys_steps_to_promotion(ctx: Context) -> None:
    _windows(ctx.store, T0, 30, {2: (200, 2), 1: (3800, 38)})
    before = _dump(ctx)

    result = replay(ctx, "churn", T0, T0 + timedelta(minutes=5), POLICY, candidate=2, stable=1)

    assert result.outcome == "promoted"
    assert result.first("fail") is None
    moves = [(v.at - T0, v.step, v.action) for v in result.verdicts if v.action != "hold"]
    assert moves == [
        (timedelta(seconds=60), 0, "next step"),
        (timedelta(seconds=120), 1, "promote"),
    ]
    assert result.decided_at == T0 + timedelta(seconds=120)
    assert {v.weight for v in result.verdicts} == {5, 50}
    assert result.as_dict()["promoted_at"] == (T0 + timedelta(seconds=120)).isoformat()
    assert _dump(ctx) == before


def test_no_traffic_for_the_candidate_would_have_paused_never_promoted(ctx: Context) -> None:
    _windows(ctx.store, T0, 30, {1: (3800, 38)})

    result = replay(ctx, "churn", T0, T0 + timedelta(minutes=5), POLICY, candidate=2, stable=1)

    assert result.outcome == "paused"
    assert result.decided_at == T0 + timedelta(seconds=180)  # 3 intervals inconclusive
    assert {v.decision for v in result.verdicts} == {"inconclusive"}


def test_the_versions_are_found_from_the_traffic_when_not_named(ctx: Context) -> None:
    _windows(ctx.store, T0, 6, {2: (200, 2), 1: (3800, 38)})

    result = replay(ctx, "churn", T0, T0 + timedelta(minutes=1), POLICY)

    assert (result.candidate, result.stable) == (2, 1)  # the newest against the busiest other


def test_a_period_without_two_versions_says_so(ctx: Context) -> None:
    _windows(ctx.store, T0, 6, {1: (3800, 38)})
    with pytest.raises(NotFoundError, match="nothing to compare"):
        replay(ctx, "churn", T0, T0 + timedelta(minutes=1), POLICY)
    with pytest.raises(InvalidValue, match="not after"):
        replay(ctx, "churn", T0, T0, POLICY)
    with pytest.raises(InvalidValue, match="only canary and ab"):
        replay(ctx, "churn", T0, T0 + timedelta(minutes=1), DeployConfig(strategy="shadow"))
