"""A real `conveyor rollout run` killed with SIGKILL mid-rollout: the next one resumes at the
step the store recorded (not from the first), completes, and the verdict and traffic
histories have no step twice and none lost. Outcome windows are synthetic, written to the
store for the next minutes, so each step's verdict can pass as soon as a window is in."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from tests.cli.test_rollout_cli import served as served
from tests.cli.test_traffic_cli import project as project
from tests.delivery.test_rollout_controller import _windows

from conveyor.ids import utcnow
from conveyor.monitoring.outcomes import window_start
from conveyor.store import open_store

CONVEYOR = [sys.executable, "-m", "conveyor"]
STEPS = [50.0, 60.0, 70.0, 100.0]  # the canary's share of errors never exceeds its share


def _controller(root):
    env = {**os.environ, "CONVEYOR_USER": "ana@example.com"}
    return subprocess.Popen(
        [*CONVEYOR, "rollout", "run", "--poll", "0.2"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for(store, rollout_id, done, timeout_s=90.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rollout = store.rollouts.get(rollout_id)
        if done(rollout) or rollout.status == "paused":
            return rollout
        time.sleep(0.1)
    raise AssertionError(f"rollout never got there: {store.rollouts.get(rollout_id)}")


@pytest.mark.slow
def test_a_killed_controller_is_resumed_at_its_step_and_completes(served, cli):
    deployed = cli(
        "deploy",
        "churn",
        "2",
        "--steps",
        "50,60,70,100",
        "--interval",
        "5s",
        "--skip-pretraffic",
        cwd=served,
    )
    assert deployed.exit_code == 0, deployed.output
    store = open_store(f"sqlite:///{served / '.conveyor' / 'conveyor.db'}")
    try:
        start = window_start(utcnow().timestamp()) - timedelta(seconds=10)
        _windows(store, start, 20, {2: (5000, 50), 1: (5000, 50)})
        rollout_id = store.rollouts.active("churn")[0].id

        first = _controller(served)
        try:
            killed_at = _wait_for(store, rollout_id, lambda r: r.step >= 1).step
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        before = store.rollouts.verdicts(rollout_id)

        second = _controller(served)
        try:
            done = _wait_for(store, rollout_id, lambda r: not r.active)
        finally:
            second.terminate()
            second.wait(timeout=10)

        assert done.status == "promoted", done.reason
        verdicts = store.rollouts.verdicts(rollout_id)
        resumed = verdicts[len(before) :]
        assert resumed, "the second controller judged nothing"
        assert [v.decision for v in verdicts].count("fail") == 0
        assert resumed[0].step >= killed_at  # resumed at the recorded step, not from step 1
        steps = [v.step for v in verdicts]
        assert steps == sorted(steps)  # never back to an earlier step
        assert set(steps) == {0, 1, 2}  # no step lost
        passed = [
            s for s in range(3) if any(v.step == s and v.decision == "pass" for v in verdicts)
        ]
        assert passed == [0, 1, 2]
        tables = [e.after for e in store.registry.events("churn") if e.kind == "traffic"]
        steps_applied = [t for t in tables if t not in ("1=100", "2=100")]
        assert steps_applied == ["1=50 2=50", "1=40 2=60", "1=30 2=70"], tables  # once each
        assert store.registry.alias_version("churn", "champion") == 2
    finally:
        store.close()
