"""Request bodies to model inputs and predictions to response bodies, for three protocols.

Pure functions, no web framework::

    read_json(body, content_type)             bytes -> JSON value (400, 415)
    parse_v2(body, layout)   -> V2Request     Open Inference Protocol v2 /infer
    v2_response(...)         -> dict          {"model_name", "outputs": [...]}
    parse_v1(body, layout)   -> ModelInput    TF-Serving / KServe v1 :predict
    parse_invocations(body, layout)           MLflow /invocations (JSON)
    parse_csv(body, layout)  -> ModelInput    MLflow /invocations (text/csv)
    predictions(array)       -> dict          {"predictions": [...]}

Inputs that do not fit the model raise :class:`RequestError` with the status and the field.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from conveyor.serving.binary import Cursor, decode, encode
from conveyor.serving.errors import RequestError
from conveyor.serving.inputs import (
    Layout,
    coerce,
    from_array,
    from_columns,
    from_records,
    from_rows,
)

if TYPE_CHECKING:
    from conveyor.flavors.base import Array, ModelInput
    from conveyor.serving.pool import Served

V2_DTYPES = {
    "BOOL": "bool",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}
NUMPY_TO_V2 = {numpy: v2 for v2, numpy in V2_DTYPES.items()}
OUTPUTS = ("predict", "predict_proba")
MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
# A tensor's shape: no body under the size limit needs more dimensions or a longer one.
MAX_DIMS = 8
MAX_DIM = 2**31 - 1


@dataclass(frozen=True)
class V2Request:
    """A parsed /infer request: its id, the model input, and the outputs asked for."""

    id: str | None
    data: ModelInput
    outputs: tuple[str, ...] | None
    binary_outputs: frozenset[str] = frozenset()  # outputs to send as binary data


def read_json(body: bytes, content_type: str | None) -> Any:
    """The JSON value of a request body; 415 unless the content type is JSON (or absent)."""
    if content_type:
        media, _, params = content_type.partition(";")
        media = media.strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise RequestError(
                415,
                f"content type {media!r} is not supported; send application/json",
                field="content-type",
            )
        charset = params.strip().lower().removeprefix("charset=").strip('"')
        if params.strip() and charset not in ("utf-8", "utf8"):
            raise RequestError(
                415, f"only UTF-8 JSON is accepted, got {params.strip()!r}", field="content-type"
            )
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, f"the body is not valid JSON: {exc}", field="body") from exc


def parse_v2(body: Any, layout: Layout, binary: bytes = b"") -> V2Request:
    """An Open Inference Protocol v2 request: one [N, F] tensor, or one tensor per column.

    ``binary`` is the data after the JSON header of a request using the binary tensor
    extension (:mod:`conveyor.serving.binary`); inputs with ``binary_data_size`` read it.
    """
    request = _object(body, "body")
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise RequestError(400, "id must be a string", field="id")
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(400, "inputs must be a non-empty list of tensors", field="inputs")
    cursor = Cursor(binary)
    tensors = dict(_tensor(entry, index, cursor) for index, entry in enumerate(inputs))
    cursor.finish()
    if len(tensors) != len(inputs):
        raise RequestError(422, "two inputs have the same name", field="inputs")
    outputs = request.get("outputs")
    return V2Request(
        request_id,
        _v2_input(tensors, layout),
        _requested(outputs),
        _binary_outputs(outputs, _parameters(request, "body")),
    )


def v2_response(
    served: Served,
    request_id: str,
    predicted: Array,
    proba: Array | None,
    outputs: tuple[str, ...] | None,
    binary: frozenset[str] = frozenset(),
) -> tuple[dict[str, Any], list[bytes]]:
    """The /infer response: a ``predict`` output [N] and, if any, ``predict_proba`` [N, K].

    Outputs named in ``binary`` carry ``binary_data_size`` instead of ``data``; their bytes
    are returned in order, to follow the JSON (see :mod:`conveyor.serving.binary`).
    """
    if outputs is not None and "predict_proba" in outputs and proba is None:
        raise RequestError(
            422, f"model {served.name!r} gives no predict_proba output", field="outputs"
        )
    arrays = {"predict": predicted}
    if proba is not None and (outputs is None or "predict_proba" in outputs):
        arrays["predict_proba"] = proba
    if outputs is not None:
        arrays = {name: array for name, array in arrays.items() if name in outputs}
    tensors, blobs = [], []
    for name, array in arrays.items():
        if name in binary:
            blob = encode(array)
            tensors.append(_output(name, array, binary_size=len(blob)))
            blobs.append(blob)
        else:
            tensors.append(_output(name, array))
    answer = {
        "model_name": served.name,
        "model_version": str(served.version),
        "id": request_id,
        "outputs": tensors,
    }
    return answer, blobs


def v2_metadata(served: Served, versions: list[int]) -> dict[str, Any]:
    """``GET /v2/models/{m}``: name, versions, platform, and the input and output tensors."""
    signature = served.model.signature
    inputs = []
    if signature is not None:
        for spec in signature.inputs:
            shape = list(spec.shape) if spec.shape is not None else [-1]
            inputs.append(
                {"name": spec.name or "input", "datatype": v2_datatype(spec.dtype), "shape": shape}
            )
    out_dtype = signature.outputs[0].dtype if signature and signature.outputs else "float64"
    outputs = [{"name": "predict", "datatype": v2_datatype(out_dtype), "shape": [-1]}]
    classes = served.model.classes()
    if classes is not None:
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(classes)]})
    return {
        "name": served.name,
        "versions": [str(version) for version in versions],
        "platform": f"conveyor-{served.flavor}",
        "inputs": inputs,
        "outputs": outputs,
    }


def parse_v1(body: Any, layout: Layout) -> ModelInput:
    """``{"instances": [...]}`` (rows or records) or ``{"inputs": ...}`` (columns or rows)."""
    request = _object(body, "body")
    present = [key for key in ("instances", "inputs") if key in request]
    if len(present) != 1:
        raise RequestError(
            400, "the body must have exactly one of 'instances' and 'inputs'", field="body"
        )
    return _rows_records_or_columns(request[present[0]], layout, present[0])


def parse_invocations(body: Any, layout: Layout) -> ModelInput:
    """MLflow's /invocations: exactly one of ``dataframe_split``, ``dataframe_records``,
    ``instances`` or ``inputs``."""
    request = _object(body, "body")
    present = [key for key in MLFLOW_KEYS if key in request]
    if len(present) != 1:
        raise RequestError(
            400,
            f"the body must have exactly one of {', '.join(MLFLOW_KEYS)}; got "
            f"{', '.join(present) or 'none of them'}",
            field="body",
        )
    params = request.get("params")
    if params is not None and not isinstance(params, dict):
        raise RequestError(400, "params must be an object", field="params")
    if params:
        raise RequestError(
            400,
            f"this model takes no inference parameters, got params {sorted(params)[:10]}; "
            "its signature defines none",
            field="params",
        )
    unknown = sorted(set(request) - {*MLFLOW_KEYS, "params"})
    if unknown:
        raise RequestError(400, f"unknown key(s) in the body: {unknown[:10]}", field=unknown[0])
    key = present[0]
    if key == "dataframe_split":
        return _split(request[key], layout)
    if key == "dataframe_records":
        return from_records(request[key], layout, key)
    return _rows_records_or_columns(request[key], layout, key)


def parse_csv(body: bytes, layout: Layout) -> ModelInput:
    """MLflow's /invocations with ``Content-Type: text/csv``: a header row, then one row per
    prediction; values are converted to the signature's dtypes as JSON values are."""
    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(body), encoding="utf-8", encoding_errors="strict")
    except UnicodeDecodeError as exc:
        raise RequestError(400, f"the CSV body is not UTF-8: {exc}", field="body") from exc
    except (ValueError, pd.errors.ParserError) as exc:  # EmptyDataError is a ValueError
        raise RequestError(400, f"the body is not valid CSV: {exc}", field="body") from exc
    if frame.empty:
        raise RequestError(422, "the CSV body has a header but no rows", field="body")
    if layout.columns is None or [str(name) for name in frame.columns] == list(layout.columns):
        return from_array(frame.to_numpy(), layout, "body")
    columns = {str(name): frame[name].tolist() for name in frame.columns}
    return from_columns(columns, layout, "body")


