"""Shadow traffic: copies predicted after the answer, compared with it, logged, never returned."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from conveyor import tracking
from conveyor.cli.main import main
from conveyor.context import Context
from conveyor.delivery.tables import Route, RoutingTable, Shadow
from conveyor.monitoring.observation import Prediction
from conveyor.monitoring.predictions import read_predictions
from conveyor.serving.app import create_app
from conveyor.serving.metrics import GatewayMetrics
from conveyor.serving.pool import ModelPool
from conveyor.serving.predlog import LogOptions, PredictionLog
from conveyor.serving.routing import Router, shadows_for
from conveyor.serving.server import (
    BATCH_VAR,
    LOG_VAR,
    MAX_BODY_VAR,
    MODELS_VAR,
    READ_TIMEOUT_VAR,
    TIMEOUT_VAR,
)
from conveyor.serving.shadow import ShadowRunner
from conveyor.serving.watcher import build_gateway, build_observers

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def traffic(*args: str) -> None:
    assert main(["traffic", *args]) == 0
    tracking.close_stores()


@pytest.fixture
def project(served, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("CONVEYOR_DB_URL", raising=False)
    monkeypatch.delenv("CONVEYOR_ARTIFACTS", raising=False)
    monkeypatch.chdir(served.root)
    yield served.root
    traffic("shadow", "cancer", "2", "--off")  # other tests set tables with version 2 routed


async def send(app: Any, served, ids: list[str]) -> list[httpx.Response]:
    rows = served.features.head(2).to_numpy().tolist()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as http:
        return [
            await http.post(
                "/v1/models/cancer:predict",
                json={"instances": rows},
                headers={"X-Request-ID": request_id},
            )
            for request_id in ids
        ]


async def test_a_shadow_gets_copies_logged_and_compared_never_returned(
    served, project: Path, tmp_path: Path
) -> None:
    traffic("set", "cancer", "1=100")
    traffic("shadow", "cancer", "2", "--share", "1.0")
    pool, router, _ = build_gateway([], Context.resolve(), poll=False)
    log = PredictionLog(str(tmp_path))
    shadows = ShadowRunner(pool, router, log)
    app = create_app(pool, router=router, observers=[log, shadows])
    ids = [f"req-{i}" for i in range(20)]
    answers = await send(app, served, ids)
    shadows.close()
    log.close()
    assert {a.headers["X-Conveyor-Model-Version"] for a in answers} == {"1"}
    rows = read_predictions(str(tmp_path), "cancer")
    primary, copies = rows[rows["version"] == 1], rows[rows["version"] == 2]
    assert len(primary) == len(copies) == 40
    assert set(copies["request_id"]) == set(ids)
    assert set(copies["shadow_of"]) == {1}
    features = served.features.head(2)
    expected = served.models[1].predict(features) == served.models[2].predict(features)
    assert list(copies["agrees"]) == list(expected) * 20
    stats = shadows.stats()
    assert (stats["sent"], stats["dropped"], stats["failed"]) == (20, 0, 0)
    assert stats["agreement"] == pytest.approx(np.mean(expected))


async def test_half_the_requests_are_shadowed_the_same_ones_every_time(
    served, project: Path, tmp_path: Path
) -> None:
    traffic("set", "cancer", "1=100")
    traffic("shadow", "cancer", "2", "--share", "0.5")
    pool, router, _ = build_gateway([], Context.resolve(), poll=False)
    observers = build_observers(pool, router, _logging_into(tmp_path), LogOptions())
    app = create_app(pool, router=router, observers=observers.all())
    ids = [f"half-{i}" for i in range(200)]
    await send(app, served, ids)
    observers.close()
    rows = read_predictions(str(tmp_path), "cancer")
    shadowed = set(rows[rows["version"] == 2]["request_id"])
    assert 70 < len(shadowed) < 130
    assert shadowed == {i for i in ids if shadows_for(router.table("cancer"), i)}


async def test_shadow_and_log_counts_reach_metrics(served, project: Path, tmp_path: Path) -> None:
    traffic("set", "cancer", "1=100")
    traffic("shadow", "cancer", "2", "--share", "1.0")
    pool, router, _ = build_gateway([], Context.resolve(), poll=False)
    metrics = GatewayMetrics()
    where = _logging_into(tmp_path)
    observers = build_observers(pool, router, where, LogOptions(), metrics)
    app = create_app(pool, router=router, observers=observers.all(), metrics=metrics)
    await send(app, served, [f"m-{i}" for i in range(10)])  # 2 rows each
    observers.close()
    found = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for sample in family.samples
    }
    copies = ("model", "cancer"), ("outcome", "sent"), ("version", "2")
    assert found[("conveyor_shadow_copies_total", copies)] == 10
    agreed = found[("conveyor_shadow_rows_total", (("agreement", "agreed"), *copies[::2]))]
    disagreed = found[("conveyor_shadow_rows_total", (("agreement", "disagreed"), *copies[::2]))]
    features = served.features.head(2)
    same = served.models[1].predict(features) == served.models[2].predict(features)
    assert (agreed, disagreed) == (10 * same.sum(), 10 * (~same).sum())
    written = (("model", "cancer"), ("outcome", "written"))
    assert found[("conveyor_prediction_log_rows_total", written)] == 40  # 20 primary, 20 shadow


class Blocking:
    """A pool whose shadow version blocks until released, to fill the queue."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def get(self, name: str, version: int | None = None) -> Any:
        self.entered.set()
        self.release.wait(10)
        raise LookupError("released")


