"""The gateway follows `conveyor traffic`: routing tables applied without a restart, and a
hot swap under steady load that fails no request."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from conveyor import tracking
from conveyor.cli.main import main
from conveyor.context import Context
from conveyor.errors import NotFoundError
from conveyor.serving.app import create_app
from conveyor.serving.watcher import build_gateway


def traffic(*args: str) -> None:
    assert main(["traffic", *args]) == 0
    tracking.close_stores()


@pytest.fixture
def project(served, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CONVEYOR_DB_URL", raising=False)
    monkeypatch.delenv("CONVEYOR_ARTIFACTS", raising=False)
    monkeypatch.chdir(served.root)
    return served.root


def row(served) -> dict[str, object]:
    return {"instances": [served.features.iloc[0].tolist()]}


def test_every_model_with_a_table_is_served_by_it(served, project: Path, live_server) -> None:
    traffic("set", "cancer", "1=50", "2=50", "--sticky", "X-Conveyor-Key")
    pool, router, watcher = build_gateway([], Context.resolve(), poll=False)
    assert sorted(s.version for s in pool.all() if s.name == "cancer") == [1, 2]
    seen: dict[str, set[str]] = {}
    with (
        live_server(create_app(pool, router=router)) as address,
        httpx.Client(base_url=f"http://{address}") as http,
    ):
        for user in [f"user-{i}" for i in range(40)] * 2:
            answer = http.post(
                "/v1/models/cancer:predict", json=row(served), headers={"X-Conveyor-Key": user}
            )
            assert answer.status_code == 200
            seen.setdefault(user, set()).add(answer.headers["X-Conveyor-Model-Version"])
    assert all(len(versions) == 1 for versions in seen.values())  # sticky
    assert Counter(v for versions in seen.values() for v in versions).keys() == {"1", "2"}
    watcher.stop()


def test_nothing_to_serve_says_how_to_serve_something(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "conveyor.yaml").write_text('stages:\n  noop: {cmd: "true"}\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotFoundError, match="nothing to serve") as caught:
        build_gateway([], Context.resolve(), poll=False)
    assert "conveyor traffic set" in str(caught.value)


def test_a_hot_swap_under_steady_load_fails_no_request(served, project: Path, live_server) -> None:
    traffic("set", "cancer", "1=100")
    pool, router, watcher = build_gateway([], Context.resolve(), poll=False)
    watcher.interval_s = 0.1
    watcher.start()
    statuses: Counter[int] = Counter()
    versions: list[str] = []
    stop = threading.Event()
    try:
        with live_server(create_app(pool, router=router)) as address:
            base = f"http://{address}"

            def load() -> None:
                with httpx.Client(base_url=base) as http:
                    while not stop.is_set():
                        answer = http.post("/v1/models/cancer:predict", json=row(served))
                        statuses[answer.status_code] += 1
                        versions.append(answer.headers.get("X-Conveyor-Model-Version", "?"))

            clients = [threading.Thread(target=load) for _ in range(4)]
            for client in clients:
                client.start()
            time.sleep(0.5)
            traffic("set", "cancer", "2=100")  # the swap, while requests keep coming
            deadline = time.monotonic() + 10
            while (not versions or versions[-1] != "2") and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)  # requests in flight on version 1 finish there (drained)
            settled = len(versions)
            time.sleep(0.3)
            stop.set()
            for client in clients:
                client.join(10)
    finally:
        watcher.stop()
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 50
    assert versions[0] == "1"
    assert versions[-1] == "2"
    # After the swap settled, every request went to version 2.
    assert set(versions[settled:]) == {"2"}
    assert len(versions) > settled


def test_a_poked_watcher_applies_a_new_table_at_once(served, project: Path) -> None:
    """The rollout controller inside ``conveyor serve`` pokes the watcher after it moves
    traffic: the gateway must not keep routing to a rolled-back canary until its next poll."""
    traffic("set", "cancer", "1=100")
    _pool, router, watcher = build_gateway([], Context.resolve(), poll=False)
    watcher.interval_s = 60.0  # a poll would come far too late for this test
    watcher.start()
    try:
        traffic("set", "cancer", "1=50", "2=50")
        watcher.poke("cancer")
        deadline = time.monotonic() + 5
        while router.tables()["cancer"].versions() != (1, 2) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert router.tables()["cancer"].versions() == (1, 2)
    finally:
        started = time.monotonic()
        watcher.stop()
    assert time.monotonic() - started < 1  # stopping does not wait out the interval


def test_versions_no_table_names_are_unloaded_after_draining(served, project: Path) -> None:
    traffic("set", "cancer", "1=50", "2=50")
    pool, _router, watcher = build_gateway(["cancer/1"], Context.resolve(), poll=False)
    watcher.drain_s = 0.3
    traffic("set", "cancer", "2=100")
    watcher.sync()
    assert [s.version for s in pool.all() if s.name == "cancer"] == [1, 2]  # 1 was asked for
    traffic("set", "cancer", "1=100")
    watcher.sync()
    assert [s.version for s in pool.all() if s.name == "cancer"] == [1, 2]  # still draining
    time.sleep(0.4)
    watcher.sync()
    assert [s.version for s in pool.all() if s.name == "cancer"] == [1]
    traffic("set", "cancer", "1=50", "2=50")  # wanted again: loaded again
    watcher.sync()
    assert [s.version for s in pool.all() if s.name == "cancer"] == [1, 2]
    watcher.stop()


def test_a_table_routing_by_alias_follows_a_promotion(served, project: Path, live_server) -> None:
    from conveyor.registry import Registry

    ctx = Context.resolve()
    Registry(ctx).promote("cancer", 1)
    traffic("set", "cancer", "champion=100")
    pool, router, watcher = build_gateway([], ctx, poll=False)

    def answered() -> set[str]:
        with httpx.Client(base_url=f"http://{address}") as http:
            return {
                http.post("/v1/models/cancer:predict", json=row(served)).headers[
                    "X-Conveyor-Model-Version"
                ]
                for _ in range(10)
            }

    with live_server(create_app(pool, router=router)) as address:
        assert answered() == {"1"}
        revision = router.tables()["cancer"].revision
        Registry(ctx).promote("cancer", 2)  # no traffic command
        assert watcher.sync() == ["cancer"]
        assert answered() == {"2"}
        assert watcher.sync() == []  # the alias did not move again: nothing to apply
    assert router.tables()["cancer"].revision == revision  # the table did not change
    watcher.stop()