def check_finite(served: Served, predicted: Array, proba: Array | None) -> None:
    """422 if the model answered inf or NaN for some row (JSON would carry it as ``null``):
    a finite input past the model's range (``1e308`` overflowing in a scaler) does that."""
    import numpy as np

    for array in (predicted, proba):
        if array is not None and array.dtype.kind == "f" and not np.isfinite(array).all():
            row = int(np.argmax(~np.isfinite(array).reshape(len(array), -1).all(axis=1)))
            raise RequestError(
                422,
                f"model {served.name!r} version {served.version} gave a non-finite output for "
                f"row {row}: its inputs are outside the range the model computes with",
                field="body",
            )


def predictions(predicted: Array) -> dict[str, Any]:
    """``{"predictions": [...]}``: one value (or list) per row."""
    return {"predictions": _plain(predicted)}


def v2_datatype(dtype: str) -> str:
    """The v2 datatype of a numpy dtype name; strings and anything else are BYTES."""
    return NUMPY_TO_V2.get(dtype, "BYTES") if dtype != "object" else "BYTES"


def _tensor(entry: object, index: int, cursor: Cursor) -> tuple[str, Array]:
    tensor = _object(entry, f"inputs[{index}]")
    name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
    if not isinstance(name, str):
        raise RequestError(400, f"inputs[{index}].name must be a string", field="inputs")
    if not isinstance(shape, list) or len(shape) > MAX_DIMS or not all(_count(d) for d in shape):
        raise RequestError(
            400,
            f"input {name!r}: shape must be a list of at most {MAX_DIMS} integers "
            f"from 0 to {MAX_DIM}",
            field=name,
        )
    shape = [int(d) for d in shape]  # JSON's 2.0 is the integer 2
    if math.prod(d for d in shape if d) > MAX_DIM:  # numpy refuses even an empty such array
        # a well-formed shape (the OpenAPI document allows it) that no data can fill: a 422,
        # like a shape that does not match its data
        raise RequestError(
            422, f"input {name!r}: shape {shape} describes more than {MAX_DIM} values", field=name
        )
    if datatype not in V2_DTYPES:
        raise RequestError(
            422,
            f"input {name!r}: unknown datatype {datatype!r}; use one of {', '.join(V2_DTYPES)}",
            field=name,
        )
    size = _parameters(tensor, name).get("binary_data_size")
    if size is not None:
        if "data" in tensor:
            raise RequestError(
                400, f"input {name!r}: give data or binary_data_size, not both", field=name
            )
        flat = decode(cursor.take(size, name), datatype, name)
        return name, _tensor_data(flat, shape, datatype, name)
    return name, _tensor_data(
        _json_values(tensor.get("data"), datatype, name), shape, datatype, name
    )


