"""Adaptive micro-batching: merged calls give each request exactly its own answer."""

from __future__ import annotations

import asyncio
import time

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conveyor.errors import InvalidValue, ModelError
from conveyor.serving.app import create_app
from conveyor.serving.batching import Batcher, BatchPolicy, BatchRecord, merge
from conveyor.serving.metrics import GatewayMetrics

pytestmark = pytest.mark.anyio

V1 = "/v1/models/cancer:predict"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _rows(served, start: int, count: int) -> pd.DataFrame:
    return served.features.iloc[start : start + count].reset_index(drop=True)


async def test_concurrent_requests_share_calls_and_each_gets_its_own_rows(served) -> None:
    calls: list[BatchRecord] = []
    cancer = served.pool.get("cancer", 1)
    batcher = Batcher(cancer, BatchPolicy(max_batch_size=64), listener=calls.append)
    parts = [_rows(served, 7 * i, 1 + i % 3) for i in range(24)]

    answers = await asyncio.gather(*(batcher.predict(p, True, 30.0) for p in parts))

    model = served.models[1]
    for part, (predicted, proba) in zip(parts, answers, strict=True):
        assert predicted.tolist() == model.predict(part).tolist()
        np.testing.assert_allclose(proba, model.predict_proba(part), rtol=1e-12)
    assert sum(call.requests for call in calls) == 24
    assert sum(call.rows for call in calls) == sum(len(p) for p in parts)
    assert max(call.requests for call in calls) > 1, "nothing was merged"
    assert all(call.rows <= 64 for call in calls)
    # each call hands on what the model answered, merged: one input and its predictions
    assert all(len(call.answered) == 1 for call in calls)
    assert sum(len(data) for call in calls for data, _ in call.answered) == sum(
        call.rows for call in calls
    )
    for call in calls:
        [(data, predicted)] = call.answered
        assert predicted.tolist() == model.predict(data).tolist()


async def test_a_batch_never_exceeds_the_row_limit(served) -> None:
    calls: list[BatchRecord] = []
    batcher = Batcher(served.pool.get("cancer", 1), BatchPolicy(5), listener=calls.append)
    await asyncio.gather(*(batcher.predict(_rows(served, i, 2), False, 30.0) for i in range(12)))
    assert max(call.rows for call in calls) <= 5
    assert max(call.requests for call in calls) == 2  # 2 + 2 fit, a third would make 6


async def test_batching_off_means_one_request_per_call(served) -> None:
    calls: list[BatchRecord] = []
    batcher = Batcher(served.pool.get("cancer", 1), BatchPolicy(1), listener=calls.append)
    await asyncio.gather(*(batcher.predict(_rows(served, i, 1), False, 30.0) for i in range(8)))
    assert [call.requests for call in calls] == [1] * 8


async def test_python_function_models_are_never_merged(served) -> None:
    # a pyfunc model may look at the whole batch; its requests keep their own calls
    calls: list[BatchRecord] = []
    quirky = served.trusted_pool.get("quirky", 1)
    batcher = Batcher(quirky, BatchPolicy(64), listener=calls.append)
    frames = [pd.DataFrame({"a": [float(i)], "b": [0.0]}) for i in range(6)]
    answers = await asyncio.gather(*(batcher.predict(f, False, 30.0) for f in frames))
    assert [a[0].tolist() for a in answers] == [[2.0 * i] for i in range(6)]
    assert {call.requests for call in calls} == {1}
    assert sorted(call.answered[0][1].tolist()[0] for call in calls) == [2.0 * i for i in range(6)]


async def test_unmerged_requests_run_side_by_side_so_a_slow_one_blocks_nobody(served) -> None:
    # the quirky pyfunc model sleeps 3 s on a negative first value
    batcher = Batcher(served.trusted_pool.get("quirky", 1), BatchPolicy(64))
    slow = pd.DataFrame({"a": [-1.0], "b": [0.0]})
    fast = [pd.DataFrame({"a": [float(i)], "b": [0.0]}) for i in range(1, 4)]
    sleeper = asyncio.ensure_future(batcher.predict(slow, False, 2.0))
    await asyncio.sleep(0.05)  # the slow call is running
    started = time.perf_counter()
    answers = await asyncio.gather(*(batcher.predict(f, False, 30.0) for f in fast))
    assert time.perf_counter() - started < 1.0  # not queued behind the 3 s call
    assert [a[0].tolist() for a in answers] == [[2.0], [4.0], [6.0]]
    with pytest.raises(TimeoutError):
        await sleeper


