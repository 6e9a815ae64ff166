"""A gateway whose store goes away keeps serving its last routing table, and says so once.

PostgreSQL is made unreachable for real: the database stops accepting connections and every
connection to it is terminated, then it is let back in.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from tests.serving.gateway_process import serving

import conveyor as cv
from conveyor import tracking
from conveyor.cli.main import main

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _allow(admin_url: str, database: str, allowed: bool) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            )


def test_store_unreachable_gateway_keeps_its_table_and_says_so_once(
    tmp_path: Path, pg_server: str, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "conveyor.yaml").write_text('stages:\n  noop: {cmd: "true"}\n', encoding="utf-8")
    monkeypatch.chdir(root)
    monkeypatch.setenv("CONVEYOR_DB_URL", pg_url)
    monkeypatch.delenv("CONVEYOR_ARTIFACTS", raising=False)
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with cv.start_run():
        cv.log_model(LogisticRegression(max_iter=5000).fit(x, y), "model", input_example=x.head(3))
    tracking.close_stores()
    assert main(["models", "register", "latest", "--name", "cancer"]) == 0
    assert main(["traffic", "set", "cancer", "1=100"]) == 0
    tracking.close_stores()
    body = {"instances": [x.iloc[0].tolist()]}
    database = pg_url.rsplit("/", 1)[1]

    with serving(root, env={"CONVEYOR_DB_URL": pg_url}) as (url, proc):
        _allow(pg_server, database, False)
        try:
            answers = []
            deadline = time.monotonic() + 9  # four polls of the watcher and more
            while time.monotonic() < deadline:
                answers.append(httpx.post(f"{url}/v1/models/cancer:predict", json=body))
                time.sleep(0.05)
        finally:
            _allow(pg_server, database, True)
        time.sleep(4)  # the watcher's next polls reach it again
        assert httpx.post(f"{url}/v1/models/cancer:predict", json=body).status_code == 200
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        assert proc.stdout is not None
        output = proc.stdout.read().decode()

    assert [a.status_code for a in answers] == [200] * len(answers)
    assert {a.headers["X-Conveyor-Model-Version"] for a in answers} == {"1"}
    lost = [line for line in output.splitlines() if "cannot reach the store" in line]
    assert len(lost) == 1, output  # once, not once per poll
    assert "keeps serving its last routing table" in lost[0]
    assert "cancer revision 1" in lost[0]
    back = [line for line in output.splitlines() if "reached the store again" in line]
    assert len(back) == 1, output
    # the rollout controller in the same process: once when it fails, once when it is back
    # (the outage is shorter than its one-minute reminder), not on every 5 s pass
    controller = [line for line in output.splitlines() if "rollout controller:" in line]
    assert len(controller) == 2, output
    assert "store unreachable; every rollout stays where it is" in controller[0]
    assert "store reachable again after" in controller[1]
