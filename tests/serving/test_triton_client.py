"""The reference client of the Open Inference Protocol, tritonclient.http, against a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def test_tritonclient_binary_tensors_both_ways_as_it_sends_by_default(address: str, served) -> None:
    client = tritonhttp.InferenceServerClient(url=address)
    try:
        features = served.features.head(20)
        rows = features.to_numpy(dtype=np.float32)  # FP32 in binary, converted to the signature
        tensor = tritonhttp.InferInput("input-0", list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows)  # binary_data=True, the client's default
        result = client.infer("cancer", [tensor])  # no outputs named: all come back binary
        expected = served.models[2].predict(features.astype(np.float32).astype(np.float64))
        np.testing.assert_array_equal(result.as_numpy("predict"), expected)
        assert "data" not in result.get_output("predict")

        asked = [
            tritonhttp.InferRequestedOutput("predict", binary_data=True),
            tritonhttp.InferRequestedOutput("predict_proba", binary_data=False),
        ]
        mixed = client.infer("cancer", [tensor], outputs=asked, model_version="1")
        np.testing.assert_array_equal(
            mixed.as_numpy("predict"),
            served.models[1].predict(features.astype(np.float32).astype(np.float64)),
        )
        assert "data" in mixed.get_output("predict_proba")  # asked for as JSON
        assert mixed.as_numpy("predict_proba").shape == (20, 2)
    finally:
        client.close()


def _binary_request(address: str, head: bytes, data: bytes, length: str) -> httpx.Response:
    return httpx.post(
        f"http://{address}/v2/models/cancer/infer",
        content=head + data,
        headers={
            "Inference-Header-Content-Length": length,
            "Content-Type": "application/octet-stream",
        },
    )


def test_broken_binary_requests_say_what_is_wrong(address: str, served) -> None:
    rows = served.features.head(2).to_numpy(dtype=np.float64)
    tensor = {"name": "x", "shape": [2, 30], "datatype": "FP64"}
    head = json.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": 480}}]}).encode()
    data = rows.astype("<f8").tobytes()
    ok = _binary_request(address, head, data, str(len(head)))
    assert ok.status_code == 200, ok.text
    assert (
        ok.json()["outputs"][0]["data"]
        == served.models[2].predict(served.features.head(2)).tolist()
    )
    cases = [
        (_binary_request(address, head, data, str(len(head) + len(data) + 1)), 400, "length"),
        (_binary_request(address, head, data, "ten"), 400, "length"),
        (_binary_request(address, head, data[:-8], str(len(head))), 400, "runs past the end"),
        (
            _binary_request(address, head, data + b"\0" * 8, str(len(head))),
            400,
            "binary data after",
        ),
    ]
    short = json.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": 476}}]}).encode()
    cases.append(
        (_binary_request(address, short, data[:476], str(len(short))), 422, "whole number of FP64")
    )
    for response, status, words in cases:
        assert response.status_code == status, response.text
        assert words in response.json()["error"]


def test_bytes_tensors_round_trip_with_length_prefixes() -> None:
    from conveyor.serving.binary import decode, encode

    values = np.array(["a", "", "héllo"], dtype=object)
    assert decode(encode(values), "BYTES", "x").tolist() == ["a", "", "héllo"]
    assert decode(encode(np.array([True, False])), "BOOL", "x").tolist() == [True, False]
    floats = np.array([[1.5, -2.0]], dtype=np.float32)
    assert decode(encode(floats), "FP32", "x").tolist() == [1.5, -2.0]


@given(raw=st.binary(max_size=64), datatype=st.sampled_from(["BYTES", "FP64", "INT32", "BOOL"]))
def test_any_bytes_decode_to_values_or_a_clear_422(raw: bytes, datatype: str) -> None:
    from conveyor.serving.binary import decode
    from conveyor.serving.errors import RequestError

    try:
        values = decode(raw, datatype, "x")
    except RequestError as error:
        status = error.status
    else:
        status = 200
        assert values.ndim == 1
    assert status in (200, 422)


@given(values=st.lists(st.text(max_size=8), max_size=6))
def test_strings_survive_the_binary_round_trip(values: list[str]) -> None:
    from conveyor.serving.binary import decode, encode

    assert decode(encode(np.array(values, dtype=object)), "BYTES", "x").tolist() == values
