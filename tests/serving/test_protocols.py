"""The protocol functions on their own: bodies in, model inputs out, errors with fields."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from conveyor.flavors.signature import Signature, Spec
from conveyor.serving.errors import RequestError
from conveyor.serving.inputs import Layout
from conveyor.serving.protocols import parse_invocations, parse_v1, parse_v2, read_json

COLUMNS = Layout.of(
    Signature((Spec("age", "int64"), Spec("score", "float64"), Spec("city", "str")))
)
OPTIONAL_SCORE = Layout.of(
    Signature((Spec("age", "int64"), Spec("score", "float64", optional=True), Spec("city", "str")))
)
UNIFORM = Layout.of(Signature((Spec("a", "float64"), Spec("b", "float64"))))
TENSOR = Layout.of(Signature((Spec(None, "float32", (-1, 2)),)))
UNTYPED = Layout.of(None)


def refused(call: Any, *args: Any) -> RequestError:
    with pytest.raises(RequestError) as caught:
        call(*args)
    return caught.value


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "application/json; charset=UTF-8", "a/b+json"]
)
def test_json_content_types_are_accepted(content_type: str | None) -> None:
    assert read_json(b'{"a": 1}', content_type) == {"a": 1}


@pytest.mark.parametrize("content_type", ["text/csv", "application/json; charset=latin-1"])
def test_other_content_types_are_415(content_type: str) -> None:
    assert refused(read_json, b"{}", content_type).status == 415


def test_bad_json_is_400() -> None:
    error = refused(read_json, b"[1,", "application/json")
    assert (error.status, error.field) == (400, "body")


def test_v2_one_tensor_becomes_a_typed_frame() -> None:
    body = {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "BYTES",
                        "data": [30, 1.5, "Oslo", 40, 2.5, "Rome"]}]}  # fmt: skip
    frame = parse_v2(body, COLUMNS).data
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["age", "score", "city"]
    assert frame["age"].dtype == np.int64
    assert frame["city"].tolist() == ["Oslo", "Rome"]


def test_v2_columns_of_shape_n_and_n1() -> None:
    body = {"inputs": [
        {"name": "age", "shape": [2], "datatype": "INT32", "data": [30, 40]},
        {"name": "score", "shape": [2, 1], "datatype": "FP32", "data": [[1.5], [2.5]]},
        {"name": "city", "shape": [2], "datatype": "BYTES", "data": ["Oslo", "Rome"]},
    ]}  # fmt: skip
    frame = parse_v2(body, COLUMNS).data
    assert frame["score"].tolist() == [1.5, 2.5]
    assert frame["score"].dtype == np.float64


@pytest.mark.parametrize("datatype", ["FP16", "FP32", "FP64", "INT8", "UINT64", "BOOL"])
def test_v2_datatypes_for_a_tensor_model(datatype: str) -> None:
    data = [1, 0, 1, 1] if datatype != "BOOL" else [True, False, True, True]
    body = {"inputs": [{"name": "x", "shape": [2, 2], "datatype": datatype, "data": data}]}
    array = parse_v2(body, TENSOR).data
    assert array.dtype == np.float32
    assert array.shape == (2, 2)


@pytest.mark.parametrize(
    ("tensor", "field", "status"),
    [
        ({"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 3]}, "x", 422),
        ({"name": "x", "shape": [2, 2], "datatype": "FP99", "data": [1, 2, 3, 4]}, "x", 422),
        ({"name": "x", "shape": [2, -2], "datatype": "FP64", "data": [1, 2]}, "x", 400),
        ({"name": "x", "shape": [2, 2], "datatype": "INT8", "data": [1, 2, 3, 300]}, "x", 422),
        ({"name": "x", "shape": [2, 2], "datatype": "INT64", "data": [1, 2.5, 3, 4]}, "x", 422),
        ({"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [[1, 2], [3]]}, "x", 422),
        ({"name": "x", "shape": [4, 1], "datatype": "FP64", "data": [1, 2, 3, 4]}, "x", 422),
        ({"name": "x", "shape": [2, 2], "datatype": "BYTES", "data": ["a", 1, 2, 3]}, "x", 422),
    ],
)
def test_v2_bad_tensors(tensor: dict[str, Any], field: str, status: int) -> None:
    error = refused(parse_v2, {"inputs": [tensor]}, TENSOR)
    assert (error.status, error.field) == (status, field)


def test_v2_unknown_output_and_empty_inputs() -> None:
    tensor = {"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}
    error = refused(parse_v2, {"inputs": [tensor], "outputs": [{"name": "logits"}]}, TENSOR)
    assert (error.status, error.field) == (422, "outputs")
    assert refused(parse_v2, {"inputs": []}, TENSOR).status == 400
    assert refused(parse_v2, [1, 2], TENSOR).status == 400


def test_v1_rows_records_and_columns_agree() -> None:
    rows = {"instances": [[30, 1.5, "Oslo"]]}
    records = {"instances": [{"age": 30, "score": 1.5, "city": "Oslo"}]}
    columns = {"inputs": {"age": [30], "score": [1.5], "city": ["Oslo"]}}
    frames = [parse_v1(body, COLUMNS) for body in (rows, records, columns)]
    for frame in frames[1:]:
        pd.testing.assert_frame_equal(frame, frames[0])


def test_v1_ragged_columns_and_wrong_dtypes() -> None:
    ragged = {"inputs": {"age": [30, 40], "score": [1.5], "city": ["Oslo"]}}
    assert refused(parse_v1, ragged, COLUMNS).status == 422
    wrong = {"instances": [[30.5, 1.5, "Oslo"]]}
    assert refused(parse_v1, wrong, COLUMNS).field == "age"
    assert refused(parse_v1, {"instances": [[1, 2, 3]], "inputs": {}}, COLUMNS).status == 400


def test_untyped_model_takes_a_numeric_matrix() -> None:
    array = parse_v1({"instances": [[1, 2], [3, 4]]}, UNTYPED)
    assert array.tolist() == [[1, 2], [3, 4]]
    assert refused(parse_v1, {"instances": [["a", "b"]]}, UNTYPED).status == 422
    assert refused(parse_v1, {"instances": [{"a": 1}]}, UNTYPED).status == 422


def test_invocations_split_and_records() -> None:
    split = {"dataframe_split": {"columns": ["city", "age", "score"], "data": [["Oslo", 30, 1.5]],
                                 "index": [7]}}  # fmt: skip
    frame = parse_invocations(split, COLUMNS)
    assert frame.iloc[0].tolist() == [30, 1.5, "Oslo"]
    records = {"dataframe_records": [{"age": 30, "score": None, "city": "Oslo"}]}
    assert np.isnan(parse_invocations(records, OPTIONAL_SCORE)["score"][0])
    error = refused(parse_invocations, {"dataframe_records": [{"age": 30}]}, COLUMNS)
    assert (error.status, error.field) == (422, "score")


def test_nested_values_in_a_text_column_are_422() -> None:
    body = {"dataframe_records": [{"age": 30, "score": 1.5, "city": ["Oslo"]}]}
    error = refused(parse_invocations, body, COLUMNS)
    assert (error.status, error.field) == (422, "city")


MISSING_OR_INFINITE = [
    ("v1 null in a uniform row", parse_v1,
     {"instances": [[1.0, 2.0], [3.0, None]]}, UNIFORM, "b", 1),
    ("v1 huge number", parse_v1, {"instances": [[1e999, 2.0]]}, UNIFORM, "a", 0),
    ("split null", parse_invocations,
     {"dataframe_split": {"columns": ["b", "a"], "data": [[1.0, None]]}}, UNIFORM, "a", 0),
    ("records null text", parse_invocations,
     {"dataframe_records": [{"age": 1, "score": 1.0, "city": None}]}, COLUMNS, "city", 0),
    ("records null score", parse_invocations,
     {"dataframe_records": [{"age": 1, "score": 1.0, "city": "x"},
                            {"age": 1, "score": None, "city": "x"}]}, COLUMNS, "score", 1),
    ("tensor null", parse_v1, {"instances": [[1.0, 2.0], [None, 2.0]]}, TENSOR, "instances", 1),
]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "body", "layout", "field", "row"),
    [case[1:] for case in MISSING_OR_INFINITE],
    ids=[case[0] for case in MISSING_OR_INFINITE],
)
def test_missing_and_infinite_values_are_422_naming_field_and_row(
    call: Any, body: Any, layout: Layout, field: str, row: int
) -> None:
    error = refused(call, body, layout)
    assert (error.status, error.field) == (422, field)
    assert f"row {row}" in error.message


def test_an_optional_column_takes_missing_values_but_never_infinity() -> None:
    body = {"dataframe_records": [{"age": 1, "score": None, "city": "x"}]}
    assert np.isnan(parse_invocations(body, OPTIONAL_SCORE)["score"][0])
    body["dataframe_records"][0]["score"] = float("inf")
    assert refused(parse_invocations, body, OPTIONAL_SCORE).field == "score"


def test_split_in_another_column_order_reaches_the_model_in_signature_order() -> None:
    body = {"dataframe_split": {"columns": ["b", "a"], "data": [[2.0, 1.0]]}}
    frame = parse_invocations(body, UNIFORM)
    assert list(frame.columns) == ["a", "b"]
    assert frame.iloc[0].tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    "shape",
    [
        [0, 48292, 190991717817750],  # found by schemathesis: a 500 from numpy before
        [0, 2**31 - 1, 2**31 - 1],
        [1] * 9,
        [2**31],
    ],
)
def test_a_v2_shape_numpy_cannot_describe_is_a_400_naming_the_input(shape) -> None:
    body = {"inputs": [{"name": "x", "shape": shape, "datatype": "BOOL", "data": []}]}
    with pytest.raises(RequestError) as caught:
        parse_v2(body, TENSOR)
    assert caught.value.status in (400, 422)  # 400: outside the OpenAPI schema; 422: its product
    assert "input 'x'" in str(caught.value)
