"""Schemathesis against ``/openapi.json``: every operation, valid and invalid requests.

The document is loaded from the app itself. For each operation, requests generated from it
(positive: valid per the document; negative: violating it, for the operations with a body) go
to a pool of real scikit-learn models, and each answer is held to the document:

* no 5xx (the deliberate 500 is only for a model whose ``predict`` raises; these models don't);
* the status is one the operation documents, the body matches that status' schema and is JSON;
* a request the document calls valid is never refused as malformed (400, 413, 415): 404 for a
  fuzzed model name and 422 for inputs that don't fit the model are the only refusals;
* a request that violates the document is refused with a 4xx.

Path parameters are either fuzzed or pinned to the served model (and its versions), so the
parsing behind the 404 is exercised too. Generation is derandomized: CI sees the same requests.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conveyor.serving.app import create_app
from conveyor.serving.feedback import LabelLog
from conveyor.serving.openapi import openapi_document

MAX_EXAMPLES = 50
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]
MALFORMED = (400, 413, 415)
OPERATIONS = [
    (method.upper(), path)
    for path, item in openapi_document(feedback=True)["paths"].items()
    for method in item
    if path != "/openapi.json"  # the document itself: fetched by the loader below
]
CASES = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or method == "POST"  # a GET has nothing to violate
]


@pytest.fixture(scope="module")
def api(served, tmp_path_factory: pytest.TempPathFactory) -> Any:
    labels = LabelLog(str(tmp_path_factory.mktemp("labels")))  # /feedback is fuzzed too
    app = create_app(served.pool, feedback=labels)
    yield schemathesis.openapi.from_asgi("/openapi.json", app, config=schemathesis.Config())
    labels.close()


def _strategies(operation: Any, mode: GenerationMode) -> st.SearchStrategy[Any]:
    """Fuzzed path parameters, and the same with the served model (and versions) pinned."""
    pinned: list[dict[str, str]] = []
    if "{model}" in operation.path:
        pinned.append({"model": "cancer"})
    if "{version}" in operation.path:
        pinned += [{"model": "cancer", "version": version} for version in ("1", "2")]
    variants = [operation.as_strategy(generation_mode=mode)]
    variants += [
        operation.as_strategy(generation_mode=mode, path_parameters=params) for params in pinned
    ]
    return st.one_of(variants)


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_operation_conforms_to_openapi(
    api: Any, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api[path][method]

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=_strategies(operation, mode))
    def fuzz(case: Any) -> None:
        response = case.call()
        case.validate_response(response, checks=CHECKS)
        # "valid CSV" has no JSON Schema: a CSV body that is any string may rightly get a 400
        if mode is GenerationMode.POSITIVE and case.media_type != "text/csv":
            assert response.status_code not in MALFORMED, (
                f"{case.as_curl_command()}\n-> {response.status_code} {response.text}"
            )

    fuzz()


# Regression tests for what the fuzz found.


def _request(served, method: str, url: str, **kwargs: Any) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(served.pool))  # app errors are raised
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            return await http.request(method, url, **kwargs)

    return anyio.run(send)


@pytest.mark.parametrize("suffix", ["", "/ready", "/infer"])
def test_a_unicode_digit_version_in_the_path_is_404_not_500(served, suffix: str) -> None:
    # '²'.isdigit() is True but int('²') raises: GET /v2/models/cancer/versions/%C2%B2 was a 500.
    method = "POST" if suffix == "/infer" else "GET"
    url = f"/v2/models/cancer/versions/%C2%B2{suffix}"
    response = _request(served, method, url, json={})
    assert response.status_code == 404, response.text
    assert response.json()["field"] == "version"


def test_a_unicode_digit_version_header_is_400_not_500(served) -> None:
    headers = {"X-Conveyor-Version": "²".encode("latin-1")}
    response = _request(served, "POST", "/invocations", headers=headers, json={})
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "X-Conveyor-Version"


def test_a_shape_of_integral_floats_is_accepted(served) -> None:
    # JSON Schema's integer (the document's shape items) includes 2.0; it was a 400.
    values = served.features.head(2).to_numpy()
    tensor = {
        "name": "x",
        "shape": [2.0, 30.0],
        "datatype": "FP64",
        "data": values.ravel().tolist(),
    }
    response = _request(served, "POST", "/v2/models/cancer/infer", json={"inputs": [tensor]})
    assert response.status_code == 200, response.text
    predicted = response.json()["outputs"][0]
    assert predicted["shape"] == [2]
    assert predicted["data"] == served.models[1].predict(served.features.head(2)).tolist()


@pytest.mark.parametrize("shape", [[2.5, 30], [-2.0, 30], [True, 30]])
def test_a_shape_of_other_numbers_is_still_400(served, shape: list[Any]) -> None:
    values = served.features.head(2).to_numpy()
    tensor = {"name": "x", "shape": shape, "datatype": "FP64", "data": values.ravel().tolist()}
    response = _request(served, "POST", "/v2/models/cancer/infer", json={"inputs": [tensor]})
    assert response.status_code == 400, response.text