def _json_values(data: object, datatype: str, name: str) -> Array:
    import numpy as np

    if not isinstance(data, list):
        data = [data]
    try:
        kind = object if datatype == "BYTES" else None  # BYTES keeps each JSON value as sent
        return np.asarray(data, dtype=kind).reshape(-1)
    except ValueError as exc:
        raise RequestError(422, f"input {name!r}: data is ragged", field=name) from exc


def _parameters(entry: dict[str, Any], name: str) -> dict[str, Any]:
    parameters = entry.get("parameters", {})
    if not isinstance(parameters, dict):
        raise RequestError(400, f"{name}: parameters must be an object", field=name)
    return parameters


def _binary_outputs(outputs: object, request_parameters: dict[str, Any]) -> frozenset[str]:
    """The outputs to send as binary data: all if the request says so, else those marked."""
    if request_parameters.get("binary_data_output") is True:
        return frozenset(OUTPUTS)
    if not isinstance(outputs, list):
        return frozenset()
    return frozenset(
        str(entry.get("name"))
        for entry in outputs
        if isinstance(entry, dict) and _parameters(entry, "outputs").get("binary_data") is True
    )


def _tensor_data(flat: Array, shape: list[int], datatype: str, name: str) -> Array:
    expected = math.prod(shape)
    if flat.size != expected:
        raise RequestError(
            422,
            f"input {name!r}: shape {shape} holds {expected} values but data has {flat.size}",
            field=name,
        )
    return coerce(flat, V2_DTYPES[datatype], name).reshape(shape)