def test_a_full_queue_drops_copies_and_counts_them(served) -> None:
    router = Router([RoutingTable("cancer", (Route(1, 1),), (Shadow(2, 1.0),))])
    pool = Blocking()
    shadows = ShadowRunner(pool, router, None, workers=1, queue_size=2)  # type: ignore[arg-type]
    features = served.features.head(1)

    def answered(i: int) -> Prediction:
        return Prediction(f"r{i}", "cancer", 1, features, np.array([1]), 0.001, datetime.now(UTC))

    shadows.observe(answered(0))
    assert pool.entered.wait(10)  # the one worker is busy with the first copy
    for i in range(1, 10):
        shadows.observe(answered(i))  # returns at once: queued (2) or dropped (7)
    pool.release.set()
    shadows.close()
    stats = shadows.stats()
    assert (stats["sent"], stats["dropped"], stats["failed"]) == (3, 7, 3)


class Gate:
    """A pool that holds the one shadow worker at its first ``get`` until released."""

    def __init__(self, pool: ModelPool) -> None:
        self.pool, self.calls = pool, 0
        self.entered, self.release = threading.Event(), threading.Event()

    def get(self, name: str, version: int | None = None) -> Any:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            self.release.wait(10)
        return self.pool.get(name, version)


def test_copies_queued_together_share_a_call_and_each_is_compared_to_its_own(
    served, tmp_path: Path
) -> None:
    router = Router([RoutingTable("cancer", (Route(1, 1),), (Shadow(2, 1.0),))])
    gate = Gate(served.pool)
    log = PredictionLog(str(tmp_path))
    shadows = ShadowRunner(gate, router, log, workers=1)  # type: ignore[arg-type]
    first = served.models[1]

    def answered(i: int) -> Prediction:
        rows = served.features.iloc[[i, i + 100]]
        return Prediction(f"r{i}", "cancer", 1, rows, first.predict(rows), 0.001, datetime.now(UTC))

    shadows.observe(answered(0))
    assert gate.entered.wait(10)
    for i in range(1, 30):
        shadows.observe(answered(i))  # queued while the worker is held
    gate.release.set()
    shadows.close()
    log.close()
    assert gate.calls == 2  # the first copy alone, then the 29 queued ones in one merged call
    copies = read_predictions(str(tmp_path), "cancer")
    copies = copies[copies["version"] == 2]
    assert len(copies) == 60
    assert copies["latency_ms"].nunique() == 2
    for i in range(30):
        rows = served.features.iloc[[i, i + 100]]
        mine = copies[copies["request_id"] == f"r{i}"]
        expected = first.predict(rows) == served.models[2].predict(rows)
        assert list(mine["agrees"]) == list(expected)
    assert shadows.stats()["compared"] == 60


class Raising:
    def predict(self, data: Any) -> Any:
        raise RuntimeError("the shadow is broken")


async def test_a_shadow_that_raises_never_touches_the_answer(served, tmp_path: Path) -> None:
    pool = ModelPool()
    pool.add(served.pool.get("cancer", 1))
    pool.add(replace(served.pool.get("cancer", 2), model=Raising()))
    router = Router([RoutingTable("cancer", (Route(1, 1),), (Shadow(2, 1.0),))])
    log = PredictionLog(str(tmp_path))
    shadows = ShadowRunner(pool, router, log)
    app = create_app(pool, router=router, observers=[log, shadows])
    answers = await send(app, served, ["a", "b", "c"])
    shadows.close()
    log.close()
    assert [a.status_code for a in answers] == [200] * 3
    assert {a.headers["X-Conveyor-Model-Version"] for a in answers} == {"1"}
    assert shadows.stats()["failed"] == 3
    assert set(read_predictions(str(tmp_path), "cancer")["version"]) == {1}


def test_serve_passes_the_log_options_to_workers(
    cli, served, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(app))
    monkeypatch.delenv("CONVEYOR_DB_URL", raising=False)
    monkeypatch.delenv("CONVEYOR_ARTIFACTS", raising=False)
    for name in (MODELS_VAR, TIMEOUT_VAR, MAX_BODY_VAR, LOG_VAR, BATCH_VAR, READ_TIMEOUT_VAR):
        monkeypatch.setenv(name, "")
    result = cli(
        "serve", "-m", "cancer/2", "-w", "2", "--log-sample-rate", "0.1",
        "--log-mask", "mean radius", "--log-window", "5", cwd=served.root,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "logging 10% of predictions" in result.output
    assert json.loads(os.environ[LOG_VAR]) == {
        "enabled": True,
        "sample_rate": 0.1,
        "mask": ["mean radius"],
        "window_s": 5.0,
        "max_rows": 10_000,
    }
    off = cli("serve", "-m", "cancer/2", "--no-log-predictions", cwd=served.root)
    assert off.exit_code == 0, off.output
    assert "logging" not in off.output


def _logging_into(directory: Path) -> Context:
    """The project's context, with the prediction log going into ``directory``."""
    found = Context.resolve()
    return Context(replace(found.settings, artifacts_url=str(directory)), found.root)
