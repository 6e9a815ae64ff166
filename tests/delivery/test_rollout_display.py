"""`deploy --wait` on a terminal: the live panel shows the step, the weights and the latest
verdict with its numbers, rendered by rich as on a real terminal (force_terminal)."""

from __future__ import annotations

import io
from datetime import timedelta

from rich.console import Console
from tests.delivery.test_rollout_controller import T0, _deploy, _windows
from tests.delivery.test_rollout_controller import ctx as ctx

from conveyor.cli.rollout_display import LiveFollow
from conveyor.context import Context
from conveyor.delivery.rollout import service


def test_the_live_panel_shows_step_weights_and_the_verdict(ctx: Context) -> None:
    _, controller, clock, _ = _deploy(ctx)
    controller.tick()
    _windows(ctx.store, T0, 3, {2: (200, 2), 1: (3800, 38)})
    clock.now = T0 + timedelta(seconds=30)
    controller.tick()
    terminal = io.StringIO()
    console = Console(file=terminal, force_terminal=True, width=120, color_system="standard")

    with LiveFollow(console) as live:
        live.show(service.status(ctx, "churn"))

    shown = terminal.getvalue()
    assert "\x1b[" in shown  # drawn for a terminal, colours and all
    assert "progressing" in shown
    assert "step 1/3 (5%)" in shown
    assert "judge conveyor" in shown
    assert "95%" in shown
    assert "5%" in shown
    assert "verdict" in shown
    assert "inconclusive" in shown or "pass" in shown
    assert "error_rate" in shown
    assert "n=400/7600" in shown  # each arm's sample (the first window: the warm-up)


def test_a_paused_rollout_says_why(ctx: Context) -> None:
    _, controller, _, _ = _deploy(ctx)
    controller.tick()
    service.pause(ctx, "churn", "waiting for the data team")
    terminal = io.StringIO()
    with LiveFollow(Console(file=terminal, width=120)) as live:
        live.show(service.status(ctx, "churn"))
    assert "paused" in terminal.getvalue()
    assert "waiting for the data team" in terminal.getvalue()
    service.resume(ctx, "churn")
    terminal = io.StringIO()
    with LiveFollow(Console(file=terminal, width=120)) as live:
        live.show(service.status(ctx, "churn"))
    assert "waiting for the data team" not in terminal.getvalue()
