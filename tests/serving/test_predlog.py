"""The prediction log: Parquet per model per window in the artifact store, sampled, masked."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from conveyor.artifacts import ArtifactStore
from conveyor.errors import ArtifactError, InvalidValue
from conveyor.monitoring.observation import Prediction
from conveyor.monitoring.predictions import read_predictions
from conveyor.serving.app import create_app
from conveyor.serving.predlog import PredictionLog, sampled

AT = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)


def prediction(request_id: str, at: datetime = AT, model: str = "churn", rows: int = 2):
    inputs = pd.DataFrame(
        {
            "age": np.arange(rows) + 30,
            "email": [f"secret-{request_id}-{i}@x.org" for i in range(rows)],
        }
    )
    return Prediction(request_id, model, 3, inputs, np.arange(rows) % 2, 0.004, at)


def files(url: Path) -> list[Path]:
    return sorted(url.glob("predictions/**/*.parquet"))


def test_rows_are_written_per_model_per_window_and_read_back(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), window_s=60)
    log.observe(prediction("a"))
    log.observe(prediction("b", AT + timedelta(seconds=20)))  # same window
    log.observe(prediction("c", AT + timedelta(seconds=40)))  # the next one
    log.observe(prediction("d", model="other"))
    log.close()
    written = [p.relative_to(tmp_path).as_posix() for p in files(tmp_path)]
    assert len(written) == 3
    assert (
        sum(
            name.startswith("predictions/churn/date=2024-05-01/20240501T120000Z-")
            for name in written
        )
        == 1
    )
    assert (
        sum(
            name.startswith("predictions/churn/date=2024-05-01/20240501T120100Z-")
            for name in written
        )
        == 1
    )
    rows = read_predictions(str(tmp_path), "churn")
    assert list(rows["request_id"]) == ["a", "a", "b", "b", "c", "c"]
    assert {"time", "model", "version", "input.age", "input.email", "output", "latency_ms"} <= set(
        rows.columns
    )
    assert rows["time"].iloc[0] == pd.Timestamp(AT)
    assert list(rows["input.age"]) == [30, 31] * 3
    assert list(rows["output"]) == [0, 1] * 3
    assert rows["latency_ms"].iloc[0] == pytest.approx(4.0)
    assert rows["shadow_of"].isna().all()
    later = read_predictions(str(tmp_path), "churn", since=AT + timedelta(seconds=30))
    assert list(later["request_id"]) == ["c", "c"]
    assert read_predictions(str(tmp_path), "churn", until=AT - timedelta(days=1)).empty
    assert read_predictions(str(tmp_path), "nobody").empty
    assert log.stats()["rows_written"] == 8


def test_masked_fields_never_reach_the_store(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), mask=["email"])
    log.observe(prediction("a"))
    log.close()
    rows = read_predictions(str(tmp_path), "churn")
    assert set(rows["input.email"]) == {"***"}
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"secret-" not in path.read_bytes(), path


def test_sampling_keeps_about_that_share_of_requests_by_id(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), sample_rate=0.25)
    ids = [f"req-{i}" for i in range(2000)]
    for request_id in ids:
        log.observe(prediction(request_id, rows=1))
    log.close()
    kept = set(read_predictions(str(tmp_path), "churn")["request_id"])
    assert 400 < len(kept) < 600
    assert kept == {i for i in ids if sampled(i, 0.25)}  # the same decision every time


def test_shadow_rows_are_kept_or_dropped_with_their_primary(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), sample_rate=0.5)
    for i in range(200):
        primary = prediction(f"req-{i}")
        shadow = Prediction(
            primary.request_id, "churn", 4, primary.inputs, np.array([0, 0]), 0.01, primary.at
        )
        log.observe(primary)
        log.observe_shadow(shadow, primary)
    log.close()
    rows = read_predictions(str(tmp_path), "churn")
    by_request = rows.groupby("request_id")["version"].apply(sorted)
    assert 50 < len(by_request) < 150
    assert all(versions == [3, 3, 4, 4] for versions in by_request)
    shadows = rows[rows["version"] == 4]
    assert set(shadows["shadow_of"]) == {3}
    assert list(shadows["agrees"].iloc[:2]) == [True, False]  # primary said 0, 1


def test_numeric_outputs_get_a_diff(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path))
    primary = Prediction(
        "r", "price", 1, pd.DataFrame({"x": [1, 2]}), np.array([1.0, 2.0]), 0.1, AT
    )
    shadow = Prediction("r", "price", 2, primary.inputs, np.array([1.0, 2.5]), 0.1, AT)
    log.observe_shadow(shadow, primary)
    log.close()
    rows = read_predictions(str(tmp_path), "price")
    assert list(rows["diff"]) == [0.0, 0.5]
    assert list(rows["agrees"]) == [True, False]


def test_close_flushes_and_the_writer_flushes_a_full_buffer(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), window_s=3600, max_rows=10)
    for i in range(5):
        log.observe(prediction(f"r{i}"))  # 10 rows: the writer wakes before the hour is up
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while not files(tmp_path) and datetime.now(UTC) < deadline:
        threading.Event().wait(0.02)
    assert len(files(tmp_path)) == 1
    log.observe(prediction("last"))
    log.close()
    assert len(read_predictions(str(tmp_path), "churn")) == 12
    log.observe(prediction("after"))  # ignored once closed
    assert log.stats()["buffered_rows"] == 0


def test_chunks_converted_early_still_make_one_file_per_window(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), window_s=1e9, max_rows=1000, chunk_rows=3)  # no end
    for i in range(6):
        log.observe(prediction(f"c{i}", at=datetime.now(UTC)))  # 2 rows: converted every 3
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while log.stats()["waiting_rows"] < 12 and datetime.now(UTC) < deadline:
        threading.Event().wait(0.02)
    assert log.stats()["waiting_rows"] == 12  # converted, waiting for the window to end
    assert files(tmp_path) == []
    log.close()
    assert len(files(tmp_path)) == 1
    assert list(read_predictions(str(tmp_path), "churn")["request_id"].unique()) == [
        f"c{i}" for i in range(6)
    ]


def test_observing_from_many_threads_loses_nothing(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), max_rows=300)  # the writer runs while they observe

    def send(worker: int) -> None:
        for i in range(250):
            log.observe(prediction(f"w{worker}-{i}", rows=1))

    threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    rows = read_predictions(str(tmp_path), "churn")
    assert len(rows) == 2000
    assert rows["request_id"].is_unique
    assert log.stats()["dropped"] == 0
    assert len(files(tmp_path)) > 1


def test_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InvalidValue, match="between 0 and 1"):
        PredictionLog(str(tmp_path), sample_rate=1.5)
    with pytest.raises(ArtifactError, match="not a name"):
        ArtifactStore(str(tmp_path)).write_named("../outside", b"")


@pytest.mark.anyio
async def test_the_gateway_logs_what_it_answered(served, tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path))
    app = create_app(served.pool, observers=[log])
    rows = served.features.head(3)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as http:
        answer = await http.post(
            "/v1/models/cancer:predict",
            json={"instances": rows.to_dict(orient="records")},
            headers={"X-Request-ID": "req-1"},
        )
    assert answer.status_code == 200
    log.close()
    logged = read_predictions(str(tmp_path), "cancer")
    assert list(logged["request_id"]) == ["req-1"] * 3
    assert list(logged["output"]) == answer.json()["predictions"]
    assert list(logged["input.mean radius"]) == list(rows["mean radius"])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
