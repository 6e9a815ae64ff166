"""Prometheus metrics: requests, latency, in-flight, load time and predictions, per app."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import numpy as np
import psutil
import pytest
from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families

from conveyor.errors import ConfigError
from conveyor.monitoring.observation import Prediction
from conveyor.serving.app import create_app
from conveyor.serving.metrics import GatewayMetrics

pytestmark = pytest.mark.anyio

INFER = "/v2/models/{model}/infer"
VERSION_INFER = "/v2/models/{model}/versions/{version}/infer"
V1 = "/v1/models/{model}:predict"
LABELS = ("model", "version", "route", "status", "label", "le", "worker")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def cancer(served) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(served.pool, metrics=GatewayMetrics())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as http:
        yield http


def samples(text: str) -> Samples:
    """Every sample of the exposition, keyed by name and labels (in the order of ``LABELS``)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items(), key=lambda kv: LABELS.index(kv[0])))): (
            sample.value
        )
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def named(found: Samples, name: str, **fixed: str) -> dict[tuple[str, ...], float]:
    """The samples called ``name`` whose labels include ``fixed``, keyed by the other labels."""
    picked = {}
    for (sample, labels), value in found.items():
        given = dict(labels)
        if sample == name and all(given.get(k) == v for k, v in fixed.items()):
            picked[tuple(v for k, v in labels if k not in fixed)] = value
    return picked


def v2_body(rows) -> dict:
    values = rows.to_numpy()
    tensor = {"name": "x", "shape": list(values.shape), "datatype": "FP64"}
    return {"inputs": [{**tensor, "data": values.ravel().tolist()}]}


async def test_requests_latency_in_flight_load_time_and_labels(served, cancer) -> None:
    rows = served.features.head(5)
    v1, split = "/v1/models/cancer:predict", rows.head(4).to_dict(orient="split")
    ok1, ok2 = ("cancer", "1"), ("cancer", "2")
    asked = [  # (path, body, labels (model, version, route, status), rows predicted)
        ("/v2/models/cancer/infer", v2_body(rows.head(3)), (*ok2, INFER, "200"), 3),
        ("/v2/models/cancer/infer", v2_body(rows.head(1)), (*ok2, INFER, "200"), 1),
        ("/v2/models/cancer/versions/1/infer", v2_body(rows), (*ok1, VERSION_INFER, "200"), 5),
        (
            "/v2/models/cancer/versions/9/infer",
            v2_body(rows),
            ("cancer", "", VERSION_INFER, "404"),
            0,
        ),
        ("/v2/models/nope/infer", v2_body(rows), ("", "", INFER, "404"), 0),
        (v1, {"instances": rows.head(2).to_numpy().tolist()}, (*ok2, V1, "200"), 2),
        (v1, {"instances": [[1.0]]}, (*ok2, V1, "422"), 0),  # the version that refused it
        ("/invocations", {"dataframe_split": split}, (*ok2, "/invocations", "200"), 4),
        ("/invocations", {"instances": [[1.0]]}, (*ok2, "/invocations", "422"), 0),
        ("/nowhere", {}, ("", "", "unmatched", "404"), 0),
    ]
    for path, body, labels, _ in asked:
        response = await cancer.post(path, json=body)
        assert response.status_code == int(labels[3]), (path, response.text)
    scrape = await cancer.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    found = samples(scrape.text)

    requests = named(found, "conveyor_requests_total")
    assert requests == dict(Counter(labels for _, _, labels, _ in asked))
    by_model_route = Counter((model, route) for _, _, (model, _, route, _), _ in asked)
    assert named(found, "conveyor_request_duration_seconds_count") == by_model_route
    in_flight = named(found, "conveyor_requests_in_flight")
    assert in_flight.pop(("/metrics",)) == 1  # the scrape itself is being answered
    assert set(in_flight.values()) == {0}
    assert named(found, "conveyor_model_load_seconds") == {
        ("cancer", str(v)): served.pool.get("cancer", v).load_seconds for v in (1, 2)
    }
    assert named(found, "conveyor_model_load_memory_bytes") == {
        ("cancer", str(v)): served.pool.get("cancer", v).load_memory_bytes for v in (1, 2)
    }
    me = (str(os.getpid()),)
    assert set(named(found, "conveyor_worker_cpu_seconds_total")) == {me}
    assert 0 < named(found, "conveyor_worker_cpu_seconds_total")[me] < time.process_time() + 1
    rss = psutil.Process().memory_info().rss
    assert 0.5 * rss < named(found, "conveyor_worker_resident_memory_bytes")[me] < 2 * rss
    assert named(found, "conveyor_worker_open_fds")[me] >= 3  # stdin, stdout, stderr at least

    predicted: Counter[tuple[str, str, str]] = Counter()
    for _, _, (_, version, _, status), n in asked:
        if status == "200":
            outputs = served.models[int(version)].predict(rows.head(n))
            predicted.update(("cancer", version, str(label)) for label in outputs)
    assert named(found, "conveyor_predicted_label_total") == predicted
    assert named(found, "conveyor_predictions_total") == {("cancer", "1"): 5, ("cancer", "2"): 10}
    assert named(found, "conveyor_batch_size_count") == {("cancer", "1"): 1, ("cancer", "2"): 4}
    assert named(found, "conveyor_batch_size_sum") == {("cancer", "1"): 5, ("cancer", "2"): 10}
    assert named(found, "conveyor_predicted_value_count") == {}  # class labels, not values

    again = samples((await cancer.get("/metrics")).text)
    assert named(again, "conveyor_requests_total", route="/metrics") == {("", "", "200"): 1}