async def test_a_failing_request_fails_alone_when_merged(served) -> None:
    # scikit-learn refuses NaN: the merged call fails, each request is retried on its own
    calls: list[BatchRecord] = []
    batcher = Batcher(served.pool.get("cancer", 1), BatchPolicy(64), listener=calls.append)
    bad = _rows(served, 0, 1).astype(float)
    bad.iloc[0, 3] = np.nan
    parts = [_rows(served, i, 1) for i in range(1, 6)]
    results = await asyncio.gather(
        *(batcher.predict(p, False, 30.0) for p in [*parts[:2], bad, *parts[2:]]),
        return_exceptions=True,
    )
    assert isinstance(results[2], ModelError)
    assert calls[0].requests == 6  # they were merged, and the merged call failed
    answered = [data for data, _ in calls[0].answered]  # then one by one: the 5 answered
    assert [len(data) for data in answered] == [1] * 5
    assert not any(data.isna().any().any() for data in answered)
    good = [r for i, r in enumerate(results) if i != 2]
    expected = [served.models[1].predict(p).tolist() for p in parts]
    assert [r[0].tolist() for r in good] == expected  # type: ignore[index]


async def test_no_wait_at_concurrency_one_and_a_bounded_wait_under_load(served) -> None:
    calls: list[BatchRecord] = []
    policy = BatchPolicy(64, max_wait_s=0.2)
    batcher = Batcher(served.pool.get("cancer", 1), policy, listener=calls.append)
    row = _rows(served, 0, 1)
    started = time.perf_counter()
    for _ in range(5):  # one at a time: nobody to wait for
        await batcher.predict(row, False, 30.0)
    assert time.perf_counter() - started < 0.2 * 5 / 2
    assert max(call.queued_s for call in calls) < 0.1

    await asyncio.gather(*(batcher.predict(row, False, 30.0) for _ in range(8)))
    calls.clear()
    await batcher.predict(row, False, 30.0)  # alone after a merged call: waits, but not longer
    (lone,) = calls
    assert 0.15 <= lone.queued_s < 0.5


async def test_the_gateway_merges_concurrent_http_requests_and_counts_them(served) -> None:
    metrics = GatewayMetrics()
    app = create_app(served.pool, metrics=metrics, batching=BatchPolicy(32))
    rows = served.features.iloc[:40].to_numpy().tolist()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        answers = await asyncio.gather(
            *(
                http.post(V1, json={"instances": [row]}, headers={"X-Conveyor-Version": "2"})
                for row in rows
            )
        )
        text = (await http.get("/metrics")).text
    assert [a.status_code for a in answers] == [200] * 40
    expected = served.models[2].predict(served.features.iloc[:40]).tolist()
    assert [a.json()["predictions"][0] for a in answers] == expected
    found = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("version") == "2" and "le" not in sample.labels
    }
    assert found["conveyor_batch_requests_sum"] == 40
    assert found["conveyor_batch_size_sum"] == 40
    assert found["conveyor_batch_requests_count"] < 40  # fewer model calls than requests


def test_merge_stacks_frames_and_arrays() -> None:
    a = pd.DataFrame({"x": [1.0], "y": [2.0]})
    b = pd.DataFrame({"x": [3.0, 5.0], "y": [4.0, 6.0]})
    merged = merge([a, b])
    assert merged.to_dict("list") == {"x": [1.0, 3.0, 5.0], "y": [2.0, 4.0, 6.0]}
    assert list(merged.index) == [0, 1, 2]
    arrays = merge([np.ones((1, 2)), np.zeros((2, 2))])
    assert arrays.tolist() == [[1, 1], [0, 0], [0, 0]]
    assert merge([a]) is a


@pytest.mark.parametrize(("size", "wait"), [(0, 0.0), (4, -0.001), (4, 2.0)])
def test_nonsense_policies_are_refused(size: int, wait: float) -> None:
    with pytest.raises(InvalidValue):
        BatchPolicy(size, wait)
