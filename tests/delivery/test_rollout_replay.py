"""`replay`: the controller's judgement on logged outcome windows, on a real store, without
writing to it: a faulty canary is rolled back at its first failing look, a good one walks
the policy's steps to promotion, silence pauses; the store's contents stay byte-equal."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from tests.delivery.test_rollout_controller import T0, _windows, log_disagreeing_shadow
from tests.delivery.test_rollout_controller import ctx as ctx

from conveyor.config import DeployConfig
from conveyor.context import Context
from conveyor.delivery.rollout.replay import replay
from conveyor.errors import InvalidValue, NotFoundError
from conveyor.monitoring.labels import Label
from conveyor.monitoring.observation import Prediction
from conveyor.serving.feedback import LabelLog
from conveyor.serving.predlog import PredictionLog

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
    assert moves == [  # the canary's first logged window is its warm-up: step 1 judged from 10 s
        (timedelta(seconds=70), 0, "next step"),
        (timedelta(seconds=130), 1, "promote"),  # already answering: step 2 has no warm-up
    ]
    assert result.verdicts[0].explanation.startswith("warming up: v2 first answered")
    analysis = [v.evidence["analysis"] for v in result.verdicts if v.action != "hold"]
    assert [a["warmup_window"] for a in analysis] == [T0.isoformat(), None]
    assert result.decided_at == T0 + timedelta(seconds=130)
    assert {v.weight for v in result.verdicts} == {5, 50}
    assert result.as_dict()["promoted_at"] == (T0 + timedelta(seconds=130)).isoformat()
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
    with pytest.raises(InvalidValue, match="bluegreen, which switches at once"):
        replay(ctx, "churn", T0, T0 + timedelta(minutes=1), DeployConfig(strategy="bluegreen"))


def _labelled(ctx: Context, arms: dict[int, tuple[int, int]], delay_s: float) -> None:
    """Through the gateway's own writers: ``arms[version] = (requests, wrong)`` one-row
    predictions of class 1 over the first 50 s, every tenth one wrong until ``wrong`` are,
    each labelled ``delay_s`` seconds after it was made."""
    predlog, labels = PredictionLog(ctx.artifacts_url), LabelLog(ctx.artifacts_url)
    for version, (requests, wrong) in arms.items():
        for i in range(requests):
            at = T0 + timedelta(seconds=i * 50 / requests)
            rid = f"v{version}-{i}"
            inputs = pd.DataFrame({"x": [float(i)]})
            predlog.observe(Prediction(rid, "churn", version, inputs, np.array([1]), 0.01, at))
            truth = "0" if i % 10 < 10 * wrong / requests else "1"
            labels.record([Label(rid, truth, at + timedelta(seconds=delay_s), "churn")])
    predlog.close()
    labels.close()


def test_labels_showing_an_accuracy_drop_would_have_rolled_the_canary_back(
    ctx: Context,
) -> None:
    _windows(ctx.store, T0, 30, {2: (200, 2), 1: (3800, 38)})  # errors and latency alike
    _labelled(ctx, {2: (400, 120), 1: (1600, 80)}, delay_s=5)  # 70% right against 95%
    before = _dump(ctx)

    result = replay(ctx, "churn", T0, T0 + timedelta(minutes=5), POLICY, candidate=2, stable=1)

    assert result.outcome == "rolled_back"
    assert result.decided_at == result.first("fail") == T0 + timedelta(seconds=20)
    last = result.verdicts[-1]
    assert (last.step, last.action, last.explanation) == (0, "roll back", "failed on accuracy")
    metrics = {m["metric"]: m for m in last.evidence["metrics"]}
    assert metrics["accuracy"]["decision"] == "fail"
    assert metrics["error_rate"]["decision"] != "fail"
    labels = last.evidence["labels"]  # what had arrived by 12:00:20: predictions up to 12:00:15
    assert labels["canary"]["labelled"] == 120
    assert labels["canary"]["wrong"] == 36
    assert _dump(ctx) == before


def test_labels_that_came_after_the_step_moved_on_are_not_used_as_if_known(
    ctx: Context,
) -> None:
    _windows(ctx.store, T0, 30, {2: (200, 2), 1: (3800, 38)})
    _labelled(ctx, {2: (400, 120), 1: (1600, 80)}, delay_s=90)  # after step 1 passed (70 s)

    result = replay(ctx, "churn", T0, T0 + timedelta(minutes=5), POLICY, candidate=2, stable=1)

    assert result.outcome == "promoted"  # as the controller would have: it never saw them
    assert all("accuracy" not in v.explanation for v in result.verdicts)
    assert result.verdicts[5].evidence["labels"]["canary"]["labelled"] == 0  # 12:01:00


def test_a_shadow_that_disagreed_would_have_been_rolled_back(ctx: Context) -> None:
    log_disagreeing_shadow(ctx)
    policy = DeployConfig(strategy="shadow", share=1.0, duration="10m", pretraffic=False)

    result = replay(ctx, "churn", T0, T0 + timedelta(minutes=5), policy, candidate=2, stable=1)

    assert result.outcome == "rolled_back"
    last = result.verdicts[-1]
    metrics = {m["metric"]: m for m in last.evidence["metrics"]}
    assert metrics["agreement"]["decision"] == "fail"
    assert last.evidence["agreement"]["compared"] < 200  # only the rows made by then
