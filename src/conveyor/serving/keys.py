"""The request keys routing reads: the forcing header and the sticky key. Pure, no I/O.

A sticky key ``field:NAME`` is looked up in a JSON body (parsed, or as bytes/str) in order:
the top level (``{"user_id": ...}``), the first row of ``instances`` or
``dataframe_records``, the column ``NAME`` of ``dataframe_split``, the Open Inference
Protocol input named ``NAME`` (its first value), and ``inputs`` as a dict of columns.
A key that is absent gives ``None``: the request is then routed at random.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

FORCE_HEADER = "X-Conveyor-Version"
FIELD_PREFIX = "field:"


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name``, matched case-insensitively whatever the mapping."""
    found = headers.get(name)
    if found is None:
        found = headers.get(name.lower())
    if found is None:
        lowered = name.lower()
        found = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return found


def sticky_key(sticky: str | None, headers: Mapping[str, str], body: Any) -> str | None:
    """The request's sticky key under setting ``sticky``, or None when it has none."""
    if not sticky:
        return None
    if not sticky.startswith(FIELD_PREFIX):
        return header(headers, sticky) or None
    value = field_value(_parsed(body), sticky.removeprefix(FIELD_PREFIX))
    if value is None or isinstance(value, dict | list):
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _parsed(body: Any) -> Any:
    if isinstance(body, bytes | bytearray | memoryview | str):
        try:
            return json.loads(bytes(body) if not isinstance(body, str) else body)
        except ValueError:
            return None
    return body


def field_value(body: Any, name: str) -> Any:
    """Input field ``name``'s (first) value in a request body, or None."""
    if not isinstance(body, dict):
        return None
    if name in body:
        return body[name]
    for rows in ("instances", "dataframe_records"):
        first = _first(body.get(rows))
        if isinstance(first, dict) and name in first:
            return first[name]
    split = body.get("dataframe_split")
    if isinstance(split, dict):
        found = _split_value(split, name)
        if found is not None:
            return found
    inputs = body.get("inputs")
    if isinstance(inputs, list):
        for tensor in inputs:
            if isinstance(tensor, dict) and tensor.get("name") == name:
                return _leading(tensor.get("data"))
    if isinstance(inputs, dict) and name in inputs:
        return _leading(inputs[name])
    return None


def _first(rows: Any) -> Any:
    return rows[0] if isinstance(rows, list) and rows else None


def _split_value(split: dict[str, Any], name: str) -> Any:
    columns, data = split.get("columns"), _first(split.get("data"))
    if isinstance(columns, list) and isinstance(data, list) and name in columns:
        index = columns.index(name)
        return data[index] if index < len(data) else None
    return None


def _leading(value: Any) -> Any:
    """The first scalar of a (possibly nested) list: an OIP tensor's first value."""
    while isinstance(value, list):
        if not value:
            return None
        value = value[0]
    return value
