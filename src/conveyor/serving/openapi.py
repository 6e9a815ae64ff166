"""The hand-written OpenAPI 3.1 description of the gateway's routes (``GET /openapi.json``).

Every status a route can answer is listed, so a fuzzer can hold the server to it.
"""

from __future__ import annotations

from typing import Any

from conveyor.serving.protocols import MAX_DIM, MAX_DIMS

JSON = "application/json"
ERROR = {"$ref": "#/components/schemas/Error"}
MODEL = {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}
VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}
REQUEST_ID = {
    "name": "X-Request-ID",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "Echoed in the response if it is 1 to 128 printable ASCII characters; "
    "otherwise (or if absent) a new id is made.",
}
FORCE_VERSION = {
    "name": "X-Conveyor-Version",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
    "description": "Force this loaded version to answer (404 if it is not loaded).",
}
PICK_MODEL = {
    "name": "X-Conveyor-Model",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "The model to invoke when several are served.",
}
ERRORS = {
    "400": "Malformed JSON or a body of the wrong shape.",
    "404": "Unknown model or version; the message lists the ones served.",
    "413": "The body is larger than the limit.",
    "415": "The content type is not JSON.",
    "422": "The inputs do not match the model's signature; `field` names the culprit.",
    "500": "The model raised while predicting; the server keeps serving.",
    "504": "The prediction took longer than the timeout.",
}

METRICS = {
    "get": {
        "summary": "Prometheus metrics (text exposition format)",
        "parameters": [REQUEST_ID],
        "responses": {
            "200": {
                "description": "Every metric of the gateway, merged over workers.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    }
}


def openapi_document(*, metrics: bool = False, feedback: bool = False) -> dict[str, Any]:
    """The OpenAPI 3.1 document, as a JSON-ready dict (with ``/metrics`` if ``metrics``,
    ``/feedback`` if ``feedback``)."""
    paths = _paths()
    if metrics:
        paths["/metrics"] = METRICS
    if feedback:
        paths["/feedback"] = _feedback()
    return {
        "openapi": "3.1.0",
        "info": {"title": "Conveyor serving gateway", "version": "1"},
        "paths": paths,
        "components": {"schemas": _schemas()},
    }


def _paths() -> dict[str, Any]:
    predict = ("400", "404", "413", "415", "422", "500", "504")
    return {
        "/v2": _get("Server metadata", "ServerMetadata", ()),
        "/v2/health/live": _get("Liveness", "Live", ()),
        "/v2/health/ready": _get("Readiness (503 until a model is loaded)", "Ready", ("503",)),
        "/v2/models/{model}": _get("Model metadata", "ModelMetadata", ("404",), [MODEL]),
        "/v2/models/{model}/ready": _get("Model readiness", "ModelReady", ("404",), [MODEL]),
        "/v2/models/{model}/versions/{version}": _get(
            "Model version metadata", "ModelMetadata", ("404",), [MODEL, VERSION]
        ),
        "/v2/models/{model}/versions/{version}/ready": _get(
            "Model version readiness", "ModelReady", ("404",), [MODEL, VERSION]
        ),
        "/v2/models/{model}/infer": _post(
            "Open Inference Protocol v2 inference",
            "InferRequest",
            "InferResponse",
            predict,
            [MODEL, FORCE_VERSION],
        ),
        "/v2/models/{model}/versions/{version}/infer": _post(
            "Inference on one version",
            "InferRequest",
            "InferResponse",
            predict,
            [MODEL, VERSION],
        ),
        "/v1/models/{model}:predict": _post(
            "TF-Serving / KServe v1 prediction",
            "V1Request",
            "Predictions",
            predict,
            [MODEL, FORCE_VERSION],
        ),
        "/invocations": _with_csv(
            _post(
                "MLflow-style scoring",
                "InvocationsRequest",
                "Predictions",
                predict,
                [PICK_MODEL, FORCE_VERSION],
            )
        ),
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "parameters": [REQUEST_ID],
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {JSON: {}}}},
            }
        },
    }


def _feedback() -> dict[str, Any]:
    """``POST /feedback``: 202 with the count taken; the errors of a JSON body, 422 for a bad
    label (``field`` is ``[index].name``), 503 when labels cannot be kept."""
    body = {"$ref": "#/components/schemas/FeedbackItem"}
    request = {"oneOf": [body, {**_array(body), "minItems": 1, "maxItems": 10_000}]}
    error = {JSON: {"schema": ERROR}}
    responses: dict[str, Any] = {
        "202": {
            "description": "The labels were taken; they are written within a minute.",
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/FeedbackAccepted"}}},
        },
        "422": {"description": "A label is malformed; `field` names it.", "content": error},
        "503": {"description": "The labels could not be kept; send them later.", "content": error},
    }
    for status in ("400", "413", "415"):
        responses[status] = {"description": ERRORS[status], "content": error}
    return {
        "post": {
            "summary": "Delayed labels for earlier predictions, by their X-Request-ID",
            "parameters": [REQUEST_ID],
            "requestBody": {"required": True, "content": {JSON: {"schema": request}}},
            "responses": responses,
        }
    }


def _get(
    summary: str, schema: str, errors: tuple[str, ...], params: list[Any] | None = None
) -> dict[str, Any]:
    return {"get": _operation(summary, schema, errors, params or [])}


