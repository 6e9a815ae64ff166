"""Arbitrary JSON at every prediction route: never a 5xx, always a JSON error with a request id."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.serving.app import create_app

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=20,
)
tensor = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["x", "mean radius", "worst area"]) | st.text(max_size=5),
        "shape": st.lists(st.integers(-1, 31), max_size=3) | values,
        "datatype": st.sampled_from(["FP64", "FP32", "INT64", "BOOL", "BYTES", "FP99"]),
        "data": values,
    }
)
bodies = (
    values
    | st.fixed_dictionaries({"inputs": st.lists(tensor, max_size=3)})
    | st.dictionaries(
        st.sampled_from(["dataframe_split", "dataframe_records", "instances", "inputs", "id"]),
        values,
    )
)
ROUTES = ["/v2/models/cancer/infer", "/v1/models/cancer:predict", "/invocations"]


@pytest.fixture(scope="module")
def app(served) -> Any:
    return create_app(served.pool)


async def _post(app: Any, route: str, body: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)  # app exceptions are raised, not hidden
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        return await http.post(route, json=body)


@settings(max_examples=150)
@given(body=bodies, route=st.sampled_from(ROUTES))
def test_no_5xx_for_any_json(app: Any, body: Any, route: str) -> None:
    response = anyio.run(_post, app, route, body)
    assert response.status_code in (200, 400, 404, 422), response.text
    if response.status_code != 200:
        assert response.json()["request_id"] == response.headers["X-Request-ID"]
