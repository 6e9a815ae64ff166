"""One model whose rollout cannot be judged does not stall the others: its prediction log
holds a truncated Parquet file (as a crash mid-write leaves one), so reading its labels
fails; its rollout records the error as an inconclusive verdict and pauses after the
inconclusive limit, while another model's canary steps through to promotion on schedule. The
failure is logged once, reminded once a minute, and said once when it clears."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.delivery.test_rollout_controller import T0, Clock, _windows
from tests.delivery.test_rollout_controller import ctx as ctx
from tests.store.test_deployments_contract import register

from conveyor.config import DeployConfig
from conveyor.context import Context
from conveyor.delivery import traffic
from conveyor.delivery.rollout import service
from conveyor.delivery.rollout.controller import Controller, log
from conveyor.monitoring.observation import Prediction
from conveyor.monitoring.outcomes import LATENCY_BINS
from conveyor.notify.events import Notification
from conveyor.serving.predlog import PredictionLog
from conveyor.store.entities import OutcomeWindow

CONFIG = DeployConfig(steps=[5, 50, 100], interval="60s", pretraffic=False)  # type: ignore[arg-type]


def _second_model(ctx: Context) -> None:
    """``fraud`` v1 stable with all its traffic, v2 registered: a second model to roll out."""
    register(ctx.store, "fraud", count=2)
    traffic.set_traffic(ctx, "fraud", {1: 100})
    ctx.store.registry.set_alias("fraud", "champion", 1, "ana@example.com")


def _corrupt_prediction_log(ctx: Context, model: str) -> Path:
    """``model``'s predictions of the step's first seconds, written by the gateway's own
    writer, then its file cut in half: a truncated Parquet file. Returns the file."""
    predlog = PredictionLog(ctx.artifacts_url)
    for i in range(20):
        inputs = pd.DataFrame({"x": [float(i)]})
        at = T0 + timedelta(seconds=i)
        predlog.observe(Prediction(f"r{i}", model, 2, inputs, np.array([1]), 0.01, at))
    predlog.close()
    (written,) = Path(ctx.artifacts_url).rglob(f"predictions/{model}/**/*.parquet")
    data = written.read_bytes()
    written.write_bytes(data[: len(data) // 2])
    return written


def _fraud_windows(
    ctx: Context, start: datetime, count: int, arms: dict[int, tuple[int, int]]
) -> None:
    """As the controller tests' ``_windows``, for ``fraud``: ``arms[version] = (requests,
    errors)`` in each of ``count`` 10 s windows from ``start``."""
    rows = [
        OutcomeWindow(
            "fraud",
            version,
            start + timedelta(seconds=10 * i),
            10,
            requests,
            model_errors=errors,
            latency=tuple(requests if b == 20 else 0 for b in range(LATENCY_BINS)),
        )
        for i in range(count)
        for version, (requests, errors) in arms.items()
    ]
    ctx.store.signals.add_windows(rows, "gateway-test")


def test_a_model_whose_evidence_cannot_be_read_pauses_alone(ctx: Context) -> None:
    _second_model(ctx)
    sent: list[Notification] = []
    broken = service.deploy(ctx, "churn", 2, CONFIG, sent.append)  # first: judged first
    healthy = service.deploy(ctx, "fraud", 2, CONFIG, sent.append)
    clock = Clock()
    controller = Controller(ctx, clock=clock, notify=sent.append)
    controller.tick()  # both start: step 0's weights
    damaged = _corrupt_prediction_log(ctx, "churn")
    _windows(ctx.store, T0, 24, {2: (200, 2), 1: (3800, 38)})  # churn: a healthy canary too
    _fraud_windows(ctx, T0, 12, {2: (200, 2), 1: (3800, 38)})

    clock.now = T0 + timedelta(seconds=120)
    controller.tick()
    assert ctx.store.rollouts.get(healthy.id).step == 1  # fraud moved on at 5%
    _fraud_windows(ctx, clock.now, 12, {2: (2000, 20), 1: (2000, 20)})
    stuck = ctx.store.rollouts.get(broken.id)
    assert (stuck.status, stuck.step) == ("progressing", 0)

    clock.now = T0 + timedelta(seconds=240)
    controller.tick()

    assert ctx.store.rollouts.get(healthy.id).status == "promoted"
    assert ctx.store.registry.alias_version("fraud", "champion") == 2
    paused = ctx.store.rollouts.get(broken.id)
    assert (paused.status, paused.step) == ("paused", 0)
    assert (paused.reason or "").startswith("inconclusive for 240 s at 5%: could not judge: ")
    assert damaged.name in (paused.reason or "")
    shown = service.status(ctx, "churn").as_dict()["verdict"]
    assert shown["decision"] == "inconclusive"
    assert "could not be read" in shown["explanation"]
    assert shown["evidence"]["judge"] == "conveyor"
    assert shown["evidence"]["error"]["type"] == "ArtifactError"
    assert damaged.name in shown["evidence"]["error"]["message"]
    churn_events = [n.kind for n in sent if n.model == "churn"]
    assert churn_events == ["rollout.started", "rollout.paused"]
    assert ctx.store.registry.alias_version("churn", "champion") == 1


def test_a_failing_model_is_logged_once_then_once_a_minute_then_once_when_cleared(
    ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    service.deploy(ctx, "churn", 2, CONFIG)
    clock = Clock()
    controller = Controller(ctx, clock=clock)
    caplog.set_level(logging.INFO, logger=log.name)
    controller.tick()
    damaged = _corrupt_prediction_log(ctx, "churn")
    _windows(ctx.store, T0, 18, {2: (200, 2), 1: (3800, 38)})

    for _ in range(20):  # 100 s of passes every 5 s, each failing on the damaged file
        clock.now += timedelta(seconds=5)
        controller.tick()
    damaged.rename(damaged.with_suffix(".damaged"))  # moved aside, as the hint says
    for _ in range(7):  # the failed read is kept for 30 s like a good one
        clock.now += timedelta(seconds=5)
        controller.tick()

    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == log.name]
    assert [level for level, _ in said] == ["WARNING", "WARNING", "INFO"], said
    assert said[0][1].startswith("rollout controller: churn's rollout ")
    assert "could not be read" in said[0][1]
    assert "other models' rollouts go on" in said[0][1]
    assert " still fails after 60 s (13 failed passes): " in said[1][1]
    assert said[2][1].endswith("passes again after 120 s (24 failed passes); now progressing")