def _post(
    summary: str, body: str, schema: str, errors: tuple[str, ...], params: list[Any]
) -> dict[str, Any]:
    operation = _operation(summary, schema, errors, params)
    operation["requestBody"] = {
        "required": True,
        "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{body}"}}},
    }
    return {"post": operation}


def _with_csv(path: dict[str, Any]) -> dict[str, Any]:
    """MLflow's scoring server also takes CSV with a header row."""
    content = path["post"]["requestBody"]["content"]
    content["text/csv"] = {"schema": {"type": "string"}}
    return path


def _operation(
    summary: str, schema: str, errors: tuple[str, ...], params: list[Any]
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": "OK",
            "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }
    }
    for status in errors:
        if status == "503":
            responses[status] = {
                "description": "No model is loaded yet.",
                "content": {JSON: {"schema": {"$ref": "#/components/schemas/Ready"}}},
            }
        else:
            responses[status] = {
                "description": ERRORS[status],
                "content": {JSON: {"schema": ERROR}},
            }
    return {"summary": summary, "parameters": [*params, REQUEST_ID], "responses": responses}


def _schemas() -> dict[str, Any]:
    tensor_meta = _object({"name": _STR, "datatype": _STR, "shape": _ints()}, required="all")
    datatype = {"type": "string", "enum": list(_DATATYPES)}
    return {
        "Error": _object(
            {"error": _STR, "field": _STR, "request_id": _STR}, ["error", "request_id"]
        ),
        "Live": _object({"live": {"type": "boolean"}}, required="all"),
        "Ready": _object({"ready": {"type": "boolean"}}, required="all"),
        "ServerMetadata": _object(
            {"name": _STR, "version": _STR, "extensions": _array(_STR)}, required="all"
        ),
        "ModelReady": _object({"name": _STR, "ready": {"type": "boolean"}}, required="all"),
        "ModelMetadata": _object(
            {
                "name": _STR,
                "versions": _array(_STR),
                "platform": _STR,
                "inputs": _array(tensor_meta),
                "outputs": _array(tensor_meta),
            },
            required="all",
        ),
        "InferRequest": _object(
            {
                "id": _STR,
                "parameters": {"type": "object"},
                "inputs": {**_array(_tensor(datatype)), "minItems": 1},
                "outputs": _array(_object({"name": _STR, "parameters": {"type": "object"}})),
            },
            ["inputs"],
        ),
        "InferResponse": _object(
            {
                "model_name": _STR,
                "model_version": _STR,
                "id": _STR,
                "outputs": _array(_tensor(datatype)),
            },
            ["model_name", "id", "outputs"],
        ),
        "V1Request": {
            "type": "object",
            "description": "Exactly one of instances (rows or records) and inputs (columns).",
            "properties": {"instances": _ROWS, "inputs": {}},
            "oneOf": _exactly_one_of("instances", "inputs"),
        },
        "InvocationsRequest": {
            "type": "object",
            "description": "Exactly one of dataframe_split, dataframe_records, instances, inputs.",
            "properties": {
                "dataframe_split": _object(
                    {"columns": _array(_STR), "data": _array(_array({})), "index": _array({})},
                    ["data"],
                ),
                "dataframe_records": _array({"type": "object"}),
                "instances": _ROWS,
                "inputs": {},
                "params": {
                    "type": "object",
                    "maxProperties": 0,
                    "description": "MLflow's inference parameters; no Conveyor model takes any",
                },
            },
            "additionalProperties": False,
            "oneOf": _exactly_one_of("dataframe_split", "dataframe_records", "instances", "inputs"),
        },
        "Predictions": _object({"predictions": _array({})}, required="all"),
        "FeedbackItem": {
            **_object(
                {
                    "request_id": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 128,
                        "pattern": "^[ -~]+$",
                    },
                    "label": {
                        "oneOf": [
                            {"type": "string", "maxLength": 256},
                            {"type": "number", "minimum": -(2**53), "maximum": 2**53},
                            {"type": "boolean"},
                        ]
                    },
                    "model": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 128,
                        "pattern": "^[ -~]+$",
                    },
                    "row": {"type": "integer", "minimum": 0},
                },
                ["request_id", "label"],
            ),
            "additionalProperties": False,
        },
        "FeedbackAccepted": _object({"accepted": {"type": "integer"}}, required="all"),
    }


def _tensor(datatype: dict[str, Any]) -> dict[str, Any]:
    return _object(
        {
            "name": _STR,
            "shape": {
                **_array({"type": "integer", "minimum": 0, "maximum": MAX_DIM}),
                "maxItems": MAX_DIMS,
            },
            "datatype": datatype,
            "parameters": {"type": "object"},
            "data": {},
        },
        ["name", "shape", "datatype", "data"],
    )


def _object(properties: dict[str, Any], required: list[str] | str | None = None) -> dict[str, Any]:
    names = list(properties) if required == "all" else (required or [])
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if names:
        schema["required"] = names
    return schema


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _exactly_one_of(*names: str) -> list[dict[str, Any]]:
    """``oneOf`` branches that each require one of ``names``: more or fewer is a 400."""
    return [{"required": [name]} for name in names]


def _ints() -> dict[str, Any]:
    return _array({"type": "integer"})


_STR = {"type": "string"}
_ROWS = _array({})
_DATATYPES = (
    "BOOL",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
)
