"""``conveyor monitor prune``: old gateway windows go, recent ones stay, and too short a
retention is refused before anything is deleted."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from conveyor.cli.main import main
from conveyor.ids import utcnow
from conveyor.store import open_store
from conveyor.store.entities import OutcomeWindow, ProfileWindow


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CONVEYOR_DB_URL", raising=False)
    monkeypatch.delenv("CONVEYOR_ARTIFACTS", raising=False)
    monkeypatch.delenv("CONVEYOR_PROJECT_ROOT", raising=False)
    (tmp_path / "conveyor.yaml").write_text('stages:\n  noop: {cmd: "true"}\n', encoding="utf-8")
    (tmp_path / ".conveyor").mkdir()
    store = open_store(f"sqlite:///{tmp_path / '.conveyor' / 'conveyor.db'}")
    now = utcnow().replace(second=0, microsecond=0)
    for age in (timedelta(days=45), timedelta(hours=2)):
        store.signals.add_windows([OutcomeWindow("churn", 1, now - age, 60, 3)], "w")
        store.signals.add_profiles([ProfileWindow("churn", 1, now - age, 60, 3, b"p")], "w")
    store.close()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_prune_dry_run_then_for_real(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["monitor", "prune", "--older-than", "30d", "--dry-run"]) == 0
    assert "would delete 1 outcome windows, 1 profile windows" in capsys.readouterr().out
    assert main(["monitor", "prune", "--older-than", "30d", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == {
        "outcome_windows": 1,
        "profile_windows": 1,
    }
    assert main(["monitor", "prune", "--older-than", "30d", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == {
        "outcome_windows": 0,
        "profile_windows": 0,
    }


def test_too_short_a_retention_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["monitor", "prune", "--older-than", "1h"]) != 0
    err = capsys.readouterr().err
    assert "at least 1 day" in err
    assert "Traceback" not in err
    assert main(["monitor", "prune", "--older-than", "1w", "--dry-run"]) == 0
    assert "would delete 1 outcome windows" in capsys.readouterr().out  # nothing went


def test_prune_keeps_what_an_alert_rule_still_reads(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "conveyor.yaml").write_text(
        'stages:\n  noop: {cmd: "true"}\n'
        "monitor:\n  alerts:\n"
        "    - {name: weekly-drift, model: churn, when: drift, window: 14d}\n",
        encoding="utf-8",
    )
    assert main(["monitor", "prune", "--older-than", "7d"]) != 0
    err = capsys.readouterr().err
    assert "weekly-drift" in err
    assert "14 days" in err
    assert main(["monitor", "prune", "--older-than", "30d", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"]["outcome_windows"] == 1
