"""The reference client of the Open Inference Protocol, tritonclient.http, against a real server."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from conveyor.serving.app import create_app

tritonhttp = pytest.importorskip("tritonclient.http")


@pytest.fixture
def address(served, live_server) -> Iterator[str]:
    """A uvicorn server on a free loopback port, in a thread, for the test's duration."""
    with live_server(create_app(served.pool)) as address:
        yield address


def test_tritonclient_infers_like_the_model_in_process(address: str, served) -> None:
    client = tritonhttp.InferenceServerClient(url=address)
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("cancer")
        assert client.is_model_ready("cancer", "1")
        metadata = client.get_model_metadata("cancer")
        assert metadata["versions"] == ["1", "2"]
        assert metadata["outputs"][0]["name"] == "predict"

        rows = served.features.head(20).to_numpy(dtype=np.float64)
        tensor = tritonhttp.InferInput("input-0", list(rows.shape), "FP64")
        tensor.set_data_from_numpy(rows, binary_data=False)
        result = client.infer("cancer", [tensor])
        np.testing.assert_array_equal(
            result.as_numpy("predict"), served.models[2].predict(served.features.head(20))
        )
        np.testing.assert_allclose(
            result.as_numpy("predict_proba"),
            served.models[2].predict_proba(served.features.head(20)),
        )
        pinned = client.infer("cancer", [tensor], model_version="1", request_id="r1")
        assert pinned.get_response()["model_version"] == "1"
        assert pinned.get_response()["id"] == "r1"
    finally:
        client.close()


def test_tritonclient_binary_data_is_refused_clearly(address: str, served) -> None:
    client = tritonhttp.InferenceServerClient(url=address)
    try:
        rows = served.features.head(2).to_numpy(dtype=np.float64)
        tensor = tritonhttp.InferInput("input-0", list(rows.shape), "FP64")
        tensor.set_data_from_numpy(rows)  # binary by default
        from tritonclient.utils import InferenceServerException

        with pytest.raises(InferenceServerException, match="binary tensor data"):
            client.infer("cancer", [tensor])
    finally:
        client.close()
