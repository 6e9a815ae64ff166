"""`conveyor deploy --wait`, `conveyor rollout ...` and `conveyor rollback` end to end, the
rollout driven by the controller `deploy --wait` runs when no other leads the model."""

from __future__ import annotations

import json

import pytest
from tests.cli.test_traffic_cli import project as project

from conveyor.store import open_store


@pytest.fixture
def served(project):
    """churn v1 serving all traffic and holding @champion."""
    store = open_store(f"sqlite:///{project / '.conveyor' / 'conveyor.db'}")
    try:
        store.deployments.save("churn", [(1, 100)], [], None, "ana@example.com", 0)
        store.registry.set_alias("churn", "champion", 1, "ana@example.com")
    finally:
        store.close()
    return project


def test_deploy_wait_exits_0_when_promoted_and_status_shows_it(served, cli):
    result = cli(
        "deploy",
        "churn",
        "2",
        "--strategy",
        "bluegreen",
        "--skip-pretraffic",
        "--wait",
        "--poll",
        "0.05",
        cwd=served,
    )

    assert result.exit_code == 0, result.output
    assert "bluegreen of churn v2 (stable v1)" in result.stdout
    assert "promoted" in result.stdout
    status = json.loads(cli("rollout", "status", "churn", "--json", cwd=served).stdout)
    assert (status["status"], status["candidate"], status["stable"]) == ("promoted", 2, 1)
    assert status["weights"] == {"2": 100.0}
    assert status["started_by"] == "ana@example.com"
    assert status["judge"] == "conveyor"


def test_deploy_takes_a_judge_and_refuses_an_unknown_one(served, cli):
    bad = cli("deploy", "churn", "2", "--judge", "spinnaker", cwd=served)
    started = cli("deploy", "churn", "2", "--judge", "kayenta", "--skip-pretraffic", cwd=served)

    assert bad.exit_code == 1
    assert "judge: Input should be 'conveyor', 'kayenta' or 'flagger'" in bad.output
    assert started.exit_code == 0, started.output
    assert "steps 5%, 25%, 50%, 100%, judge kayenta" in started.stdout
    status = cli("rollout", "status", "churn", cwd=served)
    assert "judge kayenta" in status.stdout
    assert (
        json.loads(cli("rollout", "status", "churn", "--json", cwd=served).stdout)["judge"]
        == "kayenta"
    )


def test_deploy_wait_exits_1_when_refused_before_any_traffic(served, cli):
    # the registered versions' model files do not exist: the candidate cannot even load
    result = cli("deploy", "churn", "2", "--wait", "--poll", "0.05", cwd=served)

    assert result.exit_code == 1, result.output
    assert "refused" in result.stdout
    status = json.loads(cli("rollout", "status", "churn", "--json", cwd=served).stdout)
    assert status["status"] == "refused"
    assert status["weights"] == {"1": 100.0}  # never any traffic
    assert status["verdict"]["evidence"]["checks"][0]["name"] == "load"


def test_a_second_deploy_names_the_running_rollout(served, cli):
    first = cli("deploy", "churn", "2", cwd=served)
    second = cli("deploy", "churn", "3", cwd=served)

    assert first.exit_code == 0, first.output
    rollout_id = first.stdout.split()[1].rstrip(":")
    assert second.exit_code == 1
    assert f"already has an active rollout: {rollout_id}" in second.output
    paused = cli("rollout", "pause", "churn", "--reason", "lunch", cwd=served)
    assert "paused" in paused.stdout
    aborted = cli("rollout", "abort", "churn", cwd=served)
    assert "aborted" in aborted.stdout
    history = cli("rollout", "history", "churn", cwd=served).stdout
    assert rollout_id in history
    assert "aborted" in history


def test_rollback_goes_to_the_previous_champion_or_to_the_version_named(served, cli):
    assert (
        cli(
            "deploy",
            "churn",
            "2",
            "--strategy",
            "bluegreen",
            "--skip-pretraffic",
            "--wait",
            "--poll",
            "0.05",
            cwd=served,
        ).exit_code
        == 0
    )

    back = cli("rollback", "churn", "--reason", "p99 doubled", cwd=served)
    assert back.exit_code == 0, back.output
    assert back.stdout.strip() == "churn: all traffic to v1, @champion moved to it"

    to = cli("rollback", "churn", "--to", "3", cwd=served)
    assert to.exit_code == 0, to.output
    shown = json.loads(cli("traffic", "show", "churn", "--json", cwd=served).stdout)
    assert [r["version"] for r in shown[0]["routes"]] == [3]
    store = open_store(f"sqlite:///{served / '.conveyor' / 'conveyor.db'}")
    try:
        rollbacks = [e for e in store.registry.events("churn") if e.kind == "rollback"]
        assert rollbacks[0].details == {"alias": "champion", "reason": "p99 doubled"}
        assert store.registry.alias_version("churn", "champion") == 3
    finally:
        store.close()