def _v2_input(tensors: dict[str, Array], layout: Layout) -> ModelInput:
    columns = layout.columns
    if columns is not None and any(name in columns for name in tensors):
        return from_columns(
            {name: _column(name, array) for name, array in tensors.items()}, layout, "inputs"
        )
    if len(tensors) != 1:
        raise RequestError(
            422,
            f"send one [rows, features] tensor or one tensor per column named {list(columns)}"
            if columns
            else "this model takes one [rows, features] tensor",
            field="inputs",
        )
    [(name, array)] = tensors.items()
    return from_array(array, layout, name)


def _column(name: str, array: Array) -> list[Any]:
    if array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1):
        return list(array.reshape(-1))
    raise RequestError(
        422,
        f"input {name!r} must have shape [rows] or [rows, 1], got {list(array.shape)}",
        field=name,
    )


def _requested(outputs: object) -> tuple[str, ...] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(isinstance(entry, dict) for entry in outputs):
        raise RequestError(400, 'outputs must be a list of {"name": ...}', field="outputs")
    names = [entry.get("name") for entry in outputs]
    unknown = [name for name in names if name not in OUTPUTS]
    if unknown:
        raise RequestError(
            422, f"unknown output(s) {unknown}; this model gives {list(OUTPUTS)}", field="outputs"
        )
    return tuple(str(name) for name in names)


def _output(name: str, array: Array, binary_size: int | None = None) -> dict[str, Any]:
    tensor: dict[str, Any] = {
        "name": name,
        "shape": list(array.shape),
        "datatype": v2_datatype(str(array.dtype)),
    }
    if binary_size is None:
        tensor["data"] = _plain(array.reshape(-1))
    else:
        tensor["parameters"] = {"binary_data_size": binary_size}
    return tensor


def _rows_records_or_columns(value: object, layout: Layout, field: str) -> ModelInput:
    if isinstance(value, dict):
        return from_columns(value, layout, field)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return from_records(value, layout, field)
    return from_rows(value, layout, field)


def _split(value: object, layout: Layout) -> ModelInput:
    split = _object(value, "dataframe_split")
    data = split.get("data")
    columns = split.get("columns")
    if columns is None:
        return from_rows(data, layout, "dataframe_split.data")
    if not isinstance(columns, list) or not isinstance(data, list):
        raise RequestError(
            422, "dataframe_split needs 'columns' and 'data' lists", field="dataframe_split"
        )
    for index, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            raise RequestError(
                422,
                f"dataframe_split.data[{index}] must be a list of {len(columns)} values",
                field="dataframe_split.data",
            )
    names = [str(name) for name in columns]
    if layout.columns is not None and len(names) == len(layout.columns):
        # the rows' fast path (one conversion for the whole matrix, as /v1 does), in the
        # signature's column order: a client sending pandas' orient="split" keeps its own
        if tuple(names) == layout.columns:
            return from_rows(data, layout, "dataframe_split.data")
        position = {name: i for i, name in enumerate(names)}
        if len(position) == len(names) and position.keys() == set(layout.columns):
            order = [position[name] for name in layout.columns]
            data = [[row[i] for i in order] for row in data]
            return from_rows(data, layout, "dataframe_split.data")
    by_column = {name: [row[i] for row in data] for i, name in enumerate(names)}
    return from_columns(by_column, layout, "dataframe_split")


def _object(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequestError(400, f"{field} must be a JSON object", field=field)
    return value


def _count(value: object) -> bool:
    """A tensor dimension: a whole number from 0 to MAX_DIM (numpy cannot even describe an
    empty array whose other dimensions multiply past its size limit)."""
    if isinstance(value, float):
        return value.is_integer() and 0 <= value <= MAX_DIM
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_DIM


def _plain(array: Array) -> list[Any]:
    values: list[Any] = array.tolist()
    return values
