"""Every route and protocol of the gateway, through httpx's ASGI transport, on real models."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from conveyor.serving.app import create_app
from conveyor.serving.pool import ModelPool

pytestmark = pytest.mark.anyio

CANCER = "/v2/models/cancer"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(served) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(served.pool, max_body_bytes=200_000)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http


@pytest.fixture
async def quirky(served) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(served.trusted_pool, request_timeout_s=0.5)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http


def expected(served, version: int, rows: int = 5) -> list[int]:
    return served.models[version].predict(served.features.head(rows)).tolist()


def v2_tensor(served, rows: int = 5, datatype: str = "FP64") -> dict[str, Any]:
    values = served.features.head(rows).to_numpy()
    return {"name": "input-0", "shape": list(values.shape), "datatype": datatype,
            "data": values.ravel().tolist()}  # fmt: skip


def columns(served, rows: int = 5) -> dict[str, list[float]]:
    return served.features.head(rows).to_dict(orient="list")


async def test_health_and_server_metadata(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v2/health/live")).json() == {"live": True}
    assert (await client.get("/v2/health/ready")).json() == {"ready": True}
    meta = (await client.get("/v2")).json()
    assert meta["name"] == "conveyor"


async def test_model_metadata_describes_the_signature(client: httpx.AsyncClient, served) -> None:
    meta = (await client.get(CANCER)).json()
    assert meta["name"] == "cancer"
    assert meta["versions"] == ["1", "2"]
    assert meta["platform"] == "conveyor-sklearn"
    assert len(meta["inputs"]) == 30
    assert meta["inputs"][0] == {"name": "mean radius", "datatype": "FP64", "shape": [-1]}
    assert meta["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
    ]
    assert (await client.get(f"{CANCER}/versions/1")).status_code == 200


async def test_model_ready(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{CANCER}/ready")
    assert response.json() == {"name": "cancer", "ready": True}
    assert (await client.get(f"{CANCER}/versions/2/ready")).status_code == 200
    assert (await client.get(f"{CANCER}/versions/7/ready")).status_code == 404


async def test_v2_infer_with_one_tensor(client: httpx.AsyncClient, served) -> None:
    body = {"id": "abc", "inputs": [v2_tensor(served)]}
    response = await client.post(f"{CANCER}/infer", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model_name"] == "cancer"
    assert answer["model_version"] == "2"
    assert answer["id"] == "abc"
    predict, proba = answer["outputs"]
    assert predict == {"name": "predict", "shape": [5], "datatype": "INT64",
                       "data": expected(served, 2)}  # fmt: skip
    want = served.models[2].predict_proba(served.features.head(5))
    assert proba["shape"] == [5, 2]
    np.testing.assert_allclose(np.reshape(proba["data"], (5, 2)), want)
    assert response.headers["X-Conveyor-Model-Version"] == "2"


async def test_v2_infer_nested_data_and_fp32(client: httpx.AsyncClient, served) -> None:
    tensor = v2_tensor(served, rows=3, datatype="FP64")
    tensor["data"] = served.features.head(3).to_numpy().tolist()
    answer = (await client.post(f"{CANCER}/infer", json={"inputs": [tensor]})).json()
    assert answer["outputs"][0]["data"] == expected(served, 2, rows=3)
    tensor["datatype"] = "FP32"
    response = await client.post(f"{CANCER}/infer", json={"inputs": [tensor]})
    assert response.status_code == 200


async def test_v2_infer_one_input_per_column(client: httpx.AsyncClient, served) -> None:
    inputs = [
        {"name": name, "shape": [5, 1], "datatype": "FP64", "data": values}
        for name, values in columns(served).items()
    ]
    body = {"inputs": inputs, "outputs": [{"name": "predict"}]}
    answer = (await client.post(f"{CANCER}/versions/1/infer", json=body)).json()
    assert answer["model_version"] == "1"
    assert [o["name"] for o in answer["outputs"]] == ["predict"]
    assert answer["outputs"][0]["data"] == expected(served, 1)


async def test_v1_predict_instances_and_inputs(client: httpx.AsyncClient, served) -> None:
    rows = served.features.head(5).to_numpy().tolist()
    records = served.features.head(5).to_dict(orient="records")
    for body in ({"instances": rows}, {"instances": records}, {"inputs": columns(served)}):
        response = await client.post("/v1/models/cancer:predict", json=body)
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": expected(served, 2)}


async def test_invocations_every_layout(client: httpx.AsyncClient, served) -> None:
    head = served.features.head(5)
    split = orjson.loads(head.to_json(orient="split", index=False))
    bodies = [
        {"dataframe_split": split},
        {"dataframe_records": head.to_dict(orient="records")},
        {"instances": head.to_numpy().tolist()},
        {"inputs": columns(served)},
    ]
    for body in bodies:
        response = await client.post("/invocations", json=body)
        assert response.status_code == 200, (body.keys(), response.text)
        assert response.json() == {"predictions": expected(served, 2)}


async def test_invocations_needs_exactly_one_key(client: httpx.AsyncClient, served) -> None:
    for body in ({}, {"instances": [[1.0]], "inputs": {}}, {"rows": []}):
        response = await client.post("/invocations", json=body)
        assert response.status_code == 400
        assert "dataframe_split, dataframe_records, instances, inputs" in response.json()["error"]


async def test_invocations_takes_csv_as_mlflow_does(client: httpx.AsyncClient, served) -> None:
    csv = served.features.head(5).to_csv(index=False).encode()
    headers = {"Content-Type": "text/csv; charset=utf-8"}
    response = await client.post("/invocations", content=csv, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": expected(served, 2)}


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"", 400, "body"),
        (b"\xff\xfe,\x00\n1,2\n", 400, "body"),
        (b"mean radius\n", 422, "body"),  # a header, no rows
    ],
)
async def test_bad_csv_says_what_is_wrong(
    client: httpx.AsyncClient, body: bytes, status: int, field: str
) -> None:
    response = await client.post("/invocations", content=body, headers={"Content-Type": "text/csv"})
    assert response.status_code == status, response.text
    assert response.json()["field"] == field


async def test_csv_with_a_word_in_a_number_column_names_the_column(
    client: httpx.AsyncClient, served
) -> None:
    frame = served.features.head(2).astype(object)
    frame.iloc[1, 4] = "lots"
    csv = frame.to_csv(index=False).encode()
    response = await client.post("/invocations", content=csv, headers={"Content-Type": "text/csv"})
    assert response.status_code == 422
    assert response.json()["field"] == served.features.columns[4]


async def test_invocations_params_empty_is_fine_anything_else_is_said(
    client: httpx.AsyncClient, served
) -> None:
    rows = served.features.head(5).to_numpy().tolist()
    response = await client.post("/invocations", json={"instances": rows, "params": {}})
    assert response.status_code == 200
    response = await client.post("/invocations", json={"instances": rows, "params": {"k": 1}})
    assert response.status_code == 400
    assert response.json()["field"] == "params"
    assert "takes no inference parameters" in response.json()["error"]
    response = await client.post("/invocations", json={"instances": rows, "extra": 1})
    assert (response.status_code, response.json()["field"]) == (400, "extra")


async def test_version_header_forces_a_version(client: httpx.AsyncClient, served) -> None:
    body = {"instances": served.features.head(5).to_numpy().tolist()}
    headers = {"X-Conveyor-Version": "1"}
    response = await client.post("/v1/models/cancer:predict", json=body, headers=headers)
    assert response.headers["X-Conveyor-Model-Version"] == "1"
    assert response.json()["predictions"] == expected(served, 1)
    headers = {"X-Conveyor-Version": "9"}
    response = await client.post("/v1/models/cancer:predict", json=body, headers=headers)
    assert response.status_code == 404
    assert "loaded versions: 1, 2" in response.json()["error"]


async def test_router_chooses_the_version(served) -> None:
    class Always1:
        def choose(self, model: str, headers: Mapping[str, str], body: Any) -> int:
            return 1

    app = create_app(served.pool, router=Always1())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        body = {"instances": served.features.head(5).to_numpy().tolist()}
        response = await http.post("/v1/models/cancer:predict", json=body)
    assert response.headers["X-Conveyor-Model-Version"] == "1"


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/health/live", headers={"X-Request-ID": "req-42"})
    assert response.headers["X-Request-ID"] == "req-42"
    made = (await client.get("/v2/health/live")).headers["X-Request-ID"]
    assert len(made) == 32


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{CANCER}/infer", content=b"{not json", headers=_json_type())
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "body"
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_wrong_content_type_is_415(client: httpx.AsyncClient) -> None:
    headers = {"Content-Type": "text/csv"}  # CSV is MLflow's, for /invocations only
    response = await client.post(f"{CANCER}/infer", content=b"a,b\n1,2\n", headers=headers)
    assert response.status_code == 415
    headers = {"Content-Type": "text/plain"}
    response = await client.post("/invocations", content=b"a,b\n1,2\n", headers=headers)
    assert response.status_code == 415
    charset = {"Content-Type": "application/json; charset=utf-8"}
    response = await client.post("/invocations", content=b"{}", headers=charset)
    assert response.status_code == 400  # JSON with a charset is accepted, then found wanting


async def test_missing_column_is_422_naming_it(client: httpx.AsyncClient, served) -> None:
    records = served.features.head(2).drop(columns="mean area").to_dict(orient="records")
    response = await client.post("/invocations", json={"dataframe_records": records})
    assert response.status_code == 422
    assert response.json()["field"] == "mean area"
    assert "mean area" in response.json()["error"]


async def test_unknown_column_and_wrong_dtype_are_422(client: httpx.AsyncClient, served) -> None:
    records = served.features.head(2).to_dict(orient="records")
    records[1]["colour"] = "red"
    response = await client.post("/invocations", json={"dataframe_records": records})
    assert (response.status_code, response.json()["field"]) == (422, "colour")
    del records[1]["colour"]
    records[0]["mean radius"] = "big"
    response = await client.post("/invocations", json={"dataframe_records": records})
    assert (response.status_code, response.json()["field"]) == (422, "mean radius")


async def test_wrong_shape_is_422(client: httpx.AsyncClient, served) -> None:
    tensor = v2_tensor(served, rows=2)
    tensor["shape"] = [2, 29]
    response = await client.post(f"{CANCER}/infer", json={"inputs": [tensor]})
    assert response.status_code == 422
    assert response.json()["field"] == "input-0"
    rows = served.features.head(2).to_numpy().tolist()
    rows[1] = rows[1][:10]
    response = await client.post("/v1/models/cancer:predict", json={"instances": rows})
    assert response.status_code == 422
    assert "has 10 values; the model takes 30" in response.json()["error"]


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/invocations", content=b" " * 300_000, headers=_json_type())
    assert response.status_code == 413


async def test_unknown_model_is_404_listing_names(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/v2/models/nope"),
        await client.post("/v2/models/nope/infer", json={"inputs": []}),
        await client.post("/invocations", json={}, headers={"X-Conveyor-Model": "nope"}),
    ):
        assert response.status_code == 404
        assert "served models: cancer" in response.json()["error"]


async def test_unknown_version_is_404(client: httpx.AsyncClient, served) -> None:
    body = {"inputs": [v2_tensor(served, rows=1)]}
    response = await client.post(f"{CANCER}/versions/5/infer", json=body)
    assert response.status_code == 404
    assert response.json()["field"] == "version"
    assert (await client.get(f"{CANCER}/versions/x")).status_code == 404


async def test_model_that_raises_is_500_and_serving_goes_on(quirky: httpx.AsyncClient) -> None:
    bad = {"instances": [[13.0, 1.0]]}
    response = await quirky.post("/invocations", json=bad, headers={"X-Request-ID": "r-13"})
    assert response.status_code == 500
    assert response.json()["request_id"] == "r-13"
    assert "thirteen is unlucky" in response.json()["error"]
    # a failed answer names the version that failed it, as a good one does: during a canary
    # a client can tell the canary's errors from the stable version's
    assert response.headers["X-Conveyor-Model-Version"] == "1"
    response = await quirky.post("/invocations", json={"instances": [[1.5, 1.0]]})
    assert response.status_code == 200
    assert response.json() == {"predictions": [3.0]}


async def test_slow_prediction_is_504(quirky: httpx.AsyncClient) -> None:
    response = await quirky.post("/invocations", json={"instances": [[-1.0, 1.0]]})
    assert response.status_code == 504
    assert "within 0.5 s" in response.json()["error"]
    assert (await quirky.get("/v2/health/live")).status_code == 200


async def test_openapi_lists_every_route(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    routes = {route.path for route in create_app(_empty_pool()).routes}  # type: ignore[attr-defined]
    assert routes == set(document["paths"])


async def test_not_ready_without_models() -> None:
    transport = httpx.ASGITransport(app=create_app(_empty_pool()))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        response = await http.get("/v2/health/ready")
        assert response.status_code == 503
        response = await http.post("/invocations", json={})
        assert response.status_code == 400
        assert "name one in the X-Conveyor-Model header" in response.json()["error"]


def _empty_pool():
    from conveyor.serving.pool import ModelPool

    return ModelPool()


def _json_type() -> dict[str, str]:
    return {"Content-Type": "application/json"}


async def test_with_the_routing_tables_router(served) -> None:
    from conveyor.delivery.tables import Route, RoutingTable
    from conveyor.serving.routing import Router

    router = Router([RoutingTable("cancer", (Route(1, 1.0),))])
    body = {"instances": served.features.head(5).to_numpy().tolist()}
    for chooser, answered in ((router, "1"), (Router(), "2")):  # no table: the latest answers
        app = create_app(served.pool, router=chooser)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            response = await http.post("/v1/models/cancer:predict", json=body)
        assert response.headers["X-Conveyor-Model-Version"] == answered


def test_made_request_ids_are_unique_hex_and_differ_after_fork() -> None:
    import os

    from conveyor.serving.app import new_request_id

    ids = {new_request_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.waitpid(child, 0)
    theirs = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    assert theirs[:16] != new_request_id()[:16]


async def test_startup_and_shutdown_hooks_run_with_the_server_lifespan(served) -> None:
    said: list[str] = []
    app = create_app(
        served.pool,
        on_startup=[lambda: said.append("up")],
        on_shutdown=[lambda: said.append("down")],
    )
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    sent: list[str] = []

    async def receive() -> dict[str, str]:
        return await inbox.get()

    async def send(message: dict[str, str]) -> None:
        sent.append(message["type"])

    server = asyncio.ensure_future(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    )
    await inbox.put({"type": "lifespan.startup"})
    while "lifespan.startup.complete" not in sent:
        await asyncio.sleep(0.01)
    assert said == ["up"]
    await inbox.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(server, 10)
    assert said == ["up", "down"]
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_empty_csv_field_is_422_naming_column_and_row(
    client: httpx.AsyncClient, served
) -> None:
    frame = served.features.head(3).astype(object)
    frame.iloc[2, 4] = None  # written as an empty field
    csv = frame.to_csv(index=False).encode()
    response = await client.post("/invocations", content=csv, headers={"Content-Type": "text/csv"})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == served.features.columns[4]
    assert "row 2" in response.json()["error"]


@pytest.mark.parametrize("token", ["inf", "-inf", "NaN"])
async def test_csv_infinity_and_nan_tokens_are_422(
    client: httpx.AsyncClient, served, token: str
) -> None:
    frame = served.features.head(2).astype(object)
    frame.iloc[1, 0] = token
    csv = frame.to_csv(index=False).encode()
    response = await client.post("/invocations", content=csv, headers={"Content-Type": "text/csv"})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == served.features.columns[0]
    assert "row 1" in response.json()["error"]


async def test_input_that_overflows_in_the_model_is_422_not_null(
    quirky: httpx.AsyncClient,
) -> None:
    # finite in, but the model doubles it: inf out, which JSON would have carried as null
    response = await quirky.post("/invocations", json={"instances": [[1.0, 0.0], [1e308, 0.0]]})
    assert response.status_code == 422, response.text
    assert "non-finite output for row 1" in response.json()["error"]


async def test_no_response_shows_a_path_of_the_server(served) -> None:
    """Craft every failure a client can cause; no body may name a file of this server."""
    import sys
    import tempfile
    from pathlib import Path

    app = create_app(served.trusted_pool, request_timeout_s=0.5, max_body_bytes=1000)
    transport = httpx.ASGITransport(app=app)
    bodies = []
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        for method, url, content, headers in [
            ("POST", "/invocations", b'{"instances": [[13.0, 1.0]]}', {}),  # the model raises
            ("POST", "/invocations", b'{"instances": [[-1.0, 1.0]]}', {}),  # too slow
            ("POST", "/invocations", b'{"instances": [[null, 1.0]]}', {}),
            ("POST", "/invocations", b"a,b\n1,\n", {"Content-Type": "text/csv"}),
            ("POST", "/invocations", b"\xff\xfe", {"Content-Type": "text/csv"}),
            ("POST", "/invocations", b"{", {}),
            ("POST", "/invocations", b"x" * 2000, {}),
            ("POST", "/invocations", b"{}", {"Content-Type": "text/plain"}),
            ("POST", "/v2/models/quirky/versions/9/infer", b"{}", {}),
            ("POST", "/v2/models/nope/infer", b"{}", {}),
            ("GET", "/nowhere", b"", {}),
        ]:
            response = await http.request(method, url, content=content, headers=headers)
            assert response.status_code >= 400
            bodies.append(response.text)
    places = {str(served.root), str(Path.home()), sys.prefix, tempfile.gettempdir(), "/work"}
    for text in bodies:
        assert not [place for place in places if place in text], text


async def test_an_unloaded_version_is_let_go_by_the_gateway(served) -> None:
    """Unloading a version (the watcher does, once no table names it) frees it: nothing the
    app keeps per version (batcher, input layout) holds on to it after the next request."""
    pool = ModelPool()
    for version in (1, 2):
        pool.add(dataclasses.replace(served.pool.get("cancer", version)))
    app = create_app(pool)
    gone = weakref.ref(pool.get("cancer", 1))
    body = {"instances": served.features.head(2).to_numpy().tolist()}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        for version in ("1", "2"):
            response = await http.post(
                "/v1/models/cancer:predict", json=body, headers={"X-Conveyor-Version": version}
            )
            assert response.status_code == 200
        pool.remove("cancer", 1)
        response = await http.post("/v1/models/cancer:predict", json=body)
        assert response.headers["X-Conveyor-Model-Version"] == "2"
    gc.collect()

    assert gone() is None
