"""`conveyor rollout replay` on a project's logged outcome windows: the policy comes from the
file given, the answer says what would have happened and when, as text and as JSON."""

from __future__ import annotations

import json

from tests.cli.test_rollout_cli import served as served
from tests.cli.test_traffic_cli import project as project
from tests.delivery.test_rollout_controller import T0, _windows

from conveyor.store import open_store


def test_replay_says_when_the_policy_would_have_rolled_back(served, cli, tmp_path):
    store = open_store(f"sqlite:///{served / '.conveyor' / 'conveyor.db'}")
    try:
        _windows(store, T0, 30, {2: (200, 20), 1: (3800, 38)})
    finally:
        store.close()
    policy = tmp_path / "policy.yaml"
    policy.write_text("deploy:\n  steps: [10, 100]\n  interval: 30s\n")
    period = ["--from", "2026-12-01T12:00:00", "--to", "2026-12-01T12:05:00"]

    text = cli("rollout", "replay", "churn", *period, "--policy", str(policy), cwd=served)
    found = cli(
        "rollout", "replay", "churn", *period, "--policy", str(policy), "--json", cwd=served
    )

    assert text.exit_code == 0, text.output
    assert "v2 against v1" in text.stdout
    assert "canary 10%, 100% every 30 s" in text.stdout
    assert "would have: rolled back at 2026-12-01 12:00:" in text.stdout
    data = json.loads(found.stdout)
    assert data["outcome"] == "rolled_back"
    assert data["policy"]["steps"] == [10.0, 100.0]
    assert data["first_fail"] == data["decided_at"]
    assert data["verdicts"][-1]["weight"] == 10.0


def test_replay_names_a_bad_policy_and_a_bad_time(served, cli, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("deploy:\n  steps: [50, 20]\n")
    bad = cli(
        "rollout",
        "replay",
        "churn",
        "--from",
        "2h",
        "--to",
        "1h",
        "--policy",
        str(policy),
        cwd=served,
    )
    when = cli("rollout", "replay", "churn", "--from", "yesterday", "--to", "1h", cwd=served)

    assert bad.exit_code == 1
    assert "policy.yaml (deploy:)" in bad.output
    assert "steps" in bad.output
    assert when.exit_code == 1
    assert "--from 'yesterday' is neither a duration nor a date" in when.output


def test_rollout_report_writes_the_page_and_its_plots(served, cli, tmp_path):
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

    result = cli("rollout", "report", "churn", "-o", str(tmp_path / "out"), cwd=served)
    html = cli("rollout", "report", "churn", "-o", str(tmp_path), "--format", "html", cwd=served)

    assert result.exit_code == 0, result.output
    text = (tmp_path / "out" / "rollout.md").read_text()
    assert "of churn: v2 over v1, promoted" in text
    assert (tmp_path / "out" / "weights.png").read_bytes().startswith(b"\x89PNG")
    assert html.exit_code == 0, html.output
    assert (tmp_path / "rollout.html").exists()


def test_replay_takes_the_judge_from_the_policy_or_judge_and_names_a_bad_one(served, cli, tmp_path):
    store = open_store(f"sqlite:///{served / '.conveyor' / 'conveyor.db'}")
    try:
        _windows(store, T0, 30, {2: (200, 4), 1: (3800, 76)})  # both fail 2%
    finally:
        store.close()
    policy = tmp_path / "policy.yaml"
    policy.write_text("deploy:\n  steps: [10, 100]\n  interval: 30s\n  judge: flagger\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("deploy:\n  judge: spinnaker\n")
    period = ["--from", "2026-12-01T12:00:00", "--to", "2026-12-01T12:05:00"]

    flagger = cli("rollout", "replay", "churn", *period, "--policy", str(policy), cwd=served)
    conveyor = cli(
        "rollout", "replay", "churn", *period, "--policy", str(policy), "--judge", "conveyor",
        cwd=served,
    )  # fmt: skip
    refused = cli("rollout", "replay", "churn", *period, "--policy", str(bad), cwd=served)

    assert flagger.exit_code == 0, flagger.output
    assert "every 30 s, judge flagger" in flagger.stdout
    assert "would have: rolled back" in flagger.stdout
    assert "judge conveyor" in conveyor.stdout
    assert "would have: promoted" in conveyor.stdout
    assert refused.exit_code == 1
    assert "bad.yaml (deploy:): judge: Input should be 'conveyor', 'kayenta' or 'flagger'" in (
        refused.output
    )
