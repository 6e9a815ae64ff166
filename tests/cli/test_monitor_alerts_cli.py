"""``conveyor monitor run --once`` and ``conveyor monitor alerts``: one pass from the rules of
conveyor.yaml, a signed webhook to a receiver on loopback, exit 1 while an alert fires, and
the alerts listed as a table or JSON."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tests.notify.conftest import Receiver, receiver  # noqa: F401  (the fixture)
from tests.store.test_deployments_contract import register

from conveyor.monitoring.recorder import OutcomeRecorder
from conveyor.notify import verify_signature
from conveyor.store import open_store
from conveyor.store.leader import Leadership

SECRET = "cli-hook-secret"
CONFIG = """\
stages:
  noop: {{cmd: "true"}}
notify:
  - webhook:
      name: ops
      url: {url}
      secret_env: HOOK_SECRET
      allow_private: true
monitor:
  alerts:
    - name: churn-idle
      model: churn
      when: no_traffic
      window: 5m
      severity: critical
      notify: [ops]
"""


@pytest.fixture
def project(tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    monkeypatch.delenv("CONVEYOR_DB_URL", raising=False)
    monkeypatch.delenv("CONVEYOR_ARTIFACTS", raising=False)
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    (tmp_path / "conveyor.yaml").write_text(CONFIG.format(url=receiver.url), encoding="utf-8")
    (tmp_path / ".conveyor").mkdir()
    store = open_store(f"sqlite:///{tmp_path / '.conveyor' / 'conveyor.db'}")
    register(store)  # churn version 1, the model only the registry needs
    store.close()
    return tmp_path


def _requests(root: Path, count: int) -> None:
    """``count`` answered requests to churn v1, as the gateway's recorder writes them."""
    store = open_store(f"sqlite:///{root / '.conveyor' / 'conveyor.db'}")
    recorder = OutcomeRecorder(store.signals, writer="gateway-test")
    for _ in range(count):
        recorder.record("churn", 1, 200, 0.01)
    recorder.flush(everything=True)
    store.close()


def _wait(receiver: Receiver, count: int) -> None:  # noqa: F811
    deadline = time.monotonic() + 10
    while len(receiver.requests) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def test_once_fires_notifies_and_exits_1_then_resolves_and_exits_0(
    cli,
    project: Path,
    receiver: Receiver,  # noqa: F811
) -> None:
    fired = cli("monitor", "run", "--once", cwd=project)
    assert fired.exit_code == 1, fired.output
    assert (
        "evaluated 1 rule/version pair(s): 1 firing, 0 pending, 1 notification(s)" in fired.stdout
    )
    assert "churn-idle" in fired.stdout
    assert "critical" in fired.stdout

    _wait(receiver, 1)  # --once sends before it exits; the receiver may still be answering
    [hook] = receiver.requests
    assert verify_signature(SECRET, hook.headers["X-Conveyor-Signature"], hook.body)
    body = json.loads(hook.body)
    assert (body["kind"], body["dedup_key"]) == ("alert.firing", "churn-idle:churn:1")
    assert body["summary"] == "[critical] churn-idle: churn v1: 0 requests in the last 5m"

    listed = cli("monitor", "alerts", "--json", cwd=project)
    [alert] = json.loads(listed.stdout)
    assert (alert["state"], alert["notifications"], alert["version"]) == ("firing", 1, 1)
    table = cli("monitor", "alerts", cwd=project)
    assert "firing" in table.stdout
    assert "churn v1" in table.stdout

    _requests(project, 3)
    resolved = cli("monitor", "run", "--once", "--json", cwd=project)
    assert resolved.exit_code == 0, resolved.output
    assert json.loads(resolved.stdout)["firing"] == 0
    _wait(receiver, 2)
    assert json.loads(receiver.requests[1].body)["kind"] == "alert.resolved"
    [done] = json.loads(cli("monitor", "alerts", "--json", cwd=project).stdout)
    assert (done["state"], done["notifications"]) == ("resolved", 2)
    assert cli("monitor", "alerts", "--model", "fraud", cwd=project).stdout == (
        "No open or recent alerts of fraud.\n"
    )


def test_once_while_another_loop_leads_reports_its_alerts(cli, project: Path) -> None:
    assert cli("monitor", "run", "--once", cwd=project).exit_code == 1  # fires, then lets go
    store = open_store(f"sqlite:///{project / '.conveyor' / 'conveyor.db'}")
    other = Leadership(store, "monitor")
    assert other.try_lead("alerts")
    try:
        again = cli("monitor", "run", "--once", cwd=project)
    finally:
        other.close()
        store.close()
    assert again.exit_code == 1
    assert "another monitor loop leads" in again.stderr
    assert "churn-idle" in again.stdout


def test_without_rules_it_says_what_to_add(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("CONVEYOR_DB_URL", raising=False)
    (tmp_path / "conveyor.yaml").write_text('stages:\n  noop: {cmd: "true"}\n', encoding="utf-8")
    result = cli("monitor", "run", "--once", cwd=tmp_path)
    assert result.exit_code == 1
    assert "nothing to monitor: conveyor.yaml has no monitor.alerts" in result.stderr
    assert "Traceback" not in result.output
