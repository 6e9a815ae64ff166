"""A controller whose store fails says so once, reminds once a minute, and says when it is
back: not a warning every 5 s pass. The store fails for real (its rollouts table is renamed
away under the controller, then back)."""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta

import pytest
from tests.delivery.test_rollout_controller import Clock
from tests.delivery.test_rollout_controller import ctx as ctx

from conveyor.context import Context
from conveyor.delivery.rollout.controller import Controller, log
from conveyor.delivery.rollout.outage import OutageLog


def _rename(ctx: Context, old: str, new: str) -> None:
    path = ctx.store.url.removeprefix("sqlite:///")  # type: ignore[attr-defined]
    with sqlite3.connect(path) as connection:
        connection.execute(f"ALTER TABLE {old} RENAME TO {new}")


def test_a_store_outage_is_logged_once_then_once_a_minute_then_once_when_over(
    ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    controller = Controller(ctx, clock=clock)
    outage = OutageLog(log, clock, poll_s=5)
    caplog.set_level(logging.INFO, logger=log.name)
    controller.run_once(outage)
    _rename(ctx, "rollouts", "rollouts_away")

    for _ in range(20):  # 100 s of passes every 5 s against a failing store
        clock.now += timedelta(seconds=5)
        controller.run_once(outage)
    _rename(ctx, "rollouts_away", "rollouts")
    clock.now += timedelta(seconds=5)
    controller.run_once(outage)
    clock.now += timedelta(seconds=5)
    controller.run_once(outage)

    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == log.name]
    assert [level for level, _ in said] == ["WARNING", "WARNING", "INFO"]
    assert said[0][1].startswith("rollout controller: store unreachable; every rollout ")
    assert "retrying every 5 s" in said[0][1]
    assert "no such table: rollouts" in said[0][1]  # the error itself, once
    assert said[1][1].startswith(
        "rollout controller: store still unreachable after 60 s (13 failed passes): "
    )
    assert said[2][1] == "rollout controller: store reachable again after 100 s (20 failed passes)"
    assert not outage.failing


def test_an_unexpected_error_outside_any_rollout_is_logged_and_the_controller_goes_on(
    ctx: Context, caplog: pytest.LogCaptureFixture
) -> None:
    """A claim that raises (no ConveyorError) once stopped the controller's thread."""
    clock = Clock()
    controller = Controller(ctx, clock=clock)
    outage = OutageLog(log, clock, poll_s=5)
    caplog.set_level(logging.INFO, logger=log.name)
    served: dict[str, list[str]] = {}

    def claim() -> list[str]:
        return served["models"]  # KeyError until the gateway has loaded its models

    controller.run_once(outage, claim)
    served["models"] = ["churn"]
    clock.now += timedelta(seconds=5)
    controller.run_once(outage, claim)

    said = [r for r in caplog.records if r.name == log.name]
    assert [r.levelname for r in said] == ["WARNING", "INFO"]
    assert said[0].getMessage().startswith("rollout controller: a pass failed; ")
    assert said[0].getMessage().endswith("KeyError: 'models'")
    assert said[0].exc_info is not None  # a bug's traceback, once
    assert (
        said[1].getMessage()
        == "rollout controller: passes succeed again after 5 s (1 failed passes)"
    )
    assert controller.leadership.leads() == {"churn"}
    controller.leadership.close()