async def test_numeric_predictions_fill_the_value_histogram_and_errors_count(served) -> None:
    app = create_app(served.trusted_pool, metrics=GatewayMetrics())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as http:
        ok = await http.post("/v1/models/quirky:predict", json={"instances": [[0.2, 1], [3, 1]]})
        failed = await http.post("/v1/models/quirky:predict", json={"instances": [[13, 1]]})
        found = samples((await http.get("/metrics")).text)
    assert (ok.status_code, failed.status_code) == (200, 500)
    assert named(found, "conveyor_requests_total", route=V1) == {
        ("quirky", "1", "200"): 1,
        ("quirky", "1", "500"): 1,  # the version whose model raised
    }
    assert named(found, "conveyor_predicted_value_count") == {("quirky", "1"): 2}
    assert named(found, "conveyor_predicted_value_sum") == {}  # negative buckets: no _sum
    buckets = named(found, "conveyor_predicted_value_bucket", model="quirky", version="1")
    assert (buckets[("0.25",)], buckets[("0.5",)], buckets[("10.0",)]) == (0, 1, 2)
    assert named(found, "conveyor_predicted_label_total") == {}


def test_distinct_labels_are_capped_then_other() -> None:
    metrics = GatewayMetrics(label_cap=3)
    outputs = np.array(["a", "b", "c", "d", "e", "a", "x" * 100])
    metrics.observe(Prediction("r", "m", 1, outputs, outputs, 0.01, datetime.now(UTC)))
    found = named(samples(metrics.render().decode()), "conveyor_predicted_label_total")
    assert found == {
        ("m", "1", "a"): 2,
        ("m", "1", "b"): 1,
        ("m", "1", "c"): 1,
        ("m", "1", "other"): 3,
    }


async def test_openapi_describes_metrics_when_enabled(served, cancer) -> None:
    document = (await cancer.get("/openapi.json")).json()
    assert "/metrics" in document["paths"]
    plain = create_app(served.pool)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=plain), base_url="http://gateway"
    ) as http:
        assert (await http.get("/metrics")).status_code == 404
        assert "/metrics" not in (await http.get("/openapi.json")).json()["paths"]


def test_multiprocess_mode_needs_the_variable_before_prometheus_client(tmp_path) -> None:
    if getattr(values.ValueClass, "_multiprocess", False):
        pytest.skip("this test process itself runs in multiprocess mode")
    with pytest.raises(ConfigError, match="PROMETHEUS_MULTIPROC_DIR"):
        GatewayMetrics(multiprocess_dir=tmp_path)


WORKER = """
import anyio, httpx, sys
from conveyor.serving.asgi import from_environment

async def main(requests):
    app = from_environment()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://w") as http:
        for _ in range(requests):
            body = {"instances": [[1.0] * 30]}
            answer = await http.post(
                "/v1/models/cancer:predict", json=body, headers={"X-Conveyor-Version": "1"}
            )
            assert answer.status_code == 200
        print((await http.get("/metrics")).text)

anyio.run(main, int(sys.argv[1]))
"""


@pytest.mark.slow
def test_multiprocess_metrics_merge_every_worker(served, tmp_path) -> None:
    """Two worker processes in turn, as uvicorn's would be: the second's scrape sums both.

    Other tests may have left routing tables in the project (more versions load): force v1.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVEYOR_", "PROMETHEUS"))}
    env |= {"CONVEYOR_SERVE_MODELS": '["cancer/1"]', "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    def worker(requests: int) -> Samples:
        done = subprocess.run(
            [sys.executable, "-c", WORKER, str(requests)],
            cwd=served.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return samples(done.stdout)

    first, second = worker(2), worker(3)
    assert len(list(tmp_path.glob("counter_*.db"))) == 2  # one file per process
    # each shows its own CPU and memory; the first had exited: its series are gone
    [first_pid] = named(first, "conveyor_worker_resident_memory_bytes")
    [second_pid] = named(second, "conveyor_worker_resident_memory_bytes")
    assert first_pid != second_pid
    assert set(named(second, "conveyor_worker_cpu_seconds_total")) == {second_pid}
    assert not list(tmp_path.glob(f"gauge_live*_{first_pid[0]}.db"))
    assert named(second, "conveyor_model_load_memory_bytes")[("cancer", "1")] != 0
    assert named(first, "conveyor_requests_total", route=V1) == {("cancer", "1", "200"): 2}
    assert named(second, "conveyor_requests_total", route=V1) == {("cancer", "1", "200"): 5}
    assert named(second, "conveyor_request_duration_seconds_count", route=V1) == {("cancer",): 5}
    assert named(second, "conveyor_batch_size_count")[("cancer", "1")] == 5
    assert named(second, "conveyor_requests_in_flight", route=V1) == {(): 0}
    assert named(second, "conveyor_model_load_seconds")[("cancer", "1")] > 0
