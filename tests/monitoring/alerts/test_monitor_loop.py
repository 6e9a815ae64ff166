"""The monitor loop across processes and outages: one leader among loops on the same store
(file lock on SQLite, advisory lock on PostgreSQL), a standby that takes over, and a store
that goes away and comes back, said once each way."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from tests.store.test_deployments_contract import register

from conveyor.context import Context
from conveyor.delivery import traffic
from conveyor.monitoring.alerts.config import AlertRule, MonitorConfig
from conveyor.monitoring.alerts.loop import MonitorLoop
from conveyor.settings import Settings
from conveyor.store import open_store
from conveyor.store.leader import Leadership

CONFIG = MonitorConfig(
    alerts=(AlertRule(name="idle", model="churn", when="no_traffic"),)  # type: ignore[call-arg]
)


@pytest.fixture
def ctx(store_url: str, tmp_path) -> Iterator[Context]:  # type: ignore[no-untyped-def]
    store = open_store(store_url)
    register(store)
    context = Context(Settings(artifacts_url=str(tmp_path / "artifacts")), None, store=store)
    traffic.set_traffic(context, "churn", {1: 100})
    yield context
    store.close()


def test_two_loops_started_at_once_elect_one_leader(ctx: Context) -> None:
    loops = [MonitorLoop(ctx, CONFIG, leadership=Leadership(ctx.store, "monitor")) for _ in "ab"]
    reports = []
    barrier = threading.Barrier(2)

    def start(loop: MonitorLoop) -> None:
        barrier.wait()
        reports.append(loop.tick())

    threads = [threading.Thread(target=start, args=(loop,)) for loop in loops]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(r.leader for r in reports) == [False, True]
    [leader] = [loop for loop in loops if loop.leadership.leads()]
    assert len(ctx.store.alerts.recent()) == 1  # evaluated once, by the leader
    standby = next(loop for loop in loops if loop is not leader)
    assert standby.tick().leader is False
    leader.leadership.close()  # the leader stops: the standby leads on its next pass
    assert standby.tick().leader is True
    standby.leadership.close()


def _allow(admin_url: str, database: str, allowed: bool) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            )


@pytest.mark.postgres
def test_the_loop_survives_a_store_outage_and_says_so_once(
    pg_server: str,
    pg_url: str,
    tmp_path,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    store = open_store(pg_url)
    register(store)
    ctx = Context(Settings(artifacts_url=str(tmp_path / "artifacts")), None, store=store)
    traffic.set_traffic(ctx, "churn", {1: 100})
    loop = MonitorLoop(ctx, CONFIG)
    stop = threading.Event()
    caplog.set_level(logging.INFO, logger="conveyor.monitor")
    runner = threading.Thread(target=loop.run, args=(stop, 0.05))
    runner.start()
    database = pg_url.rsplit("/", 1)[1]
    try:
        time.sleep(0.5)
        _allow(pg_server, database, False)
        time.sleep(1.5)  # some thirty passes while the database refuses every connection
        _allow(pg_server, database, True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _said(caplog, "reached the store again"):
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        stop.set()
        runner.join(10)
        _allow(pg_server, database, True)
    try:
        assert len(_said(caplog, "cannot reach the store")) == 1, caplog.text
        assert len(_said(caplog, "reached the store again")) == 1, caplog.text
        assert not runner.is_alive()
        [alert] = store.alerts.open()  # no traffic at all: fired before, kept through it
        assert alert.state == "firing"
        assert loop.tick().leader  # the lock was taken afresh on a new connection
    finally:
        loop.leadership.close()
        store.close()


def _said(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]
