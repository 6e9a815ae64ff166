"""Params as dotted keys: one light function shared by the store and the pipeline.

It lives apart from ``store/entities.py`` because ``conveyor status`` compares params on the
fast path, which must not pay for importing the store's dataclasses (~20 ms).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Params with every nested mapping spread into dotted keys, as they are recorded,
    shown, compared and searched: ``{"train": {"max_depth": 3}}`` is
    ``{"train.max_depth": 3}``. An empty mapping stays as it is: it is the value."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Mapping) and value:
            flat.update(flatten_params(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
