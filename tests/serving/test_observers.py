"""Observers (the prediction log, shadows, metrics) are told of every answered prediction."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from conveyor.monitoring.observation import Prediction
from conveyor.serving.app import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Prediction] = []

    def observe(self, prediction: Prediction) -> None:
        self.seen.append(prediction)


async def test_every_protocol_tells_the_observers_what_was_answered(served) -> None:
    recorder = Recorder()
    app = create_app(served.pool, observers=[recorder])
    rows = served.features.head(2)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as http:
        v1 = await http.post(
            "/v1/models/cancer:predict",
            json={"instances": rows.to_numpy().tolist()},
            headers={"X-Request-ID": "req-v1"},
        )
        v2 = await http.post(
            "/v2/models/cancer/versions/2/infer",
            json={
                "id": "req-v2",
                "inputs": [
                    {
                        "name": "input",
                        "shape": list(rows.shape),
                        "datatype": "FP64",
                        "data": rows.to_numpy().tolist(),
                    }
                ],
            },
        )
        failed = await http.post("/v1/models/cancer:predict", json={"instances": [[1.0]]})
    assert v1.status_code == v2.status_code == 200
    assert failed.status_code == 422  # rejected before the model: nothing to observe
    assert [(p.request_id, p.model, p.version) for p in recorder.seen] == [
        ("req-v1", "cancer", 2),  # no router: the latest loaded version
        ("req-v2", "cancer", 2),
    ]
    first = recorder.seen[0]
    assert np.array_equal(first.outputs, served.models[2].predict(rows))
    assert len(first.inputs) == 2
    assert first.latency_s > 0
