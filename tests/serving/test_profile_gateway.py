"""The gateway profiles live traffic end to end: requests through the real app (two workers'
observers), windows written to the store, read back merged, and live drift judged on them:
no drift on traffic like the reference, drift (inputs and predictions) on shifted traffic."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import conveyor as cv
from conveyor import tracking
from conveyor.cli.main import main
from conveyor.context import Context
from conveyor.monitoring.drift_service import live_drift
from conveyor.monitoring.profile_options import ProfileOptions
from conveyor.registry import Registry
from conveyor.serving.app import create_app
from conveyor.serving.pool import ModelPool
from conveyor.serving.predlog import LogOptions
from conveyor.serving.routing import Router
from conveyor.serving.watcher import build_observers

pytestmark = pytest.mark.anyio
REFERENCE_ROWS = 2000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def traffic(seed: int, rows: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"age": rng.normal(40 + shift, 10, rows), "visits": rng.integers(0, 5, rows)}
    )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Context]:
    """``churn`` version 1, logged with reference data (so with a reference profile)."""
    monkeypatch.delenv("CONVEYOR_DB_URL", raising=False)
    monkeypatch.delenv("CONVEYOR_ARTIFACTS", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conveyor.yaml").write_text('stages:\n  noop: {cmd: "true"}\n', encoding="utf-8")
    x = traffic(1, REFERENCE_ROWS)
    model = LogisticRegression().fit(x, (x["age"] > 40).astype(int))
    with cv.start_run():
        cv.log_model(model, "model", input_example=x.head(3), reference_data=x)
    tracking.close_stores()
    assert main(["models", "register", "latest", "--name", "churn"]) == 0
    ctx = Context.resolve()
    try:
        yield ctx
    finally:
        ctx.close()


async def send(ctx: Context, pool: ModelPool, data: pd.DataFrame, workers: int = 2) -> None:
    """POST ``data`` in requests of 1-4 rows, alternating between ``workers`` gateways (each
    its own observers, as uvicorn workers are), then shut them down (writes every window)."""
    gateways = [
        build_observers(
            pool, Router(), ctx, LogOptions(enabled=False), profiles=ProfileOptions(window_s=1)
        )
        for _ in range(workers)
    ]
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(
                app=create_app(pool, observers=g.all(), profiles=g.profiles)
            ),
            base_url="http://gateway",
        )
        for g in gateways
    ]
    sizes = np.random.default_rng(0).integers(1, 5, len(data))
    ends = np.minimum(np.cumsum(sizes), len(data))
    ends = ends[: int(np.searchsorted(ends, len(data))) + 1]
    try:
        for i, (start, end) in enumerate(zip([0, *ends[:-1]], ends, strict=True)):
            rows = data.iloc[start:end]
            body = {
                "dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}
            }
            answer = await clients[i % workers].post("/invocations", json=body)
            assert answer.status_code == 200, answer.text
            if i == len(ends) // 2:
                await asyncio.sleep(1.1)  # the second half lands in later windows
    finally:
        for client in clients:
            await client.aclose()
        for gateway in gateways:
            gateway.close()


def loaded(ctx: Context) -> ModelPool:
    pool = ModelPool()
    pool.load_uri(Registry(ctx), ctx, "churn/1")
    return pool


def next_second() -> datetime:
    """Wait for the next whole second: the 1 s windows after it belong to the next phase."""
    now = time.time()
    time.sleep(int(now) + 1 - now)
    return datetime.fromtimestamp(int(now) + 1, UTC)


async def test_live_profiles_judge_drift_without_the_prediction_log(project: Context) -> None:
    pool = loaded(project)
    began = next_second()
    same = traffic(2, 400)
    await send(project, pool, same)
    middle = next_second()
    calm = live_drift(project, "churn", window=middle - began, now=middle, source="profiles")
    assert calm.source == "profiles"
    assert calm.report is not None
    assert calm.rows == 400  # every request counted: no sample, no log
    assert calm.profile["windows"] >= 2
    assert calm.profile["writers"] == 2
    assert calm.report.n_reference == REFERENCE_ROWS
    assert not calm.report.drifted, calm.report.statement
    assert calm.predictions is not None
    assert not calm.predictions.drifted, calm.predictions.explanation
    ages = calm.profile["quantiles"]["age"]
    assert ages["current"][2] == pytest.approx(np.median(same["age"]), abs=1.0)

    await send(project, pool, traffic(3, 400, shift=8.0))
    end = next_second()
    shifted = live_drift(project, "churn", window=end - middle, now=end)  # auto: profiles
    assert shifted.source == "profiles"
    assert shifted.rows == 400
    assert shifted.report is not None
    assert shifted.report.drifted_features == ["age"]
    assert shifted.predictions is not None
    assert shifted.predictions.drifted  # the model answers 1 far more often now
    assert shifted.drifted


async def test_the_cli_reports_profiles_and_exits_1_on_drift(project: Context, capsys) -> None:
    pool = loaded(project)
    await send(project, pool, traffic(4, 300, shift=8.0), workers=1)
    code = main(["monitor", "drift", "churn", "--window", "10m", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["source"] == "profiles"
    assert report["drifted_features"] == ["age"]
    assert report["predictions"]["name"] == "__prediction__"
    assert report["predictions"]["drifted"] is True
    assert main(["monitor", "drift", "churn", "--window", "10m"]) == 1
    printed = capsys.readouterr().out
    assert "300 profiled rows" in printed
    assert "Predictions: drifted" in printed
    out = Path.cwd() / "report"
    assert main(["monitor", "drift", "churn", "--window", "10m", "-o", str(out)]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["drift-age.png", "report.md"]
    assert (out / "drift-age.png").read_bytes().startswith(b"\x89PNG")  # drawn from counts
    capsys.readouterr()
    assert main(["monitor", "drift", "churn", "--source", "nope"]) == 1
    assert "the drift source must be one of auto, profiles, log" in capsys.readouterr().err


def test_without_profiles_live_drift_falls_back_to_the_log(project: Context, capsys) -> None:
    empty = live_drift(project, "churn", window=timedelta(minutes=5), source="profiles")
    assert empty.report is None
    assert "no live profile of churn version 1" in empty.message
    fallback = live_drift(project, "churn", window=timedelta(minutes=5))
    assert fallback.source == "prediction_log"
    assert "no predictions of churn version 1 were logged" in fallback.message
